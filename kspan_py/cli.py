"""Command line: parse arguments into Settings and hand them to the runner; nothing else.

Every flag can also be set as a ``KSPAN_*`` environment variable (``--window`` is
``KSPAN_WINDOW``); the flag wins. Exit status: 0 done, 1 a capture could not be read,
2 a usage or configuration error, or a malformed value under ``--strict``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from kspan_py.config import (
    ENV_PREFIX,
    SECOND_NS,
    ConfigError,
    GraphSettings,
    OtlpSettings,
    ReplaySettings,
    SinkSettings,
    parse_duration_ns,
)
from kspan_py.runner import ReplaySummary, StrictModeError, replay
from kspan_py.sinks import EXPORTER_NAMES, make_sinks
from kspan_py.sinks.otlp import PROTOCOLS, resolve_protocol
from kspan_py.sources.capture import CaptureError

log = logging.getLogger("kspan_py")

DEMO_CAPTURE = Path(__file__).parent / "demo" / "rolling-update.jsonl"
"""A real recording of `kubectl create deployment web --replicas=2` then `kubectl set image`."""


def _env(flag: str) -> str | None:
    return os.environ.get(ENV_PREFIX + flag.lstrip("-").replace("-", "_").upper())


def _env_list(flag: str) -> list[str] | None:
    value = _env(flag)
    return [part.strip() for part in value.split(",") if part.strip()] if value else None


def _duration(flag: str, value: str) -> int:
    return parse_duration_ns(value, setting=flag)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kspan-py",
        description="Turn Kubernetes Events into causally linked OpenTelemetry traces.",
    )
    parser.add_argument("--log-level", default=_env("--log-level") or "warning")
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
    replay_cmd.add_argument(
        "--exporter",
        action="append",
        choices=EXPORTER_NAMES,
        help="where spans go; repeatable (default: console) [KSPAN_EXPORTER, comma-separated]",
    )
    replay_cmd.add_argument("--otlp-json-file", default=_env("--otlp-json-file"), metavar="PATH")
    replay_cmd.add_argument(
        "--otlp-protocol",
        choices=PROTOCOLS,
        default=_env("--otlp-protocol"),
        help="default: OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL, else grpc",
    )
    replay_cmd.add_argument(
        "--otlp-endpoint",
        default=_env("--otlp-endpoint"),
        help="default: OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT, else the exporter's localhost",
    )
    replay_cmd.add_argument(
        "--otlp-header",
        action="append",
        default=None,
        metavar="KEY=VALUE",
        help="repeatable; default: OTEL_EXPORTER_OTLP_[TRACES_]HEADERS",
    )
    replay_cmd.add_argument(
        "--otlp-insecure",
        action="store_true",
        default=None,
        help="plaintext gRPC (default: OTEL_EXPORTER_OTLP_[TRACES_]INSECURE)",
    )
    replay_cmd.add_argument("--otlp-timeout", default=_env("--otlp-timeout"), metavar="DURATION")
    replay_cmd.add_argument(
        "--window",
        default=_env("--window") or "5s",
        help="how late input may arrive and how long a lone event lasts (default 5s)",
    )
    replay_cmd.add_argument(
        "--change-gap",
        default=_env("--change-gap") or "30s",
        help="quiet time that ends a change: acts further apart are separate traces (30s)",
    )
    replay_cmd.add_argument("--cluster-name", default=_env("--cluster-name") or "")
    replay_cmd.add_argument(
        "--strict", action="store_true", default=_env("--strict") in ("1", "true", "yes")
    )
    replay_cmd.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default=_env("--color") or "auto",
        help="highlight Warning events in the console tree",
    )
    return parser


def _headers(values: Sequence[str]) -> tuple[tuple[str, str], ...]:
    pairs = []
    for value in values:
        name, sep, content = value.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"--otlp-header: {value!r} is not KEY=VALUE")
        # Header names are case-insensitive, and gRPC metadata accepts only lowercase ones.
        pairs.append((name.strip().lower(), content.strip()))
    return tuple(pairs)


def replay_settings(args: argparse.Namespace) -> ReplaySettings:
    window = _duration("--window", args.window)
    if window <= 0:
        raise ConfigError(f"--window: {args.window!r} must be positive")
    graph = GraphSettings(
        window_ns=window,
        change_gap_ns=_duration("--change-gap", args.change_gap),
        cluster_name=args.cluster_name,
    )
    exporters = tuple(args.exporter or _env_list("--exporter") or ["console"])
    timeout = _duration("--otlp-timeout", args.otlp_timeout) if args.otlp_timeout else None
    otlp = OtlpSettings(
        protocol=resolve_protocol(args.otlp_protocol),
        endpoint=args.otlp_endpoint,
        headers=_headers(args.otlp_header or []),
        insecure=args.otlp_insecure,
        timeout_s=timeout / SECOND_NS if timeout is not None else None,
    )
    color = {"auto": None, "always": True, "never": False}[args.color]
    sinks = SinkSettings(
        exporters=exporters, otlp=otlp, otlp_json_file=args.otlp_json_file, color=color
    )
    paths = tuple(args.paths) or (str(DEMO_CAPTURE),)
    return ReplaySettings(paths=paths, graph=graph, sinks=sinks, strict=args.strict)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="kspan-py: %(levelname)s: %(message)s")
    try:
        settings = replay_settings(args)
        sinks = make_sinks(settings.sinks)
    except ConfigError as error:
        print(f"kspan-py: {error}", file=sys.stderr)
        return 2
    summary = ReplaySummary()
    # The graph keeps many small long-lived records; the default collector thresholds make
    # full collections rescan them over and over (about 20% of a large replay, make bench).
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    try:
        asyncio.run(replay(settings, sinks, summary))
    except CaptureError as error:
        print(f"kspan-py: {error}", file=sys.stderr)
        return 1
    except StrictModeError as error:
        print(f"kspan-py: --strict: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"kspan-py: interrupted; {summary.line()}", file=sys.stderr)
        return 130
    print(f"kspan-py: {summary.line()}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
