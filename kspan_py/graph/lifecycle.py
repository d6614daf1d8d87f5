"""Lifecycle facts: the phases of a Pod's or a Node's life, read from its status.

Why: Events are points, deduplicated and rate-limited; a status carries the real durations
(when the Pod was scheduled, when it became Ready, when each container run started and how it
ended, with its exit code). Each phase becomes a LifecycleFact, linked like an Event
occurrence and exported as a span with a real duration:

- ``Pod.Scheduling``: created -> PodScheduled; ``Pod.Initializing``: PodScheduled ->
  Initialized (only with init containers); ``Pod.Starting``: Initialized -> Ready.
- ``Container.Run``: one per run of each container, started -> finished, with the
  termination's reason and exit code; a run still going when the Pod is deleted ends then.
- ``Node.NotReady`` (and ``Node.MemoryPressure``, ...): an abnormal node condition, from its
  transition until the condition is normal again (or the Node is deleted).

A fact is derived from a single status (the same fact, seen again in a later update or in a
dump, has the same uid and is one span), except a Node condition's interval, whose start is
gone from the status once it ends: the deriver keeps the start of each abnormal condition, the
only state here, owned by the graph.
"""

from __future__ import annotations

import re

from kspan_py.model import (
    ChangeType,
    ContainerRun,
    KubeObject,
    LifecycleFact,
    NodeStatus,
    ObjectChange,
    ObjectRef,
    PodStatus,
)
from kspan_py.spans.attributes import (
    CONTAINER_EXIT_CODE,
    CONTAINER_MEMORY_LIMIT,
    CONTAINER_NAME,
    CONTAINER_RESTART_COUNT,
    CONTAINER_TERMINATED_REASON,
    LIFECYCLE,
    NODE_CONDITION,
    NODE_CONDITION_STATUS,
    NODE_CONDITION_TYPE,
    NODE_NAME,
    PROBLEM,
)
from kspan_py.spans.problems import termination_problem

SCHEDULER = "default-scheduler"
KUBELET = "kubelet"
NODE_CONTROLLER = "node-controller"

POD_LIFE = "Lifetime"
"""``Pod.Lifetime``: a Pod's life in the trace of the act that created it (made by the graph,
which knows the act; every other span of the Pod in that trace hangs under it)."""

NODE_ANCHOR = "node:"
"""Anchor key prefix: a node's latest problem Event (NodeNotReady, Rebooted...)."""

_NORMAL_NODE_STATUS = {
    "Ready": "True",
    "MemoryPressure": "False",
    "DiskPressure": "False",
    "PIDPressure": "False",
    "NetworkUnavailable": "False",
}
_NODE_PHASE = {
    "Ready": "NotReady",
    "MemoryPressure": "MemoryPressure",
    "DiskPressure": "DiskPressure",
    "PIDPressure": "PIDPressure",
    "NetworkUnavailable": "NetworkUnavailable",
}

Attributes = tuple[tuple[str, str | int], ...]

_PULLED_IN = re.compile(r"^Successfully pulled image .* in (?P<took>[0-9.a-zµ]+)(?: \(|\.?$)")
_GO_DURATION_PART = re.compile(r"(?P<number>[0-9]+(?:\.[0-9]+)?)(?P<unit>ms|us|µs|ns|h|m|s)")
_GO_UNIT_NS = {
    "h": 3_600_000_000_000,
    "m": 60_000_000_000,
    "s": 1_000_000_000,
    "ms": 1_000_000,
    "us": 1_000,
    "µs": 1_000,
    "ns": 1,
}


def stated_pull_ns(message: str) -> int | None:
    """The image-pull time a kubelet Pulled message states (``in 5.870196872s``, ``1m2.5s``)."""
    found = _PULLED_IN.match(message)
    if found is None:
        return None
    text, total, position = found["took"], 0.0, 0
    for part in _GO_DURATION_PART.finditer(text):
        if part.start() != position:
            return None
        total += float(part["number"]) * _GO_UNIT_NS[part["unit"]]
        position = part.end()
    return round(total) if position == len(text) and position else None


class LifecycleDeriver:
    """Turns object changes into lifecycle facts; keeps the start of abnormal node conditions."""

    def __init__(self) -> None:
        # node name -> condition type -> (since, reason, message, status) while it is abnormal
        self._abnormal: dict[str, dict[str, tuple[int, str, str, str]]] = {}

    def facts(self, change: ObjectChange, now_ns: int) -> list[LifecycleFact]:
        obj = change.obj
        status = obj.status
        deleted = change.type is ChangeType.DELETED
        if isinstance(status, PodStatus):
            return pod_facts(obj, status, (obj.deleted_ns or now_ns) if deleted else None)
        if isinstance(status, NodeStatus):
            return self._node_facts(obj.ref, status, now_ns if deleted else None)
        return []

    def _node_facts(
        self, ref: ObjectRef, status: NodeStatus, deleted_ns: int | None
    ) -> list[LifecycleFact]:
        open_now = self._abnormal.setdefault(ref.name, {})
        facts: list[LifecycleFact] = []
        seen_types = set()
        for condition in status.conditions:
            normal = _NORMAL_NODE_STATUS.get(condition.type)
            if normal is None:
                continue
            seen_types.add(condition.type)
            started = open_now.get(condition.type)
            # Ready not True is NotReady; a pressure is abnormal only when True (the node
            # controller marks every condition Unknown when the kubelet stops reporting).
            abnormal = (
                condition.status != normal
                if condition.type == "Ready"
                else (condition.status == "True")
            )
            if abnormal:
                if started is None and condition.since_ns:
                    open_now[condition.type] = (
                        condition.since_ns,
                        condition.reason,
                        condition.message,
                        condition.status,
                    )
                continue
            if started is not None:
                del open_now[condition.type]
                end = condition.since_ns or started[0]
                facts.append(_node_fact(ref, condition.type, started, end))
        if deleted_ns is not None:
            for kind, started in open_now.items():
                facts.append(_node_fact(ref, kind, started, max(deleted_ns, started[0])))
            del self._abnormal[ref.name]
        return facts


def _node_fact(
    ref: ObjectRef, condition: str, started: tuple[int, str, str, str], end_ns: int
) -> LifecycleFact:
    since, reason, message, status = started
    phase = _NODE_PHASE[condition]
    attributes: Attributes = (
        (LIFECYCLE, phase),
        (NODE_NAME, ref.name),
        (NODE_CONDITION, condition),
        (NODE_CONDITION_TYPE, condition),
        (NODE_CONDITION_STATUS, status),
        (PROBLEM, "NodeNotReady" if condition == "Ready" else phase),
    )
    # (uid, regarding, field_path, reason, name, start_ns, time_ns, component, instance,
    #  attributes, error, joins)
    return LifecycleFact(
        f"{ref.key}/{phase}/{since}",
        ref,
        "",
        phase,
        f"Node.{phase}",
        since,
        end_ns,
        NODE_CONTROLLER,
        ref.name,
        attributes,
        f"{condition}: {reason or 'abnormal'}{': ' + message if message else ''}",
        NODE_ANCHOR + ref.name,
    )


def pod_facts(obj: KubeObject, status: PodStatus, deleted_ns: int | None) -> list[LifecycleFact]:
    """Every phase a Pod's status shows as known; ``deleted_ns`` ends the runs still going."""
    ref = obj.ref
    facts: list[LifecycleFact] = []
    scheduled = status.scheduled_ns
    pod_attributes: Attributes = ((NODE_NAME, status.node),) if status.node else ()
    if scheduled and obj.created_ns and scheduled > obj.created_ns:
        facts.append(
            _pod_phase(
                ref, "Scheduling", obj.created_ns, scheduled, by=SCHEDULER, extra=pod_attributes
            )
        )
    initialized = status.initialized_ns
    if status.has_init_containers and scheduled and initialized and initialized > scheduled:
        facts.append(
            _pod_phase(
                ref, "Initializing", scheduled, initialized, by=KUBELET, extra=pod_attributes
            )
        )
    ready = status.ready_ns
    began = initialized or scheduled
    if began and ready and ready > began:
        facts.append(_pod_phase(ref, "Starting", began, ready, by=KUBELET, extra=pod_attributes))
    limits = dict(status.memory_limits)
    for run in status.runs:
        end = run.finished_ns if run.finished_ns is not None else deleted_ns
        if end is not None:
            facts.append(_run_fact(ref, status.node, run, end, limits.get(run.container, "")))
    return facts


def _pod_phase(
    ref: ObjectRef, phase: str, start_ns: int, end_ns: int, *, by: str, extra: Attributes
) -> LifecycleFact:
    return LifecycleFact(
        f"{ref.key}/{phase}",
        ref,
        "",
        phase,
        f"Pod.{phase}",
        start_ns,
        end_ns,
        by,
        "",
        ((LIFECYCLE, phase), *extra),
        None,
    )


def _run_fact(
    ref: ObjectRef, node: str, run: ContainerRun, end_ns: int, memory_limit: str
) -> LifecycleFact:
    ended = run.finished_ns is not None
    attributes: list[tuple[str, str | int]] = [
        (LIFECYCLE, "ContainerRun"),
        (CONTAINER_NAME, run.container),
        (CONTAINER_RESTART_COUNT, run.restart),
    ]
    if node:
        attributes.append((NODE_NAME, node))
    if memory_limit:
        attributes.append((CONTAINER_MEMORY_LIMIT, memory_limit))
    if run.exit_code is not None:
        attributes.append((CONTAINER_EXIT_CODE, run.exit_code))
    reason = run.reason if ended else "PodDeleted"
    if reason:
        attributes.append((CONTAINER_TERMINATED_REASON, reason))
    error = None
    if ended:
        problem = termination_problem(
            run.container,
            run.reason,
            run.exit_code,
            signal=run.signal,
            memory_limit=memory_limit,
        )
        if problem is not None:
            attributes.append((PROBLEM, problem.name))
            attributes.extend(problem.details)
            error = problem.summary
    kind = "initContainers" if run.init else "containers"
    return LifecycleFact(
        f"{ref.key}/run/{run.container}/{run.started_ns}",
        ref,
        f"spec.{kind}{{{run.container}}}",
        "ContainerRun",
        "Container.Run",
        run.started_ns,
        end_ns,
        KUBELET,
        node,
        _unique(attributes),
        error,
    )


def _unique(attributes: list[tuple[str, str | int]]) -> Attributes:
    """Later values win (a problem's detail may restate an attribute): one entry per name."""
    return tuple(dict(attributes).items())
