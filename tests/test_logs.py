"""Every Event occurrence as an OTLP log record: sent by the SDK's OTLP log exporters to real
receivers (tests/otlp_logs_receiver.py), each record pointing at a span that was exported,
exactly once also across a kill -9 and restart, and queued while the collector is down."""

from __future__ import annotations

import asyncio
import json
import signal
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from kspan_py.cli import main
from kspan_py.config import OtlpSettings, SinkSettings
from kspan_py.sinks import make_sinks
from kspan_py.spans.attributes import EVENT_COUNT, EVENT_UID
from tests.fake_apiserver import FakeApiServer
from tests.otlp_logs_receiver import (
    GrpcLogsReceiver,
    HttpLogsReceiver,
    grpc_logs_receiver,
    loki_style_logs_receiver,
)
from tests.otlp_receivers import GrpcReceiver, grpc_receiver, plain_attributes
from tests.test_live import (
    ROLLOUT,
    eventually,
    journalled,
    kspan_py,
    kubeconfig,
    live_run,
    push_all,
    server,
    span_ids_in,
    values_of,
)
from tests.tracing import CAPTURES, replay_file

__all__ = ["grpc_logs_receiver", "grpc_receiver", "kubeconfig", "loki_style_logs_receiver"]
__all__ += ["server"]

CRASHLOOP = CAPTURES / "real-1.36" / "crashloop.events.jsonl"
BADPULL = CAPTURES / "real-1.36" / "badpull.events.jsonl"


def occurrences_of(path: Path) -> Counter[tuple[str, int]]:
    """(Event uid, count) of every occurrence the replay of a capture exports."""
    found: Counter[tuple[str, int]] = Counter()
    for span in replay_file(path):
        attributes = span.attributes or {}
        if EVENT_UID not in attributes:
            continue
        if span.events:  # a span of repeats: its occurrences are its span events
            for event in span.events:
                found[(str(event.attributes[EVENT_UID]), int(event.attributes[EVENT_COUNT]))] += 1  # type: ignore[index, arg-type]
        else:
            found[(str(attributes[EVENT_UID]), int(attributes[EVENT_COUNT]))] += 1  # type: ignore[arg-type]
    return found


def keys_of(records: Iterable[tuple[dict[str, Any], Any, LogRecord]]) -> Counter[tuple[str, int]]:
    found: Counter[tuple[str, int]] = Counter()
    for _, _, record in records:
        attributes = plain_attributes(record.attributes)
        found[(attributes["k8s.event.uid"], attributes["k8s.event.count"])] += 1
    return found


def test_every_occurrence_is_one_record_pointing_at_an_exported_span(
    grpc_receiver: GrpcReceiver, grpc_logs_receiver: GrpcLogsReceiver
) -> None:
    code = main(
        [
            "replay",
            str(CRASHLOOP),
            "--exporter",
            "otlp",
            "--otlp-endpoint",
            grpc_receiver.endpoint,
            "--otlp-insecure",
            "--exporter",
            "otlp-logs",
            "--otlp-logs-endpoint",
            grpc_logs_receiver.endpoint,
        ]
    )
    assert code == 0
    expected = occurrences_of(CRASHLOOP)
    records = grpc_logs_receiver.records()
    assert keys_of(records) == expected  # every occurrence, once (repeats included)
    spans = {(span.trace_id, span.span_id): span for _, span in grpc_receiver.spans()}
    for resource, scope, record in records:
        span = spans.get((record.trace_id, record.span_id))
        assert span is not None, "a record points at a span that was not exported"
        attributes = plain_attributes(record.attributes)
        span_attributes = plain_attributes(span.attributes)
        assert attributes["k8s.event.uid"] == span_attributes["k8s.event.uid"]
        assert record.flags & 0x01  # sampled, as the span
        assert scope.name == "kspan_py"
        assert resource["service.name"] == next(
            r["service.name"] for r, s in grpc_receiver.spans() if s.span_id == record.span_id
        )
        # The k8s_events receiver's names and values.
        assert attributes["k8s.event.reason"]
        assert attributes["k8s.object.kind"] in ("Deployment", "ReplicaSet", "Pod")
        assert attributes["k8s.namespace.name"] == "crashloop"
        assert attributes["k8s.event.start_time"].endswith("Z")
        assert "k8s.event.message" not in attributes  # the message is the body
        assert "kspan.link" not in attributes
    warnings = [r for _, _, r in records if r.severity_text == "Warning"]
    normals = [r for _, _, r in records if r.severity_text == "Normal"]
    assert warnings and normals and len(warnings) + len(normals) == len(records)
    assert {r.severity_number for r in warnings} == {13}  # WARN
    assert {r.severity_number for r in normals} == {9}  # INFO
    back_off = [
        plain_attributes(r.attributes)
        for r in warnings
        if r.body.string_value.startswith("Back-off")
    ]
    # The crash loop's BackOff Event, every count of it (folded into spans of repeats).
    assert sorted(a["k8s.event.count"] for a in back_off) == list(range(1, len(back_off) + 1))
    assert len(back_off) >= 5
    assert {a["kspan.problem"] for a in back_off} == {"CrashLoopBackOff"}
    times = sorted(r.time_unix_nano for _, _, r in records)
    assert times[0] > 0 and all(r.observed_time_unix_nano >= times[-1] for _, _, r in records)


def test_http_to_a_loki_style_base_url_and_the_json_file_carry_the_same_records(
    loki_style_logs_receiver: HttpLogsReceiver, tmp_path: Path
) -> None:
    out = tmp_path / "logs.jsonl"
    code = main(
        [
            "replay",
            str(BADPULL),
            "--exporter",
            "otlp-logs",
            "--otlp-logs-protocol",
            "http/protobuf",
            "--otlp-logs-endpoint",
            loki_style_logs_receiver.endpoint,  # http://127.0.0.1:PORT/otlp, as Loki's
            "--exporter",
            "otlp-logs-json",
            "--otlp-logs-json-file",
            str(out),
        ]
    )
    assert code == 0
    received = keys_of(loki_style_logs_receiver.records())
    assert received == occurrences_of(BADPULL)
    in_file: Counter[tuple[str, int]] = Counter()
    for line in out.read_text().splitlines():
        for resource in json.loads(line)["resourceLogs"]:
            for scope in resource["scopeLogs"]:
                for record in scope["logRecords"]:
                    attributes = {a["key"]: a["value"] for a in record["attributes"]}
                    assert len(record["traceId"]) == 32 and len(record["spanId"]) == 16
                    assert record["severityText"] in ("Normal", "Warning")
                    in_file[
                        (
                            attributes["k8s.event.uid"]["stringValue"],
                            int(attributes["k8s.event.count"]["intValue"]),
                        )
                    ] += 1
    assert in_file == received


def test_filters_choose_the_records_and_one_service_name_covers_spans_and_logs(
    grpc_receiver: GrpcReceiver, grpc_logs_receiver: GrpcLogsReceiver
) -> None:
    code = main(
        [
            "replay",
            str(CRASHLOOP),
            str(BADPULL),
            "--exporter",
            "otlp",
            "--otlp-endpoint",
            grpc_receiver.endpoint,
            "--otlp-insecure",
            "--exporter",
            "otlp-logs",
            "--otlp-logs-endpoint",
            grpc_logs_receiver.endpoint,
            "--event-types",
            "Warning",
            "--exclude-namespace",
            "badpull",
            "--service-name",
            "k8s-events",
        ]
    )
    assert code == 0
    records = grpc_logs_receiver.records()
    assert records
    # Only the occurrences that matched: the Normal causes exported as spans have no record.
    assert {r.severity_text for _, _, r in records} == {"Warning"}
    assert {plain_attributes(r.attributes)["k8s.namespace.name"] for _, _, r in records} == {
        "crashloop"
    }
    spans = grpc_receiver.spans()
    assert any(plain_attributes(s.attributes).get("k8s.event.type") == "Normal" for _, s in spans)
    for resource, _, _ in records:
        assert resource["service.name"] == "k8s-events"
        assert resource["kspan.component"] in ("kubelet", "default-scheduler")
    components = {resource["kspan.component"] for resource, _ in spans}
    assert {resource["service.name"] for resource, _ in spans} == {"k8s-events"}
    assert {"kubelet", "replicaset-controller"} <= components


async def test_records_wait_for_a_collector_that_is_down_and_all_arrive_when_it_returns(
    server: FakeApiServer, kubeconfig: Path
) -> None:
    receiver = GrpcLogsReceiver().start()
    receiver.failing = True  # the collector refuses everything at first
    sinks = make_sinks(
        SinkSettings(
            exporters=("otlp-logs",),
            otlp_logs=OtlpSettings(endpoint=receiver.endpoint, insecure=True, timeout_s=0.5),
        )
    )
    try:
        async with live_run(server, kubeconfig, sinks=sinks, stop_timeout_s=30) as live:
            await live.caught_up(server)
            push_all(server, values_of(ROLLOUT))
            await live.caught_up(server)
            graph = live.state.graph
            assert graph is not None
            live.clock.now_ns = graph.watermark_ns + 60 * 10**9  # every span is due
            outlet = live.state.outlets["otlp-logs"]
            await eventually(lambda: outlet.stats.retries >= 1, "a refused export")
            assert receiver.records() == []
            receiver.failing = False
            expected = occurrences_of(ROLLOUT)
            await asyncio.to_thread(receiver.wait_for_records, sum(expected.values()), 30)
            await eventually(lambda: outlet.queued_spans == 0, "an empty queue")
        assert keys_of(receiver.records()) == expected
        assert not live.summary.dropped
    finally:
        receiver.stop()


async def test_kill_9_and_restart_with_the_checkpoint_gives_each_occurrence_one_record(
    server: FakeApiServer, kubeconfig: Path, tmp_path: Path
) -> None:
    values = values_of(ROLLOUT)
    half = len(values) // 2
    state = tmp_path / "state.json"
    spans_out = tmp_path / "spans.jsonl"
    push_all(server, values[:half])
    receiver = GrpcLogsReceiver().start()

    async def start() -> asyncio.subprocess.Process:
        return await kspan_py(
            "run",
            "--kubeconfig",
            str(kubeconfig),
            "--context",
            "fake",
            "--exporter",
            "otlp-json",
            "--otlp-json-file",
            str(spans_out),
            "--exporter",
            "otlp-logs",
            "--otlp-logs-endpoint",
            receiver.endpoint,
            "--otlp-insecure",
            "--since",
            "100000h",  # the recording's events are in the past: export them all
            "--state-file",
            str(state),
        )

    try:
        first = await start()
        try:
            await eventually(
                lambda: journalled(state) > 0 and journalled(state) >= len(span_ids_in(spans_out)),
                "the first run's exports",
            )
        finally:
            first.kill()  # SIGKILL: no flush, no checkpoint written on the way out
            await first.wait()
        assert first.returncode == -signal.SIGKILL
        before = len(receiver.records())
        assert before > 0

        push_all(server, values[half:])  # the cluster goes on while kspan-py is down
        second = await start()
        expected = occurrences_of(ROLLOUT)
        try:
            await asyncio.to_thread(receiver.wait_for_records, sum(expected.values()), 60)
            second.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.wait_for(second.communicate(), 30)
        finally:
            if second.returncode is None:
                second.kill()
                await second.wait()
        assert second.returncode == 0, stderr.decode()
        received = keys_of(receiver.records())
    finally:
        receiver.stop()
    doubled = {key: n for key, n in received.items() if n > 1}
    assert not doubled, f"records sent twice: {doubled}"
    assert received == expected


async def test_a_live_run_sets_the_cluster_uid_from_kube_system(
    server: FakeApiServer, kubeconfig: Path
) -> None:
    namespace = server.get("Namespace", "kube-system", None)
    assert namespace is not None
    uid = namespace["metadata"]["uid"]
    async with live_run(server, kubeconfig) as live:
        await live.caught_up(server)
        push_all(server, values_of(CRASHLOOP)[:40])
        await live.caught_up(server)
        graph = live.state.graph
        assert graph is not None
        live.clock.now_ns = graph.watermark_ns + 120 * 10**9
        spans = await live.finish()
    assert spans
    assert {span.resource.attributes.get("k8s.cluster.uid") for span in spans} == {uid}


def test_a_span_of_repeats_sent_again_after_a_restart_logs_only_its_new_occurrences(
    tmp_path: Path,
) -> None:
    from kspan_py.checkpoint import ExportGate
    from kspan_py.sinks.otlp_logs import OtlpLogsJsonFileSink
    from kspan_py.spans.building import KubeSpan

    spans = replay_file(CRASHLOOP)
    repeats = next(s for s in spans if isinstance(s, KubeSpan) and len(s.draft.repeats or ()) >= 2)
    held = repeats.draft.occurrences()
    # The previous process delivered the first two occurrences the span holds, then died.
    gate = ExportGate(0, {span_id: time for span_id, time in held[:2]})
    assert gate.admit([repeats]) == [repeats]  # the span goes out again (same id: merged)
    out = tmp_path / "logs.jsonl"
    sink = OtlpLogsJsonFileSink(str(out))
    sink.already_delivered = gate.exported.__contains__
    sink.export([repeats])
    sink.shutdown()
    counts = [
        int(a["value"]["intValue"])
        for line in out.read_text().splitlines()
        for resource in json.loads(line)["resourceLogs"]
        for scope in resource["scopeLogs"]
        for record in scope["logRecords"]
        for a in record["attributes"]
        if a["key"] == "k8s.event.count"
    ]
    everything = [repeats.draft.subject, *(repeats.draft.repeats or ())]
    assert counts == [event.count for event in everything[2:]]  # type: ignore[union-attr]


def burst_capture(path: Path, *, events: int, message_bytes: int) -> Path:
    """Warning Events about one Pod, each with a long message, all at once: a delivery whose
    records are several times what a Collector takes in one request."""
    lines = []
    for index in range(events):
        time = f"2026-11-24T16:{index // 60:02d}:{index % 60:02d}Z"
        lines.append(
            json.dumps(
                {
                    "type": "ADDED",
                    "object": {
                        "kind": "Event",
                        "apiVersion": "v1",
                        "metadata": {
                            "name": f"web-0.{index:016x}",
                            "namespace": "shop",
                            "uid": f"00000000-0000-0000-0000-{index:012d}",
                            "resourceVersion": str(1000 + index),
                            "creationTimestamp": time,
                        },
                        "involvedObject": {
                            "kind": "Pod",
                            "namespace": "shop",
                            "name": "web-0",
                            "uid": "11111111-2222-3333-4444-555555555555",
                            "fieldPath": "spec.containers{app}",
                        },
                        "reason": "Unhealthy",
                        "message": f"Liveness probe failed: {index} " + "x" * message_bytes,
                        "type": "Warning",
                        "count": 1,
                        "firstTimestamp": time,
                        "lastTimestamp": time,
                        "source": {"component": "kubelet", "host": "node-1"},
                    },
                }
            )
        )
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_burst_bigger_than_a_request_arrives_whole_in_requests_a_collector_takes(
    grpc_logs_receiver: GrpcLogsReceiver, tmp_path: Path
) -> None:
    # Bodies are cut to the span limits (4,096 characters): about 6.5 MB of records all the same.
    capture = burst_capture(tmp_path / "burst.jsonl", events=1500, message_bytes=30_000)
    args = ["replay", str(capture), "--exporter", "otlp-logs"]
    assert main([*args, "--otlp-logs-endpoint", grpc_logs_receiver.endpoint]) == 0
    records = grpc_logs_receiver.records()
    assert len(records) == 1500  # none refused
    requests = grpc_logs_receiver.requests
    assert len(requests) >= 3
    assert all(request.ByteSize() < 4 * 1024 * 1024 for request in requests)


def test_a_delivery_refused_part_way_is_resumed_not_sent_again(tmp_path: Path) -> None:
    from collections.abc import Sequence

    from opentelemetry.sdk._logs import ReadableLogRecord
    from opentelemetry.sdk._logs.export import (
        InMemoryLogRecordExporter,
        LogRecordExportResult,
    )
    from opentelemetry.sdk.trace.export import SpanExportResult

    from kspan_py.sinks.otlp_logs import OtlpLogSink

    class RefusesTheSecondRequestOnce(InMemoryLogRecordExporter):
        """A collector that refuses one request (an outage starting mid-delivery)."""

        def __init__(self) -> None:
            super().__init__()
            self.calls = 0

        def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
            self.calls += 1
            if self.calls == 2:
                return LogRecordExportResult.FAILURE
            return super().export(batch)

    capture = burst_capture(tmp_path / "burst.jsonl", events=300, message_bytes=30_000)
    spans = replay_file(capture)
    collector = RefusesTheSecondRequestOnce()
    sink = OtlpLogSink(collector)
    assert sink.export(spans) is SpanExportResult.FAILURE
    first = len(collector.get_finished_logs())
    assert 0 < first < 300
    assert sink.export(spans) is SpanExportResult.SUCCESS  # the outlet's retry
    uids = [r.log_record.attributes["k8s.event.uid"] for r in collector.get_finished_logs()]  # type: ignore[index]
    assert len(uids) == len(set(uids)) == 300


async def test_a_live_run_filters_as_a_replay_does(server: FakeApiServer, kubeconfig: Path) -> None:
    from kspan_py.config import FilterSettings
    from kspan_py.filtering import ExportFilter
    from kspan_py.model import ObjectChange
    from kspan_py.sources.capture import read_capture
    from tests.tracing import span_id

    filters = FilterSettings(event_types=("Warning",), exclude_reasons=("Failed",))
    async with live_run(server, kubeconfig, filters=filters, since_ns=0) as live:
        await live.caught_up(server)
        push_all(server, values_of(CRASHLOOP))
        await live.caught_up(server)
        graph = live.state.graph
        assert graph is not None
        live.clock.now_ns = graph.watermark_ns + 120 * 10**9  # every span is due
        spans = await live.finish()
    export_filter = ExportFilter(filters)
    for item in read_capture(str(CRASHLOOP)):
        if isinstance(item, ObjectChange):
            export_filter.observe(item)
    expected = export_filter.select_all(replay_file(CRASHLOOP))
    assert expected and {span_id(s) for s in spans} == {span_id(s) for s in expected}
    assert live.summary.filtered > 0
