"""The linker: a pure decision of where one event occurrence belongs.

``decide(occurrence, view, limits)`` looks at what is known (acts that named the occurrence's
object, its ownership chain, the changes in progress) and returns a verdict. It does no I/O and
changes nothing; the graph applies the verdict. Rules, in order (docs/linking.md):

1. Actor: an act of an owner that named this object ("Created pod: X") is the cause.
2. Change in progress: the top of the ownership chain has a live change (a trace with recent
   activity, for the same generation): join it.
3. New change: the top object's spec changed just before (a new generation): start a trace
   rooted at that change. Otherwise the occurrence itself is the root of a new trace.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from kspan_py.graph.rules import ChildPolicy, Relation, child_policy
from kspan_py.model import GenerationChange, ObjectRef

TIMESTAMP_SLACK_NS = 1_000_000_000
"""Most Event times are truncated to the second, so a cause may look up to 1 s later than its
effect; acts are accepted as causes up to this far after the occurrence."""


class Linkable(Protocol):
    """What the linker reads of what it places: an Event occurrence or a lifecycle fact."""

    @property
    def uid(self) -> str: ...

    @property
    def regarding(self) -> ObjectRef: ...

    @property
    def reason(self) -> str: ...

    @property
    def time_ns(self) -> int: ...

    @property
    def start_ns(self) -> int: ...

    @property
    def resource_version(self) -> int: ...


class OccurrenceKey(NamedTuple):
    """(event uid, count): one occurrence. A tuple, so that hashing it is cheap (hot path)."""

    uid: str
    number: int  # the Event's count at this occurrence


class NamedAct:
    """An occurrence that named a child object (an actor rule matched it).

    The graph keeps one for every act of the last hour (the link horizon): it is flat (the
    occurrence's uid and number, not a key tuple) and holds the trace the occurrence was placed
    in, once linked, so that nothing else has to remember that for the act's cause lookups. It
    keeps its occurrence's span id too (about 40 bytes): made again from (uid, number) at each
    cause lookup, the hash was one of the linking's hot spots.
    """

    __slots__ = (
        "number",
        "relation",
        "resource_version",
        "span_id",
        "time_ns",
        "trace_id",
        "uid",
    )

    def __init__(
        self,
        key: OccurrenceKey,
        span_id: int,
        time_ns: int,
        resource_version: int,
        relation: Relation,
    ) -> None:
        self.uid, self.number = key
        self.span_id = span_id  # its occurrence's span
        self.time_ns = time_ns
        self.resource_version = resource_version
        self.relation = relation
        self.trace_id = 0  # the trace its occurrence was placed in; 0 while pending

    @property
    def key(self) -> OccurrenceKey:
        return OccurrenceKey(self.uid, self.number)

    def __repr__(self) -> str:
        return f"NamedAct({self.key!r}, {self.time_ns}, {self.resource_version}, {self.relation})"


class ScalingAct(NamedAct):
    """A scaling step "from A to B": the size it set, the acts it asks for (|B - A|; None when
    its form does not say) and how many of those were placed under it so far."""

    __slots__ = ("step", "target", "used")

    def __init__(
        self,
        key: OccurrenceKey,
        span_id: int,
        time_ns: int,
        resource_version: int,
        relation: Relation,
        *,
        target: int | None,
        step: int | None,
    ) -> None:
        super().__init__(key, span_id, time_ns, resource_version, relation)
        self.target = target
        self.step = step
        self.used = 0

    @property
    def spent(self) -> bool:
        return self.step is not None and self.used >= self.step


@dataclass(slots=True)
class Change:
    """A change in progress: one trace, started by a top object's new generation or by an event.

    Mutable: the graph, its only owner, moves ``last_ns`` on at each occurrence it places in the
    change (re-creating a frozen record per occurrence was a hot spot of linking). The linker
    only reads it."""

    top_key: str
    generation: int | None
    trace_id: int
    anchor_span_id: int  # where later occurrences of the change hang
    started_ns: int
    last_ns: int


@dataclass(frozen=True, slots=True)
class Limits:
    change_gap_ns: int  # quiet time that ends a change
    max_change_ns: int  # a change accepts no new uncaused occurrences after this long
    link_horizon_ns: int  # how long a lifetime cause (the act that created a Pod) stays the cause


class LinkView(Protocol):
    """What the linker may read; implemented by the graph over its state."""

    def acts_naming(self, ref: ObjectRef) -> Sequence[NamedAct]: ...

    def top_of(self, ref: ObjectRef) -> ObjectRef: ...

    def generation_at(self, ref: ObjectRef, time_ns: int) -> GenerationChange | None: ...

    def change_of(self, top_key: str) -> Change | None: ...

    def replicas_before(self, ref: ObjectRef, version: int) -> int | None: ...

    def rolling_out(self, ref: ObjectRef) -> bool: ...


@dataclass(frozen=True, slots=True)
class CausedBy:
    cause: OccurrenceKey
    relation: Relation
    act: NamedAct | None = field(default=None, compare=False)  # the act that is the cause


@dataclass(frozen=True, slots=True)
class JoinsChange:
    change: Change


@dataclass(frozen=True, slots=True)
class StartsChange:
    top: ObjectRef
    generation_change: GenerationChange | None  # None: the occurrence is the trace's root


@dataclass(frozen=True, slots=True)
class StandsAlone:
    """Began before the change in progress (a container run of a Pod from before a rollout,
    ended by it): the change did not cause it. Its own trace, which takes no change over."""

    top: ObjectRef


Verdict = CausedBy | JoinsChange | StartsChange | StandsAlone


def decide(occurrence: Linkable, view: LinkView, limits: Limits) -> Verdict:
    cause = _actor_cause(occurrence, view, limits)
    if cause is not None:
        return cause
    top = view.top_of(occurrence.regarding)
    time_ns = occurrence.time_ns
    generation = view.generation_at(top, time_ns)
    change = view.change_of(top.key)
    began_ns = occurrence.start_ns + TIMESTAMP_SLACK_NS
    if (
        change is not None
        and _is_live(change, time_ns, limits, rolling_out=view.rolling_out(top))
        and (generation is None or _same_generation(change, generation))
    ):
        return JoinsChange(change) if began_ns >= change.started_ns else StandsAlone(top)
    if generation is not None and 0 <= time_ns - generation.time_ns <= limits.change_gap_ns:
        if began_ns < generation.time_ns:
            return StandsAlone(top)
        return StartsChange(top, generation)
    return StartsChange(top, None)


def _same_generation(change: Change, generation: GenerationChange) -> bool:
    if change.generation is not None:
        return change.generation == generation.generation
    # The change began before its object's generation was known (a dump lists only the last
    # generation): a spec change made after the change began is a change of its own.
    return generation.time_ns <= change.started_ns


def _is_live(change: Change, time_ns: int, limits: Limits, *, rolling_out: bool) -> bool:
    """Active within the change gap, or quiet while its object's status says the rollout is
    still in progress (pods becoming ready for minutes); never longer than the change maximum."""
    return (
        (rolling_out or time_ns - change.last_ns <= limits.change_gap_ns)
        and time_ns - change.started_ns <= limits.max_change_ns
        and time_ns >= change.started_ns - TIMESTAMP_SLACK_NS
    )


def _actor_cause(occurrence: Linkable, view: LinkView, limits: Limits) -> CausedBy | None:
    policy = child_policy(occurrence.regarding.kind, occurrence.reason)
    if policy is None:
        return None
    acts = view.acts_naming(occurrence.regarding)
    if not acts:
        return None
    if policy.by_step:
        best = _step_in_force(occurrence, acts, policy, view)
    else:
        best = _most_recent_act(occurrence, acts, policy, limits)
    return CausedBy(best.key, best.relation, best) if best is not None else None


def _step_in_force(
    occurrence: Linkable, acts: Sequence[NamedAct], policy: ChildPolicy, view: LinkView
) -> NamedAct | None:
    """The scaling step that made a ReplicaSet create or delete this pod.

    Controllers write their Events asynchronously: the Event of a step can be written after
    the pods it caused, and the step before it earlier. The ReplicaSet's own history says
    which size was in force when this act was written (its spec.replicas by resourceVersion):
    the step that set that size is the cause. Without history (a dump), the step nearest in
    time. A step "from A to B" causes |B - A| acts; an act beyond that, or with no step near,
    answers no scaling: it replaces a pod lost otherwise (None here; the graph links it)."""
    time_ns = occurrence.time_ns
    horizon = policy.horizon_ns or 0
    near = [
        act
        for act in acts
        if act.relation in policy.relations
        and act.uid != occurrence.uid
        and abs(act.time_ns - time_ns) <= horizon
    ]
    if not near:
        return None
    in_force = view.replicas_before(occurrence.regarding, occurrence.resource_version)
    if in_force is not None:
        setting: list[NamedAct] = [
            act for act in near if isinstance(act, ScalingAct) and act.target == in_force
        ]
        near = setting or near

    def distance(act: NamedAct) -> tuple[int, int, int, str]:
        return (
            abs(act.time_ns - time_ns),
            abs(act.resource_version - occurrence.resource_version),
            -act.time_ns,
            act.uid,
        )

    best = min(near, key=distance)
    if isinstance(best, ScalingAct) and best.spent:
        return None
    return best


def _most_recent_act(
    occurrence: Linkable, acts: Sequence[NamedAct], policy: ChildPolicy, limits: Limits
) -> NamedAct | None:
    # An act causes what began after it: a container run is caused by the act before its start,
    # not by one made while it ran (a StatefulSet re-creates a Pod under the same name).
    time_ns = occurrence.start_ns
    horizon = policy.horizon_ns if policy.horizon_ns is not None else limits.link_horizon_ns
    eligible = [
        act
        for act in acts
        if act.relation in policy.relations
        and act.uid != occurrence.uid  # (so never the occurrence itself)
        and act.time_ns <= time_ns + TIMESTAMP_SLACK_NS
        and time_ns - act.time_ns <= horizon
    ]
    if policy.prefer_written_before and occurrence.resource_version:
        # Equal (truncated) times are common; the server's write order then tells which act
        # came first. It is intrinsic to the data, so the verdict does not depend on arrival.
        written_before = [
            act
            for act in eligible
            if act.resource_version and act.resource_version < occurrence.resource_version
        ]
        eligible = written_before or eligible
    if not eligible:
        return None
    rank = policy.rank
    # An act after the occurrence is eligible only through the slack for truncated times: any
    # act not after it comes first (a Pod's Killing follows its deletion, not the re-creation
    # of its name a moment later).
    return max(
        eligible,
        key=lambda act: (
            act.time_ns <= time_ns,
            act.time_ns,
            -rank[act.relation],
            act.resource_version,
            act.uid,
        ),
    )
