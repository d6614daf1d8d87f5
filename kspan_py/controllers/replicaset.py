"""replicaset-controller (and the replication controller, which shares its pod control)."""

from __future__ import annotations

from kspan_py.controllers.base import Controller, Resource
from kspan_py.controllers.pod_control import pod_control_rules

REPLICASETS = Resource("ReplicaSet", "apps", "v1", "replicasets")

CONTROLLERS = (
    # Its spec.replicas history (by resourceVersion) says which scaling step each act answers.
    Controller(
        "replicaset-controller",
        pod_control_rules("replicaset-controller", "ReplicaSet"),
        (REPLICASETS,),
    ),
    # ReplicationControllers are not watched: their acts name their pods all the same.
    Controller(
        "replication-controller",
        pod_control_rules("replication-controller", "ReplicationController"),
        (),
    ),
)
