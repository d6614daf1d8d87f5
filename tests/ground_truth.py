"""The causes controllers state in their own messages: ground truth from a capture alone.

An Event whose message names a child is the cause of that child's Events:

- ``Scaled up/down replica set R from A to B`` (a Deployment) causes R's pod creations or
  deletions, at most |B - A| of them;
- ``Created pod: X`` / ``Deleted pod: X`` (a ReplicaSet, a Job, a DaemonSet) and ``create/delete
  Pod X in StatefulSet S successful`` cause X's Events;
- ``Created job J`` (a CronJob) causes J's ``SuccessfulCreate``.

When a Deployment scaled one ReplicaSet several times, which step caused a pod creation is
decided by write order: the step whose target is the ReplicaSet's ``spec.replicas`` in force
just before the act was written (resourceVersion against the ReplicaSet's history), else the
step nearest in time; a step causes no more acts than its size (further acts replace lost pods).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from tests.input_forms import Value, event_last_time, seconds

NAMERS: tuple[tuple[str, re.Pattern[str], str, str], ...] = (
    # (reason, message naming the child, the child's kind, relation)
    ("ScalingReplicaSet", re.compile(r"Scaled up replica set (\S+)"), "ReplicaSet", "up"),
    ("ScalingReplicaSet", re.compile(r"Scaled down replica set (\S+)"), "ReplicaSet", "down"),
    ("SuccessfulCreate", re.compile(r"Created pod: (\S+)"), "Pod", "create"),
    ("SuccessfulDelete", re.compile(r"Deleted pod: (\S+)"), "Pod", "delete"),
    (
        "SuccessfulCreate",
        re.compile(r"(?i:create) Pod (\S+) in StatefulSet \S+ successful"),
        "Pod",
        "create",
    ),
    (
        "SuccessfulDelete",
        re.compile(r"(?i:delete) Pod (\S+) in StatefulSet \S+ successful"),
        "Pod",
        "delete",
    ),
    ("SuccessfulCreate", re.compile(r"Created job (\S+)"), "Job", "create"),
)

NEAR_S = 60.0
"""Without a write order, a scaling step further than this from an act did not cause it."""


@dataclass
class Occurrence:
    """One Event as the capture last shows it; seq and rv are those it was first seen with."""

    uid: str
    seq: int
    reason: str
    message: str
    kind: str
    namespace: str
    name: str
    first: float
    last: float
    rv: int | None
    count: int
    replicas: list[tuple[int, int]] | None = None
    """For an Event regarding a ReplicaSet: its spec.replicas history, [(resourceVersion, n)]."""


def rv_int(value: object) -> int | None:
    """A resourceVersion as the server's write order (one etcd writes increasing integers)."""
    if not isinstance(value, str | int):
        return None
    try:
        return int(value)
    except ValueError:
        return None


def bodies(value: Value) -> list[Value]:
    body = value.get("object", value)
    if str(body.get("kind", "")).endswith("List"):
        return list(body.get("items") or [])
    return [body]


def load_occurrences(values: Iterable[Value]) -> dict[str, Occurrence]:
    """uid -> the Event's last state; ReplicaSets' spec.replicas histories attached."""
    events: dict[str, Occurrence] = {}
    replicas: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    for seq, value in enumerate(values):
        for body in bodies(value):
            metadata = body.get("metadata")
            if not isinstance(metadata, dict):
                continue
            namespace = (metadata.get("namespace") or "").lower()
            if body.get("kind") == "ReplicaSet":
                rv = rv_int(metadata.get("resourceVersion"))
                wanted = (body.get("spec") or {}).get("replicas")
                history = replicas[(namespace, (metadata.get("name") or "").lower())]
                fresh = not history or (history[-1][0] < (rv or 0) and history[-1][1] != wanted)
                if rv is not None and isinstance(wanted, int) and fresh:
                    history.append((rv, wanted))
            if body.get("kind") != "Event":
                continue
            regarding = body.get("involvedObject") or body.get("regarding") or {}
            last = event_last_time(body)
            first = (
                body.get("eventTime")
                or body.get("firstTimestamp")
                or body.get("deprecatedFirstTimestamp")
                or last
            )
            count = int(
                body.get("count")
                or (body.get("series") or {}).get("count")
                or body.get("deprecatedCount")
                or 1
            )
            uid = metadata["uid"]
            seen = events.get(uid)
            events[uid] = Occurrence(
                uid=uid,
                seq=seen.seq if seen else seq,
                reason=body.get("reason") or "",
                message=body.get("message") or body.get("note") or "",
                kind=regarding.get("kind") or "",
                namespace=(regarding.get("namespace") or namespace).lower(),
                name=(regarding.get("name") or "").lower(),
                first=seconds(first),
                last=seconds(last),
                rv=seen.rv if seen else rv_int(metadata.get("resourceVersion")),
                count=max(count, seen.count) if seen else count,
            )
    for event in events.values():
        if event.kind == "ReplicaSet":
            event.replicas = replicas.get((event.namespace, event.name))
    return events


def step_size(message: str) -> int:
    found = re.search(r"from (\d+) to (\d+)", message)
    return abs(int(found.group(2)) - int(found.group(1))) if found else 1


def scaled_to(message: str) -> int | None:
    found = re.search(r"Scaled (?:up|down) replica set \S+ from \d+ to (\d+)", message)
    return int(found.group(1)) if found else None


def _by_write_order(steps: list[Occurrence], act: Occurrence) -> Occurrence | None:
    """The step whose target is the spec.replicas in force when the act was written."""
    history = act.replicas
    if not history or act.rv is None or act.count > 1:
        return None
    before = [n for rv, n in history if rv < act.rv]
    if not before:
        return None
    matching = [s for s in steps if scaled_to(s.message) == before[-1]]
    return matching[0] if len(matching) == 1 else None


def _closest(steps: list[Occurrence], act: Occurrence) -> Occurrence | None:
    """The step nearest in time (a controller writes its step's Event around its acts)."""
    near = [s for s in steps if abs(s.first - act.first) <= NEAR_S]
    if not near:
        return None
    return min(near, key=lambda s: (abs(s.first - act.first), abs((s.rv or 0) - (act.rv or 0))))


def _latest_namer(
    namers: list[Occurrence], child: Occurrence, arrived_before: bool = True
) -> Occurrence | None:
    """The latest namer that arrived before the child, else the latest not after it (+1 s)."""
    pool = [n for n in namers if n.seq < child.seq] if arrived_before else []
    pool = pool or [n for n in namers if n.first <= child.first + 1.0] or namers
    return max(pool, key=lambda n: (n.first, n.seq)) if pool else None


def ground_truth(events: dict[str, Occurrence]) -> dict[str, str]:
    """Event uid -> uid of the Event that caused it, for every Event whose cause is stated."""
    named: dict[tuple[str, str, str, str], list[Occurrence]] = defaultdict(list)
    for event in events.values():
        for reason, message, kind, relation in NAMERS:
            if event.reason == reason:
                child = message.search(event.message)
                if child:
                    key = (kind, event.namespace, child.group(1).lower(), relation)
                    named[key].append(event)
    cause: dict[str, str] = {}
    replica_set_acts: list[Occurrence] = []
    for event in events.values():
        kind, namespace, name = event.kind, event.namespace, event.name
        found: Occurrence | None = None
        if kind == "Pod":
            created = named.get(("Pod", namespace, name, "create"), [])
            if event.reason == "Killing":
                deleted = named.get(("Pod", namespace, name, "delete"), [])
                found = _latest_namer(deleted, event, arrived_before=False)
                found = found or _latest_namer(created, event)
            else:
                found = _latest_namer(created, event)
        elif kind == "ReplicaSet" and event.reason in ("SuccessfulCreate", "SuccessfulDelete"):
            replica_set_acts.append(event)
        elif kind == "Job" and event.reason == "SuccessfulCreate":
            found = _latest_namer(named.get(("Job", namespace, name, "create"), []), event)
        if found is not None and found.uid != event.uid:
            cause[event.uid] = found.uid
    used: dict[str, int] = defaultdict(int)
    for act in sorted(replica_set_acts, key=lambda e: (e.first, e.rv or 0, e.seq)):
        relation = "up" if act.reason == "SuccessfulCreate" else "down"
        steps = named.get(("ReplicaSet", act.namespace, act.name, relation), [])
        step = _by_write_order(steps, act) or _closest(steps, act)
        if step is not None and used[step.uid] < step_size(step.message):
            used[step.uid] += 1
            cause[act.uid] = step.uid
    return cause


def describe(events: dict[str, Occurrence], uid: str) -> str:
    event = events.get(uid)
    if event is None:
        return f"event {uid}"
    return f"{event.kind}/{event.name} {event.reason} {event.message[:60]!r}"
