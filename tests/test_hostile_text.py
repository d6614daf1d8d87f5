"""What an Event author writes cannot stall kspan-py, nor reach a terminal, a log line or a
metric label raw.

Message rules: the worst case of each (tests/hostile_messages.py) is classified at a megabyte
in a child process with a deadline, since a stalled regex cannot be interrupted in-process; the
figures are in benchmarks/classify_bench.py. Output: control sequences, bidi overrides and rich
markup in Event names and messages come out escaped, as visible text.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kspan_py.spans import building
from kspan_py.spans.building import SpanBuilder, SpanDraft
from kspan_py.spans.problems import (
    ERROR,
    FAILED_SCHEDULING,
    NODES_TOTAL,
    PROBLEM,
    RULES_READ,
    event_problem,
)
from tests.hostile_messages import CRAFTED, hostile_event, repeated

ROOT = Path(__file__).resolve().parent.parent

# -- message rules -----------------------------------------------------------------------------

_CLASSIFY_ALL = """
from tests.hostile_messages import CRAFTED
from kspan_py.spans.problems import event_problem
for crafted in CRAFTED:
    event_problem(crafted.event(1_000_000))  # as a run does: the first 8 KiB
    event = crafted.event(100_000)
    event_problem(event, read=len(event.message))  # each rule on all of it
print("classified", len(CRAFTED))
"""


def test_every_rule_classifies_its_worst_crafted_message_without_stalling() -> None:
    """A quadratic rule takes minutes on 100 KB (the FailedScheduling count rule took 4 s on
    20 KB); linear ones take milliseconds. The deadline only tells a stall from the rest."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", _CLASSIFY_ALL],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=90,
            check=True,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("classifying the crafted messages stalled (more than 90 s)")
    assert done.stdout.strip() == f"classified {len(CRAFTED)}"


def test_rules_read_only_the_first_8_kib_of_a_message() -> None:
    form = "0/3 nodes are available: 3 Insufficient cpu."
    assert _details(event_problem(hostile_event("FailedScheduling", form)))[NODES_TOTAL] == 3
    late = repeated(" ", RULES_READ + len(form), after=form)  # the form starts past what rules read
    problem = event_problem(hostile_event("FailedScheduling", late))
    assert problem is not None and problem.name == FAILED_SCHEDULING  # still a problem
    assert NODES_TOTAL not in _details(problem)


def test_a_node_count_too_long_for_an_int_is_no_count() -> None:
    """Python refuses to parse an int of over 4,300 digits, and OTLP carries int64 only."""
    for digits in (20, 5_000):
        message = "9" * digits + "/3 nodes are available: 3 Insufficient cpu."
        problem = event_problem(hostile_event("FailedScheduling", message))
        assert problem is not None and problem.name == FAILED_SCHEDULING
        details = _details(problem)
        assert NODES_TOTAL not in details and ERROR in details


def test_a_span_is_classified_once_however_often_it_is_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Sinks and views read attributes and status many times; each read classified again."""
    calls: list[str] = []

    def counted(event: object, **kwargs: int) -> object:
        calls.append("classified")
        return event_problem(event, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(building, "event_problem", counted)
    event = hostile_event("FailedScheduling", "0/3 nodes are available: 3 Insufficient cpu.")
    draft = SpanDraft(1, 2, None, event.time_ns, event.time_ns, event, "")
    span = SpanBuilder().build(draft)
    for _ in range(5):
        assert span.attributes is not None and span.attributes[PROBLEM] == FAILED_SCHEDULING
        assert span.status.description is not None
        span.to_json()
    assert calls == ["classified"]


def _details(problem: object) -> dict[str, str | int]:
    assert problem is not None
    return dict(problem.details)  # type: ignore[attr-defined]
