"""deployment-controller: ScalingReplicaSet on the Deployment names the ReplicaSet it scaled.

Forms: ``Scaled up replica set %s from 0 to %d`` (new RS), ``Scaled %s replica set %s from %d
to %d`` (up/down), and the older ``Scaled %s replica set %s to %d``.
"""

from __future__ import annotations

from kspan_py.graph.rules.base import NamingRule, Relation, rule

_FORM = r"^Scaled {direction} replica set (?P<child>\S+) (?:from (?P<from>\d+) )?to (?P<to>\d+)"

RULES: tuple[NamingRule, ...] = (
    rule(
        "deployment-controller",
        ("ScalingReplicaSet",),
        owner_kinds=("Deployment",),
        pattern=_FORM.format(direction="up"),
        child_kind="ReplicaSet",
        relation=Relation.CREATE,
    ),
    rule(
        "deployment-controller",
        ("ScalingReplicaSet",),
        owner_kinds=("Deployment",),
        pattern=_FORM.format(direction="down"),
        child_kind="ReplicaSet",
        relation=Relation.DELETE,
    ),
)
