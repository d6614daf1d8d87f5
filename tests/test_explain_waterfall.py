"""The terminal waterfall of one trace, on hand-built spans carrying the span contract's
attributes (kspan.problem and its details, Container.Run, repeats folded as span events,
links), as `explain` prints it in a pipe."""

from __future__ import annotations

from opentelemetry.trace import Link

from kspan_py.views.traces import group_traces
from kspan_py.views.waterfall import FANCY, PLAIN, bar, duration, spans_by_id, trace_lines
from tests.spans_by_hand import context, repeat, span


def test_problems_show_their_details_links_their_targets_and_repeats_their_counts() -> None:
    node = span(
        "Node.NotReady",
        -30,
        obj=("Node", "", "n1"),
        lasts_s=60,
        component="node-controller",
        span_id=0x77,
        trace_id=0x5,
        error="Kubelet stopped posting node status.",
        attributes={"kspan.problem": "NodeNotReady", "k8s.node.name": "n1"},
    )
    created = span(
        "ReplicaSet.SuccessfulCreate",
        0,
        obj=("ReplicaSet", "shop", "web-1"),
        lasts_s=40,
        component="replicaset-controller",
        message="Created pod: web-x",
        span_id=0x1,
    )
    run = span(
        "Container.Run",
        2,
        lasts_s=20,
        parent=created,
        container="app",
        span_id=0x2,
        error="OOMKilled",
        attributes={"kspan.problem": "OOMKilled", "kspan.container.memory_limit": "256Mi"},
        links=[
            Link(context(0x77, 0x5), {"kspan.link.reason": "node-problem"}),
            Link(context(0x99), {"kspan.link.reason": "previous-run"}),
        ],
    )
    backoff = span(
        "Pod.BackOff",
        25,
        parent=created,
        container="app",
        warning=True,
        span_id=0x3,
        message="Back-off restarting failed container app",
        attributes={
            "kspan.problem": "CrashLoopBackOff",
            "k8s.event.count": 3,
            "kspan.repeat.first_count": 1,
        },
        events=[repeat("BackOff", 25, 1), repeat("BackOff", 30, 2), repeat("BackOff", 40, 3)],
    )
    traces = group_traces([node, created, run, backoff])
    lines = [
        line.plain for line in trace_lines(traces[1], glyphs=PLAIN, linked=spans_by_id(traces))
    ]
    under = " " * 48
    assert lines == [
        "     +0s |========================|  40.0s  ReplicaSet.SuccessfulCreate  "
        "replicaset-controller  Created pod: web-x",
        "   +2.0s | =============          |  20.0s    ! Container.Run  kubelet  web-x",
        f"{under}`- OOMKilled (limit 256Mi)",
        f"{under}-> node-problem: Node.NotReady n1 at 13:59:30 UTC "
        "(trace 00000000000000000000000000000005)",
        f"{under}-> previous-run: span 0000000000000099 (not in this input)",
        "  +25.0s |               =        |   1.0s    ! Pod.BackOff  kubelet  "
        "Back-off restarting failed container app  #1-3, last at 14:00:40 UTC",
        f"{under}`- CrashLoopBackOff",
    ]
    fancy = [line.plain for line in trace_lines(traces[1], glyphs=FANCY)]
    # On a terminal: the same columns, drawn with box characters.
    assert fancy[1] == lines[1].replace("|", "│").replace("=", "━").replace("!", "✖")
    assert fancy[2].endswith("└ OOMKilled (limit 256Mi)")


def test_durations_read_at_a_glance() -> None:
    assert [
        duration(ns) for ns in (0, 17_000_000, 983_000_000, 8 * 10**9, 67 * 10**9, 7500 * 10**9)
    ] == ["0s", "17ms", "983ms", "8.0s", "1m07s", "2h05m"]


def test_every_span_gets_at_least_one_mark_on_its_axis() -> None:
    assert bar(0, 0, 100, PLAIN, 10) == "=         "
    assert bar(100, 0, 100, PLAIN, 10) == "         ="
    assert bar(25, 50, 100, PLAIN, 8) == "  ====  "
    assert bar(0, 0, 0, PLAIN, 4) == "===="  # a trace of one instant
