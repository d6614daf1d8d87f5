"""daemonset-controller: one pod per node, through the shared pod control."""

from __future__ import annotations

from kspan_py.graph.rules.base import NamingRule
from kspan_py.graph.rules.pod_control import pod_control_rules

RULES: tuple[NamingRule, ...] = pod_control_rules("daemonset-controller", "DaemonSet")
