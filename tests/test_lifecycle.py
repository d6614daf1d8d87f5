"""Lifecycle spans read from status, repeats folded into one span, and links between causes.

What a user sees in a trace: each container run with how it ended, a repeated BackOff as one
span holding its occurrences, and an eviction pointing at the node problem that caused it.
"""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from kspan_py.config import GraphSettings
from kspan_py.graph.causality import CausalGraph
from kspan_py.model import EventChange, ObjectChange
from kspan_py.sources.capture import read_capture
from kspan_py.spans.ids import format_span_id
from tests.tracing import CAPTURES, attr, parent_id, replay_file, replay_lines, span_id, trace_id

Json = dict[str, Any]
T0 = int(datetime(2026, 11, 24, 10, 0, tzinfo=UTC).timestamp())


def stamp(seconds: float) -> str:
    return datetime.fromtimestamp(T0 + seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def line(watch_type: str, body: Json) -> str:
    return json.dumps({"type": watch_type, "object": body})


def node(name: str, ready: str, since: float, *, reason: str = "KubeletReady") -> Json:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "uid": f"uid-{name}", "resourceVersion": "1"},
        "status": {
            "conditions": [
                {
                    "type": "Ready",
                    "status": ready,
                    "lastTransitionTime": stamp(since),
                    "reason": reason,
                    "message": "Kubelet stopped posting node status." if ready != "True" else "",
                }
            ]
        },
    }


def pod(
    name: str,
    *,
    created: float = 0,
    node_name: str = "node-a",
    runs: Sequence[Json] = (),
    state: Json | None = None,
    restarts: int = 0,
    memory: str = "",
    conditions: Sequence[tuple[str, float]] = (),
    deleted: float | None = None,
) -> Json:
    container: Json = {"name": "app", "image": "app:1"}
    if memory:
        container["resources"] = {"limits": {"memory": memory}}
    status: Json = {
        "phase": "Running",
        "conditions": [
            {"type": kind, "status": "True", "lastTransitionTime": stamp(at)}
            for kind, at in conditions
        ],
        "containerStatuses": [
            {
                "name": "app",
                "restartCount": restarts,
                "state": state or {"running": {"startedAt": stamp(created + 2)}},
                "lastState": {"terminated": runs[-1]} if runs else {},
            }
        ],
    }
    metadata: Json = {
        "name": name,
        "namespace": "ns",
        "uid": f"uid-{name}",
        "resourceVersion": "1",
        "creationTimestamp": stamp(created),
    }
    if deleted is not None:
        metadata["deletionTimestamp"] = stamp(deleted)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": {"nodeName": node_name, "containers": [container]},
        "status": status,
    }


def terminated(started: float, finished: float, reason: str, code: int) -> Json:
    return {
        "exitCode": code,
        "reason": reason,
        "startedAt": stamp(started),
        "finishedAt": stamp(finished),
    }


def event(
    regarding: Json,
    reason: str,
    at: float,
    message: str,
    *,
    uid: str = "",
    count: int = 1,
    warning: bool = False,
    component: str = "kubelet",
    related: Json | None = None,
    field_path: str = "",
) -> Json:
    meta = regarding["metadata"]
    involved: Json = {
        "kind": regarding["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "apiVersion": "v1",
    }
    if meta.get("namespace"):
        involved["namespace"] = meta["namespace"]
    if field_path:
        involved["fieldPath"] = field_path
    body: Json = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"{meta['name']}.{uid or reason.lower()}",
            "namespace": meta.get("namespace") or "default",
            "uid": uid or f"ev-{meta['name']}-{reason}",
            "resourceVersion": str(1000 + int(at * 10) + count),
        },
        "involvedObject": involved,
        "reason": reason,
        "message": message,
        "type": "Warning" if warning else "Normal",
        "count": count,
        "firstTimestamp": stamp(at),
        "lastTimestamp": stamp(at),
        "source": {"component": component},
    }
    if related is not None:
        body["related"] = {
            "kind": related["kind"],
            "namespace": related["metadata"]["namespace"],
            "name": related["metadata"]["name"],
            "uid": related["metadata"]["uid"],
        }
    return body


def named(spans: Sequence[ReadableSpan], name: str) -> list[ReadableSpan]:
    return sorted((s for s in spans if s.name == name), key=lambda s: s.start_time or 0)


def link_reasons(span: ReadableSpan) -> dict[str, int]:
    return {
        str((link.attributes or {})["kspan.link.reason"]): link.context.span_id
        for link in span.links
    }


# -- real recordings -------------------------------------------------------------------------


def test_a_crash_loop_reads_as_a_sequence_of_runs_with_their_exit_codes() -> None:
    spans = replay_file(CAPTURES / "real-1.36" / "crashloop.core.jsonl")
    runs = named(spans, "Container.Run")
    assert len(runs) >= 4
    assert [attr(run, "k8s.container.restart_count") for run in runs] == list(range(len(runs)))
    for run in runs:
        assert attr(run, "k8s.container.name") == "app"
        assert attr(run, "kspan.container.exit_code") == 1
        assert attr(run, "k8s.container.status.last_terminated_reason") == "Error"
        assert run.status.status_code is StatusCode.ERROR
        assert (run.end_time or 0) - (run.start_time or 0) >= 1_000_000_000  # a real duration
    # Each run after the first points at the run it followed.
    for before, after in itertools.pairwise(runs):
        assert link_reasons(after)["previous-run"] == span_id(before)
    # The runs belong to the Pod's trace, in the Pod's life under the act that created it.
    created = next(s for s in spans if s.name == "ReplicaSet.SuccessfulCreate")
    (life,) = (s for s in spans if s.name == "Pod.Lifetime")
    assert parent_id(life) == span_id(created)
    assert {trace_id(run) for run in runs} == {trace_id(created)}
    assert {parent_id(run) for run in runs} == {span_id(life)}
    # It lasts from the act to the last thing that happened to the Pod (its last BackOff).
    under = [s for s in spans if parent_id(s) == span_id(life)]
    assert life.start_time == created.start_time
    assert life.end_time == max(s.end_time or 0 for s in under) > max(r.end_time or 0 for r in runs)


def test_repeats_of_an_event_are_one_span_holding_each_occurrence() -> None:
    capture = CAPTURES / "real-1.36" / "crashloop.core.jsonl"
    spans = replay_file(capture)
    back_offs = named(spans, "Pod.BackOff")
    counts: list[int] = []
    for span in back_offs:
        if span.events:
            counts.extend(int(str((e.attributes or {})["k8s.event.count"])) for e in span.events)
        else:
            counts.append(int(str(attr(span, "k8s.event.count"))))
    # Every occurrence is there exactly once, in order; fewer spans than occurrences.
    assert sorted(counts) == list(range(1, max(counts) + 1))
    assert len(back_offs) < max(counts)
    series = [span for span in back_offs if span.events]
    assert series, "the repeats of BackOff were not folded"
    first = back_offs[0]
    for span in series:
        assert parent_id(span) == span_id(first)  # the repeats hang under the first occurrence
        assert attr(span, "kspan.repeat.first_count") == int(
            str((span.events[0].attributes or {})["k8s.event.count"])
        )
        assert attr(span, "k8s.event.count") == (span.events[-1].attributes or {}).get(
            "k8s.event.count"
        )
        assert (span.end_time or 0) >= span.events[-1].timestamp
    assert len({trace_id(span) for span in back_offs}) == 1


# -- repeats over a long time ----------------------------------------------------------------


def _crash_loop(repeats: int, every_s: float) -> list[str]:
    the_pod = pod("web-1", conditions=[("PodScheduled", 1)])
    lines = [line("ADDED", the_pod)]
    for count in range(1, repeats + 1):
        at = 10 + count * every_s
        body = event(
            the_pod,
            "BackOff",
            at,
            "Back-off restarting failed container app in pod web-1_ns(uid-web-1)",
            uid="ev-backoff",
            count=count,
            warning=True,
            field_path="spec.containers{app}",
        )
        lines.append(line("ADDED" if count == 1 else "MODIFIED", body))
    return lines


def test_forty_back_offs_a_few_seconds_apart_are_not_forty_spans() -> None:
    spans = named(replay_lines(_crash_loop(40, 12)), "Pod.BackOff")
    assert len(spans) <= 3
    held = sum(len(span.events) or 1 for span in spans)
    assert held == 40
    assert len({trace_id(span) for span in spans}) == 1


def test_back_offs_hours_apart_stay_one_trace_and_are_exported_as_they_go() -> None:
    spans = named(replay_lines(_crash_loop(40, 300)), "Pod.BackOff")
    assert len({trace_id(span) for span in spans}) == 1
    # No span of repeats covers more than the repeat span limit (10 min): exported as it goes.
    series = [span for span in spans if span.events]
    assert all((s.end_time or 0) - (s.start_time or 0) <= 600 * 1_000_000_000 for s in series)
    assert sum(len(span.events) or 1 for span in spans) == 40
    # Side by side under the first occurrence, not nested one under the other.
    assert {parent_id(span) for span in spans[1:]} == {span_id(spans[0])}


# -- status phases ---------------------------------------------------------------------------


def test_an_oom_kill_is_a_run_ended_by_the_kernel_with_the_containers_limit() -> None:
    oom = terminated(5, 65, "OOMKilled", 137)
    lines = [
        line("ADDED", pod("web-1", memory="256Mi")),
        line(
            "MODIFIED",
            pod(
                "web-1",
                memory="256Mi",
                runs=[oom],
                restarts=1,
                state={"running": {"startedAt": stamp(66)}},
            ),
        ),
    ]
    (run,) = named(replay_lines(lines), "Container.Run")
    assert attr(run, "kspan.problem") == "OOMKilled"
    assert attr(run, "kspan.container.exit_code") == 137
    assert attr(run, "kspan.container.memory_limit") == "256Mi"
    assert run.status.status_code is StatusCode.ERROR
    assert ((run.end_time or 0) - (run.start_time or 0)) / 1e9 == 60


def test_a_pods_start_up_phases_have_their_real_durations() -> None:
    ready = pod("web-1", conditions=[("PodScheduled", 3), ("Initialized", 4), ("Ready", 9)])
    owner = {
        "kind": "ReplicaSet",
        "metadata": {"name": "web", "namespace": "ns", "uid": "uid-web"},
    }
    create = event(owner, "SuccessfulCreate", 0, "Created pod: web-1", component="rs")
    spans = replay_lines(
        [line("ADDED", pod("web-1")), line("ADDED", create), line("MODIFIED", ready)]
    )
    (created,) = named(spans, "ReplicaSet.SuccessfulCreate")
    scheduling = named(spans, "Pod.Scheduling")[0]
    starting = named(spans, "Pod.Starting")[0]
    assert ((scheduling.end_time or 0) - (scheduling.start_time or 0)) / 1e9 == 3
    assert ((starting.end_time or 0) - (starting.start_time or 0)) / 1e9 == 5
    assert attr(scheduling, "k8s.node.name") == "node-a"
    (life,) = named(spans, "Pod.Lifetime")
    assert parent_id(scheduling) == parent_id(starting) == span_id(life)
    assert parent_id(life) == span_id(created)


def test_deleting_a_pod_ends_its_running_container() -> None:
    running = pod("web-1", state={"running": {"startedAt": stamp(2)}})
    spans = replay_lines([line("ADDED", running), line("DELETED", pod("web-1", deleted=30))])
    (run,) = named(spans, "Container.Run")
    assert attr(run, "k8s.container.status.last_terminated_reason") == "PodDeleted"
    assert ((run.end_time or 0) - (run.start_time or 0)) / 1e9 == 28
    assert run.status.status_code is not StatusCode.ERROR


def test_a_dump_and_the_stream_give_the_same_run_span() -> None:
    crash = terminated(5, 9, "Error", 2)
    after = pod("web-1", runs=[crash], restarts=1, state={"running": {"startedAt": stamp(20)}})
    streamed = named(
        replay_lines([line("ADDED", pod("web-1")), line("MODIFIED", after)]), "Container.Run"
    )
    dumped = named(
        replay_lines([json.dumps({"apiVersion": "v1", "kind": "List", "items": [after]})]),
        "Container.Run",
    )
    assert [format_span_id(span_id(s)) for s in streamed] == [
        format_span_id(span_id(s)) for s in dumped
    ]


# -- causes across objects -------------------------------------------------------------------


def test_an_eviction_links_to_the_node_problem_that_caused_it() -> None:
    the_pod = pod("web-1", node_name="node-b")
    lines = [
        line("ADDED", node("node-b", "True", 0)),
        line("ADDED", the_pod),
        line("MODIFIED", node("node-b", "Unknown", 100, reason="NodeStatusUnknown")),
        line(
            "ADDED",
            event(
                node("node-b", "Unknown", 100),
                "NodeNotReady",
                100,
                "Node node-b status is now: NodeNotReady",
                component="node-controller",
            ),
        ),
        line(
            "ADDED",
            event(
                the_pod,
                "Evicted",
                400,
                "The node had condition: [MemoryPressure]. ",
                warning=True,
                component="kubelet",
            ),
        ),
        line("MODIFIED", node("node-b", "True", 500)),
    ]
    spans = replay_lines(lines)
    (not_ready_event,) = named(spans, "Node.NodeNotReady")
    (evicted,) = named(spans, "Pod.Evicted")
    assert link_reasons(evicted) == {"node-problem": span_id(not_ready_event)}
    (interval,) = named(spans, "Node.NotReady")
    assert ((interval.end_time or 0) - (interval.start_time or 0)) / 1e9 == 400
    assert parent_id(interval) == span_id(not_ready_event)
    assert attr(interval, "kspan.problem") == "NodeNotReady"


def test_a_statefulset_pod_evicted_after_its_rolling_update_links_its_replacement() -> None:
    """A StatefulSet re-creates its Pods under their names. Its rolling update deleted db-0
    (SuccessfulDelete, then the kubelet's Killing) and made it again; 20 minutes later the new
    db-0 is evicted, and the StatefulSet makes it once more: that creation replaces the
    eviction. The Killing its controller's deletion explained was kept as db-0's first sign of
    loss for the hour, and hid the eviction: the creation linked to nothing."""
    statefulset: Json = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "db", "namespace": "ns", "uid": "uid-db", "resourceVersion": "1"},
    }
    owned = [{"kind": "StatefulSet", "name": "db", "uid": "uid-db", "controller": True}]
    first, second = pod("db-0", created=0), pod("db-0", created=103)
    second["metadata"]["uid"] = "uid-db-0-b"
    for each in (first, second):
        each["metadata"]["ownerReferences"] = owned

    def by_controller(reason: str, at: float, uid: str) -> str:
        verb = "create" if reason == "SuccessfulCreate" else "delete"
        message = f"{verb} Pod db-0 in StatefulSet db successful"
        controller = "statefulset-controller"
        return line("ADDED", event(statefulset, reason, at, message, uid=uid, component=controller))

    lines = [
        line("ADDED", statefulset),
        line("ADDED", first),
        by_controller("SuccessfulDelete", 100, "delete"),
        line("ADDED", event(first, "Killing", 100, "Stopping container app", uid="killing")),
        line("DELETED", {**first, "metadata": {**first["metadata"], "resourceVersion": "2"}}),
        by_controller("SuccessfulCreate", 103, "create-1"),
        line("ADDED", second),
        line(
            "ADDED",
            event(
                second,
                "Evicted",
                1300,
                "The node was low on resource: memory.",
                warning=True,
                uid="evicted",
            ),
        ),
        by_controller("SuccessfulCreate", 1303, "create-2"),
    ]
    spans = replay_lines(lines)
    (evicted,) = named(spans, "Pod.Evicted")
    creations = named(spans, "StatefulSet.SuccessfulCreate")
    assert len(creations) == 2
    assert link_reasons(creations[1]) == {"replaces": span_id(evicted)}
    assert "replaces" not in link_reasons(creations[0])  # (the rollout's: no loss)


def test_a_loss_late_in_its_controllers_hour_still_links_its_replacement() -> None:
    """A ReplicaSet loses web-1 (evicted, replaced at once), then, just short of an hour
    later, web-2, replaced forty seconds after (past the first's hour): its own trace, linked
    to the eviction it replaces. The losses were kept per controller, forgotten together an
    hour after the first: the second eviction went with the first's hour, and its replacement
    linked to nothing."""
    replicaset: Json = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": "web", "namespace": "ns", "uid": "uid-web", "resourceVersion": "1"},
    }
    owned = [{"kind": "ReplicaSet", "name": "web", "uid": "uid-web", "controller": True}]
    pods = {name: pod(name, created=at) for name, at in (("web-1", 0), ("web-2", 0))}
    pods["web-3"], pods["web-4"] = pod("web-3", created=11), pod("web-4", created=3640)
    for each in pods.values():
        each["metadata"]["ownerReferences"] = owned

    def evicted(name: str, at: float) -> str:
        message = "The node was low on resource: memory."
        return line("ADDED", event(pods[name], "Evicted", at, message, warning=True))

    def created(name: str, at: float) -> str:
        made = event(
            replicaset, "SuccessfulCreate", at, f"Created pod: {name}", uid=f"create-{name}"
        )
        made["source"]["component"] = "replicaset-controller"
        return line("ADDED", made)

    lines = [
        line("ADDED", replicaset),
        line("ADDED", pods["web-1"]),
        line("ADDED", pods["web-2"]),
        evicted("web-1", 10),
        created("web-3", 11),
        line("ADDED", pods["web-3"]),
        # (event time moves on: the first replacement is linked within its minute)
        line("ADDED", event(pods["web-3"], "Started", 60, "Started container app")),
        evicted("web-2", 3600),
        created("web-4", 3640),
        line("ADDED", pods["web-4"]),
    ]
    spans = replay_lines(lines)
    evictions = {attr(span, "k8s.object.name"): span for span in named(spans, "Pod.Evicted")}
    creations = {
        attr(span, "k8s.event.message"): span
        for span in named(spans, "ReplicaSet.SuccessfulCreate")
    }
    # (made within the second, the first replacement is under the eviction, in its trace)
    assert parent_id(creations["Created pod: web-3"]) == span_id(evictions["web-1"])
    assert parent_id(creations["Created pod: web-4"]) is None
    assert link_reasons(creations["Created pod: web-4"]) == {
        "replaces": span_id(evictions["web-2"])
    }


def test_a_controller_with_a_thousand_losses_unanswered_still_links_a_new_one() -> None:
    """A ReplicaSet's 1,000 Pods are evicted in the first minutes and never replaced (the
    node is gone, say); twelve minutes later another is evicted and replaced. The controller's
    table of losses was full, so the new loss was not kept and its replacement linked to
    nothing; the losses too old to be replaced now make room."""
    replicaset: Json = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": "web", "namespace": "ns", "uid": "uid-web", "resourceVersion": "1"},
    }
    owned = [{"kind": "ReplicaSet", "name": "web", "uid": "uid-web", "controller": True}]
    lines = [line("ADDED", replicaset)]
    message = "The node was low on resource: memory."
    for n in range(1001):
        made = pod(f"web-{n}", created=0)
        made["metadata"]["ownerReferences"] = owned
        lines.append(line("ADDED", made))
        at = 10 + n / 10 if n < 1000 else 730
        lines.append(line("ADDED", event(made, "Evicted", at, message, warning=True)))
    replacement = event(replicaset, "SuccessfulCreate", 760, "Created pod: web-new", uid="new")
    replacement["source"]["component"] = "replicaset-controller"
    lines.append(line("ADDED", replacement))
    spans = replay_lines(lines)
    (last_eviction,) = [
        span for span in named(spans, "Pod.Evicted") if attr(span, "k8s.object.name") == "web-1000"
    ]
    (creation,) = named(spans, "ReplicaSet.SuccessfulCreate")
    assert link_reasons(creation) == {"replaces": span_id(last_eviction)}


def test_an_eviction_on_another_node_is_not_linked_to_it() -> None:
    lines = [
        line("ADDED", pod("web-1", node_name="node-a")),
        line(
            "ADDED",
            event(node("node-b", "Unknown", 100), "NodeNotReady", 100, "Node node-b status...."),
        ),
        line("ADDED", event(pod("web-1"), "Evicted", 130, "The node was low on resource: memory")),
    ]
    (evicted,) = named(replay_lines(lines), "Pod.Evicted")
    assert not evicted.links


def test_a_preempted_pod_links_to_its_preemptor() -> None:
    victim, preemptor = pod("low-1"), pod("high-1")
    lines = [
        line("ADDED", victim),
        line("ADDED", preemptor),
        line(
            "ADDED",
            event(
                preemptor,
                "FailedScheduling",
                10,
                "0/1 nodes are available: 1 Insufficient cpu.",
                warning=True,
                component="default-scheduler",
            ),
        ),
        line(
            "ADDED",
            event(
                victim,
                "Preempted",
                11,
                "Preempted by pod uid-high-1 on node node-a",
                component="default-scheduler",
                related=preemptor,
            ),
        ),
    ]
    spans = replay_lines(lines)
    (preempted,) = named(spans, "Pod.Preempted")
    (failed,) = named(spans, "Pod.FailedScheduling")
    assert link_reasons(preempted) == {"preempted-by": span_id(failed)}


def test_a_crash_long_after_a_rollout_starts_its_own_trace_linked_to_the_rollout() -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "ns",
            "uid": "uid-web",
            "generation": 2,
            "resourceVersion": "5",
            "creationTimestamp": stamp(-3600),
            "managedFields": [
                {
                    "manager": "kubectl-set",
                    "operation": "Update",
                    "time": stamp(0),
                    "fieldsV1": {"f:spec": {}},
                }
            ],
        },
    }
    the_pod = pod("web-1")
    the_pod["metadata"]["ownerReferences"] = [
        {"kind": "Deployment", "name": "web", "uid": "uid-web", "controller": True}
    ]
    lines = [
        line("ADDED", deployment),
        line("ADDED", the_pod),
        line("ADDED", event(deployment, "ScalingReplicaSet", 1, "Scaled up replica set web-2")),
        line("ADDED", event(the_pod, "BackOff", 3 * 3600, "Back-off restarting failed container")),
    ]
    spans = replay_lines(lines)
    (root,) = named(spans, "Deployment.Update")
    (crash,) = named(spans, "Pod.BackOff")
    assert trace_id(crash) != trace_id(root)
    assert link_reasons(crash) == {"rollout": span_id(root)}


def test_every_span_of_a_trace_is_exported_once() -> None:
    spans = replay_file(CAPTURES / "real-1.36" / "crashloop.events.jsonl")
    ids: defaultdict[int, int] = defaultdict(int)
    for span in spans:
        ids[span_id(span)] += 1
    assert max(ids.values()) == 1


def test_an_image_pull_lasts_as_long_as_the_kubelet_says_it_took() -> None:
    the_pod = pod("web-1")
    messages = {
        'Successfully pulled image "app:1" in 5.870196872s (5.9s including waiting). '
        "Image size: 1024 bytes.": 5.870196872,
        'Successfully pulled image "app:1" in 1m2.5s (1m2.5s including waiting)': 62.5,
        'Successfully pulled image "app:1" in 350ms': 0.35,
    }
    for message, took in messages.items():
        lines = [line("ADDED", the_pod), line("ADDED", event(the_pod, "Pulled", 100, message))]
        (pulled,) = named(replay_lines(lines), "Pod.Pulled")
        assert (pulled.end_time or 0) == (T0 + 100) * 1_000_000_000
        assert ((pulled.end_time or 0) - (pulled.start_time or 0)) / 1e9 == took
    cached = 'Container image "app:1" already present on machine'
    lines = [line("ADDED", the_pod), line("ADDED", event(the_pod, "Pulled", 100, cached))]
    (pulled,) = named(replay_lines(lines), "Pod.Pulled")
    assert pulled.start_time == (T0 + 100) * 1_000_000_000


def test_an_autoscalers_rescale_is_the_cause_of_the_scaling_it_ordered() -> None:
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "ns", "uid": "uid-hpa", "generation": 1},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}},
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "ns", "uid": "uid-web", "generation": 3},
    }
    rs = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": "web-abc",
            "namespace": "ns",
            "uid": "uid-rs",
            "ownerReferences": [
                {"kind": "Deployment", "name": "web", "uid": "uid-web", "controller": True}
            ],
        },
    }
    reason = "cpu resource utilization (percentage of request) above target"
    lines = [
        line("ADDED", hpa),
        line("ADDED", deployment),
        line("ADDED", rs),
        line("ADDED", event(hpa, "SuccessfulRescale", 100, f"New size: 5; reason: {reason}")),
        line(
            "ADDED",
            event(
                deployment, "ScalingReplicaSet", 100, "Scaled up replica set web-abc from 2 to 5"
            ),
        ),
        line("ADDED", event(rs, "SuccessfulCreate", 101, "Created pod: web-abc-x1")),
    ]
    spans = replay_lines(lines)
    (rescale,) = named(spans, "HorizontalPodAutoscaler.SuccessfulRescale")
    (scaling,) = named(spans, "Deployment.ScalingReplicaSet")
    (created,) = named(spans, "ReplicaSet.SuccessfulCreate")
    assert parent_id(scaling) == span_id(rescale)
    assert parent_id(created) == span_id(scaling)
    assert len({trace_id(s) for s in (rescale, scaling, created)}) == 1


def test_the_console_tree_marks_repeats_and_problems() -> None:
    from kspan_py.sinks.console import render_trees

    text = render_trees(replay_file(CAPTURES / "real-1.36" / "crashloop.core.jsonl"))
    assert "Pod.BackOff x4 [CrashLoopBackOff]" in text
    assert "Container.Run [ContainerFailed]" in text


def test_repeats_after_their_first_occurrence_left_still_stretch_the_pods_life() -> None:
    """Live, the first BackOff leaves a window after it happened while its repeats go on;
    the Pod's life, still held with its change, must still cover them."""
    capture = CAPTURES / "real-1.36" / "crashloop.events.jsonl"
    changes = [c for c in read_capture(str(capture)) if isinstance(c, ObjectChange | EventChange)]
    # Held for as long as the crash loop lasts: only the occurrences leave on the way.
    graph = CausalGraph(GraphSettings(root_hold_ns=600 * 10**9, change_gap_ns=600 * 10**9))
    spans: list[ReadableSpan] = []
    for change in changes:
        graph.ingest(change)
        spans += graph.advance()  # event time moves on with every occurrence, as live
    spans += graph.flush()
    (life,) = named(spans, "Pod.Lifetime")
    first = next(s for s in named(spans, "Pod.BackOff") if parent_id(s) == span_id(life))
    series = [s for s in spans if parent_id(s) == span_id(first)]
    assert series and max(s.end_time or 0 for s in series) > (first.end_time or 0)
    assert (life.end_time or 0) >= max(s.end_time or 0 for s in series)
