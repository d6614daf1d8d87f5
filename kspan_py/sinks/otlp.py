"""OTLP sink: the SDK's own gRPC or HTTP exporter, chosen by protocol.

The Python exporters read OTEL_EXPORTER_OTLP_[TRACES_]{ENDPOINT, HEADERS, INSECURE, CERTIFICATE,
CLIENT_KEY, CLIENT_CERTIFICATE, TIMEOUT, COMPRESSION} themselves, but not the PROTOCOL variable:
this module reads it (after the --otlp-protocol flag) and picks the exporter class.
"""

from __future__ import annotations

import os

from opentelemetry.sdk.trace.export import SpanExporter

from kspan_py.config import OTEL_LOGS_PROTOCOL_ENV, OTEL_PROTOCOL_ENV, ConfigError, OtlpSettings

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


def make_otlp_exporter(settings: OtlpSettings) -> SpanExporter:
    headers = dict(settings.headers) or None
    if settings.protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter as HttpExporter,
        )

        endpoint = settings.endpoint
        if endpoint is not None:
            # Accept the base URL or the full signal URL, with or without a trailing slash.
            endpoint = endpoint.rstrip("/").removesuffix("/v1/traces") + "/v1/traces"
        exporter: SpanExporter = HttpExporter(
            endpoint=endpoint, headers=headers, timeout=settings.timeout_s
        )
        return exporter
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
        OTLPSpanExporter as GrpcExporter,
    )

    grpc_exporter: SpanExporter = GrpcExporter(
        endpoint=settings.endpoint,
        insecure=settings.insecure,
        headers=headers,
        timeout=settings.timeout_s,
    )
    return grpc_exporter
