"""What the spans of one input say, in terms that do not depend on arrival order: each Event
occurrence's cause, a digest of the trees, and breaks of the timing a trace viewer shows."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan

from kspan_py.config import GraphSettings
from kspan_py.graph.causality import replay_changes
from kspan_py.model import EventChange, ObjectChange, Snapshot
from kspan_py.sources.capture import decode_values
from tests.input_forms import Value, as_text
from tests.tracing import attr, parent_id, span_id

EVENT_UID = "k8s.event.uid"
TOLERANCE_NS = 1_000_000
"""1 ms: times a viewer shows as equal."""


def replay_values(values: Sequence[Value], label: str = "form") -> list[ReadableSpan]:
    """The spans the library makes of these values, read as the capture reader reads a file."""
    items = decode_values(as_text(values), label)
    changes = [i for i in items if isinstance(i, ObjectChange | EventChange | Snapshot)]
    return replay_changes(changes, GraphSettings())


def event_uids(span: ReadableSpan) -> set[str]:
    """The Event occurrences a span stands for: its own, and those of its span events (repeats)."""
    uids = {attr(span, EVENT_UID)}
    uids |= {(e.attributes or {}).get(EVENT_UID) for e in span.events}
    return {u for u in uids if isinstance(u, str)}


def causes(spans: Sequence[ReadableSpan]) -> dict[str, set[str | None]]:
    """Event uid -> the uid of the nearest ancestor that is another Event's span (None: none),
    over every span that stands for that Event."""
    by_id = {span_id(s): s for s in spans}
    found: dict[str, set[str | None]] = defaultdict(set)
    for span in spans:
        for uid in event_uids(span):
            cause: str | None = None
            parent, hops = parent_id(span), 0
            while parent is not None and parent in by_id and hops < 1000:
                above = attr(by_id[parent], EVENT_UID)
                if isinstance(above, str) and above != uid:
                    cause = above
                    break
                parent, hops = parent_id(by_id[parent]), hops + 1
            found[uid].add(cause)
    return dict(found)


def identity(span: ReadableSpan) -> tuple[object, ...]:
    """What a span is, whatever ids it got: its Event, else its name and the object it is about."""
    uid = attr(span, EVENT_UID)
    if uid is not None:
        return (span.name, uid)
    return (
        span.name,
        attr(span, "k8s.object.uid") or attr(span, "k8s.object.name"),
        attr(span, "k8s.container.name"),
        attr(span, "k8s.container.restart_count"),
    )


def tree_digest(spans: Sequence[ReadableSpan]) -> Counter[tuple[object, ...]]:
    """Each span as (its identity, its parent's identity): equal for equal trees."""
    by_id = {span_id(s): s for s in spans}
    digest: Counter[tuple[object, ...]] = Counter()
    for span in spans:
        parent = by_id.get(parent_id(span) or 0)
        digest[(identity(span), identity(parent) if parent is not None else None)] += 1
    return digest


def timing_breaks(spans: Sequence[ReadableSpan], tolerance_ns: int = TOLERANCE_NS) -> list[str]:
    """A child that starts before its parent, or outlives a parent named as a life (*.Lifetime)."""
    by_id = {span_id(s): s for s in spans}
    breaks = []
    for span in spans:
        parent = by_id.get(parent_id(span) or 0)
        if parent is None:
            continue
        child_start, child_end = span.start_time or 0, span.end_time or 0
        parent_start, parent_end = parent.start_time or 0, parent.end_time or 0
        if child_start < parent_start - tolerance_ns:
            early = (parent_start - child_start) / 1e9
            breaks.append(f"{span.name} starts {early:.3f}s before its parent {parent.name}")
        if parent.name.endswith(".Lifetime") and child_end > parent_end + tolerance_ns:
            late = (child_end - parent_end) / 1e9
            breaks.append(f"{span.name} ends {late:.3f}s after its parent {parent.name}")
    return breaks


def digest_difference(
    got: Counter[tuple[object, ...]], wanted: Counter[tuple[object, ...]], shown: int = 3
) -> str:
    """What two digests disagree on, as text: entries only one of them has."""
    missing, extra = wanted - got, got - wanted
    parts = [f"{len(missing)} (span, parent) pairs missing, {len(extra)} unexpected"]
    parts += [f"missing {key}" for key in sorted(missing, key=repr)[:shown]]
    parts += [f"unexpected {key}" for key in sorted(extra, key=repr)[:shown]]
    return "; ".join(parts)
