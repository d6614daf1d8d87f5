"""kspan-py: Kubernetes Events as causally linked OpenTelemetry traces.

The public surface for embedding is small: read changes (``read_capture``), link them into
traces (``link``, giving ``Trace`` records), or, for a stream, feed a ``CausalGraph`` (or call
``replay_changes``) and hand the spans to any SDK ``SpanExporter``.
"""

from kspan_py.config import GraphSettings
from kspan_py.graph.causality import CausalGraph, replay_changes
from kspan_py.pipeline import link
from kspan_py.sources.capture import read_capture
from kspan_py.views.traces import Trace

__version__ = "0.1.0"

__all__ = [
    "CausalGraph",
    "GraphSettings",
    "Trace",
    "__version__",
    "link",
    "read_capture",
    "replay_changes",
]
