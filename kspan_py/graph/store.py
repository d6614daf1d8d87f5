"""The object store: who owns whom, and which generation of a top object was made when.

It keeps a small record per object (never the body) so that a cluster's worth of objects fits
in memory, and keeps deleted objects for a grace period so that late events still resolve.
Only the graph mutates it. A record's strings are interned (the events that regard the object
and the objects it owns then share them, see model.normalising), an owner reference is kept
until a different one arrives (not one equal copy per update), and only top objects, the ones
with generations, have a generation history.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections import deque

from kspan_py.model import (
    ChangeType,
    GenerationChange,
    KubeObject,
    ObjectChange,
    ObjectRef,
    OwnerRef,
    PodStatus,
    Uid,
    write_order,
)
from kspan_py.model.sharing import share

_MAX_OWNER_DEPTH = 8  # ownership chains are short (CronJob > Job > Pod); this only stops cycles
_REPLICAS_KEPT = 32  # a rollout of many steps within the hour of acts still resolves


class ReplicaHistory:
    """A ReplicaSet's spec.replicas by write order: resourceVersions and sizes side by side,
    oldest first. Packed (16 bytes a change) rather than a tuple of two ints a change (about
    100 bytes): a rollout changes each ReplicaSet's size ten times or more, and a Deployment
    keeps its old ReplicaSets."""

    __slots__ = ("sizes", "versions")

    def __init__(self) -> None:
        self.versions = array("q")  # (write_order: at most 18 digits, an int64)
        self.sizes = array("q")  # (spec.replicas: an int64 when kept, see model.normalising)


class StoredObject:
    """One object as the store keeps it, for as long as it lives (a cluster's worth of them).

    Its identity is kept as flat fields, not as an ObjectRef of its own (``ref`` makes one when
    asked), and the owner reference of siblings is one shared OwnerRef: the owner's
    ``as_owner``. Together that is about 100 bytes less per Pod than a record each.
    """

    __slots__ = (
        "api_version",
        "as_owner",
        "deleted_ns",
        "generations",
        "kind",
        "name",
        "namespace",
        "node",
        "owner",
        "replicas",
        "rolling_out",
        "uid",
        "version",
    )

    def __init__(
        self, kind: str, namespace: str, name: str, uid: Uid | None, api_version: str
    ) -> None:
        self.kind = kind
        self.namespace = namespace
        self.name = name
        self.uid = uid
        self.api_version = api_version
        self.owner: OwnerRef | None = None
        self.generations: list[GenerationChange] | None = None  # oldest first; None: none yet
        self.deleted_ns: int | None = None
        self.as_owner: OwnerRef | None = None  # the reference its children share, once named
        self.node = ""  # a Pod's node, once its status names one
        # A ReplicaSet's spec.replicas by write order, the latest _REPLICAS_KEPT changes of it.
        self.replicas: ReplicaHistory | None = None
        self.rolling_out: bool | None = None  # what the workload's latest status says
        self.version = 0  # the latest resourceVersion applied (server write order), 0: none

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef(self.kind, self.namespace, self.name, self.uid, self.api_version)


class ObjectStore:
    def __init__(self, deleted_grace_ns: int) -> None:
        self._deleted_grace_ns = deleted_grace_ns
        self._objects: dict[str, StoredObject] = {}
        # (kind, namespace) -> name -> key: the name strings are the records' own.
        self._by_name: dict[tuple[str, str], dict[str, str]] = {}
        # Deleted objects in the order they went: (when, key) side by side, not a tuple each
        # (a rollout deletes thousands of Pods within the grace period).
        self._deletion_times: deque[int] = deque()
        self._deletion_keys: deque[str] = deque()
        # (namespace, autoscaler name) -> the object it scales (few: one per autoscaler)
        self._scale_targets: dict[tuple[str, str], ObjectRef] = {}

    def __len__(self) -> int:
        return len(self._objects)

    def apply(self, change: ObjectChange, now_ns: int) -> bool:
        """Take change in; False when it is older than what was applied (by write order):
        another stream, or a reordered input, delivered an earlier version late."""
        obj = change.obj
        key = obj.ref.key
        stored = self._objects.get(key)
        owner = obj.owner
        if stored is None:
            ref, uid = obj.ref, obj.ref.uid
            stored = StoredObject(
                _intern(ref.kind),
                _intern(ref.namespace),
                _intern(ref.name),
                Uid(_intern(uid)) if uid is not None else None,
                _intern(ref.api_version),
            )
            key = stored.uid or key
            if owner is not None:
                stored.owner = self._owner_ref(owner)
            self._objects[key] = stored
            self._by_name.setdefault((stored.kind, stored.namespace), {})[stored.name] = key
        elif owner is not None and owner != stored.owner:
            stored.owner = self._owner_ref(owner)
        version = write_order(obj.resource_version)
        if obj.replicas is not None:  # (a history by write order: any arrival order will do)
            self._record_replicas(stored, obj.replicas, version)
        # Its status is the past when a later version was applied: what is known now stands.
        fresh = not version or version >= stored.version or change.type is ChangeType.DELETED
        stored.version = max(version, stored.version)
        if obj.scale_target is not None:
            self._scale_targets[(stored.namespace, stored.name)] = obj.scale_target
        status = obj.status
        if isinstance(status, PodStatus) and status.node:
            stored.node = _intern(status.node)
        if obj.rolling_out is not None and fresh:
            stored.rolling_out = obj.rolling_out
        if obj.generation is not None and obj.owner is None:
            self._record_generation(stored, obj, now_ns)
        if change.type is ChangeType.DELETED and stored.deleted_ns is None:
            stored.deleted_ns = now_ns
            self._deletion_times.append(now_ns)
            self._deletion_keys.append(key)
        return fresh

    def _record_generation(self, stored: StoredObject, obj: KubeObject, now_ns: int) -> None:
        assert obj.generation is not None
        history = stored.generations
        if history is None:
            history = stored.generations = []
            if obj.generation > 1 and obj.created_ns:
                # First seen at a later generation (a dump, a listing): it was still created
                # as generation 1 at its creationTimestamp, by a manager this state no longer
                # names. Acts listed from then on belong to that change, not to the last one.
                history.append(GenerationChange(1, obj.created_ns, "unknown", "Create"))
        if history and history[-1].generation >= obj.generation:
            if obj.generation == 1 and history[0].manager == "unknown" and obj.change:
                history[0] = obj.change  # who created it, seen after a later generation
            elif not any(g.generation == obj.generation for g in history):
                history.append(self._change_of(obj, now_ns))
                history.sort(key=lambda g: g.generation)
            return
        change = self._change_of(obj, now_ns)
        if history and change.time_ns <= history[-1].time_ns:
            # A generation with no newer dated spec change (a Pod's deletion bumps it, and
            # managedFields gains no entry): no one changed the spec, so no change starts.
            return
        history.append(change)

    @staticmethod
    def _record_replicas(stored: StoredObject, replicas: int, version: int) -> None:
        if not version:
            return  # no write order: the history could not be read by it
        history = stored.replicas
        if history is None:
            history = stored.replicas = ReplicaHistory()
        versions, sizes = history.versions, history.sizes
        if versions and version <= versions[-1]:
            if version in versions:
                return  # the same write, seen again (a re-list)
            index = bisect_left(versions, version)  # an older write, arrived late
            versions.insert(index, version)
            sizes.insert(index, replicas)
        elif versions and sizes[-1] == replicas:
            return  # a status update: the size in force did not change
        else:
            versions.append(version)
            sizes.append(replicas)
        if len(versions) > _REPLICAS_KEPT:
            del versions[0], sizes[0]

    def replicas_before(self, ref: ObjectRef, version: int) -> int | None:
        """A ReplicaSet's spec.replicas in force just before the write ``version`` (an act's
        Event): the size its controller was working towards. None: no history says."""
        stored = self.get(ref)
        history = stored.replicas if stored is not None else None
        if history is None or not history.versions or not version:
            return None
        versions = history.versions
        if version <= versions[0]:
            return None
        return history.sizes[bisect_left(versions, version) - 1]

    def rolling_out(self, ref: ObjectRef) -> bool:
        """Whether the object's latest status says a rollout of it is in progress."""
        stored = self.get(ref)
        return stored is not None and stored.rolling_out is True

    @staticmethod
    def _change_of(obj: KubeObject, now_ns: int) -> GenerationChange:
        if obj.change is not None:
            return obj.change
        # No managedFields: the change happened no later than we saw it.
        assert obj.generation is not None
        if obj.generation == 1 and obj.created_ns:
            return GenerationChange(1, obj.created_ns, "unknown", "Create")
        return GenerationChange(obj.generation, now_ns, "unknown", "Update")

    def _owner_ref(self, owner: OwnerRef) -> OwnerRef:
        """owner as the one OwnerRef that its stored children share (interned strings)."""
        stored_owner = self._objects.get(owner.uid)
        if stored_owner is None:
            return _shared(owner)
        shared = stored_owner.as_owner
        if shared is None or shared != owner:
            shared = stored_owner.as_owner = _shared(owner)
        return shared

    def get(self, ref: ObjectRef) -> StoredObject | None:
        if ref.uid is not None:
            found = self._objects.get(ref.uid)
            if found is not None:
                return found
        names = self._by_name.get((ref.kind, ref.namespace))
        key = names.get(ref.name) if names is not None else None
        return self._objects.get(key) if key is not None else None

    def scale_target_of(self, autoscaler: ObjectRef) -> ObjectRef | None:
        """The object a HorizontalPodAutoscaler scales, as its spec names it."""
        return self._scale_targets.get((autoscaler.namespace, autoscaler.name))

    def top_of(self, ref: ObjectRef) -> ObjectRef:
        """The object at the top of ref's controller chain (ref itself when it has no owner)."""
        current = self.get(ref)
        if current is None:
            return ref
        for _ in range(_MAX_OWNER_DEPTH):
            owner = current.owner
            if owner is None:
                break
            above = self._objects.get(owner.uid)
            if above is None:  # an owner never seen (or forgotten): named by the reference
                return ObjectRef(owner.kind, current.namespace, owner.name, owner.uid)
            current = above
        return current.ref

    def generation_at(self, ref: ObjectRef, time_ns: int) -> GenerationChange | None:
        """The latest generation change of ref made at or before time_ns."""
        stored = self.get(ref)
        if stored is None:
            return None
        found = None
        for change in stored.generations or ():
            if change.time_ns <= time_ns:
                found = change
        return found

    def expire(self, now_ns: int) -> int:
        """Forget deleted objects whose grace period has passed; returns how many."""
        removed = 0
        times, keys = self._deletion_times, self._deletion_keys
        while times and now_ns - times[0] > self._deleted_grace_ns:
            times.popleft()
            key = keys.popleft()
            stored = self._objects.pop(key, None)
            if stored is not None:
                removed += 1
                self._scale_targets.pop((stored.namespace, stored.name), None)
                names = self._by_name.get((stored.kind, stored.namespace))
                if names is not None and names.get(stored.name) == key:
                    del names[stored.name]
                    if not names:
                        del self._by_name[(stored.kind, stored.namespace)]
        return removed


_intern = share


def _shared(owner: OwnerRef) -> OwnerRef:
    """owner with interned strings: the same ones as the owner's record and its siblings'."""
    kind, name, uid = owner.kind, owner.name, owner.uid
    if not (isinstance(kind, str) and isinstance(uid, str)):  # only truthy in the body
        return owner
    return OwnerRef(kind=_intern(kind), name=_intern(name), uid=Uid(_intern(uid)))
