"""The OTLP protobuf request, built from the spans' drafts: the SDK exporters' transport, not
their encoder.

The SDK's encoder (``encode_spans``) reads every span through the ReadableSpan interface, which a
KubeSpan answers by making the SDK's objects (SpanContexts, a Status, Events, Links, a mapping
of its attributes) only for the encoder to read them once and make protobuf messages of them,
each built and then copied into its parent. That made the OTLP gRPC sink cost 1.5 times the
OTLP/JSON file sink end to end (issue 14; ``benchmarks/export_bench.py --end-to-end``). Here a
KubeSpan's message is added in place to the request (``add``, no copy) from its draft: the same
fields otlp_json.py writes, protobuf's own generated classes (opentelemetry-proto) doing the
encoding. Any other span (one the OTLP sink cut to fit a request), and a KubeSpan protobuf
refuses a value of (the SDK's encoder drops an attribute it cannot encode and logs it, and
refuses a span whose name or status it cannot encode), is encoded by the SDK's encoder, and
its message copied in.

The request must be the one the SDK's encoder makes, message for message (what a Collector
receives must not depend on which encoder ran): tests/test_otlp_proto.py compares them over
every bundled capture. That fixes the details: spans grouped by equal resource, then by equal
scope, in the order first seen; an UNSET status present but empty; flags saying the parent is
not remote.

The OTLP sink asks for requests within a Collector's limits (``DraftEncoder.chunks``): each is
filled a span at a time, its size bound (otlp_size.py) counted as the span is encoded, and a
span that would take it over the limit taken back into the next request, so every span is
encoded once. A span's attributes that repeat (its object's, its reason) are kept encoded
(``_SpanAttributeTexts``) and merged in by the run.

The gRPC exporter that uses it (otlp_proto_grpc.py) is the SDK's own OTLPSpanExporter (retries,
headers, TLS, compression, environment variables all its own) with its translation step,
``_translate_data``, replaced. The OTLP/HTTP exporter has no such step (its ``export`` calls
``encode_spans`` itself): rather than re-write its ``export`` over its private attributes, it is
left as it is, with the SDK's encoder.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope
from opentelemetry.proto.resource.v1.resource_pb2 import Resource as ResourceMessage
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, SpanFlags
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope as SdkScope

from kspan_py.sinks.otlp_size import (
    EVENT_FIXED,
    KEY_VALUE,
    LINK_FIXED,
    SPAN_FIXED,
    attributes_size,
    encoded_size_bound,
    resource_size,
    scope_size,
    text_size,
    value_size,
)
from kspan_py.spans.attributes import EVENT_MESSAGE, EVENT_NAME, EVENT_UID, LINK_REASON
from kspan_py.spans.building import KubeSpan, SpanDraft
from kspan_py.spans.problems import ERROR as PROBLEM_ERROR

log = logging.getLogger(__name__)

_INTERNAL = Span.SpanKind.SPAN_KIND_INTERNAL
_ERROR = 2  # Status.StatusCode.STATUS_CODE_ERROR
_LOCAL_PARENT = SpanFlags.SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK
"""A KubeSpan's flags, and its links': whether the parent is remote is known, and it is not."""


def _set_value(message: AnyValue, value: object) -> None:
    """An attribute's value, as the SDK's encoder sets it (``_encode_value``)."""
    if value is None:
        message.SetInParent()
    elif isinstance(value, bool):
        message.bool_value = value
    elif isinstance(value, str):
        message.string_value = value
    elif isinstance(value, int):
        message.int_value = value
    elif isinstance(value, float):
        message.double_value = value
    elif isinstance(value, bytes):
        message.bytes_value = value
    elif isinstance(value, Sequence):
        array = message.array_value
        array.SetInParent()
        add = array.values.add
        for item in value:
            _set_value(add(), item)
    elif isinstance(value, Mapping):
        kvlist = message.kvlist_value
        kvlist.SetInParent()
        _add_attributes(kvlist.values, {str(k): v for k, v in value.items()})
    else:
        raise TypeError(f"an attribute value of type {type(value).__name__}: {value!r}")


def _add_attributes(into: object, attributes: Mapping[str, object] | None) -> None:
    """Each attribute as a KeyValue added to the repeated field ``into``, in order."""
    if not attributes:
        return
    add = into.add  # type: ignore[attr-defined]
    for key, value in attributes.items():
        # Nearly every value is a string: set inline, without a call.
        if value.__class__ is str:
            add(key=key).value.string_value = value
        else:
            _set_value(add(key=key).value, value)


def _add_attributes_one_by_one(into: object, attributes: Mapping[str, object] | None) -> None:
    """A resource's or a scope's attributes, as the SDK's encoder adds them: one protobuf
    refuses (a lone surrogate, from OTEL_RESOURCE_ATTRIBUTES that was not UTF-8) is left out
    and logged, the others kept."""
    for key, value in (attributes or {}).items():
        before = len(into)  # type: ignore[arg-type]
        try:
            _add_attributes(into, {key: value})
        except (TypeError, ValueError) as error:
            # Whatever was added of it (a bad key is refused before anything is added).
            del into[before:]  # type: ignore[attr-defined]
            log.error("attribute %r not encoded: %s", key, error)


class _SpanAttributeTexts(dict[tuple[str, str], bytes]):
    """(key, string value) -> a Span message holding that one attribute, serialised by protobuf.

    Most of a span's attributes repeat from span to span (its object's kind, name, uid and
    namespace, the reason, the link rule): their KeyValues are made once, and a span's run of
    them is added by one ``MergeFromString``. Protobuf merges a message's encoding into it by
    appending to its repeated fields, so the attributes keep their order and the request is the
    one the SDK's encoder makes (tests/test_otlp_proto.py). Made a KeyValue at a time, through
    protobuf's Python API, the attributes were half of encoding a span. A kept text's length is
    also exactly what the attribute adds to the span: the size bound needs nothing more."""

    KEPT = 16384
    """Entries kept before the table starts again: 4-5 MB of names and uids (at most about 20 MB
    of the longest values kept, four-byte characters), and the values that repeat (a namespace,
    a kind) come back at once."""

    LONGEST = 128
    """Longer values are added directly, never kept: they are free text (an error a registry
    gave), which seldom repeats, and would make the table's size the values' (4,096 characters
    each at the span limits)."""

    UNIQUE = frozenset({EVENT_UID, EVENT_NAME, EVENT_MESSAGE, PROBLEM_ERROR})
    """Keys whose values are an Event's own: added directly, never kept."""

    def __missing__(self, item: tuple[str, str]) -> bytes:
        alone = Span()
        alone.attributes.add(key=item[0]).value.string_value = item[1]
        text = alone.SerializeToString()
        if len(self) >= self.KEPT:
            self.clear()
        self[item] = text
        return text


def _add_sized_attributes(into: object, attributes: Mapping[str, object]) -> int:
    """``_add_attributes``, returning at least the bytes the attributes take (a span event's:
    few, so measured by otlp_size.py's bound rather than while added)."""
    _add_attributes(into, attributes)
    return attributes_size(attributes)


def _add_span_attributes(
    span: Span, attributes: Mapping[str, object], texts: _SpanAttributeTexts
) -> int:
    """A span's attributes, the strings that repeat merged in from their kept texts; returns at
    least the bytes they take, as ``_add_sized_attributes``."""
    size = 0
    merged: list[bytes] = []
    unique, longest = texts.UNIQUE, texts.LONGEST
    add = span.attributes.add
    for item in attributes.items():
        key, value = item
        if value.__class__ is str and len(value) <= longest and key not in unique:
            text = texts[item]  # type: ignore[index]
            merged.append(text)
            size += len(text)
            continue
        if merged:  # the attributes before it, first
            span.MergeFromString(b"".join(merged))
            merged.clear()
        _set_value(add(key=key).value, value)
        size += KEY_VALUE + text_size(key) + value_size(value)
    if merged:
        span.MergeFromString(b"".join(merged))
    return size


def _add_draft_span(
    into: ScopeSpans, draft: SpanDraft, shift_ns: int, texts: _SpanAttributeTexts
) -> int:
    """A KubeSpan's message, from its draft: what the SDK's encoder makes of the span. Returns
    at least the bytes it takes in the request (otlp_size.py's framing constants; a kept
    attribute counted at its exact size)."""
    parent_id = draft.parent_id
    name = draft.name
    span = into.spans.add(
        trace_id=draft.trace_id.to_bytes(16, "big"),
        span_id=draft.span_id.to_bytes(8, "big"),
        parent_span_id=None if parent_id is None else parent_id.to_bytes(8, "big"),
        name=name,
        kind=_INTERNAL,
        start_time_unix_nano=draft.start_ns + shift_ns,
        end_time_unix_nano=draft.end + shift_ns,
        flags=_LOCAL_PARENT,
    )
    size = SPAN_FIXED + text_size(name) + _add_span_attributes(span, draft.attributes(), texts)
    for event_name, time_ns, attributes in draft.span_events():
        size += EVENT_FIXED + text_size(event_name)
        size += _add_sized_attributes(
            span.events.add(time_unix_nano=time_ns + shift_ns, name=event_name).attributes,
            attributes,
        )
    if draft.links:
        for trace_id, span_id, reason in draft.links:
            link = span.links.add(
                trace_id=trace_id.to_bytes(16, "big"),
                span_id=span_id.to_bytes(8, "big"),
                flags=_LOCAL_PARENT,
            )
            link.attributes.add(key=LINK_REASON).value.string_value = reason
            size += LINK_FIXED + KEY_VALUE + text_size(reason)
    message = draft.error_message
    if message is None:
        span.status.SetInParent()  # the SDK's encoder sets an UNSET status, empty
    else:
        span.status.code = _ERROR  # type: ignore[assignment]
        span.status.message = message
        size += text_size(message)
    return size


class EncodedChunk(list[ReadableSpan]):
    """One request's spans, and the request made of them while they were sized
    (``DraftEncoder.chunks``): the exporter sends it as it is, not encoding them again."""

    __slots__ = ("encoded", "request")

    def __init__(self, request: ExportTraceServiceRequest) -> None:
        super().__init__()
        self.request = request
        self.encoded = 0
        """How many spans the request holds, set once it is made."""

    def holds_its_request(self) -> bool:
        """Nothing was added to or taken from the list since its request was made (a list
        changed after would send a request that does not hold it: encoded again, then)."""
        return self.encoded == len(self) > 0


_Scopes = dict[SdkScope | None, ScopeSpans]
_Added = tuple[
    ScopeSpans,
    tuple[int, int] | None,  # the object key added for it
    int | None,  # the resource group made for it (its message's identity)
    tuple[ResourceSpans, _Scopes, SdkScope | None] | None,  # the scope group made for it
]


class _RequestBeingFilled:
    """A request spans are added to one at a time, grouped as the SDK's encoder groups them
    (by equal resource, then equal scope, in the order first seen; each span in the order
    given), with an upper bound of its size; the last span added can be taken back."""

    __slots__ = ("_by_object", "_by_resource", "_last", "encoder", "size", "spans")

    def __init__(self, encoder: DraftEncoder) -> None:
        self.encoder = encoder
        self.spans = EncodedChunk(ExportTraceServiceRequest())
        self.size = 0
        # Spans share their resource and scope objects: found by object first. Equal resources
        # share one message (``DraftEncoder.resource_of``), so they are grouped by that
        # message's identity, never hashed here (a resource's hash serialises its attributes).
        self._by_object: dict[tuple[int, int], ScopeSpans] = {}
        self._by_resource: dict[int, tuple[ResourceSpans, _Scopes]] = {}
        self._last: _Added | None = None
        encoder.start_request()

    def add(self, span: ReadableSpan) -> int:
        """Adds the span's message; returns at least the bytes the request grew by."""
        resource, scope = span.resource, span.instrumentation_scope
        key = (id(resource), id(scope))
        scope_spans = self._by_object.get(key)
        grown = 0
        new_key: tuple[int, int] | None = None
        new_resource: int | None = None
        new_scope: tuple[ResourceSpans, _Scopes, SdkScope | None] | None = None
        if scope_spans is None:
            new_key = key
            message, size = self.encoder.resource_of(resource)
            found = self._by_resource.get(id(message))
            if found is None:
                resource_spans = self.spans.request.resource_spans.add(
                    schema_url=resource.schema_url
                )
                resource_spans.resource.CopyFrom(message)
                found = self._by_resource[id(message)] = (resource_spans, {})
                new_resource = id(message)
                grown += size
            resource_spans, scopes = found
            scope_spans = scopes.get(scope or None)
            if scope_spans is None:
                scope_spans = resource_spans.scope_spans.add(
                    schema_url=scope.schema_url if scope is not None else None
                )
                _set_scope(scope_spans.scope, scope)
                scopes[scope or None] = scope_spans
                new_scope = (resource_spans, scopes, scope or None)
                grown += scope_size(scope)
            self._by_object[key] = scope_spans
        self._last = (scope_spans, new_key, new_resource, new_scope)
        if isinstance(span, KubeSpan):
            before = len(scope_spans.spans)
            try:
                return grown + _add_draft_span(
                    scope_spans, span.draft, span.shift_ns, self.encoder.attribute_texts
                )
            except (TypeError, ValueError):
                # What protobuf refuses (a lone surrogate in a string, a value of no attribute
                # type): the SDK's encoder decides, as it would have.
                del scope_spans.spans[before:]
        _add_sdk_span(scope_spans, span)
        return grown + encoded_size_bound(span)

    def done(self) -> EncodedChunk:
        """The spans added, holding their request."""
        self.spans.encoded = len(self.spans)
        return self.spans

    def take_back(self) -> None:
        """Removes the span the last ``add`` added, and the groups made for it."""
        assert self._last is not None
        scope_spans, new_key, new_resource, new_scope = self._last
        self._last = None
        del scope_spans.spans[-1]
        if new_key is not None:
            del self._by_object[new_key]
        if new_resource is not None:
            del self.spans.request.resource_spans[-1]
            del self._by_resource[new_resource]
        elif new_scope is not None:
            resource_spans, scopes, scope = new_scope
            del resource_spans.scope_spans[-1]
            del scopes[scope]


class DraftEncoder:
    """Encodes ExportTraceServiceRequests; keeps each resource's message, made once."""

    _MAX_RESOURCES = 1024
    """Resources remembered (one per component and instance: few); all forgotten when full."""

    def __init__(self) -> None:
        self._messages: dict[Resource, tuple[ResourceMessage, int]] = {}
        self._by_identity: dict[int, tuple[Resource, ResourceMessage, int]] = {}
        self.attribute_texts = _SpanAttributeTexts()

    def start_request(self) -> None:
        """Called before a request is filled: the tables are only emptied between requests, as
        a request groups resources by their message's identity. (One request is filled at a
        time: the sink's outlet delivers one batch at a time, its chunks one after another.)"""
        if len(self._by_identity) >= self._MAX_RESOURCES:
            self._by_identity.clear()
            self._messages.clear()

    def resource_of(self, resource: Resource) -> tuple[ResourceMessage, int]:
        """The resource's message, one for all equal resources, and the bound of its size.

        Spans share the resource objects their builder made, so a resource is found by its
        identity: it is hashed (which serialises its attributes) once, when first seen, and
        kept alive so its identity is not taken by another."""
        known = self._by_identity.get(id(resource))
        if known is not None:
            return known[1], known[2]
        found = self._messages.get(resource)
        if found is None:
            message = ResourceMessage()
            _add_attributes_one_by_one(message.attributes, resource.attributes)
            found = self._messages[resource] = (message, resource_size(resource))
        self._by_identity[id(resource)] = (resource, *found)
        return found

    def request(self, spans: Sequence[ReadableSpan]) -> ExportTraceServiceRequest:
        """The request ``encode_spans(spans)`` makes, made from the drafts of KubeSpans."""
        filling = _RequestBeingFilled(self)
        for span in spans:
            filling.add(span)
        return filling.spans.request

    def chunks(
        self,
        spans: Sequence[ReadableSpan],
        *,
        max_spans: int,
        max_bytes: int,
        shrink: Callable[[ReadableSpan, int], ReadableSpan],
    ) -> Iterator[EncodedChunk]:
        """The spans in requests of at most max_spans spans and (by the bound) max_bytes bytes,
        each encoded as it is filled: the request ``encode_spans(chunk)`` makes. A span over
        max_bytes alone is exported as ``shrink`` makes it (values cut to fit)."""
        filling = _RequestBeingFilled(self)
        for given in spans:
            if filling.spans and len(filling.spans) >= max_spans:
                yield filling.done()
                filling = _RequestBeingFilled(self)
            span = given
            grown = filling.add(span)
            if filling.size + grown > max_bytes:
                filling.take_back()
                if filling.spans:
                    yield filling.done()
                    filling = _RequestBeingFilled(self)
                grown = filling.add(span)
                if grown > max_bytes:
                    filling.take_back()
                    span = shrink(span, grown)
                    grown = filling.add(span)
            filling.spans.append(span)
            filling.size += grown
        if filling.spans:
            yield filling.done()


def _set_scope(message: InstrumentationScope, scope: SdkScope | None) -> None:
    message.SetInParent()
    if scope is not None:
        message.name = scope.name
        if scope.version is not None:
            message.version = scope.version
        _add_attributes_one_by_one(message.attributes, scope.attributes)


def _add_sdk_span(into: ScopeSpans, span: ReadableSpan) -> None:
    """A span that is not a KubeSpan, as the SDK's encoder makes it."""
    encoded = encode_spans([span]).resource_spans[0].scope_spans[0].spans[0]
    into.spans.add().CopyFrom(encoded)
