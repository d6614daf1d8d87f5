"""HTML timeline sink: ``--exporter html --html-file PATH`` for replay and run.

Writes the page of kspan_py/views/timeline.py. A page shows whole traces, so the sink keeps
the spans it is given and writes the file when it is flushed: at the end of a replay, when a
run stops. It holds a bounded number of spans (``SinkSettings.html_max_spans``): past it the
oldest traces are left out, and the page says how many spans that was. The file is written
to a temporary name and renamed, so a reader never sees half a page.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from kspan_py.views.timeline import render_timeline
from kspan_py.views.traces import group_traces, trace_id_of

log = logging.getLogger(__name__)


class HtmlTimelineSink(SpanExporter):
    cpu_only = True
    """Exports without waiting on the network: the runner calls it inline, not in a thread."""

    def __init__(self, path: str, *, max_spans: int = 100_000, title: str = "") -> None:
        self._path = Path(path)
        if not self._path.parent.is_dir():
            raise OSError(f"{self._path.parent} is not a directory")
        self._max_spans = max_spans
        self._title = title or f"kspan-py timeline: {self._path.stem}"
        self._lock = threading.Lock()
        self._traces: OrderedDict[int, list[ReadableSpan]] = OrderedDict()
        self._held = 0
        self._left_out = 0
        self._written: int | None = None  # spans in the file: a flush with nothing new skips

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with self._lock:
            for span in spans:
                self._traces.setdefault(trace_id_of(span), []).append(span)
            self._held += len(spans)
            while self._held > self._max_spans and len(self._traces) > 1:
                _, oldest = self._traces.popitem(last=False)
                self._held -= len(oldest)
                self._left_out += len(oldest)
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        with self._lock:
            spans = [span for trace in self._traces.values() for span in trace]
            left_out = self._left_out
            if self._written == self._held + left_out:
                return True
            self._written = self._held + left_out
        traces = group_traces(spans)
        note = f"{len(traces)} traces, {len(spans)} spans; times UTC"
        if left_out:
            note += f"; {left_out} spans of older traces left out (limit {self._max_spans})"
        page = render_timeline(traces, title=self._title, note=note)
        temporary = self._path.with_name(f".{self._path.name}.{os.getpid()}.tmp")
        try:
            temporary.write_text(page, encoding="utf-8")
            temporary.replace(self._path)
        except OSError as error:
            log.error("cannot write the HTML timeline %s: %s", self._path, error)
            return False
        return True

    def shutdown(self) -> None:
        self.force_flush()
