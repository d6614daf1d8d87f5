"""What each example scenario must show a user who asks "why?" (examples/captures/README.md).

The goldens pin every span; these name, per scenario, the few facts a user reads the trace for:
the problem, what caused it, and that the causal chain is one trace.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from tests.tracing import CAPTURES, attr, parent_id, replay_file, span_id, trace_id


def spans_of(scenario: str) -> list[ReadableSpan]:
    return replay_file(CAPTURES / f"{scenario}.jsonl")


def named(spans: Sequence[ReadableSpan], name: str) -> list[ReadableSpan]:
    return sorted((s for s in spans if s.name == name), key=lambda s: s.start_time or 0)


def with_problem(spans: Sequence[ReadableSpan], problem: str) -> list[ReadableSpan]:
    return [s for s in spans if attr(s, "kspan.problem") == problem]


def linked(span: ReadableSpan, reason: str) -> set[int]:
    return {
        link.context.span_id
        for link in span.links
        if (link.attributes or {}).get("kspan.link.reason") == reason
    }


def test_oom_killed_crash_loop() -> None:
    spans = spans_of("oomkilled-crashloop")
    runs = named(spans, "Container.Run")
    oom = with_problem(runs, "OOMKilled")
    assert oom and oom == runs
    for run in oom:
        assert attr(run, "kspan.container.exit_code") == 137
        assert attr(run, "kspan.container.memory_limit") == "256Mi"
        assert run.status.status_code is StatusCode.ERROR
    # Each restart points at the run the kernel ended before it.
    assert all(
        linked(after, "previous-run") == {span_id(before)}
        for before, after in itertools.pairwise(runs)
    )
    assert with_problem(spans, "CrashLoopBackOff")
    assert len({trace_id(s) for s in spans}) == 1


def test_node_not_ready_then_eviction() -> None:
    spans = spans_of("node-notready-eviction")
    (not_ready,) = named(spans, "Node.NodeNotReady")
    (evicted_by_taint,) = named(spans, "Pod.TaintManagerEviction")
    assert attr(evicted_by_taint, "kspan.problem") == "Evicted"
    assert linked(evicted_by_taint, "node-problem") == {span_id(not_ready)}
    (interval,) = named(spans, "Node.NotReady")
    assert parent_id(interval) == span_id(not_ready)
    assert (interval.end_time or 0) - (interval.start_time or 0) > 300 * 1_000_000_000
    # The kubelet's own eviction on the node low on memory points at that node's pressure.
    (evicted,) = named(spans, "Pod.Evicted")
    assert attr(evicted, "kspan.problem.resource") == "memory"
    (pressure,) = named(spans, "Node.NodeHasInsufficientMemory")
    assert linked(evicted, "node-problem") == {span_id(pressure)}
    assert with_problem(spans, "Rebooted")


def test_failed_mount_then_recovery() -> None:
    spans = spans_of("failedmount-recovery")
    mounts = with_problem(spans, "FailedMount")
    assert mounts
    assert {attr(s, "kspan.problem.volume") for s in mounts} == {"config"}
    held = sum(len(s.events) or 1 for s in mounts)
    assert held > len(mounts)  # repeats are folded, not one span each
    (started,) = named(spans, "Pod.Started")
    assert (started.start_time or 0) > max(s.start_time or 0 for s in mounts)
    assert started.status.status_code is StatusCode.UNSET


def test_preemption() -> None:
    spans = spans_of("preemption")
    (preempted,) = named(spans, "Pod.Preempted")
    assert attr(preempted, "kspan.problem") == "Preempted"
    targets = linked(preempted, "preempted-by")
    assert len(targets) == 1
    (preemptor_span,) = [s for s in spans if span_id(s) in targets]
    assert attr(preemptor_span, "k8s.pod.name") != attr(preempted, "k8s.pod.name")
    insufficient = with_problem(spans, "FailedScheduling")
    assert any("cpu" in str(attr(s, "kspan.problem.insufficient")) for s in insufficient)


def test_job_retries_until_the_backoff_limit() -> None:
    spans = spans_of("job-retries")
    (limit,) = with_problem(spans, "BackoffLimitExceeded")
    failed_runs = with_problem(named(spans, "Container.Run"), "ContainerFailed")
    assert len(failed_runs) == 3
    assert {trace_id(s) for s in failed_runs} == {trace_id(limit)}


def test_a_cronjob_run_is_one_trace_from_cronjob_to_pod() -> None:
    spans = spans_of("cronjob-run")
    for created_job in named(spans, "CronJob.SuccessfulCreate"):
        in_trace = [s for s in spans if trace_id(s) == trace_id(created_job)]
        names = {s.name for s in in_trace}
        assert {"Job.SuccessfulCreate", "Pod.Started", "Container.Run"} <= names
        job_pods = named(in_trace, "Job.SuccessfulCreate")
        assert all(parent_id(s) == span_id(created_job) for s in job_pods)


def test_an_autoscaler_scale_up_is_one_trace_from_the_rescale_to_the_pods() -> None:
    spans = spans_of("hpa-scale-up")
    (rescale,) = named(spans, "HorizontalPodAutoscaler.SuccessfulRescale")
    in_trace = [s for s in spans if trace_id(s) == trace_id(rescale)]
    scaling = named(in_trace, "Deployment.ScalingReplicaSet")
    assert scaling and all(parent_id(s) == span_id(rescale) for s in scaling)
    assert len(named(in_trace, "ReplicaSet.SuccessfulCreate")) == 3
    assert len(named(in_trace, "Pod.Started")) == 3


def test_a_statefulset_rollout_deletes_before_it_re_creates() -> None:
    spans = spans_of("statefulset-rollout")
    by_id = {span_id(s): s for s in spans}
    for killing in named(spans, "Pod.Killing"):
        cause = by_id[parent_id(killing) or 0]
        assert cause.name == "StatefulSet.SuccessfulDelete"
        assert str(attr(killing, "k8s.pod.name")) in str(attr(cause, "k8s.event.message"))


def test_a_daemonset_pod_blocked_by_its_own_host_port() -> None:
    spans = spans_of("daemonset-rollout")
    blocked = with_problem(spans, "FailedScheduling")
    assert blocked
    assert all(attr(s, "kspan.problem.host_port_conflict") == 1 for s in blocked)


def test_the_crash_loop_dump_shows_the_recordings_problems() -> None:
    def problems(spans: Sequence[ReadableSpan]) -> set[tuple[object, object]]:
        return {(attr(s, "kspan.problem"), attr(s, "k8s.container.name")) for s in spans} - {
            (None, None)
        }

    dumped = replay_file(CAPTURES / "dumps" / "crashloop-dump.json")
    recorded = spans_of("oomkilled-crashloop")
    assert problems(dumped) == problems(recorded)
    assert {span_id(s) for s in named(dumped, "Container.Run")} <= {
        span_id(s) for s in named(recorded, "Container.Run")
    }
