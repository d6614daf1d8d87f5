"""Self-observability of a live run: Prometheus metrics, liveness and readiness over HTTP.

The metrics are read from the run's own state when Prometheus scrapes (a custom collector),
not counted on the hot path: the graph task keeps plain counters it owns, and a scrape reads
them. One small aiohttp server (aiohttp already comes with the API client) serves:

- ``/metrics``: the Prometheus text format;
- ``/healthz``: 200 while the graph task is alive and turning (it beats on every tick); 503 when
  it has not for ``stuck_after_s``: a kubelet then restarts the container;
- ``/readyz``: 200 once the start-up lists are done and every sink is either delivering or
  retrying with room left in its queue; 503 with the reason otherwise.

Label values are bounded: an Event's type, reason and kind are whatever its author wrote, and
each distinct value would be a series of its own (3,000 crafted Events, 3,000 series).
``kspan_events_received`` keeps the reasons and kinds kspan-py knows (its rules' tables, the
watched kinds, the reasons Kubernetes' own components write) and counts the rest as ``other``.
Every label value is also escaped (kspan_py.escaping). The server binds ``--metrics-address``
(default 0.0.0.0: the kubelet's probes and Prometheus come from outside the Pod).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from kspan_py.checkpoint import CheckpointWrites, ExportGate
from kspan_py.controllers import NAMING_RULES
from kspan_py.escaping import printable
from kspan_py.graph.causality import NODE_PROBLEM_REASONS, CausalGraph
from kspan_py.model import KubeEvent
from kspan_py.outlets import SinkOutlet
from kspan_py.sources.resources import KINDS
from kspan_py.sources.watching import ClusterSource
from kspan_py.spans.problems import RULE_REASONS

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DEFAULT_ADDRESS = "0.0.0.0"  # probes and scrapes come from outside the Pod
OTHER = "other"
DISCOVERY = "discovery"
"""The ``resource`` of ``kspan_watch_errors`` for the first request of all (is events.k8s.io/v1
served?), made before any watch exists."""
"""The label value of every type, reason or kind outside the known ones."""

_KUBERNETES_REASONS = frozenset(
    {
        # kubelet: containers, images, pods, volumes, probes, nodes (docs/facts.md)
        *("Created", "Started", "Failed", "Killing", "Preempting", "BackOff"),
        *("ExceededGracePeriod", "Pulling", "Pulled", "InspectFailed", "ErrImageNeverPull"),
        *("FailedKillPod", "FailedCreatePodContainer", "NetworkNotReady", "SandboxChanged"),
        *("FailedCreatePodSandBox", "FailedMount", "FailedAttachVolume", "FailedMapVolume"),
        *("SuccessfulAttachVolume", "SuccessfulMountVolume", "Unhealthy", "ProbeWarning"),
        *("NodeReady", "NodeNotReady", "NodeSchedulable", "NodeNotSchedulable", "Starting"),
        *("Rebooted", "NodeAllocatableEnforced", "NodeHasSufficientMemory", "Evicted"),
        *("NodeHasNoDiskPressure", "NodeHasSufficientPID", "FailedPostStartHook"),
        *("FailedPreStopHook", "FailedSync", "FailedValidation", "OutOfcpu", "OutOfmemory"),
        # scheduler, controllers, node lifecycle
        *("Scheduled", "FailedScheduling", "Preempted", "ScalingReplicaSet", "SuccessfulCreate"),
        *("FailedCreate", "SuccessfulDelete", "FailedDelete", "SuccessfulRescale"),
        *("FailedRescale", "FailedGetScale", "FailedComputeMetricsReplicas"),
        *("FailedGetResourceMetric", "BackoffLimitExceeded", "DeadlineExceeded", "Completed"),
        *("SuspendedJob", "ResumedJob", "SawCompletedJob", "MissingJob", "UnexpectedJob"),
        *("TaintManagerEviction", "RegisteredNode", "RemovingNode", "DeletingNode"),
        *("NodeControllerEviction", "DeletingAllPods", "TerminatingEvictedPod"),
        *("RecreatingFailedPod", "RecreatingTerminatedPod", "ProvisioningSucceeded"),
        *("ProvisioningFailed", "ExternalProvisioning", "WaitForFirstConsumer"),
    }
)
KNOWN_REASONS: frozenset[str] = frozenset(
    {
        *_KUBERNETES_REASONS,
        *RULE_REASONS,
        *NODE_PROBLEM_REASONS,
        *(reason for rule in NAMING_RULES for reason in rule.reasons),
    }
)
"""The reasons ``kspan_events_received`` names; any other is counted as ``other``."""
KNOWN_KINDS: frozenset[str] = frozenset(
    {
        *KINDS,
        *(kind for rule in NAMING_RULES for kind in (*rule.owner_kinds, rule.child_kind)),
        *("Service", "Endpoints", "EndpointSlice", "Ingress", "Namespace", "ConfigMap"),
        *("Secret", "ServiceAccount", "PersistentVolumeClaim", "PersistentVolume"),
        *("StorageClass", "VolumeAttachment", "HorizontalPodAutoscaler", "PodDisruptionBudget"),
        *("ReplicationController", "Lease", "CustomResourceDefinition"),
    }
)
"""The regarding kinds ``kspan_events_received`` names; any other is counted as ``other``."""
_EVENT_TYPES = frozenset({"Normal", "Warning"})


def received_labels(event: KubeEvent) -> tuple[str, str, str]:
    """(type, reason, regarding kind) of an occurrence, as ``kspan_events_received`` labels it:
    a value kspan-py does not know is ``other``."""
    return (
        event.type if event.type in _EVENT_TYPES else OTHER,
        event.reason if event.reason in KNOWN_REASONS else OTHER,
        event.regarding.kind if event.regarding.kind in KNOWN_KINDS else OTHER,
    )


def _labels(*values: str) -> list[str]:
    return [printable(value) for value in values]


@dataclass(slots=True)
class LiveState:
    """What the running pipeline exposes to its caller (and later to metrics and probes).

    live.py fills it; it is defined here, beside the collector and the probes that read it, so
    that this module need not import live.py (which starts the server: a cycle)."""

    source: ClusterSource | None = None
    graph: CausalGraph | None = None
    gate: ExportGate | None = None
    ready: asyncio.Event | None = None
    values_ingested: int = 0
    outlets: dict[str, SinkOutlet] = field(default_factory=dict)
    received: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    """Occurrences taken, by (type, reason, regarding kind)."""
    delivered_spans: int = 0
    last_checkpoint_s: float = 0.0
    heartbeat_s: float = 0.0
    """time.monotonic() when the graph task last turned: liveness."""
    standby: bool = False
    """--leader-elect: waiting for the Lease (alive and ready, exporting nothing)."""
    checkpoint_writes: CheckpointWrites = field(default_factory=CheckpointWrites)
    """--state-file: failed writes (a full disk), for /readyz, /metrics and the exit report."""


class LiveCollector(Collector):
    """Every metric of a run, read from its state at scrape time."""

    def __init__(self, state: LiveState, wall_clock: Callable[[], int] = time.time_ns) -> None:
        self._state = state
        self._wall_clock = wall_clock

    def collect(self) -> Iterator[Metric]:
        state = self._state
        received = CounterMetricFamily(
            "kspan_events_received",
            "Event occurrences taken from the watches, by type, reason and regarding kind",
            labels=["type", "reason", "kind"],
        )
        by_labels: dict[tuple[str, str, str], int] = {}
        for (event_type, reason, kind), count in state.received.items():
            # live.py counts by received_labels already; this keeps any other caller bounded.
            key = (
                event_type if event_type in _EVENT_TYPES else OTHER,
                reason if reason in KNOWN_REASONS else OTHER,
                kind if kind in KNOWN_KINDS else OTHER,
            )
            by_labels[key] = by_labels.get(key, 0) + count
        for labels, count in sorted(by_labels.items()):
            received.add_metric(list(labels), count)
        yield received
        delivered = CounterMetricFamily(
            "kspan_spans_delivered", "Spans every sink took (journalled in the checkpoint)"
        )
        delivered.add_metric([], state.delivered_spans)
        yield delivered
        yield from self._sinks()
        yield from self._graph()
        yield from self._watches()
        checkpoint = GaugeMetricFamily(
            "kspan_last_checkpoint_timestamp_seconds", "When the checkpoint was last written"
        )
        checkpoint.add_metric([], state.last_checkpoint_s)
        yield checkpoint
        write_failures = CounterMetricFamily(
            "kspan_checkpoint_write_failures",
            "Journal lines and checkpoints that could not be written (a full disk), retried",
        )
        write_failures.add_metric([], state.checkpoint_writes.failures)
        yield write_failures

    def _sinks(self) -> Iterator[Metric]:
        exported = CounterMetricFamily("kspan_spans_exported", "Spans a sink took", labels=["sink"])
        failures = CounterMetricFamily(
            "kspan_export_failures",
            "Export attempts a sink refused, by reason",
            labels=["sink", "reason"],
        )
        dropped = CounterMetricFamily(
            "kspan_spans_dropped", "Spans given up, by reason", labels=["sink", "reason"]
        )
        queued = GaugeMetricFamily(
            "kspan_sink_queue_spans", "Spans waiting for a sink", labels=["sink"]
        )
        for name, outlet in sorted(self._state.outlets.items()):
            exported.add_metric(_labels(name), outlet.stats.exported)
            for reason, count in sorted(outlet.stats.refusals.items()):
                failures.add_metric(_labels(name, reason), count)
            for reason, count in sorted(outlet.stats.dropped.items()):
                dropped.add_metric(_labels(name, reason), count)
            queued.add_metric(_labels(name), outlet.queued_spans)
        yield from (exported, failures, dropped, queued)

    def _graph(self) -> Iterator[Metric]:
        graph, gate = self._state.graph, self._state.gate
        if graph is None:
            return
        occurrences = CounterMetricFamily("kspan_occurrences", "Event occurrences linked")
        occurrences.add_metric([], graph.stats.occurrences)
        pending = GaugeMetricFamily(
            "kspan_pending_occurrences", "Occurrences waiting for the window to pass"
        )
        pending.add_metric([], graph.pending)
        store = GaugeMetricFamily("kspan_object_store_objects", "Objects in the object store")
        store.add_metric([], len(graph.store))
        lag = GaugeMetricFamily(
            "kspan_watermark_lag_seconds", "How far event time is behind the wall clock"
        )
        if graph.watermark_ns:
            lag.add_metric([], (self._wall_clock() - graph.watermark_ns) / 1e9)
        yield from (occurrences, pending, store, lag)
        if gate is not None:
            held = CounterMetricFamily(
                "kspan_spans_held_back",
                "Finished spans not exported: before --since, or exported before a restart",
                labels=["reason"],
            )
            held.add_metric(["before since"], gate.held_back)
            held.add_metric(["already exported"], gate.already_exported)
            yield held

    def _watches(self) -> Iterator[Metric]:
        source = self._state.source
        if source is None:
            return
        restarts = CounterMetricFamily(
            "kspan_watch_restarts", "Watch requests after the first", labels=["resource"]
        )
        relists = CounterMetricFamily(
            "kspan_relists", "Lists after the start-up one (410 Gone)", labels=["resource"]
        )
        errors = CounterMetricFamily(
            "kspan_watch_errors", "Failed list or watch requests", labels=["resource"]
        )
        # Before any watch exists, the discovery of the Events API is what fails when the API
        # server cannot be reached: counted from the first attempt.
        errors.add_metric([DISCOVERY], source.discovery_errors)
        for watch in source.watches:
            label = _labels(watch.label)
            restarts.add_metric(label, max(0, watch.stats.watches - 1))
            relists.add_metric(label, watch.stats.relists)
            errors.add_metric(label, watch.stats.errors)
        yield from (restarts, relists, errors)


@dataclass(frozen=True, slots=True)
class Health:
    ok: bool
    reason: str


def liveness(state: LiveState, *, stuck_after_s: float, now: Callable[[], float]) -> Health:
    if state.heartbeat_s == 0:
        return Health(True, "standing by" if state.standby else "starting")
    quiet = now() - state.heartbeat_s
    if quiet > stuck_after_s:
        return Health(False, f"the graph loop has not turned for {quiet:.0f}s")
    return Health(True, "ok")


def readiness(state: LiveState) -> Health:
    if state.standby:
        return Health(True, "standing by: another replica holds the lease")
    if state.ready is None or not state.ready.is_set():
        return Health(False, "the start-up lists are not done")
    for name, outlet in sorted(state.outlets.items()):
        if (trouble := outlet.unready_reason) is not None:
            return Health(False, f"sink {name}: {trouble}")
    if (error := state.checkpoint_writes.error) is not None:
        failures = state.checkpoint_writes.failures
        return Health(False, f"checkpoint: {error} ({failures} failed writes); retrying")
    return Health(True, "ok")


async def serve(
    state: LiveState,
    port: int,
    *,
    host: str = DEFAULT_ADDRESS,
    stuck_after_s: float = 30.0,
    wall_clock: Callable[[], int] = time.time_ns,
) -> web.AppRunner:
    """Start the HTTP server; the caller cleans the returned runner up."""
    registry = CollectorRegistry()
    registry.register(LiveCollector(state, wall_clock))

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE})

    async def healthz(_: web.Request) -> web.Response:
        health = liveness(state, stuck_after_s=stuck_after_s, now=time.monotonic)
        return web.Response(text=health.reason + "\n", status=200 if health.ok else 503)

    async def readyz(_: web.Request) -> web.Response:
        health = readiness(state)
        return web.Response(text=health.reason + "\n", status=200 if health.ok else 503)

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    addresses = ", ".join(f"{a[0]}:{a[1]}" for a in runner.addresses)
    log.info("metrics and probes on %s", addresses)
    return runner
