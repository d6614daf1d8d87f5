"""``kspan-py explain KIND/NAME``: why did this object do what it did, in a terminal.

Half the time there is no tracing backend at hand, only a kubeconfig or a capture and a
question. This gathers objects and Events (from captures and dumps, or from one list of the
cluster, no watch), links them as a replay does, picks the traces about the object (see
views/focus.py) and prints each with its verdict and waterfall (views/waterfall.py). The views
escape what they take from Events; what is written here is checked once more, so that no control
sequence from an Event reaches the terminal whichever view forgot (kspan_py.escaping).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from rich.console import Console
from rich.text import Text

from kspan_py.config import ClusterSettings, ExplainSettings
from kspan_py.escaping import printable
from kspan_py.filtering import ExportFilter
from kspan_py.graph.causality import replay_changes
from kspan_py.model import EventChange, ObjectChange, Snapshot
from kspan_py.sources.capture import CaptureItem, Skipped, expand_value, read_capture
from kspan_py.views.focus import ObjectIndex, Selection, Target, select
from kspan_py.views.problems import classifies
from kspan_py.views.timeline import render_timeline
from kspan_py.views.traces import Trace, group_traces
from kspan_py.views.waterfall import (
    FANCY,
    PLAIN,
    bar_width_for,
    explanation_lines,
    spans_by_id,
)

Linkable = ObjectChange | EventChange | Snapshot


@dataclass(frozen=True, slots=True)
class Gathered:
    """What explain reads, and where it came from (for messages)."""

    changes: list[Linkable]
    source: str
    skipped: int = 0


def _gather(items: Iterable[CaptureItem], source: str) -> Gathered:
    changes: list[Linkable] = []
    skipped = 0
    for item in items:
        if isinstance(item, ObjectChange | EventChange | Snapshot):
            changes.append(item)
        elif isinstance(item, Skipped):
            skipped += 1
    return Gathered(changes, source, skipped)


def gather_files(paths: Sequence[str]) -> Gathered:
    """Captures and dumps, in order (raises CaptureError for one that cannot be read)."""
    items = (item for path in paths for item in read_capture(path))
    names = ", ".join(Path(p).name if p != "-" else "stdin" for p in paths)
    return _gather(items, names)


async def gather_cluster(cluster: ClusterSettings) -> Gathered:
    """One list of every watched resource (raises ListFailed or ConfigException)."""
    from kspan_py.sources.watching import list_once  # the API client only when live

    snapshot = await list_once(cluster)
    where = f" in namespace {', '.join(cluster.namespaces)}" if cluster.namespaces else ""
    context = f" (context {cluster.context})" if cluster.context else ""
    return _gather(expand_value(snapshot.value, "the cluster"), f"the cluster{context}{where}")


@dataclass(frozen=True, slots=True)
class Explanation:
    selection: Selection
    index: ObjectIndex
    traces: list[Trace]
    """Every trace linked, not only those selected (links resolve against them)."""
    source: str


def explain(gathered: Gathered, settings: ExplainSettings) -> Explanation:
    """Link what was gathered and select what concerns the target (raises UnknownObject)."""
    target = Target.parse(settings.target)
    spans = replay_changes(gathered.changes, settings.graph)
    export_filter = ExportFilter(settings.filters)
    if export_filter.active:
        # The same choice a replay with these filters exports: matches and their causes.
        for change in gathered.changes:
            if isinstance(change, ObjectChange):
                export_filter.observe(change)
        spans = export_filter.select_all(spans)
    traces = group_traces(spans)
    objects = (c.obj for c in gathered.changes if isinstance(c, ObjectChange))
    index = ObjectIndex(objects, (span for trace in traces for span in trace.spans))
    focus = index.focus(target, settings.namespace, source=gathered.source)
    source = gathered.source
    if gathered.skipped:
        source += f" ({gathered.skipped} values skipped)"
    return Explanation(select(traces, focus), index, traces, source)


def wants_colour(stream: IO[str], color: bool | None) -> bool:
    """Colour on a terminal unless --no-color or NO_COLOR (https://no-color.org) says not."""
    if color is not None:
        return color
    return stream.isatty() and not os.environ.get("NO_COLOR")


def print_explanation(
    explanation: Explanation, *, stream: IO[str] | None = None, color: bool | None = None
) -> None:
    out = stream or sys.stdout
    console = (
        Console(file=out, highlight=False, force_terminal=True)
        if wants_colour(out, color)
        else None
    )
    lines = explanation_lines(
        explanation.selection,
        explanation.index,
        glyphs=FANCY if console is not None else PLAIN,
        source=explanation.source,
        linked=spans_by_id(explanation.traces),
        classified=classifies(s for trace in explanation.traces for s in trace.spans),
        bar_width=bar_width_for(console.width if console is not None else None),
    )
    if console is None:
        out.write("".join(printable(line.plain) + "\n" for line in lines))
        out.flush()
    else:
        write_lines(lines, console)


def write_lines(lines: Sequence[Text], console: Console) -> None:
    for line in map(_escaped, lines):
        # A span is one line, cropped at the width; a verdict or a note wraps.
        if line.no_wrap:
            console.print(line, no_wrap=True, overflow=line.overflow or "ellipsis", crop=True)
        else:
            console.print(line)


def _escaped(line: Text) -> Text:
    """The line as it is when it holds nothing to escape (the usual case: the views escape what
    they add); else its text escaped, in the line's own style."""
    plain = line.plain
    safe = printable(plain)
    if safe == plain:
        return line
    return Text(safe, style=line.style, no_wrap=line.no_wrap, overflow=line.overflow)


def write_html(explanation: Explanation, path: str, *, title: str) -> int:
    """The traces shown, as an HTML timeline; returns the number of traces written."""
    shown = [focused.shown for focused in explanation.selection.traces]
    Path(path).write_text(render_timeline(shown, title=title), encoding="utf-8")
    return len(shown)
