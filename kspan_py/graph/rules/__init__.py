"""The actor rules as the graph applies them: which Events name a child object.

The rules themselves are the controllers' (``kspan_py.controllers``, one module each, with the
resources they are read from); ``named_child`` applies them, by reason. Child-side policies
(which of a child's events follow which kind of act, and for how long) live in ``children``.
"""

from __future__ import annotations

from kspan_py.controllers import NAMING_RULES, NamedChild, NamingRule, Relation
from kspan_py.graph.rules.children import ChildPolicy, child_policy
from kspan_py.model import KubeEvent

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
