"""Which act of an owner a child's event follows, and for how long that act stays its cause.

A Pod lives its whole life because of the act that created it: every event of the Pod follows
that act, except the ones a deletion causes (Killing and friends), which follow the deletion.
A ReplicaSet is told to scale many times over its life: its own acts follow a scaling of the
same direction, and only a recent one (a controller acts within a minute of being told).
A Job created by a CronJob follows that creation for its whole run. A Deployment's or a
StatefulSet's own scaling follows an autoscaler's rescale of it, within the same minute.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kspan_py.controllers import Relation

CONTROLLER_ACT_HORIZON_NS = 60 * 1_000_000_000
"""How long after being scaled a controller's own acts still count as caused by the scaling."""

_DELETION_REASONS = frozenset(
    {"Killing", "ExceededGracePeriod", "FailedKillPod", "FailedPreStopHook"}
)


@dataclass(frozen=True, slots=True)
class ChildPolicy:
    relations: tuple[Relation, ...]  # in order of preference; the most recent act wins ties
    horizon_ns: int | None  # None: the child's whole (remembered) life
    prefer_written_before: bool  # prefer acts the server recorded before this event
    # The acts are scaling steps "from A to B": the cause is the step whose size B was in force
    # when this event was written, and each step causes |B - A| events (the rest replace).
    by_step: bool = False
    rank: dict[Relation, int] = field(init=False, compare=False, repr=False)
    """Each relation's place in ``relations`` (made once: read at every act lookup)."""

    def __post_init__(self) -> None:
        ranks = {relation: index for index, relation in enumerate(self.relations)}
        object.__setattr__(self, "rank", ranks)


_LIFETIME = ChildPolicy((Relation.CREATE,), None, True)
_DELETION = ChildPolicy((Relation.DELETE, Relation.CREATE), None, False)
_SCALED_UP = ChildPolicy((Relation.CREATE,), CONTROLLER_ACT_HORIZON_NS, True, by_step=True)
_SCALED_DOWN = ChildPolicy((Relation.DELETE,), CONTROLLER_ACT_HORIZON_NS, True, by_step=True)
_RESCALED = ChildPolicy((Relation.CREATE,), CONTROLLER_ACT_HORIZON_NS, True)
"""A workload's own scaling acts after an autoscaler set its size (the rescale names it as a
CREATE act: the size may go either way, and only autoscalers name these kinds)."""
_SCALING_ACTS = {
    "Deployment": frozenset({"ScalingReplicaSet"}),
    "StatefulSet": frozenset({"SuccessfulCreate", "SuccessfulDelete"}),
}


_STEP_KINDS = frozenset({"ReplicaSet", *_SCALING_ACTS})
"""Kinds whose events find their cause only among recent acts (every policy of theirs above
has ``CONTROLLER_ACT_HORIZON_NS``)."""


def act_horizon_ns(kind: str) -> int | None:
    """How far from its own time an act naming an object of ``kind`` is ever looked for: the
    graph need not keep it longer than that (and the lateness it tolerates). None: for the
    child's whole remembered life (a Pod's or a Job's creation)."""
    return CONTROLLER_ACT_HORIZON_NS if kind in _STEP_KINDS else None


def child_policy(kind: str, reason: str) -> ChildPolicy | None:
    """How an event of ``reason`` on an object of ``kind`` finds its cause among named acts."""
    if kind == "Pod":
        return _DELETION if reason in _DELETION_REASONS else _LIFETIME
    if kind == "ReplicaSet":
        if reason in ("SuccessfulCreate", "FailedCreate"):
            return _SCALED_UP
        if reason == "SuccessfulDelete":
            return _SCALED_DOWN
        return None
    if kind == "Job":
        return _LIFETIME
    if reason in _SCALING_ACTS.get(kind, ()):
        return _RESCALED
    return None
