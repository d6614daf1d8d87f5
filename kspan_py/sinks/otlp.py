"""OTLP sink: the SDK's own gRPC or HTTP exporter, chosen by protocol, fed bounded requests.

Over gRPC, the exporter's requests are made from the spans' drafts rather than by the SDK's
encoder (otlp_proto.py, a third of its cost), the same messages; its transport is its own.

The Python exporters read OTEL_EXPORTER_OTLP_[TRACES_]{ENDPOINT, HEADERS, INSECURE, CERTIFICATE,
CLIENT_KEY, CLIENT_CERTIFICATE, TIMEOUT, COMPRESSION} themselves, but not the PROTOCOL variable:
this module reads it (after the --otlp-protocol flag) and picks the exporter class.

The exporters send whatever they are given as one request. A burst (a rollout of hundreds of
Pods finishing in one advance of event time) made requests of 11,520 spans and 7.8 MB, which a
Collector refuses (RESOURCE_EXHAUSTED above its default 4 MiB receive limit), and the exporter
then drops the batch. So ``BoundedOtlpSink.chunks`` splits every batch by span count and by an
upper bound of its encoded size, and the outlet exports (and retries) one chunk at a time. The
bound is computed from the values' lengths, not by encoding (otlp_size.py): encoding twice would
double the sink's cost; tests/test_export_bounds.py checks it never falls below the SDK
encoder's size. Over gRPC the requests are made while they are sized (``DraftEncoder.chunks``,
the bound counted as each span is encoded) and sent as made; that chunking is CPU alone, so the
outlet does it in its own thread (``chunks_cpu_only``): in a worker thread it fought the graph
for the GIL and cost twice its own time (issue 14: gRPC went from 1.23 to 1.14 times the
otlp-json sink's CPU).
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import Status, StatusCode

from kspan_py.config import OTEL_LOGS_PROTOCOL_ENV, OTEL_PROTOCOL_ENV, ConfigError, OtlpSettings
from kspan_py.sinks.otlp_size import encoded_size_bound, resource_size
from kspan_py.spans.building import KubeSpan

log = logging.getLogger(__name__)

PROTOCOLS = ("grpc", "http/protobuf")


def resolve_protocol(flag: str | None) -> str:
    """--otlp-protocol > OTEL_EXPORTER_OTLP_TRACES_PROTOCOL > OTEL_EXPORTER_OTLP_PROTOCOL > grpc."""
    for source, value in (
        ("--otlp-protocol", flag),
        *((name, os.environ.get(name)) for name in OTEL_PROTOCOL_ENV),
    ):
        if value:
            if value not in PROTOCOLS:
                raise ConfigError(f"{source}: {value!r} is not one of {', '.join(PROTOCOLS)}")
            return value
    return "grpc"


def resolve_logs_protocol(flag: str | None, traces_flag: str | None) -> str:
    """--otlp-logs-protocol > OTEL_EXPORTER_OTLP_LOGS_PROTOCOL > --otlp-protocol >
    OTEL_EXPORTER_OTLP_PROTOCOL > grpc (the traces' own variable does not apply to logs)."""
    candidates = (
        ("--otlp-logs-protocol", flag),
        (OTEL_LOGS_PROTOCOL_ENV[0], os.environ.get(OTEL_LOGS_PROTOCOL_ENV[0])),
        ("--otlp-protocol", traces_flag),
        (OTEL_LOGS_PROTOCOL_ENV[1], os.environ.get(OTEL_LOGS_PROTOCOL_ENV[1])),
    )
    for source, value in candidates:
        if value:
            if value not in PROTOCOLS:
                raise ConfigError(f"{source}: {value!r} is not one of {', '.join(PROTOCOLS)}")
            return value
    return "grpc"


GRPC_VERBOSITY = "GRPC_VERBOSITY"


def quiet_grpc_core() -> None:
    """gRPC core writes its own lines to stderr (``I1202 ... Got goaway ...`` when a collector
    closes a connection), past our log format and its JSON. What matters of it reaches our
    logging anyway: the SDK exporter logs each failed export, with the status and details.
    Read when grpc is first imported, so set before; a value the user set is kept."""
    os.environ.setdefault(GRPC_VERBOSITY, "NONE")


def make_otlp_exporter(settings: OtlpSettings) -> BoundedOtlpSink:
    return BoundedOtlpSink(
        _sdk_exporter(settings),
        max_spans=settings.max_request_spans,
        max_bytes=settings.max_request_bytes,
    )


_SDK_EXPORTERS = {
    "traces": (
        "opentelemetry.exporter.otlp.proto.http.trace_exporter",
        "opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
        "OTLPSpanExporter",
    ),
    "logs": (
        "opentelemetry.exporter.otlp.proto.http._log_exporter",
        "opentelemetry.exporter.otlp.proto.grpc._log_exporter",
        "OTLPLogExporter",
    ),
}


def sdk_exporter(settings: OtlpSettings, signal: str) -> Any:
    """The SDK's own OTLP exporter of a signal ("traces", "logs") for the protocol chosen.

    Imported when asked for: grpc takes a while to import, and a replay to a file needs none.
    """
    http_module, grpc_module, name = _SDK_EXPORTERS[signal]
    headers = dict(settings.headers) or None
    if settings.protocol == "http/protobuf":
        endpoint = settings.endpoint
        if endpoint is not None:
            # The base URL (a Collector's, or Loki's http://loki:3100/otlp) or the full signal
            # URL, with or without a trailing slash.
            path = f"/v1/{signal}"
            endpoint = endpoint.rstrip("/").removesuffix(path) + path
        http_class = getattr(importlib.import_module(http_module), name)
        return http_class(endpoint=endpoint, headers=headers, timeout=settings.timeout_s)
    quiet_grpc_core()
    return _grpc_exporter(getattr(importlib.import_module(grpc_module), name), settings)


def _grpc_exporter(grpc_class: Any, settings: OtlpSettings) -> Any:
    return grpc_class(
        endpoint=settings.endpoint,
        insecure=settings.insecure,
        headers=dict(settings.headers) or None,
        timeout=settings.timeout_s,
    )


def _sdk_exporter(settings: OtlpSettings) -> SpanExporter:
    """The traces exporter: over gRPC, the SDK's own with its requests encoded from the spans'
    drafts (otlp_proto.py); over HTTP, the SDK's own as it is (it has no step to override)."""
    if settings.protocol == "http/protobuf":
        exporter: SpanExporter = sdk_exporter(settings, "traces")
        return exporter
    quiet_grpc_core()
    from kspan_py.sinks.otlp_proto_grpc import DraftOtlpGrpcSpanExporter  # imports grpc

    grpc_exporter: SpanExporter = _grpc_exporter(DraftOtlpGrpcSpanExporter, settings)
    return grpc_exporter


class BoundedOtlpSink(SpanExporter):
    """An SDK OTLP exporter that is handed chunks within a Collector's request limits.

    ``chunks`` is what the outlet calls (outlets.py): each chunk is one request, exported and
    retried on its own, so a refused chunk does not make the ones before it be sent twice."""

    def __init__(self, exporter: SpanExporter, *, max_spans: int, max_bytes: int) -> None:
        self.exporter = exporter
        self.max_spans = max_spans
        self.max_bytes = max_bytes
        self.shrunk = 0
        """Spans that alone were over max_bytes, exported with their values cut shorter."""
        self.chunks_cpu_only = hasattr(exporter, "encoded_chunks")
        """Chunking is encoding, CPU alone: the outlet does it in its own thread, a request at
        a time (outlets.py)."""

    def chunks(self, spans: Sequence[ReadableSpan]) -> Iterator[list[ReadableSpan]]:
        """The spans in requests within max_spans and max_bytes, one for one and in order, each
        exported on its own; made as they are asked for."""
        encoded_chunks = getattr(self.exporter, "encoded_chunks", None)
        if encoded_chunks is None:
            yield from self._bounded(spans)
            return
        # The gRPC exporter's requests, made as they are sized and sent as made.
        done, shrunk = 0, self.shrunk
        try:
            for chunk in encoded_chunks(
                spans, max_spans=self.max_spans, max_bytes=self.max_bytes, shrink=self._shrink
            ):
                done, shrunk = done + len(chunk), self.shrunk
                yield chunk
        except (TypeError, ValueError):
            # A span the SDK's encoder refuses too (a lone surrogate in its name or its
            # status): from the request it was in on, chunked by the bound alone; the export
            # that encodes that request fails, as it did, and is counted. What was shrunk in
            # the request given up is shrunk again, and counted once.
            self.shrunk = shrunk
            yield from self._bounded(spans[done:])

    def _bounded(self, spans: Sequence[ReadableSpan]) -> Iterator[list[ReadableSpan]]:
        chunk: list[ReadableSpan] = []
        size = 0
        resources: set[int] = set()
        for span in spans:
            own = encoded_size_bound(span)
            grows = own if id(span.resource) in resources else own + resource_size(span.resource)
            if chunk and (len(chunk) >= self.max_spans or size + grows > self.max_bytes):
                yield chunk
                chunk, size, resources = [], 0, set()
                grows = own + resource_size(span.resource)
            resources.add(id(span.resource))
            chunk.append(self._shrink(span, grows) if grows > self.max_bytes else span)
            size += grows
        if chunk:
            yield chunk

    def _shrink(self, span: ReadableSpan, size: int) -> ReadableSpan:
        """One span larger than a request may be (non-ASCII values at the full span limits):
        the same span with every value cut so that it fits, rather than a request refused."""
        self.shrunk += 1
        log.warning(
            "span %s (%s) takes up to %d bytes, over the %d a request may carry: values cut",
            f"{span.context.span_id:016x}" if span.context else "?",
            span.name[:100],
            size,
            self.max_bytes,
        )
        built = span.built_out() if isinstance(span, KubeSpan) else span
        strings = (
            1
            + len(built.attributes or {})
            + sum(1 + len(event.attributes or {}) for event in built.events)
        )
        # Each string at most this many characters (4 bytes each at worst), framing apart.
        length = max(16, (self.max_bytes // 2 - resource_size(span.resource)) // (4 * strings))

        def cut(attributes: Mapping[str, object] | None) -> dict[str, object]:
            return {
                key[:length]: value[:length] if isinstance(value, str) else value
                for key, value in (attributes or {}).items()
            }

        status = built.status
        return ReadableSpan(
            name=built.name[:length],
            context=built.context,
            parent=built.parent,
            resource=built.resource,
            attributes=cut(built.attributes),  # type: ignore[arg-type]
            events=[
                Event(event.name[:length], cut(event.attributes), event.timestamp)  # type: ignore[arg-type]
                for event in built.events
            ],
            links=built.links,
            kind=built.kind,
            status=Status(status.status_code, (status.description or "")[:length] or None)
            if status.status_code is StatusCode.ERROR
            else status,
            start_time=built.start_time,
            end_time=built.end_time,
            instrumentation_scope=built.instrumentation_scope,
        )

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self.exporter.export(spans)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.exporter.force_flush(timeout_millis)

    def shutdown(self) -> None:
        self.exporter.shutdown()
