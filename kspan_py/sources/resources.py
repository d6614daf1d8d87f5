"""The API collections kspan-py watches, and how --kinds selects them.

Kept apart from watching.py (which imports the API client) so that the command line can name
and check them without loading the client.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Resource:
    """A collection of the API, e.g. apps/v1 replicasets."""

    kind: str
    group: str  # "" for the core group
    version: str
    plural: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def name(self) -> str:
        """How RBAC and error messages name it: ``replicasets.apps``, ``pods``."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def path(self, namespace: str | None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if namespace is not None and self.namespaced:
            return f"{base}/namespaces/{namespace}/{self.plural}"
        return f"{base}/{self.plural}"


EVENTS_V1 = Resource("Event", "events.k8s.io", "v1", "events")
EVENTS_CORE = Resource("Event", "", "v1", "events")
OBJECT_RESOURCES = (
    # Owners before what they own: a snapshot lists them in this order.
    Resource("Node", "", "v1", "nodes", namespaced=False),
    Resource("CronJob", "batch", "v1", "cronjobs"),
    Resource("Deployment", "apps", "v1", "deployments"),
    Resource("StatefulSet", "apps", "v1", "statefulsets"),
    Resource("DaemonSet", "apps", "v1", "daemonsets"),
    Resource("ReplicaSet", "apps", "v1", "replicasets"),
    Resource("Job", "batch", "v1", "jobs"),
    Resource("Pod", "", "v1", "pods"),
    # Not an owner: its spec names the object it scales, which its SuccessfulRescale acts on.
    Resource("HorizontalPodAutoscaler", "autoscaling", "v2", "horizontalpodautoscalers"),
)
KINDS = (*(r.kind for r in OBJECT_RESOURCES), "Event")


def select_resources(kinds: Iterable[str], *, namespaced: bool) -> tuple[Resource, ...]:
    """The object resources to watch for --kinds (Event is always watched, separately).

    Nodes are cluster-scoped: watching only some namespaces leaves them out unless asked for by
    name, since a namespaced deployment has no right to list them.
    """
    wanted = {k.lower() for k in kinds}
    if not wanted:
        return tuple(r for r in OBJECT_RESOURCES if r.namespaced or not namespaced)
    unknown = wanted - {k.lower() for k in KINDS}
    if unknown:
        raise ValueError(f"unknown kinds {sorted(unknown)}; known: {', '.join(KINDS)}")
    return tuple(r for r in OBJECT_RESOURCES if r.kind.lower() in wanted)
