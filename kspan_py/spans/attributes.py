"""Span attribute names: the external contract (README, "Spans"). Names follow OpenTelemetry
semantic conventions where they exist and the Collector's k8s events receiver otherwise."""

from __future__ import annotations

import functools
import re

from kspan_py.model import GenerationChange, KubeEvent, LifecycleFact, ObjectRef

EVENT_UID = "k8s.event.uid"
EVENT_NAME = "k8s.event.name"
EVENT_REASON = "k8s.event.reason"
EVENT_TYPE = "k8s.event.type"
EVENT_MESSAGE = "k8s.event.message"
EVENT_COUNT = "k8s.event.count"
EVENT_ACTION = "k8s.event.action"
EVENT_START_TIME = "k8s.event.start_time"
OBJECT_KIND = "k8s.object.kind"
OBJECT_NAME = "k8s.object.name"
OBJECT_UID = "k8s.object.uid"
OBJECT_FIELDPATH = "k8s.object.fieldpath"
OBJECT_API_VERSION = "k8s.object.api_version"
NAMESPACE_NAME = "k8s.namespace.name"
CONTAINER_NAME = "k8s.container.name"
CLUSTER_NAME = "k8s.cluster.name"
CLUSTER_UID = "k8s.cluster.uid"
"""The uid of the kube-system namespace: the semantic conventions' stable cluster identity."""
COMPONENT = "kspan.component"
"""With --service-name: the reporting component, which is otherwise the service.name."""
RELATED_KIND = "k8s.related.kind"
RELATED_NAME = "k8s.related.name"
CHANGE_GENERATION = "kspan.change.generation"
CHANGE_MANAGER = "kspan.change.manager"
LINK_RULE = "kspan.link"
"""How the span found its parent: create, delete, change, root, repeat, anchor."""
LINK_REASON = "kspan.link.reason"
"""On a span link: why the linked span is a cause (node-problem, preempted-by, previous-run,
rollout)."""
PROBLEM = "kspan.problem"
"""The problem a span shows (CrashLoopBackOff, OOMKilled...; spans/problems.py); status ERROR."""
LIFECYCLE = "kspan.lifecycle"
"""On a span read from status rather than from an Event: the phase (Scheduling, ContainerRun...)."""
NODE_NAME = "k8s.node.name"
NODE_CONDITION = "kspan.node.condition"
NODE_CONDITION_TYPE = "k8s.node.condition.type"
NODE_CONDITION_STATUS = "k8s.node.condition.status"
CONTAINER_RESTART_COUNT = "k8s.container.restart_count"
CONTAINER_TERMINATED_REASON = "k8s.container.status.last_terminated_reason"
CONTAINER_EXIT_CODE = "kspan.container.exit_code"
CONTAINER_MEMORY_LIMIT = "kspan.container.memory_limit"
REPEAT_FIRST_COUNT = "kspan.repeat.first_count"
"""On a span of repeats: the count of its first occurrence (k8s.event.count is the last)."""

_SEMCONV_PREFIX = {
    "Pod": "k8s.pod",
    "ReplicaSet": "k8s.replicaset",
    "Deployment": "k8s.deployment",
    "StatefulSet": "k8s.statefulset",
    "DaemonSet": "k8s.daemonset",
    "Job": "k8s.job",
    "CronJob": "k8s.cronjob",
    "Node": "k8s.node",
    "HorizontalPodAutoscaler": "k8s.hpa",
}

_SEMCONV_KEYS = {
    kind: (f"{prefix}.name", f"{prefix}.uid") for kind, prefix in _SEMCONV_PREFIX.items()
}
"""Kind -> its semantic conventions' name and uid keys."""

# The node lifecycle Events the kubelet writes ("Node X status is now: NodeNotReady") are a
# condition changing; say which, as the semantic conventions name node conditions.
_NODE_CONDITION_OF_REASON = {
    "NodeReady": ("Ready", "True"),
    "NodeNotReady": ("Ready", "False"),
    "NodeHasSufficientMemory": ("MemoryPressure", "False"),
    "NodeHasInsufficientMemory": ("MemoryPressure", "True"),
    "NodeHasNoDiskPressure": ("DiskPressure", "False"),
    "NodeHasDiskPressure": ("DiskPressure", "True"),
    "NodeHasSufficientPID": ("PIDPressure", "False"),
    "NodeHasInsufficientPID": ("PIDPressure", "True"),
}

_CONTAINER_PATH = re.compile(r"^spec\.(?:initContainers|containers|ephemeralContainers)\{(.+)\}$")

Attributes = dict[str, str | int]


def object_attributes(ref: ObjectRef) -> Attributes:
    attributes: Attributes = {}
    _add_object_attributes(attributes, ref)
    return attributes


def _add_object_attributes(attributes: Attributes, ref: ObjectRef) -> None:
    """The object's attributes, added to an Event's as they are made (not a dict of their own
    merged in); the semantic conventions' keys made once, not per span."""
    attributes[OBJECT_KIND] = ref.kind
    attributes[OBJECT_NAME] = ref.name
    if ref.uid:
        attributes[OBJECT_UID] = ref.uid
    if ref.api_version:
        attributes[OBJECT_API_VERSION] = ref.api_version
    if ref.namespace:
        attributes[NAMESPACE_NAME] = ref.namespace
    keys = _SEMCONV_KEYS.get(ref.kind)
    if keys is not None:
        attributes[keys[0]] = ref.name
        if ref.uid:
            attributes[keys[1]] = ref.uid


def change_attributes(top: ObjectRef, generation: GenerationChange) -> Attributes:
    """A change's root span: the top object and who made which generation."""
    attributes = object_attributes(top)
    attributes[CHANGE_GENERATION] = generation.generation
    attributes[CHANGE_MANAGER] = generation.manager
    return attributes


def container_of(field_path: str) -> str | None:
    """The container a fieldPath names (``spec.containers{app}``). Remembered for the paths a
    real Pod has (a container's name is at most 63 characters): a Pod's Events name the same
    few paths over and over, and matching each was 2-3% of the OTLP/JSON encoder's time. A
    longer path, which only odd or hostile input writes, is matched each time, not kept."""
    if len(field_path) > _REMEMBERED_PATH_LENGTH:
        return _match_container(field_path)
    return _remembered_container(field_path)


def _match_container(field_path: str) -> str | None:
    found = _CONTAINER_PATH.match(field_path)
    return found.group(1) if found else None


_REMEMBERED_PATH_LENGTH = 128
_remembered_container = functools.lru_cache(maxsize=1024)(_match_container)


def lifecycle_attributes(fact: LifecycleFact, link_rule: str) -> Attributes:
    attributes = object_attributes(fact.regarding)
    if fact.field_path:
        attributes[OBJECT_FIELDPATH] = fact.field_path
    attributes.update(fact.attributes)
    attributes[LINK_RULE] = link_rule
    return attributes


def event_attributes(event: KubeEvent, link_rule: str) -> Attributes:
    attributes: Attributes = {
        EVENT_UID: event.uid,
        EVENT_NAME: event.name,
        EVENT_REASON: event.reason,
        EVENT_TYPE: event.type,
        EVENT_MESSAGE: event.message,
        EVENT_COUNT: event.count,
    }
    if event.action:
        attributes[EVENT_ACTION] = event.action
    _add_object_attributes(attributes, event.regarding)
    if event.field_path:
        attributes[OBJECT_FIELDPATH] = event.field_path
        container = container_of(event.field_path)
        if container is not None:
            attributes[CONTAINER_NAME] = container
    if event.regarding.kind == "Node":
        condition = _NODE_CONDITION_OF_REASON.get(event.reason)
        if condition is not None:
            attributes[NODE_CONDITION_TYPE], attributes[NODE_CONDITION_STATUS] = condition
    if event.related is not None:
        attributes[RELATED_KIND] = event.related.kind
        attributes[RELATED_NAME] = event.related.name
    attributes[LINK_RULE] = link_rule
    return attributes
