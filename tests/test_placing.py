"""Where repeats and anchored phases go: the pure decisions of graph/placing.py."""

from __future__ import annotations

from kspan_py.graph.placing import (
    FoldsInto,
    OpenSeries,
    RepeatLimits,
    StartsSeries,
    anchored_under,
    place_repeat,
)
from kspan_py.model import LifecycleFact, ObjectRef
from tests.tracing import kube_event

S = 1_000_000_000
LIMITS = RepeatLimits(window_ns=5 * S, repeat_quiet_ns=60 * S, repeat_span_max_ns=600 * S)
NODE = ObjectRef("Node", "", "node-1")


def test_a_repeat_folds_into_its_open_span_while_it_comes_within_the_quiet_time() -> None:
    series = OpenSeries(start_ns=100 * S, last_ns=130 * S)
    near = kube_event(reason="BackOff", at_s=130 + 55, count=3)
    late = kube_event(reason="BackOff", at_s=130 + 56, count=3)
    for repeat, verdict in ((near, FoldsInto()), (late, StartsSeries(5))):
        placed = place_repeat(
            repeat, series=series, placed_span_id=7, first=(1, 5), trace_id=1, limits=LIMITS
        )
        assert placed == verdict


def test_a_span_of_repeats_covers_no_longer_than_its_maximum() -> None:
    series = OpenSeries(start_ns=0, last_ns=590 * S)
    repeat = kube_event(reason="BackOff", at_s=596, count=40)
    verdict = place_repeat(
        repeat, series=series, placed_span_id=7, first=(1, 5), trace_id=1, limits=LIMITS
    )
    assert verdict == StartsSeries(5)


def test_spans_of_repeats_hang_side_by_side_under_the_first_occurrence_of_their_trace() -> None:
    repeat = kube_event(reason="BackOff", at_s=10, count=2)

    def under(first: tuple[int, int] | None) -> object:
        return place_repeat(
            repeat, series=None, placed_span_id=7, first=first, trace_id=1, limits=LIMITS
        )

    assert under((1, 5)) == StartsSeries(5)
    # The first occurrence known is in another trace (or none is): under the one before.
    assert under((2, 5)) == StartsSeries(7)
    assert under(None) == StartsSeries(7)


def _not_ready(start_s: int, end_s: int) -> LifecycleFact:
    return LifecycleFact(
        f"node-1/NotReady/{start_s}",
        NODE,
        "",
        "NotReady",
        "Node.NotReady",
        start_s * S,
        end_s * S,
        "node-controller",
        "node-1",
        (),
        None,
        "node:node-1",
    )


def test_a_node_interval_hangs_under_the_problem_event_that_came_within_it() -> None:
    phase = _not_ready(100, 400)
    assert anchored_under(phase, (3, 9, 102 * S), 5 * S) == (3, 9)
    assert anchored_under(phase, (3, 9, 96 * S), 5 * S) == (3, 9)  # a window before it began
    assert anchored_under(phase, (3, 9, 94 * S), 5 * S) is None
    assert anchored_under(phase, (3, 9, 401 * S), 5 * S) is None  # after it ended
    assert anchored_under(phase, None, 5 * S) is None
