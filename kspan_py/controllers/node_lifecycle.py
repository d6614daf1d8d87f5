"""node-lifecycle-controller and the kubelet's node status: Nodes.

Its Events (NodeNotReady, TaintManagerEviction...) name no child: a node's problems reach its
Pods through span links, and its conditions give the `Node.NotReady` and pressure intervals.
Nodes are cluster-scoped: a namespaced deployment cannot list them (see select_resources).
"""

from __future__ import annotations

from kspan_py.controllers.base import Controller, Resource

NODES = Resource("Node", "", "v1", "nodes", namespaced=False)

CONTROLLERS = (Controller("node-lifecycle-controller", (), (NODES,)),)
