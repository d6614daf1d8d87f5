"""Upper bounds of what a span takes in an OTLP protobuf request, from its values' lengths.

A Collector refuses a request over its receive limit (4 MiB by default over gRPC) and the
exporter then drops it whole, so the OTLP sink splits every batch into requests it knows to be
under ``max_request_bytes`` (sinks/otlp.py). Measuring by encoding would cost a second encoding;
these bounds cost a pass over the values. They are never below the true size (protobuf's own
framing counted generously: tests/test_export_bounds.py and tests/test_otlp_proto.py compare
them with what the encoders make). A module of its own because both the SDK-encoded path
(otlp.py) and the drafts' encoder (otlp_proto.py, which counts while it encodes) use them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from kspan_py.spans.building import KubeSpan

# Protobuf framing, generously: a field's tag and length prefix take at most 1 + 5 bytes, and
# each message below nests a few of them. The constants are upper bounds, not averages.
SPAN_FIXED = 160  # ids, times, kind, flags, status and the Span's own framing
FIELD = 12  # a string or a nested message: tag, length, and its wrapper's tag and length
KEY_VALUE = 3 * FIELD  # KeyValue { key, AnyValue { value } }
NUMBER = 12  # a varint or a double, with its tag
EVENT_FIXED = 40
LINK_FIXED = 80
RESOURCE_FIXED = 64  # ResourceSpans, ScopeSpans and the scope's name and version


def text_size(text: str) -> int:
    # isascii() is a flag CPython keeps: only non-ASCII text is encoded to measure it.
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def value_size(value: object) -> int:
    if isinstance(value, str):
        return text_size(value) + FIELD
    if isinstance(value, bytes):
        return len(value) + FIELD
    if isinstance(value, Sequence):
        return FIELD + sum(value_size(item) + FIELD for item in value)
    return NUMBER


def attributes_size(attributes: Mapping[str, object] | None) -> int:
    """KEY_VALUE + text_size(key) + value_size(value) summed over the attributes, string
    values (nearly all are) measured inline: the bound is paid for every span exported, beside
    its encoding, and a call for each text was a seventh of it."""
    size = 0
    for key, value in (attributes or {}).items():
        size += KEY_VALUE + (len(key) if key.isascii() else text_size(key))
        if value.__class__ is str:
            size += FIELD + (len(value) if value.isascii() else text_size(value))
        else:
            size += value_size(value)
    return size


def encoded_size_bound(span: ReadableSpan) -> int:
    """At least the bytes the span takes in an ExportTraceServiceRequest (resource apart)."""
    if isinstance(span, KubeSpan):
        draft = span.draft
        size = SPAN_FIXED + text_size(draft.name) + attributes_size(draft.attributes())
        size += sum(
            EVENT_FIXED + text_size(name) + attributes_size(attributes)
            for name, _, attributes in draft.span_events()
        )
        size += sum(LINK_FIXED + KEY_VALUE + text_size(why) for *_, why in draft.links or ())
        message = draft.error_message
        return size + (text_size(message) if message else 0)
    size = SPAN_FIXED + text_size(span.name) + attributes_size(span.attributes)
    size += sum(
        EVENT_FIXED + text_size(event.name) + attributes_size(event.attributes)
        for event in span.events
    )
    size += sum(LINK_FIXED + attributes_size(link.attributes) for link in span.links)
    return size + text_size(span.status.description or "")


def resource_size(resource: Resource) -> int:
    """At least what a ResourceSpans takes with its first ScopeSpans (kspan-py's scope), spans
    apart."""
    return RESOURCE_FIXED + attributes_size(resource.attributes) + text_size(resource.schema_url)


def scope_size(scope: InstrumentationScope | None) -> int:
    """At least what a ScopeSpans takes beyond what ``resource_size`` counts, spans apart."""
    if scope is None:
        return 2 * FIELD
    return (
        4 * FIELD
        + text_size(scope.name)
        + text_size(scope.version or "")
        + text_size(scope.schema_url or "")
        + attributes_size(scope.attributes)
    )
