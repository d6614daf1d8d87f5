"""The problem classifier names every old and new message form, with its details, and nothing else.

One message form per line reads as the table it is, hence no line-length limit here.
"""

# ruff: noqa: E501

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import kspan_py.spans.problems as problems_module
from kspan_py.model import EventChange, KubeEvent, ObjectRef, Uid
from kspan_py.sources.capture import read_capture
from kspan_py.spans.problems import (
    CONDITION,
    ERROR,
    EXIT_CODE,
    HOST_PORT_CONFLICT,
    IMAGE,
    INSUFFICIENT,
    MEMORY_LIMIT,
    NODES_AVAILABLE,
    NODES_TOTAL,
    OUTPUT,
    PREEMPTOR,
    PROBE,
    PROBLEM_NAMES,
    REASON,
    REASONS,
    RESOURCE,
    VOLUME,
    Problem,
    event_problem,
    termination_problem,
)
from tests.tracing import kube_event

CAPTURES = Path(__file__).resolve().parent.parent / "examples" / "captures" / "real-1.36"
CONTAINER = "k8s.container.name"
NODE = "k8s.node.name"
APP = "spec.containers{app}"


def _event(
    reason: str,
    message: str,
    *,
    type_: str = "Warning",
    kind: str = "Pod",
    name: str = "web-1",
    field_path: str = "",
    related: ObjectRef | None = None,
) -> KubeEvent:
    return kube_event(
        reason=reason,
        message=message,
        type_=type_,
        kind=kind,
        name=name,
        namespace="" if kind == "Node" else "ns",
        field_path=field_path,
        related=related,
        instance="node-1",
    )


def _details(problem: Problem) -> dict[str, str | int]:
    details = dict(problem.details)
    assert len(details) == len(problem.details), "a detail is given twice"
    return details


# (kind, field path, type, reason, message, problem name, details that must be present)
FORMS: list[tuple[str, str, str, str, str, str, dict[str, Any]]] = [
    # crash loops: 1.36 names the container, older kubelets did not, the oldest said "docker"
    ("Pod", APP, "Warning", "BackOff", "Back-off restarting failed container app in pod crasher-668df5975c-56trp_crashloop(73d3f93d-7379-48ed-8379-1a5d8c067e7f)", "CrashLoopBackOff", {CONTAINER: "app"}),
    ("Pod", "spec.containers{web}", "Warning", "BackOff", "Back-off restarting failed container", "CrashLoopBackOff", {CONTAINER: "web"}),
    ("Pod", "spec.initContainers{init}", "Warning", "BackOff", "Back-off restarting failed container", "CrashLoopBackOff", {CONTAINER: "init"}),
    ("Pod", APP, "Warning", "BackOff", "Back-off restarting failed docker container", "CrashLoopBackOff", {CONTAINER: "app"}),
    ("Pod", APP, "Warning", "BackOff", "Back-off restarting failed container in pod web-1_ns(uid)", "CrashLoopBackOff", {CONTAINER: "app"}),
    ("Pod", APP, "Warning", "BackOff", "(combined from similar events): Back-off restarting failed container app in pod web-1_ns(uid)", "CrashLoopBackOff", {CONTAINER: "app"}),
    # image pulls, as recorded on 1.36 (the pull back-off is Normal) and older
    ("Pod", APP, "Normal", "BackOff", 'Back-off pulling image "registry.example/app:sim-fail-pull"', "ImagePullBackOff", {CONTAINER: "app", IMAGE: "registry.example/app:sim-fail-pull"}),
    ("Pod", APP, "Warning", "Failed", "Error: ImagePullBackOff", "ImagePullBackOff", {CONTAINER: "app"}),
    ("Pod", APP, "Warning", "Failed", 'Failed to pull image "registry.example/app:sim-fail-pull": failed to pull and unpack image "registry.example/app:sim-fail-pull": failed to resolve reference "registry.example/app:sim-fail-pull": not found', "ErrImagePull", {CONTAINER: "app", IMAGE: "registry.example/app:sim-fail-pull", ERROR: 'failed to pull and unpack image "registry.example/app:sim-fail-pull": failed to resolve reference "registry.example/app:sim-fail-pull": not found'}),
    ("Pod", APP, "Warning", "Failed", 'Failed to pull image "nginx:nope": rpc error: code = NotFound desc = failed to pull and unpack image "docker.io/library/nginx:nope": not found', "ErrImagePull", {IMAGE: "nginx:nope"}),
    ("Pod", APP, "Warning", "Failed", 'Failed to pull image "private/app:1": rpc error: code = Unknown desc = Error response from daemon: pull access denied for private/app', "ErrImagePull", {IMAGE: "private/app:1"}),
    ("Pod", APP, "Warning", "Failed", "Error: ErrImagePull", "ErrImagePull", {CONTAINER: "app"}),
    ("Pod", APP, "Warning", "Failed", "Error: RegistryUnavailable", "ErrImagePull", {ERROR: "RegistryUnavailable"}),
    ("Pod", APP, "Warning", "ErrImageNeverPull", 'Container image "app:local" is not present with pull policy of Never', "ErrImageNeverPull", {CONTAINER: "app", IMAGE: "app:local"}),
    ("Pod", APP, "Warning", "Failed", "Error: ErrImageNeverPull", "ErrImageNeverPull", {CONTAINER: "app"}),
    ("Pod", APP, "Warning", "InspectFailed", 'Failed to apply default image tag "Bad:Name": couldn\'t parse image reference "Bad:Name": invalid reference format: repository name must be lowercase', "InvalidImageName", {IMAGE: "Bad:Name"}),
    ("Pod", APP, "Warning", "Failed", "Error: InvalidImageName", "InvalidImageName", {CONTAINER: "app"}),
    ("Pod", APP, "Warning", "InspectFailed", 'Failed to inspect image "app:1": rpc error: code = Unknown desc = runtime down', "ImageInspectError", {IMAGE: "app:1", ERROR: "rpc error: code = Unknown desc = runtime down"}),
    # the kubelet could not create or start the container
    ("Pod", APP, "Warning", "Failed", 'Error: secret "app-config" not found', "ContainerStartFailed", {CONTAINER: "app", ERROR: 'secret "app-config" not found'}),
    ("Pod", APP, "Warning", "Failed", 'Error: failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: "nope": executable file not found in $PATH: unknown', "ContainerStartFailed", {CONTAINER: "app"}),
    # out of memory: node-problem-detector (new and old kernels) and the kubelet, on the Node
    ("Node", "", "Warning", "OOMKilling", "Memory cgroup out of memory: Killed process 4179 (stress) total-vm:12412kB, anon-rss:10240kB, file-rss:1024kB, shmem-rss:0kB, UID:0 pgtables:44kB oom_score_adj:999", "OOMKilled", {NODE: "web-1"}),
    ("Node", "", "Warning", "OOMKilling", "Kill process 4179 (java) score 1000 or sacrifice child\nKilled process 4179 (java) total-vm:12412kB, anon-rss:10240kB, file-rss:1024kB", "OOMKilled", {NODE: "web-1"}),
    ("Node", "", "Warning", "OOMKilling", "Out of memory: Killed process 99 (python3)", "OOMKilled", {NODE: "web-1"}),
    ("Node", "", "Warning", "SystemOOM", "System OOM encountered, victim process: stress, pid: 4179", "OOMKilled", {NODE: "web-1"}),
    ("Node", "", "Warning", "SystemOOM", "System OOM encountered", "OOMKilled", {NODE: "web-1"}),
    # evictions
    ("Pod", "", "Warning", "Evicted", "The node was low on resource: memory. Threshold quantity: 100Mi, available: 92Mi. Container app was using 300Mi, request is 100Mi, has larger consumption of memory. ", "Evicted", {RESOURCE: "memory", CONTAINER: "app"}),
    ("Pod", "", "Warning", "Evicted", "The node was low on resource: ephemeral-storage. Threshold quantity: 1Gi, available: 512Mi. Container app was using 2Gi, request is 0, has larger consumption of ephemeral-storage. Container sidecar was using 1Gi, request is 0, has larger consumption of ephemeral-storage. ", "Evicted", {RESOURCE: "ephemeral-storage", CONTAINER: "app,sidecar"}),
    ("Pod", "", "Warning", "Evicted", "The node was low on resource: memory. Container app was using 300Mi, which exceeds its request of 100Mi. ", "Evicted", {RESOURCE: "memory", CONTAINER: "app"}),
    ("Pod", "", "Warning", "Evicted", "The node had condition: [DiskPressure]. ", "Evicted", {CONDITION: "DiskPressure"}),
    ("Pod", "", "Warning", "Evicted", "The node had condition: [DiskPressure MemoryPressure]. ", "Evicted", {CONDITION: "DiskPressure,MemoryPressure"}),
    ("Pod", "", "Warning", "Evicted", "The node was low on resource: [DiskPressure].", "Evicted", {CONDITION: "DiskPressure"}),
    ("Pod", "", "Warning", "Evicted", 'Usage of EmptyDir volume "scratch" exceeds the limit "1Gi". ', "Evicted", {VOLUME: "scratch", RESOURCE: "ephemeral-storage"}),
    ("Pod", "", "Warning", "Evicted", 'Container app exceeded its local ephemeral storage limit "1Gi". ', "Evicted", {CONTAINER: "app", RESOURCE: "ephemeral-storage"}),
    ("Pod", "", "Warning", "Evicted", "Pod ephemeral local storage usage exceeds the total limit of containers 2Gi. ", "Evicted", {RESOURCE: "ephemeral-storage"}),
    ("Pod", "", "Normal", "TaintManagerEviction", "Marking for deletion Pod ns/web-1", "Evicted", {}),
    # preemption: by the scheduler (uid in new releases, namespace/name in old ones) and the kubelet
    ("Pod", "", "Normal", "Preempted", "Preempted by pod 5f3a2c1e-8b7d-4e0f-9a6b-1c2d3e4f5a6b on node node-2", "Preempted", {PREEMPTOR: "5f3a2c1e-8b7d-4e0f-9a6b-1c2d3e4f5a6b", NODE: "node-2"}),
    ("Pod", "", "Normal", "Preempted", "Preempted by ns/important on node node-2", "Preempted", {PREEMPTOR: "ns/important", NODE: "node-2"}),
    ("Pod", "", "Warning", "Preempting", "Preempted in order to admit critical pod", "Preempted", {}),
    # volumes
    ("Pod", "", "Warning", "FailedMount", 'MountVolume.SetUp failed for volume "config" : secret "app-config" not found', "FailedMount", {VOLUME: "config", ERROR: 'secret "app-config" not found'}),
    ("Pod", "", "Warning", "FailedMount", 'MountVolume.MountDevice failed for volume "pvc-1c2d" : rpc error: code = Internal desc = mount failed', "FailedMount", {VOLUME: "pvc-1c2d", ERROR: "rpc error: code = Internal desc = mount failed"}),
    ("Pod", "", "Warning", "FailedMount", "Unable to attach or mount volumes: unmounted volumes=[config], unattached volumes=[config kube-api-access-x2x9p]: timed out waiting for the condition", "FailedMount", {VOLUME: "config", ERROR: "timed out waiting for the condition"}),
    ("Pod", "", "Warning", "FailedMount", 'Unable to mount volumes for pod "web-1_ns(uid)": timeout expired waiting for volumes to attach or mount for pod "ns"/"web-1". list of unmounted volumes=[data logs]. list of unattached volumes=[data logs default-token-abcde]', "FailedMount", {VOLUME: "data,logs"}),
    ("Pod", "", "Warning", "FailedMount", 'MountVolume.SetUp failed for volume "kubernetes.io/secret/uid-default-token" (spec.Name: "default-token") pod "uid" (UID: "uid") with: secrets "default-token" not found', "FailedMount", {VOLUME: "default-token"}),
    ("Pod", "", "Warning", "FailedAttachVolume", 'AttachVolume.Attach failed for volume "pvc-8e1f" : rpc error: code = Internal desc = disk busy', "FailedAttachVolume", {VOLUME: "pvc-8e1f", ERROR: "rpc error: code = Internal desc = disk busy"}),
    ("Pod", "", "Warning", "FailedAttachVolume", 'Multi-Attach error for volume "pvc-8e1f" Volume is already exclusively attached to one node and can\'t be attached to another', "FailedAttachVolume", {VOLUME: "pvc-8e1f", ERROR: "Volume is already exclusively attached to one node and can't be attached to another"}),
    ("Pod", "", "Warning", "FailedMapVolume", 'MapVolume.SetUpDevice failed for volume "pvc-9a" : device not found', "FailedMapVolume", {VOLUME: "pvc-9a", ERROR: "device not found"}),
    # nodes: NodeNotReady is Normal on the Node, Warning on each Pod (whose node is not named)
    ("Node", "", "Normal", "NodeNotReady", "Node web-1 status is now: NodeNotReady", "NodeNotReady", {NODE: "web-1"}),
    ("Node", "", "Warning", "Rebooted", "Node web-1 has been rebooted, boot id: 8d1c7a6e-0b2f-4e1a-9c3d-5f6e7a8b9c0d", "Rebooted", {NODE: "web-1"}),
    # probes
    ("Pod", APP, "Warning", "Unhealthy", "Liveness probe failed: HTTP probe failed with statuscode: 500", "Unhealthy", {CONTAINER: "app", PROBE: "Liveness", OUTPUT: "HTTP probe failed with statuscode: 500"}),
    ("Pod", APP, "Warning", "Unhealthy", 'Readiness probe failed: Get "http://10.0.0.7:8080/ready": dial tcp 10.0.0.7:8080: connect: connection refused', "Unhealthy", {PROBE: "Readiness", OUTPUT: 'Get "http://10.0.0.7:8080/ready": dial tcp 10.0.0.7:8080: connect: connection refused'}),
    ("Pod", APP, "Warning", "Unhealthy", "Startup probe failed: cat: can't open '/tmp/ready': No such file or directory\n", "Unhealthy", {PROBE: "Startup", OUTPUT: "cat: can't open '/tmp/ready': No such file or directory"}),
    ("Pod", APP, "Warning", "Unhealthy", "Liveness probe errored: rpc error: code = DeadlineExceeded desc = context deadline exceeded", "Unhealthy", {PROBE: "Liveness", OUTPUT: "rpc error: code = DeadlineExceeded desc = context deadline exceeded"}),
    # jobs
    ("Job", "", "Warning", "BackoffLimitExceeded", "Job has reached the specified backoff limit", "BackoffLimitExceeded", {}),
    ("Job", "", "Warning", "DeadlineExceeded", "Job was active longer than specified deadline", "DeadlineExceeded", {}),
    # controllers that could not create
    ("ReplicaSet", "", "Warning", "FailedCreate", 'Error creating: pods "web-1-x" is forbidden: exceeded quota: compute, requested: cpu=1, used: cpu=4, limited: cpu=4', "FailedCreate", {ERROR: 'pods "web-1-x" is forbidden: exceeded quota: compute, requested: cpu=1, used: cpu=4, limited: cpu=4'}),
    ("StatefulSet", "", "Warning", "FailedCreate", "create Pod db-0 in StatefulSet db failed error: pods \"db-0\" is forbidden: quota", "FailedCreate", {ERROR: 'pods "db-0" is forbidden: quota'}),
    ("StatefulSet", "", "Warning", "FailedCreate", "Create Pod db-0 in StatefulSet db failed error: admission webhook denied", "FailedCreate", {ERROR: "admission webhook denied"}),
    ("StatefulSet", "", "Warning", "FailedCreate", "create Claim data-db-0 for Pod db-0 in StatefulSet db failed error: storageclass missing", "FailedCreate", {ERROR: "storageclass missing"}),
    ("CronJob", "", "Warning", "FailedCreate", 'Error creating job: jobs.batch "hello-2890" already exists', "FailedCreate", {ERROR: 'jobs.batch "hello-2890" already exists'}),
    # the rest of the kubelet's failures
    ("Pod", "", "Warning", "FailedCreatePodSandBox", 'Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox "abc": plugin type="calico" failed', "FailedCreatePodSandBox", {ERROR: 'rpc error: code = Unknown desc = failed to setup network for sandbox "abc": plugin type="calico" failed'}),
    ("Pod", "", "Warning", "FailedKillPod", 'error killing pod: failed to "KillPodSandbox" for "uid" with KillPodSandboxError: "rpc error"', "FailedKillPod", {ERROR: 'failed to "KillPodSandbox" for "uid" with KillPodSandboxError: "rpc error"'}),
    ("Pod", APP, "Warning", "FailedPostStartHook", "PostStartHook failed", "FailedPostStartHook", {CONTAINER: "app"}),
    ("Pod", "", "Warning", "FailedPostStartHook", 'Exec lifecycle hook ([/bin/sh -c exit 1]) for Container "app" in Pod "web-1_ns(uid)" failed - error: command \'/bin/sh -c exit 1\' exited with 1: , message: ""', "FailedPostStartHook", {CONTAINER: "app", ERROR: "command '/bin/sh -c exit 1' exited with 1: , message: \"\""}),
    ("Pod", APP, "Warning", "FailedPreStopHook", "PreStopHook failed", "FailedPreStopHook", {CONTAINER: "app"}),
    ("Pod", APP, "Warning", "FailedPreStopHook", 'HTTP lifecycle hook (/stop) for Container "app" in Pod "web-1_ns(uid)" failed - error: Get "http://10.0.0.7:80/stop": connection refused', "FailedPreStopHook", {CONTAINER: "app"}),
    ("Pod", APP, "Warning", "ExceededGracePeriod", "Container runtime did not kill the pod within specified grace period.", "ExceededGracePeriod", {CONTAINER: "app"}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "field_path", "type_", "reason", "message", "name", "details"), FORMS
)
def test_message_forms_are_problems(
    kind: str,
    field_path: str,
    type_: str,
    reason: str,
    message: str,
    name: str,
    details: dict[str, Any],
) -> None:
    event = _event(reason, message, type_=type_, kind=kind, field_path=field_path)
    problem = event_problem(event)
    assert problem is not None
    assert problem.name == name
    assert name in PROBLEM_NAMES
    got = _details(problem)
    for key, value in details.items():
        assert got.get(key) == value, key
    assert all(v != "" for v in got.values()), "an absent detail must be left out, not empty"
    assert problem.summary
    assert "\n" not in problem.summary
    assert len(problem.summary) <= 200


NOT_PROBLEMS = [
    ("Normal", "Pulled", 'Successfully pulled image "app:1" in 5.870196872s (5.870196872s including waiting). Image size: 123 bytes.'),
    ("Normal", "Pulled", 'Container image "app:1" already present on machine and can be accessed by the pod'),
    ("Normal", "Pulling", 'Pulling image "app:1"'),
    ("Normal", "Created", "Container created"),
    ("Normal", "Started", "Started container app"),
    ("Normal", "Scheduled", "Successfully assigned ns/web-1 to node-1"),
    ("Normal", "Killing", "Stopping container app"),
    ("Normal", "SuccessfulCreate", "Created pod: web-1-abcde"),
    ("Normal", "TaintManagerEviction", "Cancelling deletion of Pod ns/web-1"),
    ("Normal", "NodeNotSchedulable", "Node node-1 status is now: NodeNotSchedulable"),
    ("Warning", "ProbeWarning", "Readiness probe warning: Probe terminated redirects"),
    ("Warning", "FailedSync", "error determining status: rpc error"),
    ("Warning", "SomethingNew", "Back-off restarting failed container app in pod web-1"),
    ("Warning", "BackOff", "Back-off 5m0s restarting something else entirely"),
    ("Warning", "Failed", "something failed without the kubelet's shapes"),
]  # fmt: skip


@pytest.mark.parametrize(("type_", "reason", "message"), NOT_PROBLEMS)
def test_other_events_are_not_problems(type_: str, reason: str, message: str) -> None:
    assert event_problem(_event(reason, message, type_=type_, field_path=APP)) is None


def test_a_generic_error_is_a_start_failure_only_on_a_pod() -> None:
    assert event_problem(_event("Failed", "Error: reconcile failed", kind="HelmChart")) is None
    image = event_problem(_event("Failed", "Error: ErrImagePull", kind="HelmChart"))
    assert image is not None  # the image errors are the kubelet's own words
    assert image.name == "ErrImagePull"


def test_a_crash_loop_of_a_jobs_pod_is_still_a_crash_loop() -> None:
    event = _event(
        "BackOff",
        "Back-off restarting failed container main in pod pi-xk2_ns(uid)",
        name="pi-xk2",
        field_path="spec.containers{main}",
    )
    problem = event_problem(event)
    assert problem is not None
    assert problem.name == "CrashLoopBackOff"
    assert _details(problem)[CONTAINER] == "main"


def test_the_container_comes_from_the_field_path_when_the_message_does_not_name_it() -> None:
    for reason, message in [
        ("Unhealthy", "Liveness probe failed: HTTP probe failed with statuscode: 500"),
        ("BackOff", "Back-off restarting failed container"),
        ("Failed", "Error: ErrImagePull"),
        ("BackOff", 'Back-off pulling image "app:1"'),
    ]:
        problem = event_problem(_event(reason, message, field_path="spec.containers{sidecar}"))
        assert problem is not None
        assert _details(problem)[CONTAINER] == "sidecar", reason
        without = event_problem(_event(reason, message))
        assert without is not None
        assert CONTAINER not in _details(without), reason


def test_the_message_names_the_container_before_the_field_path() -> None:
    event = _event(
        "BackOff",
        "Back-off restarting failed container app in pod web-1_ns(uid)",
        field_path="spec.containers{other}",
    )
    problem = event_problem(event)
    assert problem is not None
    assert _details(problem)[CONTAINER] == "app"


def test_a_probe_summary_reads_as_one_line() -> None:
    event = _event(
        "Unhealthy",
        "Liveness probe failed: HTTP probe failed with statuscode: 500",
        field_path=APP,
    )
    problem = event_problem(event)
    assert problem is not None
    assert problem.summary == (
        "container app: liveness probe failed: HTTP probe failed with statuscode: 500"
    )


def test_node_not_ready_on_a_pod_names_no_node() -> None:
    problem = event_problem(_event("NodeNotReady", "Node is not ready", name="web-1"))
    assert problem is not None
    assert problem.name == "NodeNotReady"
    assert NODE not in _details(problem)


def test_a_preemptor_the_message_does_not_give_comes_from_related() -> None:
    related = ObjectRef("Pod", "ns", "important", Uid("p2"))
    problem = event_problem(_event("Preempted", "Preempted", type_="Normal", related=related))
    assert problem is not None
    assert problem.name == "Preempted"
    assert _details(problem)[PREEMPTOR] == "important"


# (message, nodes available, nodes total, reasons, host port conflict, insufficient)
SCHEDULING: list[tuple[str, int | None, int | None, str, int | None, str | None]] = [
    (
        "0/3 nodes are available: 1 node(s) didn't have free ports for the requested pod ports, 2 Insufficient memory. preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling.",
        0, 3, "1 node(s) didn't have free ports for the requested pod ports; 2 Insufficient memory", 1, "memory",
    ),
    (
        "0/5 nodes are available: 2 Insufficient cpu, 2 Insufficient memory, 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }. preemption: 0/5 nodes are available: 1 Preemption is not helpful for scheduling, 4 No preemption victims found for incoming pod.",
        0, 5, "2 Insufficient cpu; 2 Insufficient memory; 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }", None, "cpu,memory",
    ),
    ("0/3 nodes are available: 3 Insufficient cpu.", 0, 3, "3 Insufficient cpu", None, "cpu"),
    (
        "0/3 nodes are available: 1 node(s) had taint {node-role.kubernetes.io/master: }, that the pod didn't tolerate, 2 node(s) didn't have free ports.",
        0, 3, "1 node(s) had taint {node-role.kubernetes.io/master: }, that the pod didn't tolerate; 2 node(s) didn't have free ports", 1, None,
    ),
    ("0/2 nodes are available: 2 Insufficient nvidia.com/gpu.", 0, 2, "2 Insufficient nvidia.com/gpu", None, "nvidia.com/gpu"),
    (
        "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.",
        0, 1, "pod has unbound immediate PersistentVolumeClaims", None, None,
    ),
    ("pod has unbound immediate PersistentVolumeClaims", None, None, "pod has unbound immediate PersistentVolumeClaims", None, None),
    ("no nodes available to schedule pods", None, None, "no nodes available to schedule pods", None, None),
    (
        "No nodes are available that match all of the following predicates:: Insufficient cpu (3), PodFitsHostPorts (1).",
        None, None, "3 Insufficient cpu; 1 PodFitsHostPorts", 1, "cpu",
    ),
    ("0/4 nodes are available: 4 Too many pods.", 0, 4, "4 Too many pods", None, "pods"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("message", "available", "total", "reasons", "port", "insufficient"), SCHEDULING
)
def test_failed_scheduling_is_parsed(
    message: str,
    available: int | None,
    total: int | None,
    reasons: str,
    port: int | None,
    insufficient: str | None,
) -> None:
    problem = event_problem(_event("FailedScheduling", message))
    assert problem is not None
    assert problem.name == "FailedScheduling"
    details = _details(problem)
    assert details.get(NODES_AVAILABLE) == available
    assert details.get(NODES_TOTAL) == total
    assert details[REASONS] == reasons
    assert details.get(HOST_PORT_CONFLICT) == port
    assert details.get(INSUFFICIENT) == insufficient
    assert "Preemption" not in str(details[REASONS])


def test_failed_scheduling_of_an_unknown_shape_is_still_a_problem() -> None:
    message = 'running PreBind plugin "VolumeBinding": binding volumes: timed out'
    problem = event_problem(_event("FailedScheduling", message))
    assert problem is not None
    assert problem.name == "FailedScheduling"
    assert _details(problem) == {ERROR: message}


@pytest.mark.parametrize(
    ("reason", "exit_code", "kwargs", "name", "details"),
    [
        ("OOMKilled", 137, {"memory_limit": "256Mi"}, "OOMKilled", {EXIT_CODE: 137, MEMORY_LIMIT: "256Mi", REASON: "OOMKilled"}),
        ("OOMKilled", 0, {}, "OOMKilled", {EXIT_CODE: 0}),
        ("OOMKilled", None, {}, "OOMKilled", {REASON: "OOMKilled"}),
        ("Error", 1, {}, "ContainerFailed", {EXIT_CODE: 1, REASON: "Error"}),
        ("Error", 137, {"signal": 9}, "ContainerFailed", {EXIT_CODE: 137}),
        ("ContainerStatusUnknown", 137, {}, "ContainerFailed", {REASON: "ContainerStatusUnknown"}),
        ("Error", None, {}, "ContainerFailed", {REASON: "Error"}),
        ("", None, {"signal": 15}, "ContainerFailed", {}),
        ("", 2, {}, "ContainerFailed", {EXIT_CODE: 2}),
    ],
)  # fmt: skip
def test_terminations_that_are_problems(
    reason: str, exit_code: int | None, kwargs: dict[str, Any], name: str, details: dict[str, Any]
) -> None:
    problem = termination_problem("app", reason, exit_code, **kwargs)
    assert problem is not None
    assert problem.name == name
    got = _details(problem)
    assert got[CONTAINER] == "app"
    for key, value in details.items():
        assert got[key] == value
    assert problem.summary.startswith("container app: ")


def test_termination_summaries() -> None:
    oom = termination_problem("app", "OOMKilled", 137, memory_limit="256Mi")
    failed = termination_problem("app", "Error", 1)
    assert oom is not None
    assert failed is not None
    assert oom.summary == "container app: OOMKilled (exit code 137, memory limit 256Mi)"
    assert failed.summary == "container app: exited with code 1 (Error)"


@pytest.mark.parametrize(("reason", "exit_code"), [("Completed", 0), ("", 0), ("Completed", None)])
def test_terminations_that_are_not_problems(reason: str, exit_code: int | None) -> None:
    assert termination_problem("app", reason, exit_code) is None


def test_every_name_is_documented() -> None:
    doc = problems_module.__doc__ or ""
    for name in PROBLEM_NAMES:
        assert f"\n{name} " in doc, name


def _classified(capture: str) -> list[tuple[KubeEvent, Problem | None]]:
    return [
        (item.event, event_problem(item.event))
        for item in read_capture(str(CAPTURES / capture))
        if isinstance(item, EventChange)
    ]


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        ("crashloop", {"CrashLoopBackOff"}),
        ("badpull", {"ErrImagePull", "ImagePullBackOff"}),
        ("rollout", set()),
    ],
)
@pytest.mark.parametrize("api", ["core", "events"])
def test_real_captures(scenario: str, expected: set[str], api: str) -> None:
    classified = _classified(f"{scenario}.{api}.jsonl")
    assert classified
    names = {p.name for _, p in classified if p is not None}
    assert names == expected
    for event, problem in classified:
        if event.reason in {"Scheduled", "Pulling", "Pulled", "Created", "Started", "Killing"}:
            assert problem is None, event.message
        if event.reason in {"ScalingReplicaSet", "SuccessfulCreate", "SuccessfulDelete"}:
            assert problem is None, event.message
        if problem is not None:
            assert dict(problem.details)[CONTAINER] == "app"
