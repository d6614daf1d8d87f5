"""The OTLP protobuf request made from drafts (sinks/otlp_proto.py) is the SDK encoder's own.

What a Collector receives must not depend on which encoder made it: every request is compared,
parsed and as bytes, with ``encode_spans`` of the same spans, over every bundled capture, over
hostile text, over spans that are not KubeSpans, and after the trip through a real OTLP gRPC
receiver (tests/otlp_receivers.py); the size bound the sink splits batches by must hold
against it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, TraceFlags

from kspan_py.cli import main
from kspan_py.config import OtlpSettings
from kspan_py.sinks.otlp import BoundedOtlpSink, make_otlp_exporter
from kspan_py.sinks.otlp_proto import DraftEncoder, EncodedChunk, _RequestBeingFilled
from kspan_py.sinks.otlp_proto_grpc import DraftOtlpGrpcSpanExporter
from kspan_py.sinks.otlp_size import encoded_size_bound
from kspan_py.spans.building import SCOPE, KubeSpan, SpanBuilder, SpanDraft
from tests.hostile_messages import CRAFTED, hostile_event
from tests.otlp_receivers import GrpcReceiver, HttpReceiver, grpc_receiver, http_receiver
from tests.test_export_bounds import FOUR_BYTES, _hostile_spans, event_line
from tests.test_hostile_text import ESCAPES, HOSTILE, MARKUP
from tests.tracing import CAPTURES, replay_file, replay_lines

__all__ = ["grpc_receiver", "http_receiver"]  # fixtures, used by name

ROLLOUT = CAPTURES / "real-1.36" / "rollout.core.jsonl"


@pytest.fixture(autouse=True)
def _no_ambient_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("OTEL_", "KSPAN_")):
            monkeypatch.delenv(name)


def assert_encodes_as_the_sdk(spans: Sequence[ReadableSpan], what: object = "") -> None:
    ours = DraftEncoder().request(spans)
    theirs = encode_spans(spans)
    assert ours == theirs, what
    assert ours.SerializeToString(deterministic=True) == theirs.SerializeToString(
        deterministic=True
    ), what


def test_every_bundled_capture_encodes_as_the_sdks_encoder_encodes_it() -> None:
    captures = sorted(CAPTURES.rglob("*.jsonl"))
    assert len(captures) >= 20
    for capture in captures:
        spans = replay_file(capture)
        assert spans and all(isinstance(span, KubeSpan) for span in spans), capture
        assert_encodes_as_the_sdk(spans, capture)


def test_retimed_spans_and_spans_of_repeats_links_and_errors_encode_as_the_sdks() -> None:
    spans = [span for path in CAPTURES.glob("*.jsonl") for span in replay_file(path)]
    kube_spans = [span for span in spans if isinstance(span, KubeSpan)]
    # The captures hold every part a draft adds, or this test proves less than it says.
    assert any(span.draft.span_events() for span in kube_spans)
    assert any(span.draft.links for span in kube_spans)
    assert any(span.draft.error_message for span in kube_spans)
    assert any(span.draft.parent_id is None for span in kube_spans)
    retimed = [KubeSpan(span.draft, span.resource, shift_ns=86_400 * 10**9) for span in kube_spans]
    assert_encodes_as_the_sdk(retimed)


def test_an_event_seen_only_in_its_final_state_keeps_the_span_event_of_its_last_occurrence() -> (
    None
):
    """No repeats folded in, yet one span event (the count it was seen at, where it happened):
    no bundled capture has one."""
    spans = replay_lines([event_line(0, "seen late", count=5, at="2026-11-24T16:34:30Z")])
    assert len(spans) == 1
    assert_encodes_as_the_sdk(spans)
    (event,) = DraftEncoder().request(spans).resource_spans[0].scope_spans[0].spans[0].events
    assert event.name == "BackOff"


def test_hostile_text_encodes_as_the_sdks(tmp_path: Path) -> None:
    """Terminal escapes, markup, 4-byte characters, messages past the value length limit and
    repeats of them, in names, components, attributes, span events and statuses."""
    lines = [
        event_line(0, HOSTILE + MARKUP),
        event_line(1, FOUR_BYTES * 100_000),
        event_line(2, "é" * 10, count=1, uid="u-2"),
        *(
            event_line(
                2, f"{n}: {HOSTILE}{FOUR_BYTES * n}", count=n, watch_type="MODIFIED", uid="u-2"
            )
            for n in range(2, 40)
        ),
    ]
    body = json.loads(event_line(3, "Started"))
    body["object"]["reason"] = f"Evil{ESCAPES['screen clear']}"
    body["object"]["source"] = {"component": f"kube{ESCAPES['window title']}let", "host": "ñ"}
    body["object"]["involvedObject"]["name"] = f"pod{HOSTILE}"
    lines.append(json.dumps(body))
    spans = replay_lines(lines)
    assert len(spans) >= 4
    assert_encodes_as_the_sdk(spans)
    # Each rule's worst crafted message, at a length past the value limit.
    builder = SpanBuilder(cluster_name=FOUR_BYTES * 3)
    crafted = []
    for index, form in enumerate(CRAFTED):
        event = form.event(50_000)
        draft = SpanDraft(7, 100 + index, 5, event.time_ns, event.time_ns, event, "crafted")
        crafted.append(builder.build(draft))
    assert_encodes_as_the_sdk(crafted)


def test_a_value_protobuf_refuses_is_left_to_the_sdks_encoder() -> None:
    """A lone surrogate cannot be encoded: the SDK's encoder drops the attribute that holds it
    (and logs it), or refuses the request when the span's name or status holds it."""
    builder = SpanBuilder()
    normal = hostile_event("Pulled", "lone \udcff surrogate", type_="Normal")
    span = builder.build(SpanDraft(1, 2, None, normal.time_ns, normal.time_ns, normal, "x"))
    fine = builder.build(SpanDraft(1, 3, 2, normal.time_ns, normal.time_ns, normal, "y"))
    assert_encodes_as_the_sdk([fine, span, fine])

    warning = hostile_event("BackOff", "lone \udcff surrogate")
    refused = builder.build(SpanDraft(1, 4, None, warning.time_ns, warning.time_ns, warning, ""))
    with pytest.raises(ValueError) as sdk_error:
        encode_spans([refused])
    with pytest.raises(type(sdk_error.value)):
        DraftEncoder().request([fine, refused])


def test_a_resource_attribute_protobuf_refuses_is_left_out_as_the_sdks_encoder_leaves_it() -> None:
    """OTEL_RESOURCE_ATTRIBUTES that was not UTF-8 reaches Python as lone surrogates."""
    resource = Resource({"ok": "v", "bad": "x\udcffy", "list": ["p", "\udcff"], "n": 1})
    assert _resource_attributes_kept(resource) == ["ok", "n"]


def test_a_resource_attribute_whose_key_protobuf_refuses_takes_nothing_else_with_it() -> None:
    """A key that is not UTF-8 is refused before anything of it is added: the attribute
    before it stays, as the SDK's encoder keeps it."""
    resource = Resource({"service.name": "svc", "good": "g", "bad\udcff": "v", "after": "a"})
    assert _resource_attributes_kept(resource) == ["service.name", "good", "after"]


def _resource_attributes_kept(resource: Resource) -> list[str]:
    """The rollout's spans under resource: encoded as the SDK encodes them; the keys kept."""
    spans = [
        KubeSpan(span.draft, resource)
        for span in replay_file(ROLLOUT)
        if isinstance(span, KubeSpan)
    ]
    assert_encodes_as_the_sdk(spans)
    kept = DraftEncoder().request(spans).resource_spans[0].resource.attributes
    return [kv.key for kv in kept]


def test_spans_that_are_not_kube_spans_are_encoded_by_the_sdks_encoder_among_the_others() -> None:
    """Lists, numbers, remote parents, other scopes; resources equal but not the same object,
    their spans interleaved: grouped as the SDK groups them, in the order given."""
    assert_encodes_as_the_sdk(_mixed_spans())


def _mixed_spans() -> list[ReadableSpan]:
    """KubeSpans of the rollout interleaved with hostile spans that are not, under resources
    equal but not the same object, and other scopes."""
    kube_spans = replay_file(ROLLOUT)
    others = _hostile_spans()
    twin = Resource(dict(kube_spans[0].resource.attributes), kube_spans[0].resource.schema_url)
    assert twin == kube_spans[0].resource and twin is not kube_spans[0].resource
    remote = SpanContext(9, 99, is_remote=True, trace_flags=TraceFlags(1))
    other_scope = InstrumentationScope("other", None, "https://example.com/schema", {"k": "v"})
    for index, span in enumerate(others[:10]):
        others[index] = ReadableSpan(
            name=span.name,
            context=span.context,
            parent=remote if index % 2 else None,
            resource=twin if index % 3 else Resource({}, "https://opentelemetry.io/schemas/1.2"),
            attributes=span.attributes,
            events=span.events,
            status=span.status,
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=(None, SCOPE, other_scope, other_scope)[index % 4],
        )
    mixed: list[ReadableSpan] = []
    for index in range(max(len(kube_spans), len(others))):
        mixed.extend(kube_spans[index : index + 1])
        mixed.extend(others[index : index + 1])
    return mixed


@pytest.mark.parametrize(
    ("max_spans", "max_bytes"), [(3, 1 << 20), (1000, 9_000), (7, 20_000), (1000, 2_500)]
)
def test_the_grpc_sinks_chunks_are_requests_made_as_they_are_sized(
    max_spans: int, max_bytes: int
) -> None:
    """The gRPC exporter's chunks carry their request, made while the spans were sized: each
    is what the SDK's encoder makes of the chunk (no group left behind by a span that moved
    to the next request), within the limits, the spans all there in their order."""
    spans = _mixed_spans()
    sink = make_otlp_exporter(OtlpSettings(max_request_spans=max_spans))
    sink.max_bytes = max_bytes
    try:
        chunks = list(sink.chunks(spans))
    finally:
        sink.shutdown()
    assert len(chunks) > 1
    for chunk in chunks:
        assert isinstance(chunk, EncodedChunk)
        theirs = encode_spans(chunk)
        assert chunk.request == theirs
        assert chunk.request.SerializeToString(deterministic=True) == theirs.SerializeToString(
            deterministic=True
        )
        assert len(chunk) <= max_spans
        assert chunk.request.ByteSize() <= max_bytes or len(chunk) == 1
    sent = [span for chunk in chunks for span in chunk]
    assert [span.context.span_id for span in sent] == [span.context.span_id for span in spans]
    # A span over max_bytes alone goes with its values cut, and is counted.
    assert sink.shrunk == sum(
        1 for ours, given in zip(sent, spans, strict=True) if ours is not given
    )


def test_requests_over_thousands_of_resources_group_equal_ones_as_the_sdks_encoder() -> None:
    """A resource per (component, instance): a run over a large cluster, or one whose Events
    make up instances, meets more than the encoder keeps. Equal resources that are not the
    same object, some already seen, some forgotten, are still one group per request."""
    kube_spans = [span for span in replay_file(ROLLOUT) if isinstance(span, KubeSpan)]
    spans: list[ReadableSpan] = []
    for index in range(3000):
        draft = kube_spans[index % len(kube_spans)].draft
        instance = {"service.name": "kubelet", "service.instance.id": f"node-{index % 1300}"}
        spans.append(KubeSpan(draft, Resource(instance), 0))
    encoder = DraftEncoder()
    made = list(encoder.chunks(spans, max_spans=700, max_bytes=1 << 30, shrink=_no_shrink))
    assert [len(chunk) for chunk in made] == [700, 700, 700, 700, 200]
    for chunk in made:
        theirs = encode_spans(chunk)
        assert len(chunk.request.resource_spans) == len({span.resource for span in chunk})
        assert chunk.request.SerializeToString(deterministic=True) == theirs.SerializeToString(
            deterministic=True
        )


def _no_shrink(span: ReadableSpan, size: int) -> ReadableSpan:
    raise AssertionError(f"no span is over the limit ({size} bytes)")


def test_a_span_the_sdks_encoder_refuses_too_leaves_the_export_to_fail_and_be_counted() -> None:
    """Chunking does not raise: the chunk is left unencoded, and its export raises, as the
    SDK's encoder does (the outlet logs and counts it); the other chunks are encoded."""
    builder = SpanBuilder()
    normal = hostile_event("Pulled", "fine")
    fine = builder.build(SpanDraft(1, 3, None, normal.time_ns, normal.time_ns, normal, "y"))
    warning = hostile_event("BackOff", "lone \udcff surrogate")
    refused = builder.build(SpanDraft(1, 4, None, warning.time_ns, warning.time_ns, warning, ""))
    sink = make_otlp_exporter(OtlpSettings(max_request_spans=1))
    try:
        chunks = list(sink.chunks([fine, refused]))
        assert [list(chunk) for chunk in chunks] == [[fine], [refused]]
        with pytest.raises(ValueError):
            sink.export(chunks[1])
    finally:
        sink.shutdown()


def test_the_size_bound_is_never_below_the_size_of_the_request_made_from_drafts() -> None:
    spans = _hostile_spans()
    for path in [*sorted((CAPTURES / "real-1.36").glob("*.jsonl")), *CAPTURES.glob("*.jsonl")]:
        spans.extend(replay_file(path))
    encoder = DraftEncoder()
    for span in spans:
        alone = encoder.request([span])
        resource = alone.resource_spans[0].resource.ByteSize()
        assert alone.ByteSize() - resource <= encoded_size_bound(span), span.name
    sink = BoundedOtlpSink(make_otlp_exporter(OtlpSettings()), max_spans=1000, max_bytes=20_000)
    try:
        for chunk in sink.chunks(spans):
            assert encoder.request(chunk).ByteSize() <= 20_000
    finally:
        sink.shutdown()


def _received(receiver: GrpcReceiver | HttpReceiver) -> list[ExportTraceServiceRequest]:
    return receiver.requests


def test_the_grpc_sink_sends_what_the_sdks_encoder_makes_through_the_sdks_transport(
    grpc_receiver: GrpcReceiver,
) -> None:
    spans = replay_file(ROLLOUT)
    sink = make_otlp_exporter(
        OtlpSettings(
            endpoint=grpc_receiver.endpoint,
            insecure=True,
            max_request_spans=10,
            headers=(("x-tenant", "shop"),),
        )
    )
    try:
        assert isinstance(sink.exporter, DraftOtlpGrpcSpanExporter)
        chunks = list(sink.chunks(spans))
        for chunk in chunks:
            assert sink.export(chunk).name == "SUCCESS"
    finally:
        sink.shutdown()
    assert _received(grpc_receiver) == [encode_spans(chunk) for chunk in chunks]
    assert len(chunks) == 5
    assert {headers["x-tenant"] for headers in grpc_receiver.headers} == {"shop"}


def test_the_exporters_own_settings_still_apply(
    grpc_receiver: GrpcReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The environment the SDK exporter reads (headers, compression) is read as before."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-from-env=yes")
    spans = replay_file(ROLLOUT)
    sink = make_otlp_exporter(OtlpSettings(endpoint=grpc_receiver.endpoint, insecure=True))
    try:
        assert sink.export(spans).name == "SUCCESS"
    finally:
        sink.shutdown()
    assert _received(grpc_receiver) == [encode_spans(spans)]
    assert grpc_receiver.headers[0]["x-from-env"] == "yes"


@pytest.mark.parametrize("capture", [ROLLOUT, CAPTURES / "node-failure-replacements.jsonl"])
def test_a_replay_reaches_grpc_and_http_receivers_as_the_same_requests(
    capture: Path,
    grpc_receiver: GrpcReceiver,
    http_receiver: HttpReceiver,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """gRPC's requests are made from drafts, OTLP/HTTP's by the SDK's encoder: a Collector
    receives the same spans whichever protocol it listens on."""
    for protocol, receiver in (("grpc", grpc_receiver), ("http/protobuf", http_receiver)):
        code = main(
            [
                *("replay", str(capture), "--exporter", "otlp", "--otlp-protocol", protocol),
                *("--otlp-endpoint", receiver.endpoint, "--otlp-insecure", "--otlp-timeout", "5s"),
            ]
        )
        assert code == 0, capsys.readouterr().err
    assert _received(grpc_receiver) == _received(http_receiver)
    assert grpc_receiver.spans() == http_receiver.spans()
    assert len(grpc_receiver.spans()) == len(replay_file(capture))


def test_each_span_counts_at_least_what_it_adds_to_the_request() -> None:
    """The bound counted while encoding (``_RequestBeingFilled.add``) is never below what the
    span, with any group made for it, adds to the request: over every bundled capture, hostile
    text, and spans that are not KubeSpans, alone and one after another."""
    spans = [*_hostile_spans(), *_mixed_spans()]
    for path in [*sorted((CAPTURES / "real-1.36").glob("*.jsonl")), *CAPTURES.glob("*.jsonl")]:
        spans.extend(replay_file(path))
    encoder = DraftEncoder()
    for span in spans:
        alone = _RequestBeingFilled(encoder)
        assert alone.add(span) >= alone.spans.request.ByteSize(), span.name
    for start in range(0, len(spans), 25):
        filling = _RequestBeingFilled(encoder)
        for span in spans[start : start + 25]:
            before = filling.spans.request.ByteSize()
            grown = filling.add(span)
            assert grown >= filling.spans.request.ByteSize() - before, span.name


def test_a_span_shrunk_before_a_refused_one_is_counted_once() -> None:
    """The encoder gives up on a request holding a span the SDK refuses too; the spans from
    that request on are chunked by the bound alone, and a span shrunk in it is counted (and
    logged) once, not once by each."""
    builder = SpanBuilder()
    large = hostile_event("BackOff", "x" * 4000)
    shrunk = builder.build(SpanDraft(1, 3, None, large.time_ns, large.time_ns, large, "y"))
    warning = hostile_event("BackOff", "lone \udcff surrogate")
    refused = builder.build(SpanDraft(1, 4, None, warning.time_ns, warning.time_ns, warning, ""))
    sink = make_otlp_exporter(OtlpSettings())
    sink.max_bytes = 3000
    try:
        chunks = list(sink.chunks([shrunk, refused]))
    finally:
        sink.shutdown()
    assert [span.context.span_id for chunk in chunks for span in chunk] == [3, 4]
    assert sink.shrunk == 1


def test_an_encoded_chunk_changed_after_it_was_made_is_encoded_again() -> None:
    spans = replay_file(ROLLOUT)
    sink = make_otlp_exporter(OtlpSettings(max_request_spans=10))
    try:
        chunk = next(iter(sink.chunks(spans)))
        assert isinstance(chunk, EncodedChunk) and chunk.holds_its_request()
        chunk.pop()
        assert not chunk.holds_its_request()
        exporter = sink.exporter
        assert isinstance(exporter, DraftOtlpGrpcSpanExporter)
        assert exporter._translate_data(chunk) == encode_spans(chunk)
    finally:
        sink.shutdown()
