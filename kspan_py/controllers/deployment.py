"""deployment-controller: ScalingReplicaSet on the Deployment names the ReplicaSet it scaled.

Forms: ``Scaled up replica set %s from 0 to %d`` (new RS), ``Scaled %s replica set %s from %d
to %d`` (up/down), and the older ``Scaled %s replica set %s to %d``.
"""

from __future__ import annotations

from kspan_py.controllers.base import Controller, NamingRule, Relation, Resource, rule

_FORM = r"^Scaled {direction} replica set (?P<child>\S+) (?:from (?P<from>\d+) )?to (?P<to>\d+)"

_ACTS: tuple[NamingRule, ...] = (
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

DEPLOYMENTS = Resource("Deployment", "apps", "v1", "deployments")

CONTROLLERS = (
    # Its generation starts a change; its status says whether the rollout is in progress.
    Controller("deployment-controller", _ACTS, (DEPLOYMENTS,)),
)
