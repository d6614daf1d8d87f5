"""Which events explain an outage, and what they say: the value of ``kspan.problem``.

An Event's reason alone does not say whether something broke: ``BackOff`` is a crash loop or an
image pull waiting, ``Failed`` is a pull error or a container that could not start, some real
problems are ``Normal`` (a Node going NotReady, a Pod preempted, a pull backing off) and many
``Warning`` events are noise. Users ask one question of a trace — ``{ span.kspan.problem =
"OOMKilled" }`` — so the answer is decided here, once, by a pure table: the reason picks a rule
(a dict lookup), the rule checks the message's shape and reads its details with regexes
compiled at import. Nothing here does I/O or keeps state.

Messages are written by anyone who may create an Event, so every rule runs in time linear in
the message and reads only its first ``RULES_READ`` characters (8 KiB). A regex here must not
backtrack over what it cannot use: a search starts only where a match can start (not inside a
run of digits); a run stops at the next place a search restarts (a list's body excludes the "["
that opens the next list) or is bounded; quantifiers are possessive where giving back can never
help; and "the first X after Y" is ``str.find``, not a lazy ``.*?``. tests/hostile_messages.py
holds the worst case of each rule; benchmarks/classify_bench.py times them from 1 KB to 1 MB.

Names (the values of ``kspan.problem``), the reasons and message forms that give them (old and
new forms alike), and their details:

====================== ============================================== ===========================
name                   reason: message forms                          details
====================== ============================================== ===========================
CrashLoopBackOff       BackOff: ``Back-off restarting failed          container
                       container %s in pod %s``; older without the
                       name, oldest ``... failed docker container``
ImagePullBackOff       BackOff (Normal!): ``Back-off pulling image    container, image
                       %q``; Failed: ``Error: ImagePullBackOff``
ErrImagePull           Failed: ``Failed to pull image %q: %v``,       container, image, error
                       ``Error: ErrImagePull`` (also the retired
                       ``Error: RegistryUnavailable`` and
                       ``Error: SignatureValidationFailed``, which
                       become the error detail)
ErrImageNeverPull      ErrImageNeverPull: ``Container image %q is     container, image
                       not present with pull policy of Never``;
                       Failed: ``Error: ErrImageNeverPull``
InvalidImageName       InspectFailed: ``Failed to apply default       container, image, error
                       image tag %q: %v``; ``Error: InvalidImageName``
ImageInspectError      InspectFailed: ``Failed to inspect image %q:   container, image, error
                       %v`` (and any other message);
                       Failed: ``Error: ImageInspectError``
ContainerStartFailed   Failed on a Pod: ``Error: %v`` with any other  container, error
                       error — the kubelet could not create or start
                       the container (CreateContainerConfigError,
                       CreateContainerError, RunContainerError)
OOMKilled              OOMKilling (node-problem-detector, on the      k8s.node.name
                       Node: ``Memory cgroup out of memory: Killed
                       process %d (%s) ...``, older ``Kill process
                       %d (%s) score ...``) and SystemOOM (kubelet:
                       ``System OOM encountered, victim process: %s,
                       pid: %d``), any message;
                       termination_problem: reason OOMKilled          container, reason,
                                                                      exit_code, memory_limit
ContainerFailed        termination_problem: a run that ended with a   container, reason,
                       non-zero exit code                             exit_code, memory_limit
Evicted                Evicted (kubelet eviction manager, any         resource, condition,
                       message): ``The node was low on resource: %v.  container, volume
                       Threshold quantity: ... Container %s was
                       using %s, request is %s, ...``, ``The node
                       had condition: [%v]. ``; TaintManagerEviction
                       (Normal): ``Marking for deletion Pod %s``
                       (not ``Cancelling deletion of Pod %s``)
Preempted              Preempted (scheduler, Normal, any message):    preemptor, k8s.node.name
                       ``Preempted by pod %v on node %v`` (the
                       preemptor's uid), older ``Preempted by %v/%v
                       on node %v``; Preempting (kubelet, admitting
                       a critical pod: no preemptor)
FailedScheduling       FailedScheduling, any message: ``0/%d nodes    nodes_available,
                       are available: <n reason>, <n reason>.`` and   nodes_total, reasons,
                       an optional `` preemption: ...`` tail that is  host_port_conflict,
                       not counted; older ``No nodes are available    insufficient; error for a
                       that match all of the following predicates::   message of no known shape
                       %s (%d), ...``, ``no nodes available to
                       schedule pods``, ``pod has unbound immediate
                       PersistentVolumeClaims``
FailedMount            FailedMount, any message: ``MountVolume.%s     volume, error
                       failed for volume %q : %v``, ``Unable to
                       attach or mount volumes: unmounted
                       volumes=[%s], unattached volumes=[%s]: %v``
FailedAttachVolume     FailedAttachVolume, any message:               volume, error
                       ``AttachVolume.Attach failed for volume %q :
                       %v``, ``Multi-Attach error for volume %q
                       Volume is already ...``
FailedMapVolume        FailedMapVolume, any message: ``MapVolume.%s   volume, error
                       failed for volume %q : %v``
NodeNotReady           NodeNotReady, any message: on the Node         k8s.node.name (on a Node)
                       (Normal) ``Node %s status is now:
                       NodeNotReady``; on each of its Pods (Warning)
                       ``Node is not ready``
Rebooted               Rebooted, any message: ``Node %s has been      k8s.node.name
                       rebooted, boot id: %s``
Unhealthy              Unhealthy, any message: ``%s probe failed:     container, probe, output
                       %s``, ``%s probe errored: %s``
BackoffLimitExceeded   BackoffLimitExceeded, any message: ``Job has   —
                       reached the specified backoff limit``
DeadlineExceeded       DeadlineExceeded, any message: ``Job was       —
                       active longer than specified deadline``
FailedCreate           FailedCreate, any message: ``Error creating:   error
                       %v``, ``[Cc]reate Pod %s in StatefulSet %s
                       failed error: %v``, ``Error creating job: %v``
FailedCreatePodSandBox FailedCreatePodSandBox, any message: ``Failed  error
                       to create pod sandbox: %v``
FailedKillPod          FailedKillPod, any message: ``error killing    error
                       pod: %v``
FailedPostStartHook    FailedPostStartHook, any message:              container, error
                       ``PostStartHook failed``, older ``Exec
                       lifecycle hook (%v) for Container %q in Pod
                       %q failed - error: %v, message: %q``
FailedPreStopHook      FailedPreStopHook, any message: as above       container, error
ExceededGracePeriod    ExceededGracePeriod, any message: ``Container  container
                       runtime did not kill the pod within specified
                       grace period.``
====================== ============================================== ===========================

Details are span attributes named ``kspan.problem.<detail>`` (constants below), plus
``k8s.container.name`` — from the message, or from the Event's field path when the message does
not name the container (kubelet 1.35+) — and ``k8s.node.name``. A detail the message does not
give is absent, never empty.

How strict: reasons shared with events that are not problems (``BackOff``, ``Failed``,
``TaintManagerEviction``) count only in the message shapes above. Reasons that only ever report a
failure count with any message — Kubernetes rewords its messages (1.35 did) and a reworded
failure is still a failure; the shape only adds details. Every other reason, ``Warning`` or not,
is not a problem by itself: ``Killing``, ``ProbeWarning``, ``NodeNotSchedulable``,
``FailedSync``, ``NetworkNotReady``, node pressure conditions, admission rejections
(``OutOfcpu``...) and everything from controllers outside Kubernetes return None, so the list
stays explicit and a new name is a reviewed change.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from kspan_py.model import KubeEvent
from kspan_py.spans.attributes import CONTAINER_NAME, container_of

PROBLEM: Final = "kspan.problem"
EXIT_CODE: Final = "kspan.problem.exit_code"
REASON: Final = "kspan.problem.reason"
PROBE: Final = "kspan.problem.probe"
OUTPUT: Final = "kspan.problem.output"
IMAGE: Final = "kspan.problem.image"
VOLUME: Final = "kspan.problem.volume"
RESOURCE: Final = "kspan.problem.resource"
PREEMPTOR: Final = "kspan.problem.preemptor"
NODES_AVAILABLE: Final = "kspan.problem.nodes_available"
NODES_TOTAL: Final = "kspan.problem.nodes_total"
REASONS: Final = "kspan.problem.reasons"
HOST_PORT_CONFLICT: Final = "kspan.problem.host_port_conflict"
INSUFFICIENT: Final = "kspan.problem.insufficient"
CONDITION: Final = "kspan.problem.condition"
ERROR: Final = "kspan.problem.error"
MEMORY_LIMIT: Final = "kspan.problem.memory_limit"
NODE_NAME: Final = "k8s.node.name"

CRASH_LOOP_BACK_OFF: Final = "CrashLoopBackOff"
IMAGE_PULL_BACK_OFF: Final = "ImagePullBackOff"
ERR_IMAGE_PULL: Final = "ErrImagePull"
ERR_IMAGE_NEVER_PULL: Final = "ErrImageNeverPull"
INVALID_IMAGE_NAME: Final = "InvalidImageName"
IMAGE_INSPECT_ERROR: Final = "ImageInspectError"
CONTAINER_START_FAILED: Final = "ContainerStartFailed"
OOM_KILLED: Final = "OOMKilled"
CONTAINER_FAILED: Final = "ContainerFailed"
EVICTED: Final = "Evicted"
PREEMPTED: Final = "Preempted"
FAILED_SCHEDULING: Final = "FailedScheduling"
FAILED_MOUNT: Final = "FailedMount"
FAILED_ATTACH_VOLUME: Final = "FailedAttachVolume"
FAILED_MAP_VOLUME: Final = "FailedMapVolume"
NODE_NOT_READY: Final = "NodeNotReady"
REBOOTED: Final = "Rebooted"
UNHEALTHY: Final = "Unhealthy"
BACKOFF_LIMIT_EXCEEDED: Final = "BackoffLimitExceeded"
DEADLINE_EXCEEDED: Final = "DeadlineExceeded"
FAILED_CREATE: Final = "FailedCreate"
FAILED_CREATE_POD_SANDBOX: Final = "FailedCreatePodSandBox"
FAILED_KILL_POD: Final = "FailedKillPod"
FAILED_POST_START_HOOK: Final = "FailedPostStartHook"
FAILED_PRE_STOP_HOOK: Final = "FailedPreStopHook"
EXCEEDED_GRACE_PERIOD: Final = "ExceededGracePeriod"

PROBLEM_NAMES: Final[frozenset[str]] = frozenset(
    {
        CRASH_LOOP_BACK_OFF,
        IMAGE_PULL_BACK_OFF,
        ERR_IMAGE_PULL,
        ERR_IMAGE_NEVER_PULL,
        INVALID_IMAGE_NAME,
        IMAGE_INSPECT_ERROR,
        CONTAINER_START_FAILED,
        OOM_KILLED,
        CONTAINER_FAILED,
        EVICTED,
        PREEMPTED,
        FAILED_SCHEDULING,
        FAILED_MOUNT,
        FAILED_ATTACH_VOLUME,
        FAILED_MAP_VOLUME,
        NODE_NOT_READY,
        REBOOTED,
        UNHEALTHY,
        BACKOFF_LIMIT_EXCEEDED,
        DEADLINE_EXCEEDED,
        FAILED_CREATE,
        FAILED_CREATE_POD_SANDBOX,
        FAILED_KILL_POD,
        FAILED_POST_START_HOOK,
        FAILED_PRE_STOP_HOOK,
        EXCEEDED_GRACE_PERIOD,
    }
)
"""Every name :func:`event_problem` and :func:`termination_problem` can return."""

Detail = tuple[str, str | int]


@dataclass(frozen=True, slots=True)
class Problem:
    """What an occurrence says went wrong: the ``kspan.problem`` value, a line, and details."""

    name: str  # the value of the span attribute kspan.problem
    summary: str  # one short human line
    details: tuple[Detail, ...]  # (attribute name, value) pairs; absent details are left out


RULES_READ: Final = 8192
"""The rules read this many characters of a message, and no more: every real form fits many
times over, and a crafted megabyte costs no more than this."""
_SUMMARY_LIMIT = 200
_COMBINED = "(combined from similar events): "  # the client-go correlator's prefix
_QUOTED = r'"((?:[^"\\]++|\\.)*+)"'  # a Go %q string (possessive: no backtracking into it)


def _line(text: str) -> str:
    """One line of at most _SUMMARY_LIMIT characters (probe output and errors span lines)."""
    line = " ".join(text.split())
    return line if len(line) <= _SUMMARY_LIMIT else line[: _SUMMARY_LIMIT - 1] + "…"


def _unquote(quoted: str) -> str:
    return re.sub(r"\\(.)", r"\1", quoted)


def _problem(name: str, summary: str, *details: tuple[str, str | int | None]) -> Problem:
    kept: list[Detail] = []
    for key, value in details:
        if value is not None and value != "":
            kept.append((key, value))
    return Problem(name, _line(summary), tuple(kept))


def _container(event: KubeEvent, named: str | None = None) -> str | None:
    return named or container_of(event.field_path)


def _on(container: str | None, text: str) -> str:
    return f"container {container}: {text}" if container else text


def _node(event: KubeEvent) -> str | None:
    return event.regarding.name if event.regarding.kind == "Node" else None


Rule = Callable[[KubeEvent, str], Problem | None]

# --- kubelet: containers and images -----------------------------------------------------------

_CRASH_BACK_OFF = re.compile(
    r"back-?off restarting failed (?:docker )?container(?: (?!in pod\b)(\S+))?", re.I
)
_PULL_BACK_OFF = re.compile(r"back-?off pulling image " + _QUOTED + r"(?::\s*(.*))?", re.I | re.S)
_IMAGE = re.compile(r"image (?:tag )?" + _QUOTED + r"(?::\s*(.*))?", re.I | re.S)
_PULL_FAILED = re.compile(r"failed to pull image " + _QUOTED + r"(?::\s*(.*))?", re.I | re.S)
_ERROR = re.compile(r"Error: (.*)", re.S)

_IMAGE_ERRORS: Final = {
    "ErrImagePull": ERR_IMAGE_PULL,
    "ImagePullBackOff": IMAGE_PULL_BACK_OFF,
    "ErrImageNeverPull": ERR_IMAGE_NEVER_PULL,
    "InvalidImageName": INVALID_IMAGE_NAME,
    "ImageInspectError": IMAGE_INSPECT_ERROR,
    "RegistryUnavailable": ERR_IMAGE_PULL,  # retired kubelet errors, kept as the pull error
    "SignatureValidationFailed": ERR_IMAGE_PULL,
}


def _back_off(event: KubeEvent, message: str) -> Problem | None:
    crash = _CRASH_BACK_OFF.match(message)
    if crash is not None:
        container = _container(event, crash.group(1))
        return _problem(
            CRASH_LOOP_BACK_OFF,
            _on(container, "crash loop: back-off restarting failed container"),
            (CONTAINER_NAME, container),
        )
    pull = _PULL_BACK_OFF.match(message)
    if pull is not None:
        container = _container(event)
        image = _unquote(pull.group(1))
        return _problem(
            IMAGE_PULL_BACK_OFF,
            _on(container, f'back-off pulling image "{image}"'),
            (CONTAINER_NAME, container),
            (IMAGE, image),
            (ERROR, pull.group(2)),
        )
    return None


def _failed(event: KubeEvent, message: str) -> Problem | None:
    container = _container(event)
    pull = _PULL_FAILED.match(message)
    if pull is not None:
        image, error = _unquote(pull.group(1)), pull.group(2)
        return _problem(
            ERR_IMAGE_PULL,
            _on(container, f'failed to pull image "{image}"' + (f": {error}" if error else "")),
            (CONTAINER_NAME, container),
            (IMAGE, image),
            (ERROR, error),
        )
    found = _ERROR.match(message)
    if found is None:
        return None
    error = found.group(1).strip()
    name = _IMAGE_ERRORS.get(error)
    if name is not None:
        detail = error if name != error else None
        return _problem(name, _on(container, error), (CONTAINER_NAME, container), (ERROR, detail))
    if event.regarding.kind != "Pod":
        return None
    return _problem(
        CONTAINER_START_FAILED,
        _on(container, f"could not start: {error}"),
        (CONTAINER_NAME, container),
        (ERROR, error),
    )


def _image_rule(default: str, by_prefix: tuple[tuple[str, str], ...]) -> Rule:
    """A reason that only reports image failures; the message's opening may refine the name."""

    def rule(event: KubeEvent, message: str) -> Problem | None:
        name = default
        lowered = message.lower()
        for prefix, refined in by_prefix:
            if lowered.startswith(prefix):
                name = refined
                break
        container = _container(event)
        found = _IMAGE.search(message)
        image = _unquote(found.group(1)) if found else None
        error = found.group(2) if found else None
        return _problem(
            name,
            _on(container, f"{name}: {message}"),
            (CONTAINER_NAME, container),
            (IMAGE, image),
            (ERROR, error),
        )

    return rule


# --- out of memory ----------------------------------------------------------------------------

# A process name is at most 15 characters (the kernel's comm): the bound keeps a search that
# restarts at every "Kill process" linear.
_KILLED_PROCESS = re.compile(r"Kill(?:ed)? process (\d++) \(([^)]{0,256}+)\)")
_VICTIM = re.compile(r"victim process: ([^,]{0,256}+), pid: (\d++)")


def _oom(event: KubeEvent, message: str) -> Problem:
    node = _node(event)
    killed = _KILLED_PROCESS.search(message) or _VICTIM.search(message)
    if killed is None:
        what = "out of memory"
    elif killed.re is _VICTIM:
        what = f"out of memory: killed process {killed.group(2)} ({killed.group(1)})"
    else:
        what = f"out of memory: killed process {killed.group(1)} ({killed.group(2)})"
    if "cgroup" in message.lower():
        what = "memory cgroup " + what
    return _problem(OOM_KILLED, f"node {node}: {what}" if node else what, (NODE_NAME, node))


# --- eviction and preemption ------------------------------------------------------------------

_LOW_ON = re.compile(r"low on resource: (\S+?)\.?(?:\s|$)")
# Bracketed lists hold no brackets: a run that stops at the next "[" cannot reach past the
# next place a search restarts at, which keeps it linear.
_HAD_CONDITION = re.compile(r"had condition: \[([^\][]*+)\]")
_EVICTED_CONTAINER = re.compile(r"Container (\S++) (?:was using|exceeded its)")
_EMPTY_DIR = re.compile(r"EmptyDir volume " + _QUOTED)
_EPHEMERAL = re.compile(r"ephemeral (?:local )?storage", re.I)
_MARKED = re.compile(r"Marking for deletion Pod (\S+)", re.I)
_PREEMPTED_BY = re.compile(r"Preempted by (?:pod )?(\S+) on node (\S+?)\.?$")


def _evicted(event: KubeEvent, message: str) -> Problem:
    resource = condition = None
    low = _LOW_ON.search(message)
    if low is not None:
        resource = low.group(1)
        if resource.startswith("["):  # 1.6-era "low on resource: [DiskPressure]."
            condition, resource = resource.strip("[]"), None
    had = _HAD_CONDITION.search(message)
    if had is not None:
        condition = ",".join(had.group(1).split())
    containers = ",".join(dict.fromkeys(_EVICTED_CONTAINER.findall(message)))
    empty_dir = _EMPTY_DIR.search(message)
    volume = _unquote(empty_dir.group(1)) if empty_dir else None
    if resource is None and (volume or _EPHEMERAL.search(message)):  # local storage limits
        resource = "ephemeral-storage"
    parts = []
    if resource:
        parts.append(f"node low on {resource}")
    if condition:
        parts.append(f"node had condition {condition}")
    if containers:
        parts.append(f"container {containers}")
    if volume:
        parts.append(f"volume {volume}")
    summary = "evicted: " + ("; ".join(parts) if parts else message)
    return _problem(
        EVICTED,
        summary,
        (CONTAINER_NAME, containers),
        (RESOURCE, resource),
        (CONDITION, condition),
        (VOLUME, volume),
    )


def _taint_eviction(event: KubeEvent, message: str) -> Problem | None:
    if _MARKED.match(message) is None:  # "Cancelling deletion of Pod ..." is the all-clear
        return None
    return _problem(EVICTED, "evicted by the taint manager: the node has a NoExecute taint")


def _preempted(event: KubeEvent, message: str) -> Problem:
    found = _PREEMPTED_BY.search(message)
    if found is not None:
        preemptor, node = found.group(1), found.group(2)
        return _problem(
            PREEMPTED,
            f"preempted by {preemptor} on node {node}",
            (PREEMPTOR, preemptor),
            (NODE_NAME, node),
        )
    preemptor = event.related.name if event.related is not None else None
    return _problem(PREEMPTED, f"preempted: {message}", (PREEMPTOR, preemptor))


def _kubelet_preempting(event: KubeEvent, message: str) -> Problem:
    return _problem(PREEMPTED, f"preempted by the kubelet: {message}")


# --- scheduling -------------------------------------------------------------------------------

# Only at the start of a number (a search restarting inside a long run of digits is
# quadratic), and at most 9 digits: a longer count is no cluster's, and would not fit an int64.
_AVAILABLE = re.compile(r"(?<!\d)(\d{1,9}+)/(\d{1,9}+) nodes are available:?\s*+(.*)", re.S)
_PREDICATES = re.compile(r"No nodes are available that match all of", re.I)  # then up to ":"
_COUNTED_SPLIT = re.compile(r",\s++(?=\d++ )")
_PREDICATE = re.compile(r"(.*?) \((\d+)\)")
_INSUFFICIENT = re.compile(r"Insufficient ([\w./-]+)")
_OLD_SHAPES = ("no nodes available to schedule pods", "unbound")


def _scheduling(event: KubeEvent, message: str) -> Problem:
    main = message.split(" preemption:", 1)[0].strip()  # the tail says why preempting won't help
    available = total = None
    items: list[str] = []
    found = _AVAILABLE.search(main)
    predicates = _PREDICATES.search(main) if found is None else None
    if found is not None:
        available, total = int(found.group(1)), int(found.group(2))
        breakdown = found.group(3).strip().rstrip(".")
        items = [i.strip() for i in _COUNTED_SPLIT.split(breakdown) if i.strip()]
    elif predicates is not None and (colon := main.find(":", predicates.end())) >= 0:
        listed = main[colon + 1 :].removeprefix(":")  # "predicates::" in some releases
        for item in listed.strip().rstrip(".").split(", "):
            counted = _PREDICATE.fullmatch(item.strip())
            items.append(f"{counted.group(2)} {counted.group(1)}" if counted else item.strip())
    elif any(shape in main.lower() for shape in _OLD_SHAPES):
        items = [main.rstrip(".")]
    reasons = "; ".join(items)
    port_conflict = 1 if "free ports" in reasons or "PodFitsHostPorts" in reasons else None
    insufficient = list(dict.fromkeys(_INSUFFICIENT.findall(reasons)))
    if "Too many pods" in reasons and "pods" not in insufficient:
        insufficient.append("pods")
    if found is not None:
        summary = f"unschedulable: {available}/{total} nodes available: {reasons}"
    else:
        summary = f"unschedulable: {reasons or main}"
    return _problem(
        FAILED_SCHEDULING,
        summary,
        (NODES_AVAILABLE, available),
        (NODES_TOTAL, total),
        (REASONS, reasons),
        (HOST_PORT_CONFLICT, port_conflict),
        (INSUFFICIENT, ",".join(insufficient)),
        (ERROR, None if reasons else main),
    )


# --- volumes ----------------------------------------------------------------------------------

_SPEC_NAME = re.compile(r"\(spec\.Name: " + _QUOTED + r"\)")  # 1.7-era mount messages
_FOR_VOLUME = re.compile(r"volume " + _QUOTED)
_UNMOUNTED = re.compile(r"unmounted volumes=\[([^\][]*+)\]")
_AFTER_VOLUME = re.compile(r"volume " + _QUOTED + r"(?:\s*:\s*|\s+)(.+)", re.S)
_AFTER_LISTS = re.compile(r"volumes=\[[^\][]*+\]:\s*+(.+)$", re.S)


def _volume_rule(name: str) -> Rule:
    def rule(event: KubeEvent, message: str) -> Problem:
        volume = error = None
        found = _SPEC_NAME.search(message) or _FOR_VOLUME.search(message)
        unmounted = _UNMOUNTED.search(message)
        if found is not None:
            volume = _unquote(found.group(1))
            after = _AFTER_VOLUME.search(message)
            error = after.group(2).strip() if after else None
        elif unmounted is not None:
            volume = ",".join(unmounted.group(1).split())
            after = _AFTER_LISTS.search(message)
            error = after.group(1).strip() if after else None
        what = f"volume {volume}: {error or message}" if volume else message
        return _problem(name, f"{name}: {what}", (VOLUME, volume), (ERROR, error))

    return rule


# --- nodes ------------------------------------------------------------------------------------

_STATUS_IS_NOW = re.compile(r"Node (\S++) status is now")
_REBOOTED = re.compile(r"Node (\S++) has been rebooted(?:, boot id: (\S+))?")


def _node_not_ready(event: KubeEvent, message: str) -> Problem:
    node = _node(event)
    if node is None and event.regarding.kind != "Pod":
        found = _STATUS_IS_NOW.search(message)
        node = found.group(1) if found else None
    if node is None:
        return _problem(NODE_NOT_READY, "the Pod's node is not ready")
    return _problem(NODE_NOT_READY, f"node {node}: not ready", (NODE_NAME, node))


def _rebooted(event: KubeEvent, message: str) -> Problem:
    found = _REBOOTED.search(message)
    node = _node(event) or (found.group(1) if found else None)
    boot = f" (boot id {found.group(2)})" if found and found.group(2) else ""
    summary = f"node {node}: rebooted{boot}" if node else f"rebooted: {message}"
    return _problem(REBOOTED, summary, (NODE_NAME, node))


# --- probes, hooks and the rest of the kubelet ------------------------------------------------

_PROBE = re.compile(r"(Liveness|Readiness|Startup) probe (failed|errored)(?::\s?(.*))?", re.S)
# The container, then the error after the first " failed - error: " (found with str.find: a
# lazy ".*?" inside a search rescans the rest of the message from every "for Container").
_HOOK = re.compile(r"for Container " + _QUOTED)
_HOOK_ERROR = " failed - error: "


def _unhealthy(event: KubeEvent, message: str) -> Problem:
    container = _container(event)
    found = _PROBE.match(message)
    if found is None:
        return _problem(UNHEALTHY, _on(container, message), (CONTAINER_NAME, container))
    probe, verb, output = found.group(1), found.group(2), (found.group(3) or "").strip()
    text = f"{probe.lower()} probe {verb}" + (f": {output}" if output else "")
    return _problem(
        UNHEALTHY,
        _on(container, text),
        (CONTAINER_NAME, container),
        (PROBE, probe),
        (OUTPUT, output),
    )


def _hook_rule(name: str) -> Rule:
    def rule(event: KubeEvent, message: str) -> Problem:
        found = _HOOK.search(message)
        at = message.find(_HOOK_ERROR, found.end()) if found else -1
        named = _unquote(found.group(1)) if found and at >= 0 else None
        container = _container(event, named)
        error = message[at + len(_HOOK_ERROR) :].strip() if at >= 0 else None
        return _problem(name, _on(container, message), (CONTAINER_NAME, container), (ERROR, error))

    return rule


def _error_rule(name: str, *prefixes: str) -> Rule:
    """A failure-only reason, message ``<prefix><error>``; any other message is the error."""
    lowered = tuple(p.lower() for p in prefixes)

    def rule(event: KubeEvent, message: str) -> Problem:
        error = message
        head = message.lower()
        for prefix in lowered:
            at = head.find(prefix)
            if at >= 0:
                error = message[at + len(prefix) :].strip()
                break
        container = container_of(event.field_path)
        return _problem(
            name, _on(container, f"{name}: {error}"), (CONTAINER_NAME, container), (ERROR, error)
        )

    return rule


def _fixed_rule(name: str, summary: str) -> Rule:
    def rule(event: KubeEvent, message: str) -> Problem:
        container = container_of(event.field_path)
        return _problem(name, _on(container, summary), (CONTAINER_NAME, container))

    return rule


_RULES: Final[dict[str, Rule]] = {
    "BackOff": _back_off,
    "Failed": _failed,
    "InspectFailed": _image_rule(
        IMAGE_INSPECT_ERROR, (("failed to apply default image tag", INVALID_IMAGE_NAME),)
    ),
    "ErrImageNeverPull": _image_rule(ERR_IMAGE_NEVER_PULL, ()),
    "OOMKilling": _oom,
    "SystemOOM": _oom,
    "Evicted": _evicted,
    "TaintManagerEviction": _taint_eviction,
    "Preempted": _preempted,
    "Preempting": _kubelet_preempting,
    "FailedScheduling": _scheduling,
    "FailedMount": _volume_rule(FAILED_MOUNT),
    "FailedAttachVolume": _volume_rule(FAILED_ATTACH_VOLUME),
    "FailedMapVolume": _volume_rule(FAILED_MAP_VOLUME),
    "NodeNotReady": _node_not_ready,
    "Rebooted": _rebooted,
    "Unhealthy": _unhealthy,
    "BackoffLimitExceeded": _fixed_rule(
        BACKOFF_LIMIT_EXCEEDED, "job failed: reached its backoff limit"
    ),
    "DeadlineExceeded": _fixed_rule(
        DEADLINE_EXCEEDED, "job failed: active longer than its deadline"
    ),
    "FailedCreate": _error_rule(
        FAILED_CREATE, "error creating job:", "error creating:", "failed error:"
    ),
    "FailedCreatePodSandBox": _error_rule(
        FAILED_CREATE_POD_SANDBOX, "failed to create pod sandbox:"
    ),
    "FailedKillPod": _error_rule(FAILED_KILL_POD, "error killing pod:"),
    "FailedPostStartHook": _hook_rule(FAILED_POST_START_HOOK),
    "FailedPreStopHook": _hook_rule(FAILED_PRE_STOP_HOOK),
    "ExceededGracePeriod": _fixed_rule(
        EXCEEDED_GRACE_PERIOD, "the runtime did not kill the pod within its grace period"
    ),
}


RULE_REASONS: Final = frozenset(_RULES)
"""Every Event reason a rule reads."""


def event_problem(event: KubeEvent, *, read: int = RULES_READ) -> Problem | None:
    """The problem an occurrence reports, or None when it reports none (most events).

    The rules see the first ``read`` characters of the message (the benchmark lifts the cap
    to show each rule is linear on its own)."""
    rule = _RULES.get(event.reason)
    if rule is None:
        return None
    message = event.message[:read]
    if message.startswith(_COMBINED):
        message = message[len(_COMBINED) :]
    return rule(event, message.strip())


def termination_problem(
    container: str,
    reason: str,
    exit_code: int | None,
    *,
    signal: int | None = None,
    memory_limit: str = "",
) -> Problem | None:
    """The problem of a container run that ended (``state``/``lastState.terminated``).

    OOMKilled wins whatever the exit code (the kernel may kill a child while the main process
    exits 0); otherwise a non-zero exit code, or an unknown one with a failure reason or a
    signal, is ContainerFailed; exit 0 and Completed are not problems.
    """
    if reason == OOM_KILLED:
        name = OOM_KILLED
        text = "OOMKilled"
    elif exit_code not in (None, 0) or (
        exit_code is None and (bool(signal) or reason not in ("", "Completed"))
    ):
        name = CONTAINER_FAILED
        text = "exited" if exit_code is None else f"exited with code {exit_code}"
    else:
        return None
    notes = []
    if name == CONTAINER_FAILED and reason:
        notes.append(reason)
    if name == OOM_KILLED and exit_code is not None:
        notes.append(f"exit code {exit_code}")
    if signal:
        notes.append(f"signal {signal}")
    if memory_limit:
        notes.append(f"memory limit {memory_limit}")
    if notes:
        text += f" ({', '.join(notes)})"
    return _problem(
        name,
        _on(container, text),
        (CONTAINER_NAME, container),
        (REASON, reason),
        (EXIT_CODE, exit_code),
        (MEMORY_LIMIT, memory_limit),
    )
