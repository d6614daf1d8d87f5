"""Acts packed once settled (graph/settled.py): read back equal, and still found by the Events
of their Pods long after they were packed."""

from __future__ import annotations

import sys
import uuid
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan

from kspan_py.config import GraphSettings
from kspan_py.graph.causality import CausalGraph
from kspan_py.graph.linking import NamedAct, OccurrenceKey, ScalingAct
from kspan_py.graph.rules import Relation
from kspan_py.graph.settled import acts_of, settled, time_of, unpacked
from kspan_py.model import ChangeType, EventChange, ObjectRef, Uid
from tests.tracing import kube_event


def _act(uid: str, *, number: int = 3, trace_id: int = (7 << 64) | 9) -> NamedAct:
    act = NamedAct(OccurrenceKey(uid, number), 2**64 - 1, -5, 10**18, Relation.DELETE)
    act.trace_id = trace_id
    return act


def _fields(act: NamedAct) -> tuple[object, ...]:
    return (
        act.uid,
        act.number,
        act.span_id,
        act.time_ns,
        act.resource_version,
        act.relation,
        act.trace_id,
        type(act),
    )


@pytest.mark.parametrize(
    "uid",
    [
        str(uuid.UUID(int=0x0123456789ABCDEF0123456789ABCDEF)),  # the API server's form
        "0123456789ABCDEF0123456789ABCDEF0123",  # 36 characters, no hyphens
        "01234567-89AB-CDEF-0123-456789ABCDEF",  # a UUID, upper case: kept as written
        "0123456 -89ab-cdef-0123-456789abcdef",  # fromhex skips the space: not a UUID
        "e1",
        "",
        "\u202ehostile\n\x1b[31m uid",
        "lone \ud800 surrogate",  # (readers replace them; a library caller's KubeEvent may not)
    ],
)
def test_a_packed_act_reads_back_equal_field_for_field(uid: str) -> None:
    act = _act(uid)
    packed = settled(act)
    assert isinstance(packed, bytes)
    assert _fields(unpacked(packed)) == _fields(act)
    assert time_of(packed) == time_of(act) == -5


def test_a_canonical_uid_is_kept_in_its_sixteen_bytes() -> None:
    canonical = settled(_act(str(uuid.uuid4())))
    other = settled(_act("x" * 36))
    assert isinstance(canonical, bytes) and isinstance(other, bytes)
    assert len(other) - len(canonical) == 36 - 16


def test_what_can_change_or_does_not_fit_stays_as_it_is() -> None:
    pending = _act("e1", trace_id=0)  # its trace not known yet: _link will set it
    scaling = ScalingAct(OccurrenceKey("e2", 1), 5, 1, 1, Relation.CREATE, target=3, step=2)
    scaling.trace_id = 1  # it counts what it caused (``used``)
    huge_count = _act("e3", number=2**32)
    far_time = NamedAct(OccurrenceKey("e4", 1), 5, 2**63, 1, Relation.CREATE)
    far_time.trace_id = 1
    for act in (pending, scaling, huge_count, far_time):
        assert settled(act) is act
    records = (pending, scaling)
    assert acts_of(records) is records  # nothing to unpack: the graph's own objects
    mixed = acts_of((settled(_act("e5")), pending))
    assert mixed[1] is pending and _fields(mixed[0]) == _fields(_act("e5"))


def _late_pod_spans(late_s: float) -> dict[tuple[str, int], ReadableSpan]:
    """100 Pods created by a ReplicaSet at 0 s, each scheduled at 1 s; at late_s each one's
    container backs off, and 10 s on the ReplicaSet deletes it and its container is killed.
    The spans by (reason, Pod number)."""
    graph = CausalGraph(GraphSettings())
    replicaset = ObjectRef("ReplicaSet", "ns", "web-abc", Uid("rs-uid"))
    start_s = 1_800_000_000
    spans: list[ReadableSpan] = []
    pods = [ObjectRef("Pod", "ns", f"web-abc-{n:05}", Uid(f"pod-{n}")) for n in range(100)]

    def event(key: str, at_s: float, rv: int, **fields: Any) -> None:
        uid = str(uuid.uuid5(uuid.NAMESPACE_URL, key))  # the API server's form of uid
        made = kube_event(uid=uid, event_name=key, at_s=start_s + at_s, rv=rv, **fields)
        graph.ingest(EventChange(ChangeType.ADDED, made))
        spans.extend(graph.advance())

    for n, pod in enumerate(pods):
        event(f"create-{n}", 0, 10 + n, regarding=replicaset, reason="SuccessfulCreate",
              message=f"Created pod: {pod.name}", component="replicaset-controller")  # fmt: skip
        event(f"scheduled-{n}", 1, 1_000 + n, regarding=pod, reason="Scheduled",
              message=f"Successfully assigned ns/{pod.name} to node-1",
              component="default-scheduler")  # fmt: skip
    for n, pod in enumerate(pods):
        event(f"backoff-{n}", late_s, 2_000 + n, regarding=pod, reason="BackOff",
              message="Back-off restarting failed container app",
              field_path="spec.containers{app}")  # fmt: skip
    for n, pod in enumerate(pods):
        event(f"delete-{n}", late_s + 10, 3_000 + n, regarding=replicaset,
              reason="SuccessfulDelete", message=f"Deleted pod: {pod.name}",
              component="replicaset-controller")  # fmt: skip
        event(f"killing-{n}", late_s + 11, 4_000 + n, regarding=pod, reason="Killing",
              message="Stopping container app", field_path="spec.containers{app}")  # fmt: skip
    spans.extend(graph.flush())
    by_key: dict[tuple[str, int], ReadableSpan] = {}
    for span in spans:
        attributes = span.attributes or {}
        if "k8s.event.reason" in attributes:
            number = int(str(attributes["k8s.event.name"]).rpartition("-")[2])
            by_key[(str(attributes["k8s.event.reason"]), number)] = span
    return by_key


@pytest.mark.parametrize("late_s", [10, 600, 3_000])
def test_the_events_of_a_pod_find_its_acts_after_they_are_packed(late_s: float) -> None:
    """Events of a Pod 10 s after its creation (its acts fresh), 10 or 50 minutes after (its
    creation packed): a back-off hangs in the trace of the creation, under the Pod's life, and
    the killing under the ReplicaSet's deletion of that Pod, as long as the hour lasts."""
    spans = _late_pod_spans(late_s)
    for n in range(100):
        created, backoff = spans[("SuccessfulCreate", n)], spans[("BackOff", n)]
        deleted, killed = spans[("SuccessfulDelete", n)], spans[("Killing", n)]
        assert created.context is not None and backoff.context is not None
        assert deleted.context is not None and killed.parent is not None
        assert backoff.context.trace_id == created.context.trace_id
        assert (backoff.attributes or {}).get("kspan.link") == "create"
        assert killed.parent.span_id == deleted.context.span_id
        assert (killed.attributes or {}).get("kspan.link") == "delete"


def _deep_size(value: object) -> int:
    """Bytes of value and of everything it holds (containers, NamedAct slots), each once."""
    seen: set[int] = set()
    stack = [value]
    total = 0
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        total += sys.getsizeof(item)
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, tuple | list):
            stack.extend(item)
        elif isinstance(item, NamedAct):
            stack.extend(getattr(item, name) for name in _ACT_SLOTS if hasattr(item, name))
    return total


_ACT_SLOTS = ("uid", "number", "span_id", "time_ns", "resource_version", "trace_id")


def test_settled_creations_take_half_the_memory_they_did() -> None:
    """3,000 Pod creations within 3 s: the graph's table of acts once they are linked (fresh),
    and once packed minutes on (460 -> 240 bytes an act here). The same names, tuples and
    dicts hold them; each act goes from about 280 bytes (the object, its uid, span id, time
    and write order) to about 95."""
    graph = CausalGraph(GraphSettings())
    start_s = 1_800_000_000
    for n in range(3_000):
        owner = ObjectRef("ReplicaSet", "ns", f"web-{n}", Uid(f"o{n}"))
        act = kube_event(
            regarding=owner,
            reason="SuccessfulCreate",
            message=f"Created pod: web-{n}-abcde",
            component="replicaset-controller",
            uid=str(uuid.uuid5(uuid.NAMESPACE_URL, str(n))),
            at_s=start_s + n / 1_000,
            rv=n + 1,
        )
        graph.ingest(EventChange(ChangeType.ADDED, act))
    graph.advance(int((start_s + 10) * 1e9))  # linked, not settled
    fresh = _deep_size(graph._acts)
    graph.advance(int((start_s + 160) * 1e9))
    packed = _deep_size(graph._acts)
    assert fresh - packed > 3_000 * 150
    assert packed < fresh * 0.6
