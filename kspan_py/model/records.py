"""Frozen records for objects and events, normalised from either Event API.

They are small on purpose: the object store keeps one per live object, so a record holds only
what linking needs (identity, owner, generation history), never the whole body.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import NewType

Uid = NewType("Uid", str)
"""A Kubernetes metadata.uid; a distinct type so that a name and a uid cannot be mixed up."""


class ChangeType(enum.Enum):
    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """Which object: what an Event's regarding/involvedObject names, or an object's own identity."""

    kind: str
    namespace: str
    name: str
    uid: Uid | None = None
    api_version: str = ""

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


@dataclass(frozen=True, slots=True)
class OwnerRef:
    """The controlling owner named in ownerReferences (the one with controller: true)."""

    kind: str
    name: str
    uid: Uid


@dataclass(frozen=True, slots=True)
class GenerationChange:
    """Who changed an object's spec to a generation, and when (from managedFields)."""

    generation: int
    time_ns: int
    manager: str
    operation: str  # "Create" for generation 1, else "Update"


@dataclass(frozen=True, slots=True)
class KubeObject:
    """An object of any kind, reduced to what the causality graph uses."""

    ref: ObjectRef
    resource_version: str
    created_ns: int
    owner: OwnerRef | None
    generation: int | None  # None for kinds without a spec generation (Node)
    change: GenerationChange | None  # the change that produced this generation, when known
    deleted_ns: int | None  # metadata.deletionTimestamp


@dataclass(frozen=True, slots=True)
class ObjectChange:
    type: ChangeType
    obj: KubeObject


@dataclass(frozen=True, slots=True)
class KubeEvent:
    """One occurrence of an Event: a core/v1 or events.k8s.io/v1 Event at one count.

    A repeat arrives as a MODIFIED Event with a higher count; each count is its own occurrence,
    identified by (uid, count).
    """

    uid: Uid
    name: str
    namespace: str
    regarding: ObjectRef
    field_path: str
    related: ObjectRef | None
    reason: str
    message: str
    type: str  # "Normal" | "Warning"
    action: str
    count: int  # occurrence number, >= 1
    time_ns: int  # when this occurrence happened
    first_ns: int  # when the first occurrence happened
    component: str  # reporting controller / component
    instance: str  # reporting instance or source host
    api_version: str  # "v1" or "events.k8s.io/v1" (or v1beta1)
    resource_version: int  # server write order when numeric, else 0

    @property
    def is_warning(self) -> bool:
        return self.type == "Warning"


@dataclass(frozen=True, slots=True)
class EventChange:
    """An Event as a watch delivered it: ADDED/MODIFIED bring an occurrence; DELETED is expiry."""

    type: ChangeType
    event: KubeEvent


Change = ObjectChange | EventChange


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Brackets the changes of one List: a snapshot taken at one moment (``kubectl -o json``).

    Its items come in no time order (kubectl lists events before the objects they concern), so
    a consumer takes them all before it lets event time move on.
    """

    end: bool
