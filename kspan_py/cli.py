"""Command line: parse arguments into Settings and hand them to the runner; nothing else.

Every flag can also be set as a ``KSPAN_*`` environment variable (``--window`` is
``KSPAN_WINDOW``); the flag wins. Exit status: 0 done, 1 a capture could not be read (or, for
``explain``, the cluster could not be listed), 2 a usage or configuration error, a malformed
value under ``--strict``, or an object ``explain`` cannot find, 3 (``replay``, ``run``) done,
but some spans were not exported (the summary line counts them, by sink and reason).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import re
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from kspan_py import logs
from kspan_py.checkpoint import CheckpointWrites
from kspan_py.collecting import tune_memory
from kspan_py.config import (
    ENV_PREFIX,
    SECOND_NS,
    ClusterSettings,
    ConfigError,
    ExplainSettings,
    FilterSettings,
    GraphSettings,
    LeaseSettings,
    LiveSettings,
    OtlpSettings,
    ReplaySettings,
    SinkSettings,
    parse_duration_ns,
)
from kspan_py.escaping import printable
from kspan_py.logs import FORMATS
from kspan_py.runner import ReplaySummary, RetimeError, StrictModeError, counted, replay
from kspan_py.sharding import Shard
from kspan_py.sinks import EXPORTER_NAMES, make_sinks
from kspan_py.sinks.otlp import PROTOCOLS, resolve_logs_protocol, resolve_protocol
from kspan_py.sources.capture import CaptureError
from kspan_py.sources.resources import KINDS, select_resources
from kspan_py.views.focus import UnknownObject

log = logging.getLogger("kspan_py")

EXIT_NOT_EXPORTED = 3
"""Done, but some spans were not exported: a script can tell a replay into a collector that
was down from one that delivered everything."""

DEMO_CAPTURE = Path(__file__).parent / "demo" / "rolling-update.jsonl"
"""A real recording of `kubectl create deployment web --replicas=2` then `kubectl set image`."""


def _env(flag: str) -> str | None:
    return os.environ.get(ENV_PREFIX + flag.lstrip("-").replace("-", "_").upper())


def _env_list(flag: str) -> list[str] | None:
    value = _env(flag)
    return [part.strip() for part in value.split(",") if part.strip()] if value else None


def _env_true(flag: str) -> bool:
    return (_env(flag) or "").strip().lower() in ("1", "true", "yes")


def _duration(flag: str, value: str) -> int:
    return parse_duration_ns(value, setting=flag)


DURATION = "DURATION"
"""The metavar of every flag that takes a duration: main() lets their value start with '-'."""


def _negative_values_joined(argv: Sequence[str], flags: set[str]) -> list[str]:
    """``--window -5s`` as ``--window=-5s``: argparse would take ``-5s`` for a flag and say
    "expected one argument"; joined, the duration parser names the flag and the value."""
    joined: list[str] = []
    for token in argv:
        previous = joined[-1] if joined else None
        if previous in flags and token[:1] == "-" and token[1:2] in _NUMBER_START:
            joined[-1] = f"{previous}={token}"
        else:
            joined.append(token)
    return joined


_NUMBER_START = frozenset("0123456789.")


def _duration_flags(parser: argparse.ArgumentParser) -> set[str]:
    flags: set[str] = set()
    for action in parser._actions:  # argparse has no public walk of its subcommands
        if isinstance(action, argparse._SubParsersAction):
            for command in action.choices.values():
                flags |= _duration_flags(command)
        elif action.metavar == DURATION:
            flags.update(action.option_strings)
    return flags


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kspan-py",
        description="Turn Kubernetes Events into causally linked OpenTelemetry traces.",
    )
    _add_log_flags(parser, top=True)
    commands = parser.add_subparsers(dest="command", required=True)
    replay_cmd = commands.add_parser(
        "replay",
        help="replay captures or `kubectl get ... -o json` dumps into traces",
        description="Replay captures (JSON lines, JSON streams or Lists; gzip ok; - for stdin).",
    )
    replay_cmd.add_argument(
        "paths",
        nargs="*",
        metavar="CAPTURE",
        help="capture files, - for stdin; none: the bundled demo (a rolling update)",
    )
    _add_log_flags(replay_cmd)
    _add_sink_flags(replay_cmd, default_exporter="console")
    _add_graph_flags(replay_cmd)
    _add_filter_flags(replay_cmd)
    replay_cmd.add_argument("--strict", action="store_true", default=_env_true("--strict"))
    replay_cmd.add_argument(
        "--retime",
        action="store_true",
        default=_env_true("--retime"),
        help="shift every exported time so the input's last occurrence is a window ago: Tempo "
        "searches, and Loki accepts, only recent data (files only: they are read twice)",
    )
    run_cmd = commands.add_parser(
        "run",
        help="watch a cluster and stream traces until stopped",
        description="Watch a cluster (kubeconfig or in-cluster) and export traces; SIGTERM or "
        "Ctrl-C flushes what is pending and exits 0 (3 if spans were not exported).",
    )
    _add_cluster_flags(run_cmd)
    _add_sink_flags(run_cmd, default_exporter="otlp")
    _add_graph_flags(run_cmd)
    _add_filter_flags(run_cmd)
    run_cmd.add_argument(
        "--since",
        default=_env("--since"),
        metavar=DURATION,
        help="export occurrences up to this long before the start (1h: the retained history); "
        "default: none before the start (older events only give context); a restart with a "
        "--state-file keeps the first start's",
    )
    run_cmd.add_argument(
        "--state-file",
        default=_env("--state-file"),
        metavar="PATH",
        help="checkpoint for restarts: no occurrence lost or exported twice",
    )
    run_cmd.add_argument(
        "--metrics-port",
        type=int,
        default=_env("--metrics-port"),  # argparse applies type to it: a bad value is named
        metavar="PORT",
        help="serve /metrics (Prometheus), /healthz and /readyz on this port (default: none)",
    )
    run_cmd.add_argument(
        "--metrics-address",
        default=_env("--metrics-address") or "0.0.0.0",
        metavar="HOST",
        help="the address --metrics-port binds (default 0.0.0.0; 127.0.0.1: this host only)",
    )
    run_cmd.add_argument(
        "--shard",
        default=_env("--shard"),
        metavar="I/N",
        help="take only the namespaces whose hash falls in shard I of N (cluster-scoped "
        "objects in every shard, their Events exported by shard 0)",
    )
    run_cmd.add_argument(
        "--leader-elect",
        action="store_true",
        default=_env_true("--leader-elect"),
        help="hold a coordination.k8s.io Lease before watching: of several replicas one "
        "exports, the others stand by",
    )
    run_cmd.add_argument(
        "--lease-name", default=_env("--lease-name") or "kspan-py", help="(kspan-py)"
    )
    run_cmd.add_argument(
        "--lease-namespace",
        default=_env("--lease-namespace"),
        help="default: $POD_NAMESPACE, the service account's namespace, else default",
    )
    run_cmd.add_argument(
        "--leader-identity",
        default=_env("--leader-identity"),
        help="default: $POD_NAME, else the host name",
    )
    run_cmd.add_argument(
        "--lease-duration",
        default=_env("--lease-duration") or "15s",
        metavar=DURATION,
        help="a silent leader keeps the Lease this long (15s); it renews every 2/3 of it and "
        "a standby retries every 2s",
    )
    run_cmd.add_argument(
        "--max-queue-spans",
        type=int,
        default=_env("--max-queue-spans") or "50000",
        metavar="N",
        help="spans held per sink while its collector is down; then the oldest are dropped "
        "and counted (50000)",
    )
    run_cmd.add_argument(
        "--record",
        default=_env("--record"),
        metavar="PATH",
        help="also write everything observed as a capture (.gz: compressed)",
    )
    explain_cmd = commands.add_parser(
        "explain",
        help="why? print the traces about one object, each with a verdict and a waterfall",
        description="Find the traces that involve an object (its own events, its owners' and "
        "its children's) and print, for each, the first problem and what it caused, then the "
        "spans as a waterfall. Live, the cluster is listed once (no watch); --from reads "
        "captures or `kubectl get ... -o json` dumps instead.",
    )
    explain_cmd.add_argument(
        "target", metavar="KIND/NAME", help="pod/web-7d4b9-xk2pq, deploy/web, node/n1, ..."
    )
    explain_cmd.add_argument(
        "-n",
        "--namespace",
        default=_env("--namespace"),
        help="the object's namespace; default: any, if the name is found in only one "
        "(live: every namespace is listed, which needs cluster-wide read access)",
    )
    explain_cmd.add_argument(
        "--from",
        dest="paths",
        action="append",
        metavar="FILE",
        help="read a capture or dump instead of the cluster; repeatable, - for stdin "
        "[KSPAN_FROM, comma-separated]",
    )
    explain_cmd.add_argument(
        "--no-color",
        action="store_true",
        default=_env_true("--no-color"),
        help="plain text, full lines (the default when not writing to a terminal)",
    )
    explain_cmd.add_argument(
        "--html-file",
        default=_env("--html-file"),
        metavar="PATH",
        help="also write the traces shown as a self-contained HTML timeline",
    )
    _add_log_flags(explain_cmd)
    explain_cmd.add_argument("--kubeconfig", default=_env("--kubeconfig"), metavar="PATH")
    explain_cmd.add_argument("--context", default=_env("--context"))
    explain_cmd.add_argument(
        "--events-api",
        choices=("auto", "events.k8s.io/v1", "v1"),
        default=_env("--events-api") or "auto",
        help="auto: events.k8s.io/v1 when served, else core/v1",
    )
    _add_graph_flags(explain_cmd)
    _add_filter_flags(explain_cmd)
    record_cmd = commands.add_parser(
        "record",
        help="write what the cluster's watches show to a capture file",
        description="Record objects and Events as a capture that `kspan-py replay` reads.",
    )
    record_cmd.add_argument("path", metavar="CAPTURE", help="output file (.gz: compressed)")
    _add_cluster_flags(record_cmd)
    record_cmd.add_argument(
        "--duration",
        default=_env("--duration"),
        metavar=DURATION,
        help="stop after this long (default: until SIGTERM or Ctrl-C)",
    )
    return parser


def _add_log_flags(command: argparse.ArgumentParser, *, top: bool = False) -> None:
    """Before or after the command (`kspan-py run --log-format json` in a container)."""
    command.add_argument(
        "--log-level",
        default=(_env("--log-level") or "warning") if top else argparse.SUPPRESS,
        help="debug, info, warning (default), error",
    )
    command.add_argument(
        "--log-format",
        choices=FORMATS,
        default=(_env("--log-format") or "text") if top else argparse.SUPPRESS,
        help="text (kspan-py: LEVEL: message) or json (one object per line, for a cluster)",
    )


def _add_cluster_flags(command: argparse.ArgumentParser) -> None:
    _add_log_flags(command)
    command.add_argument("--kubeconfig", default=_env("--kubeconfig"), metavar="PATH")
    command.add_argument("--context", default=_env("--context"))
    command.add_argument(
        "-n",
        "--namespace",
        action="append",
        dest="namespaces",
        default=None,
        metavar="NAMESPACE",
        help="repeatable; default: all namespaces [KSPAN_NAMESPACE, comma-separated]",
    )
    command.add_argument(
        "--kinds",
        default=_env("--kinds"),
        metavar="KIND,...",
        help="object kinds to watch besides Events (default: all of "
        + ", ".join(KINDS[:-1])
        + "; Nodes only cluster-wide unless named)",
    )
    command.add_argument(
        "--events-api",
        choices=("auto", "events.k8s.io/v1", "v1"),
        default=_env("--events-api") or "auto",
        help="auto: events.k8s.io/v1 when served, else core/v1",
    )
    command.add_argument(
        "--shutdown-timeout",
        default=_env("--shutdown-timeout") or "10s",
        metavar=DURATION,
        help="deadline for flushing the sinks on exit (10s)",
    )


def _add_sink_flags(command: argparse.ArgumentParser, *, default_exporter: str) -> None:
    command.set_defaults(default_exporter=default_exporter)
    command.add_argument(
        "--exporter",
        action="append",
        choices=EXPORTER_NAMES,
        help=f"where spans go; repeatable (default: {default_exporter}) "
        "[KSPAN_EXPORTER, comma-separated]",
    )
    command.add_argument(
        "--otlp-json-file",
        default=_env("--otlp-json-file"),
        metavar="PATH",
        help="where --exporter otlp-json writes one ExportTraceServiceRequest per line (run "
        "appends; replay writes it anew)",
    )
    command.add_argument(
        "--otlp-logs-json-file",
        default=_env("--otlp-logs-json-file"),
        metavar="PATH",
        help="where --exporter otlp-logs-json writes one ExportLogsServiceRequest per line "
        "(run appends; replay writes it anew)",
    )
    command.add_argument(
        "--html-file",
        default=_env("--html-file"),
        metavar="PATH",
        help="where --exporter html writes its timeline (when the replay ends or the run stops)",
    )
    command.add_argument(
        "--otlp-protocol",
        choices=PROTOCOLS,
        default=_env("--otlp-protocol"),
        help="default: OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL, else grpc",
    )
    command.add_argument(
        "--otlp-endpoint",
        default=_env("--otlp-endpoint"),
        help="default: OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT, else the exporter's localhost",
    )
    command.add_argument(
        "--otlp-header",
        action="append",
        default=None,
        metavar="KEY=VALUE",
        help="repeatable; default: OTEL_EXPORTER_OTLP_[TRACES_]HEADERS "
        "[KSPAN_OTLP_HEADER, comma-separated]",
    )
    command.add_argument(
        "--otlp-insecure",
        action="store_true",
        default=True if _env_true("--otlp-insecure") else None,
        help="plaintext gRPC (default: OTEL_EXPORTER_OTLP_[TRACES_]INSECURE)",
    )
    command.add_argument("--otlp-timeout", default=_env("--otlp-timeout"), metavar=DURATION)
    command.add_argument(
        "--otlp-logs-protocol",
        choices=PROTOCOLS,
        default=_env("--otlp-logs-protocol"),
        help="for --exporter otlp-logs; default: OTEL_EXPORTER_OTLP_LOGS_PROTOCOL, else "
        "--otlp-protocol, else OTEL_EXPORTER_OTLP_PROTOCOL, else grpc",
    )
    command.add_argument(
        "--otlp-logs-endpoint",
        default=_env("--otlp-logs-endpoint"),
        help="for --exporter otlp-logs; default: OTEL_EXPORTER_OTLP_LOGS_ENDPOINT, else "
        "--otlp-endpoint or OTEL_EXPORTER_OTLP_ENDPOINT (a base URL such as Loki's "
        "http://loki:3100/otlp gets /v1/logs added)",
    )
    command.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default=_env("--color") or "auto",
        help="highlight Warning events in the console tree",
    )


def _add_graph_flags(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--window",
        default=_env("--window") or "5s",
        metavar=DURATION,
        help="how late input may arrive and how long a lone event lasts (default 5s)",
    )
    command.add_argument(
        "--change-gap",
        default=_env("--change-gap") or "30s",
        metavar=DURATION,
        help="quiet time that ends a change: acts further apart are separate traces (30s)",
    )
    command.add_argument("--cluster-name", default=_env("--cluster-name") or "")
    command.add_argument(
        "--cluster-uid",
        default=_env("--cluster-uid") or "",
        help="k8s.cluster.uid on every resource (run reads the kube-system namespace's uid "
        "when it may)",
    )
    command.add_argument(
        "--service-name",
        default=_env("--service-name") or "",
        metavar="NAME",
        help="one service.name for every span and log record; the reporting component is "
        "then the resource attribute kspan.component (default: service.name is the component)",
    )


def _add_filter_flags(command: argparse.ArgumentParser) -> None:
    """What to export; everything is still read and linked (filtering.py)."""
    command.add_argument(
        "--exclude-namespace",
        action="append",
        dest="exclude_namespaces",
        default=None,
        metavar="NAMESPACE",
        help="export nothing about objects in this namespace; repeatable "
        "[KSPAN_EXCLUDE_NAMESPACE, comma-separated]",
    )
    command.add_argument(
        "-l",
        "--selector",
        default=_env("--selector") or "",
        metavar="SELECTOR",
        help="export only what concerns objects (or their owners) whose labels match "
        "(kubectl -l syntax: app=web,tier!=db,env in (a,b))",
    )
    command.add_argument(
        "--event-types",
        default=_env("--event-types") or "",
        metavar="TYPE,...",
        help="export only these Event types (Normal, Warning); a phase read from status is a "
        "Warning when it shows a problem",
    )
    command.add_argument(
        "--reasons",
        default=_env("--reasons") or "",
        metavar="REASON,...",
        help="export only Events with these reasons (BackOff,OOMKilling,...)",
    )
    command.add_argument(
        "--exclude-reasons",
        default=_env("--exclude-reasons") or "",
        metavar="REASON,...",
        help="export no Event with these reasons",
    )


_HEADER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
"""What a header name can be (gRPC metadata keys: lowercase letters, digits, - _ .)."""


def _headers(values: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """KEY=VALUE pairs. An error names the flag and the key, never the value: the value is
    usually a token, and errors end up in logs."""
    pairs = []
    for number, value in enumerate(values, 1):
        name, sep, content = value.partition("=")
        name = name.strip()
        if not sep:
            colon_name = value.partition(":")[0].strip()
            if ":" in value and _HEADER_NAME.fullmatch(colon_name):
                raise ConfigError(
                    f"--otlp-header: {colon_name!r} is written KEY: VALUE; "
                    f"write {colon_name.lower()}=VALUE (the value is not shown)"
                )
            raise ConfigError(
                f"--otlp-header: header {number} is not KEY=VALUE "
                "(its text is not shown: it may hold a secret)"
            )
        if not _HEADER_NAME.fullmatch(name):
            raise ConfigError(
                f"--otlp-header: header {number} has no valid KEY before '=' (letters, digits, "
                "- _ .; its text is not shown: it may hold a secret)"
            )
        # Header names are case-insensitive, and gRPC metadata accepts only lowercase ones.
        pairs.append((name.lower(), content.strip()))
    return tuple(pairs)


def _names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


_EVENT_TYPES = ("Normal", "Warning")


def filter_settings(args: argparse.Namespace) -> FilterSettings:
    from kspan_py.filtering import LabelSelector

    excluded = args.exclude_namespaces or _env_list("--exclude-namespace") or []
    types = _names(args.event_types)
    for event_type in types:
        if event_type not in _EVENT_TYPES:
            raise ConfigError(
                f"--event-types: {event_type!r} is not one of {', '.join(_EVENT_TYPES)}"
            )
    if args.selector:
        LabelSelector.parse(args.selector)  # a malformed selector is named before any work
    return FilterSettings(
        exclude_namespaces=tuple(name.strip() for name in excluded if name.strip()),
        selector=args.selector,
        event_types=types,
        reasons=_names(args.reasons),
        exclude_reasons=_names(args.exclude_reasons),
    )


def _graph_settings(args: argparse.Namespace) -> GraphSettings:
    window = _duration("--window", args.window)
    if window <= 0:
        raise ConfigError(f"--window: {args.window!r} must be positive")
    return GraphSettings(
        window_ns=window,
        change_gap_ns=_duration("--change-gap", args.change_gap),
        cluster_name=args.cluster_name,
        cluster_uid=args.cluster_uid,
        service_name=args.service_name,
    )


def _sink_settings(args: argparse.Namespace) -> SinkSettings:
    exporters = tuple(args.exporter or _env_list("--exporter") or [args.default_exporter])
    timeout = _duration("--otlp-timeout", args.otlp_timeout) if args.otlp_timeout else None
    otlp = OtlpSettings(
        protocol=resolve_protocol(args.otlp_protocol),
        endpoint=args.otlp_endpoint,
        headers=_headers(args.otlp_header or _env_list("--otlp-header") or []),
        insecure=args.otlp_insecure,
        timeout_s=timeout / SECOND_NS if timeout is not None else None,
    )
    otlp_logs = dataclasses.replace(
        otlp,
        protocol=resolve_logs_protocol(args.otlp_logs_protocol, args.otlp_protocol),
        endpoint=args.otlp_logs_endpoint or otlp.endpoint,
    )
    color = {"auto": None, "always": True, "never": False}[args.color]
    settings = SinkSettings(
        exporters=exporters,
        otlp=otlp,
        otlp_logs=otlp_logs,
        otlp_json_file=args.otlp_json_file,
        otlp_logs_json_file=args.otlp_logs_json_file,
        html_file=args.html_file,
        color=color,
    )
    shutdown = getattr(args, "shutdown_timeout", None)  # run and record only
    if shutdown:
        timeout_s = _duration("--shutdown-timeout", shutdown) / SECOND_NS
        settings = dataclasses.replace(settings, shutdown_timeout_s=timeout_s)
    return settings


def replay_settings(args: argparse.Namespace) -> ReplaySettings:
    paths = tuple(args.paths) or (str(DEMO_CAPTURE),)
    return ReplaySettings(
        paths=paths,
        graph=_graph_settings(args),
        sinks=_sink_settings(args),
        strict=args.strict,
        filters=filter_settings(args),
        retime=args.retime,
    )


def cluster_settings(args: argparse.Namespace) -> ClusterSettings:
    namespaces = tuple(args.namespaces or _env_list("--namespace") or ())
    kinds = tuple(k.strip() for k in (args.kinds or "").split(",") if k.strip())
    try:
        select_resources(kinds, namespaced=bool(namespaces))
    except ValueError as error:
        raise ConfigError(f"--kinds: {error}") from None
    return ClusterSettings(
        kubeconfig=args.kubeconfig,
        context=args.context,
        namespaces=namespaces,
        kinds=kinds,
        events_api=args.events_api,
    )


def explain_settings(args: argparse.Namespace) -> ExplainSettings:
    from kspan_py.views.focus import KIND_OF_ALIAS, Target

    target = Target.parse(args.target)  # a typo is named before any cluster is asked
    namespace = args.namespace.strip() if args.namespace else None
    # A Node is cluster-scoped and the Pods on it live in every namespace: list them all.
    cluster_scoped = KIND_OF_ALIAS.get(target.kind_text.split(".", 1)[0].lower()) == "Node"
    return ExplainSettings(
        target=args.target,
        namespace=namespace or None,
        paths=tuple(args.paths or _env_list("--from") or ()),
        cluster=ClusterSettings(
            kubeconfig=args.kubeconfig,
            context=args.context,
            namespaces=(namespace,) if namespace and not cluster_scoped else (),
            events_api=args.events_api,
        ),
        graph=_graph_settings(args),
        color=False if args.no_color else None,
        html_file=args.html_file,
        filters=filter_settings(args),
    )


def live_settings(args: argparse.Namespace, *, now_ns: int) -> LiveSettings:
    since = now_ns - _duration("--since", args.since) if args.since else None
    return LiveSettings(
        cluster=cluster_settings(args),
        graph=_graph_settings(args),
        sinks=dataclasses.replace(
            _sink_settings(args), append_files=True, recheck_tail_spans=args.max_queue_spans
        ),
        filters=filter_settings(args),
        since_ns=since,
        state_file=args.state_file,
        record_file=args.record,
        max_queue_spans=args.max_queue_spans,
        metrics_port=args.metrics_port,
        metrics_address=args.metrics_address,
        lease=_lease_settings(args) if args.leader_elect else None,
        shard=_shard(args.shard),
    )


def _shard(text: str | None) -> Shard | None:
    if not text:
        return None
    try:
        return Shard.parse(text)
    except ValueError as error:
        raise ConfigError(f"--shard: {error}") from None


_SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def _lease_settings(args: argparse.Namespace) -> LeaseSettings:
    namespace = args.lease_namespace or os.environ.get("POD_NAMESPACE")
    if not namespace and _SERVICE_ACCOUNT_NAMESPACE.exists():
        namespace = _SERVICE_ACCOUNT_NAMESPACE.read_text().strip()
    identity = args.leader_identity or os.environ.get("POD_NAME") or socket.gethostname()
    lease_s = _duration("--lease-duration", args.lease_duration) / SECOND_NS
    if lease_s < 0.3:
        raise ConfigError(f"--lease-duration: {args.lease_duration!r} is too short")
    name = args.lease_name
    shard = _shard(args.shard)
    if shard is not None and shard.count > 1:
        name = f"{name}-shard-{shard.index}-of-{shard.count}"  # one leader per shard
    return LeaseSettings(
        namespace=namespace or "default",
        name=name,
        identity=f"{identity}_{os.getpid()}",
        lease_s=lease_s,
        renew_s=lease_s * 2 / 3,
        retry_s=min(2.0, lease_s / 7.5),
    )


def _no_kubeconfig(cluster: ClusterSettings) -> str | None:
    """The one clear error when there is no cluster to ask (checked before the client, whose
    loader would log "not found" and then raise about a missing current-context)."""
    kubeconfig = cluster.kubeconfig or os.environ.get("KUBECONFIG")
    if not kubeconfig and "KUBERNETES_SERVICE_HOST" in os.environ:
        return None  # in a Pod: the service account
    path = Path(kubeconfig or "~/.kube/config").expanduser()
    if path.is_file():
        return None
    if cluster.kubeconfig or kubeconfig:
        given = "--kubeconfig" if cluster.kubeconfig else "$KUBECONFIG"
        return f"no kubeconfig: {path} ({given}) does not exist"
    return f"no kubeconfig: no {path}, no $KUBECONFIG, and not in a Pod; give --kubeconfig PATH"


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(_negative_values_joined(argv, _duration_flags(parser)))
    logs.configure(args.log_level, args.log_format)
    try:
        if args.command == "replay":
            return _replay(args)
        if args.command == "run":
            return _run(args)
        if args.command == "explain":
            return _explain(args)
        return _record(args)
    except (ConfigError, UnknownObject) as error:
        print(f"kspan-py: {error}", file=sys.stderr)
        return 2


def _replay(args: argparse.Namespace) -> int:
    settings = replay_settings(args)
    sinks = make_sinks(settings.sinks)
    summary = ReplaySummary()
    tune_memory()
    try:
        asyncio.run(replay(settings, sinks, summary))
    except CaptureError as error:
        print(f"kspan-py: {error}", file=sys.stderr)
        return 1
    except StrictModeError as error:
        print(f"kspan-py: --strict: {printable(str(error))}", file=sys.stderr)  # names Events
        return 2
    except RetimeError as error:
        print(f"kspan-py: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"kspan-py: interrupted; {summary.line()}", file=sys.stderr)
        return 130
    print(f"kspan-py: {summary.line()}", file=sys.stderr)
    return EXIT_NOT_EXPORTED if summary.not_exported else 0


def _run(args: argparse.Namespace) -> int:
    # Imported here: the API client costs a replay start-up time it has no use for.
    from kubernetes_asyncio.config.config_exception import ConfigException

    from kspan_py import live, monitoring
    from kspan_py.checkpoint import CheckpointError
    from kspan_py.leading import LeadershipLost

    settings = live_settings(args, now_ns=time.time_ns())
    if (missing := _no_kubeconfig(settings.cluster)) is not None:
        print(f"kspan-py: {missing}", file=sys.stderr)
        return 1
    sinks = make_sinks(settings.sinks)
    summary = ReplaySummary()
    state = monitoring.LiveState()
    tune_memory()

    async def main_task() -> None:
        stop = asyncio.Event()
        live.stop_on_signals(stop)
        await live.run(settings, sinks, summary, stop=stop, state=state)

    try:
        asyncio.run(main_task())
    except (ConfigException, CaptureError, CheckpointError, LeadershipLost) as error:
        print(f"kspan-py: {error}; {summary.line()}", file=sys.stderr)
        return 1
    finally:
        if state.checkpoint_writes.failures:
            print(f"kspan-py: {_checkpoint_report(state.checkpoint_writes)}", file=sys.stderr)
    print(f"kspan-py: stopped; {summary.line()}", file=sys.stderr)
    return EXIT_NOT_EXPORTED if summary.not_exported else 0


def _checkpoint_report(writes: CheckpointWrites) -> str:
    failed = counted(writes.failures, "checkpoint write")
    if writes.save_error is None:
        # The journal may still be failing: the whole checkpoint written on the way out holds
        # every delivery all the same.
        last = writes.journal_error or "a full disk"
        return f"{failed} failed ({last}); the checkpoint written on exit holds every delivery"
    return (
        f"{failed} failed; the checkpoint could not be written on exit ({writes.save_error}): "
        "a restart exports again what was delivered since the last good write (same span ids)"
    )


def _explain(args: argparse.Namespace) -> int:
    from kspan_py import explaining

    settings = explain_settings(args)
    try:
        if settings.paths:
            gathered = explaining.gather_files(settings.paths)
        else:
            from kubernetes_asyncio.config.config_exception import ConfigException

            from kspan_py.sources.watching import ListFailed

            if (missing := _no_kubeconfig(settings.cluster)) is not None:
                print(f"kspan-py: {missing}", file=sys.stderr)
                return 1
            try:
                gathered = asyncio.run(explaining.gather_cluster(settings.cluster))
            except (ConfigException, ListFailed) as error:
                print(f"kspan-py: {error}", file=sys.stderr)
                return 1
    except CaptureError as error:
        print(f"kspan-py: {error}", file=sys.stderr)
        return 1
    explanation = explaining.explain(gathered, settings)
    explaining.print_explanation(explanation, color=settings.color)
    if settings.html_file:
        try:
            explaining.write_html(
                explanation, settings.html_file, title=f"kspan-py explain {settings.target}"
            )
        except OSError as error:
            print(f"kspan-py: --html-file: cannot write: {error}", file=sys.stderr)
            return 1
    return 0


def _record(args: argparse.Namespace) -> int:
    from kubernetes_asyncio.config.config_exception import ConfigException

    from kspan_py import live

    settings = cluster_settings(args)
    duration_s = _duration("--duration", args.duration) / SECOND_NS if args.duration else None
    _duration("--shutdown-timeout", args.shutdown_timeout)  # a recording has no sinks to flush
    if (missing := _no_kubeconfig(settings)) is not None:
        print(f"kspan-py: {missing}", file=sys.stderr)
        return 1

    async def main_task() -> int:
        stop = asyncio.Event()
        live.stop_on_signals(stop)
        if duration_s is not None:
            asyncio.get_running_loop().call_later(duration_s, stop.set)
        return await live.record(settings, args.path, stop=stop)

    try:
        values = asyncio.run(main_task())
    except (ConfigException, CaptureError) as error:
        print(f"kspan-py: {error}", file=sys.stderr)
        return 1
    print(f"kspan-py: recorded {counted(values, 'value')} to {args.path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
