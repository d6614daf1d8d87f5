"""The pure linker: verdicts from what is known, with no graph behind it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from kspan_py.graph.linking import (
    CausedBy,
    Change,
    JoinsChange,
    Limits,
    NamedAct,
    OccurrenceKey,
    ScalingAct,
    StartsChange,
    decide,
)
from kspan_py.graph.rules import Relation
from kspan_py.model import GenerationChange, KubeEvent, ObjectRef, Uid
from kspan_py.spans.ids import event_span_id
from tests.tracing import kube_event

S = 1_000_000_000
LIMITS = Limits(change_gap_ns=30 * S, max_change_ns=600 * S, link_horizon_ns=3600 * S)
POD = ObjectRef("Pod", "ns", "web-1-a", Uid("pod-uid"))
RS = ObjectRef("ReplicaSet", "ns", "web-1", Uid("rs-uid"))
DEPLOY = ObjectRef("Deployment", "ns", "web", Uid("deploy-uid"))


@dataclass
class View:
    acts: dict[tuple[str, str, str], list[NamedAct]] = field(default_factory=dict)
    tops: dict[str, ObjectRef] = field(default_factory=dict)
    generations: dict[str, list[GenerationChange]] = field(default_factory=dict)
    changes: dict[str, Change] = field(default_factory=dict)
    replicas: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # key -> (rv, n)
    rolling: set[str] = field(default_factory=set)  # keys whose status says rolling out

    def acts_naming(self, ref: ObjectRef) -> Sequence[NamedAct]:
        return self.acts.get(ref.name_key, [])

    def top_of(self, ref: ObjectRef) -> ObjectRef:
        return self.tops.get(ref.key, ref)

    def generation_at(self, ref: ObjectRef, time_ns: int) -> GenerationChange | None:
        known = [g for g in self.generations.get(ref.key, []) if g.time_ns <= time_ns]
        return known[-1] if known else None

    def change_of(self, top_key: str) -> Change | None:
        return self.changes.get(top_key)

    def replicas_before(self, ref: ObjectRef, version: int) -> int | None:
        before = [n for rv, n in self.replicas.get(ref.key, []) if rv < version]
        return before[-1] if before else None

    def rolling_out(self, ref: ObjectRef) -> bool:
        return ref.key in self.rolling


def event(ref: ObjectRef, reason: str, at_s: float, *, rv: int = 100, uid: str = "ev") -> KubeEvent:
    return kube_event(regarding=ref, reason=reason, at_s=at_s, rv=rv, uid=uid)


def act(uid: str, at_s: float, relation: Relation, rv: int = 10) -> NamedAct:
    return NamedAct(OccurrenceKey(uid, 1), event_span_id(uid, 1), int(at_s * S), rv, relation)


def test_a_pods_events_follow_the_act_that_created_it_for_its_life() -> None:
    view = View(acts={POD.name_key: [act("created", 0, Relation.CREATE)]})
    assert decide(event(POD, "BackOff", 1800), view, LIMITS) == CausedBy(
        OccurrenceKey("created", 1), Relation.CREATE
    )
    assert not isinstance(decide(event(POD, "BackOff", 7200), view, LIMITS), CausedBy)


def test_killing_follows_the_deletion_even_when_written_after_it() -> None:
    view = View(
        acts={
            POD.name_key: [
                act("created", 0, Relation.CREATE, rv=10),
                act("deleted", 12, Relation.DELETE, rv=200),
            ]
        }
    )
    verdict = decide(event(POD, "Killing", 12, rv=150), view, LIMITS)
    assert verdict == CausedBy(OccurrenceKey("deleted", 1), Relation.DELETE)
    assert decide(event(POD, "Started", 5, rv=50), view, LIMITS) == CausedBy(
        OccurrenceKey("created", 1), Relation.CREATE
    )


def test_a_recreated_pod_of_the_same_name_follows_the_newer_creation() -> None:
    view = View(
        acts={
            POD.name_key: [
                act("create-1", 0, Relation.CREATE),
                act("delete", 50, Relation.DELETE),
                act("create-2", 60, Relation.CREATE),
            ]
        }
    )
    verdict = decide(event(POD, "Killing", 61, rv=500), view, LIMITS)
    assert verdict == CausedBy(OccurrenceKey("create-2", 1), Relation.CREATE)


def test_acts_written_before_win_ties_of_truncated_time() -> None:
    view = View(
        acts={
            RS.name_key: [
                act("down-2-to-1", 12, Relation.DELETE, rv=533),
                act("down-1-to-0", 12, Relation.DELETE, rv=557),
            ]
        }
    )
    first = decide(event(RS, "SuccessfulDelete", 12, rv=540), view, LIMITS)
    second = decide(event(RS, "SuccessfulDelete", 12, rv=562), view, LIMITS)
    assert first == CausedBy(OccurrenceKey("down-2-to-1", 1), Relation.DELETE)
    assert second == CausedBy(OccurrenceKey("down-1-to-0", 1), Relation.DELETE)


def step(uid: str, at_s: float, relation: Relation, rv: int, start: int, to: int) -> ScalingAct:
    key = OccurrenceKey(uid, 1)
    span_id = event_span_id(uid, 1)
    return ScalingAct(key, span_id, int(at_s * S), rv, relation, target=to, step=abs(to - start))


def test_the_step_in_force_when_the_act_was_written_is_its_cause() -> None:
    """The deployment controller wrote "from 2 to 3" after the pod it caused, and "from 1 to 2"
    before it: the ReplicaSet's spec.replicas history (3 since rv 500) names the right step."""
    view = View(
        acts={
            RS.name_key: [
                step("1-to-2", 10, Relation.CREATE, rv=480, start=1, to=2),
                step("2-to-3", 10, Relation.CREATE, rv=520, start=2, to=3),
            ]
        },
        replicas={RS.key: [(470, 2), (500, 3)]},
    )
    act_written_between = decide(event(RS, "SuccessfulCreate", 10, rv=510), view, LIMITS)
    assert act_written_between == CausedBy(OccurrenceKey("2-to-3", 1), Relation.CREATE)
    view.replicas = {}  # a dump: no history, the nearest in write order among equal times
    assert decide(event(RS, "SuccessfulCreate", 10, rv=490), view, LIMITS) == CausedBy(
        OccurrenceKey("1-to-2", 1), Relation.CREATE
    )


def test_acts_beyond_a_steps_size_replace_lost_pods() -> None:
    up = step("3-to-5", 10, Relation.CREATE, rv=100, start=3, to=5)
    view = View(acts={RS.name_key: [up]})
    assert isinstance(decide(event(RS, "SuccessfulCreate", 10, rv=101), view, LIMITS), CausedBy)
    up.used = 2  # (the graph counts what it placed under the step)
    assert isinstance(decide(event(RS, "SuccessfulCreate", 10, rv=103), view, LIMITS), StartsChange)


def test_a_rollout_in_progress_keeps_its_change_through_quiet_minutes() -> None:
    change = Change(
        DEPLOY.key, 2, trace_id=7, anchor_span_id=9, started_ns=100 * S, last_ns=120 * S
    )
    view = View(tops={RS.key: DEPLOY}, changes={DEPLOY.key: change})
    quiet = decide(event(RS, "SuccessfulCreate", 300), view, LIMITS)
    assert not isinstance(quiet, JoinsChange)
    view.rolling = {DEPLOY.key}
    assert decide(event(RS, "SuccessfulCreate", 300), view, LIMITS) == JoinsChange(change)
    too_long = decide(
        event(RS, "SuccessfulCreate", 100 + LIMITS.max_change_ns / S + 1), view, LIMITS
    )
    assert not isinstance(too_long, JoinsChange)


def test_a_replicasets_acts_follow_only_a_recent_scaling() -> None:
    view = View(acts={RS.name_key: [act("up", 0, Relation.CREATE)]})
    assert isinstance(decide(event(RS, "SuccessfulCreate", 30), view, LIMITS), CausedBy)
    assert isinstance(decide(event(RS, "SuccessfulCreate", 90), view, LIMITS), StartsChange)


def test_an_act_more_than_a_second_after_the_event_is_no_cause() -> None:
    view = View(acts={POD.name_key: [act("created", 10, Relation.CREATE)]})
    assert isinstance(decide(event(POD, "Scheduled", 8.5), view, LIMITS), StartsChange)
    assert isinstance(decide(event(POD, "Scheduled", 9.5), view, LIMITS), CausedBy)


def test_a_new_generation_starts_a_change_rooted_at_it() -> None:
    change = GenerationChange(2, 100 * S, "kubectl-set", "Update")
    view = View(tops={RS.key: DEPLOY}, generations={DEPLOY.key: [change]})
    assert decide(event(DEPLOY, "ScalingReplicaSet", 100), view, LIMITS) == StartsChange(
        DEPLOY, change
    )
    late = decide(event(DEPLOY, "ScalingReplicaSet", 200), view, LIMITS)
    assert late == StartsChange(DEPLOY, None)


def test_a_live_change_of_the_same_generation_is_joined() -> None:
    change = Change(
        DEPLOY.key, 2, trace_id=7, anchor_span_id=9, started_ns=100 * S, last_ns=120 * S
    )
    generation = GenerationChange(2, 100 * S, "kubectl-set", "Update")
    view = View(
        tops={RS.key: DEPLOY},
        generations={DEPLOY.key: [generation]},
        changes={DEPLOY.key: change},
    )
    assert decide(event(RS, "FailedCreate", 140), view, LIMITS) == JoinsChange(change)
    # Quiet for longer than the gap: a new change.
    assert isinstance(decide(event(RS, "FailedCreate", 151), view, LIMITS), StartsChange)
    # A newer generation ends the old change at once.
    newer = GenerationChange(3, 130 * S, "kubectl-scale", "Update")
    view.generations[DEPLOY.key].append(newer)
    assert decide(event(DEPLOY, "ScalingReplicaSet", 131), view, LIMITS) == StartsChange(
        DEPLOY, newer
    )


def test_an_object_with_no_owner_and_no_change_is_its_own_root() -> None:
    node = ObjectRef("Node", "", "node-1", Uid("node-uid"))
    assert decide(event(node, "NodeNotReady", 5), View(), LIMITS) == StartsChange(node, None)


def test_a_spec_change_after_a_change_began_is_a_change_of_its_own() -> None:
    """A dump knows only the last generation: events before it start a change of unknown
    generation, which must not swallow the later spec change."""
    earlier = Change(
        DEPLOY.key, None, trace_id=7, anchor_span_id=9, started_ns=8 * S, last_ns=9 * S
    )
    spec_change = GenerationChange(2, 12 * S, "kubectl-set", "Update")
    view = View(generations={DEPLOY.key: [spec_change]}, changes={DEPLOY.key: earlier})
    assert decide(event(DEPLOY, "ScalingReplicaSet", 12), view, LIMITS) == StartsChange(
        DEPLOY, spec_change
    )


def test_a_killing_follows_the_deletion_not_the_re_creation_a_moment_later() -> None:
    """A StatefulSet deletes web-2 and creates it again under the same name within a second:
    the Killing of the old Pod (truncated to the second before) follows the deletion."""
    view = View(
        acts={
            POD.name_key: [
                act("created", 0, Relation.CREATE, rv=1),
                act("deleted", 100, Relation.DELETE, rv=2),
                act("re-created", 101, Relation.CREATE, rv=3),
            ]
        }
    )
    assert decide(event(POD, "Killing", 100.5), view, LIMITS) == CausedBy(
        OccurrenceKey("deleted", 1), Relation.DELETE
    )
