"""The causality graph: the single owner of all mutable linking state.

It takes changes in arrival order and gives back finished spans. In between, everything runs
on event time: the watermark is the latest occurrence time seen; an occurrence is linked once
the watermark has passed its time plus the window (so whatever arrives late within the window,
a cause after its effect included, is already there), in (time, server write order, uid) order,
so that the result does not depend on the order of arrival. A span is exported once its
duration and its early children are known: a window after it was linked.
"""

from __future__ import annotations

import dataclasses
import heapq
import logging
from bisect import bisect_left, bisect_right, insort
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cachetools import TTLCache
from opentelemetry.sdk.trace import ReadableSpan

from kspan_py.config import SECOND_NS, GraphSettings
from kspan_py.graph.anchors import Anchors
from kspan_py.graph.held import ExportedHeld
from kspan_py.graph.lifecycle import (
    KUBELET,
    NODE_ANCHOR,
    POD_LIFE,
    LifecycleDeriver,
    stated_pull_ns,
)
from kspan_py.graph.linking import (
    TIMESTAMP_SLACK_NS,
    CausedBy,
    Change,
    JoinsChange,
    Limits,
    NamedAct,
    OccurrenceKey,
    ScalingAct,
    StandsAlone,
    StartsChange,
    Verdict,
    decide,
)
from kspan_py.graph.occurrences import SeenOccurrences
from kspan_py.graph.placing import (
    FoldsInto,
    OpenSeries,
    RepeatLimits,
    anchored_under,
    place_repeat,
)
from kspan_py.graph.rules import NamedChild, Relation, named_child
from kspan_py.graph.rules.children import CONTROLLER_ACT_HORIZON_NS, act_horizon_ns
from kspan_py.graph.settled import ActRecord, acts_of, settled, time_of
from kspan_py.graph.store import ObjectStore
from kspan_py.model import (
    ChangeType,
    EventChange,
    GenerationChange,
    KubeEvent,
    LifecycleFact,
    ObjectChange,
    ObjectRef,
    PodStatus,
    Snapshot,
)
from kspan_py.model.sharing import share
from kspan_py.spans.attributes import LIFECYCLE, NODE_NAME
from kspan_py.spans.building import ChangeRoot, SpanBuilder, SpanDraft, SpanLink
from kspan_py.spans.ids import (
    change_span_id,
    change_trace_id,
    event_span_id,
    event_trace_id,
    lifecycle_span_id,
)

log = logging.getLogger(__name__)

_FOREVER = 2**62

ADVANCE_EVERY = 512
"""Changes ingested between two moves of event time (a batch): fewer costs more per change."""

_MAX_SEEN = 2_000_000
"""Occurrences remembered at most (the oldest go first): a bound for a cluster in an event storm."""

_MAX_EXPORTED_HELD = 100_000
"""Held spans (changes' roots, Pods' lives) remembered after their export, at most."""

_MAX_ANCHORS = 100_000
"""Anchors (graph/anchors.py) remembered at most: one a container run of the hour."""

_ACT_SETTLE_NS = 30 * SECOND_NS
"""How long after its time an act of the hour is kept fresh before it is packed
(graph/settled.py): well past its placing (a window), and past a Pod's first Events (scheduled,
pulled, started), which read its creation each time. Later ones read it back from the packed
form: 10,051 times in the 1,000-Deployment spread's 156,714 occurrences (``make bench``)."""

# child name -> acts that named it, oldest first (fresh, or packed once settled)
_ActsByName = dict[str, tuple[ActRecord, ...]]
Subject = KubeEvent | LifecycleFact
_Pending = tuple[Subject, int, tuple[NamedAct, ...]]  # (occurrence or fact, its span id, its acts)

NODE_CAUSE_HORIZON_NS = 10 * 60 * 1_000_000_000
"""How long after a node's problem (NodeNotReady, Rebooted...) the evictions and restarts of
its Pods are linked to it: the default pod eviction timeout is 5 min, plus the time to act."""

NODE_PROBLEM_REASONS = frozenset(
    {
        "NodeNotReady",
        "Rebooted",
        "OOMKilling",
        "SystemOOM",
        "NodeHasInsufficientMemory",
        "NodeHasDiskPressure",
        "NodeHasInsufficientPID",
    }
)
"""Events on a Node that cause what happens to its Pods next (span links, kspan.link.reason)."""

AUTOSCALER = "HorizontalPodAutoscaler"

LOSS_REASONS = frozenset(
    {"Evicted", "TaintManagerEviction", "Preempted", "Killing", "NodeNotReady", "FailedKillPod"}
)
"""Pod events that say it is being lost: a controller replaces it (unless its own deletion
act caused them: then it was scaled down)."""
_LOSSES_KEPT = 1_000  # losses not yet answered, per controller
_MAX_RESCALES_WAITING = 10_000  # autoscalers with rescales waiting for their object, at most
_RESCALES_KEPT = 16  # rescales kept per autoscaler not seen yet (the latest)

_POD_LIFE_NAME = f"Pod.{POD_LIFE}"
_LIFE_ANYWHERE = ((LIFECYCLE, POD_LIFE),)  # a Pod life's attributes before it has a node
_NODES_REMEMBERED = 4096  # nodes whose Pod lives share their attributes (a cluster's)

_SERIES = "series:"
"""Anchor key prefix: where the spans of repeats of an Event (by uid) hang."""

_NODE_EFFECTS = frozenset(
    {"Evicted", "TaintManagerEviction", "Killing", "NodeNotReady", "Preempting", "FailedKillPod"}
)
"""Pod events that a problem of their node explains."""


@dataclass(frozen=True, slots=True)
class Placement:
    trace_id: int
    span_id: int


@dataclass(slots=True)
class GraphStats:
    occurrences: int = 0
    repeats_ignored: int = 0
    expired_events: int = 0
    objects: int = 0
    spans: int = 0
    late: int = 0
    facts: int = 0  # lifecycle phases read from status
    repeats_folded: int = 0  # occurrences exported as span events of a span of repeats


class CausalGraph:
    """Owns the store, the pending occurrences, the changes in progress and the span drafts."""

    def __init__(self, settings: GraphSettings, builder: SpanBuilder | None = None) -> None:
        self._settings = settings
        self._limits = Limits(
            change_gap_ns=settings.change_gap_ns,
            max_change_ns=settings.max_change_ns,
            link_horizon_ns=settings.link_horizon_ns,
        )
        self._repeat_limits = RepeatLimits(
            settings.window_ns, settings.repeat_quiet_ns, settings.repeat_span_max_ns
        )
        self._builder = builder or SpanBuilder(
            settings.cluster_name,
            service_name=settings.service_name,
            cluster_uid=settings.cluster_uid,
            time_shift_ns=settings.time_shift_ns,
        )
        self.store = ObjectStore(settings.deleted_grace_ns)
        self.stats = GraphStats()
        self.traces_started = 0
        """Changes started, each its own trace: a count, so that a run of weeks keeps no set of
        every trace id it ever made."""
        self.watermark_ns = 0
        ttl_ns = settings.link_horizon_ns + 2 * settings.window_ns
        ttl_s = ttl_ns / 1e9
        # Every occurrence seen (its span id) drops repeats of the same count; the trace an
        # occurrence was placed in is kept only on acts, the only occurrences ever looked up
        # as causes. Event time is the clock of both, so that replays never depend on the
        # wall clock.
        self._seen = SeenOccurrences(ttl_ns, _MAX_SEEN)
        self._pending: list[tuple[int, int, str, int]] = []
        self._pending_events: dict[OccurrenceKey, _Pending] = {}
        self._linking: set[OccurrenceKey] = set()
        # Acts by the child they name: (kind, namespace) -> name -> acts. The inner dicts stay
        # (there are few), so the expiry queue can hold them.
        self._acts: dict[tuple[str, str], _ActsByName] = {}
        self._timelines: dict[str, list[tuple[int, int, str, int]]] = {}
        # What _forget may drop, in arrival order: timelines live a few windows, acts an hour,
        # so each has its own queue (one queue would let an act hold back every timeline).
        # Both are many (a timeline entry for each occurrence of the last windows, an act for
        # each act of the hour): their queues are deques side by side, (time, object key) and
        # (time, names, name), that share the occurrence's int and the strings and dict it is
        # stored under, rather than a tuple per entry.
        self._timeline_expiry_times: deque[int] = deque()
        self._timeline_expiry_keys: deque[str] = deque()
        self._act_expiry_times: deque[int] = deque()
        self._act_expiry_names: deque[_ActsByName] = deque()
        self._act_expiry_name: deque[str] = deque()
        # The same acts again, until they are packed (_ACT_SETTLE_NS): a queue of its own,
        # which holds only the acts of the last half-minute. When an entry comes due, every
        # placed act of its name is packed, younger ones too (they no longer change either).
        self._act_settle_times: deque[int] = deque()
        self._act_settle_names: deque[_ActsByName] = deque()
        self._act_settle_name: deque[str] = deque()
        # Acts only ever looked for within a minute of their time (a ReplicaSet's scaling
        # steps: a third of a rollout's acts) go sooner, in a queue of their own: kept for that
        # minute, the slack for truncated times and as late as an occurrence is linked against
        # its object's timeline (4 windows past its own), not for the hour.
        self._step_act_keep_ns = (
            CONTROLLER_ACT_HORIZON_NS + TIMESTAMP_SLACK_NS + 5 * settings.window_ns
        )
        self._step_act_expiry_times: deque[int] = deque()
        self._step_act_expiry_names: deque[_ActsByName] = deque()
        self._step_act_expiry_name: deque[str] = deque()
        self._changes: dict[str, Change] = {}
        self._change_by_trace: dict[int, str] = {}
        self._drafts: dict[int, SpanDraft] = {}
        self._exports: list[tuple[int, int, int]] = []  # (export at, link order, span id)
        self._linked = 0
        # Drafts held until their change goes quiet (trace id -> their span ids): changes'
        # roots, and the spans of Pods' lives in a change (thousands in a rollout). Each is
        # looked at when it can first be due (a heap of (event time, span id)): a later
        # occurrence in its change only moves that on, so it is then queued again.
        self._held: dict[int, set[int]] = {}
        self._held_due: list[tuple[int, int]] = []
        # Held spans exported: span id -> (start, end, parent), so that what comes later keeps
        # its time under them (see _draft).
        self._exported_held = ExportedHeld(ttl_s, _MAX_EXPORTED_HELD)
        self._next_change_sweep = 0
        self._lifecycle = LifecycleDeriver()
        # Where recent causes were placed, for span links: a node's latest problem
        # (NODE_ANCHOR + name) and each container's latest run ("run:" + pod key/container),
        # as (trace id, span id, event time).
        self._anchors = Anchors(ttl_s, _MAX_ANCHORS)
        self._series_due: dict[int, int] = {}  # span of repeats -> when it is due (event time)
        self._replaced_by: dict[OccurrenceKey, int] = {}  # loss not linked yet -> the act
        # Pods lost otherwise than by their controller's deletion, per controller, for the
        # replacements to link to: owner key -> pod name -> (the first sign of its loss, its
        # time, its resourceVersion).
        self._losses: TTLCache[str, dict[str, tuple[OccurrenceKey, int, int]]] = TTLCache(
            maxsize=100_000, ttl=ttl_s, timer=self._clock
        )
        # Rescales whose autoscaler is not known yet: (namespace, name) -> [(occurrence, last)]
        self._rescales_waiting: dict[tuple[str, str], list[tuple[OccurrenceKey, int]]] = {}
        # Spans of Events seen only in their final state -> that state (see _occurrence).
        self._aggregated: dict[int, KubeEvent] = {}
        self._lives_on: dict[str, tuple[tuple[str, str], ...]] = {}  # see _life_attributes

    def _clock(self) -> float:
        return self.watermark_ns / 1e9

    # -- input -----------------------------------------------------------------------------

    def ingest(self, change: ObjectChange | EventChange) -> None:
        if isinstance(change, ObjectChange):
            self.stats.objects += 1
            ref = change.obj.ref
            if ref.kind == "Namespace" and ref.name == "kube-system" and ref.uid:
                # The cluster's identity, from a dump, a recording or the live run's own read:
                # resources made from now on carry it (explicit --cluster-uid wins).
                self._builder.adopt_cluster_uid(ref.uid)
            fresh = self.store.apply(change, self.watermark_ns)
            if change.obj.scale_target is not None and self._rescales_waiting:
                self._autoscaler_seen(ref)
            status = change.obj.status
            # A Pod's phases are read from each version alone, so a version that arrives late
            # still says what it says; a Node's intervals are read against the one before, so
            # a late version would end an interval that is still open.
            if status is not None and (fresh or isinstance(status, PodStatus)):
                for fact in self._lifecycle.facts(change, self.watermark_ns):
                    self._fact(fact)
            return
        if change.type is ChangeType.DELETED:
            self.stats.expired_events += 1  # the Event's TTL ran out; nothing happened
            return
        self._occurrence(change.event, listed=change.type is ChangeType.ADDED)

    def _occurrence(self, event: KubeEvent, *, listed: bool) -> None:
        span_id = event_span_id(event.uid, event.count)
        if self._seen.alive(span_id, self.watermark_ns):
            self.stats.repeats_ignored += 1
            return
        self._seen.set(span_id, self.watermark_ns)
        key = OccurrenceKey(event.uid, event.count)
        self.stats.occurrences += 1
        last_ns = event.time_ns
        if last_ns > self.watermark_ns:
            self.watermark_ns = last_ns
        elif last_ns < self.watermark_ns - self._settings.window_ns:
            # Later than the window allows: still linked, against what is known now.
            self.stats.late += 1
        if listed and self._is_aggregated(event):
            # Seen only in its final state (a dump, a listing, a watch begun late): its count
            # stands for occurrences from its first time to its last. It is linked, and its
            # span starts, at the first: the first of what it caused (a StatefulSet's Pod,
            # created twice under one name) came then.
            self._aggregated[span_id] = event
            event = dataclasses.replace(event, time_ns=event.first_ns)
        # One tuple is the occurrence's place in both the pending heap and its object's
        # timeline (thousands are pending at once in a burst of rollouts).
        entry = (event.time_ns, event.resource_version, event.uid, event.count)
        heapq.heappush(self._pending, entry)
        object_key = event.regarding.key
        timeline = self._timelines.get(object_key)
        if timeline is None:
            timeline = self._timelines[object_key] = []
        insort(timeline, entry)
        self._timeline_expiry_times.append(event.time_ns)
        self._timeline_expiry_keys.append(object_key)
        child = named_child(event) or self._rescaled(event)
        own_acts = (
            self._register_acts(event, key, child, last_ns, span_id) if child is not None else ()
        )
        if event.reason in LOSS_REASONS and event.regarding.kind == "Pod":
            self._note_loss(event)
        self._pending_events[key] = (event, span_id, own_acts)

    def _register_acts(
        self, event: KubeEvent, key: OccurrenceKey, child: NamedChild, last_ns: int, span_id: int
    ) -> tuple[NamedAct, ...]:
        """Keep the act event did on child, for the child's events to find; its own acts."""
        names = self._acts.get((child.kind, child.namespace))
        if names is None:
            names = self._acts[(child.kind, child.namespace)] = {}
        name = share(child.name)  # the child's record has the same string
        acts = acts_of(names.get(name, ()))
        act = self._act(key, span_id, event.time_ns, event.resource_version, child)
        new_acts: tuple[NamedAct, ...] = (act,)
        if last_ns != event.time_ns:  # aggregated: it acted at its first and last times
            new_acts = (act, self._act(key, span_id, last_ns, event.resource_version, child))
        # Seen again after it expired: its earlier acts are pending again, like this one,
        # and all of them are placed where this occurrence is.
        own_acts = (
            *(a for a in acts if a.uid == event.uid and a.number == event.count),
            *new_acts,
        )
        for earlier in own_acts:
            earlier.trace_id = 0
        names[name] = (*acts, *new_acts)
        if act_horizon_ns(child.kind) is None:
            self._act_expiry_times.append(event.time_ns)
            self._act_expiry_names.append(names)
            self._act_expiry_name.append(name)
            self._act_settle_times.append(event.time_ns)
            self._act_settle_names.append(names)
            self._act_settle_name.append(name)
        else:
            self._step_act_expiry_times.append(event.time_ns)
            self._step_act_expiry_names.append(names)
            self._step_act_expiry_name.append(name)
        return own_acts

    def _autoscaler_seen(self, autoscaler: ObjectRef) -> None:
        """Rescales that came before their autoscaler (a listing's order, another watch
        stream) name their target now, if they are not linked yet."""
        waiting = self._rescales_waiting.pop((autoscaler.namespace, autoscaler.name), None)
        for key, last_ns in waiting or ():
            pending = self._pending_events.get(key)
            if pending is None:
                continue
            event, span_id, own_acts = pending
            if not isinstance(event, KubeEvent):
                continue
            child = self._rescaled(event)
            if child is not None and not own_acts:
                acts = self._register_acts(event, key, child, last_ns, span_id)
                self._pending_events[key] = (event, span_id, acts)

    @staticmethod
    def _act(
        key: OccurrenceKey, span_id: int, time_ns: int, version: int, child: NamedChild
    ) -> NamedAct:
        if child.target is None:
            return NamedAct(key, span_id, time_ns, version, child.relation)
        return ScalingAct(
            key, span_id, time_ns, version, child.relation, target=child.target, step=child.step
        )

    def _is_aggregated(self, event: KubeEvent) -> bool:
        """An Event listed (ADDED) at a count above 1, whose first time is before its last.

        A new Event is written at count 1 and counted up by MODIFIED writes: one that is added
        at a higher count existed before the watch or the dump began."""
        return (
            event.count > 1
            and 0 < event.first_ns < event.time_ns
            and not self._seen.alive(event_span_id(event.uid, event.count - 1), self.watermark_ns)
        )

    def _rescaled(self, event: KubeEvent) -> NamedChild | None:
        """An autoscaler's rescale names no object in its text ("New size: 5; reason: ..."):
        the object it scaled is the one its spec targets (scaleTargetRef)."""
        if event.reason != "SuccessfulRescale" or event.regarding.kind != AUTOSCALER:
            return None
        target = self.store.scale_target_of(event.regarding)
        if target is None:
            if len(self._rescales_waiting) < _MAX_RESCALES_WAITING:
                where = (event.regarding.namespace, event.regarding.name)
                waiting = self._rescales_waiting.setdefault(where, [])
                waiting.append((OccurrenceKey(event.uid, event.count), event.time_ns))
                del waiting[:-_RESCALES_KEPT]
            return None
        return NamedChild(target.kind, target.namespace, target.name, Relation.CREATE)

    def _fact(self, fact: LifecycleFact) -> None:
        span_id = lifecycle_span_id(fact.uid)
        if self._seen.alive(span_id, self.watermark_ns):
            return  # the same phase, seen in a later status update
        self._seen.set(span_id, self.watermark_ns)
        self.stats.facts += 1
        self.watermark_ns = max(self.watermark_ns, fact.time_ns)
        heapq.heappush(self._pending, (fact.time_ns, fact.resource_version, fact.uid, fact.count))
        self._pending_events[OccurrenceKey(fact.uid, fact.count)] = (fact, span_id, ())

    # -- progress --------------------------------------------------------------------------

    def advance(self, watermark_ns: int | None = None) -> list[ReadableSpan]:
        """Move event time forward (to at least the latest occurrence seen) and return the
        spans that became final.

        A live run passes its wall clock, and an occurrence is then linked once its window
        has passed on that clock. The latest event time only says what the Events watch has
        delivered, not that the other watches (the objects an occurrence is linked through)
        are there too; and a component whose clock runs ahead must not close everyone's
        window early. A replay has only event time."""
        if watermark_ns is None:
            horizon = self.watermark_ns - self._settings.window_ns
        else:
            horizon = watermark_ns - self._settings.window_ns
            self.watermark_ns = max(self.watermark_ns, watermark_ns)
        while self._pending and self._pending[0][0] <= horizon:
            _, _, uid, count = heapq.heappop(self._pending)
            key = OccurrenceKey(uid, count)
            if key in self._pending_events:
                self._link(key)
        finished = self._finished(self.watermark_ns)
        self._forget(self.watermark_ns)
        return finished

    def flush(self) -> list[ReadableSpan]:
        """Link everything pending and export every draft: the end of a replay or a shutdown."""
        while self._pending:
            _, _, uid, count = heapq.heappop(self._pending)
            key = OccurrenceKey(uid, count)
            if key in self._pending_events:
                self._link(key)
        return self._finished(_FOREVER)

    @property
    def pending(self) -> int:
        return len(self._pending_events)

    # -- linking ---------------------------------------------------------------------------

    def _link(self, key: OccurrenceKey) -> Placement:
        subject, span_id, own_acts = self._pending_events.pop(key)
        self._linking.add(key)
        try:
            # An act (it names a child) is a cause: the linker places it, repeat or not.
            placed = (
                None if own_acts else self._placed_as_repeat(subject, span_id)
            ) or self._anchored(subject, span_id)
            if placed is None:
                verdict = decide(subject, _View(self), self._limits)
                placed = self._apply(subject, span_id, verdict)
        finally:
            self._linking.discard(key)
        placement, parent_id, rule = placed
        self._seen.set(span_id, self.watermark_ns, placement.trace_id, placement.span_id)
        if self._replaced_by:
            replacement = self._drafts.get(self._replaced_by.pop(key, 0))
            if replacement is not None:  # (a replacement written before its loss's Event)
                link = (placement.trace_id, span_id, "replaces")
                replacement.links = [*(replacement.links or ()), link]
        for act in own_acts:  # (their span is span_id: the same occurrence)
            act.trace_id = placement.trace_id
        if rule == "folded":
            return placement
        self._draft(subject, placement, parent_id, rule)
        return placement

    def _placed_as_repeat(
        self, subject: Subject, span_id: int
    ) -> tuple[Placement, int | None, str] | None:
        """A repeat of an Event goes where the occurrence before it went.

        The second occurrence starts a span of repeats under the first; later ones are folded
        into that span (as span events) while they come within the repeat quiet time and the
        span's length allows, and start the next span of repeats otherwise. Whether a repeat
        folds depends only on event times, never on when a batch happened to be exported.
        """
        if not isinstance(subject, KubeEvent) or subject.count < 2:
            return None
        before = self._seen.placement(
            event_span_id(subject.uid, subject.count - 1), self.watermark_ns
        )
        if before is None:
            return None
        trace_id, placed = before
        draft = self._drafts.get(placed)
        series = None
        if draft is not None and draft.link_rule == "repeat" and draft.repeats is not None:
            last = draft.repeats[-1].time_ns if draft.repeats else draft.start_ns
            series = OpenSeries(draft.start_ns, last)
        first_key = _SERIES + subject.uid
        first = self._anchors.get(first_key, self.watermark_ns)
        verdict = place_repeat(
            subject,
            series=series,
            placed_span_id=placed,
            first=first[:2] if first else None,
            trace_id=trace_id,
            limits=self._repeat_limits,
        )
        if isinstance(verdict, FoldsInto):
            assert draft is not None and draft.repeats is not None
            time_ns = subject.time_ns
            draft.repeats.append(subject)
            if time_ns > draft.end_ns:
                draft.end_ns = time_ns
                self._cover(draft)
            self._schedule_series(draft, time_ns)
            self.stats.repeats_folded += 1
            return Placement(trace_id, placed), draft.parent_id, "folded"
        self._touch(trace_id, subject.time_ns)
        if first is None or first[0] != trace_id:  # the first occurrence in this trace
            self._anchors.put(first_key, (trace_id, placed, subject.time_ns), self.watermark_ns)
        return Placement(trace_id, span_id), verdict.parent_span_id, "repeat"

    def _anchored(self, subject: Subject, span_id: int) -> tuple[Placement, int | None, str] | None:
        """A phase that belongs under a known cause (a node's condition under its problem)."""
        if not isinstance(subject, LifecycleFact) or not subject.joins:
            return None
        anchor = self._anchors.get(subject.joins, self.watermark_ns)
        under = anchored_under(subject, anchor, self._settings.window_ns)
        if under is None:
            return None
        return Placement(under[0], span_id), under[1], "anchor"

    def _schedule_series(self, series: SpanDraft, last_ns: int) -> None:
        settings = self._settings
        due = min(last_ns + settings.repeat_quiet_ns, series.start_ns + settings.repeat_span_max_ns)
        due += settings.export_delay_ns
        self._series_due[series.span_id] = due
        self._linked += 1
        heapq.heappush(self._exports, (due, self._linked, series.span_id))

    def _placement_of(self, cause: CausedBy) -> Placement | None:
        act = cause.act
        if act is not None and act.trace_id:
            span_id = act.span_id
            if self._seen.alive(span_id, self.watermark_ns):
                return Placement(act.trace_id, span_id)
        key = cause.cause
        if key in self._pending_events and key not in self._linking:
            return self._link(key)  # a cause that happened (or arrived) after its effect
        return None

    def _apply(
        self, event: Subject, span_id: int, verdict: Verdict
    ) -> tuple[Placement, int | None, str]:
        if isinstance(verdict, CausedBy):
            cause = self._placement_of(verdict)
            if cause is not None:
                if isinstance(verdict.act, ScalingAct):
                    verdict.act.used += 1
                self._touch(cause.trace_id, event.time_ns)
                parent = cause.span_id
                if verdict.relation is Relation.CREATE and event.regarding.kind == "Pod":
                    parent = self._pod_life(event, cause, verdict.act)
                return Placement(cause.trace_id, span_id), parent, verdict.relation.value
            verdict = decide(event, _View(self, actors=False), self._limits)
        if isinstance(verdict, JoinsChange):
            change = verdict.change
            self._touch(change.trace_id, event.time_ns)
            return Placement(change.trace_id, span_id), change.anchor_span_id, "change"
        if isinstance(verdict, StandsAlone):
            self.traces_started += 1
            return Placement(event_trace_id(event.uid, event.count), span_id), None, "root"
        assert isinstance(verdict, StartsChange)
        return self._start_change(event, verdict, span_id)

    def _start_change(
        self, event: Subject, verdict: StartsChange, span_id: int
    ) -> tuple[Placement, int | None, str]:
        top, generation = verdict.top, verdict.generation_change
        previous = self._changes.get(top.key)
        if previous is not None:
            self._change_by_trace.pop(previous.trace_id, None)
            self._held_now(previous.trace_id)  # that change is over
        if generation is not None:
            trace_id = change_trace_id(top.key, generation.generation)
            root_id = change_span_id(top.key, generation.generation)
            change = Change(
                top.key, generation.generation, trace_id, root_id, generation.time_ns, event.time_ns
            )
            self._open_root(top, generation, trace_id, root_id)
            placement, parent, rule = Placement(trace_id, span_id), root_id, "change"
        else:
            trace_id = event_trace_id(event.uid, event.count)
            known = self.store.generation_at(top, event.time_ns)
            change = Change(
                top.key,
                known.generation if known else None,
                trace_id,
                span_id,
                event.time_ns,
                event.time_ns,
            )
            placement, parent, rule = Placement(trace_id, span_id), None, "root"
        self._changes[top.key] = change
        self._change_by_trace[trace_id] = top.key
        self.traces_started += 1
        return placement, parent, rule

    def _touch(self, trace_id: int, time_ns: int) -> None:
        top_key = self._change_by_trace.get(trace_id)
        if top_key is None:
            return
        change = self._changes[top_key]
        change.last_ns = max(change.last_ns, time_ns)  # (its only owner: moved on in place)

    def _pod_life(self, subject: Subject, created_by: Placement, act: NamedAct | None) -> int:
        """The span of a Pod's life in the trace of the act that created it; its id.

        Everything the Pod went through because of that act (its phases, its runs, its Events)
        hangs under it, so a trace reads act -> Pod -> what happened to the Pod. It lasts from
        the act until the last of them, and is held like a change's root: exported when the
        change goes quiet."""
        pod = subject.regarding
        life_uid = self._life_uid(pod, created_by.trace_id)
        life_id = lifecycle_span_id(life_uid)
        if life_id in self._drafts:
            return life_id  # (_draft moves its start back to a child's that starts earlier)
        if self._exported_held.has(life_id, self._clock()):
            return life_id  # exported already (the change went quiet once): still the parent
        stored = self.store.get(pod)
        node = stored.node if stored is not None else ""
        start_ns = act.time_ns if act is not None else subject.start_ns
        fact = LifecycleFact(
            life_uid,
            pod,
            "",
            POD_LIFE,
            _POD_LIFE_NAME,
            start_ns,
            start_ns,
            KUBELET,
            node,
            self._life_attributes(node),
            None,
        )
        life = SpanDraft(
            created_by.trace_id, life_id, created_by.span_id, start_ns, start_ns, fact, "pod"
        )
        self._drafts[life_id] = life
        self._hold(life)
        return life_id

    def _life_attributes(self, node: str) -> tuple[tuple[str, str], ...]:
        """A Pod life's attributes: one tuple for the lives on a node (thousands of Pods in a
        rollout, on a few nodes), kept for at most _NODES_REMEMBERED nodes."""
        attributes = self._lives_on.get(node)
        if attributes is None:
            if len(self._lives_on) >= _NODES_REMEMBERED:
                self._lives_on.clear()
            attributes = ((LIFECYCLE, POD_LIFE), (NODE_NAME, node)) if node else _LIFE_ANYWHERE
            self._lives_on[node] = attributes
        return attributes

    def _life_uid(self, pod: ObjectRef, trace_id: int) -> str:
        # Some controllers' Events name the Pod without its uid (the taint eviction's).
        stored = self.store.get(pod) if pod.uid is None else None
        pod_uid = pod.uid or (stored.uid if stored is not None else None) or pod.key
        return f"{pod_uid}/Life/{trace_id:032x}"

    # -- drafting and export ---------------------------------------------------------------

    def _open_root(
        self, top: ObjectRef, generation: GenerationChange, trace_id: int, root_id: int
    ) -> None:
        if root_id in self._drafts or self._exported_held.has(root_id, self._clock()):
            return
        self._drafts[root_id] = SpanDraft(
            trace_id=trace_id,
            span_id=root_id,
            parent_id=None,
            start_ns=generation.time_ns,
            end_ns=generation.time_ns,
            subject=ChangeRoot(top, generation),
            link_rule="",
        )
        self._hold(self._drafts[root_id])

    def _hold(self, draft: SpanDraft) -> None:
        """Keep draft until its change goes quiet (or for the root hold at most)."""
        self._held.setdefault(draft.trace_id, set()).add(draft.span_id)
        heapq.heappush(self._held_due, (self._held_until(draft), draft.span_id))

    def _held_until(self, draft: SpanDraft) -> int:
        """When draft's change will have been quiet for the gap, or draft held long enough."""
        top_key = self._change_by_trace.get(draft.trace_id)
        change = self._changes.get(top_key) if top_key is not None else None
        if change is None:
            return 0  # no change in progress: due at once
        gap, hold = self._settings.change_gap_ns, self._settings.root_hold_ns
        return min(draft.start_ns + hold, change.last_ns + gap + 1)

    def _held_now(self, trace_id: int) -> None:
        """The change of trace_id is over: what it holds is due at once."""
        for span_id in sorted(self._held.get(trace_id, ())):
            heapq.heappush(self._held_due, (0, span_id))

    def _draft(
        self, subject: Subject, placement: Placement, parent_id: int | None, rule: str
    ) -> None:
        if isinstance(subject, LifecycleFact):
            start_ns, end_ns = subject.start_ns, subject.time_ns
        elif subject.reason == "Pulled" and (took := stated_pull_ns(subject.message)):
            # The image pull, as long as the kubelet says it took: it ends at the event.
            start_ns, end_ns = subject.time_ns - took, subject.time_ns
        else:
            start_ns, end_ns = subject.time_ns, self._natural_end(subject)
        if self._aggregated and isinstance(subject, KubeEvent):
            aggregated = self._aggregated.pop(placement.span_id, None)
            if aggregated is not None:  # it covers every occurrence its count stands for
                subject = aggregated  # (the occurrence at its own time: the last)
                end_ns = max(end_ns, aggregated.time_ns)
        links = self._links_of(subject, placement, rule)
        if parent_id is not None:
            # Coherent time: nothing starts before what it hangs under. A cause is before its
            # effect; when their times say otherwise, one of them is truncated to the second
            # (a floor) or written late, and the effect starts with its cause.
            parent = self._drafts.get(parent_id)
            exported = self._exported_held.get(parent_id, self._clock()) if parent is None else None
            parent_start = (
                parent.start_ns if parent is not None else exported[0] if exported else None
            )
            if parent_start is not None and start_ns < parent_start:
                start_ns = parent_start
                end_ns = max(end_ns, start_ns)
            if exported is not None and exported[2] is not None and end_ns > exported[1]:
                # A Pod's life was exported when its change went quiet, and this came later:
                # it hangs under the act that created the Pod, linked to that life, so that
                # a span named as a life covers everything under it.
                links.append((placement.trace_id, parent_id, "pod-life"))
                parent_id = exported[2]
        draft = SpanDraft(
            placement.trace_id,
            placement.span_id,
            parent_id,
            start_ns,
            end_ns,
            subject,
            rule,
        )
        if links:
            draft.links = links
        self._drafts[draft.span_id] = draft
        if rule == "repeat":
            first = self._drafts.get(parent_id) if parent_id is not None else None
            if first is not None:
                draft.cover_via = first.parent_id
            elif subject.regarding.kind == "Pod":  # gone: it hung under the Pod's life
                life_id = lifecycle_span_id(self._life_uid(subject.regarding, placement.trace_id))
                draft.cover_via = life_id if life_id in self._drafts else None
            draft.repeats = []
            draft.end_ns = subject.time_ns
            self._schedule_series(draft, subject.time_ns)
        else:
            # Exported in link order, so that equal (truncated) times keep the server's order.
            self._linked += 1
            # Due a fixed event time after the occurrence, however late it was linked: an
            # occurrence linked because the clock jumped ahead leaves at once.
            export_at = subject.time_ns + self._settings.window_ns + self._settings.export_delay_ns
            heapq.heappush(self._exports, (export_at, self._linked, draft.span_id))
        self._cover(draft)

    def _links_of(self, subject: Subject, placement: Placement, rule: str) -> list[SpanLink]:
        """Causes in other places: a node's problem, a preemptor, the run before, a rollout."""
        links: list[SpanLink] = []
        regarding = subject.regarding
        anchors, now_ns = self._anchors, self.watermark_ns
        if isinstance(subject, KubeEvent):
            reason = subject.reason
            if regarding.kind == "Node" and reason in NODE_PROBLEM_REASONS:
                anchors.put(
                    NODE_ANCHOR + regarding.name,
                    (placement.trace_id, placement.span_id, subject.time_ns),
                    now_ns,
                )
            elif regarding.kind == "Pod" and reason in _NODE_EFFECTS:
                self._link_node_problem(links, regarding, "", subject.time_ns)
            if reason == "SuccessfulCreate" and rule not in ("create", "repeat") and self._losses:
                self._link_replaced(links, subject)
            if reason == "Preempted" and subject.related is not None:
                preemptor = self._latest_placement(subject.related)
                if preemptor is not None:
                    links.append((*preemptor, "preempted-by"))
        elif subject.reason == "ContainerRun":
            self._link_node_problem(links, regarding, subject.instance, subject.time_ns)
            run_key = f"run:{regarding.key}/{subject.field_path}"
            previous = anchors.get(run_key, now_ns)
            if previous is not None:
                links.append((previous[0], previous[1], "previous-run"))
            anchors.put(run_key, (placement.trace_id, placement.span_id, subject.time_ns), now_ns)
        if rule == "root":
            rollout = self._rollout_of(regarding, subject.time_ns, placement.trace_id)
            if rollout is not None:
                links.append((*rollout, "rollout"))
        return links

    def _note_loss(self, event: KubeEvent) -> None:
        """A sign that a Pod is being lost: its controller may replace it. The first sign is
        kept, per Pod, under the controller (as read when it arrives: a replacement written
        before the loss's own Event, in the same second, still finds it).

        A sign its controller's own deletion already explains (a rollout's Killing) is no loss,
        and is not kept: a replacement never links to it (see _link_replaced), and, kept as
        the Pod name's first sign for the hour, it hid a later loss of a Pod of the same name
        (a StatefulSet's, evicted after a rolling update re-created it). Nor does it take the
        memory a rollout's every old Pod took."""
        pod = event.regarding
        stored = self.store.get(pod)
        owner = stored.owner if stored is not None else None
        if owner is None or self._deleted_by_owner(pod.namespace, pod.name, event.time_ns):
            return
        owner_key = f"{owner.kind}/{pod.namespace}/{owner.name}"
        losses = self._losses.get(owner_key) or {}
        sign = (OccurrenceKey(event.uid, event.count), event.time_ns, event.resource_version)
        known = losses.get(pod.name)
        if known is None and len(losses) >= _LOSSES_KEPT:
            # Losses too old for a replacement to link to (_link_replaced) make room: the
            # first noted first (they are noted in about time order; a look at the first alone,
            # since a controller whose losses are never answered would be full at every loss).
            oldest = event.time_ns - NODE_CAUSE_HORIZON_NS - TIMESTAMP_SLACK_NS
            while losses:
                name, (_, time_ns, _) = next(iter(losses.items()))
                if time_ns >= oldest:
                    break
                del losses[name]
        if known is None and len(losses) < _LOSSES_KEPT:
            losses[pod.name] = sign
        elif known is not None and (sign[1:], event.uid) < (known[1:], known[0].uid):
            losses[pod.name] = sign  # the earliest sign, whatever the arrival order
        # Stored again: the controller's losses are kept for the hour after the latest, not
        # the first (which took a loss noted late in that hour with it).
        self._losses[owner_key] = losses

    def _link_replaced(self, links: list[SpanLink], act: KubeEvent) -> None:
        """A controller's create that no scaling asked for replaces a Pod it lost: linked to
        that loss (the same Pod name for a StatefulSet, else the oldest loss not answered).
        A Pod its controller deleted itself (scaled down, rolled out) was no loss."""
        owner = act.regarding
        losses = self._losses.get(f"{owner.kind}/{owner.namespace}/{owner.name}")
        if not losses:
            return
        child = named_child(act)
        earliest = act.time_ns - NODE_CAUSE_HORIZON_NS
        latest = act.time_ns + TIMESTAMP_SLACK_NS
        fits = sorted(
            (time_ns, name)
            for name, (_, time_ns, _) in losses.items()
            if earliest <= time_ns <= latest
            and not self._deleted_by_owner(owner.namespace, name, time_ns)
        )
        if child is not None and any(name == child.name for _, name in fits):
            name = child.name
        elif fits and owner.kind != "StatefulSet":  # a StatefulSet re-creates by name
            name = fits[0][1]
        else:
            return
        key, _, _ = losses.pop(name)
        span_id = event_span_id(key.uid, key.number)
        placed = self._seen.placement(span_id, self.watermark_ns)
        if placed is not None:
            links.append((placed[0], span_id, "replaces"))
        elif key in self._pending_events:  # the loss came in the same (truncated) second
            self._replaced_by[key] = event_span_id(act.uid, act.count)

    def _deleted_by_owner(self, namespace: str, pod_name: str, loss_ns: int) -> bool:
        """Whether a controller's act deleted the Pod pod_name in namespace within the minute
        before loss_ns."""
        names = self._acts.get(("Pod", namespace))
        return any(
            act.relation is Relation.DELETE
            and loss_ns - CONTROLLER_ACT_HORIZON_NS <= act.time_ns <= loss_ns + TIMESTAMP_SLACK_NS
            for act in (acts_of(names.get(pod_name, ())) if names is not None else ())
        )

    def _link_node_problem(
        self, links: list[SpanLink], pod: ObjectRef, node: str, time_ns: int
    ) -> None:
        if not node:
            stored = self.store.get(pod)
            node = stored.node if stored is not None else ""
        anchor = self._anchors.get(NODE_ANCHOR + node, self.watermark_ns) if node else None
        if anchor is not None and (
            anchor[2] - TIMESTAMP_SLACK_NS <= time_ns <= anchor[2] + NODE_CAUSE_HORIZON_NS
        ):
            links.append((anchor[0], anchor[1], "node-problem"))

    def _latest_placement(self, ref: ObjectRef) -> tuple[int, int] | None:
        """Where the latest linked occurrence of an object went, while it is remembered."""
        stored = self.store.get(ref)
        timeline = self._timelines.get(ref.key)
        if timeline is None and stored is not None and stored.uid:
            timeline = self._timelines.get(stored.uid)
        for _, _, uid, count in reversed(timeline or ()):
            placed = self._seen.placement(event_span_id(uid, count), self.watermark_ns)
            if placed is not None:
                return placed[0], event_span_id(uid, count)
        return None

    def _rollout_of(self, ref: ObjectRef, time_ns: int, trace_id: int) -> tuple[int, int] | None:
        """The change root of the rollout that made ref's top object what it is, if exported
        or still open: a crash long after a rollout starts a trace of its own, linked to it."""
        top = self.store.top_of(ref)
        generation = self.store.generation_at(top, time_ns)
        if generation is None:
            return None
        root_id = change_span_id(top.key, generation.generation)
        if root_id not in self._drafts and not self._exported_held.has(root_id, self._clock()):
            return None
        root_trace = change_trace_id(top.key, generation.generation)
        return (root_trace, root_id) if root_trace != trace_id else None

    def _natural_end(self, event: KubeEvent) -> int:
        """Until the next occurrence on the same object, or the window when none follows."""
        idle_end = event.time_ns + self._settings.window_ns
        timeline = self._timelines.get(event.regarding.key, [])
        here = (event.time_ns, event.resource_version, event.uid, event.count)
        index = bisect_right(timeline, here)
        if index < len(timeline) and timeline[index][0] <= idle_end:
            return timeline[index][0]
        return idle_end

    def _cover(self, draft: SpanDraft) -> None:
        """Stretch the unexported ancestors of draft so that each parent covers its children."""
        end, parent_id = draft.end_ns, draft.parent_id
        for _ in range(16):
            if parent_id is None:
                return
            parent = self._drafts.get(parent_id)
            if parent is None and parent_id == draft.parent_id and draft.cover_via is not None:
                parent_id = draft.cover_via  # the first occurrence left: on above it
                continue
            if parent is None or parent.end_ns >= end:
                return
            parent.end_ns = end
            parent_id = parent.parent_id

    def _finished(self, now_ns: int) -> list[ReadableSpan]:
        done: list[ReadableSpan] = []
        series_due = self._series_due
        while self._exports and self._exports[0][0] <= now_ns:
            due, _, span_id = heapq.heappop(self._exports)
            if series_due and span_id in series_due:
                if series_due[span_id] > due:
                    continue  # a repeat folded in since: due later (its own entry is queued)
                del series_due[span_id]
            draft = self._drafts.pop(span_id, None)
            if draft is not None:
                done.append(self._builder.build(draft))
        if self._held_due and self._held_due[0][0] <= now_ns:
            done.extend(self._finished_held(now_ns))
        self.stats.spans += len(done)
        return done

    def _finished_held(self, now_ns: int) -> list[ReadableSpan]:
        """Held spans whose change went quiet, or that were held long enough."""
        done: list[ReadableSpan] = []
        queue = self._held_due
        while queue and queue[0][0] <= now_ns:
            _, span_id = heapq.heappop(queue)
            draft = self._drafts.get(span_id)
            held = self._held.get(draft.trace_id) if draft is not None else None
            if draft is None or held is None or span_id not in held:
                continue  # exported already (queued twice)
            due = self._held_until(draft)
            if due > now_ns:
                heapq.heappush(queue, (due, span_id))  # its change went on meanwhile
                continue
            held.discard(span_id)
            if not held:
                del self._held[draft.trace_id]
            del self._drafts[span_id]
            self._exported_held.put(
                span_id, draft.start_ns, draft.end_ns, draft.parent_id, self._clock()
            )
            done.append(self._builder.build(draft))
        return done

    def _forget(self, now_ns: int) -> None:
        """Drop what can no longer matter; every structure here is bounded by event time."""
        self.store.expire(now_ns)
        timeline_horizon = now_ns - 4 * self._settings.window_ns
        # Entries arrive in roughly time order; stop at the first one still needed (a late
        # one behind it waits a little longer, which is harmless).
        timeline_times, timeline_keys = self._timeline_expiry_times, self._timeline_expiry_keys
        while timeline_times and timeline_times[0] < timeline_horizon:
            timeline_times.popleft()
            object_key = timeline_keys.popleft()
            timeline = self._timelines.get(object_key)
            if timeline is None:
                continue
            if timeline[-1][0] < timeline_horizon:
                del self._timelines[object_key]
            else:  # still active: what is past the horizon goes (an Event repeating for days)
                del timeline[: bisect_left(timeline, (timeline_horizon,))]
        _settle_acts(
            now_ns - _ACT_SETTLE_NS,
            self._act_settle_times,
            self._act_settle_names,
            self._act_settle_name,
        )
        _forget_acts(
            now_ns - self._settings.link_horizon_ns - 2 * self._settings.window_ns,
            self._act_expiry_times,
            self._act_expiry_names,
            self._act_expiry_name,
        )
        _forget_acts(
            now_ns - self._step_act_keep_ns,
            self._step_act_expiry_times,
            self._step_act_expiry_names,
            self._step_act_expiry_name,
        )
        if now_ns >= self._next_change_sweep:
            self._next_change_sweep = now_ns + self._settings.change_gap_ns
            stale = now_ns - self._settings.max_change_ns - self._settings.change_gap_ns
            for top_key in [k for k, c in self._changes.items() if c.last_ns < stale]:
                change = self._changes.pop(top_key)
                self._change_by_trace.pop(change.trace_id, None)
                self._held_now(change.trace_id)


def _forget_acts(
    horizon_ns: int, times: deque[int], names_queue: deque[_ActsByName], name_queue: deque[str]
) -> None:
    """Drop the acts older than horizon_ns from one expiry queue (time, names, name) and the
    names they were kept under."""
    while times and times[0] < horizon_ns:
        times.popleft()
        names, name = names_queue.popleft(), name_queue.popleft()
        named = names.get(name)
        if named is None:
            continue
        if time_of(named[-1]) < horizon_ns:
            del names[name]
        elif time_of(named[0]) < horizon_ns:  # a name acted on again and again
            names[name] = tuple(act for act in named if time_of(act) >= horizon_ns)


def _settle_acts(
    before_ns: int, times: deque[int], names_queue: deque[_ActsByName], name_queue: deque[str]
) -> None:
    """Pack the placed acts of the names acted on before before_ns (graph/settled.py)."""
    while times and times[0] < before_ns:
        times.popleft()
        names, name = names_queue.popleft(), name_queue.popleft()
        named = names.get(name)
        if named is not None:
            names[name] = tuple(settled(act) if isinstance(act, NamedAct) else act for act in named)


class _View:
    """The read-only view of the graph's state that the pure linker consults."""

    def __init__(self, graph: CausalGraph, *, actors: bool = True) -> None:
        self._graph = graph
        self._actors = actors

    def acts_naming(self, ref: ObjectRef) -> Sequence[NamedAct]:
        if not self._actors:
            return ()
        names = self._graph._acts.get((ref.kind, ref.namespace))
        return acts_of(names.get(ref.name, ())) if names is not None else ()

    def top_of(self, ref: ObjectRef) -> ObjectRef:
        return self._graph.store.top_of(ref)

    def generation_at(self, ref: ObjectRef, time_ns: int) -> GenerationChange | None:
        return self._graph.store.generation_at(ref, time_ns)

    def change_of(self, top_key: str) -> Change | None:
        return self._graph._changes.get(top_key)

    def replicas_before(self, ref: ObjectRef, version: int) -> int | None:
        return self._graph.store.replicas_before(ref, version)

    def rolling_out(self, ref: ObjectRef) -> bool:
        return self._graph.store.rolling_out(ref)


def replay_changes(
    changes: Iterable[ObjectChange | EventChange | Snapshot], settings: GraphSettings
) -> list[ReadableSpan]:
    """Link a finite sequence of changes and return every span: the library entry point.

    Event time moves on every ``ADVANCE_EVERY`` changes, never inside a Snapshot.
    """
    graph = CausalGraph(settings)
    spans: list[ReadableSpan] = []
    since_advance, in_snapshot = 0, False
    for change in changes:
        if isinstance(change, Snapshot):
            in_snapshot = not change.end
        else:
            graph.ingest(change)
            since_advance += 1
        if since_advance >= ADVANCE_EVERY and not in_snapshot:
            spans.extend(graph.advance())
            since_advance = 0
    spans.extend(graph.flush())
    return spans
