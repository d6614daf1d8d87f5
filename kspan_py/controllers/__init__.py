"""The controllers kspan-py knows, each registered once, one module each.

Each module says what its controller writes (the message forms that name a child), which API
collections its objects are read from, and the RBAC they need. From this registry the graph
takes its actor rules (``NAMING_RULES``), the sources the collections to list and watch
(``WATCHED``, owners before what they own: the order a snapshot lists them in), and the tests
check every RBAC manifest against it.
"""

from __future__ import annotations

from kspan_py.controllers import (
    autoscaler,
    cronjob,
    daemonset,
    deployment,
    job,
    kubelet,
    node_lifecycle,
    replicaset,
    statefulset,
)
from kspan_py.controllers.base import (
    READ_VERBS,
    Controller,
    NamedChild,
    NamingRule,
    Relation,
    Resource,
)

CONTROLLERS: tuple[Controller, ...] = (
    # Owners before what they own.
    *node_lifecycle.CONTROLLERS,
    *cronjob.CONTROLLERS,
    *deployment.CONTROLLERS,
    *statefulset.CONTROLLERS,
    *daemonset.CONTROLLERS,
    *replicaset.CONTROLLERS,
    *job.CONTROLLERS,
    *kubelet.CONTROLLERS,
    # Not an owner: its spec names the object it scales, which its SuccessfulRescale acts on.
    *autoscaler.CONTROLLERS,
)

NAMING_RULES: tuple[NamingRule, ...] = tuple(rule for c in CONTROLLERS for rule in c.acts)
WATCHED: tuple[Resource, ...] = tuple(resource for c in CONTROLLERS for resource in c.watches)

__all__ = [
    "CONTROLLERS",
    "NAMING_RULES",
    "READ_VERBS",
    "WATCHED",
    "Controller",
    "NamedChild",
    "NamingRule",
    "Relation",
    "Resource",
]
