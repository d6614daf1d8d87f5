"""The sinks as a user meets them: `kspan-py replay` into real OTLP receivers (gRPC and HTTP), into
an OTLP/JSON file, into a collector that is down, and onto the console."""

from __future__ import annotations

import base64
import json
import os
import re
import socket
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.json_format import Parse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.export import SpanExportResult

from kspan_py.appending import WRITE_BYTES
from kspan_py.cli import main
from kspan_py.sinks.otlp_json import OtlpJsonFileSink, request_json
from kspan_py.spans.building import KubeSpan
from tests.otlp_receivers import (
    GrpcReceiver,
    HttpReceiver,
    ResourceSpan,
    grpc_receiver,
    http_receiver,
    plain_attributes,
)
from tests.test_export_bounds import export_under_file_size_limit
from tests.tracing import CAPTURES, replay_file

__all__ = ["grpc_receiver", "http_receiver"]  # fixtures, used by name

ROLLOUT = str(CAPTURES / "real-1.36" / "rollout.core.jsonl")
ROLLOUT_SPANS, ROLLOUT_TRACES = 41, 2
CHANGE_ROOTS = (".Create", ".Update")
"""Span names of the changes (an act on an object) that root the traces; they are not events."""


@pytest.fixture(autouse=True)
def _no_ambient_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The exporters read OTEL_EXPORTER_OTLP_* themselves: a developer's own must not leak in."""
    for name in list(os.environ):
        if name.startswith(("OTEL_", "KSPAN_")):
            monkeypatch.delenv(name)


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port with nothing listening: bound (so no one else takes it) but refusing connections."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def replay(*args: str) -> int:
    return main(["replay", ROLLOUT, *args])


def grpc_args(receiver: GrpcReceiver) -> list[str]:
    return [
        *("--exporter", "otlp", "--otlp-protocol", "grpc"),
        *("--otlp-endpoint", receiver.endpoint, "--otlp-insecure"),
    ]


def http_args(receiver: HttpReceiver) -> list[str]:
    return [
        *("--exporter", "otlp", "--otlp-protocol", "http/protobuf"),
        *("--otlp-endpoint", receiver.endpoint),
    ]


def summary_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("kspan-py: read ")]
    assert len(lines) == 1, stderr
    return lines[0]


def span_keys(spans: list[Span]) -> set[tuple[str, str, str, str]]:
    return {(s.trace_id.hex(), s.span_id.hex(), s.parent_span_id.hex(), s.name) for s in spans}


def check_rollout_trees(received: list[ResourceSpan]) -> None:
    """What a tracing backend shows for the rollout: two whole trees, every span attributed."""
    spans = [span for _, span in received]
    assert len(spans) == ROLLOUT_SPANS
    ids = {span.span_id for span in spans}
    assert len(ids) == ROLLOUT_SPANS, "span ids are unique"
    assert all(len(span.span_id) == 8 and len(span.trace_id) == 16 for span in spans)
    assert len({span.trace_id for span in spans}) == ROLLOUT_TRACES

    roots = [span for span in spans if not span.parent_span_id]
    assert sorted(span.name for span in roots) == ["Deployment.Create", "Deployment.Update"]
    assert len({span.trace_id for span in roots}) == ROLLOUT_TRACES, "one root a trace"
    by_id = {span.span_id: span for span in spans}
    for span in spans:
        if span.parent_span_id:
            assert span.parent_span_id in by_id, f"{span.name}: parent was not received"
            assert by_id[span.parent_span_id].trace_id == span.trace_id

    for resource, span in received:
        assert resource.get("service.name"), f"{span.name}: resource without service.name"
        attributes = plain_attributes(span.attributes)
        if span.name.endswith(CHANGE_ROOTS):
            assert "k8s.event.uid" not in attributes, span.name
        elif attributes.get("kspan.lifecycle"):  # a phase read from status
            assert "k8s.event.uid" not in attributes, span.name
            assert span.end_time_unix_nano > span.start_time_unix_nano, span.name
        else:
            assert attributes.get("k8s.event.uid"), f"{span.name}: no k8s.event.uid"
    services = {resource["service.name"] for resource, _ in received}
    assert {"kubectl-create", "kubectl-set", "deployment-controller", "kubelet"} <= services


# --- OTLP over gRPC and HTTP -------------------------------------------------------------------


def test_otlp_grpc_delivers_both_traces_whole(
    grpc_receiver: GrpcReceiver, capsys: pytest.CaptureFixture[str]
) -> None:
    assert replay(*grpc_args(grpc_receiver), "--otlp-header", "x-tenant=acme") == 0

    check_rollout_trees(grpc_receiver.spans())
    assert grpc_receiver.headers, "no export request arrived"
    assert all(h.get("x-tenant") == "acme" for h in grpc_receiver.headers)
    line = summary_line(capsys.readouterr().err)
    assert f"{ROLLOUT_SPANS} spans in {ROLLOUT_TRACES} traces" in line
    assert "not exported" not in line


def test_otlp_http_delivers_the_same_spans_as_grpc(
    grpc_receiver: GrpcReceiver,
    http_receiver: HttpReceiver,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert replay(*grpc_args(grpc_receiver)) == 0
    assert "not exported" not in summary_line(capsys.readouterr().err)
    assert replay(*http_args(http_receiver), "--otlp-header", "x-tenant=acme") == 0

    check_rollout_trees(http_receiver.spans())
    # Ids are derived from the capture, so a replay over any transport names the same spans.
    assert span_keys([s for _, s in http_receiver.spans()]) == span_keys(
        [s for _, s in grpc_receiver.spans()]
    )
    assert http_receiver.headers
    for headers in http_receiver.headers:
        assert headers.get("x-tenant") == "acme"
        assert headers["content-type"] == "application/x-protobuf"
    assert "not exported" not in summary_line(capsys.readouterr().err)


def test_otlp_header_names_are_case_insensitive_over_grpc(grpc_receiver: GrpcReceiver) -> None:
    assert replay(*grpc_args(grpc_receiver), "--otlp-header", "X-Tenant=acme") == 0
    assert len(grpc_receiver.spans()) == ROLLOUT_SPANS
    assert all(h.get("x-tenant") == "acme" for h in grpc_receiver.headers)


@pytest.mark.parametrize(
    "path",
    [
        "",
        "/",
        "/v1/traces",
        "/v1/traces/",
    ],
)
def test_otlp_http_endpoint_with_or_without_the_signal_path(
    path: str, http_receiver: HttpReceiver
) -> None:
    endpoint = http_receiver.endpoint + path
    assert (
        replay(
            "--exporter", "otlp", "--otlp-protocol", "http/protobuf", "--otlp-endpoint", endpoint
        )
        == 0
    )
    assert len(http_receiver.spans()) == ROLLOUT_SPANS


@pytest.mark.parametrize(
    "variable", ["OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"]
)
def test_otel_protocol_variable_selects_http_without_a_flag(
    variable: str,
    http_receiver: HttpReceiver,
    grpc_receiver: GrpcReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(variable, "http/protobuf")
    assert replay("--exporter", "otlp", "--otlp-endpoint", http_receiver.endpoint) == 0
    check_rollout_trees(http_receiver.spans())
    assert grpc_receiver.requests == []


def test_otlp_protocol_flag_wins_over_the_variable(
    grpc_receiver: GrpcReceiver, http_receiver: HttpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    assert replay(*grpc_args(grpc_receiver)) == 0
    assert len(grpc_receiver.spans()) == ROLLOUT_SPANS
    assert http_receiver.requests == []


def test_otlp_http_configured_by_otel_variables_alone(
    http_receiver: HttpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", http_receiver.endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=acme")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
    assert replay("--exporter", "otlp") == 0

    check_rollout_trees(http_receiver.spans())
    for headers in http_receiver.headers:
        assert headers.get("x-tenant") == "acme"
        assert headers.get("content-encoding") == "gzip"


def test_otlp_grpc_configured_by_otel_variables_alone(
    grpc_receiver: GrpcReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", grpc_receiver.endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_INSECURE", "true")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=acme")
    assert replay("--exporter", "otlp") == 0

    check_rollout_trees(grpc_receiver.spans())
    assert all(h.get("x-tenant") == "acme" for h in grpc_receiver.headers)


# --- OTLP/JSON file ----------------------------------------------------------------------------

_HEX_IDS = ("traceId", "spanId", "parentSpanId")


def hex_ids_to_base64(node: Any) -> Any:
    """OTLP/JSON writes ids as hex; protobuf's JSON parser reads bytes fields as base64."""
    if isinstance(node, dict):
        return {
            key: base64.b64encode(bytes.fromhex(value)).decode()
            if key in _HEX_IDS
            else hex_ids_to_base64(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [hex_ids_to_base64(value) for value in node]
    return node


def json_spans(request: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for resource_spans in request["resourceSpans"]:
        for scope_spans in resource_spans["scopeSpans"]:
            yield from scope_spans["spans"]


def test_otlp_json_file_is_otlp_and_matches_what_a_collector_receives(
    grpc_receiver: GrpcReceiver, tmp_path: Path
) -> None:
    path = tmp_path / "rollout.jsonl"
    assert (
        replay(*grpc_args(grpc_receiver), "--exporter", "otlp-json", "--otlp-json-file", str(path))
        == 0
    )

    lines = path.read_bytes().splitlines()
    assert lines, "the file is empty"
    parsed = []
    for line in lines:
        request = json.loads(line)
        for span in json_spans(request):
            assert re.fullmatch(r"[0-9a-f]{32}", span["traceId"]), span["traceId"]
            assert re.fullmatch(r"[0-9a-f]{16}", span["spanId"]), span["spanId"]
            if "parentSpanId" in span:
                assert re.fullmatch(r"[0-9a-f]{16}", span["parentSpanId"])
            assert type(span["kind"]) is int
            assert type(span["status"].get("code", 0)) is int
            assert isinstance(span["startTimeUnixNano"], str)
            assert span["startTimeUnixNano"].isdecimal()
            assert isinstance(span["endTimeUnixNano"], str)
            assert span["endTimeUnixNano"].isdecimal()
        parsed.append(Parse(json.dumps(hex_ids_to_base64(request)), ExportTraceServiceRequest()))

    file_spans = [
        (plain_attributes(rs.resource.attributes), span)
        for request in parsed
        for rs in request.resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
    ]
    check_rollout_trees(file_spans)
    assert span_keys([s for _, s in file_spans]) == span_keys([s for _, s in grpc_receiver.spans()])
    # Same batches, same encoding: each line is the request the collector received.
    assert parsed == grpc_receiver.requests


def test_otlp_json_file_is_byte_identical_across_replays(tmp_path: Path) -> None:
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    assert replay("--exporter", "otlp-json", "--otlp-json-file", str(first)) == 0
    assert replay("--exporter", "otlp-json", "--otlp-json-file", str(second)) == 0
    assert first.read_bytes()
    assert first.read_bytes() == second.read_bytes()


BIG_LISTING = CAPTURES / "big-listing.jsonl"


def test_a_line_written_in_several_writes_is_taken_back_whole_when_the_disk_fills(
    tmp_path: Path,
) -> None:
    """A line is written as its spans are encoded, a write at a time: the disk filling up
    after the first writes of a line leaves none of it, so a retry starts on a clean end."""
    spans = replay_file(BIG_LISTING)
    small, big = len(request_json(spans[:5])) + 1, len(request_json(spans[5:])) + 1
    assert big > 2 * WRITE_BYTES, "the second line takes several writes"
    path = tmp_path / "spans.jsonl"
    outcome = export_under_file_size_limit(BIG_LISTING, path, small + WRITE_BYTES + 10)
    assert outcome == ["SUCCESS", "FAILURE", "write", "failed", "(EFBIG)"]
    assert path.read_bytes() == request_json(spans[:5]) + b"\n"


def test_a_span_that_cannot_be_encoded_leaves_no_part_of_its_line(tmp_path: Path) -> None:
    """A value JSON cannot carry (a lone surrogate: what Python makes of a byte that is not
    UTF-8 in an argument or a variable, here in a service.name) fails the export after the
    first spans of the line were written: they are taken back, and the file still holds
    whole lines only."""
    spans = replay_file(BIG_LISTING)
    last = spans[-1]
    assert isinstance(last, KubeSpan)
    unencodable = KubeSpan(last.draft, Resource({"service.name": "not UTF-8: \udcff"}))
    path = tmp_path / "spans.jsonl"
    sink = OtlpJsonFileSink(str(path))
    assert sink.export(spans[:5]) is SpanExportResult.SUCCESS
    before = path.read_bytes()
    assert len(request_json(spans)) > 2 * WRITE_BYTES, "the bad span comes after whole writes"
    with pytest.raises((TypeError, ValueError), match="surrogates not allowed"):
        sink.export([*spans, unencodable])
    assert path.read_bytes() == before
    assert sink.export(spans[5:]) is SpanExportResult.SUCCESS
    sink.shutdown()
    assert path.read_bytes() == before + request_json(spans[5:]) + b"\n"


# --- a collector that is down ------------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_refusing_collector_is_reported_not_silently_lost(
    protocol: str,
    grpc_receiver: GrpcReceiver,
    http_receiver: HttpReceiver,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    receiver = grpc_receiver if protocol == "grpc" else http_receiver
    receiver.failing = True
    path = tmp_path / "rollout.jsonl"
    args = grpc_args(grpc_receiver) if protocol == "grpc" else http_args(http_receiver)
    code = replay(
        *args, "--otlp-timeout", "1s", "--exporter", "otlp-json", "--otlp-json-file", str(path)
    )

    assert code == 3  # done, but spans not exported
    assert receiver.refused >= 1, "the exporter never reached the receiver"
    assert receiver.requests == []
    line = summary_line(capsys.readouterr().err)
    assert f"{ROLLOUT_SPANS} spans in {ROLLOUT_TRACES} traces" in line
    assert line.endswith(f"spans not exported: {ROLLOUT_SPANS} to otlp"), line
    # The other sink is not held back by the failing one.
    assert (
        sum(len(list(json_spans(json.loads(x)))) for x in path.read_bytes().splitlines())
        == ROLLOUT_SPANS
    )


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_unreachable_collector_is_reported_not_silently_lost(
    protocol: str, closed_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    endpoint = f"http://127.0.0.1:{closed_port}"
    code = replay(
        *("--exporter", "otlp", "--otlp-protocol", protocol, "--otlp-endpoint", endpoint),
        *("--otlp-insecure", "--otlp-timeout", "1s"),
    )

    assert code == 3  # done, but spans not exported
    line = summary_line(capsys.readouterr().err)
    assert f"{ROLLOUT_SPANS} spans in {ROLLOUT_TRACES} traces" in line
    assert line.endswith(f"spans not exported: {ROLLOUT_SPANS} to otlp"), line


def test_otel_timeout_variable_bounds_a_down_collector(
    grpc_receiver: GrpcReceiver, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    grpc_receiver.failing = True
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")
    assert replay(*grpc_args(grpc_receiver)) == 3
    assert summary_line(capsys.readouterr().err).endswith(
        f"spans not exported: {ROLLOUT_SPANS} to otlp"
    )


# --- console -----------------------------------------------------------------------------------

_TRACE_HEADER = re.compile(r"trace (?P<id>[0-9a-f]{32})  \((?P<count>\d+) spans\)")
_SPAN_LINE = re.compile(r"  \+ *\S+ +\S+  (?P<indent> *)(?P<text>\S.*)")


def test_console_prints_one_indented_tree_per_trace(capsys: pytest.CaptureFixture[str]) -> None:
    assert replay("--exporter", "console", "--color", "never") == 0
    captured = capsys.readouterr()
    out = captured.out

    assert "\x1b[" not in out
    assert "kspan-py:" not in out, "the summary goes to stderr, not into the tree"
    assert f"{ROLLOUT_SPANS} spans in {ROLLOUT_TRACES} traces" in summary_line(captured.err)
    trees: list[tuple[re.Match[str], list[tuple[int, str]]]] = []
    for line in out.splitlines():
        if not line:
            continue
        if header := _TRACE_HEADER.fullmatch(line):
            trees.append((header, []))
            continue
        span = _SPAN_LINE.fullmatch(line)
        assert span is not None, f"not a span line: {line!r}"
        assert trees, "a span line before any trace header"
        depth, odd = divmod(len(span["indent"]), 2)
        assert not odd, line
        trees[-1][1].append((depth, span["text"]))

    assert len(trees) == ROLLOUT_TRACES
    assert len({header["id"] for header, _ in trees}) == ROLLOUT_TRACES
    for header, lines in trees:
        assert int(header["count"]) == len(lines)
        assert [depth for depth, _ in lines].count(0) == 1, "one root, first"
        assert lines[0][0] == 0
        # A child is indented exactly one step deeper than the line it hangs under.
        for (before, _), (after, _) in pairwise(lines):
            assert after <= before + 1
    assert sum(len(lines) for _, lines in trees) == ROLLOUT_SPANS

    create, update = (lines for _, lines in trees)
    assert create[0][1].startswith("kubectl-create  Deployment.Create")
    assert create[1] == (1, create[1][1])
    assert create[1][1].startswith("deployment-controller  Deployment.ScalingReplicaSet")
    assert update[0][1].startswith("kubectl-set  Deployment.Update")
    # Deployment > ReplicaSet > the Pod's life > what happened to the Pod
    assert max(depth for depth, _ in create) == 4
