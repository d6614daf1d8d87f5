"""OTLP/JSON file sink: one ExportTraceServiceRequest per line, as the OTLP/JSON spec encodes it.

The encoding is written here from the spans directly: going through the SDK's protobuf encoder
and protobuf's JSON printer cost more than parsing the capture (about 160 µs a span, measured
with ``make bench``), and the printer still had to be corrected (ids must be lowercase hex, not
base64). The rules followed: ids lowercase hex; enums integers; int64 values and times decimal
strings; keys lowerCamelCase; default values omitted. tests/test_otlp_json.py checks that the
output parses back into the same protobuf message the SDK's encoder makes.

The file sink was the largest single cost of a replay (issue 14: 25 µs a span, and the batch
held three times over: as dicts, as bytes, and as bytes with the newline). So a request is
written as it is encoded (``request_parts``): a KubeSpan's JSON text is made straight from its
draft, an attribute as the cached text of its key's head and its value quoted by the json
module's C quoting (what orjson writes, exact; ``orjson.dumps`` of a short string holds 4 KiB),
and a few dozen spans at a time go to the file (``LineFile.write_parts``). Measured on 62,824
spans: 10 µs a span against 40, and a sixth of the memory; the bytes are the same as orjson's
for the request built as dicts.

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

import itertools
import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

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
_HAS_IS_REMOTE = 0x100  # SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK
_IS_REMOTE = 0x200  # SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK

Json = dict[str, Any]

json_string = json.encoder.encode_basestring
"""A str's JSON text, quoted: what orjson writes for it (non-ASCII as is, the controls, ``\"``
and ``\\`` escaped), the exact size (orjson.dumps keeps 4 KiB for the shortest string)."""
_LINK_REASON = json_string(LINK_REASON)


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
    """The attributes as OTLP/JSON KeyValues, as dicts (for the spans the SDK made)."""
    return [{"key": k, "value": _value(v)} for k, v in (attributes or {}).items()]


class _KeyHeads(dict[str, str]):
    """Attribute key -> the JSON text that comes before its value: one lookup a value.

    A head closes the entry before it (``}},``: the first entry's is cut off), so that an
    entry is two parts, its head and its value's text, and the list ends with one ``}}]``."""

    KEPT = 4096
    """Most keys kept: kspan-py's own names are a few dozen; the bound only keeps a source of
    ever-new keys from growing the cache without end."""

    def __init__(self, value_field: str) -> None:
        super().__init__()
        self._value_field = value_field

    def __missing__(self, key: str) -> str:
        head = f'}}}},{{"key":{json_string(key)},"value":{{{self._value_field}'
        if len(self) < self.KEPT:
            self[key] = head
        return head


_STRING_HEADS = _KeyHeads('"stringValue":')
_INT_HEADS = _KeyHeads('"intValue":"')  # int64 values are decimal strings
_OTHER_HEADS = _KeyHeads("")  # the value's field is in the text _value gives


def add_attributes(parts: list[str], attributes: Mapping[str, object]) -> None:
    """Append ``"attributes":[...]`` to parts: the KeyValues written as text, not built as dicts.

    Nearly every value is a string: its entry is the cached head of its key and the value's
    JSON text, two parts and no dict (an int's, its digits)."""
    start = len(parts)
    parts.append('"attributes":[')
    quote, strings, ints = json_string, _STRING_HEADS, _INT_HEADS
    for key, value in attributes.items():
        if type(value) is str:
            parts.append(strings[key])
            parts.append(quote(value))
        elif type(value) is int:
            parts.append(ints[key])
            parts.append(f'{value}"')
        else:  # bool, float, a list: rare enough for a dict
            parts.append(_OTHER_HEADS[key])
            parts.append(orjson.dumps(_value(value))[1:-1].decode())
    if len(parts) > start + 1:
        parts[start + 1] = parts[start + 1][3:]  # the first entry closes none before it
        parts.append("}}]")
    else:
        parts.append("]")


def _add_draft_span(parts: list[str], draft: SpanDraft, shift_ns: int) -> None:
    """A KubeSpan, from its draft: what _sdk_span gives, without making the SDK's objects or a
    dict per attribute; the same text orjson writes for _sdk_span's dict. What comes before the
    attributes is one part; an id's hex is its bytes' (``to_bytes(16, "big").hex()`` is what
    ``f"{id:032x}"`` writes for an id of 16 bytes, in half the time)."""
    quote = json_string
    trace_id = draft.trace_id.to_bytes(16, "big").hex()
    span_id = draft.span_id.to_bytes(8, "big").hex()
    parent_id = draft.parent_id
    parent = "" if parent_id is None else f',"parentSpanId":"{parent_id.to_bytes(8, "big").hex()}"'
    parts.append(
        f'{{"traceId":"{trace_id}","spanId":"{span_id}"{parent},"flags":{_HAS_IS_REMOTE},'
        f'"name":{quote(draft.name)},"kind":{_INTERNAL},'
        f'"startTimeUnixNano":"{draft.start_ns + shift_ns}",'
        f'"endTimeUnixNano":"{draft.end + shift_ns}",'
    )
    add_attributes(parts, draft.attributes())
    span_events = draft.span_events()
    if span_events:
        separator = ',"events":['
        for name, time_ns, attributes in span_events:
            parts.append(f'{separator}{{"timeUnixNano":"{time_ns + shift_ns}","name":')
            parts.append(quote(name))
            parts.append(",")
            add_attributes(parts, attributes)
            parts.append("}")
            separator = ","
        parts.append("]")
    if draft.links:
        separator = ',"links":['
        for link_trace_id, link_span_id, reason in draft.links:
            parts.append(
                f'{separator}{{"traceId":"{link_trace_id.to_bytes(16, "big").hex()}",'
                f'"spanId":"{link_span_id.to_bytes(8, "big").hex()}",'
                f'"attributes":[{{"key":{_LINK_REASON},"value":{{"stringValue":'
            )
            parts.append(quote(reason))
            parts.append(f'}}}}],"flags":{_HAS_IS_REMOTE}}}')
            separator = ","
        parts.append("]")
    message = draft.error_message
    if message is None:
        parts.append(',"status":{}}')
    elif message:
        parts.append(',"status":{"message":')
        parts.append(quote(message))
        parts.append(f',"code":{_ERROR}}}}}')
    else:
        parts.append(f',"status":{{"code":{_ERROR}}}}}')


def _add_span(parts: list[str], span: ReadableSpan) -> None:
    if isinstance(span, KubeSpan):
        _add_draft_span(parts, span.draft, span.shift_ns)
    else:
        parts.append(orjson.dumps(_sdk_span(span)).decode())


def _sdk_span(span: ReadableSpan) -> Json:
    """A span the SDK made (or any ReadableSpan), read through the ReadableSpan interface."""
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


def resource_head(resource: Resource, members: str) -> str:
    """``{"resource":{"attributes":[...]},"<members>":[`` : what opens a resource's entry."""
    parts = ['{"resource":{']
    add_attributes(parts, resource.attributes)
    parts.append(f'}},"{members}":[')
    return "".join(parts)


def scope_head(scope: InstrumentationScope | None, members: str) -> str:
    """``{"scope":{...},"<members>":[`` : what opens a scope's entry."""
    return f'{{"scope":{orjson.dumps(_scope(scope)).decode()},"{members}":['


def encoded(parts: list[str]) -> bytes:
    """The parts' text, as the UTF-8 orjson writes: a lone surrogate (what Python makes of a
    byte that is not UTF-8 in an argument or a variable) fails as orjson fails on it."""
    return "".join(parts).encode()


PARTS_JOINED = 2048
"""Encoded pieces gathered before request_parts hands them on as one: about 40 spans (a few
dozen KB); what a writer holds of a request, whatever the batch's size."""

_T = TypeVar("_T")


def member_parts(
    parts: list[str], members: Iterable[_T], add: Callable[[list[str], _T], None]
) -> Iterator[bytes]:
    """Add each member's text to parts, comma-separated (a JSON array's items), and hand the
    parts on encoded whenever PARTS_JOINED have gathered: the spans of a request, or its log
    records."""
    for index, member in enumerate(members):
        if index:
            parts.append(",")
        add(parts, member)
        if len(parts) >= PARTS_JOINED:
            yield encoded(parts)
            parts.clear()


def request_parts(spans: Sequence[ReadableSpan]) -> Iterator[bytes]:
    """One OTLP/JSON ExportTraceServiceRequest (a single line, no newline), in parts: spans
    are encoded as the parts are asked for, so a writer holds a few dozen spans, not the
    batch. Joined, the parts are what orjson writes for the request built as dicts."""
    # Grouped by identity: spans share Resource objects, and Resource.__hash__ serialises
    # its attributes on every call (a quarter of the encoding time when hashed per span).
    grouped: dict[int, tuple[Resource, dict[InstrumentationScope | None, list[ReadableSpan]]]]
    grouped = {}
    for span in spans:
        resource = span.resource
        found = grouped.get(id(resource))
        if found is None:
            found = grouped[id(resource)] = (resource, {})
        found[1].setdefault(span.instrumentation_scope, []).append(span)
    parts = ['{"resourceSpans":[']
    for resource_index, (resource, scopes) in enumerate(grouped.values()):
        if resource_index:
            parts.append(",")
        parts.append(resource_head(resource, "scopeSpans"))
        for scope_index, (scope, members) in enumerate(scopes.items()):
            if scope_index:
                parts.append(",")
            parts.append(scope_head(scope, "spans"))
            yield from member_parts(parts, members, _add_span)
            parts.append("]}")
        parts.append("]}")
    parts.append("]}")
    yield encoded(parts)


def request_json(spans: Sequence[ReadableSpan]) -> bytes:
    """Encode spans as one OTLP/JSON ExportTraceServiceRequest (a single line, no newline)."""
    return b"".join(request_parts(spans))


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
        line = itertools.chain(request_parts(spans), (b"\n",))
        if self._file.write_parts(line, what=f"{len(spans)} spans"):
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
