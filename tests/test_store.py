"""The object store: ownership chains, generation history, deleted objects' grace period."""

from __future__ import annotations

from kspan_py.graph.store import ObjectStore
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
