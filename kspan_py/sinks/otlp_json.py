"""OTLP/JSON file sink: one ExportTraceServiceRequest per line, as the OTLP/JSON spec encodes it.

protobuf's JSON printer gets three things wrong for OTLP/JSON (ids must be lowercase hex, not
base64; enums integers, not names); the printer is told to use integers, and ids are re-encoded
here. int64 values are already decimal strings and keys already lowerCamelCase.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Sequence
from typing import IO, Any

from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

_ID_FIELDS = ("traceId", "spanId", "parentSpanId")


def _hex(value: str) -> str:
    return base64.b64decode(value).hex()


def _fix_ids(holder: dict[str, Any]) -> None:
    for field in _ID_FIELDS:
        if field in holder:
            holder[field] = _hex(holder[field])


def request_json(spans: Sequence[ReadableSpan]) -> str:
    """Encode spans as one OTLP/JSON ExportTraceServiceRequest (a single line)."""
    message = MessageToDict(encode_spans(spans), use_integers_for_enums=True)
    for resource_spans in message.get("resourceSpans", []):
        for scope_spans in resource_spans.get("scopeSpans", []):
            for span in scope_spans.get("spans", []):
                _fix_ids(span)
                for link in span.get("links", []):
                    _fix_ids(link)
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)


class OtlpJsonFileSink(SpanExporter):
    def __init__(self, path: str) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._stream: IO[str] | None = open(path, "w", encoding="utf-8")  # noqa: SIM115

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if not spans:
            return SpanExportResult.SUCCESS
        line = request_json(spans)
        with self._lock:
            if self._stream is None:
                return SpanExportResult.FAILURE
            self._stream.write(line + "\n")
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        with self._lock:
            if self._stream is not None:
                self._stream.flush()
        return True

    def shutdown(self) -> None:
        with self._lock:
            if self._stream is not None:
                self._stream.close()
                self._stream = None
