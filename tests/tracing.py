"""Test helpers shared by topic modules: replay a capture in memory and render traces as text."""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from pathlib import Path

from opentelemetry.sdk.trace import ReadableSpan

from kspan_py.config import GraphSettings
from kspan_py.graph.causality import replay_changes
from kspan_py.model import EventChange, KubeEvent, ObjectChange, ObjectRef, Snapshot, Uid
from kspan_py.sources.capture import decode_values, read_capture
from tests.input_forms import uid_of

ROOT = Path(__file__).resolve().parent.parent
CAPTURES = ROOT / "examples" / "captures"
GOLDEN = Path(__file__).resolve().parent / "golden"


Changes = list[ObjectChange | EventChange | Snapshot]

SpanTimes = set[tuple[str, str | None, int, int]]
"""Each span as (its id, its parent's, its start, its end): what must agree between paths."""


def otlp_json_span_times(path: Path) -> SpanTimes:
    """The spans of an OTLP/JSON file (``--exporter otlp-json``)."""
    return {
        (s["spanId"], s.get("parentSpanId"), int(s["startTimeUnixNano"]), int(s["endTimeUnixNano"]))
        for line in path.read_text().splitlines()
        for resource in json.loads(line)["resourceSpans"]
        for scope in resource["scopeSpans"]
        for s in scope["spans"]
    }


def span_times(spans: Iterable[ReadableSpan]) -> SpanTimes:
    """The same of spans made in this process."""
    return {
        (
            f"{span.context.span_id:016x}",
            f"{span.parent.span_id:016x}" if span.parent else None,
            span.start_time or 0,
            span.end_time or 0,
        )
        for span in spans
        if span.context is not None
    }


def changes_of(lines: Iterable[str], label: str = "test") -> Changes:
    items = decode_values("\n".join(lines), label)
    return [i for i in items if isinstance(i, ObjectChange | EventChange | Snapshot)]


def kube_event(
    *,
    reason: str = "Started",
    message: str = "",
    kind: str = "Pod",
    name: str = "web-1",
    namespace: str = "ns",
    regarding: ObjectRef | None = None,
    event_name: str | None = None,
    uid: str = "e1",
    type_: str = "Normal",
    field_path: str = "",
    related: ObjectRef | None = None,
    action: str = "",
    count: int = 1,
    at_s: float = 0,
    component: str = "kubelet",
    instance: str = "",
    api_version: str = "v1",
    rv: int = 1,
) -> KubeEvent:
    """One Event occurrence built by hand: the one place a test constructs a KubeEvent.

    It regards ``regarding``, else the object kind/namespace/name (uid "o1"); the Event is in
    ``namespace`` and named ``event_name``, else after what it regards (``<name>.1``). It
    happened, first and this time, ``at_s`` seconds after the epoch; ``rv`` is its
    resourceVersion."""
    if regarding is None:
        regarding = ObjectRef(kind, namespace, name, Uid("o1"))
    at_ns = int(at_s * 1_000_000_000)
    return KubeEvent(
        uid=Uid(uid),
        name=event_name if event_name is not None else f"{regarding.name}.1",
        namespace=namespace,
        regarding=regarding,
        field_path=field_path,
        related=related,
        reason=reason,
        message=message,
        type=type_,
        action=action,
        count=count,
        time_ns=at_ns,
        first_ns=at_ns,
        component=component,
        instance=instance,
        api_version=api_version,
        resource_version=rv,
    )


def replay_file(path: Path, settings: GraphSettings | None = None) -> list[ReadableSpan]:
    changes = [
        i for i in read_capture(str(path)) if isinstance(i, ObjectChange | EventChange | Snapshot)
    ]
    return replay_changes(changes, settings or GraphSettings())


def replay_lines(lines: Sequence[str], settings: GraphSettings | None = None) -> list[ReadableSpan]:
    return replay_changes(changes_of(lines), settings or GraphSettings())


def span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return span.context.span_id


def trace_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return span.context.trace_id


def parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def attr(span: ReadableSpan, key: str) -> object:
    return (span.attributes or {}).get(key)


def render_golden(spans: Sequence[ReadableSpan]) -> str:
    """`N: component Kind.Reason (parentN) [marks] message`, numbered in (trace, time, id) order.

    Marks: `[xK]` a span of K repeats, `[problem P]` its kspan.problem, `[why -> N]` a link."""
    trace_start: dict[int, tuple[int, int]] = {}
    for span in spans:
        key = (span.start_time or 0, span_id(span))
        trace_start[trace_id(span)] = min(trace_start.get(trace_id(span), key), key)
    ordered = sorted(
        spans,
        key=lambda s: (
            trace_start[trace_id(s)],
            trace_id(s),
            s.start_time or 0,
            s.name,
            span_id(s),
        ),
    )
    number = {span_id(s): n for n, s in enumerate(ordered, start=1)}
    lines = []
    previous_trace = None
    for n, span in enumerate(ordered, start=1):
        if trace_id(span) != previous_trace:
            lines.append(f"# trace {len({trace_id(s) for s in ordered[:n]})}")
            previous_trace = trace_id(span)
        parent = parent_id(span)
        parent_text = str(number[parent]) if parent in number else "-"
        component = span.resource.attributes.get("service.name")
        message = attr(span, "k8s.event.message") or attr(span, "k8s.object.name") or ""
        marks = ""
        if span.events:
            marks += f" [x{len(span.events)}]"
        if attr(span, "kspan.problem"):
            marks += f" [problem {attr(span, 'kspan.problem')}]"
        for link in span.links:
            target = number.get(link.context.span_id, "?")
            marks += f" [{(link.attributes or {}).get('kspan.link.reason')} -> {target}]"
        lines.append(f"{n}: {component} {span.name} ({parent_text}){marks} {message}")
    return "\n".join(lines) + "\n"


def event_time_of(line: str, last: float) -> float:
    """Seconds of a capture line's occurrence (events) or the last seen time (objects)."""
    from kspan_py.model import normalise

    value = json.loads(line)
    body = value.get("object", value)
    if body.get("kind") != "Event":
        return last
    record = normalise(body)
    assert isinstance(record, KubeEvent)
    return record.time_ns / 1e9


def permuted_within(lines: Sequence[str], seed: int, jitter_s: float) -> list[str]:
    """Reorder lines randomly, moving none by more than jitter_s of event time, nor across
    the end of the start-up listing (the leading ADDED lines stay a listing)."""
    rng = random.Random(seed)
    listed = 0
    while listed < len(lines) and json.loads(lines[listed]).get("type") == "ADDED":
        listed += 1
    keyed = []
    last = 0.0
    for index, line in enumerate(lines):
        last = max(last, event_time_of(line, last))
        keyed.append((index >= listed, last + rng.uniform(0, jitter_s), index, line))
    shuffled = [line for *_, line in sorted(keyed)]
    # One watch stream keeps each object's order: its versions stay in their order.
    versions: dict[object, list[str]] = {}
    for line in lines:
        versions.setdefault(_uid_of(line), []).append(line)
    taken = {uid: iter(own) for uid, own in versions.items()}
    return [next(taken[_uid_of(line)]) for line in shuffled]


def _uid_of(line: str) -> object:
    return uid_of(json.loads(line))
