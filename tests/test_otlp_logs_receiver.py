"""The OTLP logs receivers (tests/otlp_logs_receiver.py), checked with the SDK's own exporters.

Hand-made ReadableLogRecords go through OTLPLogExporter (gRPC, and HTTP with each compression),
and what the receivers keep is compared field by field: the receivers are trusted by the
otlp-logs tests only because these pass.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import (
    OTLPLogExporter as GrpcLogExporter,
)
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import (
    OTLPLogExporter as HttpLogExporter,
)
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExportResult
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from tests.otlp_logs_receiver import (
    COLLECTOR_MAX_RECEIVE_BYTES,
    GrpcLogsReceiver,
    HttpLogsReceiver,
    grpc_logs_receiver,
    http_logs_receiver,
    loki_style_logs_receiver,
)
from tests.otlp_receivers import plain_attributes

__all__ = ["grpc_logs_receiver", "http_logs_receiver", "loki_style_logs_receiver"]  # fixtures

TRACE_ID = 0x9EF061183EAB2C2D05C3D524E8AF4AC0
SPAN_ID = 0x05C3D524E8AF4AC1
OTHER_SPAN_ID = 0x05C3D524E8AF4AC2
T0 = 1_700_000_000_000_000_000
RESOURCE = Resource({"service.name": "kubelet", "k8s.cluster.name": "test"})
SCOPE = InstrumentationScope("kspan-py", "0.1.0")


@pytest.fixture(autouse=True)
def _no_ambient_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The exporters read OTEL_EXPORTER_OTLP_* themselves: a developer's own must not leak in."""
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)


def record(
    body: str = "Back-off restarting failed container web",
    span_id: int = SPAN_ID,
    severity: SeverityNumber = SeverityNumber.WARN,
    offset_ns: int = 0,
) -> ReadableLogRecord:
    span_context = SpanContext(
        TRACE_ID, span_id, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED)
    )
    return ReadableLogRecord(
        LogRecord(
            timestamp=T0 + offset_ns,
            observed_timestamp=T0 + offset_ns + 1_000_000,
            context=trace.set_span_in_context(NonRecordingSpan(span_context)),
            severity_text=severity.name,
            severity_number=severity,
            body=body,
            attributes={"k8s.event.reason": "BackOff", "k8s.event.count": 3},
            event_name="k8s.event",
        ),
        resource=RESOURCE,
        instrumentation_scope=SCOPE,
    )


def two_records() -> list[ReadableLogRecord]:
    return [
        record(),
        record("Started container web", OTHER_SPAN_ID, SeverityNumber.INFO, offset_ns=5),
    ]


@pytest.fixture
def grpc_exporter(grpc_logs_receiver: GrpcLogsReceiver) -> Iterator[GrpcLogExporter]:
    exporter = GrpcLogExporter(
        endpoint=grpc_logs_receiver.endpoint,
        insecure=True,
        headers={"x-scope-orgid": "tenant-1"},
        timeout=1,
    )
    yield exporter
    exporter.shutdown()


def http_exporter(
    url: str, compression: Compression = Compression.NoCompression
) -> HttpLogExporter:
    # max_request_size=0: the SDK's own limit is off, so the receiver's limit is the one tested.
    return HttpLogExporter(
        endpoint=url,
        headers={"x-scope-orgid": "tenant-1"},
        timeout=1,
        compression=compression,
        max_request_size=0,
    )


def assert_two_records_arrived(receiver: GrpcLogsReceiver | HttpLogsReceiver) -> None:
    records = receiver.records()
    assert len(records) == 2
    assert len(receiver.requests) == 1
    assert receiver.headers[0]["x-scope-orgid"] == "tenant-1"
    for resource, scope, log in records:
        assert resource == {"service.name": "kubelet", "k8s.cluster.name": "test"}
        assert (scope.name, scope.version) == ("kspan-py", "0.1.0")
        assert log.trace_id == TRACE_ID.to_bytes(16, "big")
        assert plain_attributes(log.attributes) == {
            "k8s.event.reason": "BackOff",
            "k8s.event.count": 3,
        }
        assert log.event_name == "k8s.event"
        assert log.flags & 0xFF == TraceFlags.SAMPLED
    (_, _, first), (_, _, second) = records
    assert first.span_id == SPAN_ID.to_bytes(8, "big")
    assert second.span_id == OTHER_SPAN_ID.to_bytes(8, "big")
    assert (first.severity_number, first.severity_text) == (SeverityNumber.WARN.value, "WARN")
    assert (second.severity_number, second.severity_text) == (SeverityNumber.INFO.value, "INFO")
    assert first.body.string_value == "Back-off restarting failed container web"
    assert second.body.string_value == "Started container web"
    assert (first.time_unix_nano, first.observed_time_unix_nano) == (T0, T0 + 1_000_000)
    assert second.time_unix_nano == T0 + 5
    assert receiver.refused == 0


# --- what arrives ------------------------------------------------------------------------------


def test_grpc_receiver_keeps_what_the_sdk_exporter_sends(
    grpc_logs_receiver: GrpcLogsReceiver, grpc_exporter: GrpcLogExporter
) -> None:
    assert grpc_exporter.export(two_records()) is LogRecordExportResult.SUCCESS
    assert_two_records_arrived(grpc_logs_receiver)


@pytest.mark.parametrize(
    "compression", [Compression.NoCompression, Compression.Gzip, Compression.Deflate]
)
def test_http_receiver_keeps_what_the_sdk_exporter_sends(
    http_logs_receiver: HttpLogsReceiver, compression: Compression
) -> None:
    exporter = http_exporter(http_logs_receiver.logs_url, compression)
    try:
        assert exporter.export(two_records()) is LogRecordExportResult.SUCCESS
    finally:
        exporter.shutdown()
    assert_two_records_arrived(http_logs_receiver)
    encoding = http_logs_receiver.headers[0].get("content-encoding", "")
    assert encoding == ("" if compression is Compression.NoCompression else compression.value)


def test_wait_for_records_waits_for_an_export_from_another_thread(
    grpc_logs_receiver: GrpcLogsReceiver, grpc_exporter: GrpcLogExporter
) -> None:
    go = threading.Event()

    def export_later() -> None:
        go.wait()
        grpc_exporter.export(two_records())

    thread = threading.Thread(target=export_later)
    thread.start()
    try:
        go.set()
        records = grpc_logs_receiver.wait_for_records(2, timeout=10)
    finally:
        thread.join()
    assert [log.body.string_value for _, _, log in records] == [
        "Back-off restarting failed container web",
        "Started container web",
    ]


def test_wait_for_records_names_what_is_missing(grpc_logs_receiver: GrpcLogsReceiver) -> None:
    with pytest.raises(AssertionError, match=r"0 log records after 0.05s, wanted 1"):
        grpc_logs_receiver.wait_for_records(1, timeout=0.05)


# --- Loki's /otlp prefix -----------------------------------------------------------------------


def test_prefixed_receiver_takes_a_base_url_ending_in_otlp(
    loki_style_logs_receiver: HttpLogsReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver = loki_style_logs_receiver
    assert receiver.endpoint.endswith("/otlp")
    # The standard variable holds the base URL; the SDK appends /v1/logs to it.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
    exporter = HttpLogExporter(timeout=1)
    try:
        assert exporter.export(two_records()) is LogRecordExportResult.SUCCESS
    finally:
        exporter.shutdown()
    assert len(receiver.records()) == 2


def test_prefixed_receiver_refuses_the_unprefixed_path(
    loki_style_logs_receiver: HttpLogsReceiver,
) -> None:
    unprefixed = loki_style_logs_receiver.endpoint.removesuffix("/otlp") + "/v1/logs"
    exporter = http_exporter(unprefixed)
    try:
        assert exporter.export(two_records()) is LogRecordExportResult.FAILURE
    finally:
        exporter.shutdown()
    assert loki_style_logs_receiver.requests == []


def test_path_prefix_is_checked() -> None:
    with pytest.raises(ValueError, match="path_prefix"):
        HttpLogsReceiver(path_prefix="otlp/")


# --- refusing ----------------------------------------------------------------------------------


def test_failing_grpc_receiver_refuses_then_takes_again(
    grpc_logs_receiver: GrpcLogsReceiver, grpc_exporter: GrpcLogExporter
) -> None:
    grpc_logs_receiver.failing = True
    assert grpc_exporter.export(two_records()) is LogRecordExportResult.FAILURE
    assert grpc_logs_receiver.refused >= 1
    assert grpc_logs_receiver.requests == []

    grpc_logs_receiver.failing = False
    assert grpc_exporter.export(two_records()) is LogRecordExportResult.SUCCESS
    assert len(grpc_logs_receiver.records()) == 2


def test_failing_http_receiver_refuses_then_takes_again(
    http_logs_receiver: HttpLogsReceiver,
) -> None:
    exporter = http_exporter(http_logs_receiver.logs_url)
    try:
        http_logs_receiver.failing = True
        assert exporter.export(two_records()) is LogRecordExportResult.FAILURE
        assert http_logs_receiver.refused >= 1
        assert http_logs_receiver.requests == []

        http_logs_receiver.failing = False
        assert exporter.export(two_records()) is LogRecordExportResult.SUCCESS
    finally:
        exporter.shutdown()
    assert len(http_logs_receiver.records()) == 2


def test_grpc_receiver_comes_back_on_its_port() -> None:
    with GrpcLogsReceiver() as first:
        port = first.port
    with GrpcLogsReceiver(port=port) as again:
        exporter = GrpcLogExporter(endpoint=again.endpoint, insecure=True, timeout=1)
        try:
            assert exporter.export([record()]) is LogRecordExportResult.SUCCESS
        finally:
            exporter.shutdown()
        assert again.port == port
        assert len(again.records()) == 1


# --- the Collector's 4 MiB ---------------------------------------------------------------------

UNDER = COLLECTOR_MAX_RECEIVE_BYTES - 4096  # room for the request around the body
OVER = COLLECTOR_MAX_RECEIVE_BYTES + 1


def test_grpc_receiver_refuses_a_request_over_4_mib(
    grpc_logs_receiver: GrpcLogsReceiver, grpc_exporter: GrpcLogExporter
) -> None:
    assert grpc_exporter.export([record("x" * OVER)]) is LogRecordExportResult.FAILURE
    assert grpc_logs_receiver.requests == []
    assert grpc_exporter.export([record("x" * UNDER)]) is LogRecordExportResult.SUCCESS
    assert len(grpc_logs_receiver.records()) == 1


@pytest.mark.parametrize("compression", [Compression.NoCompression, Compression.Gzip])
def test_http_receiver_refuses_a_request_over_4_mib(
    http_logs_receiver: HttpLogsReceiver, compression: Compression
) -> None:
    """413; the limit is on the decompressed request too (a gzipped 4 MiB of 'x' is tiny)."""
    exporter = http_exporter(http_logs_receiver.logs_url, compression)
    try:
        assert exporter.export([record("x" * OVER)]) is LogRecordExportResult.FAILURE
        assert http_logs_receiver.refused == 1  # 413 is final: the SDK does not retry it
        assert http_logs_receiver.requests == []
        assert exporter.export([record("x" * UNDER)]) is LogRecordExportResult.SUCCESS
    finally:
        exporter.shutdown()
    assert len(http_logs_receiver.records()) == 1


def test_the_limit_can_be_lifted() -> None:
    with HttpLogsReceiver(max_receive_bytes=None) as receiver:
        exporter = http_exporter(receiver.logs_url)
        try:
            assert exporter.export([record("x" * OVER)]) is LogRecordExportResult.SUCCESS
        finally:
            exporter.shutdown()
        assert len(receiver.records()) == 1
    with GrpcLogsReceiver(max_receive_bytes=None) as grpc_side:
        grpc_exporter = GrpcLogExporter(endpoint=grpc_side.endpoint, insecure=True, timeout=1)
        try:
            assert grpc_exporter.export([record("x" * OVER)]) is LogRecordExportResult.SUCCESS
        finally:
            grpc_exporter.shutdown()
        assert len(grpc_side.records()) == 1
