"""Runs the pipeline against a cluster until told to stop: ``kspan-py run`` and ``record``.

Tasks, each named and guarded (a failure is logged and stops the run, never lost):

- ``source``: the watches (sources/watching.py), putting raw values on one bounded queue: a
  slow graph slows the reading of the watches rather than growing memory;
- ``ticker``: puts a tick on that queue every ``tick_s`` so that event time follows the wall
  clock and a quiet cluster still flushes;
- ``graph``: the only task that touches the graph, the recording and the export gate: it
  records each value as it takes it (so a recording replays into the same changes in the same
  order), ingests, and on each tick moves event time on and publishes the finished spans;
- ``sink:NAME``: one per sink, as in a replay; each delivery every sink took is journalled in
  the checkpoint;
- ``checkpoint``: rewrites the checkpoint now and then.

Shutdown (SIGTERM/SIGINT): stop the watches, link everything pending and flush it to the
sinks within ``shutdown_timeout_s``, write the checkpoint, close the recording.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections import Counter
from collections.abc import Callable

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter

from kspan_py import monitoring
from kspan_py.checkpoint import Checkpoint, CheckpointFile, ExportGate
from kspan_py.config import ClusterSettings, LiveSettings
from kspan_py.filtering import ExportFilter
from kspan_py.graph.causality import ADVANCE_EVERY, CausalGraph
from kspan_py.leading import LeaderElection
from kspan_py.model import ChangeType, EventChange, ObjectChange, Snapshot
from kspan_py.outlets import RetryPolicy, SinkOutlet
from kspan_py.runner import (
    ReplaySummary,
    count_other,
    drain,
    guarded,
    publish,
    shutdown_sinks,
)
from kspan_py.sinks.console import ConsoleSink
from kspan_py.sinks.otlp_logs import EventLogSink
from kspan_py.sources.capture import CaptureWriter, Skipped, expand_value
from kspan_py.sources.watching import (
    ClusterSource,
    Connection,
    SourceValue,
    connect,
    read_kube_system,
)

log = logging.getLogger(__name__)

Clock = Callable[[], int]
"""Wall-clock time in ns; tests drive it by hand."""

_QUEUE_VALUES = 4096
FUTURE_SKEW_NS = 3600 * 10**9
"""How far ahead of the wall clock an Event's time may be (a component's clock running fast);
beyond it the occurrence is skipped and counted, live only: a replay has no "now"."""
_CHECKPOINT_RETRY_S = 5.0


class _Tick:
    pass


_TICK = _Tick()
_STOP = None


async def run(
    settings: LiveSettings,
    sinks: dict[str, SpanExporter],
    summary: ReplaySummary,
    *,
    stop: asyncio.Event,
    clock: Clock = time.time_ns,
    connection: Connection | None = None,
    state: monitoring.LiveState | None = None,
) -> ReplaySummary:
    """Watch the cluster and export spans until stop is set; fills and returns summary.

    With ``settings.lease``, first wait to hold the Lease (a standby replica waits here), and
    raise LeadershipLost if it is lost while running."""
    state = state or monitoring.LiveState()
    own_connection = connection is None
    connection = connection or await connect(settings.cluster)
    # Probes are served from the start: a standby replica is alive and ready (to take over).
    monitor = (
        await monitoring.serve(
            state, settings.metrics_port, host=settings.metrics_address, wall_clock=clock
        )
        if settings.metrics_port is not None
        else None
    )
    leader = LeaderElection(connection, settings.lease) if settings.lease else None
    if leader is not None:
        state.standby = True
        leading = await _lead(leader, stop)
        state.standby = False
        if not leading:
            if own_connection:
                await connection.close()
            if monitor is not None:
                await monitor.cleanup()
            return summary
    checkpoint_file = (
        CheckpointFile(settings.state_file, state.checkpoint_writes)
        if settings.state_file
        else None
    )
    saved = checkpoint_file.load() if checkpoint_file else None
    since_ns = _since(settings, saved, clock, taking_over=leader is not None)
    gate = ExportGate(since_ns, saved.exported if saved else None)
    for sink in sinks.values():
        if isinstance(sink, EventLogSink):
            # A span of repeats exported again after a restart: only its new occurrences
            # get a record (the span itself is merged by id; a record would be doubled).
            sink.already_delivered = gate.exported.__contains__
    export_filter = ExportFilter(settings.filters)
    graph = CausalGraph(settings.graph)
    recorder = CaptureWriter(settings.record_file) if settings.record_file else None
    kube_system = await read_kube_system(connection)
    if kube_system is not None:
        # The graph takes the cluster's uid from it as from any input; a recording starts
        # with it, so that its replay gives the same resources.
        for change in expand_value(kube_system, "namespace kube-system"):
            if isinstance(change, ObjectChange):
                graph.ingest(change)
        if recorder is not None:
            recorder.write(kube_system)
    shard = settings.shard if settings.shard is not None and settings.shard.count > 1 else None
    values: asyncio.Queue[SourceValue | _Tick | None] = asyncio.Queue(_QUEUE_VALUES)
    source = ClusterSource(connection, settings.cluster, values.put)
    state.source, state.graph, state.gate, state.ready = source, graph, gate, source.ready
    retry = RetryPolicy(max_queue_spans=settings.max_queue_spans)
    outlets = {
        name: SinkOutlet(
            name,
            sink,
            capacity_batches=settings.sinks.queue_batches,
            retry=retry,
            shutdown_timeout_s=settings.sinks.shutdown_timeout_s,
        )
        for name, sink in sinks.items()
    }
    state.outlets = outlets

    def delivered(spans: list[ReadableSpan]) -> None:
        state.delivered_spans += len(spans)
        entries = gate.delivered(spans)
        if checkpoint_file is not None:
            checkpoint_file.journal(entries)

    def forget_exported() -> None:
        # Events older than the link horizon (the Event TTL) are gone from the API server: no
        # restart sees them again, so their spans need not be remembered, state file or not.
        gate.advance(graph.watermark_ns, keep_ns=settings.graph.link_horizon_ns + 60 * 10**9)

    def save_checkpoint() -> None:
        if checkpoint_file is None:
            return
        forget_exported()
        saved = Checkpoint(since_ns, source.resource_versions(), gate.exported)
        if checkpoint_file.save(saved):
            state.last_checkpoint_s = time.time()

    async def link() -> None:
        since_advance = 0
        while (item := await values.get()) is not _STOP:
            if isinstance(item, _Tick) or since_advance >= ADVANCE_EVERY:
                since_advance = 0
                state.heartbeat_s = time.monotonic()
                if recorder is not None:
                    recorder.flush()
                spans = graph.advance(clock() if source.ready.is_set() else None)
                forget_exported()
                chosen = export_filter.select(gate.admit(spans))
                del spans  # publish frees what the sinks have taken (only chosen holds it)
                await publish(chosen, outlets, summary, delivered)
                if isinstance(item, _Tick):
                    continue
            if shard is not None:
                taken = shard.takes(item.value)
                if taken is None:
                    continue
                if taken is not item.value:
                    item = SourceValue(taken, None, item.resource, item.snapshot)
            if recorder is not None:
                recorder.write(item.value, item.raw)
            since_advance += _ingest(
                graph,
                item,
                summary,
                state.received,
                export_filter,
                latest_ns=clock() + FUTURE_SKEW_NS,
            )
            state.values_ingested += 1
        await publish(export_filter.select(gate.admit(graph.flush())), outlets, summary, delivered)
        summary.filtered = export_filter.left_out
        for outlet in outlets.values():
            await outlet.close()

    async def tick() -> None:
        while True:
            await asyncio.sleep(settings.tick_s)
            await values.put(_TICK)

    async def print_console() -> None:
        # The console sink prints trees when flushed; live, a trace is never known complete,
        # so what finished is printed every few seconds (a long trace comes in parts).
        consoles = [sink for sink in sinks.values() if isinstance(sink, ConsoleSink)]
        while consoles:
            await asyncio.sleep(settings.console_every_s)
            for console in consoles:
                console.force_flush()

    async def checkpoints() -> None:
        writes = state.checkpoint_writes
        while True:
            # After a failed write (a full disk), soon again: until then a kill would make a
            # restart export again what was delivered since the last good write.
            behind = writes.unsaved or writes.save_error is not None
            await asyncio.sleep(
                min(settings.checkpoint_every_s, _CHECKPOINT_RETRY_S)
                if behind
                else settings.checkpoint_every_s
            )
            save_checkpoint()

    async def watch() -> None:
        await source.run()

    async def stopper() -> None:
        await stop.wait()
        # The lease is held until the flush is done (released in the finally below).
        background = (watching, ticking, checkpointing, printing)
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await values.put(_STOP)

    save_checkpoint()  # at once: a kill before the first periodic save keeps the floor
    watching = asyncio.create_task(watch(), name="source")
    ticking = asyncio.create_task(tick(), name="ticker")
    checkpointing = asyncio.create_task(checkpoints(), name="checkpoint")
    printing = asyncio.create_task(print_console(), name="console")
    linking = asyncio.create_task(link(), name="graph")

    sinking = [
        asyncio.create_task(drain(outlet, summary), name=f"sink:{name}")
        for name, outlet in outlets.items()
    ]
    stopping = asyncio.create_task(stopper(), name="stopper")
    tasks = [watching, ticking, checkpointing, printing, linking, *sinking, stopping]
    holding = asyncio.create_task(leader.hold(), name="lease") if leader is not None else None
    try:
        if holding is None:
            await guarded(tasks)
        else:
            # The pipeline ends by itself on stop; the lease task renews until then.
            pipeline = asyncio.create_task(guarded(tasks), name="pipeline")
            await asyncio.wait([pipeline, holding], return_when=asyncio.FIRST_COMPLETED)
            if holding.done():  # the lease was lost: stop exporting now
                pipeline.cancel()
                await asyncio.gather(pipeline, return_exceptions=True)
                holding.result()
            holding.cancel()
            await asyncio.gather(holding, return_exceptions=True)
            await pipeline
    except asyncio.CancelledError:
        pass
    finally:
        try:
            await asyncio.wait_for(
                shutdown_sinks(sinks, settings.sinks.shutdown_timeout_s),
                settings.sinks.shutdown_timeout_s + 1,
            )
        finally:
            save_checkpoint()
            if checkpoint_file is not None:
                checkpoint_file.close()
            if recorder is not None:
                recorder.close()
            if leader is not None:
                await leader.release()
            if own_connection:
                await connection.close()
            if monitor is not None:
                await monitor.cleanup()
    summary.events = graph.stats.occurrences
    summary.traces = graph.traces_started
    summary.late = graph.stats.late
    return summary


def _since(
    settings: LiveSettings, saved: Checkpoint | None, clock: Clock, *, taking_over: bool
) -> int:
    # A restart goes on from where the first run began: --since is for a first start.
    if saved is not None:
        return saved.since_ns
    if settings.since_ns is not None:
        return settings.since_ns
    if taking_over and settings.lease is not None:
        # The previous leader may have died holding pending occurrences: export again what
        # it could have left unexported (same ids: a backend merges the duplicates).
        gap_s = settings.lease.lease_s + settings.lease.retry_s
        return clock() - int(gap_s * 1e9) - 2 * settings.graph.window_ns
    return clock() - settings.graph.window_ns


async def _lead(leader: LeaderElection, stop: asyncio.Event) -> bool:
    """Wait to hold the Lease; False if stopped first."""
    acquiring = asyncio.create_task(leader.acquire(), name="lease:acquire")
    stopping = asyncio.create_task(stop.wait(), name="lease:stop")
    await asyncio.wait([acquiring, stopping], return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not acquiring.done():
        acquiring.cancel()
        await asyncio.gather(acquiring, return_exceptions=True)
        return False
    acquiring.result()
    return True


def _ingest(
    graph: CausalGraph,
    item: SourceValue,
    summary: ReplaySummary,
    received: Counter[tuple[str, str, str]],
    export_filter: ExportFilter,
    *,
    latest_ns: int,
) -> int:
    ingested = 0
    where = f"watch {item.resource}" if item.resource else "list"
    for change in expand_value(item.value, where):
        if isinstance(change, EventChange) and change.event.time_ns > latest_ns:
            # Whoever may create Events writes their times: one dated years ahead would carry
            # event time (the graph's watermark) with it, and close every window at once.
            reason = f"Event {change.event.name!r}: its time is more than 1 h ahead of the clock"
            count_other(Skipped(where, "time in the future", reason), summary, strict=False)
            continue
        if isinstance(change, ObjectChange | EventChange):
            summary.values += 1
            summary.objects += isinstance(change, ObjectChange)
            if isinstance(change, EventChange) and change.type is not ChangeType.DELETED:
                event = change.event
                received[monitoring.received_labels(event)] += 1  # bounded label values
            elif isinstance(change, ObjectChange) and export_filter.reads_objects:
                export_filter.observe(change)
            graph.ingest(change)
            ingested += 1
        elif not isinstance(change, Snapshot):
            count_other(change, summary, strict=False)
    return ingested


async def record(
    settings: ClusterSettings,
    path: str,
    *,
    stop: asyncio.Event,
    connection: Connection | None = None,
    flush_every_s: float = 1.0,
) -> int:
    """Write every value the watches see to path until stop is set; returns how many."""
    recorder = CaptureWriter(path)
    own_connection = connection is None
    connection = connection or await connect(settings)

    async def write(value: SourceValue) -> None:
        recorder.write(value.value, value.raw)

    source = ClusterSource(connection, settings, write)
    watching = asyncio.create_task(source.run(), name="source")

    async def flushing() -> None:
        while True:
            await asyncio.sleep(flush_every_s)
            recorder.flush()

    flusher = asyncio.create_task(flushing(), name="recording:flush")
    waiting = asyncio.create_task(stop.wait(), name="stop")
    try:
        await asyncio.wait([watching, flusher, waiting], return_when=asyncio.FIRST_COMPLETED)
        for task in (watching, flusher):  # a failure, not the stop, ended the wait
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        waiting.cancel()
        for task in (watching, flusher):
            task.cancel()
        await asyncio.gather(watching, flusher, waiting, return_exceptions=True)
        recorder.close()
        if own_connection:
            await connection.close()
    return recorder.values


def stop_on_signals(stop: asyncio.Event) -> None:
    """SIGTERM and SIGINT set stop: the run then shuts down in order and exits 0."""
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):  # not on every platform
            loop.add_signal_handler(signum, stop.set)
