"""Where a repeat or an anchored phase goes: pure decisions over what the graph shows them.

The linker (linking.py) decides an occurrence's cause; these decide the two placements that
need no cause: a repeat of an Event goes where the occurrence before it went, and a node's
condition interval goes under the node's problem Event that came within it. Each takes the
facts it reads as arguments and returns a verdict; ``CausalGraph`` applies it (appends the
repeat, drafts the span) and stays the only owner of state.
"""

from __future__ import annotations

from dataclasses import dataclass

from kspan_py.model import KubeEvent, LifecycleFact


@dataclass(frozen=True, slots=True)
class OpenSeries:
    """A span of repeats not exported yet, as a repeat of its Event sees it."""

    start_ns: int
    last_ns: int  # its latest occurrence (its start while it holds only the first)


@dataclass(frozen=True, slots=True)
class RepeatLimits:
    window_ns: int
    repeat_quiet_ns: int  # a span of repeats ends after this long without one
    repeat_span_max_ns: int  # and covers no longer than this


@dataclass(frozen=True, slots=True)
class FoldsInto:
    """The repeat is one more occurrence of the open span of repeats (a span event)."""


@dataclass(frozen=True, slots=True)
class StartsSeries:
    """The repeat starts a span of repeats under the first occurrence's span."""

    parent_span_id: int


def place_repeat(
    repeat: KubeEvent,
    *,
    series: OpenSeries | None,
    placed_span_id: int,
    first: tuple[int, int] | None,
    trace_id: int,
    limits: RepeatLimits,
) -> FoldsInto | StartsSeries:
    """Where repeat goes, the occurrence before it being in ``placed_span_id`` of trace_id.

    It folds into the open span of repeats it follows (``series``, None when that occurrence's
    span is not one, or left) while it comes within the repeat quiet time and the span's
    length allows; whether it does depends only on event times. Otherwise it starts the next
    span of repeats, beside the others under the first occurrence (``first``: its (trace,
    span), when known): a crash loop of hours would otherwise nest hundreds deep.
    """
    if series is not None:
        time_ns, window = repeat.time_ns, limits.window_ns
        if (
            time_ns - series.last_ns <= limits.repeat_quiet_ns - window
            and time_ns - series.start_ns <= limits.repeat_span_max_ns - window
        ):
            return FoldsInto()
    if first is None or first[0] != trace_id:
        return StartsSeries(placed_span_id)
    return StartsSeries(first[1])


def anchored_under(
    phase: LifecycleFact, anchor: tuple[int, int, int] | None, window_ns: int
) -> tuple[int, int] | None:
    """The (trace, span) a phase hangs under: its anchor (a node's latest problem Event, as
    (trace, span, time)) when that came within the phase, or a window before it began."""
    if anchor is None:
        return None
    trace_id, anchor_span, anchor_ns = anchor
    if not phase.start_ns - window_ns <= anchor_ns <= phase.time_ns:
        return None
    return trace_id, anchor_span
