"""The pipeline as one call, for tools that embed the linker: changes in, traces out.

A Collector-side processor or a notebook has Kubernetes objects and Events and wants traces,
without the command line, the runner's tasks or a sink. ``link`` takes what ``read_capture``
yields (or any iterable of change records), links it and gives back each trace whole, in
start order, with its spans in tree order. For incremental use (a stream that never ends), use
``CausalGraph`` directly: ``ingest``, ``advance``, ``flush``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from kspan_py.config import GraphSettings
from kspan_py.graph.causality import replay_changes
from kspan_py.model import EventChange, ObjectChange, Snapshot
from kspan_py.sources.capture import CaptureItem
from kspan_py.views.traces import Trace, group_traces


def link(changes: Iterable[CaptureItem], settings: GraphSettings | None = None) -> Iterator[Trace]:
    """Link changes into traces. Items that are not changes (a ``Skipped`` value, a
    ``Bookmark``) are passed over, so ``link(read_capture(path))`` works as it is."""
    wanted = (
        change for change in changes if isinstance(change, ObjectChange | EventChange | Snapshot)
    )
    spans = replay_changes(wanted, settings or GraphSettings())
    yield from group_traces(spans)
