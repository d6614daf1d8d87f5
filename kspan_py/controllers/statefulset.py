"""statefulset-controller: ``create Pod %s in StatefulSet %s successful`` and its delete twin.

Recent releases capitalise the verb (``Create Pod db-2 in StatefulSet db successful``, seen on
1.36); failures read ``%s Pod %s in StatefulSet %s failed error: %s`` and still name the pod.
A re-created Pod keeps its name, so the same Event is counted up: every count is its own act.
"""

from __future__ import annotations

from kspan_py.controllers.base import Controller, NamingRule, Relation, Resource, rule

_FORM = r"^(?i:{verb}) Pod (?P<child>\S+) in StatefulSet \S+ (?:successful|failed)"

_ACTS: tuple[NamingRule, ...] = (
    rule(
        "statefulset-controller",
        ("SuccessfulCreate", "FailedCreate"),
        owner_kinds=("StatefulSet",),
        pattern=_FORM.format(verb="create"),
        child_kind="Pod",
        relation=Relation.CREATE,
    ),
    rule(
        "statefulset-controller",
        ("SuccessfulDelete", "FailedDelete"),
        owner_kinds=("StatefulSet",),
        pattern=_FORM.format(verb="delete"),
        child_kind="Pod",
        relation=Relation.DELETE,
    ),
)

STATEFULSETS = Resource("StatefulSet", "apps", "v1", "statefulsets")

CONTROLLERS = (
    # Its status (currentRevision, updateRevision) says whether its rollout is in progress.
    Controller("statefulset-controller", _ACTS, (STATEFULSETS,)),
)
