"""The OTLP/JSON encoding: it must say exactly what the SDK's protobuf encoding says."""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path
from typing import Any

from google.protobuf.json_format import Parse
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult

from kspan_py.sinks.otlp_json import OtlpJsonFileSink, request_json
from kspan_py.spans.building import KubeSpan, SpanBuilder
from kspan_py.spans.limits import DEFAULT_VALUE_LENGTH
from tests.tracing import CAPTURES, replay_file, replay_lines


def _ids_to_base64(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: base64.b64encode(bytes.fromhex(v)).decode()
            if k in ("traceId", "spanId", "parentSpanId")
            else _ids_to_base64(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_ids_to_base64(v) for v in node]
    return node


def test_otlp_json_parses_back_into_the_sdks_own_protobuf_message() -> None:
    for capture in sorted(CAPTURES.rglob("*.jsonl")):
        spans = replay_file(capture)
        encoded = json.loads(request_json(spans))
        parsed = Parse(json.dumps(_ids_to_base64(encoded)), ExportTraceServiceRequest())
        assert parsed == encode_spans(spans), capture


def test_otlp_json_follows_the_json_rules() -> None:
    spans = replay_file(CAPTURES / "real-1.36" / "badpull.core.jsonl")
    request = json.loads(request_json(spans))
    for resource_spans in request["resourceSpans"]:
        keys = {a["key"] for a in resource_spans["resource"]["attributes"]}
        assert "service.name" in keys
        for span in resource_spans["scopeSpans"][0]["spans"]:
            assert len(span["traceId"]) == 32
            assert span["traceId"] == span["traceId"].lower()
            assert len(span["spanId"]) == 16
            assert isinstance(span["kind"], int)
            assert span["startTimeUnixNano"].isdigit()
            assert isinstance(span["status"].get("code", 0), int)
            counts = [a for a in span["attributes"] if a["key"] == "k8s.event.count"]
            assert all(c["value"]["intValue"].isdigit() for c in counts)
            if any(a["key"] == "k8s.event.uid" for a in span["attributes"]):
                assert counts, "every event span carries its count as an int64 string"


def test_spans_read_from_their_drafts_encode_as_the_sdks_own_spans() -> None:
    for capture in sorted(CAPTURES.rglob("*.jsonl")):
        spans = replay_file(capture)
        built_out = [span.built_out() for span in spans if isinstance(span, KubeSpan)]
        assert len(built_out) == len(spans)
        assert request_json(spans) == request_json(built_out), capture
        assert encode_spans(spans) == encode_spans(built_out), capture


def test_ids_of_every_size_are_written_as_the_sdks_spans_write_them() -> None:
    """Ids are written from their bytes: leading zero bytes stay, the largest ids fit."""
    spans = [s for s in replay_file(CAPTURES / "rolling-update.jsonl") if isinstance(s, KubeSpan)]
    odd_ids = [(1, 0xFF, 2), (2**128 - 1, 2**64 - 1, 2**64 - 1), (2**64, 2**56, None)]
    rebuilt = []
    for span, (trace_id, span_id, parent_id) in zip(spans, odd_ids, strict=False):
        draft = dataclasses.replace(
            span.draft,
            trace_id=trace_id,
            span_id=span_id,
            parent_id=parent_id,
            links=[(trace_id >> 8, span_id >> 8, "rollout")],
        )
        rebuilt.append(KubeSpan(draft, span.resource))
    assert len(rebuilt) == len(odd_ids)
    encoded = request_json(rebuilt)
    assert encoded == request_json([span.built_out() for span in rebuilt])
    assert b'"traceId":"00000000000000000000000000000001","spanId":"00000000000000ff"' in encoded
    assert (
        b'"links":[{"traceId":"00000000000000000000000000000000","spanId":"0000000000000000"'
        in encoded
    )


# What an Event's author or a cluster's admin may write: each must come out as valid JSON that
# says what the protobuf encoding says, on one line.
HOSTILE = [
    'say "no" \\ and \\"quote\\"',
    "".join(chr(c) for c in range(32)) + "\x7f",  # every control character; a newline among them
    "line\u2028separator\u2029paragraph \ufeffbom \u202eright-to-left\u202c",
    "non-BMP: \U0001f680 \U0001d518\U0001d52b\U0001d526 \U0010ffff",
    "</script><!-- {} [] , : -->",
    "",
]


def _hostile_event(
    message: str, *, name: str, count: int, last: str, watch_type: str = "ADDED"
) -> str:
    """A core/v1 Event as a watch shows it: ``count`` occurrences, the first at 10:00."""
    return json.dumps(
        {
            "type": watch_type,
            "object": {
                "kind": "Event",
                "apiVersion": "v1",
                "metadata": {
                    "name": f"{name}.1",
                    "namespace": "shop",
                    "uid": f"uid-{name}",
                    "resourceVersion": str(count),
                },
                "involvedObject": {
                    "kind": "Pod",
                    "namespace": "shop",
                    "name": name,
                    "uid": f"pod-{name}",
                    "apiVersion": "v1",
                    "fieldPath": f"spec.containers{{{message[:20]}}}",
                },
                "reason": f'Back"Off{message[:8]}',
                "message": message,
                "source": {"component": "kubelet", "host": "node-1"},
                "firstTimestamp": "2026-11-25T10:00:00Z",
                "lastTimestamp": last,
                "count": count,
                "type": "Warning",
                "reportingComponent": f"kubelet {message[:10]}",
                "reportingInstance": message[-12:],
            },
        }
    )


def _hostile_spans() -> list[ReadableSpan]:
    lines = []
    for index, text in enumerate(HOSTILE):  # each Event thrice: its span, a span of repeats
        for count in (1, 2, 3):
            last = f"2026-11-25T10:00:{count * 10:02d}Z"
            seen = "ADDED" if count == 1 else "MODIFIED"
            lines.append(
                _hostile_event(text, name=f"web-{index}", count=count, last=last, watch_type=seen)
            )
    # Past the value length limit, with a non-BMP character where the cut falls.
    long = "a" * (DEFAULT_VALUE_LENGTH - 1) + "\U0001f680" + "b" * 10
    lines.append(_hostile_event(long, name="web-long", count=1, last="2026-11-25T10:00:00Z"))
    spans = replay_lines(lines)
    builder = SpanBuilder(cluster_name='prod "eu"\n\U0001f680', service_name="svc\\\t")
    return [builder.build(span.draft) for span in spans if isinstance(span, KubeSpan)]


def test_hostile_strings_encode_as_valid_json_that_says_what_protobuf_says(
    tmp_path: Path,
) -> None:
    spans = _hostile_spans()
    assert len(spans) == 2 * len(HOSTILE) + 1
    path = tmp_path / "spans.jsonl"
    sink = OtlpJsonFileSink(str(path))
    assert sink.export(spans) is SpanExportResult.SUCCESS
    sink.shutdown()

    lines = path.read_bytes().split(b"\n")
    assert lines[1:] == [b""], "one request, on one line"
    encoded = json.loads(lines[0])
    parsed = Parse(json.dumps(_ids_to_base64(encoded)), ExportTraceServiceRequest())
    assert parsed == encode_spans(spans)
    messages = {
        a["value"]["stringValue"]
        for resource in encoded["resourceSpans"]
        for scope in resource["scopeSpans"]
        for span in scope["spans"]
        for a in span["attributes"]
        if a["key"] == "k8s.event.message"
    }
    long = "a" * (DEFAULT_VALUE_LENGTH - 1) + "\U0001f680"
    assert messages == {*HOSTILE, long}, "every message whole, the long one cut at the limit"
    # The same bytes as orjson writes for the SDK's own spans, built out as dicts.
    assert lines[0] == request_json([span.built_out() for span in spans])


def test_an_event_listed_with_earlier_occurrences_marks_its_last_in_the_file() -> None:
    """An Event first seen aggregated (count 5, a listing when a run starts): its span starts
    at the first occurrence and marks the last with a span event, in the file as over OTLP."""
    spans = replay_lines(
        [_hostile_event("Back-off", name="web", count=5, last="2026-11-25T10:04:00Z")]
    )
    encoded = json.loads(request_json(spans))
    parsed = Parse(json.dumps(_ids_to_base64(encoded)), ExportTraceServiceRequest())
    assert parsed == encode_spans(spans)
    [span] = [s for r in encoded["resourceSpans"] for ss in r["scopeSpans"] for s in ss["spans"]]
    [event] = span["events"]
    assert event["timeUnixNano"] == span["endTimeUnixNano"] != span["startTimeUnixNano"]
    counts = [a["value"]["intValue"] for a in event["attributes"] if a["key"] == "k8s.event.count"]
    assert counts == ["5"]
