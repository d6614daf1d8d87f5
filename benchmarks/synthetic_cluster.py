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
scheduler and the kubelet (image cache, container restarts and back-off) to write them.

    python benchmarks/synthetic_cluster.py examples              # rewrite examples/captures/*.jsonl
    python benchmarks/synthetic_cluster.py rollout OUT.jsonl --deployments 1000 --replicas 10
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import random
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
            if body["kind"] == "Event":
                involved = body["involvedObject"]
                if not involved["resourceVersion"]:
                    involved["resourceVersion"] = self._current_rv.get(involved["uid"], "")
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
        self, manager: str, t_ns: int, api_version: str, fields: Json, subresource: str = ""
    ) -> None:
        entry: Json = {
            "manager": manager,
            "operation": "Update",
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

    def post_status(self, until_ns: int) -> None:
        """The kubelet's status loop up to until_ns: it posts when the status changed (a newly
        pulled image) and re-posts an unchanged one every 5 minutes."""
        while self.next_tick_ns < until_ns:
            tick = self.next_tick_ns
            self.next_tick_ns += self.STATUS_TICK_NS
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
        conditions: list[Json] = [
            {
                "type": kind,
                "status": "False",
                "lastHeartbeatTime": heartbeat,
                "lastTransitionTime": since,
                "reason": reason,
                "message": message,
            }
            for kind, reason, message in pressure
        ]
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


def _container(image: str, resources: Json, mount: str | None) -> Json:
    container: Json = {"name": CONTAINER, "image": image, "resources": resources}
    if mount is not None:
        container["volumeMounts"] = [{"name": mount, "readOnly": True, "mountPath": SA_MOUNT}]
    container["terminationMessagePath"] = "/dev/termination-log"
    container["terminationMessagePolicy"] = "File"
    container["imagePullPolicy"] = "IfNotPresent"
    return container


def _template_spec(image: str, resources: Json) -> Json:
    return {
        "containers": [_container(image, resources, None)],
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst",
        "securityContext": {},
        "schedulerName": "default-scheduler",
    }


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


def _template_fields(labels: tuple[str, ...], *, image: bool = True) -> Json:
    container = dict(_CONTAINER_FIELDS)
    if not image:
        del container["f:image"]
    return {
        "f:metadata": {"f:labels": {".": {}, **_keys(*labels)}},
        "f:spec": {
            "f:containers": {f'k:{{"name":"{CONTAINER}"}}': {".": {}, **container}},
            **_TEMPLATE_SPEC_FIELDS,
        },
    }


class Pod:
    """One Pod of a ReplicaSet: the bodies the API server stores as the controllers, the
    scheduler and the kubelet write them."""

    def __init__(self, rs: ReplicaSet, t_ns: int) -> None:
        cluster = rs.cluster
        self.cluster, self.rs = cluster, rs
        self.name = f"{rs.name}-{cluster.suffix(5)}"
        self.uid = cluster.uid()
        self.namespace = rs.namespace
        self.ref = Ref("Pod", self.namespace, self.name, self.uid, "v1")
        self.image = rs.image
        self.created_ns = t_ns
        self.generation = 1
        self.deletion: tuple[str, int] | None = None
        self.node: Node | None = None
        self.ready: list[list[int]] = []  # [since, until) intervals of readiness
        self.deleted_ns = FOREVER  # when the deletion was asked for
        self.gone_ns = FOREVER  # when the object went away
        self.fields = ManagedFields()
        self.fields.set(
            "kube-controller-manager",
            t_ns,
            "v1",
            {
                "f:metadata": {
                    "f:generateName": {},
                    "f:labels": {".": {}, **_keys("app", "pod-template-hash")},
                    "f:ownerReferences": {".": {}, f'k:{{"uid":"{rs.uid}"}}': {}},
                },
                "f:spec": {
                    "f:containers": {f'k:{{"name":"{CONTAINER}"}}': {".": {}, **_CONTAINER_FIELDS}},
                    **_keys(
                        "dnsPolicy",
                        "enableServiceLinks",
                        "restartPolicy",
                        "schedulerName",
                        "securityContext",
                        "terminationGracePeriodSeconds",
                    ),
                },
            },
        )
        self.volume = f"kube-api-access-{cluster.suffix(5)}"
        self.qos = "Burstable" if rs.resources else "BestEffort"
        self._spec = self._make_spec(None)
        self.status: Json = {"phase": "Pending", "qosClass": self.qos}
        self._conditions: dict[str, Json] = {}
        self.ip = ""
        self.container_id = ""
        self.restarts = 0
        self.started_at = ""
        self.last_state: Json = {}

    def _make_spec(self, node: str | None) -> Json:
        spec: Json = {
            "volumes": [
                {
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
            ],
            "containers": [_container(self.image, self.rs.resources, self.volume)],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default",
            "serviceAccount": "default",
        }
        if node is not None:
            spec["nodeName"] = node
        spec.update(
            {
                "securityContext": {},
                "schedulerName": "default-scheduler",
                "tolerations": [
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
                ],
                "priority": 0,
                "enableServiceLinks": True,
                "preemptionPolicy": "PreemptLowerPriority",
            }
        )
        return spec

    def body(self) -> Json:
        metadata: Json = {
            "name": self.name,
            "generateName": f"{self.rs.name}-",
            "namespace": self.namespace,
            "uid": self.uid,
            "resourceVersion": "",
            "generation": self.generation,
            "creationTimestamp": stamp(self.created_ns),
        }
        if self.deletion is not None:
            metadata["deletionTimestamp"], metadata["deletionGracePeriodSeconds"] = self.deletion
        metadata["labels"] = {"app": self.rs.app, "pod-template-hash": self.rs.hash}
        metadata["ownerReferences"] = [self.rs.owner_ref]
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

    def unschedulable(self, t_ns: int, message: str) -> None:
        """The scheduler's status update after a failed attempt (PodScheduled False)."""
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
            "qosClass": self.qos,
        }
        self.fields.set(
            "kube-scheduler",
            t_ns,
            "v1",
            {
                "f:status": {
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
            },
            "status",
        )
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
        elif phase == "Succeeded":
            for kind in ("Ready", "ContainersReady"):
                self._set_condition(kind, "False", t_ns, "PodCompleted")
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
            "imageID": self.rs.image_id if self.container_id else "",
        }
        if self.container_id:
            container["containerID"] = self.container_id
            container["resources"] = {}
        container["volumeMounts"] = [
            {
                "name": self.volume,
                "mountPath": SA_MOUNT,
                "readOnly": True,
                "recursiveReadOnly": "Disabled",
            }
        ]
        status: Json = {"observedGeneration": self.generation, "phase": phase}
        status["conditions"] = [
            self._conditions[kind]
            for kind in (
                "PodReadyToStartContainers",
                "Initialized",
                "Ready",
                "ContainersReady",
                "PodScheduled",
            )
        ]
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
        owned = frozenset({"PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady"})
        fields = _status_fields(
            {k: v for k, v in status.items() if k != "phase" or v != "Pending"},
            owned_conditions=owned,
        )
        self.fields.set("kubelet", t_ns, "v1", {"f:status": fields}, "status")
        self._write(t_ns)
        if ready and (not self.ready or self.ready[-1][1] != FOREVER):
            self.ready.append([t_ns, FOREVER])
        elif not ready and self.ready and self.ready[-1][1] == FOREVER:
            self.ready[-1][1] = t_ns

    def event(self, t_ns: int, reason: str, message: str, warning: bool = False) -> None:
        assert self.node is not None
        self.cluster.kubelet_event(t_ns, self, reason, message, warning=warning)

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
            self.node.add_image(image, done, self.rs.image_id, self.rs.image_size)
        self.event(
            done,
            "Pulled",
            f'Successfully pulled image "{image}" in {go_duration(own)} '
            f"({go_duration(done - t_ns)} including waiting). Image size: {self.rs.image_size} "
            "bytes.",
        )
        return done

    def start_container(self, t_ns: int) -> int:
        """Created, Started, and the running status. Returns when the pod is ready."""
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
        self.kubelet_status(running, phase="Running", state=state, ready=True)
        return running

    def run(self, t_ns: int) -> int:
        """From binding to ready: the kubelet's whole start. Returns when the pod is ready."""
        sandbox = self.admit(t_ns + self.cluster.jitter(30, 200))
        pulled = self.pull(sandbox + self.cluster.jitter(1, 5))
        return self.start_container(pulled)

    def exit(self, t_ns: int, code: int) -> Json:
        """The container exits on its own (a crash): returns its terminated state."""
        rng = self.cluster.rng
        state = {
            "terminated": {
                "exitCode": code,
                "reason": "Error" if code else "Completed",
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

    def delete(self, t_ns: int) -> None:
        """The replicaset controller deletes the pod (30 s grace); the kubelet stops it."""
        rng = self.cluster.rng
        self.generation = 2
        self.deleted_ns = t_ns
        self.deletion = (stamp(t_ns + 30 * SECOND), 30)
        self._write(t_ns)
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

    def ready_at(self, t_ns: int) -> bool:
        return t_ns < self.deleted_ns and any(a <= t_ns < b for a, b in self.ready)


class ReplicaSet:
    def __init__(self, dep: Deployment, t_ns: int, replicas: int, revision: int) -> None:
        cluster = dep.cluster
        self.cluster, self.dep = cluster, dep
        self.namespace, self.app = dep.namespace, dep.name
        self.hash = cluster.suffix(cluster.rng.choice((9, 10)))
        self.name = f"{dep.name}-{self.hash}"
        self.uid = cluster.uid()
        self.ref = Ref("ReplicaSet", self.namespace, self.name, self.uid, "apps/v1")
        self.image, self.resources = dep.image, dep.resources
        self.image_id = f"{dep.image.rsplit(':', 1)[0]}@sha256:{cluster.rng.getrandbits(256):064x}"
        self.image_size = cluster.rng.randint(4_000_000, 180_000_000)
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
            "spec": _template_spec(self.image, self.resources),
        }
        self.selector = {"matchLabels": labels}

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
                            "f:template": _template_fields(("app", "pod-template-hash")),
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
                        "deployment.kubernetes.io/desired-replicas": str(dep.replicas),
                        "deployment.kubernetes.io/max-replicas": str(dep.replicas + dep.surge),
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
    ) -> None:
        self.cluster = cluster
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
        self.sets: list[ReplicaSet] = []
        self.revisions: list[tuple[int, int]] = []  # (when, revision annotation)
        self.status_times: list[int] = []
        self.owner_ref = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }

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

    def set_image(self, t_ns: int, image: str) -> None:
        """``kubectl set image``: generation 2 and a rolling update to a new ReplicaSet."""
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
                self._create_pods(new_rs, t + cluster.jitter(2, 10), up, None)
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

    def _scaling_event(self, t_ns: int, way: str, rs: ReplicaSet, before: int, after: int) -> None:
        self.cluster.controller_event(
            t_ns,
            self.ref,
            "deployment-controller",
            "ScalingReplicaSet",
            f"Scaled {way} replica set {rs.name} from {before} to {after}",
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
        status: Json = {}
        conditions: dict[str, Json] = {}
        seen: tuple[int, tuple[int, int, int, int, str]] | None = None
        for t_ns, what in sorted(moments):
            generation = sum(1 for when, _ in self.specs if when <= t_ns)
            image = self.specs[generation - 1][1]
            revision = max((r for when, r in self.revisions if when <= t_ns), default=0)
            if what == 0:
                fields.set("kubectl-create", self.created_ns, "apps/v1", self._create_fields(False))
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
            api.write(t_ns, "MODIFIED", self._body(generation, image, revision, fields, status))

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
        complete = updated == self.replicas == alive == ready and not terminating
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
        if ready >= self.replicas - self.unavailable:
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
        if self.replicas - ready > 0:
            status["unavailableReplicas"] = self.replicas - ready
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

    def _create_fields(self, image: bool) -> Json:
        return {
            "f:metadata": {"f:labels": {".": {}, **_keys("app")}},
            "f:spec": {
                **_keys("progressDeadlineSeconds", "replicas", "revisionHistoryLimit", "selector"),
                "f:strategy": {
                    "f:rollingUpdate": {".": {}, **_keys("maxSurge", "maxUnavailable")},
                    "f:type": {},
                },
                "f:template": _template_fields(("app",), image=image),
            },
        }

    def _body(
        self, generation: int, image: str, revision: int, fields: ManagedFields, status: Json
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
                "replicas": self.replicas,
                "selector": {"matchLabels": {"app": self.name}},
                "template": {
                    "metadata": {"labels": {"app": self.name}},
                    "spec": _template_spec(image, self.resources),
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
        self, t_ns: int, ref: Ref, component: str, reason: str, message: str
    ) -> None:
        source = {"component": component}
        self._core_event(t_ns, ref, reason, message, source=source, field_path="", warning=False)

    def kubelet_event(
        self, t_ns: int, pod: Pod, reason: str, message: str, *, warning: bool = False
    ) -> None:
        assert pod.node is not None
        source = {"component": "kubelet", "host": pod.node.name}
        path = f"spec.containers{{{CONTAINER}}}"
        self._core_event(
            t_ns, pod.ref, reason, message, source=source, field_path=path, warning=warning
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
    ) -> None:
        """Record through the core/v1 correlator: a repeat is the same Event with count + 1."""
        type_ = "Warning" if warning else "Normal"
        key = (ref.uid, field_path, reason, message, type_, *source.values())
        written = t_ns + self.jitter(1, 6)
        event = self._core_events.get(key)
        if event is None:
            involved: Json = {
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
        body: Json = {
            "kind": "Event",
            "apiVersion": "v1",
            "metadata": {
                "name": event.name,
                "namespace": ref.namespace,
                "uid": event.uid,
                "resourceVersion": "",
                "creationTimestamp": event.created,
                "managedFields": [
                    {
                        "manager": "kubelet" if kubelet else "kube-controller-manager",
                        "operation": "Update",
                        "apiVersion": "v1",
                        "time": stamp(written),
                        "fieldsType": "FieldsV1",
                        "fieldsV1": _KUBELET_EVENT_FIELDS if kubelet else _CONTROLLER_EVENT_FIELDS,
                    }
                ],
            },
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
        self, t_ns: int, ref: Ref, reason: str, note: str, *, action: str, warning: bool = False
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
                        "fieldsV1": _SCHEDULER_EVENT_FIELDS,
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


# -- scenarios -------------------------------------------------------------------------------


def _cluster_with_nodes(seed: int, nodes: int, *, cpu: str = "4") -> Cluster:
    cluster = Cluster(seed)
    for index in range(nodes):
        cluster.add_node(START_NS - 3600 * SECOND + index * 7 * SECOND, f"worker-{index}", cpu=cpu)
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
    return written


def _int_or_percent(text: str) -> int | str:
    return text if text.endswith("%") else int(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("examples", help="rewrite examples/captures/*.jsonl")
    rollout = commands.add_parser("rollout", help="write a large rolling-update capture")
    rollout.add_argument("out", type=Path)
    rollout.add_argument("--deployments", type=int, default=1000)
    rollout.add_argument("--replicas", type=int, default=10)
    rollout.add_argument("--seed", type=int, default=1)
    for flag in ("--max-surge", "--max-unavailable"):
        rollout.add_argument(flag, type=_int_or_percent, default="25%")
    args = parser.parse_args(argv)
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
