"""Real, in-process OTLP logs receivers for tests: a gRPC LogsService and an OTLP/HTTP endpoint.

The logs counterpart of ``tests/otlp_receivers.py`` (same shape, same conventions). Both listen on
127.0.0.1 with an ephemeral port, keep every ExportLogsServiceRequest and the headers it came
with, and stop (joining their threads) when the fixture is torn down. Use the fixtures from a
test module by importing them::

    from tests.otlp_logs_receiver import grpc_logs_receiver, http_logs_receiver

Like a Collector, each refuses a request larger than ``max_receive_bytes`` (4 MiB by default,
the gRPC default that the Collector's OTLP gRPC receiver keeps as ``max_recv_msg_size_mib: 4``):
gRPC answers RESOURCE_EXHAUSTED (``grpc.max_receive_message_length``; the servicer never sees the
request), HTTP answers 413, measuring the body both as sent and decompressed. The Collector's
own HTTP default (``max_request_body_size``) is larger, 20 MiB: the 4 MiB here is the bound a
request must keep to be accepted on either transport. ``max_receive_bytes=None`` lifts it.

The HTTP receiver serves ``POST {path_prefix}/v1/logs`` only: ``HttpLogsReceiver(path_prefix=
"/otlp")`` answers where Loki's native OTLP endpoint does (``http://HOST:3100/otlp/v1/logs``),
and its ``endpoint`` is then the base URL including the prefix, as a user would configure it.

The exporter under test answers only after the receiver has stored a request, so after a
synchronous export everything sent is already here; ``wait_for_records`` is for anything else.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterator
from concurrent import futures
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

import grpc
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.logs.v1.logs_service_pb2_grpc import (
    LogsServiceServicer,
    add_LogsServiceServicer_to_server,
)
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from tests.otlp_receivers import RequestStore, _join, plain_attributes

ResourceLogRecord = tuple[dict[str, Any], InstrumentationScope, LogRecord]
"""One received log record with its resource's attributes as a plain dict, and its scope."""

COLLECTOR_MAX_RECEIVE_BYTES = 4 * 1024 * 1024
"""The OTLP gRPC receiver's default ``max_recv_msg_size_mib`` (4), in bytes."""

_STOP_TIMEOUT_S = 10.0
_READ_CHUNK = 1 << 16


class _LogsReceiver(RequestStore[ExportLogsServiceRequest]):
    """The logs receivers' own part: a size limit, records, and waiting for them. ``refused``
    counts failing mode and, on HTTP, a request that could not be decoded or was over
    ``max_receive_bytes`` (gRPC rejects an oversized message before the servicer runs)."""

    def __init__(self, max_receive_bytes: int | None) -> None:
        super().__init__()
        self.max_receive_bytes = max_receive_bytes

    def records(self) -> list[ResourceLogRecord]:
        """Every stored log record, in arrival order."""
        with self._changed:
            return self._records()

    def _records(self) -> list[ResourceLogRecord]:
        return [
            (plain_attributes(resource_logs.resource.attributes), scope_logs.scope, record)
            for request in self._requests
            for resource_logs in request.resource_logs
            for scope_logs in resource_logs.scope_logs
            for record in scope_logs.log_records
        ]

    def _record_count(self) -> int:
        return sum(
            len(scope_logs.log_records)
            for request in self._requests
            for resource_logs in request.resource_logs
            for scope_logs in resource_logs.scope_logs
        )

    def wait_for_records(self, count: int, timeout: float = 10.0) -> list[ResourceLogRecord]:
        """Wait (on a condition, not a clock) until at least count records have arrived."""
        with self._changed:
            if not self._changed.wait_for(lambda: self._record_count() >= count, timeout):
                raise AssertionError(
                    f"{self.endpoint}: {self._record_count()} log records after {timeout}s, "
                    f"wanted {count}"
                )
            return self._records()

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class _LogsService(LogsServiceServicer):
    def __init__(self, receiver: GrpcLogsReceiver) -> None:
        self._receiver = receiver

    def Export(
        self, request: ExportLogsServiceRequest, context: grpc.ServicerContext
    ) -> ExportLogsServiceResponse:
        metadata = {item.key: str(item.value) for item in context.invocation_metadata()}
        if not self._receiver._take(request, metadata):
            context.abort(grpc.StatusCode.UNAVAILABLE, "test receiver is refusing exports")
        return ExportLogsServiceResponse()


class GrpcLogsReceiver(_LogsReceiver):
    """An OTLP/gRPC LogsService; ``endpoint`` is ``http://127.0.0.1:PORT`` (plaintext)."""

    def __init__(
        self, port: int = 0, max_receive_bytes: int | None = COLLECTOR_MAX_RECEIVE_BYTES
    ) -> None:
        """port 0: a free one; a port given: a collector coming back where it was."""
        super().__init__(max_receive_bytes)
        self._executor = futures.ThreadPoolExecutor(
            max_workers=4, thread_name_prefix="otlp-logs-grpc"
        )
        limit = -1 if max_receive_bytes is None else max_receive_bytes
        self._server = grpc.server(
            self._executor, options=[("grpc.max_receive_message_length", limit)]
        )
        add_LogsServiceServicer_to_server(_LogsService(self), self._server)
        self.port = self._server.add_insecure_port(f"127.0.0.1:{port}")
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._threads: set[threading.Thread] = set()

    def start(self) -> Self:
        before = set(threading.enumerate())
        self._server.start()
        self._threads = set(threading.enumerate()) - before  # grpc's serving thread
        return self

    def stop(self) -> None:
        stopped = self._server.stop(grace=None)
        if not stopped.wait(_STOP_TIMEOUT_S):
            raise AssertionError("gRPC logs receiver did not stop")
        self._executor.shutdown(wait=True)
        _join(self._threads, "gRPC logs receiver")


class _TooLarge(Exception):
    pass


class _OtlpLogsHttpHandler(BaseHTTPRequestHandler):
    server: _OtlpLogsHttpServer
    protocol_version = "HTTP/1.0"  # one request a connection: handler threads end with it

    def do_POST(self) -> None:
        receiver = self.server.receiver
        # The whole body is read whatever the answer, so the client is never cut off mid-send.
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = dict(self.headers.items())
        if urlsplit(self.path).path != receiver.logs_path:
            self._reply(HTTPStatus.NOT_FOUND, b"")
            return
        content_type = (self.headers.get_content_type() or "").lower()
        if content_type != "application/x-protobuf":
            receiver._take(None, headers)
            self._reply(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, b"")
            return
        encoding = (self.headers.get("Content-Encoding") or "").lower()
        try:
            request = self._decode(body, encoding, receiver.max_receive_bytes)
        except _TooLarge:
            receiver._take(None, headers)
            self._reply(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, b"")
            return
        if not receiver._take(request, headers):
            status = HTTPStatus.BAD_REQUEST if request is None else HTTPStatus.SERVICE_UNAVAILABLE
            self._reply(status, b"")
            return
        self._reply(HTTPStatus.OK, ExportLogsServiceResponse().SerializeToString())

    @staticmethod
    def _decode(body: bytes, encoding: str, limit: int | None) -> ExportLogsServiceRequest | None:
        """The request in body (None: undecodable); _TooLarge over limit, sent or decompressed."""
        if limit is not None and len(body) > limit:
            raise _TooLarge
        try:
            if encoding == "gzip":
                body = _inflate(zlib.decompressobj(16 + zlib.MAX_WBITS), body, limit)
            elif encoding == "deflate":
                body = _inflate(zlib.decompressobj(), body, limit)
            elif encoding not in ("", "identity"):
                return None
            return ExportLogsServiceRequest.FromString(body)
        except _TooLarge:
            raise
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


def _inflate(decompressor: Any, body: bytes, limit: int | None) -> bytes:
    """Decompress body in bounded steps, stopping (_TooLarge) as soon as it passes limit."""
    out = bytearray()
    pending = body
    while pending:
        out += decompressor.decompress(pending, _READ_CHUNK)
        if limit is not None and len(out) > limit:
            raise _TooLarge
        pending = decompressor.unconsumed_tail
        if decompressor.eof:
            break
    if not decompressor.eof:
        raise ValueError("truncated compressed body")
    return bytes(out)


class _OtlpLogsHttpServer(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins the handler threads
    block_on_close = True

    def __init__(self, receiver: HttpLogsReceiver, port: int) -> None:
        super().__init__(("127.0.0.1", port), _OtlpLogsHttpHandler)
        self.receiver = receiver


class HttpLogsReceiver(_LogsReceiver):
    """An OTLP/HTTP (protobuf) logs endpoint; ``endpoint`` is the base URL
    ``http://127.0.0.1:PORT{path_prefix}``, and requests are POSTed to ``logs_url``
    (``endpoint + "/v1/logs"``). Any other path answers 404 and is not counted."""

    def __init__(
        self,
        port: int = 0,
        max_receive_bytes: int | None = COLLECTOR_MAX_RECEIVE_BYTES,
        path_prefix: str = "",
    ) -> None:
        """path_prefix: "" or a path such as "/otlp" (Loki's), without a trailing slash."""
        if path_prefix and (not path_prefix.startswith("/") or path_prefix.endswith("/")):
            raise ValueError(f"path_prefix {path_prefix!r}: start with '/', no trailing '/'")
        super().__init__(max_receive_bytes)
        self.logs_path = f"{path_prefix}/v1/logs"
        self._server = _OtlpLogsHttpServer(self, port)
        self.port = self._server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}{path_prefix}"
        self.logs_url = f"http://127.0.0.1:{self.port}{self.logs_path}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="otlp-logs-http", daemon=True
        )

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        _join({self._thread}, "HTTP logs receiver")


@pytest.fixture
def grpc_logs_receiver() -> Iterator[GrpcLogsReceiver]:
    with GrpcLogsReceiver() as receiver:
        yield receiver


@pytest.fixture
def http_logs_receiver() -> Iterator[HttpLogsReceiver]:
    with HttpLogsReceiver() as receiver:
        yield receiver


@pytest.fixture
def loki_style_logs_receiver() -> Iterator[HttpLogsReceiver]:
    """An HTTP logs receiver at ``/otlp/v1/logs`` only, as Loki serves OTLP; its ``endpoint``
    ends in ``/otlp``."""
    with HttpLogsReceiver(path_prefix="/otlp") as receiver:
        yield receiver
