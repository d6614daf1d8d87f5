"""kspan-py: Kubernetes Events as causally linked OpenTelemetry traces.

The public surface for embedding is small: read changes (``read_capture``), link them
(``CausalGraph`` or ``replay_changes``), and hand the spans to any SDK ``SpanExporter``.
"""

from kspan_py.config import GraphSettings
from kspan_py.graph.causality import CausalGraph, replay_changes
from kspan_py.sources.capture import read_capture

__version__ = "0.1.0"

__all__ = ["CausalGraph", "GraphSettings", "__version__", "read_capture", "replay_changes"]
