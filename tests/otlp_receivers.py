"""Real, in-process OTLP trace receivers for tests: a gRPC TraceService and an OTLP/HTTP endpoint.

Both listen on 127.0.0.1 with an ephemeral port, keep every ExportTraceServiceRequest and the
headers it came with, and stop (joining their threads) when the fixture is torn down. Use the
fixtures from a test module by importing them::

    from tests.otlp_receivers import grpc_receiver, http_receiver

The exporter under test answers only after the receiver has stored a request, so after a
synchronous export everything sent is already here; ``wait_for_spans`` is for anything else.
"""

from __future__ import annotations

import gzip
import threading
import zlib
from collections.abc import Iterator, Mapping, Sequence
from concurrent import futures
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import (
    TraceServiceServicer,
    add_TraceServiceServicer_to_server,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

Request = TypeVar("Request")

ResourceSpan = tuple[dict[str, Any], Span]
"""One received span with its resource's attributes as a plain dict."""

_STOP_TIMEOUT_S = 10.0

COLLECTOR_GRPC_MAX_RECEIVE_BYTES = 4 * 1024 * 1024
"""The Collector's OTLP gRPC receiver refuses a larger request (``max_recv_msg_size_mib: 4``)."""
COLLECTOR_HTTP_MAX_BODY_BYTES = 20 * 1024 * 1024
"""Its OTLP/HTTP receiver refuses a larger body (confighttp's ``max_request_body_size``)."""


def plain_value(value: AnyValue) -> Any:
    """An OTLP AnyValue as the Python value it holds (lists and dicts for arrays and kvlists)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [plain_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return plain_attributes(value.kvlist_value.values)
    return getattr(value, kind)


def plain_attributes(attributes: Sequence[KeyValue]) -> dict[str, Any]:
    return {kv.key: plain_value(kv.value) for kv in attributes}


class RequestStore(Generic[Request]):
    """What every receiver shares, whatever the signal: the requests it took, their headers,
    the attempts it refused, and a failing switch (tests/otlp_logs_receiver.py uses it too)."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._requests: list[Request] = []
        self._headers: list[dict[str, str]] = []
        self._refused: list[dict[str, str]] = []
        self.failing = False
        """When true, every export is refused (gRPC UNAVAILABLE, HTTP 503) and nothing stored."""
        self.endpoint = ""

    def _take(self, request: Request | None, headers: Mapping[str, str]) -> bool:
        """Store a request (None: it could not be decoded or taken); False when refusing."""
        with self._changed:
            lowered = {k.lower(): v for k, v in headers.items()}
            if self.failing or request is None:
                self._refused.append(lowered)
                self._changed.notify_all()
                return False
            self._requests.append(request)
            self._headers.append(lowered)
            self._changed.notify_all()
            return True

    @property
    def requests(self) -> list[Request]:
        with self._changed:
            return list(self._requests)

    @property
    def headers(self) -> list[dict[str, str]]:
        """The headers (lowercase names) of each stored request, in arrival order."""
        with self._changed:
            return list(self._headers)

    @property
    def refused(self) -> int:
        """How many export attempts were refused (failing mode) or could not be taken."""
        with self._changed:
            return len(self._refused)


class _Receiver(RequestStore[ExportTraceServiceRequest]):
    """The traces receivers' own part: spans, and waiting for them."""

    def spans(self) -> list[ResourceSpan]:
        return [
            (plain_attributes(resource_spans.resource.attributes), span)
            for request in self.requests
            for resource_spans in request.resource_spans
            for scope_spans in resource_spans.scope_spans
            for span in scope_spans.spans
        ]

    def _span_count(self) -> int:
        return sum(
            len(scope_spans.spans)
            for request in self._requests
            for resource_spans in request.resource_spans
            for scope_spans in resource_spans.scope_spans
        )

    def wait_for_spans(self, count: int, timeout: float = 10.0) -> list[ResourceSpan]:
        """Wait (on a condition, not a clock) until at least count spans have arrived."""
        with self._changed:
            if not self._changed.wait_for(lambda: self._span_count() >= count, timeout):
                raise AssertionError(
                    f"{self.endpoint}: {self._span_count()} spans after {timeout}s, wanted {count}"
                )
        return self.spans()


class _TraceService(TraceServiceServicer):
    def __init__(self, receiver: GrpcReceiver) -> None:
        self._receiver = receiver

    def Export(
        self, request: ExportTraceServiceRequest, context: grpc.ServicerContext
    ) -> ExportTraceServiceResponse:
        metadata = {item.key: str(item.value) for item in context.invocation_metadata()}
        if not self._receiver._take(request, metadata):
            context.abort(grpc.StatusCode.UNAVAILABLE, "test receiver is refusing exports")
        return ExportTraceServiceResponse()


class GrpcReceiver(_Receiver):
    """An OTLP/gRPC TraceService; ``endpoint`` is ``http://127.0.0.1:PORT`` (plaintext).

    Like a Collector, it refuses a request larger than ``max_receive_bytes`` (gRPC answers
    RESOURCE_EXHAUSTED before the service sees it; ``refused`` does not count those)."""

    def __init__(
        self, port: int = 0, *, max_receive_bytes: int = COLLECTOR_GRPC_MAX_RECEIVE_BYTES
    ) -> None:
        """port 0: a free one; a port given: a collector coming back where it was."""
        super().__init__()
        self._executor = futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="otlp-grpc")
        self._server = grpc.server(
            self._executor, options=[("grpc.max_receive_message_length", max_receive_bytes)]
        )
        add_TraceServiceServicer_to_server(_TraceService(self), self._server)
        self.port = self._server.add_insecure_port(f"127.0.0.1:{port}")
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._threads: set[threading.Thread] = set()

    def start(self) -> GrpcReceiver:
        before = set(threading.enumerate())
        self._server.start()
        self._threads = set(threading.enumerate()) - before  # grpc's serving thread
        return self

    def stop(self) -> None:
        stopped = self._server.stop(grace=None)
        if not stopped.wait(_STOP_TIMEOUT_S):
            raise AssertionError("gRPC receiver did not stop")
        self._executor.shutdown(wait=True)
        _join(self._threads, "gRPC receiver")


class _OtlpHttpHandler(BaseHTTPRequestHandler):
    server: _OtlpHttpServer
    protocol_version = "HTTP/1.0"  # one request a connection: handler threads end with it

    def do_POST(self) -> None:
        if urlsplit(self.path).path != "/v1/traces":
            self._reply(HTTPStatus.NOT_FOUND, b"")
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > self.server.receiver.max_body_bytes:
            # As a Collector does (read, so that the client sees the answer, not a reset).
            self.rfile.read(length)
            self.server.receiver.too_large += 1
            self._reply(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, b"")
            return
        body = self.rfile.read(length)
        content_type = (self.headers.get_content_type() or "").lower()
        if content_type != "application/x-protobuf":
            self.server.receiver._take(None, dict(self.headers.items()))
            self._reply(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, b"")
            return
        request = self._decode(body, (self.headers.get("Content-Encoding") or "").lower())
        if not self.server.receiver._take(request, dict(self.headers.items())):
            status = HTTPStatus.BAD_REQUEST if request is None else HTTPStatus.SERVICE_UNAVAILABLE
            self._reply(status, b"")
            return
        self._reply(HTTPStatus.OK, ExportTraceServiceResponse().SerializeToString())

    @staticmethod
    def _decode(body: bytes, encoding: str) -> ExportTraceServiceRequest | None:
        try:
            if encoding == "gzip":
                body = gzip.decompress(body)
            elif encoding == "deflate":
                body = zlib.decompress(body)
            elif encoding not in ("", "identity"):
                return None
            return ExportTraceServiceRequest.FromString(body)
        except Exception:
            return None

    def _reply(self, status: HTTPStatus, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the default writes every request to stderr, which tests read


class _OtlpHttpServer(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins the handler threads
    block_on_close = True

    def __init__(self, receiver: HttpReceiver) -> None:
        super().__init__(("127.0.0.1", 0), _OtlpHttpHandler)
        self.receiver = receiver


class HttpReceiver(_Receiver):
    """An OTLP/HTTP (protobuf) endpoint; ``endpoint`` is the base ``http://127.0.0.1:PORT``
    (POST to ``endpoint + "/v1/traces"``)."""

    def __init__(self, *, max_body_bytes: int = COLLECTOR_HTTP_MAX_BODY_BYTES) -> None:
        super().__init__()
        self.max_body_bytes = max_body_bytes
        self.too_large = 0
        """Requests refused for their size (413)."""
        self._server = _OtlpHttpServer(self)
        self.port = self._server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="otlp-http", daemon=True
        )

    def start(self) -> HttpReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        _join({self._thread}, "HTTP receiver")


def _join(threads: set[threading.Thread], owner: str) -> None:
    for thread in threads:
        thread.join(_STOP_TIMEOUT_S)
    if alive := [thread.name for thread in threads if thread.is_alive()]:
        raise AssertionError(f"{owner}: threads still running after stop: {alive}")


@pytest.fixture
def grpc_receiver() -> Iterator[GrpcReceiver]:
    receiver = GrpcReceiver().start()
    try:
        yield receiver
    finally:
        receiver.stop()


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver().start()
    try:
        yield receiver
    finally:
        receiver.stop()
