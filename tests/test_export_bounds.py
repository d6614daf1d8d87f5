"""Nothing lost on the way out: requests a default Collector accepts, values cut to the span
limits, a full disk counted and survived, and an exit status that says when spans were lost."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.trace import SpanContext, Status, StatusCode, TraceFlags

from kspan_py.cli import EXIT_NOT_EXPORTED, main
from kspan_py.config import OtlpSettings
from kspan_py.model import Snapshot
from kspan_py.sinks.otlp import BoundedOtlpSink, make_otlp_exporter
from kspan_py.sinks.otlp_json import OtlpJsonFileSink, request_json
from kspan_py.sinks.otlp_size import encoded_size_bound
from kspan_py.sources.capture import CaptureWriter, Skipped, read_capture
from kspan_py.spans import limits
from kspan_py.spans.limits import DEFAULT_VALUE_LENGTH, read_value_limits
from tests.fake_apiserver import FakeApiServer
from tests.otlp_receivers import (
    GrpcReceiver,
    HttpReceiver,
    grpc_receiver,
    http_receiver,
    plain_attributes,
)
from tests.test_live import (
    ROLLOUT as LIVE_ROLLOUT,
)
from tests.test_live import (
    eventually,
    kubeconfig,
    push_all,
    server,
    span_ids_in,
    start_run,
    values_of,
)
from tests.tracing import CAPTURES, replay_file, replay_lines, span_id

__all__ = ["grpc_receiver", "http_receiver", "kubeconfig", "server"]  # fixtures, used by name

ROLLOUT = str(CAPTURES / "real-1.36" / "rollout.core.jsonl")
ROLLOUT_SPANS = 41
MIB = 1024 * 1024
FOUR_BYTES = "\U0001d518"
"""A character that takes 4 bytes in UTF-8 (MATHEMATICAL FRAKTUR CAPITAL U)."""


@pytest.fixture(autouse=True)
def _no_ambient_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("OTEL_", "KSPAN_")):
            monkeypatch.delenv(name)


@pytest.fixture
def closed_port() -> Iterator[int]:
    """Bound, so no one else takes it, but not listening: connections are refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def event_line(
    index: int,
    message: str,
    *,
    count: int = 1,
    at: str = "2026-11-24T16:34:08Z",
    watch_type: str = "ADDED",
    uid: str | None = None,
) -> str:
    """A core/v1 Event as a watch line: kubelet's, about a Pod of its own."""
    body = {
        "kind": "Event",
        "apiVersion": "v1",
        "metadata": {
            "name": f"pod-{index}.18eb0857a29ae1e0",
            "namespace": "burst",
            "uid": uid or f"00000000-0000-4000-8000-{index:012d}",
            "resourceVersion": str(1000 + index * 10 + count),
            "creationTimestamp": at,
        },
        "involvedObject": {
            "kind": "Pod",
            "namespace": "burst",
            "name": f"pod-{index}",
            "uid": f"10000000-0000-4000-8000-{index:012d}",
            "apiVersion": "v1",
        },
        "reason": "BackOff",
        "message": message,
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": "2026-11-24T16:34:08Z",
        "lastTimestamp": at,
        "count": count,
        "type": "Warning",
        "eventTime": None,
        "reportingComponent": "kubelet",
        "reportingInstance": "node-1",
    }
    return json.dumps({"type": watch_type, "object": body})


def burst_capture(path: Path, *, events: int, message_bytes: int) -> Path:
    """Events of as many Pods in the same second: their spans finish in one advance of event
    time and reach the sink as one batch (a rollout of hundreds of Pods does the same)."""
    lines = (event_line(i, f"{i}: " + "x" * message_bytes) for i in range(events))
    path.write_text("\n".join(lines) + "\n")
    return path


def received_ids(receiver: GrpcReceiver | HttpReceiver) -> list[bytes]:
    return [span.span_id for _, span in receiver.spans()]


# --- bounded requests ---------------------------------------------------------------------------


def test_a_burst_reaches_a_grpc_collector_with_the_default_4_mib_limit_whole(
    grpc_receiver: GrpcReceiver, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """2,000 spans of 3 KB in one batch: 6 MB in one request was refused (RESOURCE_EXHAUSTED)
    and every span of it lost."""
    capture = burst_capture(tmp_path / "burst.jsonl", events=2000, message_bytes=3000)
    code = main(
        [
            *("replay", str(capture), "--exporter", "otlp", "--otlp-protocol", "grpc"),
            *("--otlp-endpoint", grpc_receiver.endpoint, "--otlp-insecure"),
            *("--otlp-timeout", "2s"),
        ]
    )

    assert code == 0, capsys.readouterr().err
    ids = received_ids(grpc_receiver)
    assert len(ids) == 2000 and len(set(ids)) == 2000
    assert len(grpc_receiver.requests) > 1
    assert all(r.ByteSize() <= 4 * MIB for r in grpc_receiver.requests)


def test_a_burst_reaches_an_http_collector_with_a_4_mib_limit_whole(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    receiver = HttpReceiver(max_body_bytes=4 * MIB).start()
    try:
        capture = burst_capture(tmp_path / "burst.jsonl", events=2000, message_bytes=3000)
        code = main(
            [
                *("replay", str(capture), "--exporter", "otlp"),
                *("--otlp-protocol", "http/protobuf", "--otlp-endpoint", receiver.endpoint),
                *("--otlp-timeout", "2s"),
            ]
        )
        assert code == 0, capsys.readouterr().err
        assert receiver.too_large == 0
        assert len(set(received_ids(receiver))) == 2000
    finally:
        receiver.stop()


def test_chunks_are_bounded_by_span_count_too(grpc_receiver: GrpcReceiver) -> None:
    spans = replay_file(Path(ROLLOUT))
    sink = make_otlp_exporter(
        OtlpSettings(endpoint=grpc_receiver.endpoint, insecure=True, max_request_spans=10)
    )
    try:
        chunks = list(sink.chunks(spans))
        assert [len(c) for c in chunks] == [10, 10, 10, 10, 1]
        assert [c for chunk in chunks for c in chunk] == spans
    finally:
        sink.shutdown()


def _hostile_spans() -> list[ReadableSpan]:
    """Spans whose values are long, non-ASCII, lists and numbers: what an estimate could miss."""
    resource = Resource({"service.name": "kubelet", "k8s.cluster.name": "é" * 300})
    spans = []
    for i in range(40):
        spans.append(
            ReadableSpan(
                name="Pod." + "ü" * (i * 10),
                context=SpanContext(1 + i, 1 + i, is_remote=False, trace_flags=TraceFlags(1)),
                parent=SpanContext(1 + i, 999, is_remote=False),
                resource=resource,
                attributes={
                    "k8s.event.message": FOUR_BYTES * (i * 97),
                    "text": "x" * i,
                    "list": ["a" * i, "ß" * i],
                    "count": 2**62,
                    "ratio": 0.5,
                    "flag": True,
                },
                events=[Event("BackOff", {"k8s.event.message": "ø" * i, "n": i}, 10**18 + i)]
                * (i % 5),
                status=Status(StatusCode.ERROR, "ʃ" * i) if i % 2 else Status(StatusCode.UNSET),
                start_time=10**18,
                end_time=10**18 + i,
            )
        )
    return spans


def test_the_size_bound_is_never_below_what_the_sdk_encoder_makes() -> None:
    spans = _hostile_spans()
    for path in sorted((CAPTURES / "real-1.36").glob("*.jsonl")):
        spans.extend(replay_file(path))
    for span in spans:
        alone = encode_spans([span]).ByteSize()
        resource = encode_spans([span]).resource_spans[0].resource.ByteSize()
        assert alone - resource <= encoded_size_bound(span), span.name
    # And no chunk, resources and framing included, is over the bound it was cut for.
    sink = BoundedOtlpSink(make_otlp_exporter(OtlpSettings()), max_spans=1000, max_bytes=20_000)
    for chunk in sink.chunks(spans):
        assert encode_spans(chunk).ByteSize() <= 20_000


def test_a_span_too_large_for_any_request_goes_out_cut_to_fit(tmp_path: Path) -> None:
    receiver = GrpcReceiver(max_receive_bytes=64 * 1024).start()
    try:
        # Non-ASCII at the full value length: 4 bytes a character, over what a request takes.
        lines = [
            event_line(0, FOUR_BYTES * 50_000, count=1),
            *(
                event_line(
                    0,
                    FOUR_BYTES * 50_000,
                    count=n,
                    watch_type="MODIFIED",
                    at=f"2026-11-24T16:34:{n:02d}Z",
                )
                for n in range(9, 40)
            ),
            event_line(1, "a small one"),
        ]
        spans = replay_lines(lines)
        sink = make_otlp_exporter(
            OtlpSettings(endpoint=receiver.endpoint, insecure=True, max_request_bytes=48 * 1024)
        )
        try:
            for chunk in sink.chunks(spans):
                assert sink.export(chunk).name == "SUCCESS"
        finally:
            sink.shutdown()
        assert sink.shrunk >= 1
        assert len(receiver.spans()) == len(spans)
    finally:
        receiver.stop()


# --- span limits ------------------------------------------------------------------------------


def test_a_huge_message_is_cut_to_the_value_length_limit_in_attributes_status_and_events(
    grpc_receiver: GrpcReceiver, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 5 MB message made a request the Collector refused; the batch with it was lost."""
    huge = "m" * (5 * MIB)
    capture = tmp_path / "huge.jsonl"
    capture.write_text(
        "\n".join(
            [
                event_line(0, huge),
                # Repeats of it, folded into one span with each occurrence a span event.
                event_line(1, huge, count=1),
                event_line(1, huge, count=2, watch_type="MODIFIED", at="2026-11-24T16:34:20Z"),
                event_line(1, huge, count=3, watch_type="MODIFIED", at="2026-11-24T16:34:40Z"),
            ]
        )
        + "\n"
    )
    code = main(
        [
            *("replay", str(capture), "--exporter", "otlp", "--otlp-endpoint"),
            *(grpc_receiver.endpoint, "--otlp-insecure", "--otlp-timeout", "2s"),
        ]
    )
    assert code == 0, capsys.readouterr().err
    spans = [span for _, span in grpc_receiver.spans()]
    assert len(spans) >= 2
    for span in spans:
        assert plain_attributes(span.attributes)["k8s.event.message"] == "m" * DEFAULT_VALUE_LENGTH
        assert span.status.message == "m" * DEFAULT_VALUE_LENGTH
    repeats = max(spans, key=lambda span: len(span.events))
    assert len(repeats.events) >= 2
    for event in repeats.events:
        assert plain_attributes(event.attributes)["k8s.event.message"] == "m" * DEFAULT_VALUE_LENGTH


def test_a_span_keeps_the_latest_span_events_within_the_event_count_limit() -> None:
    lines = [event_line(0, "crash", count=1)] + [
        event_line(
            0,
            "crash",
            count=n,
            watch_type="MODIFIED",
            at=f"2026-11-24T16:{34 + n // 60}:{n % 60:02d}Z",
        )
        for n in range(2, 201)
    ]
    spans = [span for span in replay_lines(lines) if span.events]
    assert spans
    assert all(len(span.events) <= 128 for span in spans)
    last = max(spans, key=lambda span: span.end_time or 0)
    assert last.events[-1].attributes is not None
    assert last.events[-1].attributes["k8s.event.count"] == 200


def test_the_limits_follow_the_otel_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    assert read_value_limits().value_length == DEFAULT_VALUE_LENGTH
    assert read_value_limits().event_count == 128
    monkeypatch.setenv("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "100")
    assert read_value_limits().value_length == 100
    monkeypatch.setenv("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "50")  # the span one wins
    assert read_value_limits().value_length == 50
    monkeypatch.setenv("OTEL_SPAN_EVENT_COUNT_LIMIT", "7")
    assert read_value_limits().event_count == 7


def test_a_bad_limit_variable_is_named_and_the_defaults_kept(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "lots")
    assert read_value_limits() == limits.ValueLimits()
    assert "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT" in caplog.text


# --- exit status ------------------------------------------------------------------------------


def test_replay_exits_3_when_the_collector_is_down_and_0_when_it_took_everything(
    closed_port: int, grpc_receiver: GrpcReceiver, capsys: pytest.CaptureFixture[str]
) -> None:
    down = main(
        [
            *("replay", ROLLOUT, "--exporter", "otlp", "--otlp-insecure"),
            *("--otlp-endpoint", f"http://127.0.0.1:{closed_port}", "--otlp-timeout", "500ms"),
        ]
    )
    assert down == EXIT_NOT_EXPORTED == 3
    assert f"spans not exported: {ROLLOUT_SPANS} to otlp" in capsys.readouterr().err
    up = main(
        [
            *("replay", ROLLOUT, "--exporter", "otlp", "--otlp-insecure"),
            *("--otlp-endpoint", grpc_receiver.endpoint, "--otlp-timeout", "2s"),
        ]
    )
    assert up == 0
    assert len(grpc_receiver.spans()) == ROLLOUT_SPANS


# --- a full disk ------------------------------------------------------------------------------


@pytest.mark.parametrize("exporter", ["otlp-json", "otlp-logs-json"])
def test_replay_into_a_full_disk_says_so_and_exits_3(
    exporter: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """/dev/full refuses every write with ENOSPC, as a full disk does."""
    code = main(["replay", ROLLOUT, "--exporter", exporter, f"--{exporter}-file", "/dev/full"])
    err = capsys.readouterr().err
    assert code == 3, err
    assert "Traceback" not in err
    assert f"spans not exported: {ROLLOUT_SPANS} to {exporter} (disk full)" in err
    assert "collector unavailable" not in err


# --- gRPC core's own log lines ----------------------------------------------------------------

_GOAWAY_SCRIPT = """
import sys
from kspan_py.config import OtlpSettings
from kspan_py.sinks.otlp import make_otlp_exporter
from tests.tracing import CAPTURES, replay_file

spans = replay_file(CAPTURES / "real-1.36" / "rollout.core.jsonl")
exporter = make_otlp_exporter(OtlpSettings(endpoint=sys.argv[1], insecure=True, timeout_s=5))
print(exporter.export(spans[:5]).name, flush=True)
sys.stdin.readline()  # the receiver restarts meanwhile: the connection gets a GOAWAY
print(exporter.export(spans[5:]).name, flush=True)
exporter.shutdown()
"""


_GRPC_CORE_LINE = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ \S+:\d+\]", re.MULTILINE)
"""gRPC core's own log line (absl's format): ``I1202 11:01:42.238301   14772 file.cc:1403] ...``."""


def _export_across_a_goaway(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A collector restarting under an exporter in a process of its own (gRPC core logs to
    the process's stderr, from C)."""
    first = GrpcReceiver().start()
    process = subprocess.Popen(
        [sys.executable, "-c", _GOAWAY_SCRIPT, first.endpoint],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        assert process.stdout.readline().strip() == "SUCCESS"
        first.stop()
        second = GrpcReceiver(port=first.port).start()
        try:
            out, err = process.communicate("go\n", timeout=30)
        finally:
            second.stop()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def test_grpc_core_does_not_write_its_own_lines_to_stderr() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRPC_", "OTEL_"))}
    quiet = _export_across_a_goaway(env)
    assert quiet.stdout.split() == ["SUCCESS"]  # the second export, across the GOAWAY
    assert not _GRPC_CORE_LINE.search(quiet.stderr), quiet.stderr
    # A value the user set is theirs: with it, gRPC core writes its lines (the GOAWAY among
    # them when the client saw it before reconnecting).
    loud = _export_across_a_goaway({**env, "GRPC_VERBOSITY": "INFO"})
    assert _GRPC_CORE_LINE.search(loud.stderr), loud.stderr


def _json_spans(path: Path) -> list[dict[str, Any]]:
    return [
        span
        for line in path.read_bytes().splitlines()
        for resource in json.loads(line)["resourceSpans"]
        for scope in resource["scopeSpans"]
        for span in scope["spans"]
    ]


# --- a live run: restarts on the same files, and a full disk --------------------------------


async def test_a_killed_run_restarted_on_the_same_files_loses_nothing_and_doubles_nothing(
    server: FakeApiServer, kubeconfig: Path, tmp_path: Path
) -> None:
    """The restart used to truncate --otlp-json-file and --record: what the first run wrote
    was gone, and the checkpoint kept the restart from writing it again."""
    values = values_of(LIVE_ROLLOUT)
    half, three_quarters = len(values) // 2, len(values) * 3 // 4
    state, out, capture = tmp_path / "state.json", tmp_path / "spans.jsonl", tmp_path / "c.jsonl.gz"
    files = ("--state-file", str(state), "--record", str(capture))
    push_all(server, values[:half])

    first = await start_run(kubeconfig, out, *files)
    try:
        await eventually(lambda: len(span_ids_in(out)) > 0, "the first run's exports")
        push_all(server, values[half:three_quarters])  # more on its way as it is killed
    finally:
        first.kill()
        await first.wait()
    assert first.returncode == -signal.SIGKILL
    written_before = len(span_ids_in(out))
    recorded = capture.read_bytes()

    push_all(server, values[three_quarters:])
    expected = {
        f"{span_id(s):016x}" for s in replay_file(LIVE_ROLLOUT) if s.attributes.get("k8s.event.uid")
    }
    second = await start_run(kubeconfig, out, *files)
    try:
        await eventually(lambda: expected <= set(span_ids_in(out)), "every occurrence exported")
        second.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(second.communicate(), 30)
    finally:
        if second.returncode is None:
            second.kill()
            await second.wait()
    assert second.returncode == 0, stderr.decode()

    ids = span_ids_in(out)
    assert len(ids) > written_before > 0
    assert len(ids) == len(set(ids)), "a span was written twice"
    assert expected <= set(ids)
    # The recording goes on after the first run's, which is still there and still replays.
    assert capture.read_bytes().startswith(recorded) and len(capture.read_bytes()) > len(recorded)
    assert expected <= {f"{span_id(s):016x}" for s in replay_file(capture)}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _get(port: int, path: str) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
            return str(response.read().decode())
    except urllib.error.HTTPError as error:
        return str(error.read().decode())
    except OSError:
        return ""  # not serving yet


async def test_a_full_disk_makes_a_run_unready_is_counted_and_is_reported_at_exit(
    server: FakeApiServer, kubeconfig: Path
) -> None:
    push_all(server, values_of(LIVE_ROLLOUT))
    port = _free_port()
    run = await start_run(
        kubeconfig, Path("/dev/full"), "--metrics-port", str(port), "--shutdown-timeout", "1s"
    )
    try:
        await eventually(lambda: "disk full" in _get(port, "/readyz"), "/readyz saying why")
        metrics = _get(port, "/metrics")
        assert 'kspan_export_failures_total{reason="disk full",sink="otlp-json"}' in metrics
        run.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(run.communicate(), 30)
    finally:
        if run.returncode is None:
            run.kill()
            await run.wait()
    err = stderr.decode()
    assert run.returncode == 3, err
    assert "Traceback" not in err
    assert "(otlp-json: disk full at shutdown)" in err
    assert "collector unavailable" not in err


# --- the file sink's own repairs ----------------------------------------------------------------


def test_appending_cuts_a_torn_line_and_does_not_write_again_what_the_file_holds(
    tmp_path: Path,
) -> None:
    spans = replay_file(Path(ROLLOUT))
    path = tmp_path / "spans.jsonl"
    first = OtlpJsonFileSink(str(path))
    assert first.export(spans[:20]) is SpanExportResult.SUCCESS
    first.shutdown()
    whole = path.read_bytes()
    with path.open("ab") as torn:  # a kill in the middle of the next write
        torn.write(request_json(spans[20:30])[:100])

    # The restart exports again what was not noted as delivered: some of it is in the file.
    again = OtlpJsonFileSink(str(path), append=True)
    assert again.export(spans[10:]) is SpanExportResult.SUCCESS
    again.shutdown()

    assert path.read_bytes().startswith(whole)
    ids = [span["spanId"] for span in _json_spans(path)]
    assert len(ids) == len(set(ids)) == ROLLOUT_SPANS


def test_a_replay_writes_its_file_anew(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    for _ in range(2):
        assert (
            main(["replay", ROLLOUT, "--exporter", "otlp-json", "--otlp-json-file", str(path)]) == 0
        )
    assert len(_json_spans(path)) == ROLLOUT_SPANS


_FILE_SIZE_LIMIT_SCRIPT = """
import resource, signal, sys
from pathlib import Path
from kspan_py.sinks.otlp_json import OtlpJsonFileSink
from tests.tracing import replay_file

spans = replay_file(Path(sys.argv[3]))
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[2]), int(sys.argv[2])))
sink = OtlpJsonFileSink(sys.argv[1])
print(sink.export(spans[:5]).name, sink.export(spans[5:]).name, sink.failure_reason)
"""


def export_under_file_size_limit(capture: Path, path: Path, limit: int) -> list[str]:
    """In a child limited to files of ``limit`` bytes, the spans of capture exported to path as
    two batches (its first five, then the rest): each export's result, then the sink's
    failure reason."""
    result = subprocess.run(
        [sys.executable, "-c", _FILE_SIZE_LIMIT_SCRIPT, str(path), str(limit), str(capture)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parent.parent,
        check=True,
    )
    return result.stdout.split()


def test_a_write_cut_short_is_taken_back_whole(tmp_path: Path) -> None:
    """A disk that fills up in the middle of a line: the part written is taken back, so the
    retry does not follow half a line with the whole one."""
    path = tmp_path / "spans.jsonl"
    small = len(request_json(replay_file(Path(ROLLOUT))[:5])) + 1
    outcome = export_under_file_size_limit(Path(ROLLOUT), path, small + 1000)
    assert outcome == ["SUCCESS", "FAILURE", "write", "failed", "(EFBIG)"]
    assert path.stat().st_size == small
    assert len(_json_spans(path)) == 5


def test_a_recording_appended_after_a_kill_reads_whole_and_a_full_disk_loses_only_its_values(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lines = [json.loads(line) for line in Path(ROLLOUT).read_text().splitlines()]
    path = tmp_path / "capture.jsonl.gz"
    killed = CaptureWriter(str(path))
    for value in lines[:50]:
        killed.write(value)
    killed.flush()
    killed.write(lines[50])  # never flushed: the kill takes it
    del killed  # no close: a kill -9

    restarted = CaptureWriter(str(path))
    for value in lines[50:]:
        restarted.write(value)
    restarted.close()
    items = [
        item
        for item in read_capture(str(path), reader_process=False)
        if not isinstance(item, Snapshot)  # (they bracket the leading listing)
    ]
    assert not [item for item in items if isinstance(item, Skipped)]
    assert len(items) == len(lines)

    full = CaptureWriter("/dev/full")
    full.write(lines[0])
    full.flush()  # ENOSPC: counted and logged, not raised
    full.write(lines[1])
    full.close()
    assert (full.values, full.lost) == (0, 2)
    assert "disk full" in caplog.text
