"""kubelet (and the scheduler, which writes on Pods too): Pods.

Their Events (Scheduled, Pulling, Started, BackOff, Killing...) name no child: they follow the
act that created or deleted the Pod. The Pod's status gives its phases and container runs.
"""

from __future__ import annotations

from kspan_py.controllers.base import Controller, Resource

PODS = Resource("Pod", "", "v1", "pods")

CONTROLLERS = (Controller("kubelet", (), (PODS,)),)
