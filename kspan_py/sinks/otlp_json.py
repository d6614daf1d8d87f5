"""OTLP/JSON file sink: one ExportTraceServiceRequest per line, as the OTLP/JSON spec encodes it.

The encoding is written here from the spans directly: going through the SDK's protobuf encoder
and protobuf's JSON printer cost more than parsing the capture (about 160 µs a span, measured
with ``make bench``), and the printer still had to be corrected (ids must be lowercase hex, not
base64). The rules followed: ids lowercase hex; enums integers; int64 values and times decimal
strings; keys lowerCamelCase; default values omitted. tests/test_otlp_json.py checks that the
output parses back into the same protobuf message the SDK's encoder makes.

A ``run`` appends to the file (``append=True``): restarted with ``--state-file``, it goes on
where the previous process stopped, and the checkpoint keeps it from exporting again what that
process exported. What a kill leaves is repaired on opening: a torn last line (the write the
kill interrupted; its spans were not noted as delivered) is cut off, and the spans of the last
lines are remembered, so that a batch written just before the kill but not yet noted in the
checkpoint is not written twice when the restart exports it again. A write the disk refuses
(ENOSPC) is taken back whole, so a retry never leaves half a line in the file; the sink then
reports "disk full" (``failure_reason``) for the outlet to count and retry.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import orjson
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanKind, StatusCode

from kspan_py.appending import LineFile, lines_backwards
from kspan_py.spans.attributes import EVENT_COUNT, EVENT_UID, LINK_REASON
from kspan_py.spans.building import KubeSpan, SpanDraft
from kspan_py.spans.ids import event_span_id

log = logging.getLogger(__name__)

_KIND = {
    SpanKind.INTERNAL: 1,
    SpanKind.SERVER: 2,
    SpanKind.CLIENT: 3,
    SpanKind.PRODUCER: 4,
    SpanKind.CONSUMER: 5,
}
_STATUS = {StatusCode.UNSET: 0, StatusCode.OK: 1, StatusCode.ERROR: 2}
_INTERNAL = _KIND[SpanKind.INTERNAL]
_ERROR = _STATUS[StatusCode.ERROR]
_NO_STATUS: Json = {}  # shared: orjson only reads it
_HAS_IS_REMOTE = 0x100  # SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK
_IS_REMOTE = 0x200  # SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK

Json = dict[str, Any]


def _value(value: object) -> Json:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, bytes):
        raise TypeError("bytes attribute values are not produced by kspan-py")
    if isinstance(value, Sequence):
        return {"arrayValue": {"values": [_value(v) for v in value]}}
    return {"stringValue": str(value)}


def _attributes(attributes: Mapping[str, object] | None) -> list[Json]:
    # Nearly every value is a string: encoded inline, without a call.
    return [
        {"key": k, "value": {"stringValue": v} if v.__class__ is str else _value(v)}
        for k, v in (attributes or {}).items()
    ]


def _draft_span(draft: SpanDraft, shift_ns: int) -> Json:
    """A KubeSpan, from its draft: what _span encodes, without making the SDK's objects."""
    encoded: Json = {"traceId": f"{draft.trace_id:032x}", "spanId": f"{draft.span_id:016x}"}
    if draft.parent_id is not None:
        encoded["parentSpanId"] = f"{draft.parent_id:016x}"
    encoded["flags"] = _HAS_IS_REMOTE
    encoded["name"] = draft.name
    encoded["kind"] = _INTERNAL
    encoded["startTimeUnixNano"] = str(draft.start_ns + shift_ns)
    encoded["endTimeUnixNano"] = str(draft.end + shift_ns)
    encoded["attributes"] = _attributes(draft.attributes())
    if draft.repeats:
        encoded["events"] = [
            {
                "timeUnixNano": str(time_ns + shift_ns),
                "name": name,
                "attributes": _attributes(attributes),
            }
            for name, time_ns, attributes in draft.span_events()
        ]
    if draft.links:
        encoded["links"] = [
            {
                "traceId": f"{trace_id:032x}",
                "spanId": f"{span_id:016x}",
                "attributes": [{"key": LINK_REASON, "value": {"stringValue": reason}}],
                "flags": _HAS_IS_REMOTE,
            }
            for trace_id, span_id, reason in draft.links
        ]
    message = draft.error_message
    if message is None:
        encoded["status"] = _NO_STATUS
    else:
        encoded["status"] = {"message": message, "code": _ERROR} if message else {"code": _ERROR}
    return encoded


def _span(span: ReadableSpan) -> Json:
    if isinstance(span, KubeSpan):
        return _draft_span(span.draft, span.shift_ns)
    context = span.context
    assert context is not None
    encoded: Json = {"traceId": f"{context.trace_id:032x}", "spanId": f"{context.span_id:016x}"}
    parent = span.parent
    if parent is not None:
        encoded["parentSpanId"] = f"{parent.span_id:016x}"
    flags = _HAS_IS_REMOTE | (_IS_REMOTE if parent is not None and parent.is_remote else 0)
    encoded["flags"] = flags
    encoded["name"] = span.name
    encoded["kind"] = _KIND[span.kind]
    encoded["startTimeUnixNano"] = str(span.start_time or 0)
    encoded["endTimeUnixNano"] = str(span.end_time or 0)
    if span.attributes:
        encoded["attributes"] = _attributes(span.attributes)
    if span.events:
        encoded["events"] = [
            {
                "timeUnixNano": str(event.timestamp),
                "name": event.name,
                **({"attributes": _attributes(event.attributes)} if event.attributes else {}),
            }
            for event in span.events
        ]
    if span.links:
        encoded["links"] = [
            {
                "traceId": f"{link.context.trace_id:032x}",
                "spanId": f"{link.context.span_id:016x}",
                **({"attributes": _attributes(link.attributes)} if link.attributes else {}),
                "flags": _HAS_IS_REMOTE | (_IS_REMOTE if link.context.is_remote else 0),
            }
            for link in span.links
        ]
    status: Json = {}
    if span.status.description:
        status["message"] = span.status.description
    code = _STATUS[span.status.status_code]
    if code:
        status["code"] = code
    encoded["status"] = status
    return encoded


def _scope(scope: InstrumentationScope | None) -> Json:
    if scope is None:
        return {}
    encoded: Json = {"name": scope.name}
    if scope.version:
        encoded["version"] = scope.version
    return encoded


def request_json(spans: Sequence[ReadableSpan]) -> bytes:
    """Encode spans as one OTLP/JSON ExportTraceServiceRequest (a single line, no newline)."""
    # Grouped by identity: spans share Resource objects, and Resource.__hash__ serialises
    # its attributes on every call (a quarter of the encoding time when hashed per span).
    grouped: dict[int, tuple[Resource, dict[InstrumentationScope | None, list[Json]]]] = {}
    for span in spans:
        found = grouped.get(id(span.resource))
        if found is None:
            found = grouped[id(span.resource)] = (span.resource, {})
        found[1].setdefault(span.instrumentation_scope, []).append(_span(span))
    resource_spans = []
    for resource, scopes in grouped.values():
        entry: Json = {"resource": {"attributes": _attributes(resource.attributes)}}
        entry["scopeSpans"] = [
            {"scope": _scope(scope), "spans": encoded} for scope, encoded in scopes.items()
        ]
        resource_spans.append(entry)
    return orjson.dumps({"resourceSpans": resource_spans})


class OtlpJsonFileSink(SpanExporter):
    cpu_only = True
    """Exports without waiting on the network: the runner calls it inline, not in a thread."""

    def __init__(self, path: str, *, append: bool = False, recheck_spans: int = 50_000) -> None:
        """append: continue the file (a run); else start it anew (a replay). recheck_spans:
        appending, how many spans to read back from the end (see the module docstring)."""
        self._file = LineFile(path, append=append)
        self._written: set[int] = set()
        """Occurrence ids in the lines read back: not written again."""
        if append:
            self._resume(recheck_spans)

    @property
    def failure_reason(self) -> str | None:
        """Why the last export failed (a full disk...); None after a success."""
        return self._file.failure_reason

    def _resume(self, recheck_spans: int) -> None:
        path = self._file.path
        if self._file.torn_bytes:
            log.warning(
                "%s: cut off a torn last line (%d bytes) a killed run left; its spans are "
                "exported again",
                path,
                self._file.torn_bytes,
            )
        if not os.path.isfile(path) or recheck_spans <= 0:
            return
        for line in lines_backwards(path):
            try:
                request = orjson.loads(line)
                for resource in request["resourceSpans"]:
                    for scope in resource["scopeSpans"]:
                        for span in scope["spans"]:
                            self._written.update(_occurrence_ids(span))
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as error:
                log.warning("%s: a line kspan-py did not write: %s", path, error)
                continue
            if len(self._written) >= recheck_spans:
                break

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        written = self._written
        if written:
            spans = [span for span in spans if not _already_written(span, written)]
        if not spans:
            return SpanExportResult.SUCCESS
        if self._file.write(request_json(spans) + b"\n", what=f"{len(spans)} spans"):
            return SpanExportResult.SUCCESS
        return SpanExportResult.FAILURE

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True  # every export is written with os.write before it returns

    def shutdown(self) -> None:
        self._file.close()


def _occurrence_ids(span: Json) -> Iterator[int]:
    """The span's id, and the id of each occurrence folded into it (its span events)."""
    yield int(span["spanId"], 16)
    for event in span.get("events", ()):
        values = {kv["key"]: kv["value"] for kv in event.get("attributes", ())}
        uid, count = values.get(EVENT_UID), values.get(EVENT_COUNT)
        if uid is not None and count is not None:
            yield event_span_id(uid["stringValue"], int(count["intValue"]))


def _already_written(span: ReadableSpan, written: set[int]) -> bool:
    """Every occurrence the span stands for is in the file already (the export gate's rule)."""
    if isinstance(span, KubeSpan):
        return all(span_id in written for span_id, _ in span.draft.occurrences())
    return span.context is not None and span.context.span_id in written
