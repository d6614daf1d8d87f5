"""replicaset-controller (and the replication controller, which shares its pod control)."""

from __future__ import annotations

from kspan_py.graph.rules.base import NamingRule
from kspan_py.graph.rules.pod_control import pod_control_rules

RULES: tuple[NamingRule, ...] = (
    *pod_control_rules("replicaset-controller", "ReplicaSet"),
    *pod_control_rules("replication-controller", "ReplicationController"),
)
