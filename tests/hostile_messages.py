"""Crafted Event messages, the worst case of each message rule, at any length.

Each form repeats what makes a backtracking regex restart or rescan: the opening of the form
it looks for without its end (``Kill process 1 (`` and no ``)``), runs of digits before a
``/``, unclosed quotes and brackets, a lazy ``.*?`` with nothing to stop it. The tests classify
them at a megabyte (no stall), the benchmark (benchmarks/classify_bench.py) times them against
their length. Written against the rules of spans/problems.py, graph/rules/ and
graph/lifecycle.py; a new rule gets its own form here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kspan_py.model import KubeEvent
from tests.tracing import kube_event


def repeated(unit: str, length: int, *, before: str = "", after: str = "") -> str:
    """``before``, then ``unit`` again and again, then ``after``: ``length`` characters."""
    room = max(0, length - len(before) - len(after))
    return before + (unit * (room // len(unit) + 1))[:room] + after


@dataclass(frozen=True, slots=True)
class Crafted:
    """One worst case: the Event's reason, the kind it is about, and its message at a length."""

    name: str
    reason: str
    kind: str
    message: Callable[[int], str]

    def event(self, length: int) -> KubeEvent:
        return hostile_event(self.reason, self.message(length), kind=self.kind)


def hostile_event(
    reason: str, message: str, *, kind: str = "Pod", name: str = "web-1", type_: str = "Warning"
) -> KubeEvent:
    return kube_event(
        reason=reason,
        message=message,
        kind=kind,
        name=name,
        namespace="shop",
        type_=type_,
        field_path="spec.containers{app}",
        at_s=1_700_000_000,
    )


def _scheduling(unit: str, before: str = "") -> Callable[[int], str]:
    return lambda n: repeated(unit, n, before=before)


CRAFTED: tuple[Crafted, ...] = (
    # FailedScheduling: "N/M nodes are available" searched over digits; old predicate lists.
    Crafted("scheduling: digits", "FailedScheduling", "Pod", _scheduling("1")),
    Crafted("scheduling: 1/1/1", "FailedScheduling", "Pod", _scheduling("1/")),
    Crafted("scheduling: N/M nodes", "FailedScheduling", "Pod", _scheduling("1/1 nodes are ")),
    Crafted(
        "scheduling: predicates, no colon",
        "FailedScheduling",
        "Pod",
        _scheduling("No nodes are available that match all of "),
    ),
    Crafted(
        "scheduling: counted list",
        "FailedScheduling",
        "Pod",
        _scheduling(",  1", before="0/3 nodes are available: "),
    ),
    Crafted(
        "scheduling: predicate items",
        "FailedScheduling",
        "Pod",
        _scheduling(" (1", before="No nodes are available that match all of: a"),
    ),
    Crafted(
        "scheduling: insufficient",
        "FailedScheduling",
        "Pod",
        _scheduling("Insufficient ", before="0/3 nodes are available: 3 "),
    ),
    # Images, back-offs and start failures: anchored forms with a quoted image.
    Crafted(
        "back-off: unclosed image",
        "BackOff",
        "Pod",
        lambda n: repeated('\\"', n, before='Back-off pulling image "'),
    ),
    Crafted(
        "back-off: crash loop",
        "BackOff",
        "Pod",
        lambda n: repeated("x", n, before="Back-off restarting failed container "),
    ),
    Crafted(
        "failed: unclosed image",
        "Failed",
        "Pod",
        lambda n: repeated('\\"', n, before='Failed to pull image "'),
    ),
    Crafted("failed: error", "Failed", "Pod", lambda n: repeated("Error: ", n, before="Error: ")),
    Crafted("inspect: image tags", "InspectFailed", "Pod", lambda n: repeated('image tag "\\"', n)),
    Crafted("never pull: images", "ErrImageNeverPull", "Pod", lambda n: repeated("image ", n)),
    # Out of memory: a process name that never closes, a victim with no pid.
    Crafted("oom: kill process", "OOMKilling", "Node", lambda n: repeated("Kill process 1 (", n)),
    Crafted("oom: killed digits", "OOMKilling", "Node", lambda n: repeated("Killed process 1", n)),
    Crafted("oom: victim", "SystemOOM", "Node", lambda n: repeated("victim process: ", n)),
    # Evictions.
    Crafted("evicted: condition", "Evicted", "Pod", lambda n: repeated("had condition: [", n)),
    Crafted("evicted: low on", "Evicted", "Pod", lambda n: repeated("low on resource: x", n)),
    Crafted("evicted: containers", "Evicted", "Pod", lambda n: repeated("Container Container ", n)),
    Crafted("evicted: empty dir", "Evicted", "Pod", lambda n: repeated('EmptyDir volume "\\', n)),
    Crafted(
        "taint eviction",
        "TaintManagerEviction",
        "Pod",
        lambda n: repeated("x", n, before="Marking for deletion Pod "),
    ),
    Crafted(
        "preempted: by pod",
        "Preempted",
        "Pod",
        lambda n: repeated("Preempted by pod x on node y ", n),
    ),
    # Volumes: unclosed lists and quotes.
    Crafted("mount: unmounted", "FailedMount", "Pod", lambda n: repeated("unmounted volumes=[", n)),
    Crafted("mount: volume lists", "FailedMount", "Pod", lambda n: repeated("volumes=[a]", n)),
    Crafted("mount: quotes", "FailedMount", "Pod", lambda n: repeated('volume "', n)),
    Crafted("mount: spec name", "FailedMount", "Pod", lambda n: repeated('(spec.Name: "a"', n)),
    Crafted("attach: quotes", "FailedAttachVolume", "Pod", lambda n: repeated('volume "a" ', n)),
    # Nodes (on an object that is no Node: the name comes from the message).
    Crafted("node: status", "NodeNotReady", "Machine", lambda n: repeated("Node x status ", n)),
    Crafted(
        "node: long name", "NodeNotReady", "Machine", lambda n: repeated("x", n, before="Node ")
    ),
    Crafted(
        "rebooted: boot ids",
        "Rebooted",
        "Machine",
        lambda n: repeated("Node x has been rebooted, boot id: ", n),
    ),
    # Probes, hooks and errors.
    Crafted(
        "unhealthy: output",
        "Unhealthy",
        "Pod",
        lambda n: repeated(" \n", n, before="Liveness probe failed: "),
    ),
    Crafted(
        "hook: containers", "FailedPostStartHook", "Pod", lambda n: repeated('for Container "a"', n)
    ),
    Crafted(
        "hook: escaped quotes",
        "FailedPreStopHook",
        "Pod",
        lambda n: repeated('\\"', n, before='for Container "'),
    ),
    Crafted("create: prefixes", "FailedCreate", "ReplicaSet", lambda n: repeated("Error crea", n)),
    Crafted(
        "sandbox: error",
        "FailedCreatePodSandBox",
        "Pod",
        lambda n: repeated(" ", n, before="Failed to create pod sandbox:"),
    ),
)
"""Every rule of spans/problems.py, each at its worst."""


NAMING: tuple[Crafted, ...] = (
    Crafted(
        "scaled: digits",
        "ScalingReplicaSet",
        "Deployment",
        lambda n: repeated("1", n, before="Scaled up replica set web-1 from "),
    ),
    Crafted(
        "created pod: name",
        "SuccessfulCreate",
        "ReplicaSet",
        lambda n: repeated("x", n, before="Created pod: "),
    ),
    Crafted(
        "statefulset: pod",
        "SuccessfulCreate",
        "StatefulSet",
        lambda n: repeated("Pod x in StatefulSet ", n, before="create "),
    ),
)
"""The actor rules of graph/rules/ (anchored, so their cost is one pass)."""


def pulled(length: int) -> str:
    """A kubelet Pulled message whose duration never ends the way the rule wants."""
    return repeated(" in 1", length, before='Successfully pulled image "x"')
