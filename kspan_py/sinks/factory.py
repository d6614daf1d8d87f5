"""``--exporter`` names to sink instances."""

from __future__ import annotations

import os

from opentelemetry.sdk.trace.export import SpanExporter

from kspan_py.config import ConfigError, SinkSettings
from kspan_py.sinks.console import ConsoleSink
from kspan_py.sinks.html import HtmlTimelineSink
from kspan_py.sinks.otlp import make_otlp_exporter
from kspan_py.sinks.otlp_json import OtlpJsonFileSink
from kspan_py.sinks.otlp_logs import OtlpLogSink, OtlpLogsJsonFileSink, make_otlp_log_exporter

EXPORTER_NAMES = ("otlp", "otlp-json", "otlp-logs", "otlp-logs-json", "console", "html", "none")


def make_sinks(settings: SinkSettings) -> dict[str, SpanExporter]:
    _check_distinct_files(settings)
    sinks: dict[str, SpanExporter] = {}
    for name in settings.exporters:
        if name in sinks or name == "none":
            continue
        if name == "console":
            sinks[name] = ConsoleSink(color=settings.color)
        elif name == "otlp-json":
            if not settings.otlp_json_file:
                raise ConfigError("--exporter otlp-json needs --otlp-json-file PATH")
            try:
                sinks[name] = OtlpJsonFileSink(
                    settings.otlp_json_file,
                    append=settings.append_files,
                    recheck_spans=settings.recheck_tail_spans,
                )
            except OSError as error:
                raise ConfigError(f"--otlp-json-file: cannot open: {error}") from error
        elif name == "html":
            if not settings.html_file:
                raise ConfigError("--exporter html needs --html-file PATH")
            try:
                sinks[name] = HtmlTimelineSink(
                    settings.html_file, max_spans=settings.html_max_spans
                )
            except OSError as error:
                raise ConfigError(f"--html-file: cannot write there: {error}") from error
        elif name == "otlp":
            sinks[name] = make_otlp_exporter(settings.otlp)
        elif name == "otlp-logs":
            sinks[name] = OtlpLogSink(make_otlp_log_exporter(settings.otlp_logs))
        elif name == "otlp-logs-json":
            if not settings.otlp_logs_json_file:
                raise ConfigError("--exporter otlp-logs-json needs --otlp-logs-json-file PATH")
            try:
                sinks[name] = OtlpLogsJsonFileSink(
                    settings.otlp_logs_json_file, append=settings.append_files
                )
            except OSError as error:
                raise ConfigError(f"--otlp-logs-json-file: cannot open: {error}") from error
        else:
            raise ConfigError(f"--exporter: {name!r} is not one of {', '.join(EXPORTER_NAMES)}")
    return sinks


def _check_distinct_files(settings: SinkSettings) -> None:
    """The two OTLP/JSON sinks each write a line at a time, in parts as they encode it (a line
    whole or not at all, for one writer): two of them on one file would interleave their parts
    and take back each other's writes."""
    if not {"otlp-json", "otlp-logs-json"} <= set(settings.exporters):
        return
    traces, logs = settings.otlp_json_file, settings.otlp_logs_json_file
    if traces and logs and os.path.realpath(traces) == os.path.realpath(logs):
        raise ConfigError(
            "--otlp-json-file and --otlp-logs-json-file name the same file: give each its own"
        )
