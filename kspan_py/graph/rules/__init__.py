"""Controller heuristics: which Events name a child object, one module per controller.

An actor rule says "this event on the owner is the cause of that child": the child's following
events hang under it. ``NAMING_RULES`` gathers every module's rules; ``named_child`` applies them.
Child-side policies (which of a child's events follow which kind of act, and for how long) live
in ``children``.
"""

from __future__ import annotations

from kspan_py.graph.rules import cronjob, daemonset, deployment, job, replicaset, statefulset
from kspan_py.graph.rules.base import NamedChild, NamingRule, Relation
from kspan_py.graph.rules.children import ChildPolicy, child_policy
from kspan_py.model import KubeEvent

NAMING_RULES: tuple[NamingRule, ...] = (
    *deployment.RULES,
    *replicaset.RULES,
    *job.RULES,
    *daemonset.RULES,
    *statefulset.RULES,
    *cronjob.RULES,
)

_BY_REASON: dict[str, tuple[NamingRule, ...]] = {}
for _rule in NAMING_RULES:
    for _reason in _rule.reasons:
        _BY_REASON[_reason] = (*_BY_REASON.get(_reason, ()), _rule)


def named_child(event: KubeEvent) -> NamedChild | None:
    """The child object an event names as the object of its act, if any rule recognises it."""
    for rule in _BY_REASON.get(event.reason, ()):
        child = rule.match(event)
        if child is not None:
            return child
    return None


__all__ = [
    "NAMING_RULES",
    "ChildPolicy",
    "NamedChild",
    "NamingRule",
    "Relation",
    "child_policy",
    "named_child",
]
