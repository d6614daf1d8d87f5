"""The OTLP/JSON encoding: it must say exactly what the SDK's protobuf encoding says."""

from __future__ import annotations

import base64
import json
from typing import Any

from google.protobuf.json_format import Parse
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from kspan_py.sinks.otlp_json import request_json
from kspan_py.spans.building import KubeSpan
from tests.tracing import CAPTURES, replay_file


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
