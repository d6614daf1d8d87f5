"""daemonset-controller: one pod per node, through the shared pod control."""

from __future__ import annotations

from kspan_py.controllers.base import Controller, Resource
from kspan_py.controllers.pod_control import pod_control_rules

DAEMONSETS = Resource("DaemonSet", "apps", "v1", "daemonsets")

CONTROLLERS = (
    # Its status (updatedNumberScheduled) says whether its rollout is in progress.
    Controller(
        "daemonset-controller",
        pod_control_rules("daemonset-controller", "DaemonSet"),
        (DAEMONSETS,),
    ),
)
