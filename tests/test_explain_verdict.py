"""The verdict and the trace trees, on hand-built spans: what `explain` says on its first line.

Each test spells out the spans of one situation (the span contract's attributes included), so
the rules are checked apart from what the graph happens to produce today.
"""

from __future__ import annotations

from kspan_py.views.problems import find_problems, occurrences, problem_of, verdict
from kspan_py.views.traces import group_traces
from tests.spans_by_hand import T0_NS, repeat, span

POD = ("Pod", "shop", "web-x")
OTHER_POD = ("Pod", "shop", "web-y")


def test_oom_kill_then_restarts_then_crash_loop_reads_as_one_line() -> None:
    oom = {
        "kspan.problem": "OOMKilled",
        "kspan.container.exit_code": 137,
        "kspan.container.memory_limit": "256Mi",
        "k8s.container.status.last_terminated_reason": "OOMKilled",
    }
    spans = [
        span("Pod.Started", 0, container="app", message="Container started"),
        span(
            "Container.Run",
            0,
            lasts_s=60,
            container="app",
            error="OOMKilled",
            attributes={"k8s.container.restart_count": 0, **oom},
        ),
        *(
            span(
                "Container.Run",
                60 + 10 * n,
                lasts_s=5,
                container="app",
                error="OOMKilled",
                attributes={"k8s.container.restart_count": n, **oom},
            )
            for n in range(1, 8)
        ),
        span(
            "Pod.BackOff",
            120,
            container="app",
            message="Back-off restarting failed container app in pod web-x",
            warning=True,
            attributes={
                "kspan.problem": "CrashLoopBackOff",
                "k8s.event.count": 3,
                "kspan.repeat.first_count": 1,
            },
            events=[
                repeat("BackOff", 120, 1),
                repeat("BackOff", 125, 2),
                repeat("BackOff", 135, 3),
            ],
        ),
    ]
    found = verdict(spans)
    assert found is not None
    assert found.line() == (
        "pod/shop/web-x: container app OOMKilled (limit 256Mi) → 7 restarts "
        "→ CrashLoopBackOff since 14:02:00 UTC (3 times)"
    )
    assert found.first.span is spans[1]
    assert found.restarts == 7


def test_without_kspan_problem_a_warning_event_is_the_problem_and_started_counts_restarts() -> None:
    backoff = "Back-off restarting failed container app in pod web-x_shop(7d4b9)"
    spans = [
        span("Pod.Scheduled", 0, component="default-scheduler", message="Successfully assigned"),
        span("Pod.Started", 1, container="app", message="Container started"),
        span(
            "Pod.Started",
            4,
            container="app",
            message="Container started",
            attributes={"k8s.event.count": 2},
        ),
        span("Pod.BackOff", 8, container="app", message=backoff, warning=True),
        span(
            "Pod.Started",
            23,
            container="app",
            message="Container started",
            attributes={"k8s.event.count": 3},
        ),
        span(
            "Pod.BackOff",
            27,
            container="app",
            message=backoff,
            warning=True,
            attributes={"k8s.event.count": 2},
        ),
    ]
    found = verdict(spans)
    assert found is not None
    assert found.first.name == "BackOff" and not found.first.declared
    assert found.restarts == 2  # three starts of the same Event: the first is no restart
    assert found.line() == (
        # The message is cut to 64 characters: the waterfall below has it whole.
        "pod/shop/web-x: container app BackOff (Back-off restarting failed container app in "
        "pod web-x_shop(7d4b…) → 2 restarts → BackOff since 14:00:08 UTC (2 times)"
    )


def test_a_failed_event_saying_error_reason_is_named_by_that_reason() -> None:
    pull = span("Pod.Failed", 0, container="app", warning=True, message="Error: ErrImagePull")
    problem = problem_of(pull)
    assert problem is not None
    assert problem.name == "ErrImagePull"
    assert problem.label() == "ErrImagePull"  # the message says nothing more


def test_the_first_problem_is_the_earliest_start_and_ties_keep_the_order_given() -> None:
    failed_pull = span(
        "Pod.Failed",
        5,
        container="app",
        warning=True,
        message='Failed to pull image "registry.example/app:v2": not found',
    )
    err_image_pull = span(
        "Pod.Failed", 5, container="app", warning=True, message="Error: ErrImagePull"
    )
    backoff = span(
        "Pod.Failed", 6, container="app", warning=True, message="Error: ImagePullBackOff"
    )
    found = verdict([backoff, failed_pull, err_image_pull])
    assert found is not None
    assert found.first.span is failed_pull
    assert found.latest.name == "ImagePullBackOff"
    assert found.restarts is None  # it never started
    assert found.line() == (
        'pod/shop/web-x: container app Failed (Failed to pull image "registry.example/app:v2": '
        "not found) → ImagePullBackOff since 14:00:06 UTC"
    )


def test_the_latest_problem_is_the_first_problems_subject_not_another_pods() -> None:
    first = span(
        "Pod.FailedScheduling",
        0,
        component="default-scheduler",
        warning=True,
        message="0/3 nodes are available: 3 Insufficient memory.",
        attributes={
            "kspan.problem": "FailedScheduling",
            "kspan.problem.reasons": "3 Insufficient memory",
        },
    )
    elsewhere = span(
        "Pod.Unhealthy",
        50,
        obj=OTHER_POD,
        warning=True,
        container="app",
        message="Liveness probe failed: HTTP 500",
        attributes={"kspan.problem": "Unhealthy", "kspan.problem.probe": "Liveness"},
    )
    found = verdict([first, elsewhere])
    assert found is not None
    assert found.latest.span is first
    assert found.line() == "pod/shop/web-x FailedScheduling (3 Insufficient memory)"


def test_details_name_exit_code_probe_and_node() -> None:
    crashed = span(
        "Container.Run",
        0,
        container="app",
        error="exit code 2",
        attributes={
            "kspan.problem": "ContainerFailed",
            "kspan.container.exit_code": 2,
        },
    )
    probe = span(
        "Pod.Unhealthy",
        1,
        container="app",
        warning=True,
        message="Liveness probe failed: connection refused",
        attributes={"kspan.problem": "Unhealthy", "kspan.problem.probe": "Liveness"},
    )
    node = span(
        "Node.NotReady",
        2,
        obj=("Node", "", "n1"),
        error="node n1 stopped posting",
        attributes={"kspan.problem": "NodeNotReady", "k8s.node.name": "n1"},
    )
    labels = [p.label() for p in find_problems([crashed, probe, node])]
    assert labels == [
        "ContainerFailed (exit code 2)",
        "Unhealthy (Liveness probe)",
        "NodeNotReady (node n1)",
    ]
    problem = problem_of(crashed)
    assert problem is not None
    assert problem.detail("") == "ContainerFailed (exit code 2)"  # the status says no more
    unhealthy = problem_of(probe)
    assert unhealthy is not None
    assert unhealthy.detail(shown_message="Liveness probe failed: connection refused") == (
        "Unhealthy (Liveness probe)"
    )
    assert unhealthy.detail(shown_message="") == (
        "Unhealthy (Liveness probe): Liveness probe failed: connection refused"
    )


def test_no_problem_no_verdict() -> None:
    assert verdict([span("Pod.Started", 0, container="app", message="Container started")]) is None


def test_occurrences_count_an_events_highest_count_however_its_repeats_came() -> None:
    # One span per count (a capture), one span at the latest count (a one-shot list), and
    # one span folding its repeats as span events: the same five BackOffs each time.
    per_count = [
        span("Pod.BackOff", n, message="Back-off", attributes={"k8s.event.count": n})
        for n in range(1, 6)
    ]
    listed = [span("Pod.BackOff", 5, message="Back-off", attributes={"k8s.event.count": 5})]
    folded = [
        span(
            "Pod.BackOff",
            1,
            message="Back-off",
            attributes={"k8s.event.count": 5},
            events=[repeat("BackOff", n, n) for n in range(1, 6)],
        )
    ]
    assert occurrences(per_count) == occurrences(listed) == occurrences(folded) == 5
    lifecycle = [span("Container.Run", 0), span("Container.Run", 9)]
    assert occurrences(lifecycle) == 2


def test_restarts_come_from_container_runs_when_there_are_any() -> None:
    runs = [
        span(
            "Container.Run",
            10 * n,
            lasts_s=5,
            container="app",
            attributes={"k8s.container.restart_count": n},
        )
        for n in range(4)
    ]
    crash = span("Pod.BackOff", 40, container="app", warning=True, message="Back-off")
    found = verdict([*runs, crash])
    assert found is not None and found.restarts == 3


def test_traces_are_trees_in_start_order_with_orphans_as_roots() -> None:
    root = span("Deployment.Update", 0, obj=("Deployment", "shop", "web"), lasts_s=30, span_id=0x1)
    scaled = span("ReplicaSet.SuccessfulCreate", 2, parent=root, span_id=0x2)
    late = span("Pod.Started", 9, parent=scaled, span_id=0x3)
    early = span("Pod.Scheduled", 3, parent=scaled, span_id=0x4)
    orphan = span("Pod.Killing", 1, parent=None, span_id=0x5)
    orphan_parent_elsewhere = span(
        "Pod.Pulled", 5, span_id=0x6, parent=span("Other", 0, span_id=0x99, trace_id=7)
    )
    other_trace = span("Node.NodeReady", -5, trace_id=0x42, obj=("Node", "", "n1"))
    traces = group_traces([late, orphan, scaled, other_trace, root, early, orphan_parent_elsewhere])
    assert [t.trace_id for t in traces] == [0x42, 0x0AF7651916CD43DD8448EB211C80319C]
    tree = traces[1]
    assert [s.name for s in tree.spans] == [
        "Deployment.Update",
        "ReplicaSet.SuccessfulCreate",
        "Pod.Scheduled",
        "Pod.Started",
        "Pod.Killing",
        "Pod.Pulled",
    ]
    assert tree.depths == (0, 1, 2, 2, 0, 0)
    assert tree.root is root
    assert [row.offset_ns for row in tree.rows()][:3] == [0, 2_000_000_000, 3_000_000_000]
    assert tree.start_ns == T0_NS


def test_once_spans_carry_the_contract_only_kspan_problem_counts() -> None:
    """A producer that classifies says which Warnings are noise and which Normal events are
    problems; a Warning it left unmarked is no problem then."""
    killing = span("Pod.Killing", 0, container="app", warning=True, message="Stopping container")
    pull = span(
        "Pod.BackOff",
        5,
        container="app",
        message='Back-off pulling image "app:v2"',
        attributes={"kspan.problem": "ImagePullBackOff", "kspan.problem.image": "app:v2"},
    )
    found = verdict([killing, pull])
    assert found is not None
    assert found.line() == "pod/shop/web-x: container app ImagePullBackOff (image app:v2)"
    # Without the contract anywhere, the Warning is the problem and the Normal event is not.
    unmarked = span("Pod.BackOff", 5, container="app", message='Back-off pulling image "app:v2"')
    found = verdict([killing, unmarked])
    assert found is not None and found.first.span is killing
    # Lifecycle spans show the contract too, even where nothing went wrong.
    run = span("Container.Run", 1, container="app", attributes={"kspan.lifecycle": "run"})
    assert verdict([killing, run]) is None
    # A caller showing part of an input says what the whole input is.
    assert verdict([killing], classified=True) is None


def test_details_the_graph_writes_read_as_words() -> None:
    pending = span(
        "Pod.FailedScheduling",
        0,
        component="default-scheduler",
        warning=True,
        message="0/3 nodes are available: 2 Insufficient cpu, 1 node(s) had untolerated taint.",
        attributes={
            "kspan.problem": "FailedScheduling",
            "kspan.problem.nodes_available": 0,
            "kspan.problem.nodes_total": 3,
            "kspan.problem.reasons": "2 Insufficient cpu, 1 node(s) had untolerated taint",
            "kspan.problem.insufficient": "cpu",
            "kspan.problem.host_port_conflict": False,
        },
    )
    failed = span(
        "Container.Run",
        1,
        container="app",
        error="exited with code 1 (Error)",
        attributes={
            "kspan.problem": "ContainerFailed",
            "kspan.problem.exit_code": 1,
            "kspan.problem.reason": "Error",
            "k8s.node.name": "n2",
        },
    )
    pulled = span(
        "Pod.Failed",
        2,
        container="app",
        warning=True,
        message="Failed to pull image",
        attributes={"kspan.problem": "ErrImagePull", "kspan.problem.error": "x" * 100},
    )
    assert [p.label() for p in find_problems([pending, failed, pulled])] == [
        "FailedScheduling (0/3 nodes available, 2 Insufficient cpu, 1 node(s) had untolerated t…)",
        "ContainerFailed (exit code 1, node n2)",
        f"ErrImagePull ({'x' * 47}…)",
    ]


def test_one_occurrence_reported_by_two_events_counts_once() -> None:
    # The kubelet writes BackOff and "Error: ImagePullBackOff" for each pull back-off.
    spans = [
        span(
            name,
            at,
            message=text,
            attributes={"kspan.problem": "ImagePullBackOff", "k8s.event.uid": f"{name}-uid"},
        )
        for at in (0, 14, 41)
        for name, text in (("Pod.BackOff", "Back-off pulling"), ("Pod.Failed", "Error: x"))
    ]
    assert occurrences(spans) == 3
