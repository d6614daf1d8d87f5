"""Runs the pipeline as guarded asyncio tasks: source -> graph -> sinks, then an ordered shutdown.

Stages talk through bounded queues of batches; the graph task is the only one that touches the
graph. A full sink queue makes the stages before it wait (back-pressure): a replay never drops
spans to go faster. Shutdown goes source -> graph (flush) -> sinks (drain, flush, shut down)
within a deadline.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter

from kspan_py.config import ReplaySettings
from kspan_py.filtering import ExportFilter
from kspan_py.graph.causality import ADVANCE_EVERY, CausalGraph
from kspan_py.model import EventChange, ObjectChange, Snapshot
from kspan_py.outlets import COLLECTOR_UNAVAILABLE, Delivery, SinkOutlet
from kspan_py.sources.capture import Bookmark, CaptureItem, Skipped, Unchanged, read_capture

log = logging.getLogger(__name__)

_LOGGED_SKIPS = 20  # the first skips are logged one by one; the summary counts all of them


class StrictModeError(ValueError):
    """--strict and a malformed value: the message names the file, line and reason."""


@dataclass(slots=True)
class ReplaySummary:
    values: int = 0
    events: int = 0
    objects: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    spans: int = 0
    traces: int = 0
    late: int = 0  # occurrences that arrived more than the window late (linked all the same)
    filtered: int = 0  # spans the export filters left out (read and linked, not exported)
    export_failures: Counter[str] = field(default_factory=Counter)  # spans by "sink (reason)"
    dropped: Counter[str] = field(default_factory=Counter)  # spans by "sink: reason"

    def count_outlet(self, outlet: SinkOutlet) -> None:
        for reason, spans in outlet.stats.failed_by_reason.items():
            # The collector's is the usual reason: said only when it is another one.
            where = outlet.name if reason == COLLECTOR_UNAVAILABLE else f"{outlet.name} ({reason})"
            self.export_failures[where] += spans
        for reason, spans in outlet.stats.dropped.items():
            self.dropped[f"{outlet.name}: {reason}"] += spans

    @property
    def not_exported(self) -> int:
        """Spans some sink did not take (refused, or dropped): the exit status says so."""
        return sum(self.export_failures.values()) + sum(self.dropped.values())

    def line(self) -> str:
        skipped = sum(self.skipped.values())
        reasons = ", ".join(f"{reason}: {n}" for reason, n in sorted(self.skipped.items()))
        text = (
            f"read {counted(self.values, 'value')}: "
            f"{counted(self.events, 'event occurrence')}, {counted(self.objects, 'object')}, "
            f"{skipped} skipped{f' ({reasons})' if reasons else ''}; "
            f"{counted(self.spans, 'span')} in {counted(self.traces, 'trace')}"
        )
        if self.late:
            text += f"; {self.late} arrived more than the window late"
        if self.filtered:
            text += f"; {self.filtered} spans left out by the filters"
        failures = +self.export_failures
        if failures:
            failed = ", ".join(f"{n} to {s}" for s, n in sorted(failures.items()))
            text += f"; spans not exported: {failed}"
        if self.dropped:
            dropped = ", ".join(f"{n} ({why})" for why, n in sorted(self.dropped.items()))
            text += f"; spans dropped: {dropped}"
        return text


def counted(number: int, noun: str) -> str:
    """``1 trace``, ``2 traces``: a summary a person reads."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


_DONE = None


async def replay(
    settings: ReplaySettings, sinks: dict[str, SpanExporter], summary: ReplaySummary
) -> ReplaySummary:
    """Replay the captures of settings into sinks; fills and returns summary."""
    graph_settings = settings.graph
    if settings.retime:
        shift = time.time_ns() - graph_settings.window_ns - last_time(settings.paths)
        graph_settings = dataclasses.replace(graph_settings, time_shift_ns=shift)
    graph = CausalGraph(graph_settings)
    export_filter = ExportFilter(settings.filters)
    # A batch, and whether event time moves on after it: as replay_changes (explain and
    # kspan_py.link) moves it, every ADVANCE_EVERY changes and not after the last few, so the
    # command line and the library give the same spans for the same input.
    changes: asyncio.Queue[tuple[list[ObjectChange | EventChange], bool] | None] = asyncio.Queue(1)
    outlets = {
        name: SinkOutlet(name, sink, capacity_batches=settings.sinks.queue_batches)
        for name, sink in sinks.items()
    }

    async def read() -> None:
        for batch in batched(_items(settings.paths), summary, strict=settings.strict):
            await changes.put(batch)
        await changes.put(_DONE)

    async def link() -> None:
        while (taken := await changes.get()) is not _DONE:
            batch, advance = taken
            if export_filter.reads_objects:
                for change in batch:
                    if isinstance(change, ObjectChange):
                        export_filter.observe(change)
            for change in batch:
                graph.ingest(change)
            if advance:
                await publish(export_filter.select(graph.advance()), outlets, summary)
        await publish(export_filter.select(graph.flush()), outlets, summary)
        summary.filtered = export_filter.left_out
        summary.events = graph.stats.occurrences
        summary.traces = graph.traces_started
        summary.late = graph.stats.late
        for outlet in outlets.values():
            await outlet.close()

    tasks = [
        asyncio.create_task(read(), name="source:capture"),
        asyncio.create_task(link(), name="graph"),
        *(
            asyncio.create_task(drain(outlet, summary), name=f"sink:{name}")
            for name, outlet in outlets.items()
        ),
    ]
    try:
        await guarded(tasks)
    finally:
        await shutdown_sinks(sinks, settings.sinks.shutdown_timeout_s)
    return summary


def batched(
    items: Iterable[CaptureItem], summary: ReplaySummary, *, strict: bool
) -> Iterator[tuple[list[ObjectChange | EventChange], bool]]:
    """The changes read, in batches, each with whether event time moves on after it; counted.

    As ``replay_changes`` (explain and kspan_py.link) moves it: after every ADVANCE_EVERY values
    read, never inside a snapshot, and not after the last few; so the command line and the
    library give the same spans for the same input. Updates the reader process left out
    (``Unchanged``) count as values read where they were: event time moves on where it would
    have, had they been read here. A batch holds at most ADVANCE_EVERY changes: a snapshot
    larger than that (a dump: every object and Event at once) comes in pieces that do not move
    event time on, so that each piece's wrappers are freed once the graph has taken it.
    """
    batch: list[ObjectChange | EventChange] = []
    left_out = 0  # values read since the batch began that are not in it
    carried = 0  # changes since event time last moved on, in pieces already given
    in_snapshot = False
    for item in items:
        if isinstance(item, Snapshot):
            in_snapshot = not item.end
        elif isinstance(item, ObjectChange | EventChange):
            summary.values += 1
            summary.objects += isinstance(item, ObjectChange)
            batch.append(item)
        else:
            count_other(item, summary, strict=strict)
            if isinstance(item, Unchanged):
                left_out += item.count
        if carried + len(batch) + left_out >= ADVANCE_EVERY and not in_snapshot:
            if isinstance(item, Unchanged):
                # The batch ended inside this run of left-out updates: the rest of the run
                # begins the next batch (a long run, the next few).
                left_out += carried + len(batch) - ADVANCE_EVERY
                yield batch, True
                while left_out >= ADVANCE_EVERY:
                    left_out -= ADVANCE_EVERY
                    yield [], True
            else:  # (a change, or the end of a snapshot that went past a batch's size)
                left_out = 0
                yield batch, True
            batch, carried = [], 0
        elif in_snapshot and len(batch) >= ADVANCE_EVERY:
            carried += len(batch)
            yield batch, False
            batch = []
    if batch:
        yield batch, False  # the flush that follows finishes everything


class RetimeError(ValueError):
    """--retime cannot be done on this input; the message says why."""


def last_time(paths: Iterable[str]) -> int:
    """The latest time the input shows (an occurrence, an object made or deleted): --retime
    puts it a window before now. A pass of its own over the input, before the replay."""
    last = 0
    for path in paths:
        if path == "-":
            raise RetimeError("--retime reads the input twice: give files, not - (stdin)")
        for item in read_capture(path):
            if isinstance(item, EventChange):
                last = max(last, item.event.time_ns)
            elif isinstance(item, ObjectChange):
                last = max(last, item.obj.created_ns, item.obj.deleted_ns or 0)
    if not last:
        raise RetimeError("--retime: the input shows no time to start from")
    return last


def _items(paths: Iterable[str]) -> Iterator[CaptureItem]:
    for path in paths:
        yield from read_capture(path, drop_unchanged=True)


def count_other(
    item: Skipped | Bookmark | Unchanged, summary: ReplaySummary, *, strict: bool
) -> None:
    if isinstance(item, Unchanged):  # object updates read, where nothing the graph reads changed
        summary.values += item.count
        summary.objects += item.count
        return
    summary.values += 1
    if isinstance(item, Bookmark):
        return
    if strict:
        raise StrictModeError(str(item))
    summary.skipped[item.category] += 1
    total = sum(summary.skipped.values())
    if total <= _LOGGED_SKIPS:
        log.warning("skipped %s", item)
    elif total == _LOGGED_SKIPS + 1:
        log.warning("more values skipped; the summary counts them all")


async def publish(
    spans: list[ReadableSpan],
    outlets: dict[str, SinkOutlet],
    summary: ReplaySummary,
    on_delivered: Callable[[list[ReadableSpan]], None] | None = None,
) -> None:
    """Put spans to every outlet, in deliveries of at most PUBLISHED_SPANS. The slices are
    taken out of spans (which ends empty), so a slice the sinks have taken is freed while the
    rest waits its turn."""
    if not spans:
        return
    summary.spans += len(spans)
    batch = object()
    while spans:
        part = spans[:PUBLISHED_SPANS]
        del spans[:PUBLISHED_SPANS]
        delivery = Delivery(part, len(outlets), on_delivered, batch=batch)
        for outlet in outlets.values():
            await outlet.put(delivery)


PUBLISHED_SPANS = 2048
"""Spans one delivery holds at most. A dump is linked at once when its listing ends: 59,000
spans from an 84 MB dump. As one delivery, every span stayed until the last was exported, each
holding its attributes once encoded (35 MB of the main process's peak, measured); and the
otlp-json sink wrote them as one line of 75 MB."""


async def drain(outlet: SinkOutlet, summary: ReplaySummary) -> None:
    """Run a sink's outlet to its end, then count what it did not deliver."""
    await outlet.run()
    summary.count_outlet(outlet)


async def guarded(tasks: list[asyncio.Task[None]]) -> None:
    """Wait for all tasks; the first failure cancels the rest and is raised, never lost."""
    try:
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    except asyncio.CancelledError:
        for task in tasks:
            task.cancel()
        raise
    failed = [task for task in done if not task.cancelled() and task.exception() is not None]
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)
    if failed:
        error = failed[0].exception()
        assert error is not None
        log.debug("task %s failed", failed[0].get_name())
        raise error


async def shutdown_sinks(sinks: dict[str, SpanExporter], timeout_s: float) -> None:
    async def close(name: str, sink: SpanExporter) -> None:
        try:
            await asyncio.wait_for(
                asyncio.to_thread(_flush_and_shutdown, sink, timeout_s), timeout_s
            )
        except TimeoutError:
            log.error("sink %s did not shut down within %.1fs", name, timeout_s)
        except Exception:
            log.exception("sink %s failed to shut down", name)

    await asyncio.gather(*(close(name, sink) for name, sink in sinks.items()))


def _flush_and_shutdown(sink: SpanExporter, timeout_s: float) -> None:
    sink.force_flush(int(timeout_s * 1000))
    sink.shutdown()
