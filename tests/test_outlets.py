"""The outlet between the graph and a sink: a sink that makes its requests as it sizes them (the
OTLP gRPC sink) has each made only once the one before it has gone, and a refusal counts the
whole rest of the batch."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Iterator, Sequence

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import SpanContext, TraceFlags

from kspan_py.outlets import Delivery, SinkOutlet
from kspan_py.runner import PUBLISHED_SPANS, ReplaySummary, publish


def _spans(count: int) -> list[ReadableSpan]:
    return [
        ReadableSpan(
            name=f"s{index}",
            context=SpanContext(1, index + 1, is_remote=False, trace_flags=TraceFlags(1)),
            resource=Resource({}),
        )
        for index in range(count)
    ]


class _RequestsAsSized(SpanExporter):
    """A sink whose chunks are made as they are asked for, noting when each is made and sent,
    refusing from the request ``refuse_from`` on."""

    chunks_cpu_only = True

    def __init__(self, size: int, refuse_from: int | None = None) -> None:
        self.size = size
        self.refuse_from = refuse_from
        self.log: list[str] = []
        self._sent = 0

    def chunks(self, spans: Sequence[ReadableSpan]) -> Iterator[list[ReadableSpan]]:
        for start in range(0, len(spans), self.size):
            self.log.append(f"made {start // self.size}")
            yield list(spans[start : start + self.size])

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        index = self._sent
        if self.refuse_from is not None and index >= self.refuse_from:
            self.log.append(f"refused {index}")
            return SpanExportResult.FAILURE
        self._sent += 1
        self.log.append(f"sent {index}")
        return SpanExportResult.SUCCESS


async def _deliver(sink: _RequestsAsSized, spans: list[ReadableSpan]) -> SinkOutlet:
    outlet = SinkOutlet("test", sink, capacity_batches=4)
    await outlet.put(Delivery(spans, 1))
    await outlet.close()
    await outlet.run()
    return outlet


async def test_a_request_is_made_only_once_the_one_before_it_has_gone() -> None:
    sink = _RequestsAsSized(size=10)
    outlet = await _deliver(sink, _spans(35))
    assert sink.log == [
        *("made 0", "sent 0", "made 1", "sent 1", "made 2", "sent 2", "made 3", "sent 3")
    ]
    assert outlet.stats.exported == 35


async def test_a_refused_request_counts_the_rest_of_its_batch_as_not_taken() -> None:
    sink = _RequestsAsSized(size=10, refuse_from=1)
    outlet = await _deliver(sink, _spans(35))
    assert sink.log == ["made 0", "sent 0", "made 1", "refused 1"]  # the rest is not tried
    assert outlet.stats.exported == 10
    assert outlet.stats.failed == 25


class _AliveAtEachExport(SpanExporter):
    """Notes, at each export, the names of the batch and how many of the spans it watches are
    still alive anywhere in the process."""

    def __init__(self, watched: list[weakref.ref[ReadableSpan]]) -> None:
        self.watched = watched
        self.batches: list[tuple[list[str], int]] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        alive = sum(ref() is not None for ref in self.watched)
        self.batches.append(([span.name for span in spans], alive))
        return SpanExportResult.SUCCESS


async def test_a_large_batch_goes_out_in_slices_and_each_is_freed_once_taken() -> None:
    """A dump is linked at once when its listing ends (59,000 spans from an 84 MB dump): it is
    published in deliveries of at most PUBLISHED_SPANS, and what a sink has taken is freed
    while the rest waits, instead of the whole batch living until its last span is out."""
    count = 2 * PUBLISHED_SPANS + 5
    spans = _spans(count)
    sink = _AliveAtEachExport([weakref.ref(span) for span in spans])
    outlet = SinkOutlet("test", sink, capacity_batches=1)
    running = asyncio.create_task(outlet.run())
    summary = ReplaySummary()
    delivered: list[int] = []
    await publish(spans, {"test": outlet}, summary, lambda part: delivered.append(len(part)))
    await outlet.close()
    await running

    assert spans == []  # taken out as published: the caller's list holds none of them
    exported = [name for names, _ in sink.batches for name in names]
    assert exported == [f"s{index}" for index in range(count)]
    assert [len(names) for names, _ in sink.batches] == [PUBLISHED_SPANS, PUBLISHED_SPANS, 5]
    assert delivered == [PUBLISHED_SPANS, PUBLISHED_SPANS, 5]
    assert summary.spans == count and outlet.stats.exported == count
    # alive at each export: the batch being exported and what is not exported yet
    assert [alive for _, alive in sink.batches] == [count, count - PUBLISHED_SPANS, 5]


class _Refusing(SpanExporter):
    def __init__(self) -> None:
        self.attempts = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.attempts += 1
        return SpanExportResult.FAILURE


async def test_a_refused_slice_gives_up_the_rest_of_its_batch_in_a_replay() -> None:
    """A collector that is down costs each try its whole timeout: a large batch in slices is
    tried once, as one delivery was; all of it is counted failed. The next batch is tried."""
    sink = _Refusing()
    outlet = SinkOutlet("test", sink, capacity_batches=1)
    running = asyncio.create_task(outlet.run())
    summary = ReplaySummary()
    await publish(_spans(2 * PUBLISHED_SPANS + 5), {"test": outlet}, summary)
    await publish(_spans(3), {"test": outlet}, summary)
    await outlet.close()
    await running
    assert sink.attempts == 2
    assert outlet.stats.failed == 2 * PUBLISHED_SPANS + 8 == summary.spans
    assert outlet.stats.exported == 0
