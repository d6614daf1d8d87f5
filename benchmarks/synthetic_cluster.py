"""Synthetic Kubernetes watch captures, in exactly the format of the real 1.36 recordings.

Why this exists: the real recordings in ``examples/captures/real-1.36/`` are small (one
Deployment each) and cover three scenarios. To check kspan-py on other shapes (a scheduler that
cannot place a pod, a crash loop, a bad image) and to measure it at cluster scale (``make bench``:
a thousand Deployments rolling out at once), we need captures that a real control plane would
send — the same objects with full metadata and managedFields, the same core/v1 Events from the
controllers, the scheduler (written through events.k8s.io/v1, read through core/v1) and the
kubelet, repeats as MODIFIED of one Event — but of any size, and deterministic (one seeded
``random.Random``). This module simulates just enough of the API server (resourceVersions, the
watch stream in time order, the event correlator), the deployment and replicaset controllers
(the real rolling-update arithmetic with the default 25 % surge and unavailability), the
scheduler and the kubelet (image cache, container restarts and back-off) to write them; and,
for the scenario captures (examples/captures/README.md), the statefulset, daemonset, job,
cronjob and autoscaler controllers, the node lifecycle and taint-eviction controllers, the
scheduler's preemption, the kubelet's eviction manager and volume mounts, and a recording
that starts after the cluster did (an initial list of what already exists).

    python benchmarks/synthetic_cluster.py examples              # rewrite examples/captures/*
    python benchmarks/synthetic_cluster.py rollout OUT.jsonl --deployments 1000 --replicas 10
    python benchmarks/synthetic_cluster.py burst OUT.jsonl --copies 50 --deployments 20
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import random
import re
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

Json = dict[str, Any]

SECOND = 1_000_000_000
MS = 1_000_000
FOREVER = 2**62
START_NS = int(datetime(2026, 11, 25, 10, 0, 0, tzinfo=UTC).timestamp()) * SECOND
"""Event time of the first line of every capture written here."""

NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
"""The alphabet of generated name suffixes and pod-template hashes (apimachinery's rand)."""

CONTAINER = "app"
SA_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
SCHEDULER_INSTANCE = "default-scheduler-control-plane-0"
EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples" / "captures"
LIST_ORDER = (
    "Node",
    "CronJob",
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "Job",
    "Pod",
    "HorizontalPodAutoscaler",
    "Event",
)
"""The order a recorder lists the watched resources in: owners before what they own."""


# -- time ------------------------------------------------------------------------------------


@lru_cache(maxsize=1 << 16)
def _second_text(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def stamp(t_ns: int) -> str:
    """metav1.Time: RFC 3339 truncated to the second."""
    return _second_text(t_ns // SECOND)


def micro_stamp(t_ns: int) -> str:
    """metav1.MicroTime (eventTime, series.lastObservedTime)."""
    return f"{_second_text(t_ns // SECOND)[:-1]}.{t_ns % SECOND // 1000:06d}Z"


def _parse_stamp(text: str) -> int:
    return (
        int(datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()) * SECOND
    )


def go_duration(t_ns: int) -> str:
    """A Go time.Duration's String() after Truncate(time.Millisecond), as the kubelet prints."""
    t_ns -= t_ns % MS
    if t_ns < SECOND:
        return f"{t_ns // MS}ms"
    minutes, rest = divmod(t_ns, 60 * SECOND)
    seconds = f"{rest / SECOND:.3f}".rstrip("0").rstrip(".") + "s"
    if not minutes:
        return seconds
    hours, minutes = divmod(minutes, 60)
    return (f"{hours}h" if hours else "") + f"{minutes}m" + seconds


# -- the API server --------------------------------------------------------------------------


@dataclass(slots=True)
class CaptureStats:
    """What a capture holds, counted as it is written."""

    values: int = 0
    bytes: int = 0
    event_writes: int = 0  # Event ADDED/MODIFIED lines: each one is an occurrence
    object_uids: set[str] = field(default_factory=set)
    event_uids: set[str] = field(default_factory=set)


class ApiServer:
    """Stores writes, hands out resourceVersions in write order and streams the watch events.

    Writes may be made out of time order (a simulation plans ahead); they are delivered in time
    order, and resourceVersions are assigned on delivery, so they increase down the file like
    the server's global etcd revision.
    """

    def __init__(self, first_rv: int) -> None:
        self._queue: list[tuple[int, int, str, Json]] = []
        self._seq = 0
        self._rv = first_rv
        self._current_rv: dict[str, str] = {}
        self._created_rv: dict[str, str] = {}
        self.stats = CaptureStats()

    def write(self, t_ns: int, watch_type: str, body: Json) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (t_ns, self._seq, watch_type, body))

    def last_ns(self) -> int:
        """The time of the latest write not yet delivered."""
        return max((item[0] for item in self._queue), default=0)

    def deliver(self, until_ns: int = FOREVER) -> Iterator[Json]:
        """Watch events of every write made before until_ns, in time order."""
        queue, stats = self._queue, self.stats
        while queue and queue[0][0] < until_ns:
            _, _, watch_type, body = heapq.heappop(queue)
            metadata = body["metadata"]
            self._rv += 1
            rv = str(self._rv)
            metadata["resourceVersion"] = rv
            uid = metadata["uid"]
            if uid not in self._created_rv:
                self._created_rv[uid] = rv
            if body["kind"] == "CronJob":  # status.active names the Job as it was created
                for ref in body["status"].get("active", []):
                    if not ref["resourceVersion"]:
                        ref["resourceVersion"] = self._created_rv.get(ref["uid"], "")
            if body["kind"] == "Event":
                for key in ("involvedObject", "related"):
                    ref = body.get(key)
                    if ref is not None and ref.get("resourceVersion") == "":
                        ref["resourceVersion"] = self._current_rv.get(ref["uid"], "")
                stats.event_writes += watch_type != "DELETED"
                stats.event_uids.add(uid)
            else:
                self._current_rv[uid] = rv
                stats.object_uids.add(uid)
            stats.values += 1
            yield {"type": watch_type, "object": body}


# -- managedFields ---------------------------------------------------------------------------


class ManagedFields:
    """An object's managedFields: one entry per (manager, subresource), ordered by time; among
    equal (second-truncated) times the latest write comes first, as the API server keeps them."""

    __slots__ = ("_entries",)

    def __init__(self) -> None:
        self._entries: list[Json] = []

    def set(
        self,
        manager: str,
        t_ns: int,
        api_version: str,
        fields: Json,
        subresource: str = "",
        *,
        operation: str = "Update",
    ) -> None:
        entry: Json = {
            "manager": manager,
            "operation": operation,
            "apiVersion": api_version,
            "time": stamp(t_ns),
            "fieldsType": "FieldsV1",
            "fieldsV1": fields,
        }
        if subresource:
            entry["subresource"] = subresource
        rest = [
            e
            for e in self._entries
            if (e["manager"], e.get("subresource", "")) != (manager, subresource)
        ]
        entries = [entry, *rest]
        entries.sort(key=lambda e: str(e["time"]))  # stable: the new entry leads its second
        self._entries = entries

    def drop(self, manager: str, subresource: str = "") -> None:
        """The manager no longer owns any field (another took them over)."""
        self._entries = [
            e
            for e in self._entries
            if (e["manager"], e.get("subresource", "")) != (manager, subresource)
        ]

    def snapshot(self) -> list[Json]:
        return list(self._entries)


def _keys(*names: str) -> Json:
    """A fieldsV1 set of leaf fields."""
    return {f"f:{name}": {} for name in sorted(names)}


def _status_fields(
    status: Json, *, owned_conditions: frozenset[str], owns_list: bool = False
) -> Json:
    """fieldsV1 of the status fields a controller wrote (the keys present in status);
    ``owns_list``: it created the conditions list itself."""
    fields: Json = {}
    for key in sorted(status):
        value = status[key]
        if key == "qosClass":
            continue  # set by the API server on create
        if key == "conditions":
            conditions: Json = {".": {}} if owns_list else {}
            for condition in sorted(value, key=lambda c: str(c["type"])):
                kind = condition["type"]
                name = f'k:{{"type":"{kind}"}}'
                if kind in owned_conditions:
                    leaves = [k for k in condition if k != "type"] + ["type"]
                    conditions[name] = {".": {}, **_keys(*leaves)}
                elif "observedGeneration" in condition:
                    conditions[name] = {"f:observedGeneration": {}}
            fields["f:conditions"] = conditions
        elif key == "podIPs":
            ips: Json = {f'k:{{"ip":"{ip["ip"]}"}}': {".": {}, "f:ip": {}} for ip in value}
            fields["f:podIPs"] = {".": {}, **ips}
        else:
            fields[f"f:{key}"] = {}
    return fields


# -- objects ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ref:
    """What an Event is about."""

    kind: str
    namespace: str
    name: str
    uid: str
    api_version: str


class Node:
    """A Node as its kubelet and the node controller write it."""

    STATUS_TICK_NS = 10 * SECOND  # the kubelet's nodeStatusUpdateFrequency
    REPORT_NS = 5 * 60 * SECOND  # nodeStatusReportFrequency: an unchanged status, re-posted
    MAX_IMAGES = 50  # nodeStatusMaxImages

    def __init__(self, cluster: Cluster, name: str, t_ns: int, *, cpu: str, ready: bool) -> None:
        self.cluster = cluster
        self.name = name
        self.uid = cluster.uid()
        self.created_ns = t_ns
        self.ip = f"192.0.2.{len(cluster.nodes) + 2}"
        self.cpu = cpu
        self.ready = ready
        self.ready_since_ns = t_ns
        self.heartbeat_ns = t_ns
        self.taints: list[Json] = []
        self.images: dict[str, int] = {}  # image -> when it is (or will be) on the node
        self.image_info: dict[str, tuple[str, int]] = {}  # image -> (digest reference, size)
        self.listed: list[Json] = []  # status.images as last written
        self.next_tick_ns = t_ns + cluster.jitter(0, 10_000)
        self.boot_id = str(uuid.UUID(int=cluster.rng.getrandbits(128), version=4))
        self.down: list[tuple[int, int]] = []  # [from, to) while the kubelet posts nothing
        self.pressure: dict[str, tuple[str, str, str, int]] = {}  # type -> (status, reason...)
        self.unknown_ns: int | None = None  # since when the node controller says Unknown
        self.kubelet_owned: set[str] = set()  # conditions whose every field the kubelet set
        self.fields = ManagedFields()
        labels = ("beta.kubernetes.io/arch", "beta.kubernetes.io/os", "kubernetes.io/arch")
        self.fields.set(
            "kubelet",
            t_ns,
            "v1",
            {
                "f:metadata": {
                    "f:labels": {
                        ".": {},
                        **_keys(*labels, "kubernetes.io/hostname", "kubernetes.io/os"),
                    },
                },
                "f:spec": _keys("providerID"),
            },
        )
        self._status_fields(t_ns)
        self.annotated = False
        if ready:
            self._controller_fields(t_ns + 5 * SECOND)

    def _controller_fields(self, t_ns: int) -> None:
        """The node controller's entry: its annotation, and its taints while it has any."""
        self.annotated = True
        annotations = {".": {}, **_keys("node.alpha.kubernetes.io/ttl")}
        fields: Json = {"f:metadata": {"f:annotations": annotations}}
        if self.taints:
            fields["f:spec"] = {"f:taints": {}}
        self.fields.set("kube-controller-manager", t_ns, "v1", fields)

    def _status_fields(self, t_ns: int) -> None:
        conditions: Json = {
            f'k:{{"type":"{kind}"}}': _keys("lastHeartbeatTime")
            if kind not in self.kubelet_owned
            else _keys("lastHeartbeatTime", "lastTransitionTime", "message", "reason", "status")
            for kind in ("DiskPressure", "MemoryPressure", "PIDPressure")
        }
        conditions['k:{"type":"Ready"}'] = _keys(
            "lastHeartbeatTime", "lastTransitionTime", "message", "reason", "status"
        )
        status: Json = {"f:conditions": dict(sorted(conditions.items()))}
        if self.listed:
            status["f:images"] = {}
        self.fields.set("kubelet", t_ns, "v1", {"f:status": status}, "status")

    def add_image(self, image: str, t_ns: int, digest: str, size: int) -> None:
        self.images[image] = t_ns
        self.image_info[image] = (digest, size)

    def set_ready(self, t_ns: int) -> None:
        self.ready, self.ready_since_ns, self.heartbeat_ns = True, t_ns, t_ns
        self._status_fields(t_ns)
        self.cluster.api.write(t_ns, "MODIFIED", self.body())

    def set_taints(self, t_ns: int, taints: list[Json]) -> None:
        self.taints = taints
        self._controller_fields(t_ns)
        self.cluster.api.write(t_ns, "MODIFIED", self.body())

    def kubelet_post(self, t_ns: int) -> None:
        """A status post of the kubelet outside its loop (a condition changed)."""
        self.heartbeat_ns = t_ns
        self._status_fields(t_ns)
        self.cluster.api.write(t_ns, "MODIFIED", self.body())

    def set_pressure(self, t_ns: int, kind: str, status: str, reason: str, message: str) -> None:
        """The kubelet reports a pressure condition changed (and says so in an event)."""
        self.pressure[kind] = (status, reason, message, t_ns)
        self.kubelet_owned.add(kind)
        self.kubelet_post(t_ns)

    def mark_unknown(self, t_ns: int) -> None:
        """The node controller: no heartbeat for the grace period, every condition Unknown."""
        self.unknown_ns = t_ns
        leaves = _keys("lastTransitionTime", "message", "reason", "status")
        conditions = {
            f'k:{{"type":"{kind}"}}': leaves
            for kind in ("DiskPressure", "MemoryPressure", "PIDPressure", "Ready")
        }
        fields = {"f:status": {"f:conditions": conditions}}
        self.fields.set("kube-controller-manager", t_ns, "v1", fields, "status")
        self.cluster.api.write(t_ns, "MODIFIED", self.body())

    def come_back(self, t_ns: int, boot_id: str) -> None:
        """The kubelet posts again after a reboot: new boot id, conditions its own again."""
        self.unknown_ns = None
        self.boot_id = boot_id
        for kind, reason, message in (
            (
                "MemoryPressure",
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available",
            ),
            ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        ):
            self.pressure[kind] = ("False", reason, message, t_ns)
            self.kubelet_owned.add(kind)
        self.fields.drop("kube-controller-manager", "status")
        self.ready, self.ready_since_ns = True, t_ns
        self.next_tick_ns = t_ns + self.STATUS_TICK_NS
        self.kubelet_post(t_ns)

    def post_status(self, until_ns: int) -> None:
        """The kubelet's status loop up to until_ns: it posts when the status changed (a newly
        pulled image) and re-posts an unchanged one every 5 minutes."""
        while self.next_tick_ns < until_ns:
            tick = self.next_tick_ns
            self.next_tick_ns += self.STATUS_TICK_NS
            if any(start <= tick < end for start, end in self.down):
                continue
            present = sorted(
                (image for image, when in self.images.items() if when <= tick),
                key=lambda image: (-self.image_info[image][1], image),
            )[: self.MAX_IMAGES]
            listed = [
                {
                    "names": [self.image_info[image][0], image],
                    "sizeBytes": self.image_info[image][1],
                }
                for image in present
            ]
            if listed == self.listed and tick - self.heartbeat_ns < self.REPORT_NS:
                continue
            self.listed = listed
            written = tick + self.cluster.jitter(5, 60)
            self.heartbeat_ns = written
            self._status_fields(written)
            self.cluster.api.write(written, "MODIFIED", self.body())

    def body(self, *, listed: bool = False) -> Json:
        """The Node; ``listed``: as an item of the initial list (kind and apiVersion last)."""
        heartbeat, since = stamp(self.heartbeat_ns), stamp(self.created_ns)
        pressure = [
            (
                "MemoryPressure",
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available",
            ),
            ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        ]
        conditions: list[Json] = []
        for kind, usual_reason, usual_message in pressure:
            status, reason, message, transition = "False", usual_reason, usual_message, since
            if kind in self.pressure:
                status, reason, message, changed = self.pressure[kind]
                transition = stamp(changed)
            conditions.append(
                {
                    "type": kind,
                    "status": status,
                    "lastHeartbeatTime": heartbeat,
                    "lastTransitionTime": transition,
                    "reason": reason,
                    "message": message,
                }
            )
        ready = (
            ("True", "KubeletReady", "kubelet is posting ready status")
            if self.ready
            else (
                "False",
                "KubeletNotReady",
                "container runtime status check may not have completed yet",
            )
        )
        conditions.append(
            {
                "type": "Ready",
                "status": ready[0],
                "lastHeartbeatTime": heartbeat,
                "lastTransitionTime": stamp(self.ready_since_ns),
                "reason": ready[1],
                "message": ready[2],
            }
        )
        if self.unknown_ns is not None:  # the node controller's verdict on a silent kubelet
            for condition in conditions:
                condition.update(
                    status="Unknown",
                    lastTransitionTime=stamp(self.unknown_ns),
                    reason="NodeStatusUnknown",
                    message="Kubelet stopped posting node status.",
                )
        capacity = {
            "cpu": self.cpu,
            "ephemeral-storage": "102687672Ki",
            "memory": "16380520Ki",
            "pods": "110",
        }
        spec: Json = {"providerID": f"external://{self.name}"}
        if self.taints:
            spec["taints"] = self.taints
        metadata: Json = {
            "name": self.name,
            "uid": self.uid,
            "resourceVersion": "",
            "creationTimestamp": since,
            "labels": {
                "beta.kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/hostname": self.name,
                "kubernetes.io/os": "linux",
            },
        }
        if self.annotated:
            metadata["annotations"] = {"node.alpha.kubernetes.io/ttl": "0"}
        metadata["managedFields"] = self.fields.snapshot()
        status: Json = {
            "capacity": capacity,
            "allocatable": capacity,
            "conditions": conditions,
            "addresses": [
                {"type": "InternalIP", "address": self.ip},
                {"type": "Hostname", "address": self.name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": self.uid.replace("-", ""),
                "systemUUID": self.uid,
                "bootID": self.boot_id,
                "kernelVersion": "6.8.0-85-generic",
                "osImage": "Ubuntu 24.04.3 LTS",
                "containerRuntimeVersion": "containerd://2.1.4",
                "kubeletVersion": "v1.36.2",
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        }
        if self.listed:
            status["images"] = self.listed
        status["declaredFeatures"] = [
            "ExtendWebSocketsToKubelet",
            "InPlacePodLevelResourcesVerticalScaling",
            "InPlacePodVerticalScalingInitContainers",
            "RestartAllContainersOnContainerExits",
        ]
        if listed:
            return {
                "metadata": metadata,
                "spec": spec,
                "status": status,
                "apiVersion": "v1",
                "kind": "Node",
            }
        return {
            "kind": "Node",
            "apiVersion": "v1",
            "metadata": metadata,
            "spec": spec,
            "status": status,
        }


@dataclass(frozen=True, slots=True)
class PodOptions:
    """What a workload's pod template asks for beyond image and resources (the scenarios of the
    later captures: volumes, host ports, priority, a restart policy for Jobs). The default is
    the plain template of the first captures, whose bytes must not change."""

    restart_policy: str = "Always"
    volumes: tuple[Json, ...] = ()
    mounts: tuple[Json, ...] = ()
    ports: tuple[Json, ...] = ()
    priority_class: str = ""
    priority: int = 0
    readiness_probe: Json | None = None  # the container's readinessProbe, as defaulted
    exact_fields: bool = False  # managedFields list resources, volumes... leaf by leaf
    """The first captures list ``f:resources`` as a leaf; the API server lists what is inside."""


PLAIN = PodOptions()


def _pod_resources(resources: Json) -> Json:
    """A Pod's container resources after defaulting: requests default to the limits."""
    limits = resources.get("limits")
    if not limits:
        return resources
    return {"limits": limits, "requests": {**limits, **resources.get("requests", {})}}


def _qos(resources: Json) -> str:
    """The pod's QoS class from its single container's (defaulted) resources."""
    if not resources:
        return "BestEffort"
    limits, requests = resources.get("limits", {}), _pod_resources(resources).get("requests", {})
    if {"cpu", "memory"} <= set(limits) and all(requests[k] == limits[k] for k in limits):
        return "Guaranteed"
    return "Burstable"


def _container(image: str, resources: Json, mount: str | None, options: PodOptions = PLAIN) -> Json:
    container: Json = {"name": CONTAINER, "image": image}
    if options.ports:
        container["ports"] = list(options.ports)
    container["resources"] = resources
    mounts = list(options.mounts)
    if mount is not None:
        mounts.append({"name": mount, "readOnly": True, "mountPath": SA_MOUNT})
    if mounts:
        container["volumeMounts"] = mounts
    if options.readiness_probe is not None:
        container["readinessProbe"] = options.readiness_probe
    container["terminationMessagePath"] = "/dev/termination-log"
    container["terminationMessagePolicy"] = "File"
    container["imagePullPolicy"] = "IfNotPresent"
    return container


def _template_spec(image: str, resources: Json, options: PodOptions = PLAIN) -> Json:
    spec: Json = {}
    if options.volumes:
        spec["volumes"] = list(options.volumes)
    spec.update(
        {
            "containers": [_container(image, resources, None, options)],
            "restartPolicy": options.restart_policy,
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "securityContext": {},
            "schedulerName": "default-scheduler",
        }
    )
    if options.priority_class:
        spec["priorityClassName"] = options.priority_class
    return spec


_CONTAINER_FIELDS = _keys(
    "image",
    "imagePullPolicy",
    "name",
    "resources",
    "terminationMessagePath",
    "terminationMessagePolicy",
)
_TEMPLATE_SPEC_FIELDS = _keys(
    "dnsPolicy",
    "restartPolicy",
    "schedulerName",
    "securityContext",
    "terminationGracePeriodSeconds",
)


def _leaves(value: Json) -> Json:
    """fieldsV1 of a map of leaves and maps (resources: limits and requests)."""
    return {
        ".": {},
        **{
            f"f:{key}": _leaves(inner) if isinstance(inner, dict) else {}
            for key, inner in sorted(value.items())
        },
    }


def _container_fields(resources: Json, options: PodOptions, *, image: bool = True) -> Json:
    """fieldsV1 of the one container as a controller writes it."""
    fields = dict(_CONTAINER_FIELDS)
    if not image:
        del fields["f:image"]
    if not options.exact_fields:
        return fields
    if resources:
        fields["f:resources"] = _leaves(resources)
    if options.ports:
        fields["f:ports"] = {
            ".": {},
            **{
                f'k:{{"containerPort":{p["containerPort"]},"protocol":"{p["protocol"]}"}}': {
                    ".": {},
                    **_keys(*p),
                }
                for p in options.ports
            },
        }
    if options.readiness_probe is not None:
        fields["f:readinessProbe"] = _leaves(options.readiness_probe)
    if options.mounts:
        fields["f:volumeMounts"] = {
            ".": {},
            **{
                f'k:{{"mountPath":"{m["mountPath"]}"}}': {".": {}, **_keys(*m)}
                for m in options.mounts
            },
        }
    return dict(sorted(fields.items()))


def _volume_fields(volumes: tuple[Json, ...]) -> Json:
    fields: Json = {".": {}}
    for volume in volumes:
        inner: Json = {".": {}, "f:name": {}}
        for key, value in volume.items():
            if key != "name":
                inner[f"f:{key}"] = _leaves(value)
        fields[f'k:{{"name":"{volume["name"]}"}}'] = dict(sorted(inner.items()))
    return fields


def _spec_fields(options: PodOptions, *, pod: bool) -> Json:
    """fieldsV1 of the pod spec's own fields (beside containers) a controller writes."""
    names = [*_TEMPLATE_SPEC_FIELDS]
    if pod:
        names.append("f:enableServiceLinks")
    fields: Json = {name: {} for name in names}
    if options.priority_class:
        fields["f:priorityClassName"] = {}
    if options.volumes:
        fields["f:volumes"] = _volume_fields(options.volumes)
    return {key: fields[key] for key in sorted(fields)}


def _template_fields(
    labels: tuple[str, ...],
    *,
    image: bool = True,
    resources: Json | None = None,
    options: PodOptions = PLAIN,
) -> Json:
    container = _container_fields(resources or {}, options, image=image)
    return {
        "f:metadata": {"f:labels": {".": {}, **_keys(*labels)}},
        "f:spec": {
            "f:containers": {f'k:{{"name":"{CONTAINER}"}}': {".": {}, **container}},
            **_spec_fields(options, pod=False),
        },
    }


DEFAULT_TOLERATIONS: tuple[Json, ...] = (
    {
        "key": "node.kubernetes.io/not-ready",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    },
    {
        "key": "node.kubernetes.io/unreachable",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    },
)


class PodOwner:
    """What a Pod takes from the controller that creates it. A ReplicaSet's pods are the model;
    the other controllers override what theirs do differently (names, labels, finalizers...)."""

    cluster: Cluster
    namespace: str
    name: str
    uid: str
    image: str
    resources: Json
    image_id: str
    image_size: int
    owner_ref: Json
    options: PodOptions = PLAIN

    def pod_name(self) -> str:
        return f"{self.name}-{self.cluster.suffix(5)}"

    def generate_name(self) -> str | None:
        return f"{self.name}-"

    def pod_labels(self, pod_name: str) -> Json:
        raise NotImplementedError

    def pod_annotations(self) -> Json:
        return {}

    def pod_finalizers(self) -> list[str]:
        return []

    def pod_spec_extras(self, pod_name: str) -> Json:
        """hostname, subdomain, affinity: spec fields between securityContext and
        schedulerName."""
        return {}

    def pod_tolerations(self) -> list[Json]:
        return list(DEFAULT_TOLERATIONS)

    def pod_fields(self, pod: Pod) -> Json:
        """The controller's managedFields entry on a pod it creates."""
        metadata: Json = {}
        if self.generate_name() is not None:
            metadata["f:generateName"] = {}
        if pod.annotations:
            metadata["f:annotations"] = {".": {}, **_keys(*pod.annotations)}
        if pod.finalizers:
            metadata["f:finalizers"] = {".": {}, **{f'v:"{f}"': {} for f in pod.finalizers}}
        metadata["f:labels"] = {".": {}, **_keys(*pod.labels)}
        metadata["f:ownerReferences"] = {".": {}, f'k:{{"uid":"{self.uid}"}}': {}}
        options = self.options
        spec: Json = {
            "f:containers": {
                f'k:{{"name":"{CONTAINER}"}}': {
                    ".": {},
                    **_container_fields(self.resources, options),
                }
            },
            **_spec_fields(options, pod=True),
        }
        for key in pod.extras:
            spec[f"f:{key}"] = {}
        if "affinity" in pod.extras:
            spec["f:affinity"] = {
                ".": {},
                "f:nodeAffinity": {
                    ".": {},
                    "f:requiredDuringSchedulingIgnoredDuringExecution": {},
                },
            }
        if pod.tolerations != list(DEFAULT_TOLERATIONS):
            spec["f:tolerations"] = {}
        return {"f:metadata": dict(sorted(metadata.items())), "f:spec": dict(sorted(spec.items()))}


class Pod:
    """One Pod of a controller (a ReplicaSet unless said otherwise): the bodies the API server
    stores as the controllers, the scheduler and the kubelet write them."""

    def __init__(self, owner: PodOwner, t_ns: int, name: str | None = None) -> None:
        cluster = owner.cluster
        self.cluster, self.owner = cluster, owner
        self.name = name if name is not None else owner.pod_name()
        self.uid = cluster.uid()
        self.namespace = owner.namespace
        self.ref = Ref("Pod", self.namespace, self.name, self.uid, "v1")
        self.image = owner.image
        self.image_id, self.image_size = owner.image_id, owner.image_size
        self.options = owner.options
        self.created_ns = t_ns
        self.generation = 1
        self.deletion: tuple[str, int] | None = None
        self.node: Node | None = None
        self.ready: list[list[int]] = []  # [since, until) intervals of readiness
        self.deleted_ns = FOREVER  # when the deletion was asked for
        self.gone_ns = FOREVER  # when the object went away
        self.terminal_ns = FOREVER  # when it reached phase Succeeded or Failed
        self.labels = owner.pod_labels(self.name)
        self.annotations = owner.pod_annotations()
        self.finalizers = owner.pod_finalizers()
        self.extras = owner.pod_spec_extras(self.name)
        self.tolerations = owner.pod_tolerations()
        self.fields = ManagedFields()
        self.fields.set("kube-controller-manager", t_ns, "v1", owner.pod_fields(self))
        self.volume = f"kube-api-access-{cluster.suffix(5)}"
        self.qos = _qos(owner.resources)
        self._spec = self._make_spec(None)
        self.status: Json = {"phase": "Pending", "qosClass": self.qos}
        self._conditions: dict[str, Json] = {}
        self.foreign_conditions: list[Json] = []  # set by others (DisruptionTarget)
        self.status_reason: tuple[str, str] | None = None  # (reason, message) of a terminal pod
        self.ip = ""
        self.container_id = ""
        self.restarts = 0
        self.started_at = ""
        self.last_state: Json = {}

    def _make_spec(self, node: str | None) -> Json:
        owner, options = self.owner, self.options
        sa_volume: Json = {
            "name": self.volume,
            "projected": {
                "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {
                        "configMap": {
                            "name": "kube-root-ca.crt",
                            "items": [{"key": "ca.crt", "path": "ca.crt"}],
                        }
                    },
                    {
                        "downwardAPI": {
                            "items": [
                                {
                                    "path": "namespace",
                                    "fieldRef": {
                                        "apiVersion": "v1",
                                        "fieldPath": "metadata.namespace",
                                    },
                                }
                            ]
                        }
                    },
                ],
                "defaultMode": 420,
            },
        }
        resources = _pod_resources(owner.resources)
        spec: Json = {
            "volumes": [*options.volumes, sa_volume],
            "containers": [_container(self.image, resources, self.volume, options)],
            "restartPolicy": options.restart_policy,
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default",
            "serviceAccount": "default",
        }
        if node is not None:
            spec["nodeName"] = node
        spec["securityContext"] = {}
        spec.update(self.extras)
        spec.update({"schedulerName": "default-scheduler", "tolerations": self.tolerations})
        if options.priority_class:
            spec["priorityClassName"] = options.priority_class
        spec.update(
            {
                "priority": options.priority,
                "enableServiceLinks": True,
                "preemptionPolicy": "PreemptLowerPriority",
            }
        )
        return spec

    def body(self) -> Json:
        metadata: Json = {"name": self.name}
        generate_name = self.owner.generate_name()
        if generate_name is not None:
            metadata["generateName"] = generate_name
        metadata.update(
            {
                "namespace": self.namespace,
                "uid": self.uid,
                "resourceVersion": "",
                "generation": self.generation,
                "creationTimestamp": stamp(self.created_ns),
            }
        )
        if self.deletion is not None:
            metadata["deletionTimestamp"], metadata["deletionGracePeriodSeconds"] = self.deletion
        metadata["labels"] = self.labels
        if self.annotations:
            metadata["annotations"] = self.annotations
        metadata["ownerReferences"] = [self.owner.owner_ref]
        if self.finalizers:
            metadata["finalizers"] = self.finalizers
        metadata["managedFields"] = self.fields.snapshot()
        return {
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": metadata,
            "spec": self._spec,
            "status": self.status,
        }

    def _write(self, t_ns: int, watch_type: str = "MODIFIED") -> None:
        self.cluster.api.write(t_ns, watch_type, self.body())

    # -- the replicaset controller and the scheduler -------------------------------------

    def create(self) -> None:
        self._write(self.created_ns, "ADDED")

    def unschedulable(self, t_ns: int, message: str, nominated: str = "") -> None:
        """The scheduler's status update after a failed attempt (PodScheduled False); after a
        preemption it names the node it nominated."""
        old = self.status.get("conditions")
        since = old[0]["lastTransitionTime"] if old else stamp(t_ns)
        self.status = {
            "phase": "Pending",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "lastProbeTime": None,
                    "lastTransitionTime": since,
                    "reason": "Unschedulable",
                    "message": message,
                }
            ],
        }
        if nominated:
            self.status["nominatedNodeName"] = nominated
        self.status["qosClass"] = self.qos
        fields: Json = {
            "f:conditions": {
                ".": {},
                'k:{"type":"PodScheduled"}': {
                    ".": {},
                    **_keys(
                        "lastProbeTime",
                        "lastTransitionTime",
                        "message",
                        "reason",
                        "status",
                        "type",
                    ),
                },
            }
        }
        if nominated:
            fields["f:nominatedNodeName"] = {}
        self.fields.set("kube-scheduler", t_ns, "v1", {"f:status": fields}, "status")
        self._write(t_ns)

    def bind(self, t_ns: int, node: Node) -> None:
        """The scheduler's binding, then its Scheduled event (events.k8s.io, action Binding)."""
        self.node = node
        self._spec = self._make_spec(node.name)
        self._set_condition("PodScheduled", "True", t_ns)
        self.status = {
            "phase": "Pending",
            "conditions": [self._conditions["PodScheduled"]],
            "qosClass": self.qos,
        }
        self._write(t_ns)
        self.cluster.scheduler_event(
            t_ns - self.cluster.jitter(1, 4),
            self.ref,
            "Scheduled",
            f"Successfully assigned {self.namespace}/{self.name} to {node.name}",
            action="Binding",
        )

    # -- the kubelet ---------------------------------------------------------------------

    def _set_condition(
        self, kind: str, status: str, t_ns: int, reason: str = "", message: str = ""
    ) -> None:
        old = self._conditions.get(kind)
        since = (
            old["lastTransitionTime"]
            if old is not None and old["status"] == status
            else stamp(t_ns)
        )
        condition: Json = {"type": kind}
        if kind != "PodScheduled" or old is not None:
            condition["observedGeneration"] = self.generation
        condition.update({"status": status, "lastProbeTime": None, "lastTransitionTime": since})
        if reason:
            condition["reason"] = reason
        if message:
            condition["message"] = message
        self._conditions[kind] = condition

    def kubelet_status(self, t_ns: int, *, phase: str, state: Json, ready: bool) -> None:
        """The kubelet's status update: conditions, addresses and the container's status."""
        assert self.node is not None
        not_ready = f"containers with unready status: [{CONTAINER}]"
        if ready:
            self._set_condition("Ready", "True", t_ns)
            self._set_condition("ContainersReady", "True", t_ns)
        elif phase in ("Succeeded", "Failed"):
            reason = "PodCompleted" if phase == "Succeeded" else "PodFailed"
            for kind in ("Ready", "ContainersReady"):
                self._set_condition(kind, "False", t_ns, reason)
        else:
            for kind in ("Ready", "ContainersReady"):
                self._set_condition(kind, "False", t_ns, "ContainersNotReady", not_ready)
        scheduled = self._conditions["PodScheduled"]
        if (
            "observedGeneration" not in scheduled
            or scheduled["observedGeneration"] != self.generation
        ):
            scheduled = {
                "type": "PodScheduled",
                "observedGeneration": self.generation,
                **{k: v for k, v in scheduled.items() if k not in ("type", "observedGeneration")},
            }
            self._conditions["PodScheduled"] = scheduled
        initialized = self._conditions["Initialized"]
        if phase == "Succeeded" and "reason" not in initialized:
            self._conditions["Initialized"] = {**initialized, "reason": "PodCompleted"}
        for kind in ("PodReadyToStartContainers", "Initialized"):
            condition = self._conditions[kind]
            if condition["observedGeneration"] != self.generation:
                self._conditions[kind] = {**condition, "observedGeneration": self.generation}
        container: Json = {
            "name": CONTAINER,
            "state": state,
            "lastState": self.last_state,
            "ready": ready,
            "restartCount": self.restarts,
            "image": self.image,
            "imageID": self.image_id if self.container_id else "",
        }
        if self.container_id:
            container["containerID"] = self.container_id
            # The resources the runtime applied (the first captures' pods have none listed).
            exact = self.options.exact_fields
            container["resources"] = _pod_resources(self.owner.resources) if exact else {}
        container["volumeMounts"] = [
            {
                "name": mount["name"],
                "mountPath": mount["mountPath"],
                "readOnly": True,
                "recursiveReadOnly": "Disabled",
            }
            for mount in (*self.options.mounts, {"name": self.volume, "mountPath": SA_MOUNT})
        ]
        status: Json = {"observedGeneration": self.generation, "phase": phase}
        # Conditions others own come first: the status manager keeps them and appends its own.
        status["conditions"] = [
            *self.foreign_conditions,
            *(
                self._conditions[kind]
                for kind in (
                    "PodReadyToStartContainers",
                    "Initialized",
                    "Ready",
                    "ContainersReady",
                    "PodScheduled",
                )
            ),
            *(
                [self._conditions["DisruptionTarget"]]
                if "DisruptionTarget" in self._conditions
                else []
            ),
        ]
        if self.status_reason is not None:
            status["message"], status["reason"] = self.status_reason[1], self.status_reason[0]
        status["hostIP"] = self.node.ip
        status["hostIPs"] = [{"ip": self.node.ip}]
        if self.ip:
            status["podIP"] = self.ip
            status["podIPs"] = [{"ip": self.ip}]
        status["startTime"] = self.started_at
        status["containerStatuses"] = [container]
        status["qosClass"] = self.qos
        status["resources"] = {}
        if status == self.status:
            return  # nothing changed: the server writes nothing and the watch shows nothing
        self.status = status
        owned = frozenset(
            {
                "PodReadyToStartContainers",
                "Initialized",
                "Ready",
                "ContainersReady",
                "DisruptionTarget",
            }
        )
        foreign = {id(c) for c in self.foreign_conditions}
        fields = _status_fields(
            {
                k: [c for c in v if id(c) not in foreign] if k == "conditions" else v
                for k, v in status.items()
                if k != "phase" or v != "Pending"
            },
            owned_conditions=owned,
        )
        self.fields.set("kubelet", t_ns, "v1", {"f:status": fields}, "status")
        self._write(t_ns)
        if phase in ("Succeeded", "Failed") and self.terminal_ns == FOREVER:
            self.terminal_ns = t_ns
        if ready and (not self.ready or self.ready[-1][1] != FOREVER):
            self.ready.append([t_ns, FOREVER])
        elif not ready and self.ready and self.ready[-1][1] == FOREVER:
            self.ready[-1][1] = t_ns

    def event(
        self,
        t_ns: int,
        reason: str,
        message: str,
        warning: bool = False,
        *,
        container: bool = True,
        annotations: Json | None = None,
    ) -> None:
        assert self.node is not None
        self.cluster.kubelet_event(
            t_ns,
            self,
            reason,
            message,
            warning=warning,
            container=container,
            annotations=annotations,
        )

    def remove_finalizers(self, t_ns: int) -> None:
        """The job controller has counted the pod: it removes its tracking finalizer."""
        self.finalizers = []
        self.fields.set(
            "kube-controller-manager", self.created_ns, "v1", self.owner.pod_fields(self)
        )
        self._write(t_ns)

    def admit_waiting_for_volume(
        self, t_ns: int, volume: str, error: str, available_ns: int
    ) -> int:
        """The kubelet takes the pod but cannot mount a volume until ``available_ns``: each try
        of the volume manager (back-off from 500 ms, doubling) fails with FailedMount. Returns
        when the sandbox is ready."""
        rng = self.cluster.rng
        self.started_at = stamp(t_ns)
        self._set_condition("PodReadyToStartContainers", "False", t_ns)
        self._set_condition("Initialized", "True", t_ns)
        waiting = {"waiting": {"reason": "ContainerCreating"}}
        self.kubelet_status(t_ns, phase="Pending", state=waiting, ready=False)
        attempt, delay = t_ns + rng.randint(20, 120) * MS, 500 * MS
        while attempt < available_ns:
            message = f'MountVolume.SetUp failed for volume "{volume}" : {error}'
            self.event(attempt, "FailedMount", message, warning=True, container=False)
            attempt += delay + rng.randint(0, 30) * MS
            delay = min(delay * 2, 122 * SECOND)
        sandbox_ns = attempt + rng.randint(250, 1200) * MS
        self._set_condition("PodReadyToStartContainers", "True", sandbox_ns)
        self.kubelet_status(sandbox_ns, phase="Pending", state=waiting, ready=False)
        return sandbox_ns

    def admit(self, t_ns: int) -> int:
        """The kubelet takes the pod: sandbox being created. Returns when the sandbox is ready."""
        rng = self.cluster.rng
        self.started_at = stamp(t_ns)
        self._set_condition("PodReadyToStartContainers", "False", t_ns)
        self._set_condition("Initialized", "True", t_ns)
        waiting = {"waiting": {"reason": "ContainerCreating"}}
        self.kubelet_status(t_ns, phase="Pending", state=waiting, ready=False)
        sandbox_ns = t_ns + rng.randint(250, 1200) * MS
        self._set_condition("PodReadyToStartContainers", "True", sandbox_ns)
        self.kubelet_status(sandbox_ns, phase="Pending", state=waiting, ready=False)
        return sandbox_ns

    def pull(self, t_ns: int) -> int:
        """Pull the image (or find it on the node); returns when the image is there."""
        assert self.node is not None
        rng, image = self.cluster.rng, self.image
        present = self.node.images.get(image)
        if present is not None and present <= t_ns:
            self.event(
                t_ns,
                "Pulled",
                f'Container image "{image}" already present on machine and can be accessed by '
                "the pod",
            )
            return t_ns
        self.event(t_ns, "Pulling", f'Pulling image "{image}"')
        if present is not None:  # another pod is pulling it: wait, then a short pull
            own = rng.randint(40, 400) * MS
            done = present + own
        else:
            own = rng.randint(700, 6000) * MS + rng.randint(0, 999_999)
            done = t_ns + own
            self.node.add_image(image, done, self.image_id, self.image_size)
        self.event(
            done,
            "Pulled",
            f'Successfully pulled image "{image}" in {go_duration(own)} '
            f"({go_duration(done - t_ns)} including waiting). Image size: {self.image_size} "
            "bytes.",
        )
        return done

    def start_container(self, t_ns: int, *, ready: bool = True) -> int:
        """Created, Started, and the running status. Returns when the pod is ready (or, with
        ``ready=False``, running but not yet ready: a readiness probe still to pass)."""
        rng = self.cluster.rng
        created = t_ns + rng.randint(10, 90) * MS
        self.event(created, "Created", "Container created")
        self.container_id = f"containerd://{rng.getrandbits(256):064x}"
        started = created + rng.randint(15, 120) * MS
        self.event(started, "Started", "Container started")
        running = started + rng.randint(3, 40) * MS
        if not self.ip:
            self.ip = f"10.244.{rng.randint(0, 255)}.{rng.randint(2, 254)}"
        state = {"running": {"startedAt": stamp(started)}}
        self.kubelet_status(running, phase="Running", state=state, ready=ready)
        return running

    def run(self, t_ns: int) -> int:
        """From binding to ready: the kubelet's whole start. Returns when the pod is ready."""
        sandbox = self.admit(t_ns + self.cluster.jitter(30, 200))
        pulled = self.pull(sandbox + self.cluster.jitter(1, 5))
        return self.start_container(pulled)

    def exit(self, t_ns: int, code: int, reason: str | None = None) -> Json:
        """The container exits on its own (a crash): returns its terminated state."""
        rng = self.cluster.rng
        state = {
            "terminated": {
                "exitCode": code,
                "reason": reason or ("Error" if code else "Completed"),
                "startedAt": self.status["containerStatuses"][0]["state"]["running"]["startedAt"],
                "finishedAt": stamp(t_ns),
                "containerID": self.container_id,
            }
        }
        self.kubelet_status(
            t_ns + rng.randint(5, 60) * MS, phase="Running", state=state, ready=False
        )
        return state

    def restart(self, t_ns: int, terminated: Json) -> int:
        """The kubelet starts the container again (image already present). Returns ready time."""
        self.last_state = terminated
        self.restarts += 1
        pulled = self.pull(t_ns)
        return self.start_container(pulled)

    def back_off(self, t_ns: int, delay_s: int, terminated: Json) -> None:
        """CrashLoopBackOff: the waiting state and the kubelet's BackOff event."""
        self.last_state = terminated
        self.event(
            t_ns,
            "BackOff",
            f"Back-off restarting failed container {CONTAINER} in pod "
            f"{self.name}_{self.namespace}({self.uid})",
            warning=True,
        )
        waiting = {
            "waiting": {
                "reason": "CrashLoopBackOff",
                "message": f"back-off {delay_s}s restarting failed container={CONTAINER} "
                f"pod={self.name}_{self.namespace}({self.uid})",
            }
        }
        later = t_ns + self.cluster.jitter(300, 1500)
        self.kubelet_status(later, phase="Running", state=waiting, ready=False)

    def mark_deleted(self, t_ns: int) -> None:
        """A graceful DELETE (30 s): deletionTimestamp, and the generation moves on."""
        self.generation = 2
        self.deleted_ns = t_ns
        self.deletion = (stamp(t_ns + 30 * SECOND), 30)
        self._write(t_ns)

    def delete(self, t_ns: int) -> None:
        """The replicaset controller deletes the pod (30 s grace); the kubelet stops it."""
        rng = self.cluster.rng
        self.mark_deleted(t_ns)
        killing = t_ns + rng.randint(5, 80) * MS
        self.event(killing, "Killing", f"Stopping container {CONTAINER}")
        state = self.status["containerStatuses"][0]["state"]
        seen = killing + rng.randint(5, 40) * MS  # the kubelet acknowledges generation 2
        self.kubelet_status(seen, phase="Running", state=state, ready=True)
        stopped = killing + rng.randint(100, 2000) * MS
        self._set_condition("PodReadyToStartContainers", "False", stopped)
        terminated = {
            "terminated": {
                "exitCode": 0,
                "reason": "Completed",
                "startedAt": state.get("running", {}).get("startedAt", self.started_at),
                "finishedAt": stamp(stopped),
                "containerID": self.container_id,
            }
        }
        self.kubelet_status(stopped, phase="Succeeded", state=terminated, ready=False)
        gone = stopped + rng.randint(20, 300) * MS
        self.deletion = (stamp(gone), 0)
        self._write(gone)
        self.gone_ns = gone + rng.randint(1, 5) * MS
        self._write(self.gone_ns, "DELETED")

    def finish(self, t_ns: int, code: int, reason: str | None = None) -> Json:
        """A container of a pod that never restarts (a Job's) exits: the pod is Succeeded or
        Failed, its sandbox torn down. Returns the terminated state."""
        rng = self.cluster.rng
        state = {
            "terminated": {
                "exitCode": code,
                "reason": reason or ("Error" if code else "Completed"),
                "startedAt": self.status["containerStatuses"][0]["state"]["running"]["startedAt"],
                "finishedAt": stamp(t_ns),
                "containerID": self.container_id,
            }
        }
        seen = t_ns + rng.randint(5, 60) * MS
        phase = "Failed" if code else "Succeeded"
        self._set_condition("PodReadyToStartContainers", "False", seen)
        self.kubelet_status(seen, phase=phase, state=state, ready=False)
        return state

    def add_foreign_condition(self, t_ns: int, manager: str, condition: Json) -> None:
        """Another component patches a condition of its own into the status (DisruptionTarget):
        appended last; the kubelet's later updates keep it, ahead of its own."""
        condition = {
            "type": condition["type"],
            "observedGeneration": self.generation,
            "status": condition["status"],
            "lastProbeTime": None,
            "lastTransitionTime": stamp(t_ns),
            "reason": condition["reason"],
            "message": condition["message"],
        }
        self.foreign_conditions.append(condition)
        self.status = {
            **self.status,
            "conditions": [
                *(c for c in self.status.get("conditions", []) if c["type"] != condition["type"]),
                condition,
            ],
        }
        leaves = _keys(*condition)
        fields = {
            "f:status": {
                "f:conditions": {f'k:{{"type":"{condition["type"]}"}}': {".": {}, **leaves}}
            }
        }
        self.fields.set(manager, t_ns, "v1", fields, "status")
        self._write(t_ns)

    def mark_not_ready(self, t_ns: int) -> None:
        """The node controller on a node gone silent: the pod's Ready condition goes False."""
        conditions = []
        for old in self.status["conditions"]:
            condition = old
            if old["type"] == "Ready":
                condition = {**old, "status": "False", "lastTransitionTime": stamp(t_ns)}
                self._conditions["Ready"] = condition
            conditions.append(condition)
        self.status = {**self.status, "conditions": conditions}
        fields = {
            "f:status": {
                "f:conditions": {'k:{"type":"Ready"}': _keys("lastTransitionTime", "status")}
            }
        }
        self.fields.set("kube-controller-manager", t_ns, "v1", fields, "status")
        self._write(t_ns)
        if self.ready and self.ready[-1][1] == FOREVER:
            self.ready[-1][1] = t_ns

    def evict(self, t_ns: int, message: str, annotations: Json) -> int:
        """The kubelet's eviction manager: Evicted, the container killed at once (no grace),
        the pod Failed with reason Evicted. The pod object stays. Returns when it is Failed."""
        rng = self.cluster.rng
        self.event(t_ns, "Evicted", message, warning=True, container=False, annotations=annotations)
        killing = t_ns + rng.randint(2, 30) * MS
        self.event(killing, "Killing", f"Stopping container {CONTAINER}")
        stopped = killing + rng.randint(50, 400) * MS
        state = self.status["containerStatuses"][0]["state"]
        terminated = {
            "terminated": {
                "exitCode": 137,
                "reason": "Error",
                "startedAt": state.get("running", {}).get("startedAt", self.started_at),
                "finishedAt": stamp(stopped),
                "containerID": self.container_id,
            }
        }
        self.status_reason = ("Evicted", message)
        self._set_condition("DisruptionTarget", "True", stopped, "TerminationByKubelet", message)
        self._set_condition("PodReadyToStartContainers", "False", stopped)
        self.kubelet_status(stopped, phase="Failed", state=terminated, ready=False)
        return stopped

    def lost_with_node(self, t_ns: int) -> None:
        """A terminating pod whose node rebooted: nothing left to stop; the kubelet reports the
        container as lost and confirms the deletion."""
        rng = self.cluster.rng
        terminated = {
            "terminated": {
                "exitCode": 137,
                "reason": "ContainerStatusUnknown",
                "message": "The container could not be located when the pod was terminated",
                "startedAt": None,
                "finishedAt": None,
            }
        }
        self._set_condition("PodReadyToStartContainers", "False", t_ns)
        self.kubelet_status(t_ns, phase="Failed", state=terminated, ready=False)
        gone = t_ns + rng.randint(20, 300) * MS
        self.deletion = (stamp(gone), 0)
        self._write(gone)
        self.gone_ns = gone + rng.randint(1, 5) * MS
        self._write(self.gone_ns, "DELETED")

    def ready_at(self, t_ns: int) -> bool:
        return t_ns < self.deleted_ns and any(a <= t_ns < b for a, b in self.ready)


class ReplicaSet(PodOwner):
    def __init__(self, dep: Deployment, t_ns: int, replicas: int, revision: int) -> None:
        cluster = dep.cluster
        self.cluster, self.dep = cluster, dep
        self.namespace, self.app = dep.namespace, dep.name
        self.hash = cluster.suffix(cluster.rng.choice((9, 10)))
        self.name = f"{dep.name}-{self.hash}"
        self.uid = cluster.uid()
        self.ref = Ref("ReplicaSet", self.namespace, self.name, self.uid, "apps/v1")
        self.image, self.resources, self.options = dep.image, dep.resources, dep.options
        self.image_id = f"{dep.image.rsplit(':', 1)[0]}@sha256:{cluster.rng.getrandbits(256):064x}"
        self.image_size = cluster.rng.randint(4_000_000, 180_000_000)
        if dep.image in dep.digests:  # an image the nodes already hold: its known digest
            self.image_id, self.image_size = dep.digests[dep.image]
        self.revision = revision
        self.created_ns = t_ns
        self.scales: list[tuple[int, int]] = [(t_ns, replicas)]  # (when, spec.replicas)
        self.pods: list[Pod] = []
        self.status_times: list[int] = [t_ns + cluster.jitter(2, 8)]
        self.owner_ref = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }
        labels = {"app": self.app, "pod-template-hash": self.hash}
        self.template = {
            "metadata": {"labels": labels},
            "spec": _template_spec(self.image, self.resources, self.options),
        }
        self.selector = {"matchLabels": labels}

    def pod_labels(self, pod_name: str) -> Json:
        return {"app": self.app, "pod-template-hash": self.hash}

    def scale(self, t_ns: int, replicas: int) -> None:
        self.scales.append((t_ns, replicas))
        self.status_times.append(t_ns + self.cluster.jitter(2, 8))

    def spec_at(self, t_ns: int) -> tuple[int, int, int]:
        """(generation, spec.replicas, when it was set) at t."""
        generation, replicas, since = 0, 0, self.created_ns
        for when, value in self.scales:
            if when > t_ns:
                break
            generation, replicas, since = generation + 1, value, when
        return generation, replicas, since

    def counts_at(self, t_ns: int) -> tuple[int, int, int]:
        """(pods, ready pods, terminating pods) at t."""
        alive = ready = terminating = 0
        for pod in self.pods:
            if pod.created_ns > t_ns or pod.gone_ns <= t_ns:
                continue
            if pod.deleted_ns <= t_ns:
                terminating += 1
                continue
            if pod.terminal_ns <= t_ns:
                continue  # a failed (evicted) pod: no longer one of the replicas
            alive += 1
            ready += pod.ready_at(t_ns)
        return alive, ready, terminating

    def write_versions(self) -> None:
        """All versions of the ReplicaSet, written once the simulation knows every pod's life."""
        api, dep = self.cluster.api, self.dep
        fields = ManagedFields()
        times = [(when, 0) for when, _ in self.scales]
        times += [(when, 1) for when in _coalesce(sorted(self.status_times))]
        status: Json = {"replicas": 0}
        for n, (t_ns, what) in enumerate(sorted(times)):
            generation, replicas, since = self.spec_at(t_ns)
            desired = str(dep.replicas_at(since))
            most = str(dep.replicas_at(since) + dep.surge_at(since)[0])
            if what == 0:
                fields.set(
                    "kube-controller-manager",
                    since,
                    "apps/v1",
                    {
                        "f:metadata": {
                            "f:annotations": {
                                ".": {},
                                **_keys(
                                    "deployment.kubernetes.io/desired-replicas",
                                    "deployment.kubernetes.io/max-replicas",
                                    "deployment.kubernetes.io/revision",
                                ),
                            },
                            "f:labels": {".": {}, **_keys("app", "pod-template-hash")},
                            "f:ownerReferences": {".": {}, f'k:{{"uid":"{dep.uid}"}}': {}},
                        },
                        "f:spec": {
                            **_keys("replicas", "selector"),
                            "f:template": _template_fields(
                                ("app", "pod-template-hash"),
                                resources=self.resources,
                                options=self.options,
                            ),
                        },
                    },
                )
            else:
                alive, ready, terminating = self.counts_at(t_ns)
                new: Json = {"replicas": alive}
                if alive:
                    new["fullyLabeledReplicas"] = alive
                if ready:
                    new["readyReplicas"] = ready
                    new["availableReplicas"] = ready
                new["terminatingReplicas"] = terminating
                new["observedGeneration"] = generation
                if new == status:
                    continue
                status = new
                fields.set(
                    "kube-controller-manager",
                    t_ns,
                    "apps/v1",
                    {"f:status": _status_fields(status, owned_conditions=frozenset())},
                    "status",
                )
            body = {
                "kind": "ReplicaSet",
                "apiVersion": "apps/v1",
                "metadata": {
                    "name": self.name,
                    "namespace": self.namespace,
                    "uid": self.uid,
                    "resourceVersion": "",
                    "generation": generation,
                    "creationTimestamp": stamp(self.created_ns),
                    "labels": self.template["metadata"]["labels"],
                    "annotations": {
                        "deployment.kubernetes.io/desired-replicas": desired,
                        "deployment.kubernetes.io/max-replicas": most,
                        "deployment.kubernetes.io/revision": str(self.revision),
                    },
                    "ownerReferences": [dep.owner_ref],
                    "managedFields": fields.snapshot(),
                },
                "spec": {
                    "replicas": replicas,
                    "selector": self.selector,
                    "template": self.template,
                },
                "status": status,
            }
            api.write(t_ns, "ADDED" if n == 0 else "MODIFIED", body)


def _coalesce(times: list[int], within_ns: int = 400 * MS) -> list[int]:
    """A controller's work queue folds the syncs of a burst into one: one write per burst."""
    out: list[int] = []
    first = None
    for t_ns in times:
        if first is not None and t_ns - first <= within_ns:
            out[-1] = t_ns
            continue
        first = t_ns
        out.append(t_ns)
    return out


def _resolve(value: int | str, replicas: int, *, up: bool) -> int:
    """An IntOrString of a rolling update (``1``, ``"25%"``) to a number of pods."""
    if isinstance(value, int):
        return value
    share = replicas * int(value.rstrip("%")) / 100
    return math.ceil(share) if up else math.floor(share)


class Deployment:
    """A Deployment and the deployment controller's work on it (create, rolling update)."""

    def __init__(
        self,
        cluster: Cluster,
        t_ns: int,
        *,
        namespace: str,
        name: str,
        replicas: int,
        image: str,
        resources: Json | None = None,
        max_surge: int | str = "25%",
        max_unavailable: int | str = "25%",
        options: PodOptions = PLAIN,
    ) -> None:
        self.cluster = cluster
        self.options = options
        self.namespace, self.name = namespace, name
        self.uid = cluster.uid()
        self.ref = Ref("Deployment", namespace, name, self.uid, "apps/v1")
        self.replicas, self.image = replicas, image
        self.resources: Json = resources or {}
        self.strategy = {"maxUnavailable": max_unavailable, "maxSurge": max_surge}
        # As the controller resolves them: a percentage of surge rounds up, of unavailability
        # down, and when both come to 0 one pod may be unavailable.
        self.surge = _resolve(max_surge, replicas, up=True)
        self.unavailable = _resolve(max_unavailable, replicas, up=False) or int(not self.surge)
        self.created_ns = t_ns
        self.specs: list[tuple[int, str]] = [(t_ns, image)]  # (when, image): generation = index
        self.scales: list[tuple[int, int]] = []  # (when, spec.replicas) set through /scale
        self.sets: list[ReplicaSet] = []
        self.revisions: list[tuple[int, int]] = []  # (when, revision annotation)
        self.status_times: list[int] = []
        self.scale_manager = "kube-controller-manager"  # who writes /scale (an autoscaler)
        self.digests: dict[str, tuple[str, int]] = {}  # images pulled before: digest, size
        # Which of its ScalingReplicaSet Events (in the order it records them) the controller's
        # event broadcaster writes late, after the pods they caused were created or deleted;
        # empty: each is written at once (the first captures).
        self.late_events: tuple[bool, ...] = ()
        self._scalings = 0
        self._event_written = 0
        self.owner_ref = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }

    def replicas_at(self, t_ns: int) -> int:
        """spec.replicas at t (an autoscaler changes it through the scale subresource)."""
        replicas = self.replicas
        for when, value in self.scales:
            if when <= t_ns:
                replicas = value
        return replicas

    def surge_at(self, t_ns: int) -> tuple[int, int]:
        """(maxSurge, maxUnavailable) resolved against spec.replicas at t."""
        replicas = self.replicas_at(t_ns)
        if replicas == self.replicas:
            return self.surge, self.unavailable
        surge = _resolve(self.strategy["maxSurge"], replicas, up=True)
        unavailable = _resolve(self.strategy["maxUnavailable"], replicas, up=False)
        return surge, unavailable or int(not surge)

    # -- the deployment controller -------------------------------------------------------

    def create(self, run_pod: Callable[[Pod, int], None] | None = None) -> None:
        """``kubectl create``: the first ReplicaSet scaled up to spec.replicas at once."""
        cluster, t_ns = self.cluster, self.created_ns
        rs_time = t_ns + cluster.jitter(3, 15)
        rs = ReplicaSet(self, rs_time, self.replicas, 1)
        self.sets.append(rs)
        self.revisions.append((rs_time + cluster.jitter(1, 4), 1))
        self.status_times += [rs_time + cluster.jitter(1, 4), rs_time + cluster.jitter(5, 12)]
        self._scaling_event(rs_time + cluster.jitter(1, 3), "up", rs, 0, self.replicas)
        self._create_pods(rs, rs_time + cluster.jitter(2, 10), self.replicas, run_pod)

    def set_image(
        self, t_ns: int, image: str, run_pod: Callable[[Pod, int], None] | None = None
    ) -> None:
        """``kubectl set image``: generation 2 and a rolling update to a new ReplicaSet
        (``run_pod``: how its pods run, when not the plain start)."""
        cluster = self.cluster
        self.specs.append((t_ns, image))
        self.image = image
        old = self.sets[-1]
        total, minimum = self.replicas + self.surge, self.replicas - self.unavailable
        new_rs: ReplicaSet | None = None
        new_count, old_count = 0, self.replicas
        t = t_ns + cluster.jitter(3, 15)
        while new_count < self.replicas or old_count > 0:
            acted = False
            up = min(self.replicas - new_count, total - new_count - old_count)
            if up > 0:
                if new_rs is None:
                    new_rs = ReplicaSet(self, t, up, len(self.sets) + 1)
                    self.sets.append(new_rs)
                    self.revisions.append((t + cluster.jitter(1, 4), new_rs.revision))
                else:
                    new_rs.scale(t, new_count + up)
                self._scaling_event(
                    t + cluster.jitter(1, 3), "up", new_rs, new_count, new_count + up
                )
                self._create_pods(new_rs, t + cluster.jitter(2, 10), up, run_pod)
                new_count += up
                self.status_times.append(t + cluster.jitter(3, 9))
                t += cluster.jitter(5, 30)
                acted = True
            assert new_rs is not None
            available = old_count + sum(p.ready_at(t) for p in new_rs.pods)
            down = min(old_count, available - minimum)
            if down > 0:
                old.scale(t, old_count - down)
                self._scaling_event(
                    t + cluster.jitter(1, 3), "down", old, old_count, old_count - down
                )
                victims = [p for p in old.pods if p.deleted_ns == FOREVER]
                for pod in cluster.rng.sample(victims, down):
                    when = t + cluster.jitter(2, 12)
                    pod.delete(when)
                    cluster.controller_event(
                        when + cluster.jitter(1, 4),
                        old.ref,
                        "replicaset-controller",
                        "SuccessfulDelete",
                        f"Deleted pod: {pod.name}",
                    )
                    old.status_times += [
                        when + cluster.jitter(2, 6),
                        pod.gone_ns + cluster.jitter(2, 6),
                    ]
                    self.status_times += [
                        when + cluster.jitter(4, 10),
                        pod.gone_ns + cluster.jitter(3, 9),
                    ]
                old_count -= down
                t += cluster.jitter(5, 30)
                acted = True
            if not acted:  # wait for the next new pod to become ready
                upcoming = [r[0] for p in new_rs.pods for r in p.ready if r[0] > t]
                if not upcoming:
                    break
                t = min(upcoming) + cluster.jitter(2, 20)
        self.status_times.append(t + cluster.jitter(5, 20))

    def scale(
        self, t_ns: int, replicas: int, run_pod: Callable[[Pod, int], None] | None = None
    ) -> None:
        """An autoscaler (or ``kubectl scale``: ``scale_manager``) writes spec.replicas through
        /scale: generation + 1, and the deployment controller scales the current ReplicaSet
        (new pods when it grows, run by ``run_pod`` when given)."""
        cluster = self.cluster
        self.scales.append((t_ns, replicas))
        rs = self.sets[-1]
        before = rs.spec_at(t_ns)[1]
        t = t_ns + cluster.jitter(3, 15)
        rs.scale(t, replicas)
        way = "up" if replicas > before else "down"
        self._scaling_event(t + cluster.jitter(1, 3), way, rs, before, replicas)
        self.status_times += [t + cluster.jitter(1, 4), t + cluster.jitter(5, 12)]
        if replicas > before:
            self._create_pods(rs, t + cluster.jitter(2, 10), replicas - before, run_pod)

    def _scaling_event(self, t_ns: int, way: str, rs: ReplicaSet, before: int, after: int) -> None:
        cluster, write_at = self.cluster, None
        if self.late_events:  # the broadcaster writes in order, some Events after a lag
            late = self._scalings < len(self.late_events) and self.late_events[self._scalings]
            self._scalings += 1
            lag = cluster.jitter(40, 160) if late else cluster.jitter(1, 6)
            write_at = max(t_ns + lag, self._event_written + cluster.jitter(1, 3))
            self._event_written = write_at
        cluster.controller_event(
            t_ns,
            self.ref,
            "deployment-controller",
            "ScalingReplicaSet",
            f"Scaled {way} replica set {rs.name} from {before} to {after}",
            write_at=write_at,
        )

    def _create_pods(
        self, rs: ReplicaSet, t_ns: int, count: int, run_pod: Callable[[Pod, int], None] | None
    ) -> None:
        """The replicaset controller's slow start: batches of 1, 2, 4... pods."""
        cluster, batch, made = self.cluster, 1, 0
        while made < count:
            for _ in range(min(batch, count - made)):
                pod = Pod(rs, t_ns)
                rs.pods.append(pod)
                pod.create()
                cluster.controller_event(
                    t_ns + cluster.jitter(1, 4),
                    rs.ref,
                    "replicaset-controller",
                    "SuccessfulCreate",
                    f"Created pod: {pod.name}",
                )
                if run_pod is None:
                    bound = t_ns + cluster.jitter(8, 80)
                    pod.bind(bound, cluster.rng.choice(cluster.nodes))
                    pod.run(bound)
                else:
                    run_pod(pod, t_ns)
                made += 1
                t_ns += cluster.jitter(1, 4)
            batch *= 2
        rs.status_times += [t_ns + cluster.jitter(2, 8)]
        rs.status_times += [r[0] + cluster.jitter(2, 8) for p in rs.pods for r in p.ready]
        rs.status_times += [
            r[1] + cluster.jitter(2, 8) for p in rs.pods for r in p.ready if r[1] < FOREVER
        ]

    # -- writing ---------------------------------------------------------------------------

    def write_versions(self) -> None:
        """All versions of the Deployment and its ReplicaSets, once every pod's life is known."""
        for rs in self.sets:
            rs.write_versions()
            self.status_times += [t + self.cluster.jitter(2, 6) for t in rs.status_times]
        api = self.cluster.api
        fields = ManagedFields()
        fields.set("kubectl-create", self.created_ns, "apps/v1", self._create_fields(True))
        api.write(self.created_ns, "ADDED", self._body(1, self.specs[0][1], 0, fields, {}))
        moments = [(when, 0) for when, _ in self.specs[1:]]
        moments += [(when, 1) for when in _coalesce(sorted(self.status_times))]
        moments += [(when, 2) for when, _ in self.scales]
        status: Json = {}
        conditions: dict[str, Json] = {}
        seen: tuple[int, tuple[int, int, int, int, str]] | None = None
        for t_ns, what in sorted(moments):
            images = sum(1 for when, _ in self.specs if when <= t_ns)
            scaled = sum(1 for when, _ in self.scales if when <= t_ns)
            generation = images + scaled
            image = self.specs[images - 1][1]
            replicas = self.replicas_at(t_ns)
            revision = max((r for when, r in self.revisions if when <= t_ns), default=0)
            if what == 2:
                create = self._create_fields(images == 1, replicas=False)
                fields.set("kubectl-create", self.created_ns, "apps/v1", create)
                scale_fields = {"f:spec": {"f:replicas": {}}}
                fields.set(self.scale_manager, t_ns, "apps/v1", scale_fields, "scale")
            elif what == 0:
                create = self._create_fields(False, replicas=not scaled)
                fields.set("kubectl-create", self.created_ns, "apps/v1", create)
                fields.set(
                    "kubectl-set",
                    t_ns,
                    "apps/v1",
                    {
                        "f:spec": {
                            "f:template": {
                                "f:spec": {
                                    "f:containers": {f'k:{{"name":"{CONTAINER}"}}': {"f:image": {}}}
                                }
                            }
                        }
                    },
                )
            else:
                counts = self._counts(t_ns)
                if (generation, counts) == seen:
                    continue  # nothing to report: the controller writes nothing
                seen = (generation, counts)
                status = self._status(t_ns, generation, counts, conditions)
                status_fields = _status_fields(
                    status, owned_conditions=frozenset({"Available", "Progressing"}), owns_list=True
                )
                fields.set(
                    "kube-controller-manager",
                    t_ns,
                    "apps/v1",
                    {
                        "f:metadata": {
                            "f:annotations": {".": {}, **_keys("deployment.kubernetes.io/revision")}
                        },
                        "f:status": status_fields,
                    },
                    "status",
                )
            body = self._body(generation, image, revision, fields, status, replicas=replicas)
            api.write(t_ns, "MODIFIED", body)

    def _counts(self, t_ns: int) -> tuple[int, int, int, int, str]:
        """(pods, pods of the current ReplicaSet, ready, terminating, current ReplicaSet)."""
        alive = ready = terminating = 0
        for rs in self.sets:
            a, r, k = rs.counts_at(t_ns)
            alive, ready, terminating = alive + a, ready + r, terminating + k
        current = [rs for rs in self.sets if rs.created_ns <= t_ns][-1]
        return alive, current.counts_at(t_ns)[0], ready, terminating, current.name

    def _status(
        self,
        t_ns: int,
        generation: int,
        counts: tuple[int, int, int, int, str],
        conditions: dict[str, Json],
    ) -> Json:
        alive, updated, ready, terminating, current = counts
        now = stamp(t_ns)
        replicas, unavailable = self.replicas_at(t_ns), self.surge_at(t_ns)[1]
        complete = updated == replicas == alive == ready and not terminating
        if conditions.get("Progressing", {}).get("rs") != current:
            progressing = ("NewReplicaSetCreated", f'Created new replica set "{current}"')
        elif complete:
            progressing = (
                "NewReplicaSetAvailable",
                f'ReplicaSet "{current}" has successfully progressed.',
            )
        else:
            progressing = ("ReplicaSetUpdated", f'ReplicaSet "{current}" is progressing.')
        self._condition(conditions, "Progressing", ("True", *progressing), now=now, rs=current)
        if ready >= replicas - unavailable:
            available = ("True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
        else:
            available = (
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            )
        self._condition(conditions, "Available", available, now=now, rs="")
        status: Json = {"observedGeneration": generation}
        if alive:
            status["replicas"] = alive
        if updated:
            status["updatedReplicas"] = updated
        if ready:
            status["readyReplicas"] = ready
            status["availableReplicas"] = ready
        if replicas - ready > 0:
            status["unavailableReplicas"] = replicas - ready
        status["terminatingReplicas"] = terminating
        status["conditions"] = [
            {k: v for k, v in conditions[kind].items() if k != "rs"}
            for kind in ("Available", "Progressing")
        ]
        return status

    @staticmethod
    def _condition(
        conditions: dict[str, Json],
        kind: str,
        value: tuple[str, str, str],
        *,
        now: str,
        rs: str,
    ) -> None:
        """Set a condition to (status, reason, message); times move as the controller's do."""
        old = conditions.get(kind)
        status, reason, message = value
        if old is not None and (old["status"], old["reason"], old["message"]) == (
            status,
            reason,
            message,
        ):
            if kind == "Progressing" and reason == "ReplicaSetUpdated":
                old["lastUpdateTime"] = now  # progress made: the deadline moves on
            return
        since = old["lastTransitionTime"] if old is not None and old["status"] == status else now
        conditions[kind] = {
            "type": kind,
            "status": status,
            "lastUpdateTime": now,
            "lastTransitionTime": since,
            "reason": reason,
            "message": message,
            "rs": rs,
        }

    def _create_fields(self, image: bool, *, replicas: bool = True) -> Json:
        spec = ["progressDeadlineSeconds", "revisionHistoryLimit", "selector"]
        return {
            "f:metadata": {"f:labels": {".": {}, **_keys("app")}},
            "f:spec": {
                **_keys(*spec, *(["replicas"] if replicas else [])),
                "f:strategy": {
                    "f:rollingUpdate": {".": {}, **_keys("maxSurge", "maxUnavailable")},
                    "f:type": {},
                },
                "f:template": _template_fields(
                    ("app",), image=image, resources=self.resources, options=self.options
                ),
            },
        }

    def _body(
        self,
        generation: int,
        image: str,
        revision: int,
        fields: ManagedFields,
        status: Json,
        *,
        replicas: int | None = None,
    ) -> Json:
        metadata: Json = {
            "name": self.name,
            "namespace": self.namespace,
            "uid": self.uid,
            "resourceVersion": "",
            "generation": generation,
            "creationTimestamp": stamp(self.created_ns),
            "labels": {"app": self.name},
        }
        if revision:
            metadata["annotations"] = {"deployment.kubernetes.io/revision": str(revision)}
        metadata["managedFields"] = fields.snapshot()
        return {
            "kind": "Deployment",
            "apiVersion": "apps/v1",
            "metadata": metadata,
            "spec": {
                "replicas": self.replicas if replicas is None else replicas,
                "selector": {"matchLabels": {"app": self.name}},
                "template": {
                    "metadata": {"labels": {"app": self.name}},
                    "spec": _template_spec(image, self.resources, self.options),
                },
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": self.strategy,
                },
                "revisionHistoryLimit": 10,
                "progressDeadlineSeconds": 600,
            },
            "status": status,
        }


# -- Events ----------------------------------------------------------------------------------

_CONTROLLER_EVENT_FIELDS: Json = {
    **_keys(
        "count",
        "firstTimestamp",
        "involvedObject",
        "lastTimestamp",
        "message",
        "reason",
        "reportingComponent",
    ),
    "f:source": _keys("component"),
    "f:type": {},
}
_KUBELET_EVENT_FIELDS: Json = {
    **_keys(
        "count",
        "firstTimestamp",
        "involvedObject",
        "lastTimestamp",
        "message",
        "reason",
        "reportingComponent",
        "reportingInstance",
    ),
    "f:source": _keys("component", "host"),
    "f:type": {},
}
_SCHEDULER_EVENT_FIELDS = _keys(
    "action",
    "eventTime",
    "note",
    "reason",
    "regarding",
    "reportingController",
    "reportingInstance",
    "type",
)
_SCHEDULER_SERIES_FIELDS: Json = dict(
    sorted(
        {
            **_SCHEDULER_EVENT_FIELDS,
            "f:series": {".": {}, **_keys("count", "lastObservedTime")},
        }.items()
    )
)


@dataclass(slots=True)
class _CoreEvent:
    """One aggregated core/v1 Event as the recorder's correlator keeps it."""

    name: str
    uid: str
    created: str
    first: str
    count: int
    involved: Json
    source: Json


@dataclass(slots=True)
class _SeriesEvent:
    """One events.k8s.io Event of the scheduler, with its series as the broadcaster keeps it."""

    body: Json
    count: int = 1
    written: int = 1
    last_ns: int = 0


class Cluster:
    """The simulated control plane: random source, API server, nodes and event recorders."""

    def __init__(self, seed: int, *, first_rv: int = 1000) -> None:
        self.rng = random.Random(seed)
        self.api = ApiServer(first_rv)
        self.nodes: list[Node] = []
        self._core_events: dict[tuple[str, ...], _CoreEvent] = {}
        self._series: dict[tuple[str, ...], _SeriesEvent] = {}
        self.list_at: int | None = None  # the recording starts later than the simulation

    def uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def suffix(self, length: int) -> str:
        return "".join(self.rng.choices(NAME_ALPHABET, k=length))

    def jitter(self, low_ms: int, high_ms: int) -> int:
        """A random delay in [low, high] ms, with sub-millisecond noise."""
        return self.rng.randint(low_ms * 1000, high_ms * 1000) * 1000

    def add_node(self, t_ns: int, name: str, *, cpu: str = "4", ready: bool = True) -> Node:
        node = Node(self, name, t_ns, cpu=cpu, ready=ready)
        self.nodes.append(node)
        return node

    def initial_list(self, at_ns: int, ttl_ns: int = 3600 * SECOND) -> list[Json]:
        """What a recorder that starts at ``at_ns`` lists first: every object that exists then,
        in its last version, as ADDED list items (kind and apiVersion last), resource by
        resource, owners first; Events older than the event TTL are gone."""
        latest: dict[str, tuple[str, Json]] = {}
        for value in self.api.deliver(at_ns):
            latest[value["object"]["metadata"]["uid"]] = (value["type"], value["object"])
        items = []
        for kind in LIST_ORDER:
            bodies = [b for t, b in latest.values() if b["kind"] == kind and t != "DELETED"]
            bodies.sort(key=lambda b: (b["metadata"].get("namespace", ""), b["metadata"]["name"]))
            for body in bodies:
                if kind == "Event":
                    last = body["lastTimestamp"] or body["eventTime"][:19] + "Z"
                    if _parse_stamp(last) < at_ns - ttl_ns:
                        continue
                listed = {k: v for k, v in body.items() if k not in ("kind", "apiVersion")}
                listed |= {"apiVersion": body["apiVersion"], "kind": kind}
                items.append({"type": "ADDED", "object": listed})
        return items

    def list_nodes(self, t_ns: int) -> None:
        """The initial list of the Node watch: every node as ADDED, as a list item."""
        for node in self.nodes:
            self.api.write(t_ns, "ADDED", node.body(listed=True))

    def post_node_status(self, until_ns: int) -> None:
        """Every kubelet's node status posts up to until_ns."""
        for node in self.nodes:
            node.post_status(until_ns)

    def forget_events(self) -> None:
        """Drop the correlators' memory (a bench writes many independent workloads)."""
        self._core_events.clear()
        self._series.clear()

    # -- core/v1 events (controllers, kubelet) -------------------------------------------

    def controller_event(
        self,
        t_ns: int,
        ref: Ref,
        component: str,
        reason: str,
        message: str,
        *,
        warning: bool = False,
        involved: Json | None = None,
        write_at: int | None = None,
    ) -> None:
        source = {"component": component}
        self._core_event(
            t_ns,
            ref,
            reason,
            message,
            source=source,
            field_path="",
            warning=warning,
            involved=involved,
            write_at=write_at,
        )

    def kubelet_event(
        self,
        t_ns: int,
        pod: Pod,
        reason: str,
        message: str,
        *,
        warning: bool = False,
        container: bool = True,
        annotations: Json | None = None,
    ) -> None:
        """An event of the kubelet on a pod: on its container (fieldPath) unless said not."""
        assert pod.node is not None
        source = {"component": "kubelet", "host": pod.node.name}
        path = f"spec.containers{{{CONTAINER}}}" if container else ""
        self._core_event(
            t_ns,
            pod.ref,
            reason,
            message,
            source=source,
            field_path=path,
            warning=warning,
            annotations=annotations,
        )

    def node_event(
        self,
        t_ns: int,
        node: Node,
        reason: str,
        message: str,
        *,
        component: str = "kubelet",
        warning: bool = False,
    ) -> None:
        """An event on a Node, kept in the default namespace. The kubelet's reference names the
        node by name in place of a uid; the node controller's carries the uid and apiVersion."""
        if component == "kubelet":
            involved: Json = {"kind": "Node", "name": node.name, "uid": node.name}
            source = {"component": component, "host": node.name}
        else:
            involved = {"kind": "Node", "name": node.name, "uid": node.uid, "apiVersion": "v1"}
            source = {"component": component}
        ref = Ref("Node", "default", node.name, involved["uid"], "v1")
        self._core_event(
            t_ns,
            ref,
            reason,
            message,
            source=source,
            field_path="",
            warning=warning,
            involved=involved,
        )

    def _core_event(
        self,
        t_ns: int,
        ref: Ref,
        reason: str,
        message: str,
        *,
        source: Json,
        field_path: str,
        warning: bool,
        involved: Json | None = None,
        annotations: Json | None = None,
        write_at: int | None = None,
    ) -> None:
        """Record through the core/v1 correlator: a repeat is the same Event with count + 1.
        ``involved``: the reference as the reporter built it, when it is not the object's own
        (no uid, no apiVersion...). ``write_at``: when the recorder's broadcaster gets the Event
        written, when that is not at once (it writes asynchronously, behind the controller)."""
        type_ = "Warning" if warning else "Normal"
        key = (ref.uid, field_path, reason, message, type_, *source.values())
        written = t_ns + self.jitter(1, 6) if write_at is None else write_at
        event = self._core_events.get(key)
        if event is None:
            if involved is None:
                involved = {
                    "kind": ref.kind,
                    "namespace": ref.namespace,
                    "name": ref.name,
                    "uid": ref.uid,
                    "apiVersion": ref.api_version,
                    "resourceVersion": "",
                }
            if field_path:
                involved["fieldPath"] = field_path
            event = _CoreEvent(
                name=f"{ref.name}.{t_ns:x}",
                uid=self.uid(),
                created=stamp(written),
                first=stamp(t_ns),
                count=1,
                involved=involved,
                source=source,
            )
            self._core_events[key] = event
            watch_type = "ADDED"
        else:
            event.count += 1
            watch_type = "MODIFIED"
        kubelet = source["component"] == "kubelet"
        fields: Json = _KUBELET_EVENT_FIELDS if kubelet else _CONTROLLER_EVENT_FIELDS
        metadata: Json = {
            "name": event.name,
            "namespace": ref.namespace,
            "uid": event.uid,
            "resourceVersion": "",
            "creationTimestamp": event.created,
        }
        if annotations:
            metadata["annotations"] = annotations
            fields = {"f:metadata": {"f:annotations": {".": {}, **_keys(*annotations)}}, **fields}
            fields = dict(sorted(fields.items()))
        metadata["managedFields"] = [
            {
                "manager": "kubelet" if kubelet else "kube-controller-manager",
                "operation": "Update",
                "apiVersion": "v1",
                "time": stamp(written),
                "fieldsType": "FieldsV1",
                "fieldsV1": fields,
            }
        ]
        body: Json = {
            "kind": "Event",
            "apiVersion": "v1",
            "metadata": metadata,
            "involvedObject": event.involved,
            "reason": reason,
            "message": message,
            "source": event.source,
            "firstTimestamp": event.first,
            "lastTimestamp": stamp(t_ns),
            "count": event.count,
            "type": type_,
            "eventTime": None,
            "reportingComponent": source["component"],
            "reportingInstance": source.get("host", ""),
        }
        self.api.write(written, watch_type, body)

    # -- events.k8s.io events (scheduler), seen through core/v1 --------------------------

    def scheduler_event(
        self,
        t_ns: int,
        ref: Ref,
        reason: str,
        note: str,
        *,
        action: str,
        warning: bool = False,
        related: Ref | None = None,
    ) -> None:
        """The events library: the first occurrence is created; the second is patched at once
        with series {count: 2}; later ones only count up until the series is finished."""
        key = (ref.uid, action, reason)
        series = self._series.get(key)
        if series is not None:
            series.count += 1
            series.last_ns = t_ns
            if series.count == 2:
                self._write_series(t_ns + self.jitter(1, 6), series)
            return
        written = t_ns + self.jitter(2, 12)
        body: Json = {
            "kind": "Event",
            "apiVersion": "v1",
            "metadata": {
                "name": f"{ref.name}.{t_ns:x}",
                "namespace": ref.namespace,
                "uid": self.uid(),
                "resourceVersion": "",
                "creationTimestamp": stamp(written),
                "managedFields": [
                    {
                        "manager": "kube-scheduler",
                        "operation": "Update",
                        "apiVersion": "events.k8s.io/v1",
                        "time": stamp(written),
                        "fieldsType": "FieldsV1",
                        "fieldsV1": _SCHEDULER_EVENT_FIELDS
                        if related is None
                        else dict(sorted({**_SCHEDULER_EVENT_FIELDS, "f:related": {}}.items())),
                    }
                ],
            },
            "involvedObject": {
                "kind": ref.kind,
                "namespace": ref.namespace,
                "name": ref.name,
                "uid": ref.uid,
                "apiVersion": ref.api_version,
                "resourceVersion": "",
            },
            "reason": reason,
            "message": note,
            "source": {},
            "firstTimestamp": None,
            "lastTimestamp": None,
            "type": "Warning" if warning else "Normal",
            "eventTime": micro_stamp(t_ns),
            "action": action,
        }
        if related is not None:
            body["related"] = {
                "kind": related.kind,
                "namespace": related.namespace,
                "name": related.name,
                "uid": related.uid,
                "apiVersion": related.api_version,
                "resourceVersion": "",
            }
        body |= {
            "reportingComponent": "default-scheduler",
            "reportingInstance": SCHEDULER_INSTANCE,
        }
        self._series[key] = _SeriesEvent(body=body, last_ns=t_ns)
        self.api.write(written, "ADDED", body)

    def finish_series(self, t_ns: int) -> None:
        """The broadcaster's finishSeries tick: series not seen for 6 minutes get their final
        count written (counts after the second are only written then)."""
        for series in self._series.values():
            if series.count > series.written and t_ns - series.last_ns >= 6 * 60 * SECOND:
                self._write_series(t_ns, series)

    def _write_series(self, t_ns: int, series: _SeriesEvent) -> None:
        series.written = series.count
        old = series.body
        metadata = {
            **old["metadata"],
            "resourceVersion": "",
            "managedFields": [
                {
                    **old["metadata"]["managedFields"][0],
                    "time": stamp(t_ns),
                    "fieldsV1": _SCHEDULER_SERIES_FIELDS,
                }
            ],
        }
        body: Json = {}
        for key, value in old.items():
            if key == "action":
                body["series"] = {
                    "count": series.count,
                    "lastObservedTime": micro_stamp(series.last_ns),
                }
            body[key] = metadata if key == "metadata" else value
        self.api.write(t_ns, "MODIFIED", body)


# -- more controllers ------------------------------------------------------------------------
# The later captures need the StatefulSet, DaemonSet, Job, CronJob and autoscaler controllers.
# Each keeps the moments it writes its object at and writes every version at the end, once the
# lives of its pods are known (as Deployment and ReplicaSet do); the Job, CronJob and autoscaler,
# whose status follows their own steps, keep the statuses they wrote.

EXACT = PodOptions(exact_fields=True)
DAEMON_TOLERATIONS: tuple[Json, ...] = tuple(
    {"key": f"node.kubernetes.io/{key}", "operator": "Exists", "effect": effect}
    for key, effect in (
        ("not-ready", "NoExecute"),
        ("unreachable", "NoExecute"),
        ("disk-pressure", "NoSchedule"),
        ("memory-pressure", "NoSchedule"),
        ("pid-pressure", "NoSchedule"),
        ("unschedulable", "NoSchedule"),
    )
)


def _digest(cluster: Cluster, image: str) -> tuple[str, int]:
    """An image's digest reference and size, as a registry would give them."""
    digest = f"{image.rsplit(':', 1)[0]}@sha256:{cluster.rng.getrandbits(256):064x}"
    return digest, cluster.rng.randint(4_000_000, 180_000_000)


def _pods_at(pods: list[Pod], t_ns: int) -> tuple[list[Pod], int, int]:
    """(pods that count, how many of them are ready, how many terminate) at t."""
    alive: list[Pod] = []
    terminating = 0
    for pod in pods:
        if pod.created_ns > t_ns or pod.gone_ns <= t_ns:
            continue
        if pod.deleted_ns <= t_ns:
            terminating += 1
        elif pod.terminal_ns > t_ns:
            alive.append(pod)
    return alive, sum(p.ready_at(t_ns) for p in alive), terminating


def _life_times(pods: list[Pod], cluster: Cluster) -> list[int]:
    """When a controller's informer sees its pods change: each is a status sync."""
    times: list[int] = []
    for pod in pods:
        moments = [pod.created_ns, pod.deleted_ns, pod.terminal_ns, pod.gone_ns]
        moments += [edge for interval in pod.ready for edge in interval]
        times += [t + cluster.jitter(2, 8) for t in moments if t < FOREVER]
    return times


def _applied_fields(image: bool, spec: Json, container: Json | None = None) -> Json:
    """The managedFields of ``kubectl apply --server-side`` of a small manifest: only what it
    sets (labels, selector, the container's name and image, and ``spec``'s own fields)."""
    leaves: Json = {".": {}, "f:name": {}, **(container or {})}
    if image:
        leaves["f:image"] = {}
    template = {
        "f:metadata": {"f:labels": {"f:app": {}}},
        "f:spec": {"f:containers": {f'k:{{"name":"{CONTAINER}"}}': dict(sorted(leaves.items()))}},
    }
    return {
        "f:metadata": {"f:labels": {"f:app": {}}},
        "f:spec": dict(sorted({**spec, "f:selector": {}, "f:template": template}.items())),
    }


class Workload(PodOwner):
    """A controller object that owns pods directly (StatefulSet, DaemonSet, Job)."""

    kind = ""
    api_version = "apps/v1"
    component = ""

    def __init__(
        self,
        cluster: Cluster,
        t_ns: int,
        *,
        namespace: str,
        name: str,
        image: str,
        resources: Json | None = None,
        options: PodOptions = EXACT,
    ) -> None:
        self.cluster = cluster
        self.namespace, self.name = namespace, name
        self.uid = cluster.uid()
        self.ref = Ref(self.kind, namespace, name, self.uid, self.api_version)
        self.created_ns = t_ns
        self.resources: Json = resources or {}
        self.options = options
        self.digests: dict[str, tuple[str, int]] = {}
        self.use_image(image)
        self.specs: list[tuple[int, str]] = [(t_ns, image)]  # (when, image): generation = index
        self.pods: list[Pod] = []
        self.status_times: list[int] = []
        self.owner_ref = {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "name": name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }

    def use_image(self, image: str) -> None:
        """Pods created from now on run this image."""
        if image not in self.digests:
            self.digests[image] = _digest(self.cluster, image)
        self.image = image
        self.image_id, self.image_size = self.digests[image]

    def event(self, t_ns: int, reason: str, message: str, *, warning: bool = False) -> None:
        self.cluster.controller_event(
            t_ns, self.ref, self.component, reason, message, warning=warning
        )

    def generation_at(self, t_ns: int) -> int:
        return sum(1 for when, _ in self.specs if when <= t_ns)

    def template(self, image: str, labels: Json) -> Json:
        return {
            "metadata": {"labels": labels},
            "spec": _template_spec(image, self.resources, self.options),
        }

    def start(self, pod: Pod, t_ns: int, node: Node) -> int:
        """The scheduler binds the pod, the kubelet runs it. Returns when it is ready."""
        bound = t_ns + self.cluster.jitter(8, 80)
        pod.bind(bound, node)
        return pod.run(bound)

    # -- writing ---------------------------------------------------------------------------

    def spec_fields(self, fields: ManagedFields, t_ns: int, index: int) -> None:
        """Set the managedFields entry of the spec change number ``index`` (0: the create)."""
        raise NotImplementedError

    def status_at(self, t_ns: int) -> Json:
        raise NotImplementedError

    def body(self, t_ns: int, fields: ManagedFields, status: Json) -> Json:
        raise NotImplementedError

    def write_versions(self) -> None:
        """Every version of the object: its creation, spec changes, and a status write at each
        sync whose status differs from the last one."""
        api, cluster = self.cluster.api, self.cluster
        self.status_times += _life_times(self.pods, cluster)
        fields = ManagedFields()
        moments = [(when, 0, n) for n, (when, _) in enumerate(self.specs)]
        moments += [(when, 1, 0) for when in _coalesce(sorted(self.status_times))]
        status = self.status_at(self.created_ns - 1)
        for t_ns, what, index in sorted(moments):
            if what == 0:
                self.spec_fields(fields, t_ns, index)
            else:
                new = self.status_at(t_ns)
                if new == status:
                    continue
                status = new
                fields.set(
                    "kube-controller-manager",
                    t_ns,
                    self.api_version,
                    {"f:status": _status_fields(status, owned_conditions=frozenset())},
                    "status",
                )
            watch_type = "ADDED" if what == 0 and index == 0 else "MODIFIED"
            api.write(t_ns, watch_type, self.body(t_ns, fields, status))


class StatefulSet(Workload):
    """A StatefulSet, OrderedReady: pods web-0, web-1... each once the one before is ready; a
    rolling update deletes and re-creates them from the highest ordinal down."""

    kind = "StatefulSet"
    component = "statefulset-controller"

    def __init__(self, cluster: Cluster, t_ns: int, *, replicas: int, **kwargs: Any) -> None:
        super().__init__(cluster, t_ns, **kwargs)
        self.replicas = replicas
        self.revisions = {self.image: f"{self.name}-{cluster.suffix(10)}"}
        self.revision_of: dict[str, str] = {}  # pod uid -> controller-revision-hash

    def generate_name(self) -> str | None:
        return None

    def pod_labels(self, pod_name: str) -> Json:
        return {
            "app": self.name,
            "apps.kubernetes.io/pod-index": pod_name.rsplit("-", 1)[1],
            "controller-revision-hash": self.revisions[self.image],
            "statefulset.kubernetes.io/pod-name": pod_name,
        }

    def pod_spec_extras(self, pod_name: str) -> Json:
        return {"hostname": pod_name, "subdomain": self.name}

    def _create_pod(self, index: int, t_ns: int, node: Node | None = None) -> tuple[Pod, int]:
        cluster = self.cluster
        pod = Pod(self, t_ns, name=f"{self.name}-{index}")
        self.pods.append(pod)
        self.revision_of[pod.uid] = self.revisions[self.image]
        pod.create()
        self.event(
            t_ns + cluster.jitter(1, 4),
            "SuccessfulCreate",
            f"Create Pod {pod.name} in StatefulSet {self.name} successful",
        )
        node = node or cluster.nodes[index % len(cluster.nodes)]
        ready = self.start(pod, t_ns, node)
        return pod, ready

    def create(self) -> int:
        """Pods 0..n-1, each created once the one before is ready. Returns when all are."""
        t = self.created_ns + self.cluster.jitter(5, 20)
        for index in range(self.replicas):
            _, ready = self._create_pod(index, t)
            t = ready + self.cluster.jitter(5, 30)
        return t

    def set_image(self, t_ns: int, image: str) -> int:
        """``kubectl set image``: from the highest ordinal down, delete the pod, wait until it
        is gone, create it again from the new revision, wait until it is ready."""
        cluster = self.cluster
        self.specs.append((t_ns, image))
        self.use_image(image)
        self.revisions[image] = f"{self.name}-{cluster.suffix(10)}"
        t = t_ns + cluster.jitter(5, 20)
        for index in reversed(range(self.replicas)):
            old = next(p for p in self.pods if p.name == f"{self.name}-{index}")
            old.delete(t)
            self.event(
                t + cluster.jitter(1, 4),
                "SuccessfulDelete",
                f"Delete Pod {old.name} in StatefulSet {self.name} successful",
            )
            _, ready = self._create_pod(index, old.gone_ns + cluster.jitter(5, 30))
            t = ready + cluster.jitter(5, 30)
        return t

    def spec_fields(self, fields: ManagedFields, t_ns: int, index: int) -> None:
        fields.set(
            "kubectl",
            self.created_ns,
            "apps/v1",
            _applied_fields(index == 0, {"f:replicas": {}, "f:serviceName": {}}),
            operation="Apply",
        )
        if index:
            container = {f'k:{{"name":"{CONTAINER}"}}': {"f:image": {}}}
            image_fields = {"f:spec": {"f:template": {"f:spec": {"f:containers": container}}}}
            fields.set("kubectl-set", t_ns, "apps/v1", image_fields)

    def status_at(self, t_ns: int) -> Json:
        generation = self.generation_at(t_ns)
        if not generation:
            return {"replicas": 0, "availableReplicas": 0}
        update = self.revisions[self.specs[generation - 1][1]]
        first = self.revisions[self.specs[0][1]]
        present = [p for p in self.pods if p.created_ns <= t_ns < p.gone_ns]
        ready = sum(p.ready_at(t_ns) for p in present)
        updated = sum(self.revision_of[p.uid] == update for p in present)
        done = updated == ready == self.replicas == len(present)
        current_revision = update if done else first
        current = sum(self.revision_of[p.uid] == current_revision for p in present)
        status: Json = {"observedGeneration": generation, "replicas": len(present)}
        if ready:
            status["readyReplicas"] = ready
        if current:
            status["currentReplicas"] = current
        if updated:
            status["updatedReplicas"] = updated
        status.update(
            {
                "currentRevision": current_revision,
                "updateRevision": update,
                "collisionCount": 0,
                "availableReplicas": ready,
            }
        )
        return status

    def body(self, t_ns: int, fields: ManagedFields, status: Json) -> Json:
        generation = self.generation_at(t_ns)
        return {
            "kind": "StatefulSet",
            "apiVersion": "apps/v1",
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "uid": self.uid,
                "resourceVersion": "",
                "generation": generation,
                "creationTimestamp": stamp(self.created_ns),
                "labels": {"app": self.name},
                "managedFields": fields.snapshot(),
            },
            "spec": {
                "replicas": self.replicas,
                "selector": {"matchLabels": {"app": self.name}},
                "template": self.template(self.specs[generation - 1][1], {"app": self.name}),
                "serviceName": self.name,
                "podManagementPolicy": "OrderedReady",
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
                "revisionHistoryLimit": 10,
                "persistentVolumeClaimRetentionPolicy": {
                    "whenDeleted": "Retain",
                    "whenScaled": "Retain",
                },
            },
            "status": status,
        }


class DaemonSet(Workload):
    """A DaemonSet: one pod per node, pinned by node affinity and scheduled by the scheduler;
    a rolling update (maxUnavailable 1) replaces them one node at a time."""

    kind = "DaemonSet"
    component = "daemonset-controller"

    def __init__(self, cluster: Cluster, t_ns: int, **kwargs: Any) -> None:
        super().__init__(cluster, t_ns, **kwargs)
        self.hashes = {self.image: cluster.suffix(10)}
        self.target: Node = cluster.nodes[0]
        self.revision_of: dict[str, str] = {}

    def pod_labels(self, pod_name: str) -> Json:
        return {
            "app": self.name,
            "controller-revision-hash": self.hashes[self.image],
            "pod-template-generation": str(len(self.hashes)),
        }

    def pod_spec_extras(self, pod_name: str) -> Json:
        term = {
            "matchFields": [
                {"key": "metadata.name", "operator": "In", "values": [self.target.name]}
            ]
        }
        return {
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}
                }
            }
        }

    def pod_tolerations(self) -> list[Json]:
        return list(DAEMON_TOLERATIONS)

    def _create_pod(self, node: Node, t_ns: int) -> Pod:
        self.target = node
        pod = Pod(self, t_ns)
        self.pods.append(pod)
        self.revision_of[pod.uid] = self.hashes[self.image]
        pod.create()
        self.event(t_ns + self.cluster.jitter(1, 4), "SuccessfulCreate", f"Created pod: {pod.name}")
        return pod

    def create(self) -> int:
        """A pod for every node (the shared pod control's slow start: 1, then 2...)."""
        cluster, t, batch, latest = self.cluster, self.created_ns, 1, 0
        t += cluster.jitter(5, 20)
        nodes = list(cluster.nodes)
        while nodes:
            for node in nodes[:batch]:
                pod = self._create_pod(node, t)
                latest = max(latest, self.start(pod, t, node))
                t += cluster.jitter(1, 4)
            nodes, batch = nodes[batch:], batch * 2
        return latest

    def apply_image(self, t_ns: int, image: str, conflict: str) -> int:
        """``kubectl apply`` of a new image: node by node, the old pod is deleted; its
        replacement is created once the old pod has stopped. On the first node the replacement
        comes before the old pod is gone, and the scheduler finds the host port still taken."""
        cluster = self.cluster
        self.specs.append((t_ns, image))
        self.use_image(image)
        self.hashes[image] = cluster.suffix(10)
        t = t_ns + cluster.jitter(5, 20)
        for n, node in enumerate(cluster.nodes):
            old = next(p for p in self.pods if p.node is node and p.deleted_ns == FOREVER)
            old.delete(t)
            self.event(t + cluster.jitter(1, 4), "SuccessfulDelete", f"Deleted pod: {old.name}")
            if n == 0:
                created = old.terminal_ns + cluster.jitter(3, 12)
                new = self._create_pod(node, created)
                tried = created + cluster.jitter(5, 15)
                cluster.scheduler_event(
                    tried, new.ref, "FailedScheduling", conflict, action="Scheduling", warning=True
                )
                new.unschedulable(tried + cluster.jitter(2, 10), conflict)
                ready = self.start(new, old.gone_ns, node)
            else:
                created = old.gone_ns + cluster.jitter(5, 30)
                new = self._create_pod(node, created)
                ready = self.start(new, created, node)
            t = ready + cluster.jitter(5, 30)
        return t

    def spec_fields(self, fields: ManagedFields, t_ns: int, index: int) -> None:
        ports = {
            'k:{"containerPort":9100,"protocol":"TCP"}': {
                ".": {},
                **_keys("containerPort", "hostPort"),
            }
        }
        spec = {"f:updateStrategy": {"f:rollingUpdate": {"f:maxUnavailable": {}}}}
        fields.set(
            "kubectl",
            t_ns,
            "apps/v1",
            _applied_fields(True, spec, {"f:ports": ports}),
            operation="Apply",
        )

    def status_at(self, t_ns: int) -> Json:
        generation = self.generation_at(t_ns)
        if not generation:
            return {
                "currentNumberScheduled": 0,
                "numberMisscheduled": 0,
                "desiredNumberScheduled": 0,
                "numberReady": 0,
            }
        update = self.hashes[self.specs[generation - 1][1]]
        alive, ready, _ = _pods_at(self.pods, t_ns)
        desired = len(self.cluster.nodes)
        status: Json = {
            "currentNumberScheduled": len({p.node.name for p in alive if p.node is not None}),
            "numberMisscheduled": 0,
            "desiredNumberScheduled": desired,
            "numberReady": ready,
            "observedGeneration": generation,
        }
        updated = sum(self.revision_of[p.uid] == update for p in alive)
        if updated:
            status["updatedNumberScheduled"] = updated
        if ready:
            status["numberAvailable"] = ready
        if desired - ready:
            status["numberUnavailable"] = desired - ready
        return status

    def body(self, t_ns: int, fields: ManagedFields, status: Json) -> Json:
        generation = self.generation_at(t_ns)
        image = self.specs[generation - 1][1]
        return {
            "kind": "DaemonSet",
            "apiVersion": "apps/v1",
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "uid": self.uid,
                "resourceVersion": "",
                "generation": generation,
                "creationTimestamp": stamp(self.created_ns),
                "labels": {"app": self.name},
                "annotations": {"deprecated.daemonset.template.generation": str(generation)},
                "managedFields": fields.snapshot(),
            },
            "spec": {
                "selector": {"matchLabels": {"app": self.name}},
                "template": self.template(image, {"app": self.name}),
                "updateStrategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0},
                },
                "revisionHistoryLimit": 10,
            },
            "status": status,
        }


class Job(Workload):
    """A Job of one completion: its pods (restartPolicy Never or OnFailure) carry the
    job-tracking finalizer until the controller has counted them."""

    kind = "Job"
    api_version = "batch/v1"
    component = "job-controller"
    COMPLETE = ("CompletionsReached", "Reached expected number of succeeded pods")
    BACKOFF = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")

    def __init__(
        self,
        cluster: Cluster,
        t_ns: int,
        *,
        backoff_limit: int = 6,
        cron: CronJob | None = None,
        scheduled_ns: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(cluster, t_ns, **kwargs)
        self.backoff_limit = backoff_limit
        self.cron, self.scheduled_ns = cron, scheduled_ns
        self.statuses: list[tuple[int, Json]] = []
        self.current: Json = {}
        self.conditions: list[Json] = []
        self.counts = {"active": 0, "succeeded": 0, "failed": 0, "ready": 0}
        self.start_time = ""
        self.completion_time = ""

    @property
    def labels(self) -> Json:
        return {
            "batch.kubernetes.io/controller-uid": self.uid,
            "batch.kubernetes.io/job-name": self.name,
            "controller-uid": self.uid,
            "job-name": self.name,
        }

    def pod_labels(self, pod_name: str) -> Json:
        return self.labels

    def pod_finalizers(self) -> list[str]:
        return ["batch.kubernetes.io/job-tracking"]

    # -- the job controller ----------------------------------------------------------------

    def _status(self, t_ns: int, uncounted: Json | None = None) -> None:
        """The controller writes the status it has now."""
        status: Json = {}
        if self.conditions:
            status["conditions"] = list(self.conditions)
        status["startTime"] = self.start_time
        if self.completion_time:
            status["completionTime"] = self.completion_time
        for key in ("active", "succeeded", "failed"):
            if self.counts[key]:
                status[key] = self.counts[key]
        status["terminating"] = 0
        status["uncountedTerminatedPods"] = uncounted or {}
        status["ready"] = self.counts["ready"]
        if status != self.current:
            self.current = status
            self.statuses.append((t_ns, status))

    def _condition(self, t_ns: int, kind: str, reason_message: tuple[str, str]) -> None:
        now = stamp(t_ns)
        self.conditions.append(
            {
                "type": kind,
                "status": "True",
                "lastProbeTime": now,
                "lastTransitionTime": now,
                "reason": reason_message[0],
                "message": reason_message[1],
            }
        )

    def run(self, outcome: Callable[[Pod, int], tuple[int, int]]) -> int:
        """Create pods until one succeeds or the back-off limit is passed. ``outcome(pod,
        ready)`` says when the pod's container exits and with which code. Returns when the Job
        finished."""
        cluster = self.cluster
        t = self.created_ns + cluster.jitter(5, 25)
        self.start_time = stamp(t)
        while True:
            pod = Pod(self, t)
            self.pods.append(pod)
            pod.create()
            self.event(t + cluster.jitter(1, 4), "SuccessfulCreate", f"Created pod: {pod.name}")
            self.counts["active"] = 1
            self._status(t + cluster.jitter(3, 12))
            node = cluster.nodes[len(self.pods) % len(cluster.nodes)]
            ready = self.start(pod, t, node)
            self.counts["ready"] = 1
            self._status(ready + cluster.jitter(3, 12))
            exited, code = outcome(pod, ready)
            pod.finish(exited, code)
            seen = pod.terminal_ns + cluster.jitter(3, 12)
            self.counts["active"] = self.counts["ready"] = 0
            key = "failed" if code else "succeeded"
            finished = code == 0 or self.counts["failed"] + 1 > self.backoff_limit
            if finished:
                kind = "FailureTarget" if code else "SuccessCriteriaMet"
                self._condition(seen, kind, self.BACKOFF if code else self.COMPLETE)
            self._status(seen, {key: [pod.uid]})
            pod.remove_finalizers(seen + cluster.jitter(2, 8))
            counted = seen + cluster.jitter(10, 30)
            self.counts[key] += 1
            if finished:
                kind = "Failed" if code else "Complete"
                self._condition(counted, kind, self.BACKOFF if code else self.COMPLETE)
                if not code:
                    self.completion_time = stamp(counted)
                self._status(counted)
                if code:
                    self.event(counted + cluster.jitter(1, 4), *self.BACKOFF, warning=True)
                else:
                    self.event(counted + cluster.jitter(1, 4), "Completed", "Job completed")
                return counted
            self._status(counted)
            # The pod failure back-off: 10 s, doubling with each failure, from the exit.
            t = exited + 10 * SECOND * 2 ** (self.counts["failed"] - 1) + cluster.jitter(5, 40)

    # -- writing ---------------------------------------------------------------------------

    def write_versions(self) -> None:
        api = self.cluster.api
        fields = ManagedFields()
        if self.cron is None:
            fields.set("kubectl-create", self.created_ns, "batch/v1", self._create_fields())
        else:
            fields.set(
                "kube-controller-manager", self.created_ns, "batch/v1", self._create_fields()
            )
        api.write(self.created_ns, "ADDED", self.body(self.created_ns, fields, {}))
        owned = frozenset({"FailureTarget", "Failed", "SuccessCriteriaMet", "Complete"})
        for t_ns, status in self.statuses:
            status_fields = _status_fields(status, owned_conditions=owned, owns_list=True)
            fields.set(
                "kube-controller-manager", t_ns, "batch/v1", {"f:status": status_fields}, "status"
            )
            api.write(t_ns, "MODIFIED", self.body(t_ns, fields, status))

    def _create_fields(self) -> Json:
        metadata: Json = {}
        if self.cron is not None:
            metadata["f:annotations"] = {
                ".": {},
                **_keys("batch.kubernetes.io/cronjob-scheduled-timestamp"),
            }
            metadata["f:ownerReferences"] = {".": {}, f'k:{{"uid":"{self.cron.uid}"}}': {}}
        template = _template_fields((), resources=self.resources, options=self.options)
        del template["f:metadata"]
        spec: Json = {
            **_keys("backoffLimit", "completionMode", "completions", "parallelism"),
            **_keys("podReplacementPolicy", "suspend"),
            "f:template": {"f:spec": template["f:spec"]},
        }
        fields: Json = {"f:spec": dict(sorted(spec.items()))}
        if metadata:
            fields = {"f:metadata": metadata, **fields}
        return fields

    def body(self, t_ns: int, fields: ManagedFields, status: Json) -> Json:
        metadata: Json = {
            "name": self.name,
            "namespace": self.namespace,
            "uid": self.uid,
            "resourceVersion": "",
            "generation": 1,
            "creationTimestamp": stamp(self.created_ns),
            "labels": self.labels,
        }
        if self.cron is not None:
            metadata["annotations"] = {
                "batch.kubernetes.io/cronjob-scheduled-timestamp": stamp(self.scheduled_ns)
            }
            metadata["ownerReferences"] = [self.cron.owner_ref]
        metadata["managedFields"] = fields.snapshot()
        spec: Json = {
            "parallelism": 1,
            "completions": 1,
            "backoffLimit": self.backoff_limit,
            "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": self.uid}},
        }
        spec.update(
            {
                "template": self.template(self.image, self.labels),
                "completionMode": "NonIndexed",
                "suspend": False,
                "podReplacementPolicy": "TerminatingOrFailed",
            }
        )
        return {
            "kind": "Job",
            "apiVersion": "batch/v1",
            "metadata": metadata,
            "spec": spec,
            "status": status,
        }


class CronJob:
    """A CronJob whose schedule fires: a Job per run, followed until it completes."""

    def __init__(
        self, cluster: Cluster, t_ns: int, *, namespace: str, name: str, image: str, schedule: str
    ) -> None:
        self.cluster = cluster
        self.namespace, self.name, self.image, self.schedule = namespace, name, image, schedule
        self.uid = cluster.uid()
        self.ref = Ref("CronJob", namespace, name, self.uid, "batch/v1")
        self.created_ns = t_ns
        self.options = PodOptions(restart_policy="OnFailure", exact_fields=True)
        self.jobs: list[Job] = []
        self.statuses: list[tuple[int, Json]] = []
        self.owner_ref = {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "name": name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }

    def event(self, t_ns: int, reason: str, message: str) -> None:
        self.cluster.controller_event(t_ns, self.ref, "cronjob-controller", reason, message)

    def fire(self, scheduled_ns: int, run_s: tuple[int, int]) -> int:
        """The schedule fires: the Job hello-<minutes since the epoch> runs one pod to
        completion. Returns when the CronJob saw it complete."""
        cluster = self.cluster
        created = scheduled_ns + cluster.jitter(5, 60)
        job = Job(
            cluster,
            created,
            namespace=self.namespace,
            name=f"{self.name}-{scheduled_ns // SECOND // 60}",
            image=self.image,
            options=self.options,
            cron=self,
            scheduled_ns=scheduled_ns,
        )
        self.jobs.append(job)
        self.event(created + cluster.jitter(1, 4), "SuccessfulCreate", f"Created job {job.name}")
        last = {"lastScheduleTime": stamp(scheduled_ns)}
        active = {
            "kind": "Job",
            "namespace": self.namespace,
            "name": job.name,
            "uid": job.uid,
            "apiVersion": "batch/v1",
            "resourceVersion": "",
        }
        self.statuses.append((created + cluster.jitter(3, 10), {"active": [active], **last}))

        def outcome(pod: Pod, ready: int) -> tuple[int, int]:
            return ready + cluster.rng.randint(*run_s) * MS, 0

        done = job.run(outcome)
        saw = done + cluster.jitter(5, 30)
        self.event(saw, "SawCompletedJob", f"Saw completed job: {job.name}, status: Complete")
        success = {"lastSuccessfulTime": job.completion_time}
        self.statuses.append((saw + cluster.jitter(1, 5), {**last, **success}))
        return saw

    def write_versions(self) -> None:
        api = self.cluster.api
        for job in self.jobs:
            job.write_versions()
        fields = ManagedFields()
        template = _template_fields((), options=self.options)
        del template["f:metadata"]
        create: Json = {
            "f:spec": {
                **_keys("concurrencyPolicy", "failedJobsHistoryLimit"),
                "f:jobTemplate": {
                    "f:metadata": {"f:name": {}},
                    "f:spec": {"f:template": {"f:spec": template["f:spec"]}},
                },
                **_keys("schedule", "successfulJobsHistoryLimit", "suspend"),
            }
        }
        fields.set("kubectl-create", self.created_ns, "batch/v1", create)
        api.write(self.created_ns, "ADDED", self.body(fields, {}))
        for t_ns, status in self.statuses:
            status_fields = {f"f:{key}": {} for key in sorted(status)}
            fields.set(
                "kube-controller-manager", t_ns, "batch/v1", {"f:status": status_fields}, "status"
            )
            api.write(t_ns, "MODIFIED", self.body(fields, status))

    def body(self, fields: ManagedFields, status: Json) -> Json:
        return {
            "kind": "CronJob",
            "apiVersion": "batch/v1",
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "uid": self.uid,
                "resourceVersion": "",
                "generation": 1,
                "creationTimestamp": stamp(self.created_ns),
                "managedFields": fields.snapshot(),
            },
            "spec": {
                "schedule": self.schedule,
                "concurrencyPolicy": "Allow",
                "suspend": False,
                "jobTemplate": {
                    "metadata": {"name": self.name},
                    "spec": {
                        "template": {
                            "metadata": {},
                            "spec": _template_spec(self.image, {}, self.options),
                        }
                    },
                },
                "successfulJobsHistoryLimit": 3,
                "failedJobsHistoryLimit": 1,
            },
            "status": status,
        }


class Autoscaler:
    """A HorizontalPodAutoscaler (autoscaling/v2) on a Deployment's CPU, as the controller
    syncs it every 15 s: it writes its status and, when the recommendation moves, the
    Deployment's /scale."""

    SYNC_NS = 15 * SECOND
    ACTIVE = (
        "ValidMetricFound",
        "the HPA was able to successfully calculate a replica count from cpu resource "
        "utilization (percentage of request)",
    )

    def __init__(
        self, cluster: Cluster, t_ns: int, dep: Deployment, *, target: int, low: int, high: int
    ) -> None:
        self.cluster, self.dep = cluster, dep
        self.namespace, self.name = dep.namespace, dep.name
        self.uid = cluster.uid()
        self.ref = Ref(
            "HorizontalPodAutoscaler", dep.namespace, dep.name, self.uid, "autoscaling/v2"
        )
        self.created_ns = t_ns
        self.target, self.low, self.high = target, low, high
        self.request_m = int(dep.resources["requests"]["cpu"].rstrip("m"))
        self.statuses: list[tuple[int, Json]] = []
        self.conditions: dict[str, Json] = {}
        self.last_scale = ""

    def _condition(self, t_ns: int, kind: str, status: str, reason: str, message: str) -> None:
        old = self.conditions.get(kind)
        since = old["lastTransitionTime"] if old and old["status"] == status else stamp(t_ns)
        self.conditions[kind] = {
            "type": kind,
            "status": status,
            "lastTransitionTime": since,
            "reason": reason,
            "message": message,
        }

    def sync(self, t_ns: int, utilization: int) -> int:
        """One sync with the pods' mean CPU utilization (percent of request). Returns the
        replica count it recommends (and scaled to)."""
        current = self.dep.replicas_at(t_ns)
        ratio = utilization / self.target
        desired = current if abs(ratio - 1) <= 0.1 else math.ceil(current * ratio)
        desired = max(self.low, min(self.high, desired))
        if desired != current:
            self.dep.scale(t_ns, desired)
            direction = "above" if desired > current else "below"
            self.cluster.controller_event(
                t_ns + self.cluster.jitter(1, 5),
                self.ref,
                "horizontal-pod-autoscaler",
                "SuccessfulRescale",
                f"New size: {desired}; reason: cpu resource utilization (percentage of request) "
                f"{direction} target",
            )
            self.last_scale = stamp(t_ns)
            able = (
                "SucceededRescale",
                f"the HPA controller was able to update the target scale to {desired}",
            )
        else:
            able = ("ReadyForNewScale", "recommended size matches current size")
        self._condition(t_ns, "AbleToScale", "True", *able)
        self._condition(t_ns, "ScalingActive", "True", *self.ACTIVE)
        self._condition(
            t_ns,
            "ScalingLimited",
            "False",
            "DesiredWithinRange",
            "the desired count is within the acceptable range",
        )
        status: Json = {}
        if self.last_scale:
            status["lastScaleTime"] = self.last_scale
        average = f"{self.request_m * utilization // 100}m"
        status.update(
            {
                "currentReplicas": current,
                "desiredReplicas": desired,
                "currentMetrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "current": {"averageValue": average, "averageUtilization": utilization},
                        },
                    }
                ],
                "conditions": [
                    self.conditions[kind]
                    for kind in ("AbleToScale", "ScalingActive", "ScalingLimited")
                ],
            }
        )
        self.statuses.append((t_ns + self.cluster.jitter(5, 30), status))
        return desired

    def write_versions(self) -> None:
        api = self.cluster.api
        fields = ManagedFields()
        spec_fields = {
            "f:spec": {
                **_keys("maxReplicas", "metrics", "minReplicas"),
                "f:scaleTargetRef": _keys("apiVersion", "kind", "name"),
            }
        }
        fields.set("kubectl-autoscale", self.created_ns, "autoscaling/v2", spec_fields)
        api.write(self.created_ns, "ADDED", self.body(fields, {"desiredReplicas": 0}))
        for t_ns, status in self.statuses:
            status_fields = _status_fields(
                status,
                owned_conditions=frozenset({"AbleToScale", "ScalingActive", "ScalingLimited"}),
                owns_list=True,
            )
            fields.set(
                "kube-controller-manager",
                t_ns,
                "autoscaling/v2",
                {"f:status": status_fields},
                "status",
            )
            api.write(t_ns, "MODIFIED", self.body(fields, status))

    def body(self, fields: ManagedFields, status: Json) -> Json:
        return {
            "kind": "HorizontalPodAutoscaler",
            "apiVersion": "autoscaling/v2",
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "uid": self.uid,
                "resourceVersion": "",
                "creationTimestamp": stamp(self.created_ns),
                "managedFields": fields.snapshot(),
            },
            "spec": {
                "scaleTargetRef": {
                    "kind": "Deployment",
                    "name": self.dep.name,
                    "apiVersion": "apps/v1",
                },
                "minReplicas": self.low,
                "maxReplicas": self.high,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": self.target},
                        },
                    }
                ],
            },
            "status": status,
        }


# -- scenarios -------------------------------------------------------------------------------


def _cluster_with_nodes(
    seed: int, nodes: int, *, cpu: str = "4", prefix: str = "worker", age_s: int = 0
) -> Cluster:
    """Nodes registered an hour before the recording starts, listed first. With ``age_s`` they
    registered that long ago and post their status from then on: the recording's initial list
    (``Cluster.initial_list``) then shows whatever happened before it started."""
    cluster = Cluster(seed)
    for index in range(nodes):
        created = START_NS - (age_s or 3600) * SECOND + index * 7 * SECOND
        cluster.add_node(created, f"{prefix}-{index}", cpu=cpu)
    if age_s:
        cluster.list_at = START_NS
        for node in cluster.nodes:
            node.next_tick_ns = node.created_ns + cluster.jitter(0, 10_000)
        return cluster
    for node in cluster.nodes:
        node.heartbeat_ns = START_NS - cluster.jitter(1000, 240_000)
        node.next_tick_ns = START_NS + cluster.jitter(0, 10_000)
    cluster.list_nodes(START_NS)
    return cluster


def rolling_update(
    *,
    deployments: int,
    replicas: int,
    seed: int = 1,
    namespace: str = "bench",
    nodes: int | None = None,
    max_surge: int | str = "25%",
    max_unavailable: int | str = "25%",
) -> tuple[Cluster, Iterator[Json]]:
    """``deployments`` Deployments of ``replicas`` pods, each created and then rolled to a new
    image (``kubectl set image``) 15-45 s later; each starts a fraction of a second after the
    one before. The rollout steps follow the strategy: the default (kubectl's 25 %) moves 10
    pods 3 up, 2 down, then one at a time as pods become ready; ``max_surge=1,
    max_unavailable=0`` moves them strictly one by one. Returns the cluster (for its stats)
    and the watch events, in time order, generated lazily so that a large capture never sits
    in memory."""
    node_count = nodes if nodes is not None else max(2, math.ceil(deployments * replicas / 80))
    cluster = _cluster_with_nodes(seed, node_count)

    def stream() -> Iterator[Json]:
        t_ns = START_NS + 5 * SECOND
        width = len(str(deployments - 1))
        for index in range(deployments):
            # Nothing planned from here on is earlier, and every image on a node before now
            # was pulled for a Deployment already planned.
            cluster.post_node_status(t_ns)
            yield from cluster.api.deliver(t_ns)
            name = f"app-{index:0{width}d}" if deployments > 1 else "web"
            image = f"registry.example/{name}"
            dep = Deployment(
                cluster,
                t_ns,
                namespace=namespace,
                name=name,
                replicas=replicas,
                image=f"{image}:1",
                max_surge=max_surge,
                max_unavailable=max_unavailable,
            )
            dep.create()
            dep.set_image(t_ns + cluster.jitter(15_000, 45_000), f"{image}:2")
            dep.write_versions()
            cluster.forget_events()
            t_ns += cluster.jitter(150, 550)
        cluster.post_node_status(cluster.api.last_ns())
        yield from cluster.api.deliver()

    return cluster, stream()


def crashloop(seed: int = 2) -> Cluster:
    """A Deployment whose container exits with code 1 after a few seconds, over and over."""
    cluster = _cluster_with_nodes(seed, 2)
    dep = Deployment(
        cluster,
        START_NS + 5 * SECOND,
        namespace="shop",
        name="checkout",
        replicas=1,
        image="registry.example/checkout:2.4.0",
    )

    def run(pod: Pod, t_ns: int) -> None:
        rng = cluster.rng
        bound = t_ns + cluster.jitter(8, 60)
        pod.bind(bound, rng.choice(cluster.nodes))
        ready = pod.run(bound)
        for delay in (0, 10, 20, 40):  # the kubelet's crash back-off, doubling from 10 s
            exited = ready + rng.randint(3000, 4500) * MS
            terminated = pod.exit(exited, 1)
            if delay == 0:
                ready = pod.restart(exited + cluster.jitter(80, 300), terminated)
                continue
            backoff = exited + cluster.jitter(20, 120)
            pod.back_off(backoff, delay, terminated)
            resync = backoff + rng.randint(11_000, 13_500) * MS
            restart = exited + (delay + rng.randint(2, 8)) * SECOND
            while resync < restart - SECOND:  # each sync while backing off says so again
                pod.back_off(resync, delay, terminated)
                resync += rng.randint(11_000, 13_500) * MS
            if delay == 40:
                break
            ready = pod.restart(restart, terminated)

    dep.create(run)
    dep.write_versions()
    return cluster


def image_pull_back_off(seed: int = 3) -> Cluster:
    """A Deployment whose image does not exist: Failed, ErrImagePull, BackOff, ImagePullBackOff."""
    cluster = _cluster_with_nodes(seed, 2)
    image = "registry.example/cart:v9-typo"
    dep = Deployment(
        cluster, START_NS + 5 * SECOND, namespace="shop", name="cart", replicas=1, image=image
    )
    error = (
        f'rpc error: code = NotFound desc = failed to pull and unpack image "{image}": failed to '
        f'resolve reference "{image}": {image}: not found'
    )

    def waiting(pod: Pod, t_ns: int, reason: str, message: str) -> None:
        state = {"waiting": {"reason": reason, "message": message}}
        pod.kubelet_status(t_ns, phase="Pending", state=state, ready=False)

    def run(pod: Pod, t_ns: int) -> None:
        rng = cluster.rng
        bound = t_ns + cluster.jitter(8, 60)
        pod.bind(bound, rng.choice(cluster.nodes))
        sync = pod.admit(bound + cluster.jitter(30, 200))
        delay, retry_at, attempts, back_offs = 10 * SECOND, sync, 0, 0
        while back_offs < 4:  # the kubelet's pod syncs: pull when the back-off has expired
            if sync >= retry_at and attempts < 3:
                attempts += 1
                pod.event(sync, "Pulling", f'Pulling image "{image}"')
                failed = sync + rng.randint(150, 900) * MS
                message = f'Failed to pull image "{image}": {error}'
                pod.event(failed, "Failed", message, warning=True)
                pod.event(
                    failed + cluster.jitter(1, 3), "Failed", "Error: ErrImagePull", warning=True
                )
                waiting(pod, failed + cluster.jitter(5, 30), "ErrImagePull", error)
                retry_at, delay = failed + delay, delay * 2  # image pull back-off: 10 s, 20 s...
                # The first failure is followed by a sync at once; later ones by the resync.
                sync = failed + (cluster.jitter(100, 900) if attempts == 1 else 0)
            else:
                back_offs += 1
                pod.event(sync, "BackOff", f'Back-off pulling image "{image}"')
                pod.event(
                    sync + cluster.jitter(1, 3), "Failed", "Error: ImagePullBackOff", warning=True
                )
                message = f'Back-off pulling image "{image}": ErrImagePull: {error}'
                waiting(pod, sync + cluster.jitter(5, 30), "ImagePullBackOff", message)
            if attempts > 1 or back_offs:
                sync += rng.randint(12_000, 15_000) * MS

    dep.create(run)
    dep.write_versions()
    return cluster


def failed_scheduling(seed: int = 4) -> Cluster:
    """A pod that fits no node (it asks for 2 CPUs, the nodes have 1): FailedScheduling,
    retried; a bigger node joins (NotReady and tainted first, then Ready) and the pod runs."""
    cluster = _cluster_with_nodes(seed, 2, cpu="1")
    t0 = START_NS + 5 * SECOND
    dep = Deployment(
        cluster,
        t0,
        namespace="shop",
        name="search",
        replicas=1,
        image="registry.example/search:7.1",
        resources={"requests": {"cpu": "2", "memory": "1Gi"}},
    )
    fits_none = (
        "0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: "
        "2 No preemption victims found for incoming pod."
    )
    tainted = (
        "0/3 nodes are available: 1 node(s) had untolerated taint(s), 2 Insufficient cpu. "
        "preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, "
        "2 No preemption victims found for incoming pod."
    )
    last_event = [0]

    def run(pod: Pod, t_ns: int) -> None:
        rng = cluster.rng

        def attempt(at: int, note: str) -> None:
            cluster.scheduler_event(
                at, pod.ref, "FailedScheduling", note, action="Scheduling", warning=True
            )
            if (
                not pod.status.get("conditions")
                or pod.status["conditions"][0].get("message") != note
            ):
                pod.unschedulable(at + cluster.jitter(2, 10), note)

        attempt(t_ns + cluster.jitter(10, 60), fits_none)
        # Nothing in the cluster changes: the unschedulable pods are retried every 5 minutes.
        flushed = t_ns + 5 * 60 * SECOND + cluster.jitter(100, 900)
        attempt(flushed, fits_none)
        # A bigger node registers (NotReady); the node controller taints it at once.
        joined = flushed + rng.randint(20, 40) * SECOND
        node = cluster.add_node(joined, "worker-2", cpu="8", ready=False)
        cluster.api.write(joined, "ADDED", node.body())
        node.set_taints(
            joined + cluster.jitter(20, 80),
            [{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}],
        )
        attempt(joined + cluster.jitter(1000, 1300), tainted)
        ready = joined + rng.randint(3000, 6000) * MS
        node.set_ready(ready)
        node.next_tick_ns = ready + Node.STATUS_TICK_NS
        untainted = ready + cluster.jitter(30, 150)
        node.set_taints(untainted, [])
        bound = untainted + cluster.jitter(20, 120)
        pod.bind(bound, node)
        last_event[0] = pod.run(bound)

    dep.create(run)
    dep.write_versions()
    # The events library's finishSeries tick, 6-12 minutes on: the series' final count.
    cluster.finish_series(last_event[0] + 8 * 60 * SECOND + cluster.jitter(0, 60_000))
    return cluster


def _settle(dep: Deployment) -> None:
    """Each ReplicaSet syncs its status whenever one of its pods changes, and so does the
    Deployment after it (pods replaced, evicted or made unready outside a rollout)."""
    for rs in dep.sets:
        rs.status_times += _life_times(rs.pods, dep.cluster)


def _on(cluster: Cluster, node: Node) -> Callable[[Pod, int], None]:
    """Run a new pod on the given node (the one the scheduler would pick)."""

    def run(pod: Pod, t_ns: int) -> None:
        bound = t_ns + cluster.jitter(8, 60)
        pod.bind(bound, node)
        pod.run(bound)

    return run


def _round_robin(cluster: Cluster, nodes: list[Node]) -> Callable[[Pod, int], None]:
    """Run each new pod on the next of the given nodes (the scheduler spreading them)."""
    order = iter(nodes)

    def run(pod: Pod, t_ns: int) -> None:
        _on(cluster, next(order))(pod, t_ns)

    return run


def _replace(dep: Deployment, t_ns: int, run_pod: Callable[[Pod, int], None]) -> Pod:
    """The replicaset controller replaces a pod it lost (deleted, evicted)."""
    cluster, rs = dep.cluster, dep.sets[-1]
    pod = Pod(rs, t_ns)
    rs.pods.append(pod)
    pod.create()
    cluster.controller_event(
        t_ns + cluster.jitter(1, 4),
        rs.ref,
        "replicaset-controller",
        "SuccessfulCreate",
        f"Created pod: {pod.name}",
    )
    run_pod(pod, t_ns)
    return pod


def statefulset_rollout(seed: int = 5) -> Cluster:
    """A StatefulSet of 3 (OrderedReady) created, then its image updated: pods re-created one
    by one under the same names, highest ordinal first."""
    cluster = _cluster_with_nodes(seed, 3, prefix="hollow-node")
    sts = StatefulSet(
        cluster,
        START_NS + 5 * SECOND,
        namespace="stateful",
        name="web",
        replicas=3,
        image="registry.example/web:1",
    )
    done = sts.create()
    sts.set_image(done + cluster.jitter(10_000, 20_000), "registry.example/web:2")
    sts.write_versions()
    return cluster


HOST_PORT_CONFLICT = (
    "0/3 nodes are available: 1 node(s) didn't have free ports for the requested pod ports, "
    "2 node(s) didn't satisfy plugin(s) [NodeAffinity]. preemption: 0/3 nodes are available: "
    "1 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling."
)


def daemonset_rollout(seed: int = 6) -> Cluster:
    """A DaemonSet with a host port, running on 3 nodes for two hours when the recording
    starts (it is in the initial list, its creation events expired), gets a new image: one
    node at a time (maxUnavailable 1); on the first node the new pod meets the old one's host
    port."""
    cluster = _cluster_with_nodes(seed, 3, prefix="hollow-node", age_s=3 * 3600)
    port = {"hostPort": 9100, "containerPort": 9100, "protocol": "TCP"}
    ds = DaemonSet(
        cluster,
        START_NS - 2 * 3600 * SECOND + cluster.jitter(0, 600_000),
        namespace="monitoring",
        name="node-agent",
        image="registry.example/node-agent:1.0",
        options=PodOptions(ports=(port,), exact_fields=True),
    )
    ds.create()
    cluster.post_node_status(START_NS)
    later = START_NS + cluster.jitter(15_000, 25_000)
    ds.apply_image(later, "registry.example/node-agent:1.1", HOST_PORT_CONFLICT)
    ds.write_versions()
    return cluster


def job_retries(seed: int = 7) -> Cluster:
    """A Job (backoffLimit 2) whose pod exits with 1: a new pod after 10 s, another after
    20 s, then BackoffLimitExceeded and the Job Failed."""
    cluster = _cluster_with_nodes(seed, 2, prefix="hollow-node")
    job = Job(
        cluster,
        START_NS + 5 * SECOND,
        namespace="batch",
        name="migrate",
        image="registry.example/migrate:3.2",
        backoff_limit=2,
        options=PodOptions(restart_policy="Never", exact_fields=True),
    )

    def outcome(pod: Pod, ready: int) -> tuple[int, int]:
        return ready + cluster.rng.randint(2000, 5000) * MS, 1

    job.run(outcome)
    job.write_versions()
    return cluster


def cronjob_run(seed: int = 8) -> Cluster:
    """A CronJob (every minute) fires twice: each run a Job whose pod completes."""
    cluster = _cluster_with_nodes(seed, 2, prefix="hollow-node")
    t0 = START_NS + 5 * SECOND
    cron = CronJob(
        cluster,
        t0,
        namespace="cron",
        name="hello",
        image="registry.example/hello:1.0",
        schedule="*/1 * * * *",
    )
    minute = 60 * SECOND
    first = (t0 // minute + 1) * minute
    for scheduled in (first, first + minute):
        cron.fire(scheduled, (1500, 4000))
    cron.write_versions()
    return cluster


def hpa_scale_up(seed: int = 9) -> Cluster:
    """A Deployment of 2 and its HorizontalPodAutoscaler (CPU 50 %): the load rises to 118 %,
    the autoscaler sets 5 replicas through /scale, the Deployment scales its ReplicaSet."""
    cluster = _cluster_with_nodes(seed, 2, prefix="hollow-node")
    t0 = START_NS + 5 * SECOND
    dep = Deployment(
        cluster,
        t0,
        namespace="autoscale",
        name="web",
        replicas=2,
        image="registry.example/web:3.0",
        resources={"requests": {"cpu": "200m"}},
        options=EXACT,
    )
    dep.create()
    hpa = Autoscaler(cluster, t0 + cluster.jitter(8000, 12_000), dep, target=50, low=2, high=10)
    t = hpa.created_ns + cluster.jitter(1000, 15_000)
    for utilization in (9, 11, 14, 118, 49, 47):
        hpa.sync(t, utilization)
        t += Autoscaler.SYNC_NS + cluster.jitter(0, 300)
    _settle(dep)
    dep.write_versions()
    hpa.write_versions()
    return cluster


def oomkilled_crashloop(seed: int = 10) -> Cluster:
    """A Deployment whose container (256Mi limit) is OOM-killed again and again."""
    cluster = _cluster_with_nodes(seed, 2, prefix="hollow-node")
    dep = Deployment(
        cluster,
        START_NS + 5 * SECOND,
        namespace="payments",
        name="ledger",
        replicas=1,
        image="registry.example/ledger:5.2",
        resources={"limits": {"memory": "256Mi"}},
        options=EXACT,
    )

    def run(pod: Pod, t_ns: int) -> None:
        rng = cluster.rng
        bound = t_ns + cluster.jitter(8, 60)
        pod.bind(bound, rng.choice(cluster.nodes))
        ready = pod.run(bound)
        for delay in (0, 10, 20, 40, 80):  # the kubelet's crash back-off, doubling from 10 s
            exited = ready + rng.randint(6000, 14_000) * MS
            terminated = pod.exit(exited, 137, "OOMKilled")
            if delay == 0:
                ready = pod.restart(exited + cluster.jitter(80, 300), terminated)
                continue
            backoff = exited + cluster.jitter(20, 120)
            pod.back_off(backoff, delay, terminated)
            resync = backoff + rng.randint(11_000, 13_500) * MS
            restart = exited + (delay + rng.randint(2, 8)) * SECOND
            while resync < restart - SECOND:
                pod.back_off(resync, delay, terminated)
                resync += rng.randint(11_000, 13_500) * MS
            if delay == 80:
                break
            ready = pod.restart(restart, terminated)

    dep.create(run)
    dep.write_versions()
    return cluster


EVICTION = (
    "The node was low on resource: memory. Threshold quantity: 100Mi, available: 92Mi. "
    "Container app was using 300Mi, request is 100Mi, has larger consumption of memory. "
)


def node_notready_eviction(seed: int = 11) -> Cluster:
    """hollow-node-2's kubelet goes silent: NotReady, its pod marked not ready, tainted, and
    after the 300 s toleration marked for deletion and replaced elsewhere; meanwhile
    hollow-node-1 runs low on memory and evicts a pod. hollow-node-2 comes back rebooted."""
    cluster = _cluster_with_nodes(seed, 3, prefix="hollow-node")
    n0, n1, n2 = cluster.nodes
    rng = cluster.rng
    t0 = START_NS + 5 * SECOND
    web = Deployment(
        cluster,
        t0,
        namespace="store",
        name="web",
        replicas=1,
        image="registry.example/web:4.1",
        resources={"requests": {"cpu": "100m", "memory": "64Mi"}},
        options=EXACT,
    )
    web.create(_on(cluster, n2))
    cache = Deployment(
        cluster,
        t0 + cluster.jitter(14_000, 18_000),
        namespace="store",
        name="cache",
        replicas=1,
        image="registry.example/cache:7.0",
        resources={"requests": {"memory": "100Mi"}},
        options=EXACT,
    )
    cache.create(_on(cluster, n1))

    # hollow-node-2's kubelet stops; 50 s without a lease renewal and the node controller
    # marks the node Unknown, its pods not ready, and taints it.
    stopped = t0 + 60 * SECOND + cluster.jitter(0, 2000)
    back = stopped + 520 * SECOND
    n2.down.append((stopped, back))
    silent = stopped + 50 * SECOND + cluster.jitter(0, 5000)
    cluster.post_node_status(silent)
    n2.mark_unknown(silent)
    cluster.node_event(
        silent + cluster.jitter(1, 5),
        n2,
        "NodeNotReady",
        f"Node {n2.name} status is now: NodeNotReady",
        component="node-controller",
    )
    lost = [p for p in web.sets[0].pods if p.node is n2]
    for pod in lost:
        marked = silent + cluster.jitter(10, 60)
        pod.mark_not_ready(marked)
        cluster.controller_event(
            marked + cluster.jitter(1, 4),
            pod.ref,
            "node-controller",
            "NodeNotReady",
            "Node is not ready",
            warning=True,
        )
    no_schedule = silent + cluster.jitter(60, 200)
    taint = {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"}
    n2.set_taints(no_schedule, [{**taint, "timeAdded": stamp(no_schedule)}])
    no_execute = no_schedule + cluster.jitter(20, 300)
    n2.set_taints(
        no_execute,
        [
            {**taint, "timeAdded": stamp(no_schedule)},
            {**taint, "effect": "NoExecute", "timeAdded": stamp(no_execute)},
        ],
    )

    # hollow-node-1 runs low on memory: the kubelet evicts the pod using the most beyond its
    # request; the replicaset controller replaces it on hollow-node-0.
    pressed = silent + rng.randint(35, 45) * SECOND
    cluster.post_node_status(pressed)
    n1.set_pressure(
        pressed,
        "MemoryPressure",
        "True",
        "KubeletHasInsufficientMemory",
        "kubelet has insufficient memory available",
    )
    cluster.node_event(
        pressed - cluster.jitter(1, 5),
        n1,
        "NodeHasInsufficientMemory",
        f"Node {n1.name} status is now: NodeHasInsufficientMemory",
    )
    tainted = pressed + cluster.jitter(40, 250)
    memory_taint = {"key": "node.kubernetes.io/memory-pressure", "effect": "NoSchedule"}
    n1.set_taints(tainted, [{**memory_taint, "timeAdded": stamp(tainted)}])
    victim = cache.sets[0].pods[0]
    usage = {"offending_containers": "app", "offending_containers_usage": "300Mi"}
    failed = victim.evict(
        pressed + cluster.jitter(300, 2500), EVICTION, {**usage, "starved_resource": "memory"}
    )
    _replace(cache, failed + cluster.jitter(5, 40), _on(cluster, n0))

    # 300 s after the NoExecute taint the taint-eviction controller deletes hollow-node-2's
    # pod (it cannot stop: the kubelet is away); the replicaset controller replaces it.
    for pod in lost:
        evicting = no_execute + 300 * SECOND + cluster.jitter(5, 300)
        involved = {"kind": "Pod", "namespace": pod.namespace, "name": pod.name, "apiVersion": "v1"}
        cluster.controller_event(
            evicting,
            pod.ref,
            "taint-eviction-controller",
            "TaintManagerEviction",
            f"Marking for deletion Pod {pod.namespace}/{pod.name}",
            involved=involved,
        )
        pod.add_foreign_condition(
            evicting + cluster.jitter(2, 10),
            "kube-controller-manager",
            {
                "type": "DisruptionTarget",
                "status": "True",
                "reason": "DeletionByTaintManager",
                "message": "Taint manager: deleting due to NoExecute taint",
            },
        )
        pod.mark_deleted(evicting + cluster.jitter(12, 30))
        _replace(web, pod.deleted_ns + cluster.jitter(5, 30), _on(cluster, n0))

    # The memory pressure ends (after the 5 minute transition period): condition and taint go.
    relieved = failed + 300 * SECOND + cluster.jitter(5000, 10_000)
    cluster.post_node_status(relieved)
    n1.set_pressure(
        relieved,
        "MemoryPressure",
        "False",
        "KubeletHasSufficientMemory",
        "kubelet has sufficient memory available",
    )
    cluster.node_event(
        relieved - cluster.jitter(1, 5),
        n1,
        "NodeHasSufficientMemory",
        f"Node {n1.name} status is now: NodeHasSufficientMemory",
    )
    n1.set_taints(relieved + cluster.jitter(40, 250), [])

    # hollow-node-2 comes back, rebooted: the kubelet starts, posts Ready, the taints go, and
    # the pod deleted meanwhile is finished off (its container did not survive the reboot).
    cluster.post_node_status(back)
    cluster.node_event(back, n2, "Starting", "Starting kubelet.")
    cluster.node_event(
        back + cluster.jitter(20, 80),
        n2,
        "NodeAllocatableEnforced",
        "Updated Node Allocatable limit across pods",
    )
    posted = back + cluster.jitter(900, 2000)
    boot_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    cluster.node_event(
        posted - cluster.jitter(5, 20),
        n2,
        "Rebooted",
        f"Node {n2.name} has been rebooted, boot id: {boot_id}",
        warning=True,
    )
    for reason in ("NodeHasSufficientMemory", "NodeHasNoDiskPressure", "NodeHasSufficientPID"):
        cluster.node_event(
            posted - cluster.jitter(1, 4), n2, reason, f"Node {n2.name} status is now: {reason}"
        )
    cluster.node_event(
        posted - cluster.jitter(0, 1), n2, "NodeReady", f"Node {n2.name} status is now: NodeReady"
    )
    n2.come_back(posted, boot_id)
    n2.set_taints(posted + cluster.jitter(40, 300), [])
    for pod in lost:
        pod.lost_with_node(posted + cluster.jitter(1500, 3000))
    _settle(web)
    _settle(cache)
    web.write_versions()
    cache.write_versions()
    return cluster


def failedmount_recovery(seed: int = 12) -> Cluster:
    """A pod whose Secret volume does not exist yet: FailedMount, retried with back-off, until
    the Secret is created; then the pod starts."""
    cluster = _cluster_with_nodes(seed, 2, prefix="hollow-node")
    secret = {"name": "config", "secret": {"secretName": "app-config", "defaultMode": 420}}
    mount = {"name": "config", "readOnly": True, "mountPath": "/etc/app"}
    dep = Deployment(
        cluster,
        START_NS + 5 * SECOND,
        namespace="web",
        name="frontend",
        replicas=1,
        image="registry.example/frontend:2.8",
        options=PodOptions(volumes=(secret,), mounts=(mount,), exact_fields=True),
    )

    def run(pod: Pod, t_ns: int) -> None:
        bound = t_ns + cluster.jitter(8, 60)
        pod.bind(bound, cluster.rng.choice(cluster.nodes))
        admitted = bound + cluster.jitter(30, 200)
        created = admitted + cluster.rng.randint(40, 55) * SECOND  # kubectl create secret
        error = 'secret "app-config" not found'
        sandbox = pod.admit_waiting_for_volume(admitted, "config", error, created)
        pod.start_container(pod.pull(sandbox + cluster.jitter(1, 5)))

    dep.create(run)
    dep.write_versions()
    return cluster


def preemption(seed: int = 13) -> Cluster:
    """Two low-priority pods fill both nodes; a high-priority pod does not fit: the scheduler
    preempts the one on hollow-node-1, binds the preemptor there once the victim is gone, and
    the victim's replacement finds no room (and no one it may preempt)."""
    cluster = _cluster_with_nodes(seed, 2, cpu="2", prefix="hollow-node")
    n1 = cluster.nodes[1]
    t0 = START_NS + 5 * SECOND
    low = Deployment(
        cluster,
        t0,
        namespace="shop",
        name="batch-worker",
        replicas=2,
        image="registry.example/batch-worker:1.4",
        resources={"requests": {"cpu": "1500m", "memory": "256Mi"}},
        options=PodOptions(priority_class="low-priority", priority=100, exact_fields=True),
    )
    low.create(_round_robin(cluster, cluster.nodes))
    high = Deployment(
        cluster,
        t0 + cluster.jitter(25_000, 35_000),
        namespace="shop",
        name="checkout",
        replicas=1,
        image="registry.example/checkout:2.5",
        resources={"requests": {"cpu": "1", "memory": "512Mi"}},
        options=PodOptions(priority_class="high-priority", priority=1_000_000, exact_fields=True),
    )
    no_fit = "0/2 nodes are available: 2 Insufficient cpu."
    no_victims = (
        f"{no_fit} preemption: 0/2 nodes are available: 2 No preemption victims found for "
        "incoming pod."
    )

    def run_preemptor(pod: Pod, t_ns: int) -> None:
        tried = t_ns + cluster.jitter(10, 40)
        cluster.scheduler_event(
            tried, pod.ref, "FailedScheduling", no_fit, action="Scheduling", warning=True
        )
        pod.unschedulable(tried + cluster.jitter(2, 8), no_fit, nominated=n1.name)
        victim = next(p for p in low.sets[0].pods if p.node is n1)
        patched = tried + cluster.jitter(3, 15)
        victim.add_foreign_condition(
            patched,
            "kube-scheduler",
            {
                "type": "DisruptionTarget",
                "status": "True",
                "reason": "PreemptionByScheduler",
                "message": "default-scheduler: preempting to accommodate a higher priority pod",
            },
        )
        victim.delete(patched + cluster.jitter(3, 12))
        cluster.scheduler_event(
            victim.deleted_ns + cluster.jitter(1, 5),
            victim.ref,
            "Preempted",
            f"Preempted by pod {pod.uid} on node {n1.name}",
            action="Preempting",
            related=pod.ref,
        )
        replacement = _replace(low, victim.deleted_ns + cluster.jitter(5, 30), lambda p, t: None)
        for retried in (replacement.created_ns + cluster.jitter(10, 40), victim.gone_ns):
            attempt = retried + cluster.jitter(200, 900)
            cluster.scheduler_event(
                attempt,
                replacement.ref,
                "FailedScheduling",
                no_victims,
                action="Scheduling",
                warning=True,
            )
            if attempt < victim.gone_ns:
                replacement.unschedulable(attempt + cluster.jitter(2, 8), no_victims)
        bound = victim.gone_ns + cluster.jitter(20, 120)
        pod.bind(bound, n1)
        pod.run(bound)

    high.create(run_preemptor)
    _settle(low)
    low.write_versions()
    high.write_versions()
    return cluster


def fast_rollout(seed: int = 14) -> Cluster:
    """A Deployment of 4 (maxSurge 1, maxUnavailable 1) set back to an image its nodes still
    hold: each new pod is ready within a second or two, so the rollout's scaling steps follow
    each other within seconds. The deployment controller's event broadcaster writes some of its
    ScalingReplicaSet Events after the pod creations and deletions they caused (same second,
    higher resourceVersion), while the step before was written at once; each ReplicaSet's
    spec.replicas is written when its step takes effect, before its pods are touched."""
    cluster = _cluster_with_nodes(seed, 3, prefix="hollow-node")
    t0 = START_NS + 5 * SECOND
    old_image, new_image = "registry.example/api:1.9", "registry.example/api:1.8"
    dep = Deployment(
        cluster,
        t0,
        namespace="shop",
        name="api",
        replicas=4,
        image=old_image,
        resources={"requests": {"cpu": "100m", "memory": "128Mi"}},
        max_surge=1,
        max_unavailable=1,
        options=EXACT,
    )
    # 1.8 ran here until this morning: every node still holds it.
    dep.digests[new_image] = _digest(cluster, new_image)
    for node in cluster.nodes:
        node.add_image(new_image, START_NS - 3 * 3600 * SECOND, *dep.digests[new_image])
    # In recording order: the creation's step, then the rollout's up 0->1, down 4->3 (at once),
    # up 1->2, down 3->2 (late), up 2->3 (at once), down 2->1 (late), up 3->4, down 1->0 (late).
    dep.late_events = (False, False, False, True, True, False, True, False, True)
    dep.create()
    dep.set_image(t0 + cluster.jitter(20_000, 30_000), new_image)
    dep.write_versions()
    return cluster


def _delete_finished(pod: Pod, t_ns: int) -> None:
    """A pod already Failed or Succeeded is deleted: nothing to stop, the kubelet confirms at
    once."""
    rng = pod.cluster.rng
    pod.mark_deleted(t_ns)
    gone = t_ns + rng.randint(20, 300) * MS
    pod.deletion = (stamp(gone), 0)
    pod._write(gone)
    pod.gone_ns = gone + rng.randint(1, 5) * MS
    pod._write(pod.gone_ns, "DELETED")


DB_EVICTION = (
    "The node was low on resource: memory. Threshold quantity: 100Mi, available: 81Mi. "
    "Container app was using 1480Mi, request is 512Mi, has larger consumption of memory. "
)


def statefulset_recreate(seed: int = 15) -> Cluster:
    """A StatefulSet db of 3 comes up in order; ``kubectl delete pod db-1``: the kubelet stops
    it and the controller creates db-1 again (new uid; its "Create Pod db-1" Event repeats with
    count 2). Then hollow-node-2 runs low on memory and evicts db-2 (Failed): the controller
    says it recreates the failed pod, deletes it and creates db-2 again on another node."""
    cluster = _cluster_with_nodes(seed, 3, prefix="hollow-node")
    n0, _, n2 = cluster.nodes
    rng = cluster.rng
    sts = StatefulSet(
        cluster,
        START_NS + 5 * SECOND,
        namespace="data",
        name="db",
        replicas=3,
        image="registry.example/db:16.4",
        resources={"requests": {"cpu": "250m", "memory": "512Mi"}},
    )
    done = sts.create()

    # kubectl delete pod db-1: a graceful delete; once it is gone the controller re-creates it.
    db1 = next(p for p in sts.pods if p.name == "db-1")
    db1.delete(done + cluster.jitter(15_000, 25_000))
    _, ready = sts._create_pod(1, db1.gone_ns + cluster.jitter(5, 30))

    # hollow-node-2 runs low on memory; the kubelet evicts db-2, which fails; the controller
    # deletes the failed pod and creates it again, on a node without memory pressure.
    pressed = ready + rng.randint(20, 40) * SECOND
    cluster.post_node_status(pressed)
    n2.set_pressure(
        pressed,
        "MemoryPressure",
        "True",
        "KubeletHasInsufficientMemory",
        "kubelet has insufficient memory available",
    )
    cluster.node_event(
        pressed - cluster.jitter(1, 5),
        n2,
        "NodeHasInsufficientMemory",
        f"Node {n2.name} status is now: NodeHasInsufficientMemory",
    )
    tainted = pressed + cluster.jitter(40, 250)
    memory_taint = {"key": "node.kubernetes.io/memory-pressure", "effect": "NoSchedule"}
    n2.set_taints(tainted, [{**memory_taint, "timeAdded": stamp(tainted)}])
    db2 = next(p for p in sts.pods if p.name == "db-2")
    usage = {"offending_containers": "app", "offending_containers_usage": "1480Mi"}
    failed = db2.evict(
        pressed + cluster.jitter(300, 2500), DB_EVICTION, {**usage, "starved_resource": "memory"}
    )
    seen = failed + cluster.jitter(5, 40)
    sts.event(
        seen,
        "RecreatingFailedPod",
        f"StatefulSet {sts.namespace}/{sts.name} is recreating failed Pod {db2.name}",
        warning=True,
    )
    deleting = seen + cluster.jitter(1, 5)
    _delete_finished(db2, deleting)
    sts.event(
        deleting + cluster.jitter(1, 4),
        "SuccessfulDelete",
        f"Delete Pod {db2.name} in StatefulSet {sts.name} successful",
    )
    sts._create_pod(2, db2.gone_ns + cluster.jitter(5, 30), node=n0)
    sts.write_versions()
    return cluster


READINESS_PROBE: Json = {
    "httpGet": {"path": "/ready", "port": 8080, "scheme": "HTTP"},
    "initialDelaySeconds": 10,
    "timeoutSeconds": 1,
    "periodSeconds": 10,
    "successThreshold": 1,
    "failureThreshold": 3,
}


def _slow_start(cluster: Cluster, warm_s: tuple[int, int]) -> Callable[[Pod, int], None]:
    """Run a pod whose application takes ``warm_s`` seconds to be ready: its readiness probe
    (every 10 s after 10 s) is refused until it listens, then answers 503 until it is warm;
    the kubelet's Unhealthy Events repeat with a rising count."""

    def run(pod: Pod, t_ns: int) -> None:
        rng = cluster.rng
        bound = t_ns + cluster.jitter(8, 60)
        pod.bind(bound, rng.choice(cluster.nodes))
        sandbox = pod.admit(bound + cluster.jitter(30, 200))
        pulled = pod.pull(sandbox + cluster.jitter(1, 5))
        running = pod.start_container(pulled, ready=False)
        warm = running + rng.randint(*warm_s) * SECOND
        listening = running + (warm - running) // 3
        refused = (
            f'Readiness probe failed: Get "http://{pod.ip}:8080/ready": dial tcp {pod.ip}:8080: '
            "connect: connection refused"
        )
        probe = running + 10 * SECOND + cluster.jitter(0, 900)
        while probe < warm:
            message = (
                refused
                if probe < listening
                else "Readiness probe failed: HTTP probe failed with statuscode: 503"
            )
            pod.event(probe, "Unhealthy", message, warning=True)
            probe += 10 * SECOND
        state = pod.status["containerStatuses"][0]["state"]
        pod.kubelet_status(probe + cluster.jitter(5, 40), phase="Running", state=state, ready=True)

    return run


def slow_rollout(seed: int = 16) -> Cluster:
    """A Deployment of 3 (maxSurge 1, maxUnavailable 0) running for two hours when the
    recording starts, whose pods need 1-3 minutes to pass their readiness probe, gets a new
    image: one new pod at a time, an old one removed only once it is ready; minutes of quiet
    between the acts while the status says ReplicaSetUpdated, then NewReplicaSetAvailable."""
    cluster = _cluster_with_nodes(seed, 3, prefix="hollow-node", age_s=3 * 3600)
    options = PodOptions(readiness_probe=READINESS_PROBE, exact_fields=True)
    dep = Deployment(
        cluster,
        START_NS - 2 * 3600 * SECOND + cluster.jitter(0, 600_000),
        namespace="search",
        name="indexer",
        replicas=3,
        image="registry.example/indexer:4.2",
        resources={"requests": {"cpu": "500m", "memory": "1Gi"}},
        max_surge=1,
        max_unavailable=0,
        options=options,
    )
    slow = _slow_start(cluster, (60, 180))
    dep.create(slow)
    dep.set_image(START_NS + cluster.jitter(15_000, 25_000), "registry.example/indexer:4.3", slow)
    dep.write_versions()
    return cluster


BIG_LISTING_NAMES = [
    "accounts",
    "api",
    "auth",
    "billing",
    "cart",
    "catalog",
    "checkout",
    "coupons",
    "currency",
    "delivery",
    "email",
    "frontend",
    "gateway",
    "geo",
    "images",
    "inventory",
    "invoices",
    "ledger",
    "loyalty",
    "mailer",
    "media",
    "notify",
    "orders",
    "payments",
    "pricing",
    "profile",
    "quotes",
    "ratings",
    "recommend",
    "refunds",
    "reports",
    "returns",
    "reviews",
    "search",
    "sessions",
    "shipping",
    "stock",
    "tax",
    "tracking",
    "users",
    "vouchers",
    "wishlist",
]


def big_listing(seed: int = 17) -> Cluster:
    """A recorder started on a busy cluster: 42 Deployments in three namespaces created over
    the last hour (some already rolled to a second image), listed first with their ReplicaSets,
    Pods and Events (more than 512 ADDED lines, in namespace/name order per resource); then the
    watch shows ``kubectl set image`` on shop/checkout and a new Deployment shop/promo."""
    cluster = _cluster_with_nodes(seed, 6, prefix="hollow-node", age_s=6 * 3600)
    rng = cluster.rng
    deployments: list[Deployment] = []
    t = START_NS - 58 * 60 * SECOND
    for index, name in enumerate(BIG_LISTING_NAMES):
        namespace = ("shop", "platform", "data")[index % 3]
        dep = Deployment(
            cluster,
            t,
            namespace=namespace,
            name=name,
            replicas=rng.choice((1, 1, 2)),
            image=f"registry.example/{name}:1.{rng.randint(0, 9)}",
            resources={"requests": {"cpu": "50m", "memory": "64Mi"}},
            options=EXACT,
        )
        dep.create()
        if index % 7 == 3:  # rolled to a new image a few minutes later
            dep.set_image(t + rng.randint(3, 8) * 60 * SECOND, f"{dep.image.rsplit('.', 1)[0]}.x")
        deployments.append(dep)
        cluster.forget_events()
        t += 75 * SECOND + cluster.jitter(0, 5000)
    checkout = next(d for d in deployments if d.name == "checkout")
    checkout.set_image(START_NS + cluster.jitter(10_000, 15_000), "registry.example/checkout:2.0")
    promo = Deployment(
        cluster,
        START_NS + cluster.jitter(40_000, 50_000),
        namespace="shop",
        name="promo",
        replicas=2,
        image="registry.example/promo:0.3",
        resources={"requests": {"cpu": "50m", "memory": "64Mi"}},
        options=EXACT,
    )
    promo.create()
    for dep in [*deployments, promo]:
        dep.write_versions()
    return cluster


def node_failure_replacements(seed: int = 18) -> Cluster:
    """hollow-node-3's kubelet goes silent: the node controller marks it Unknown (NodeNotReady)
    and its pods not ready, taints it; 300 s after the NoExecute taint the taint-eviction
    controller deletes its three pods and their ReplicaSets create replacements on the other
    nodes (no scaling step asked for them). Within the same second ``kubectl scale`` takes
    Deployment api from 3 to 5: its ReplicaSet's scale-up pods and its replacement mix."""
    cluster = _cluster_with_nodes(seed, 4, prefix="hollow-node")
    n0, n1, n2, n3 = cluster.nodes
    t0 = START_NS + 5 * SECOND

    def deployment(at: int, name: str, replicas: int, version: str) -> Deployment:
        return Deployment(
            cluster,
            at,
            namespace="shop",
            name=name,
            replicas=replicas,
            image=f"registry.example/{name}:{version}",
            resources={"requests": {"cpu": "200m", "memory": "128Mi"}},
            options=EXACT,
        )

    api = deployment(t0, "api", 3, "3.1")
    api.scale_manager = "kubectl"
    api.create(_round_robin(cluster, [n1, n2, n3]))
    web = deployment(t0 + cluster.jitter(6000, 9000), "web", 2, "5.0")
    web.create(_round_robin(cluster, [n3, n0]))
    worker = deployment(t0 + cluster.jitter(12_000, 16_000), "worker", 1, "1.2")
    worker.create(_on(cluster, n3))
    deployments = (api, web, worker)

    stopped = t0 + 45 * SECOND + cluster.jitter(0, 2000)
    n3.down.append((stopped, FOREVER))
    silent = stopped + 50 * SECOND + cluster.jitter(0, 5000)
    cluster.post_node_status(silent)
    n3.mark_unknown(silent)
    cluster.node_event(
        silent + cluster.jitter(1, 5),
        n3,
        "NodeNotReady",
        f"Node {n3.name} status is now: NodeNotReady",
        component="node-controller",
    )
    lost = [p for dep in deployments for p in dep.sets[0].pods if p.node is n3]
    for pod in lost:
        marked = silent + cluster.jitter(10, 60)
        pod.mark_not_ready(marked)
        cluster.controller_event(
            marked + cluster.jitter(1, 4),
            pod.ref,
            "node-controller",
            "NodeNotReady",
            "Node is not ready",
            warning=True,
        )
    no_schedule = silent + cluster.jitter(60, 200)
    taint = {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"}
    n3.set_taints(no_schedule, [{**taint, "timeAdded": stamp(no_schedule)}])
    no_execute = no_schedule + cluster.jitter(20, 300)
    n3.set_taints(
        no_execute,
        [
            {**taint, "timeAdded": stamp(no_schedule)},
            {**taint, "effect": "NoExecute", "timeAdded": stamp(no_execute)},
        ],
    )

    # The tolerations run out together: each pod marked for deletion and replaced elsewhere.
    due = no_execute + 300 * SECOND
    api.scale(due + cluster.jitter(50, 400), 5, _round_robin(cluster, [n0, n1]))
    elsewhere = _round_robin(cluster, [n2, n0, n1])
    owners = {id(p): dep for dep in deployments for p in dep.sets[0].pods}
    for pod in lost:
        evicting = due + cluster.jitter(5, 300)
        involved = {"kind": "Pod", "namespace": pod.namespace, "name": pod.name, "apiVersion": "v1"}
        cluster.controller_event(
            evicting,
            pod.ref,
            "taint-eviction-controller",
            "TaintManagerEviction",
            f"Marking for deletion Pod {pod.namespace}/{pod.name}",
            involved=involved,
        )
        pod.add_foreign_condition(
            evicting + cluster.jitter(2, 10),
            "kube-controller-manager",
            {
                "type": "DisruptionTarget",
                "status": "True",
                "reason": "DeletionByTaintManager",
                "message": "Taint manager: deleting due to NoExecute taint",
            },
        )
        pod.mark_deleted(evicting + cluster.jitter(12, 30))
        _replace(owners[id(pod)], pod.deleted_ns + cluster.jitter(5, 30), elsewhere)
    for dep in deployments:
        _settle(dep)
        dep.write_versions()
    return cluster


def kubectl_dump(values: list[Json]) -> str:
    """What ``kubectl get pods,replicasets,deployments,events -A -o json`` prints once the
    watch stream ``values`` has happened: the last version of every object not deleted,
    grouped by resource in the order asked, each sorted by namespace and name; kubectl hides
    managedFields and prints keys sorted, indented by four spaces."""
    latest: dict[str, tuple[str, Json]] = {}
    for value in values:
        body = value["object"]
        latest[body["metadata"]["uid"]] = (value["type"], body)
    items = []
    for kind in ("Pod", "ReplicaSet", "Deployment", "Event"):
        bodies = [b for t, b in latest.values() if b["kind"] == kind and t != "DELETED"]
        bodies.sort(key=lambda b: (b["metadata"]["namespace"], b["metadata"]["name"]))
        for body in bodies:
            metadata = {k: v for k, v in body["metadata"].items() if k != "managedFields"}
            items.append({**body, "metadata": metadata})
    listing = {
        "apiVersion": "v1",
        "items": items,
        "kind": "List",
        "metadata": {"resourceVersion": ""},
    }
    return json.dumps(listing, indent=4, sort_keys=True, ensure_ascii=False) + "\n"


SCENARIOS: tuple[tuple[str, Callable[[], Cluster]], ...] = (
    ("statefulset-rollout", statefulset_rollout),
    ("daemonset-rollout", daemonset_rollout),
    ("job-retries", job_retries),
    ("cronjob-run", cronjob_run),
    ("hpa-scale-up", hpa_scale_up),
    ("oomkilled-crashloop", oomkilled_crashloop),
    ("node-notready-eviction", node_notready_eviction),
    ("failedmount-recovery", failedmount_recovery),
    ("preemption", preemption),
    ("fast-rollout", fast_rollout),
    ("statefulset-recreate", statefulset_recreate),
    ("slow-rollout", slow_rollout),
    ("big-listing", big_listing),
    ("node-failure-replacements", node_failure_replacements),
)
"""The later captures, each one scenario of a 1.36 cluster (examples/captures/README.md)."""


# -- writing ---------------------------------------------------------------------------------


def write_capture(path: Path, events: Iterator[Json], stats: CaptureStats) -> CaptureStats:
    """Write watch events one per line, compact, as the real recordings are."""
    dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
    with path.open("w", encoding="utf-8") as out:
        for event in events:
            line = dumps(event) + "\n"
            stats.bytes += len(line)
            out.write(line)
    return stats


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_RESOURCE_VERSION = re.compile(r'"resourceVersion":"(\d+)"')


def write_burst_capture(
    path: Path,
    *,
    copies: int,
    deployments: int,
    replicas: int,
    seed: int = 1,
    namespace: str = "bench",
) -> CaptureStats:
    """The burst shape: one interleaved rollout of ``deployments`` Deployments of ``replicas``
    pods (``rolling_update``, in ``namespace``) copied into ``copies`` namespaces
    (``{namespace}-000`` ...), so that all of it is in flight at once, as a busy cluster or the
    recording of a large incident gives. Each namespaced watch event of the rollout is written
    ``copies`` times in a row, at the same time, with the namespace (and the scheduler's
    "ns/pod" in its messages), every uid and every resourceVersion rewritten: uids differ
    between copies, and resourceVersions (an object's own, and an Event's reference to its
    object's) increase down the file as one API server's would. Nodes (cluster-scoped, one set
    sized for all the copies' pods) are written once; their pods come from every namespace.
    The lines are rewritten as text, not re-encoded: a large capture is written in seconds."""
    node_count = max(2, math.ceil(deployments * replicas * copies / 80))
    _, stream = rolling_update(
        deployments=deployments, replicas=replicas, seed=seed, namespace=namespace, nodes=node_count
    )
    dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
    width = len(str(copies - 1))
    names = [f"{namespace}-{copy:0{width}d}" for copy in range(copies)]
    cluster_uids: set[str] = set()  # the Nodes': the same in every copy
    first_rv: dict[str, tuple[int, bool]] = {}  # base resourceVersion -> (first new one, copied)
    copy = 0

    def new_rv(match: re.Match[str]) -> str:
        new, copied = first_rv[match.group(1)]
        return f'"resourceVersion":"{new + copy if copied else new}"'

    def new_uid(match: re.Match[str]) -> str:
        return copy_uid(match.group(0))

    def copy_uid(uid: str) -> str:
        # The first 8 hex digits xor-ed with a mask per copy: distinct in every copy.
        if uid in cluster_uids:
            return uid
        return f"{int(uid[:8], 16) ^ ((copy * 0x9E3779B1) & 0xFFFFFFFF):08x}{uid[8:]}"

    next_rv = 1001
    stats = CaptureStats()
    with path.open("w", encoding="utf-8") as out:
        for value in stream:
            metadata = value["object"]["metadata"]
            line = dumps(value) + "\n"
            if "namespace" not in metadata:
                first_rv[metadata["resourceVersion"]] = (next_rv, False)
                cluster_uids.add(metadata["uid"])
                stats.object_uids.add(metadata["uid"])
                lines = [_RESOURCE_VERSION.sub(new_rv, line)]
                next_rv += 1
            else:
                first_rv[metadata["resourceVersion"]] = (next_rv, True)
                # A JSON text holds no raw NUL: a safe mark for the namespace.
                line = line.replace(f'"namespace":"{namespace}"', '"namespace":"\0"')
                line = line.replace(f" {namespace}/", " \0/")
                lines = []
                is_event = value["object"]["kind"] == "Event"
                for copy in range(copies):
                    text = line.replace("\0", names[copy])
                    lines.append(_UUID.sub(new_uid, _RESOURCE_VERSION.sub(new_rv, text)))
                    uids = stats.event_uids if is_event else stats.object_uids
                    uids.add(copy_uid(metadata["uid"]))
                    if is_event and value["type"] != "DELETED":
                        stats.event_writes += 1
                next_rv += copies
            for text in lines:
                stats.values += 1
                stats.bytes += len(text)
                out.write(text)
    return stats


def write_examples(directory: Path = EXAMPLES_DIR) -> list[tuple[Path, CaptureStats]]:
    """Rewrite the example captures, deterministically."""
    written = []
    cluster, stream = rolling_update(deployments=1, replicas=2, seed=1, namespace="shop", nodes=2)
    path = directory / "rolling-update.jsonl"
    written.append((path, write_capture(path, stream, cluster.api.stats)))
    for name, make in (
        ("crashloop", crashloop),
        ("imagepullbackoff", image_pull_back_off),
        ("failedscheduling", failed_scheduling),
    ):
        cluster = make()
        cluster.post_node_status(cluster.api.last_ns())
        path = directory / f"{name}.jsonl"
        written.append((path, write_capture(path, cluster.api.deliver(), cluster.api.stats)))
    for name, make in SCENARIOS:
        cluster = make()
        cluster.finish_series(cluster.api.last_ns() + 6 * 60 * SECOND)
        cluster.post_node_status(cluster.api.last_ns())
        values = [] if cluster.list_at is None else cluster.initial_list(cluster.list_at)
        values += cluster.api.deliver()
        path = directory / f"{name}.jsonl"
        written.append((path, write_capture(path, iter(values), CaptureStats(len(values)))))
        if name == "oomkilled-crashloop":
            dump = directory / "dumps" / "crashloop-dump.json"
            dump.parent.mkdir(exist_ok=True)
            dump.write_text(kubectl_dump(values), encoding="utf-8")
    return written


def _int_or_percent(text: str) -> int | str:
    return text if text.endswith("%") else int(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("examples", help="rewrite examples/captures/* (captures and the dump)")
    rollout = commands.add_parser("rollout", help="write a large rolling-update capture")
    rollout.add_argument("out", type=Path)
    rollout.add_argument("--deployments", type=int, default=1000)
    rollout.add_argument("--replicas", type=int, default=10)
    rollout.add_argument("--seed", type=int, default=1)
    for flag in ("--max-surge", "--max-unavailable"):
        rollout.add_argument(flag, type=_int_or_percent, default="25%")
    burst = commands.add_parser("burst", help="write a large burst-shaped capture")
    burst.add_argument("out", type=Path)
    burst.add_argument("--copies", type=int, default=50, help="namespaces (50)")
    burst.add_argument("--deployments", type=int, default=20, help="per namespace (20)")
    burst.add_argument("--replicas", type=int, default=10)
    burst.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.command == "burst":
        stats = write_burst_capture(
            args.out,
            copies=args.copies,
            deployments=args.deployments,
            replicas=args.replicas,
            seed=args.seed,
        )
        print(f"{args.out}: {stats.values} values, {stats.bytes} bytes")
        return 0
    if args.command == "examples":
        for path, stats in write_examples():
            print(f"{path}: {stats.values} values, {stats.bytes} bytes")
        return 0
    cluster, stream = rolling_update(
        deployments=args.deployments,
        replicas=args.replicas,
        seed=args.seed,
        max_surge=args.max_surge,
        max_unavailable=args.max_unavailable,
    )
    stats = write_capture(args.out, stream, cluster.api.stats)
    print(f"{args.out}: {stats.values} values, {stats.bytes} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
