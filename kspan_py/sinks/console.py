"""Console sink: one indented tree per trace, for a terminal or a pipe.

Each line: offset from the trace's root, duration, component, span name (with ``xN`` for a
span of N repeats and the ``[problem]`` it shows), message. Errors (Warning events, problems)
are highlighted when writing to a terminal. Trees are printed when the sink is flushed
(the end of a replay), because a trace is only known to be complete then. Names, components and
messages come from Events: they are printed with control characters escaped (kspan_py.escaping).
"""

from __future__ import annotations

import sys
import threading
from collections import defaultdict
from collections.abc import Sequence
from typing import IO

from opentelemetry.sdk.resources import SERVICE_NAME
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import StatusCode

from kspan_py.escaping import printable
from kspan_py.spans.attributes import EVENT_MESSAGE, OBJECT_NAME, PROBLEM

_RED, _DIM, _RESET = "\x1b[31m", "\x1b[2m", "\x1b[0m"


def _seconds(value_ns: int) -> str:
    value = value_ns / 1e9
    if value < 60:
        return f"{value:.3f}s"
    return f"{int(value // 60)}m{value % 60:06.3f}s"


class ConsoleSink(SpanExporter):
    cpu_only = True
    """Exports without waiting on the network: the runner calls it inline, not in a thread."""

    def __init__(self, stream: IO[str] | None = None, *, color: bool | None = None) -> None:
        self._stream = stream or sys.stdout
        self._color = self._stream.isatty() if color is None else color
        self._lock = threading.Lock()
        self._spans: list[ReadableSpan] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with self._lock:
            self._spans.extend(spans)
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        with self._lock:
            spans, self._spans = self._spans, []
        if spans:
            self._stream.write(render_trees(spans, color=self._color))
            self._stream.flush()
        return True

    def shutdown(self) -> None:
        self.force_flush()


def render_trees(spans: Sequence[ReadableSpan], *, color: bool = False) -> str:
    by_trace: dict[int, list[ReadableSpan]] = defaultdict(list)
    for span in spans:
        by_trace[span.context.trace_id].append(span)
    blocks = []
    for trace_spans in sorted(by_trace.values(), key=lambda s: min(x.start_time or 0 for x in s)):
        blocks.append(_render_trace(trace_spans, color))
    return "".join(blocks)


def _render_trace(spans: list[ReadableSpan], color: bool) -> str:
    ids = {span.context.span_id for span in spans}
    children: dict[int | None, list[ReadableSpan]] = defaultdict(list)
    for span in spans:
        parent = span.parent.span_id if span.parent is not None else None
        children[parent if parent in ids else None].append(span)
    for group in children.values():
        group.sort(key=lambda s: s.start_time or 0)  # stable: equal times keep export order
    origin = min(span.start_time or 0 for span in spans)
    trace_id = spans[0].context.trace_id
    lines = [f"trace {trace_id:032x}  ({len(spans)} spans)\n"]

    def walk(span: ReadableSpan, depth: int) -> None:
        start, end = span.start_time or 0, span.end_time or 0
        component = str(span.resource.attributes.get(SERVICE_NAME, "?"))
        attributes = span.attributes or {}
        message = str(attributes.get(EVENT_MESSAGE) or attributes.get(OBJECT_NAME) or "")
        marks = f" x{len(span.events)}" if span.events else ""
        problem = attributes.get(PROBLEM)
        if problem:
            marks += f" [{problem}]"
        text = printable(
            f"  +{_seconds(start - origin):>9} {_seconds(end - start):>9}  "
            f"{'  ' * depth}{component}  {span.name}{marks}  {message}"
        )
        if color and span.status.status_code is StatusCode.ERROR:
            text = f"{_RED}{text}{_RESET}"
        lines.append(text + "\n")
        for child in children.get(span.context.span_id, []):
            walk(child, depth + 1)

    for root in children.get(None, []):
        walk(root, 0)
    lines.append("\n")
    return "".join(lines)
