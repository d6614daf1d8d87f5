"""The scenario captures (examples/captures/*.jsonl beyond the first four) are what a 1.36 cluster
would record: checked here the way a user replaying them would rely on them, independently of
the simulator that wrote them: the watch format, resourceVersions, the core/v1 Event fields
each reporter sets, references that resolve, statuses that hang together, and in each scenario
the facts it exists to show."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

import pytest

from tests.tracing import CAPTURES

Json = dict[str, Any]

SCENARIOS = [
    "statefulset-rollout",
    "daemonset-rollout",
    "job-retries",
    "cronjob-run",
    "hpa-scale-up",
    "oomkilled-crashloop",
    "node-notready-eviction",
    "failedmount-recovery",
    "preemption",
]
DUMP = CAPTURES / "dumps" / "crashloop-dump.json"
CONTROLLERS = {
    "deployment-controller",
    "replicaset-controller",
    "statefulset-controller",
    "daemonset-controller",
    "job-controller",
    "cronjob-controller",
    "horizontal-pod-autoscaler",
    "node-controller",
    "taint-eviction-controller",
}
EVENT_NAME = re.compile(r"^(?P<object>.+)\.[0-9a-f]{16}$")


@dataclass
class Capture:
    """A capture split the way a recorder writes it: the initial list, then the watch stream."""

    listed: list[Json] = field(default_factory=list)
    watched: list[tuple[str, Json]] = field(default_factory=list)

    def all(self) -> Iterator[tuple[str, Json]]:
        yield from (("ADDED", body) for body in self.listed)
        yield from self.watched

    def objects(self) -> dict[str, list[tuple[str, Json]]]:
        """uid -> every version of a non-Event object, in file order."""
        versions: dict[str, list[tuple[str, Json]]] = defaultdict(list)
        for kind, body in self.all():
            if body["kind"] != "Event":
                versions[body["metadata"]["uid"]].append((kind, body))
        return versions

    def events(self) -> dict[str, list[Json]]:
        """Event uid -> every version (its occurrences), in file order."""
        versions: dict[str, list[Json]] = defaultdict(list)
        for _, body in self.all():
            if body["kind"] == "Event":
                versions[body["metadata"]["uid"]].append(body)
        return versions

    def last(self, kind: str) -> list[Json]:
        """The last version of every object of a kind."""
        return [v[-1][1] for v in self.objects().values() if v[-1][1]["kind"] == kind]

    def occurrences(self, reason: str) -> list[Json]:
        return [body for _, body in self.all() if body.get("reason") == reason]


@cache
def load(name: str) -> Capture:
    capture = Capture()
    in_list = True
    for number, line in enumerate((CAPTURES / f"{name}.jsonl").read_text().splitlines(), 1):
        value = json.loads(line)
        assert set(value) == {"type", "object"}, f"{name}:{number}"
        body = value["object"]
        # A list item carries kind and apiVersion last; a watch event's object has them first.
        if in_list and value["type"] == "ADDED" and list(body)[-2:] == ["apiVersion", "kind"]:
            capture.listed.append(body)
            continue
        in_list = False
        assert value["type"] in ("ADDED", "MODIFIED", "DELETED"), f"{name}:{number}"
        assert list(body)[:2] == ["kind", "apiVersion"], f"{name}:{number}"
        capture.watched.append((value["type"], body))
    return capture


def seconds(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC).timestamp()


def event_time(event: Json) -> float:
    series = event.get("series") or {}
    text = series.get("lastObservedTime") or event["lastTimestamp"] or event["eventTime"]
    return seconds(text)


def condition(body: Json, kind: str) -> Json:
    """The condition of that type, or an empty one."""
    found = (c for c in body["status"].get("conditions", []) if c["type"] == kind)
    return next(found, {"type": kind, "status": ""})


def first_line(capture: Capture, uid: str, test: Any = lambda body: True) -> int:
    """The index of the first version of the object that passes ``test``."""
    return next(
        i
        for i, (_, body) in enumerate(capture.all())
        if body["metadata"]["uid"] == uid and test(body)
    )


# -- the format, for every scenario ---------------------------------------------------------


@pytest.mark.parametrize("name", SCENARIOS)
def test_a_capture_is_an_initial_list_then_a_watch_stream(name: str) -> None:
    capture = load(name)
    assert capture.listed, "the recording starts with the list of what exists"
    assert {b["kind"] for b in capture.listed} >= {"Node"}
    assert len(capture.watched) > 20
    assert (CAPTURES / f"{name}.jsonl").stat().st_size < 300_000
    for _, body in capture.all():
        metadata = body["metadata"]
        assert metadata["name"] and metadata["uid"] and metadata["resourceVersion"].isdigit()
        seconds(metadata["creationTimestamp"])
        if body["kind"] not in ("Node", "Event"):
            assert metadata["namespace"]


@pytest.mark.parametrize("name", SCENARIOS)
def test_resource_versions_increase_down_each_watch_stream(name: str) -> None:
    """The watch starts from the list's resourceVersion: every watch event is newer than every
    listed object, and each resource's stream only goes forward."""
    capture = load(name)
    listed = max(int(b["metadata"]["resourceVersion"]) for b in capture.listed)
    last: dict[str, int] = {}
    for _, body in capture.watched:
        rv = int(body["metadata"]["resourceVersion"])
        assert rv > listed
        assert rv > last.get(body["kind"], 0), f"{body['kind']} {body['metadata']['name']}"
        last[body["kind"]] = rv


@pytest.mark.parametrize("name", SCENARIOS)
def test_an_object_lives_once_and_keeps_its_identity(name: str) -> None:
    """ADDED first, DELETED last if at all; name, namespace, creation time never change; the
    generation never goes back; a re-created name is a new uid."""
    for versions in load(name).objects().values():
        kinds = [kind for kind, _ in versions]
        assert kinds[0] == "ADDED" and "ADDED" not in kinds[1:]
        assert "DELETED" not in kinds[:-1]
        first = versions[0][1]["metadata"]
        generations = []
        for _, body in versions:
            metadata = body["metadata"]
            for key in ("name", "namespace", "creationTimestamp"):
                assert metadata.get(key) == first.get(key)
            generations.append(metadata.get("generation", 0))
        assert generations == sorted(generations)


@pytest.mark.parametrize("name", SCENARIOS)
def test_events_carry_the_core_v1_fields_of_their_reporter(name: str) -> None:
    for versions in load(name).events().values():
        first = versions[0]
        match = EVENT_NAME.match(first["metadata"]["name"])
        assert match and match["object"] == first["involvedObject"]["name"]
        component = first["reportingComponent"]
        for event in versions:
            assert event["apiVersion"] == "v1" and event["type"] in ("Normal", "Warning")
            assert event["reason"] and event["message"]
            for key in ("involvedObject", "reason", "message", "source", "reportingComponent"):
                assert event[key] == first[key], key
            if component == "default-scheduler":  # events.k8s.io/v1, seen through core/v1
                assert event["source"] == {}
                assert event["firstTimestamp"] is None and event["lastTimestamp"] is None
                assert "count" not in event and event["action"]
                assert event["reportingInstance"].startswith("default-scheduler")
                assert event["metadata"]["managedFields"][0]["apiVersion"] == "events.k8s.io/v1"
                seconds(event["eventTime"])
                continue
            assert event["eventTime"] is None and event["count"] >= 1
            assert event["source"]["component"] == component
            assert seconds(event["firstTimestamp"]) <= seconds(event["lastTimestamp"])
            if component == "kubelet":
                assert event["source"]["host"] == event["reportingInstance"]
                assert event["reportingInstance"].startswith("hollow-node-")
            else:
                assert component in CONTROLLERS and event["reportingInstance"] == ""
        # Repeats are the same Event with a higher count, later.
        counts = [e.get("count") or (e.get("series") or {}).get("count", 1) for e in versions]
        assert counts == sorted(set(counts))
        times = [event_time(e) for e in versions]
        assert times == sorted(times)


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_event_is_about_an_object_in_the_capture(name: str) -> None:
    """By uid; a kubelet names its Node by name in the uid field, and the taint-eviction
    controller's reference has no uid at all: those resolve by kind and name."""
    capture = load(name)
    objects = {uid: v[0][1] for uid, v in capture.objects().items()}
    by_name = {
        (b["kind"], b["metadata"].get("namespace", ""), b["metadata"]["name"])
        for b in objects.values()
    }
    for versions in capture.events().values():
        event = versions[0]
        for key in ("involvedObject", "related"):
            ref = event.get(key)
            if ref is None:
                continue
            where = (ref["kind"], ref.get("namespace", ""), ref["name"])
            assert where in by_name, f"{event['reason']} on {where}"
            if ref.get("uid") in objects:
                target = objects[ref["uid"]]
                assert (target["kind"], target["metadata"]["name"]) == (ref["kind"], ref["name"])
            elif ref["kind"] == "Node" and "uid" in ref:
                assert ref["uid"] == ref["name"] and event["reportingComponent"] == "kubelet"
            else:
                assert "uid" not in ref and event["reason"] == "TaintManagerEviction"
        if event["involvedObject"]["kind"] == "Node":
            assert event["metadata"]["namespace"] == "default"
        else:
            assert event["metadata"]["namespace"] == event["involvedObject"]["namespace"]


@pytest.mark.parametrize("name", SCENARIOS)
def test_owners_exist_before_what_they_own(name: str) -> None:
    capture = load(name)
    order: dict[str, tuple[int, Json]] = {}
    for index, (_, body) in enumerate(capture.all()):
        order.setdefault(body["metadata"]["uid"], (index, body))
    owned = 0
    for index, body in order.values():
        for ref in body["metadata"].get("ownerReferences", []):
            assert ref["controller"] is True
            owner_index, owner = order[ref["uid"]]
            assert (owner["kind"], owner["metadata"]["name"]) == (ref["kind"], ref["name"])
            assert owner["metadata"]["namespace"] == body["metadata"]["namespace"]
            assert owner["apiVersion"] == ref["apiVersion"]
            assert owner_index < index, f"{body['metadata']['name']} before its owner"
            owned += 1
    assert owned


@pytest.mark.parametrize("name", SCENARIOS)
def test_pod_statuses_hang_together(name: str) -> None:
    capture = load(name)
    nodes = {b["metadata"]["name"] for b in capture.last("Node")}
    for versions in capture.objects().values():
        if versions[0][1]["kind"] != "Pod":
            continue
        restarts = []
        for _, pod in versions:
            spec, status = pod["spec"], pod["status"]
            assert status["phase"] in ("Pending", "Running", "Succeeded", "Failed")
            for c in status.get("conditions", []):
                seconds(c["lastTransitionTime"])
                assert c["status"] in ("True", "False", "Unknown")
            if "nodeName" in spec:
                assert spec["nodeName"] in nodes
                assert condition(pod, "PodScheduled")["status"] == "True"
            else:
                assert status["phase"] == "Pending" and "containerStatuses" not in status
            container = spec["containers"][0]
            assert container["resources"] == {} or container["resources"]["requests"]
            for state in status.get("containerStatuses", []):
                assert len(state["state"]) == 1
                assert "running" in state["state"] or not state["ready"]
                restarts.append(state["restartCount"])
                if state["restartCount"]:
                    assert "terminated" in state["lastState"]
            if condition(pod, "Ready")["status"] == "True":
                assert status["phase"] == "Running"
                assert "running" in status["containerStatuses"][0]["state"]
            if status["phase"] in ("Succeeded", "Failed") and "containerStatuses" in status:
                assert "running" not in status["containerStatuses"][0]["state"]
        assert restarts == sorted(restarts)


# -- what each scenario is about -------------------------------------------------------------


def test_statefulset_pods_come_up_in_order_and_are_replaced_from_the_top() -> None:
    capture = load("statefulset-rollout")
    creates = [e["message"] for e in capture.occurrences("SuccessfulCreate")]
    deletes = [e["message"] for e in capture.occurrences("SuccessfulDelete")]
    assert creates == [
        f"Create Pod web-{i} in StatefulSet web successful" for i in (0, 1, 2, 2, 1, 0)
    ]
    assert deletes == [f"Delete Pod web-{i} in StatefulSet web successful" for i in (2, 1, 0)]
    web2 = [e for e in capture.occurrences("SuccessfulCreate") if "web-2" in e["message"]]
    assert len({e["metadata"]["uid"] for e in web2}) == 1 and [e["count"] for e in web2] == [1, 2]
    lives: dict[str, list[str]] = defaultdict(list)  # pod name -> uids, oldest first
    for uid, versions in capture.objects().items():
        if versions[0][1]["kind"] == "Pod":
            lives[versions[0][1]["metadata"]["name"]].append(uid)
    assert {name: len(uids) for name, uids in lives.items()} == {"web-0": 2, "web-1": 2, "web-2": 2}

    def ready(body: Json) -> bool:
        return condition(body, "Ready")["status"] == "True"

    # OrderedReady: each pod is created once the one before it is ready, both times round.
    for before, after in (("web-0", "web-1"), ("web-1", "web-2")):
        assert first_line(capture, lives[before][0], ready) < first_line(capture, lives[after][0])
    for before, after in (("web-2", "web-1"), ("web-1", "web-0")):
        assert first_line(capture, lives[before][1], ready) < first_line(capture, lives[after][1])
    # ... and a pod is re-created only once the old one is gone.
    lines = list(capture.all())
    for old, new in lives.values():
        gone = next(
            i for i, (t, b) in enumerate(lines) if t == "DELETED" and b["metadata"]["uid"] == old
        )
        assert gone < first_line(capture, new)
    labels = [capture.objects()[uid][0][1]["metadata"]["labels"] for uid in lives["web-0"]]
    assert labels[0]["controller-revision-hash"] != labels[1]["controller-revision-hash"]
    sts = capture.last("StatefulSet")[0]
    assert sts["spec"]["podManagementPolicy"] == "OrderedReady"
    status = sts["status"]
    assert status["currentRevision"] == status["updateRevision"]
    assert status["readyReplicas"] == status["updatedReplicas"] == 3


def test_daemonset_rolls_one_node_at_a_time_and_meets_its_own_host_port() -> None:
    capture = load("daemonset-rollout")
    acts = [
        (e["reason"], e["message"])
        for _, e in capture.watched
        if e.get("reason") in ("SuccessfulCreate", "SuccessfulDelete")
    ]
    assert [reason for reason, _ in acts] == ["SuccessfulDelete", "SuccessfulCreate"] * 3
    pods = {b["metadata"]["name"]: b for b in capture.last("Pod")}
    nodes = {b["metadata"]["name"] for b in capture.listed if b["kind"] == "Node"}
    listed = [b for b in capture.listed if b["kind"] == "Pod"]
    assert len(nodes) == 3 and {p["spec"]["nodeName"] for p in listed} == nodes
    # Node by node: the pod deleted and the pod created are on the same node.
    for (_, deleted), (_, created) in zip(acts[::2], acts[1::2], strict=True):
        old = next(
            p for p in listed if p["metadata"]["name"] == deleted.removeprefix("Deleted pod: ")
        )
        new = pods[created.removeprefix("Created pod: ")]
        affinity = new["spec"]["affinity"]["nodeAffinity"]
        term = affinity["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]
        assert term["matchFields"][0]["values"] == [old["spec"]["nodeName"]]
        assert new["spec"]["nodeName"] == old["spec"]["nodeName"]
        assert new["spec"]["containers"][0]["ports"][0]["hostPort"] == 9100
    [failed] = capture.occurrences("FailedScheduling")
    assert "didn't have free ports for the requested pod ports" in failed["message"]
    assert failed["message"].startswith("0/3 nodes are available: ")
    ds = capture.last("DaemonSet")[0]
    assert ds["metadata"]["generation"] == 2
    assert ds["metadata"]["annotations"]["deprecated.daemonset.template.generation"] == "2"
    assert ds["status"]["updatedNumberScheduled"] == ds["status"]["numberReady"] == 3


def test_job_retries_until_its_backoff_limit_then_fails() -> None:
    capture = load("job-retries")
    created = [e["message"] for e in capture.occurrences("SuccessfulCreate")]
    assert len(created) == 3 and all(m.startswith("Created pod: migrate-") for m in created)
    [exceeded] = capture.occurrences("BackoffLimitExceeded")
    assert exceeded["type"] == "Warning"
    assert exceeded["message"] == "Job has reached the specified backoff limit"
    job = capture.last("Job")[0]
    assert job["spec"]["backoffLimit"] == 2 and job["status"]["failed"] == 3
    assert [(c["type"], c["status"], c["reason"]) for c in job["status"]["conditions"]] == [
        ("FailureTarget", "True", "BackoffLimitExceeded"),
        ("Failed", "True", "BackoffLimitExceeded"),
    ]
    pods = capture.last("Pod")
    assert len(pods) == 3
    for pod in pods:
        assert pod["status"]["phase"] == "Failed" and pod["spec"]["restartPolicy"] == "Never"
        assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 1
        assert "finalizers" not in pod["metadata"]  # counted: the job-tracking finalizer is gone
    # The back-off between attempts doubles from 10 s.
    starts = [seconds(e["firstTimestamp"]) for e in capture.occurrences("SuccessfulCreate")]
    exits = sorted(
        seconds(p["status"]["containerStatuses"][0]["state"]["terminated"]["finishedAt"])
        for p in pods
    )
    assert 9 <= starts[1] - exits[0] <= 12 and 19 <= starts[2] - exits[1] <= 22


def test_cronjob_runs_jobs_named_after_their_minute() -> None:
    capture = load("cronjob-run")
    created = [
        e["message"]
        for e in capture.occurrences("SuccessfulCreate")
        if e["involvedObject"]["kind"] == "CronJob"
    ]
    jobs = {j["metadata"]["name"]: j for j in capture.last("Job")}
    assert created == [f"Created job {name}" for name in sorted(jobs)]
    cron = capture.last("CronJob")[0]
    for name, job in jobs.items():
        scheduled = job["metadata"]["annotations"][
            "batch.kubernetes.io/cronjob-scheduled-timestamp"
        ]
        assert name == f"hello-{int(seconds(scheduled)) // 60}"
        assert job["metadata"]["ownerReferences"][0]["uid"] == cron["metadata"]["uid"]
        assert [c["type"] for c in job["status"]["conditions"]] == [
            "SuccessCriteriaMet",
            "Complete",
        ]
    assert [e["message"] for e in capture.occurrences("SawCompletedJob")] == [
        f"Saw completed job: {name}, status: Complete" for name in sorted(jobs)
    ]
    assert len(capture.occurrences("Completed")) == 2
    assert "active" not in cron["status"] and cron["status"]["lastSuccessfulTime"]
    for pod in capture.last("Pod"):
        assert pod["status"]["phase"] == "Succeeded"
        assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 0


def test_autoscaler_scales_the_deployment_through_its_scale_subresource() -> None:
    capture = load("hpa-scale-up")
    [hpa] = capture.last("HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "kind": "Deployment",
        "name": "web",
        "apiVersion": "apps/v1",
    }
    [rescale] = capture.occurrences("SuccessfulRescale")
    assert rescale["message"] == (
        "New size: 5; reason: cpu resource utilization (percentage of request) above target"
    )
    assert rescale["involvedObject"]["uid"] == hpa["metadata"]["uid"]
    deployment = capture.last("Deployment")[0]
    assert deployment["spec"]["replicas"] == 5 and deployment["metadata"]["generation"] == 2
    [scale] = [
        m for m in deployment["metadata"]["managedFields"] if m.get("subresource") == "scale"
    ]
    assert scale["manager"] == "kube-controller-manager" and scale["fieldsV1"] == {
        "f:spec": {"f:replicas": {}}
    }
    creator = next(
        m for m in deployment["metadata"]["managedFields"] if m["manager"] == "kubectl-create"
    )
    assert "f:replicas" not in creator["fieldsV1"]["f:spec"]  # the scale took the field over
    [scaled] = [
        e["message"]
        for e in capture.occurrences("ScalingReplicaSet")
        if "from 2 to 5" in e["message"]
    ]
    assert scaled.startswith("Scaled up replica set web-")
    assert capture.last("ReplicaSet")[0]["status"]["readyReplicas"] == 5
    assert hpa["status"]["currentReplicas"] == hpa["status"]["desiredReplicas"] == 5


def test_oomkilled_container_restarts_into_crash_loop_back_off() -> None:
    capture = load("oomkilled-crashloop")
    [pod] = capture.last("Pod")
    assert pod["spec"]["containers"][0]["resources"]["limits"] == {"memory": "256Mi"}
    state = pod["status"]["containerStatuses"][0]
    assert state["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert state["lastState"]["terminated"]["reason"] == "OOMKilled"
    assert state["lastState"]["terminated"]["exitCode"] == 137
    assert state["restartCount"] >= 3
    backoffs = capture.occurrences("BackOff")
    assert len({e["metadata"]["uid"] for e in backoffs}) == 1
    assert [e["count"] for e in backoffs] == list(range(1, len(backoffs) + 1)) and len(backoffs) > 5
    assert backoffs[0]["message"] == (
        f"Back-off restarting failed container app in pod "
        f"{pod['metadata']['name']}_{pod['metadata']['namespace']}({pod['metadata']['uid']})"
    )


def test_node_goes_not_ready_its_pods_are_evicted_and_it_comes_back_rebooted() -> None:
    capture = load("node-notready-eviction")
    node_versions = [
        b
        for _, b in capture.all()
        if b["kind"] == "Node" and b["metadata"]["name"] == "hollow-node-2"
    ]
    unknown = [b for b in node_versions if condition(b, "Ready")["status"] == "Unknown"]
    assert unknown
    ready = condition(unknown[0], "Ready")
    assert ready == {
        **ready,
        "reason": "NodeStatusUnknown",
        "message": "Kubelet stopped posting node status.",
    }
    taints = {(t["key"], t["effect"]) for b in unknown for t in b["spec"].get("taints", [])}
    assert ("node.kubernetes.io/unreachable", "NoExecute") in taints
    messages = {
        (e["reason"], e["involvedObject"]["kind"], e["message"])
        for _, e in capture.all()
        if e["kind"] == "Event"
    }
    assert ("NodeNotReady", "Node", "Node hollow-node-2 status is now: NodeNotReady") in messages
    assert ("NodeNotReady", "Pod", "Node is not ready") in messages
    [marked] = capture.occurrences("TaintManagerEviction")
    ref = marked["involvedObject"]
    assert marked["message"] == f"Marking for deletion Pod {ref['namespace']}/{ref['name']}"
    [evicted] = capture.occurrences("Evicted")
    assert evicted["message"].startswith(
        "The node was low on resource: memory. Threshold quantity: "
    )
    failed = next(
        p for p in capture.last("Pod") if p["metadata"]["name"] == evicted["involvedObject"]["name"]
    )
    assert (failed["status"]["phase"], failed["status"]["reason"]) == ("Failed", "Evicted")
    assert failed["status"]["message"] == evicted["message"]
    pressure = [
        condition(b, "MemoryPressure")["status"]
        for _, b in capture.all()
        if b["kind"] == "Node" and b["metadata"]["name"] == "hollow-node-1"
    ]
    assert "True" in pressure and pressure[-1] == "False"
    [rebooted] = capture.occurrences("Rebooted")
    boot_id = node_versions[-1]["status"]["nodeInfo"]["bootID"]
    assert rebooted["message"] == f"Node hollow-node-2 has been rebooted, boot id: {boot_id}"
    assert boot_id != node_versions[0]["status"]["nodeInfo"]["bootID"]
    assert condition(node_versions[-1], "Ready")["status"] == "True"
    assert "taints" not in node_versions[-1]["spec"]
    # Every pod lost was replaced elsewhere by its ReplicaSet, which says so.
    created = {
        e["message"].removeprefix("Created pod: ") for e in capture.occurrences("SuccessfulCreate")
    }
    for pod in capture.last("Pod"):
        assert pod["metadata"]["name"] in created


def test_failed_mount_retries_until_the_secret_exists() -> None:
    capture = load("failedmount-recovery")
    mounts = capture.occurrences("FailedMount")
    assert [e["count"] for e in mounts] == list(range(1, len(mounts) + 1)) and len(mounts) >= 5
    assert (
        mounts[0]["message"]
        == 'MountVolume.SetUp failed for volume "config" : secret "app-config" not found'
    )
    assert "fieldPath" not in mounts[0]["involvedObject"] and mounts[0]["type"] == "Warning"
    [started] = capture.occurrences("Started")
    assert event_time(started) > event_time(mounts[-1])
    [pod] = capture.last("Pod")
    assert pod["spec"]["volumes"][0] == {
        "name": "config",
        "secret": {"secretName": "app-config", "defaultMode": 420},
    }
    assert pod["status"]["phase"] == "Running"


def test_preemption_makes_room_for_the_higher_priority_pod() -> None:
    capture = load("preemption")
    [preempted] = capture.occurrences("Preempted")
    victim, preemptor = preempted["involvedObject"], preempted["related"]
    assert preempted["action"] == "Preempting"
    node = re.fullmatch(r"Preempted by pod (\S+) on node (\S+)", preempted["message"])
    assert node and node[1] == preemptor["uid"]
    versions = capture.objects()
    victim_versions = versions[victim["uid"]]
    assert victim_versions[-1][0] == "DELETED"
    disruption = condition(victim_versions[-1][1], "DisruptionTarget")
    assert disruption["status"] == "True" and disruption["reason"] == "PreemptionByScheduler"
    killed = [
        e for e in capture.occurrences("Killing") if e["involvedObject"]["uid"] == victim["uid"]
    ]
    assert killed
    first, *_ = versions[preemptor["uid"]]
    assert first[1]["spec"]["priority"] > victim_versions[0][1]["spec"]["priority"]
    failed = [
        e
        for e in capture.occurrences("FailedScheduling")
        if e["involvedObject"]["uid"] == preemptor["uid"]
    ]
    assert failed and failed[0]["message"] == "0/2 nodes are available: 2 Insufficient cpu."
    [scheduled] = [
        e
        for e in capture.occurrences("Scheduled")
        if e["involvedObject"]["uid"] == preemptor["uid"]
    ]
    assert scheduled["message"].endswith(f" to {node[2]}")
    gone = [
        i
        for i, (t, b) in enumerate(capture.watched)
        if t == "DELETED" and b["metadata"]["uid"] == victim["uid"]
    ]
    bound = [
        i
        for i, (_, b) in enumerate(capture.watched)
        if b["metadata"]["uid"] == preemptor["uid"] and b["spec"].get("nodeName")
    ]
    assert gone[0] < bound[0]
    stuck = [
        e
        for e in capture.occurrences("FailedScheduling")
        if e["involvedObject"]["uid"] != preemptor["uid"]
    ]
    assert stuck[-1]["message"].endswith(
        "preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod."
    )
    assert stuck[-1]["series"]["count"] == 2


# -- the dump ----------------------------------------------------------------------------


def test_the_dump_is_what_kubectl_prints_at_the_end_of_the_crash_loop() -> None:
    text = DUMP.read_text()
    listing = json.loads(text)
    assert text == json.dumps(listing, indent=4, sort_keys=True) + "\n"  # kubectl's layout
    assert listing["kind"] == "List" and listing["metadata"] == {"resourceVersion": ""}
    kinds = [item["kind"] for item in listing["items"]]
    assert kinds == sorted(kinds, key=["Pod", "ReplicaSet", "Deployment", "Event"].index)
    capture = load("oomkilled-crashloop")
    end = {uid: v[-1][1] for uid, v in capture.objects().items() if v[-1][0] != "DELETED"}
    end |= {uid: v[-1] for uid, v in capture.events().items()}
    end = {uid: body for uid, body in end.items() if body["kind"] != "Node"}
    assert {item["metadata"]["uid"] for item in listing["items"]} == set(end)
    for item in listing["items"]:
        assert "managedFields" not in item["metadata"]
        last = end[item["metadata"]["uid"]]
        metadata = {k: v for k, v in last["metadata"].items() if k != "managedFields"}
        assert item == {**last, "metadata": metadata}
    backoff = next(i for i in listing["items"] if i.get("reason") == "BackOff")
    assert backoff["count"] == len(capture.occurrences("BackOff"))
