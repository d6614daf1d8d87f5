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

The gRPC exporter that uses it (otlp_proto_grpc.py) is the SDK's own OTLPSpanExporter (retries,
headers, TLS, compression, environment variables all its own) with its translation step,
``_translate_data``, replaced. The OTLP/HTTP exporter has no such step (its ``export`` calls
``encode_spans`` itself): rather than re-write its ``export`` over its private attributes, it is
left as it is, with the SDK's encoder.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope
from opentelemetry.proto.resource.v1.resource_pb2 import Resource as ResourceMessage
from opentelemetry.proto.trace.v1.trace_pb2 import ScopeSpans, Span, SpanFlags
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope as SdkScope

from kspan_py.spans.attributes import LINK_REASON
from kspan_py.spans.building import KubeSpan, SpanDraft

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


def _add_draft_span(into: ScopeSpans, draft: SpanDraft, shift_ns: int) -> None:
    """A KubeSpan's message, from its draft: what the SDK's encoder makes of the span."""
    parent_id = draft.parent_id
    span = into.spans.add(
        trace_id=draft.trace_id.to_bytes(16, "big"),
        span_id=draft.span_id.to_bytes(8, "big"),
        parent_span_id=None if parent_id is None else parent_id.to_bytes(8, "big"),
        name=draft.name,
        kind=_INTERNAL,
        start_time_unix_nano=draft.start_ns + shift_ns,
        end_time_unix_nano=draft.end + shift_ns,
        flags=_LOCAL_PARENT,
    )
    _add_attributes(span.attributes, draft.attributes())
    for name, time_ns, attributes in draft.span_events():
        _add_attributes(
            span.events.add(time_unix_nano=time_ns + shift_ns, name=name).attributes, attributes
        )
    if draft.links:
        for trace_id, span_id, reason in draft.links:
            link = span.links.add(
                trace_id=trace_id.to_bytes(16, "big"),
                span_id=span_id.to_bytes(8, "big"),
                flags=_LOCAL_PARENT,
            )
            link.attributes.add(key=LINK_REASON).value.string_value = reason
    message = draft.error_message
    if message is None:
        span.status.SetInParent()  # the SDK's encoder sets an UNSET status, empty
    else:
        span.status.code = _ERROR  # type: ignore[assignment]
        span.status.message = message


class DraftEncoder:
    """Encodes ExportTraceServiceRequests; keeps each resource's message, made once."""

    def __init__(self) -> None:
        self._resources: dict[Resource, ResourceMessage] = {}

    def resource_message(self, resource: Resource) -> ResourceMessage:
        found = self._resources.get(resource)
        if found is None:
            if len(self._resources) >= 1024:  # a resource per (component, instance): few
                self._resources.clear()
            found = ResourceMessage()
            _add_attributes_one_by_one(found.attributes, resource.attributes)
            self._resources[resource] = found
        return found

    def request(self, spans: Sequence[ReadableSpan]) -> ExportTraceServiceRequest:
        """The request ``encode_spans(spans)`` makes, made from the drafts of KubeSpans."""
        # Grouped as the SDK's encoder groups them, by equal resource and then equal scope, in
        # the order first seen. Spans share their resource and scope objects: grouped by
        # object first, then objects that are equal merged, each hashed once, not once a span
        # (a resource's hash serialises its attributes).
        by_object: dict[tuple[int, int], list[int]] = {}
        for index, span in enumerate(spans):
            key = (id(span.resource), id(span.instrumentation_scope))
            found = by_object.get(key)
            if found is None:
                found = by_object[key] = []
            found.append(index)
        groups: dict[Resource, dict[SdkScope | None, list[int]]] = {}
        for indices in by_object.values():
            first = spans[indices[0]]
            scopes = groups.setdefault(first.resource, {})
            group = scopes.get(first.instrumentation_scope or None)
            if group is None:
                scopes[first.instrumentation_scope or None] = indices
            else:  # equal objects, not the same: their spans in the order given
                group.extend(indices)
                group.sort()
        request = ExportTraceServiceRequest()
        for resource, scopes in groups.items():
            resource_spans = request.resource_spans.add(schema_url=resource.schema_url)
            resource_spans.resource.CopyFrom(self.resource_message(resource))
            for scope, members in scopes.items():
                scope_spans = resource_spans.scope_spans.add(
                    schema_url=scope.schema_url if scope is not None else None
                )
                _set_scope(scope_spans.scope, scope)
                for index in members:
                    span = spans[index]
                    if not isinstance(span, KubeSpan):
                        _add_sdk_span(scope_spans, span)
                        continue
                    before = len(scope_spans.spans)
                    try:
                        _add_draft_span(scope_spans, span.draft, span.shift_ns)
                    except (TypeError, ValueError):
                        # What protobuf refuses (a lone surrogate in a string, a value of no
                        # attribute type): the SDK's encoder decides, as it would have.
                        del scope_spans.spans[before:]
                        _add_sdk_span(scope_spans, span)
        return request


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
