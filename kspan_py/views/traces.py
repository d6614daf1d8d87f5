"""Traces as the views see them: spans grouped by trace, in causal (tree) order.

Every view (the explain waterfall, the HTML timeline) and the library's ``link()`` work on the
OpenTelemetry ``ReadableSpan`` interface only: name, context, parent, times, status,
attributes, events, links and the resource's ``service.name``. They never look at how the graph
made a span, so they show whatever it makes (event spans, lifecycle spans, change roots)
without knowing their kinds.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from opentelemetry.sdk.resources import SERVICE_NAME
from opentelemetry.sdk.trace import ReadableSpan

from kspan_py.spans.attributes import EVENT_MESSAGE, NAMESPACE_NAME, OBJECT_KIND, OBJECT_NAME


@dataclass(frozen=True, slots=True)
class ObjectKey:
    """Which Kubernetes object a span is about: kind, namespace ("" if cluster-scoped), name."""

    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind.lower()}/{where}{self.name}"


@dataclass(frozen=True, slots=True)
class SpanRow:
    """One line of a waterfall: a span, how deep it sits in its tree, and where on the axis."""

    span: ReadableSpan
    depth: int
    offset_ns: int
    """Start, from the start of the trace."""
    duration_ns: int


@dataclass(frozen=True, slots=True)
class Trace:
    """One trace: its id, its root span and every span in tree order (depth first, children
    by start time; spans whose parent is not in the trace count as roots)."""

    trace_id: int
    root: ReadableSpan
    spans: tuple[ReadableSpan, ...]
    depths: tuple[int, ...]
    """The depth of each span of ``spans`` (0 for a root)."""

    @property
    def start_ns(self) -> int:
        return min(start_of(span) for span in self.spans)

    @property
    def end_ns(self) -> int:
        return max(end_of(span) for span in self.spans)

    def rows(self) -> Iterator[SpanRow]:
        origin = self.start_ns
        for span, depth in zip(self.spans, self.depths, strict=True):
            yield SpanRow(span, depth, start_of(span) - origin, end_of(span) - start_of(span))


def start_of(span: ReadableSpan) -> int:
    return span.start_time or 0


def end_of(span: ReadableSpan) -> int:
    """The end, never before the start (a span not ended reads as lasting no time)."""
    return max(span.end_time or 0, start_of(span))


def span_id_of(span: ReadableSpan) -> int:
    context = span.context
    return context.span_id if context is not None else 0


def trace_id_of(span: ReadableSpan) -> int:
    context = span.context
    return context.trace_id if context is not None else 0


def component_of(span: ReadableSpan) -> str:
    """The component that reported the span (its resource's service.name)."""
    return str(span.resource.attributes.get(SERVICE_NAME, "") or "?")


def message_of(span: ReadableSpan) -> str:
    """What a reader wants next to the name: the event's message, else the object's name."""
    attributes = span.attributes or {}
    return str(attributes.get(EVENT_MESSAGE) or attributes.get(OBJECT_NAME) or "")


def object_of(span: ReadableSpan) -> ObjectKey | None:
    attributes = span.attributes or {}
    kind, name = attributes.get(OBJECT_KIND), attributes.get(OBJECT_NAME)
    if not kind or not name:
        return None
    return ObjectKey(str(kind), str(attributes.get(NAMESPACE_NAME) or ""), str(name))


def group_traces(spans: Iterable[ReadableSpan]) -> list[Trace]:
    """Spans grouped by trace id, each trace in tree order; traces ordered by start time."""
    by_trace: dict[int, list[ReadableSpan]] = defaultdict(list)
    for span in spans:
        by_trace[trace_id_of(span)].append(span)
    traces = [_tree(trace_id, members) for trace_id, members in by_trace.items()]
    traces.sort(key=lambda trace: (trace.start_ns, trace.trace_id))
    return traces


def _tree(trace_id: int, spans: list[ReadableSpan]) -> Trace:
    ids = {span_id_of(span) for span in spans}
    children: dict[int | None, list[ReadableSpan]] = defaultdict(list)
    for span in spans:
        parent = span.parent.span_id if span.parent is not None else None
        children[parent if parent in ids and parent != span_id_of(span) else None].append(span)
    for group in children.values():
        group.sort(key=start_of)  # stable: equal (truncated) times keep the order given
    ordered: list[ReadableSpan] = []
    depths: list[int] = []
    seen: set[int] = set()
    # Iterative depth-first walk; `seen` guards against a parent cycle in foreign input.
    stack = [(root, 0) for root in reversed(children.get(None, []))]
    while stack:
        span, depth = stack.pop()
        if span_id_of(span) in seen:
            continue
        seen.add(span_id_of(span))
        ordered.append(span)
        depths.append(depth)
        stack.extend((child, depth + 1) for child in reversed(children.get(span_id_of(span), [])))
    for span in spans:  # only a cycle leaves spans unreached: show them as roots
        if span_id_of(span) not in seen:
            seen.add(span_id_of(span))
            ordered.append(span)
            depths.append(0)
    return Trace(trace_id, ordered[0], tuple(ordered), tuple(depths))
