"""Settings: frozen, grouped dataclasses, each field with its unit and why its default is right.

Precedence is argument > ``KSPAN_*`` environment variable > default; the OTLP exporters read
their own ``OTEL_EXPORTER_OTLP_*`` variables, except the protocol, which is chosen here. Every
environment variable name is defined once, below.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kspan_py.sharding import Shard

SECOND_NS = 1_000_000_000

ENV_PREFIX = "KSPAN_"
OTEL_PROTOCOL_ENV = ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
OTEL_LOGS_PROTOCOL_ENV = ("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")


class ConfigError(ValueError):
    """A setting with a bad value; the message names the setting and the value."""


_DURATION = re.compile(r"(?P<number>\d+(?:\.\d+)?)(?P<unit>ms|s|m|h)")
_UNIT_NS = {"ms": 1_000_000, "s": SECOND_NS, "m": 60 * SECOND_NS, "h": 3600 * SECOND_NS}


def parse_duration_ns(text: str, *, setting: str) -> int:
    """``5s``, ``1m30s``, ``250ms``, ``2h`` or a bare number of seconds, to nanoseconds; a
    negative, infinite or not-a-number one is a ConfigError that names the setting."""
    value = text.strip()
    if value.startswith("-"):
        raise ConfigError(
            f"{setting}: {text!r} is negative; a duration is 0 or more (5s, 1m30s, 250ms)"
        )
    try:
        return round(float(value) * SECOND_NS)
    except (ValueError, OverflowError):  # OverflowError: inf, 1e999
        pass
    position, total = 0, 0
    for found in _DURATION.finditer(value):
        if found.start() != position:
            break
        total += round(float(found["number"]) * _UNIT_NS[found["unit"]])
        position = found.end()
    if position != len(value) or not value:
        raise ConfigError(f"{setting}: {text!r} is not a duration (examples: 5s, 1m30s, 250ms)")
    return total


@dataclass(frozen=True, slots=True)
class GraphSettings:
    window_ns: int = 5 * SECOND_NS
    """How late (event time) input may arrive and still be linked as if on time, and how long an
    event span lasts when nothing follows it. 5 s covers the API server's event batching."""

    change_gap_ns: int = 30 * SECOND_NS
    """Quiet time (event time) that ends a change: acts further apart are separate changes.
    30 s: controllers act on a change within seconds; a rollout waiting on probes stays busy."""

    max_change_ns: int = 10 * 60 * SECOND_NS
    """A change stops taking unrelated occurrences after this long, so a busy object does not
    grow one endless trace. Occurrences with an actor cause still join their cause."""

    link_horizon_ns: int = 3600 * SECOND_NS
    """How long the act that created a Pod (or Job) stays the cause of its events: the Event TTL
    of the API server (1 h), after which the cluster itself no longer shows the act."""

    deleted_grace_ns: int = 5 * 60 * SECOND_NS
    """How long a deleted object stays in the store so that its late events still resolve."""

    export_delay_ns: int = SECOND_NS // 2
    """How long a linked event span stays a draft so that children linked just after it can
    stretch it to cover them. Linking already waits the window, so an occurrence reaches the
    sinks about window + this after it happened; later children may end after their parent."""

    root_hold_ns: int = 60 * SECOND_NS
    """The longest a change's root span is held open to cover its children before export
    (backends index spans by arrival; Tempo searches only spans that end within 2 minutes)."""

    repeat_quiet_ns: int = 60 * SECOND_NS
    """A repeated Event (BackOff, FailedMount...) folds its occurrences into one span while they
    come at most this far apart (event time); the span is exported once this long passes with
    no repeat. 60 s: the kubelet repeats a back-off every 10-20 s, and a span exported within
    two minutes of its end stays searchable in Tempo."""

    repeat_span_max_ns: int = 10 * 60 * SECOND_NS
    """The longest one span of repeats covers: a crash loop of hours is exported as it goes,
    one span (with its occurrences as span events) per this much of it."""

    cluster_name: str = ""
    """Value of k8s.cluster.name on every span's resource, when set."""

    cluster_uid: str = ""
    """Value of k8s.cluster.uid (the kube-system namespace's uid) on every resource, when known:
    ``run`` reads it from the cluster when it may, a replay takes ``--cluster-uid``."""

    time_shift_ns: int = 0
    """Added to every exported time (--retime): the graph links on the input's own times."""

    service_name: str = ""
    """One service.name for every span and log record (--service-name), the reporting
    component then in kspan.component. Empty: service.name is the reporting component."""


@dataclass(frozen=True, slots=True)
class OtlpSettings:
    protocol: str = "grpc"  # "grpc" | "http/protobuf"
    endpoint: str | None = None  # None: the exporter reads OTEL_EXPORTER_OTLP_* or its default
    headers: tuple[tuple[str, str], ...] = ()
    insecure: bool | None = None
    timeout_s: float | None = None
    max_request_spans: int = 512
    """Spans in one export request (the SDK's batch processor sends 512 at most too)."""
    max_request_bytes: int = 3 * 1024 * 1024
    """Upper bound of one request's encoded size. A Collector refuses a gRPC request over
    4 MiB by default (``max_recv_msg_size_mib``); 3 MiB leaves room for gRPC's own framing."""


@dataclass(frozen=True, slots=True)
class FilterSettings:
    """What to export (filtering.py): everything is still read and linked, for context."""

    exclude_namespaces: tuple[str, ...] = ()
    selector: str = ""
    """A label selector (kubectl -l syntax) on the objects the spans are about, or their owners."""
    event_types: tuple[str, ...] = ()
    """Normal, Warning; empty: both."""
    reasons: tuple[str, ...] = ()
    """Only Events with these reasons; empty: any."""
    exclude_reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SinkSettings:
    exporters: tuple[str, ...] = ("console",)
    otlp: OtlpSettings = field(default_factory=OtlpSettings)
    otlp_logs: OtlpSettings = field(default_factory=OtlpSettings)
    """``--exporter otlp-logs``: the traces' settings, with the logs' own protocol and endpoint
    (OTEL_EXPORTER_OTLP_LOGS_* are read by the exporter itself)."""
    otlp_json_file: str | None = None
    otlp_logs_json_file: str | None = None
    """Where ``--exporter otlp-logs-json`` writes its ExportLogsServiceRequests (a run appends)."""
    append_files: bool = False
    """Continue the ``--otlp-json-file`` a previous process wrote instead of starting it anew:
    a ``run`` restarted with ``--state-file`` goes on where the last one stopped. A replay has
    no state to go on from, so it writes the file anew."""
    recheck_tail_spans: int = 50_000
    """Appending: spans read back from the end of the file, so that what a killed run wrote but
    had not yet noted in its checkpoint is not written twice. Such spans are the ones another
    sink had not yet taken: a run sets this to its --max-queue-spans."""
    html_file: str | None = None
    """Where ``--exporter html`` writes its timeline (once the sink is flushed)."""
    html_max_spans: int = 100_000
    """Spans the HTML sink keeps for its page (a long ``run``); past it the oldest traces are
    left out and the page says how many. A span takes about 500 bytes of the page (measured on
    the real captures), so the bound keeps a page near 50 MB."""
    color: bool | None = None  # None: colour when writing to a terminal
    queue_batches: int = 8
    """Batches of spans held between the graph and each sink; a full queue slows the replay
    (back-pressure) rather than dropping spans."""
    shutdown_timeout_s: float = 10.0
    """Deadline for flushing every sink on shutdown."""


@dataclass(frozen=True, slots=True)
class ReplaySettings:
    paths: tuple[str, ...]
    graph: GraphSettings = field(default_factory=GraphSettings)
    sinks: SinkSettings = field(default_factory=SinkSettings)
    strict: bool = False
    """Stop at the first malformed value instead of counting and skipping it."""
    filters: FilterSettings = field(default_factory=FilterSettings)
    retime: bool = False
    """Shift every exported time so the input's last occurrence is a window ago (Tempo searches,
    and Loki accepts, only recent times); the input is read twice."""


@dataclass(frozen=True, slots=True)
class ClusterSettings:
    kubeconfig: str | None = None
    """None: $KUBECONFIG, else the in-cluster service account, else ~/.kube/config."""
    context: str | None = None
    namespaces: tuple[str, ...] = ()
    """Empty: all namespaces."""
    kinds: tuple[str, ...] = ()
    """Object kinds to watch besides Events; empty: every kind the rules know."""
    events_api: str = "auto"
    """"auto": events.k8s.io/v1 when served, else core/v1; or force "v1" / "events.k8s.io/v1"."""
    page_size: int = 500
    """Items per list page (limit): big enough to list quickly, small enough for the server."""
    watch_timeout_s: float = 290.0
    """timeoutSeconds asked of the server (jittered down by 10%); the watch then resumes."""
    read_timeout_s: float = 120.0
    """No byte for this long on a watch means a half-dead connection: reconnect. Real servers
    send a BOOKMARK about every minute when asked, so a live connection is never this quiet."""
    request_timeout_s: float = 60.0
    """Deadline of one list page or discovery request."""
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0


@dataclass(frozen=True, slots=True)
class ExplainSettings:
    target: str
    """KIND/NAME as typed (pod/web-7d4b9-xk2pq, deploy/web)."""
    namespace: str | None = None
    """None: any namespace, as long as the name is found in only one."""
    paths: tuple[str, ...] = ()
    """Captures or dumps to read; empty: list the cluster once (no watch)."""
    cluster: ClusterSettings = field(default_factory=ClusterSettings)
    graph: GraphSettings = field(default_factory=GraphSettings)
    color: bool | None = None
    """None: colour and cropped lines on a terminal, plain full lines otherwise."""
    html_file: str | None = None
    """Also write the traces shown as an HTML timeline."""
    filters: FilterSettings = field(default_factory=FilterSettings)


@dataclass(frozen=True, slots=True)
class LeaseSettings:
    namespace: str
    name: str = "kspan-py"
    identity: str = ""
    lease_s: float = 15.0
    """How long a holder that stopped renewing keeps the Lease."""
    renew_s: float = 10.0
    """How often the leader renews."""
    retry_s: float = 2.0
    """How often a standby tries to take the Lease."""


@dataclass(frozen=True, slots=True)
class LiveSettings:
    cluster: ClusterSettings = field(default_factory=ClusterSettings)
    graph: GraphSettings = field(default_factory=GraphSettings)
    sinks: SinkSettings = field(default_factory=SinkSettings)
    filters: FilterSettings = field(default_factory=FilterSettings)
    since_ns: int | None = None
    """Occurrences before this (event time) build context but are not exported. None: the
    start time minus the window, so a start exports nothing the cluster did before."""
    state_file: str | None = None
    """Checkpoint: resource versions and the spans already exported, for restarts."""
    record_file: str | None = None
    """Also write every raw value observed, in the capture format."""
    lease: LeaseSettings | None = None
    """--leader-elect: hold this Lease before watching (one active replica)."""
    shard: Shard | None = None
    """--shard i/n: the share of namespaces this process links and exports."""
    metrics_port: int | None = None
    """Serve /metrics, /healthz and /readyz on this port (None: no server)."""
    metrics_address: str = "0.0.0.0"
    """...on this address (0.0.0.0: every interface, as the kubelet's probes need)."""
    max_queue_spans: int = 50_000
    """Spans each sink may hold while its collector is down; past it the oldest are dropped
    (and counted). About 1 KiB a span."""
    tick_s: float = 0.2
    """How often the wall clock moves event time on, so a quiet cluster still flushes."""
    console_every_s: float = 5.0
    """How often the console sink prints what finished (live, a trace is never complete)."""
    checkpoint_every_s: float = 30.0
    """How often the checkpoint is rewritten whole (each export is journalled at once)."""
