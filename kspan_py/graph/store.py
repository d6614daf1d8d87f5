"""The object store: who owns whom, and which generation of a top object was made when.

It keeps a small record per object (never the body) so that a cluster's worth of objects fits
in memory, and keeps deleted objects for a grace period so that late events still resolve.
Only the graph mutates it. A record's strings are interned (the events that regard the object
and the objects it owns then share them, see model.normalising), an owner reference is kept
until a different one arrives (not one equal copy per update), and only top objects, the ones
with generations, have a generation history.
"""

from __future__ import annotations

import sys
from collections import deque
from dataclasses import dataclass

from kspan_py.model import (
    ChangeType,
    GenerationChange,
    KubeObject,
    ObjectChange,
    ObjectRef,
    OwnerRef,
    Uid,
)

_MAX_OWNER_DEPTH = 8  # ownership chains are short (CronJob > Job > Pod); this only stops cycles


@dataclass(slots=True)
class StoredObject:
    ref: ObjectRef
    owner: OwnerRef | None
    generations: list[GenerationChange] | None = None  # oldest first; None: none recorded
    deleted_ns: int | None = None


class ObjectStore:
    def __init__(self, deleted_grace_ns: int) -> None:
        self._deleted_grace_ns = deleted_grace_ns
        self._objects: dict[str, StoredObject] = {}
        # (kind, namespace) -> name -> key: the name strings are the records' own.
        self._by_name: dict[tuple[str, str], dict[str, str]] = {}
        self._deletions: deque[tuple[int, str]] = deque()

    def __len__(self) -> int:
        return len(self._objects)

    def apply(self, change: ObjectChange, now_ns: int) -> None:
        obj = change.obj
        key = obj.ref.key
        stored = self._objects.get(key)
        owner = obj.owner
        if stored is None:
            uid = obj.ref.uid
            ref = ObjectRef(
                kind=_intern(obj.ref.kind),
                namespace=_intern(obj.ref.namespace),
                name=_intern(obj.ref.name),
                uid=Uid(_intern(uid)) if uid is not None else None,
                api_version=_intern(obj.ref.api_version),
            )
            key = ref.key
            stored = StoredObject(ref=ref, owner=_shared(owner) if owner is not None else None)
            self._objects[key] = stored
            self._by_name.setdefault((ref.kind, ref.namespace), {})[ref.name] = key
        elif owner is not None and owner != stored.owner:
            stored.owner = _shared(owner)
        if obj.generation is not None and obj.owner is None:
            self._record_generation(stored, obj, now_ns)
        if change.type is ChangeType.DELETED and stored.deleted_ns is None:
            stored.deleted_ns = now_ns
            self._deletions.append((now_ns, key))

    def _record_generation(self, stored: StoredObject, obj: KubeObject, now_ns: int) -> None:
        assert obj.generation is not None
        history = stored.generations
        if history is None:
            history = stored.generations = []
        if history and history[-1].generation >= obj.generation:
            if not any(g.generation == obj.generation for g in history):
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
    def _change_of(obj: KubeObject, now_ns: int) -> GenerationChange:
        if obj.change is not None:
            return obj.change
        # No managedFields: the change happened no later than we saw it.
        assert obj.generation is not None
        if obj.generation == 1 and obj.created_ns:
            return GenerationChange(1, obj.created_ns, "unknown", "Create")
        return GenerationChange(obj.generation, now_ns, "unknown", "Update")

    def get(self, ref: ObjectRef) -> StoredObject | None:
        if ref.uid is not None:
            found = self._objects.get(ref.uid)
            if found is not None:
                return found
        names = self._by_name.get((ref.kind, ref.namespace))
        key = names.get(ref.name) if names is not None else None
        return self._objects.get(key) if key is not None else None

    def top_of(self, ref: ObjectRef) -> ObjectRef:
        """The object at the top of ref's controller chain (ref itself when it has no owner)."""
        current = self.get(ref)
        top = current.ref if current is not None else ref
        for _ in range(_MAX_OWNER_DEPTH):
            if current is None or current.owner is None:
                break
            owner = current.owner
            current = self._objects.get(owner.uid)
            top = (
                current.ref
                if current is not None
                else ObjectRef(owner.kind, top.namespace, owner.name, owner.uid)
            )
        return top

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
        while self._deletions and now_ns - self._deletions[0][0] > self._deleted_grace_ns:
            _, key = self._deletions.popleft()
            stored = self._objects.pop(key, None)
            if stored is not None:
                removed += 1
                ref = stored.ref
                names = self._by_name.get((ref.kind, ref.namespace))
                if names is not None and names.get(ref.name) == key:
                    del names[ref.name]
                    if not names:
                        del self._by_name[(ref.kind, ref.namespace)]
        return removed


_intern = sys.intern


def _shared(owner: OwnerRef) -> OwnerRef:
    """owner with interned strings: the same ones as the owner's record and its siblings'."""
    kind, name, uid = owner.kind, owner.name, owner.uid
    if not (isinstance(kind, str) and isinstance(uid, str)):  # only truthy in the body
        return owner
    return OwnerRef(kind=_intern(kind), name=_intern(name), uid=Uid(_intern(uid)))
