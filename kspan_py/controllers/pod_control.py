"""The pod control shared by the replicaset, job and daemonset controllers (and the old
replication controller): ``Created pod: %v``, ``Deleted pod: %v``. ``Error creating: %v``
names no pod, so it is no actor rule; it links to its owner like any other event.
"""

from __future__ import annotations

from kspan_py.controllers.base import NamingRule, Relation, rule

CREATED = r"^Created pod: (?P<child>\S+)"
DELETED = r"^Deleted pod: (?P<child>\S+)"


def pod_control_rules(controller: str, owner_kind: str) -> tuple[NamingRule, ...]:
    return (
        rule(
            controller,
            ("SuccessfulCreate",),
            owner_kinds=(owner_kind,),
            pattern=CREATED,
            child_kind="Pod",
            relation=Relation.CREATE,
        ),
        rule(
            controller,
            ("SuccessfulDelete",),
            owner_kinds=(owner_kind,),
            pattern=DELETED,
            child_kind="Pod",
            relation=Relation.DELETE,
        ),
    )
