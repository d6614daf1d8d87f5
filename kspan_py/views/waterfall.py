"""The terminal waterfall: what ``kspan-py explain`` prints.

One line a span: start offset, a duration bar on the trace's own time axis (coloured by
component), the duration, the name indented by depth, the component, the message. Problems are
marked and followed by their details; links (a restart to the node's NotReady) by what they
point to. Lines are rich ``Text``: on a terminal they print in colour, one line a span cropped
to the width; otherwise (a pipe, ``--no-color``) their plain text is written in full,
uncropped, with ASCII bars and marks, so that it greps and pastes cleanly. Every text that
comes from an Event or an object (names, components, messages, link reasons) is added with its
control characters escaped (kspan_py.escaping), and as a plain Text: never read as rich markup.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass

from opentelemetry.sdk.trace import ReadableSpan
from rich.text import Text

from kspan_py.escaping import printable
from kspan_py.spans.attributes import EVENT_COUNT, LINK_REASON, REPEAT_FIRST_COUNT
from kspan_py.views.focus import ObjectIndex, Selection
from kspan_py.views.problems import (
    Verdict,
    classifies,
    clock,
    occurrences,
    problem_of,
    verdict,
)
from kspan_py.views.traces import (
    Trace,
    component_of,
    message_of,
    span_id_of,
    start_of,
    trace_id_of,
)

BAR_WIDTH = 24
_PALETTE = (
    "cyan",
    "magenta",
    "green",
    "yellow",
    "blue",
    "bright_cyan",
    "bright_magenta",
    "bright_green",
    "dark_orange",
    "bright_blue",
)
_PROBLEM_STYLE = "bold red"


@dataclass(frozen=True, slots=True)
class Glyphs:
    bar: str
    edge: str
    problem: str
    detail: str
    link: str


FANCY = Glyphs(bar="━", edge="│", problem="✖", detail="└", link="↪")
PLAIN = Glyphs(bar="=", edge="|", problem="!", detail="`-", link="->")


def component_style(component: str) -> str:
    """A colour per component, the same in every run (red is kept for problems)."""
    return _PALETTE[zlib.crc32(component.encode()) % len(_PALETTE)]


def duration(value_ns: int) -> str:
    """Compact: 983ms, 8.0s, 1m07s, 2h05m (Events are precise to the second)."""
    seconds = value_ns / 1e9
    if value_ns <= 0:
        return "0s"
    if seconds < 1:
        return f"{round(value_ns / 1e6)}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes}m{int(seconds % 60):02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m"


def bar(offset_ns: int, duration_ns: int, total_ns: int, glyphs: Glyphs, width: int) -> str:
    """The span's place on the trace's axis; at least one mark, so no span is invisible."""
    if total_ns <= 0:
        first, last = 0, width
    else:
        first = min(width - 1, offset_ns * width // total_ns)
        last = max(first + 1, min(width, -(-(offset_ns + duration_ns) * width // total_ns)))
    return " " * first + glyphs.bar * (last - first) + " " * (width - last)


def bar_width_for(columns: int | None) -> int:
    """A fifth of the terminal, within 8..32 columns; 24 when the width is unknown (a pipe)."""
    return BAR_WIDTH if columns is None else max(8, min(32, columns // 5))


_OFFSET_WIDTH = 8  # "+59m59s", "+983ms"
_DURATION_WIDTH = 6


def trace_lines(
    trace: Trace,
    *,
    glyphs: Glyphs,
    linked: Mapping[int, ReadableSpan] | None = None,
    bar_width: int = BAR_WIDTH,
    classified: bool | None = None,
) -> list[Text]:
    """The waterfall of one trace, a Text a line (no header): offset, bar, duration, then the
    name indented by depth, the component (in its bar's colour) and the message.
    ``classified``: see problems.classifies (None: decided on this trace's spans)."""
    if classified is None:
        classified = classifies(trace.spans)
    total = trace.end_ns - trace.start_ns
    lines: list[Text] = []
    for row in trace.rows():
        span = row.span
        problem = problem_of(span, classified=classified)
        component = component_of(span)
        name, message = printable(span.name), printable(message_of(span))
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append(f"{'+' + duration(row.offset_ns):>{_OFFSET_WIDTH}} ", style="dim")
        line.append(glyphs.edge, style="dim")
        line.append(
            bar(row.offset_ns, row.duration_ns, total, glyphs, bar_width),
            style=_PROBLEM_STYLE if problem else component_style(component),
        )
        line.append(glyphs.edge, style="dim")
        line.append(f" {duration(row.duration_ns):>{_DURATION_WIDTH}}  ", style="dim")
        line.append("  " * row.depth)
        if problem is not None:
            line.append(f"{glyphs.problem} {name}", style=_PROBLEM_STYLE)
        else:
            line.append(name, style="bold")
        line.append(f"  {printable(component)}", style=component_style(component))
        line.append(f"  {message}")
        repeats = _repeats(span)
        if repeats:
            line.append(f"  {repeats}", style="dim")
        lines.append(line)
        # Under the name, past the problem mark.
        indent = " " * (_OFFSET_WIDTH + 1 + 1 + bar_width + 1 + 1 + _DURATION_WIDTH + 2)
        indent += "  " * row.depth + "  "
        detail = problem.detail(message_of(span)) if problem is not None else None
        if detail is not None:
            lines.append(
                Text(
                    f"{indent}{glyphs.detail} {printable(detail)}",
                    "red",
                    no_wrap=True,
                    overflow="ellipsis",
                )
            )
        for link in span.links:
            lines.append(_link_line(indent, link.context.span_id, link.attributes, linked, glyphs))
    return lines


def _repeats(span: ReadableSpan) -> str:
    """Which occurrences of its Event the span stands for: ``#3``, or ``#1-5`` when it folds
    repeats as span events."""
    attributes = span.attributes or {}
    count = attributes.get(EVENT_COUNT)
    if not isinstance(count, int) or isinstance(count, bool):
        return ""
    if span.events:
        first = attributes.get(REPEAT_FIRST_COUNT)
        first_count = first if isinstance(first, int) else count - len(span.events) + 1
        last = clock(max(event.timestamp for event in span.events))
        return f"#{first_count}-{occurrences([span])}, last at {last}"
    return f"#{count}" if count > 1 else ""


def _link_line(
    indent: str,
    span_id: int,
    attributes: Mapping[str, object] | None,
    linked: Mapping[int, ReadableSpan] | None,
    glyphs: Glyphs,
) -> Text:
    reason = str((attributes or {}).get(LINK_REASON) or "link")
    target = (linked or {}).get(span_id)
    if target is None:
        text = f"{indent}{glyphs.link} {reason}: span {span_id:016x} (not in this input)"
    else:
        text = (
            f"{indent}{glyphs.link} {reason}: {target.name} {message_of(target)} at "
            f"{clock(start_of(target))} (trace {trace_id_of(target):032x})"
        )
    return Text(printable(text), style="yellow", no_wrap=True, overflow="ellipsis")


def trace_header(trace: Trace, *, hidden: int = 0) -> Text:
    start, end = trace.start_ns, trace.end_ns
    spans = f"{len(trace.spans)} spans"
    if hidden:
        spans += f" ({hidden} more about other objects not shown)"
    return Text(
        f"trace {trace.trace_id:032x} · {spans} · {clock(start)} for {duration(end - start)}",
        style="bold",
    )


def verdict_line(found: Verdict | None, glyphs: Glyphs) -> Text:
    if found is None:
        return Text("verdict: no problem in these spans", style="green")
    return Text(f"verdict: {glyphs.problem} {printable(found.line())}", style=_PROBLEM_STYLE)


def explanation_lines(
    selection: Selection,
    index: ObjectIndex,
    *,
    glyphs: Glyphs,
    source: str,
    linked: Mapping[int, ReadableSpan] | None = None,
    bar_width: int = BAR_WIDTH,
    classified: bool | None = None,
) -> list[Text]:
    """Everything ``explain`` prints: the object, then each trace's verdict and waterfall.
    ``classified`` None: decided on the selected traces (whole, not only what is shown)."""
    if classified is None:
        classified = classifies(s for f in selection.traces for s in f.trace.spans)
    focus = selection.focus
    lines = [Text(printable(index.describe(focus.target)), style="bold")]
    count = len(selection.traces)
    summary = f"{count} trace{'s' if count != 1 else ''} from {source}"
    if focus.children:
        summary += f"; {len(focus.children)} objects below it"
    lines.append(Text(printable(summary) + "; times UTC", style="dim"))
    if selection.through_owners and selection.traces:
        lines.append(
            Text(
                printable(
                    f"no events about {focus.target} or its children: showing its owners' traces"
                ),
                style="yellow",
            )
        )
    if not selection.traces:
        lines.append(
            Text(
                printable(
                    f"no events about {focus.target}, its owners or its children (the API "
                    "server keeps Events for an hour by default)"
                ),
                style="yellow",
            )
        )
    for focused in selection.traces:
        lines.append(Text())
        lines.append(trace_header(focused.shown, hidden=focused.hidden))
        if focused.effect:
            caused = f"caused: its spans link to {focus.target}'s above"
            lines.append(Text(printable(caused), style="dim"))
        found = verdict(focused.shown.spans, classified=classified)
        lines.append(verdict_line(found, glyphs))
        lines.extend(
            trace_lines(
                focused.shown,
                glyphs=glyphs,
                linked=linked,
                bar_width=bar_width,
                classified=classified,
            )
        )
    return lines


def spans_by_id(traces: list[Trace]) -> dict[int, ReadableSpan]:
    """Every span by id: what links are resolved against."""
    return {span_id_of(span): span for trace in traces for span in trace.spans}
