"""Hand-built SDK ReadableSpans for the view tests: the span contract, spelled out per test.

The views read spans through the ReadableSpan interface only, so these stand in for whatever
the graph makes, including attributes (kspan.problem, Container.Run, span events for
repeats, links) that the tests need before or apart from the graph producing them.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import Link, SpanContext, Status, StatusCode, TraceFlags

T0_NS = int(datetime(2026, 1, 5, 14, 0, 0, tzinfo=UTC).timestamp()) * 1_000_000_000
"""14:00:00 UTC: times in the tests read as offsets from it."""
SECOND = 1_000_000_000
TRACE = 0x0AF7651916CD43DD8448EB211C80319C

_ids = itertools.count(0x1000)
_RESOURCES: dict[str, Resource] = {}


def context(span_id: int, trace_id: int = TRACE) -> SpanContext:
    return SpanContext(trace_id, span_id, is_remote=False, trace_flags=TraceFlags(0x01))


def span(
    name: str,
    at_s: float,
    *,
    lasts_s: float = 1.0,
    obj: tuple[str, str, str] | None = ("Pod", "shop", "web-x"),
    container: str | None = None,
    attributes: Mapping[str, object] | None = None,
    error: str | None = None,
    warning: bool = False,
    message: str = "",
    parent: ReadableSpan | None = None,
    trace_id: int = TRACE,
    component: str = "kubelet",
    events: Sequence[Event] = (),
    links: Sequence[Link] = (),
    span_id: int | None = None,
) -> ReadableSpan:
    """A span at T0 + at_s about obj (kind, namespace, name); an Event's when message is set."""
    own: dict[str, object] = {}
    if obj is not None:
        kind, namespace, object_name = obj
        own.update({"k8s.object.kind": kind, "k8s.object.name": object_name})
        if namespace:
            own["k8s.namespace.name"] = namespace
    if message:
        own.update(
            {
                "k8s.event.uid": f"uid-{name}-{object_name if obj else ''}",
                "k8s.event.reason": name.split(".", 1)[1],
                "k8s.event.message": message,
                "k8s.event.type": "Warning" if warning else "Normal",
                "k8s.event.count": 1,
            }
        )
    if container:
        own["k8s.container.name"] = container
    own.update(attributes or {})
    resource = _RESOURCES.setdefault(component, Resource({"service.name": component}))
    start = T0_NS + round(at_s * SECOND)
    status = Status(StatusCode.ERROR, error) if error is not None else Status(StatusCode.UNSET)
    if warning and error is None:
        status = Status(StatusCode.ERROR, message)
    return ReadableSpan(
        name=name,
        context=context(span_id or next(_ids), trace_id),
        parent=parent.context if parent is not None else None,
        resource=resource,
        attributes=own,  # type: ignore[arg-type]
        events=events,
        links=links,
        status=status,
        start_time=start,
        end_time=start + round(lasts_s * SECOND),
    )


def repeat(reason: str, at_s: float, count: int, message: str = "") -> Event:
    """A span event for one repeat of an Event, as the span contract folds them."""
    return Event(
        reason,
        attributes={"k8s.event.count": count, "k8s.event.message": message},
        timestamp=T0_NS + round(at_s * SECOND),
    )
