"""Between the graph and each sink: a queue, and the task that hands its batches to the exporter.

Two policies, because the two modes want opposite things when a sink cannot keep up:

- a replay waits (back-pressure): a full queue makes the graph, then the reader, wait, and a
  batch the exporter refused is counted and reported, never retried into an endless loop;
- a live run must keep reading its watches, so nothing waits on a sink: batches queue up to
  ``max_queue_spans`` spans; a refused batch is retried (jittered exponential backoff) until
  the collector takes it; when the queue is full the oldest batch is dropped and counted. When
  the collector comes back everything still queued is delivered, oldest first.

A batch that was dropped, or never taken, is not reported as delivered: a live run then does
not journal it, and a restart exports it again while the API server still holds its Events.

A sink may split a batch into requests (``chunks``: the OTLP sink bounds each by spans and
bytes); each is exported and retried on its own. A sink may say why it refused
(``failure_reason``: the file sink says "disk full"); every refusal is counted by its reason,
and a local one (not the collector's) makes the run unready (``unready_reason``).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

log = logging.getLogger(__name__)

COLLECTOR_UNAVAILABLE = "collector unavailable"
"""Why a sink that gives no reason refused (the SDK's OTLP exporters log theirs)."""


@dataclass(slots=True, eq=False)
class Delivery:
    """One batch of spans on its way to every sink; says when all of them took it."""

    spans: list[ReadableSpan]
    waiting: int
    on_delivered: Callable[[list[ReadableSpan]], None] | None = None
    failed: bool = False
    batch: object = None
    """The batch it is a slice of (runner.publish): once a replay's sink refuses one slice, the
    batch's other slices are not tried either (each try of a collector that is down costs the
    exporter's whole timeout), as the rest of one delivery is not."""

    def done(self, *, ok: bool) -> None:
        self.failed |= not ok
        self.waiting -= 1
        if self.waiting == 0 and not self.failed and self.on_delivered is not None:
            self.on_delivered(self.spans)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Live mode: retry refused batches, bound the queue by spans, drop the oldest."""

    max_queue_spans: int = 50_000
    initial_s: float = 0.5
    max_s: float = 30.0


@dataclass(slots=True)
class OutletStats:
    exported: int = 0  # spans the sink took
    failed: int = 0  # spans of batches the sink refused (replay: not retried)
    failed_by_reason: Counter[str] = field(default_factory=Counter)  # the same spans, by reason
    retries: int = 0  # export attempts after a refusal
    refusals: Counter[str] = field(default_factory=Counter)  # refused attempts, by reason
    dropped: Counter[str] = field(default_factory=Counter)  # spans by reason
    failing: str | None = None
    """Why the sink refused its last attempt; None once it takes a batch again."""


class SinkOutlet:
    """One sink's queue and the task that drains it into the (blocking) exporter."""

    def __init__(
        self,
        name: str,
        sink: SpanExporter,
        *,
        capacity_batches: int,
        retry: RetryPolicy | None = None,
        shutdown_timeout_s: float = 10.0,
    ) -> None:
        self.name = name
        self.sink = sink
        self.stats = OutletStats()
        self._capacity = capacity_batches
        self._retry = retry
        self._shutdown_timeout_s = shutdown_timeout_s
        self._queue: deque[Delivery] = deque()
        self._queued_spans = 0
        self._ready = asyncio.Event()  # something to export, or closed
        self._room = asyncio.Event()  # replay: room in the queue again
        self._closed = asyncio.Event()
        self._closing_at: float | None = None
        self._refused_batch: object = None  # replay: the batch whose slice the sink refused
        self._random = random.Random()

    @property
    def queued_spans(self) -> int:
        return self._queued_spans

    @property
    def saturated(self) -> bool:
        """Live: the queue is full, so spans are being dropped (readiness fails)."""
        return self._retry is not None and self._queued_spans >= self._retry.max_queue_spans

    @property
    def unready_reason(self) -> str | None:
        """Why this sink makes a live run unready: its queue is full, or it is refusing for a
        reason of this process's own (a full disk), which no collector coming back will end."""
        failing = self.stats.failing
        if self.saturated:
            return f"{failing or COLLECTOR_UNAVAILABLE} and the queue is full"
        if failing is not None and failing != COLLECTOR_UNAVAILABLE:
            return f"{failing} ({self._queued_spans} spans queued)"
        return None

    async def put(self, delivery: Delivery) -> None:
        if self._retry is None:
            while len(self._queue) >= self._capacity:
                self._room.clear()
                await self._room.wait()
        self._queue.append(delivery)
        self._queued_spans += len(delivery.spans)
        if self._retry is not None:
            # Whole batches, oldest first (a batch is what the checkpoint journals); the batch
            # being exported is not in the queue and keeps being retried.
            while self._queued_spans > self._retry.max_queue_spans:
                self._drop(self._queue.popleft(), "queue full")
        self._ready.set()

    async def close(self) -> None:
        """No more batches: deliver what is queued (within the shutdown timeout), then stop."""
        self._closing_at = time.monotonic()
        self._closed.set()
        self._ready.set()

    async def run(self) -> None:
        while True:
            while not self._queue:
                if self._closing_at is not None:
                    return
                self._ready.clear()
                await self._ready.wait()
            delivery = self._queue.popleft()
            self._queued_spans -= len(delivery.spans)
            self._room.set()
            refused = delivery.batch is not None and delivery.batch is self._refused_batch
            if refused and self._retry is None:
                self._fail_untried(len(delivery.spans))
                delivery.done(ok=False)
                continue
            ok = await self._deliver(delivery.spans)
            if not ok:
                self._refused_batch = delivery.batch
            delivery.done(ok=ok)
            # Other tasks get their turn after the delivery is noted, not between the export
            # and the note: a kill there would make a restart write the batch to a file twice.
            await asyncio.sleep(0)

    def _fail_untried(self, count: int) -> None:
        """A replay's slice of a batch the sink refused: failed, for the same reason."""
        reason = self.stats.failing or COLLECTOR_UNAVAILABLE
        self.stats.failed += count
        self.stats.failed_by_reason[reason] += count

    async def _deliver(self, spans: list[ReadableSpan]) -> bool:
        chunks: Callable[[Sequence[ReadableSpan]], Iterable[list[ReadableSpan]]] | None
        chunks = getattr(self.sink, "chunks", None)
        parts: Iterable[list[ReadableSpan]]
        if chunks is None:
            parts = [spans]
        elif getattr(self.sink, "cpu_only", False) or getattr(self.sink, "chunks_cpu_only", False):
            # Encoding only (the gRPC sink makes its requests as it sizes them): in a thread it
            # would only fight the graph for the GIL (it cost twice its own CPU time there).
            # Each request is made as the one before it has gone: one held at a time, and the
            # loop has its turn between them.
            parts = chunks(spans)
        else:
            # Sizing a large batch takes a while: beside the export, not in the event loop.
            parts = await asyncio.to_thread(lambda: list(chunks(spans)))
        sent = 0
        for part in parts:
            sent += len(part)  # a sink's chunks hold the batch's spans one for one
            if not await self._deliver_part(part, rest=len(spans) - sent):
                return False
        return True

    async def _deliver_part(self, spans: list[ReadableSpan], *, rest: int) -> bool:
        """Export one request's spans; rest: the batch's spans after them, given up with them."""
        attempt = 0
        while True:
            if await self._export(spans):
                self.stats.exported += len(spans)
                self.stats.failing = None
                return True
            reason = self._failure_reason()
            self.stats.refusals[reason] += 1
            self.stats.failing = reason
            if self._retry is None:
                # The rest of the batch is not tried: the sink has just refused, and each try
                # of a collector that is down costs the exporter's whole timeout.
                failed = len(spans) + rest
                self.stats.failed += failed
                self.stats.failed_by_reason[reason] += failed
                log.error("sink %s did not take %d spans: %s", self.name, failed, reason)
                return False
            if self._past_shutdown_deadline():
                self._drop_with_rest(len(spans) + rest, f"{reason} at shutdown")
                return False
            delay = self._random.uniform(0.5, 1.0) * min(
                self._retry.max_s, self._retry.initial_s * 2**attempt
            )
            attempt = min(attempt + 1, 30)
            self.stats.retries += 1
            if attempt == 1:
                log.warning(
                    "sink %s refused %d spans (%s); retrying (%d spans queued)",
                    self.name,
                    len(spans),
                    reason,
                    self._queued_spans,
                )
            await self._sleep_unless_closing(delay)

    async def _export(self, spans: list[ReadableSpan]) -> bool:
        try:
            if getattr(self.sink, "cpu_only", False):
                # Encoding in a thread would only fight the graph for the GIL.
                result = self.sink.export(spans)
            else:
                result = await asyncio.to_thread(self.sink.export, spans)
        except Exception:
            log.exception("sink %s failed to export %d spans", self.name, len(spans))
            return False
        return result is SpanExportResult.SUCCESS

    def _failure_reason(self) -> str:
        reason = getattr(self.sink, "failure_reason", None)
        return reason if isinstance(reason, str) and reason else COLLECTOR_UNAVAILABLE

    async def _sleep_unless_closing(self, delay_s: float) -> None:
        """Wait before the next attempt; a close cuts the wait short (the deadline counts)."""
        if self._closing_at is None:
            try:
                await asyncio.wait_for(self._closed.wait(), delay_s)
            except TimeoutError:
                return
        await asyncio.sleep(min(delay_s, max(0.0, self._remaining_s())))

    def _remaining_s(self) -> float:
        assert self._closing_at is not None
        return self._closing_at + self._shutdown_timeout_s - time.monotonic()

    def _past_shutdown_deadline(self) -> bool:
        return self._closing_at is not None and self._remaining_s() <= 0

    def _drop_with_rest(self, count: int, reason: str) -> None:
        """Drop the rest of the batch being delivered (count spans) and everything queued."""
        self.stats.dropped[reason] += count
        while self._queue:
            self._drop(self._queue.popleft(), reason)
        log.error("sink %s: shutting down, spans dropped: %s", self.name, reason)

    def _drop(self, delivery: Delivery, reason: str) -> None:
        count = len(delivery.spans)
        self._queued_spans -= count
        self.stats.dropped[reason] += count
        delivery.done(ok=False)
        log.warning("sink %s dropped %d spans: %s", self.name, count, reason)
