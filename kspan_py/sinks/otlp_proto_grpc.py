"""The SDK's OTLP gRPC span exporter, its request made from the spans' drafts (otlp_proto.py).

A subclass, not a patch: ``_translate_data`` is the step the exporter's base class
(``OTLPExporterMixin``) calls to turn what it was given into the request it sends, and the SDK's
own exporter defines it as ``encode_spans(data)``. Everything else (the channel, TLS, headers,
compression, retries, timeouts, the environment variables) is the SDK exporter's own. A module
of its own: importing grpc takes a while, and only an OTLP gRPC sink needs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan

from kspan_py.sinks.otlp_proto import DraftEncoder, EncodedChunk


class DraftOtlpGrpcSpanExporter(OTLPSpanExporter):
    """OTLPSpanExporter (gRPC) whose requests are encoded from the spans' drafts.

    The OTLP sink asks it for its chunks (``encoded_chunks``): requests encoded as they are
    sized, which it then sends as they are."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.encoder = DraftEncoder()
        self.encoded_chunks = self.encoder.chunks

    def _translate_data(self, data: Sequence[ReadableSpan]) -> ExportTraceServiceRequest:
        if isinstance(data, EncodedChunk) and data.holds_its_request():
            return data.request
        return self.encoder.request(data)
