"""The object store: ownership chains, generation and size histories, deleted objects' grace
period."""

from __future__ import annotations

import random
from bisect import bisect_left, insort

from kspan_py.graph.store import _REPLICAS_KEPT, ObjectStore, StoredObject
from kspan_py.model import (
    ChangeType,
    GenerationChange,
    KubeObject,
    ObjectChange,
    ObjectRef,
    OwnerRef,
    Uid,
)

S = 1_000_000_000


def obj(
    kind: str,
    name: str,
    *,
    owner: OwnerRef | None = None,
    generation: int | None = 1,
    change: GenerationChange | None = None,
) -> KubeObject:
    return KubeObject(
        ref=ObjectRef(kind, "ns", name, Uid(f"{name}-uid")),
        resource_version="1",
        created_ns=1 * S,
        owner=owner,
        generation=generation,
        change=change,
        deleted_ns=None,
    )


def test_the_top_of_a_chain_is_found_even_when_the_owner_was_never_seen() -> None:
    store = ObjectStore(deleted_grace_ns=60 * S)
    store.apply(
        ObjectChange(
            ChangeType.ADDED, obj("Pod", "p", owner=OwnerRef("ReplicaSet", "rs", Uid("rs-uid")))
        ),
        0,
    )
    store.apply(
        ObjectChange(
            ChangeType.ADDED,
            obj("ReplicaSet", "rs", owner=OwnerRef("Deployment", "d", Uid("d-uid"))),
        ),
        0,
    )
    top = store.top_of(ObjectRef("Pod", "ns", "p", Uid("p-uid")))
    assert (top.kind, top.name, top.uid) == ("Deployment", "d", "d-uid")


def test_generations_are_dated_by_their_spec_change_and_undated_bumps_start_nothing() -> None:
    store = ObjectStore(deleted_grace_ns=60 * S)
    created = GenerationChange(1, 1 * S, "kubectl-run", "Create")
    store.apply(ObjectChange(ChangeType.ADDED, obj("Pod", "bare", change=created)), 1 * S)
    # Deletion bumps a Pod's generation but adds no dated spec entry: same time as before.
    undated = GenerationChange(2, 1 * S, "kubectl-run", "Update")
    store.apply(
        ObjectChange(ChangeType.MODIFIED, obj("Pod", "bare", generation=2, change=undated)), 9 * S
    )
    ref = ObjectRef("Pod", "ns", "bare", Uid("bare-uid"))
    assert store.generation_at(ref, 10 * S) == created
    edited = GenerationChange(3, 20 * S, "kubectl-edit", "Update")
    store.apply(
        ObjectChange(ChangeType.MODIFIED, obj("Pod", "bare", generation=3, change=edited)), 20 * S
    )
    assert store.generation_at(ref, 19 * S) == created
    assert store.generation_at(ref, 20 * S) == edited


def test_deleted_objects_stay_for_their_grace_period() -> None:
    store = ObjectStore(deleted_grace_ns=60 * S)
    store.apply(ObjectChange(ChangeType.ADDED, obj("Pod", "p")), 0)
    store.apply(ObjectChange(ChangeType.DELETED, obj("Pod", "p")), 10 * S)
    assert store.expire(70 * S) == 0
    assert store.get(ObjectRef("Pod", "ns", "p")) is not None
    assert store.expire(71 * S) == 1
    assert store.get(ObjectRef("Pod", "ns", "p")) is None
    assert len(store) == 0


def test_a_replicasets_size_history_follows_write_order_whatever_the_arrival() -> None:
    """spec.replicas by resourceVersion (packed): late writes go in their place, a write seen
    again changes nothing, a status update (same size) is no change, the latest 32 are kept;
    the size in force before a write is the one the reference list of pairs gives."""
    rng = random.Random(4)
    for _ in range(50):
        stored = StoredObject("ReplicaSet", "ns", "web", None, "apps/v1")
        reference: list[tuple[int, int]] = []
        for _ in range(rng.randrange(1, 80)):
            version, size = rng.randrange(1, 200), rng.randrange(4)
            ObjectStore._record_replicas(stored, size, version)
            if reference and version <= reference[-1][0]:
                if all(v != version for v, _ in reference):
                    insort(reference, (version, size))
            elif not reference or reference[-1][1] != size:
                reference.append((version, size))
            del reference[:-_REPLICAS_KEPT]
            history = stored.replicas
            assert history is not None
            assert list(zip(history.versions, history.sizes, strict=True)) == reference
            probe = rng.randrange(1, 210)
            expected = (
                None
                if probe <= reference[0][0]
                else reference[bisect_left(reference, (probe, -1)) - 1][1]
            )
            store = ObjectStore(0)
            store._objects["k"] = stored
            assert (
                store.replicas_before(ObjectRef("ReplicaSet", "ns", "web", Uid("k")), probe)
                == expected
            )
