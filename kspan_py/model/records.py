"""Immutable records for objects and events, normalised from either Event API.

They are small on purpose: the object store keeps one per live object, so a record holds only
what linking needs (identity, owner, generation history), never the whole body.

Every field is ``Final``: mypy rejects any assignment after construction, which is the
immutability the code relies on. They are not ``frozen`` dataclasses: a frozen dataclass sets
each field through ``object.__setattr__``, and making a KubeEvent that way took seven times as
long as plain slot assignments (about 1.6 µs against 0.22 µs), a third of normalising a capture.
``unsafe_hash`` keeps them hashable by value, as the frozen ones were.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final, NewType

Uid = NewType("Uid", str)
"""A Kubernetes metadata.uid; a distinct type so that a name and a uid cannot be mixed up."""


class ChangeType(enum.Enum):
    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"


@dataclass(slots=True, unsafe_hash=True)
class ObjectRef:
    """Which object: what an Event's regarding/involvedObject names, or an object's own identity."""

    kind: Final[str]
    namespace: Final[str]
    name: Final[str]
    uid: Final[Uid | None] = None
    api_version: Final[str] = ""

    @property
    def key(self) -> str:
        """Store key: the uid when known, else kind/namespace/name (events can omit the uid)."""
        return self.uid or f"{self.kind}/{self.namespace}/{self.name}"

    @property
    def name_key(self) -> tuple[str, str, str]:
        return (self.kind, self.namespace, self.name)

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind}/{where}{self.name}"


@dataclass(slots=True, unsafe_hash=True)
class OwnerRef:
    """The controlling owner named in ownerReferences (the one with controller: true)."""

    kind: Final[str]
    name: Final[str]
    uid: Final[Uid]


@dataclass(slots=True, unsafe_hash=True)
class GenerationChange:
    """Who changed an object's spec to a generation, and when (from managedFields)."""

    generation: Final[int]
    time_ns: Final[int]
    manager: Final[str]
    operation: Final[str]  # "Create" for generation 1, else "Update"


@dataclass(slots=True, unsafe_hash=True)
class Condition:
    """One entry of status.conditions: since when it has had its status."""

    type: Final[
        str
    ]  # PodScheduled, Initialized, ContainersReady, Ready; Node: Ready, MemoryPressure...
    status: Final[str]  # "True" | "False" | "Unknown"
    since_ns: Final[int]  # lastTransitionTime (0 when the status did not say)
    reason: Final[str]
    message: Final[str]


@dataclass(slots=True, unsafe_hash=True)
class ContainerRun:
    """One run of a container as a Pod's status shows it (state, or lastState for the one before).

    A run is identified by its container and start time: the same run seen in many status
    updates (and in a dump) is one run.
    """

    container: Final[str]
    init: Final[bool]
    restart: Final[int]  # which run, 0-based (how many restarts came before it)
    started_ns: Final[int]
    finished_ns: Final[int | None]  # None while it runs
    exit_code: Final[int | None]
    signal: Final[int | None]
    reason: Final[str]  # termination reason: Completed, Error, OOMKilled, ...
    message: Final[str]


@dataclass(slots=True, unsafe_hash=True)
class PodStatus:
    """What a Pod's status (and the few spec fields that explain it) say about its life.

    Only what lifecycle spans use: it is read from every Pod update of a capture, so each field
    costs (the conditions are the three transition times, not Condition records).
    """

    phase: Final[str]
    reason: Final[str]  # status.reason: Evicted, Preempting, NodeLost...
    node: Final[str]  # spec.nodeName
    has_init_containers: Final[bool]
    scheduled_ns: Final[int]  # when PodScheduled became True; 0 while not (or not said)
    initialized_ns: Final[int]  # Initialized
    ready_ns: Final[int]  # Ready
    runs: Final[tuple[ContainerRun, ...]]  # runs the status shows, finished or running
    memory_limits: Final[tuple[tuple[str, str], ...]]  # (container, resources.limits.memory)


@dataclass(slots=True, unsafe_hash=True)
class NodeStatus:
    conditions: Final[tuple[Condition, ...]]


@dataclass(slots=True, unsafe_hash=True)
class KubeObject:
    """An object of any kind, reduced to what the causality graph uses."""

    ref: Final[ObjectRef]
    resource_version: Final[str]
    created_ns: Final[int]
    owner: Final[OwnerRef | None]
    generation: Final[int | None]  # None for kinds without a spec generation (Node)
    change: Final[GenerationChange | None]  # the change that produced this generation, when known
    deleted_ns: Final[int | None]  # metadata.deletionTimestamp
    status: Final[PodStatus | NodeStatus | None] = None  # Pods and Nodes only
    scale_target: Final[ObjectRef | None] = None  # a HorizontalPodAutoscaler's scaleTargetRef
    labels: Final[tuple[tuple[str, str], ...]] = ()  # metadata.labels (for --selector)
    replicas: Final[int | None] = None  # a ReplicaSet's spec.replicas: the size in force
    rolling_out: Final[bool | None] = None  # a workload's status says a rollout is in progress


@dataclass(slots=True, unsafe_hash=True)
class ObjectChange:
    type: Final[ChangeType]
    obj: Final[KubeObject]


@dataclass(slots=True, unsafe_hash=True)
class KubeEvent:
    """One occurrence of an Event: a core/v1 or events.k8s.io/v1 Event at one count.

    A repeat arrives as a MODIFIED Event with a higher count; each count is its own occurrence,
    identified by (uid, count).
    """

    uid: Final[Uid]
    name: Final[str]
    namespace: Final[str]
    regarding: Final[ObjectRef]
    field_path: Final[str]
    related: Final[ObjectRef | None]
    reason: Final[str]
    message: Final[str]
    type: Final[str]  # "Normal" | "Warning"
    action: Final[str]
    count: Final[int]  # occurrence number, >= 1
    time_ns: Final[int]  # when this occurrence happened
    first_ns: Final[int]  # when the first occurrence happened
    component: Final[str]  # reporting controller / component
    instance: Final[str]  # reporting instance or source host
    api_version: Final[str]  # "v1" or "events.k8s.io/v1" (or v1beta1)
    resource_version: Final[int]  # server write order when numeric, else 0

    @property
    def is_warning(self) -> bool:
        return self.type == "Warning"

    @property
    def start_ns(self) -> int:
        """When what it reports began: the occurrence itself (a lifecycle fact begins earlier)."""
        return self.time_ns


@dataclass(slots=True, unsafe_hash=True)
class EventChange:
    """An Event as a watch delivered it: ADDED/MODIFIED bring an occurrence; DELETED is expiry."""

    type: Final[ChangeType]
    event: Final[KubeEvent]


Change = ObjectChange | EventChange


@dataclass(slots=True, unsafe_hash=True)
class LifecycleFact:
    """A phase of an object's life read from its status: a span with a real duration.

    It is linked like an Event occurrence (the fields the linker reads have the same names), and
    identified by ``uid``: a stable key made from what it stands for (the Pod's uid and the
    phase, or the container and the start of its run), so the same fact seen in many status
    updates, or in a dump, is one span.
    """

    uid: Final[str]
    regarding: Final[ObjectRef]
    field_path: Final[str]
    reason: Final[str]  # the phase, e.g. Scheduling, ContainerRun, NotReady (for linking rules)
    name: Final[str]  # the span's name, e.g. Pod.Scheduling, Container.Run, Node.NotReady
    start_ns: Final[int]
    time_ns: Final[int]  # its end: when it became known
    component: Final[str]
    instance: Final[str]
    attributes: Final[tuple[tuple[str, str | int], ...]]
    error: Final[str | None]  # the status message when it shows a problem
    joins: Final[str] = ""  # an anchor to hang under when one is known (see graph.lifecycle)
    resource_version: Final[int] = 0
    count: Final[int] = 0


@dataclass(slots=True, unsafe_hash=True)
class Snapshot:
    """Brackets the changes of one List: a snapshot taken at one moment (``kubectl -o json``).

    Its items come in no time order (kubectl lists events before the objects they concern), so
    a consumer takes them all before it lets event time move on.
    """

    end: Final[bool]
