"""Where spans go. Every sink is an OpenTelemetry SDK ``SpanExporter`` (export / shutdown /
force_flush), so the SDK's own OTLP exporters are sinks as they are, and any exporter from the
ecosystem plugs in. ``make_sinks`` turns the ``--exporter`` names into instances."""

from kspan_py.sinks.factory import EXPORTER_NAMES, make_sinks

__all__ = ["EXPORTER_NAMES", "make_sinks"]
