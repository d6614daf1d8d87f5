"""Replaying the example captures: the traces users see, checked against golden renderings,
against the causes controllers state in their messages, and under reordered input."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from kspan_py.model import EventChange
from kspan_py.sources.capture import read_capture
from tests.tracing import (
    CAPTURES,
    GOLDEN,
    attr,
    parent_id,
    permuted_within,
    render_golden,
    replay_file,
    replay_lines,
    span_id,
    trace_id,
)

ALL_CAPTURES = sorted(CAPTURES.rglob("*.jsonl"))
REAL_SCENARIOS = sorted({p.name.split(".")[0] for p in (CAPTURES / "real-1.36").glob("*.jsonl")})


def _id(path: Path) -> str:
    return str(path.relative_to(CAPTURES))


def _golden_path(capture: Path) -> Path:
    relative = capture.relative_to(CAPTURES)
    # Both recordings of one real scenario share a golden: they must give the same traces.
    name = str(relative).replace(".core.jsonl", ".jsonl").replace(".events.jsonl", ".jsonl")
    return GOLDEN / (name.removesuffix(".jsonl") + ".txt")


def test_there_are_captures_to_check() -> None:
    assert len(ALL_CAPTURES) >= 6
    assert REAL_SCENARIOS == ["badpull", "crashloop", "rollout"]


@pytest.mark.parametrize("capture", ALL_CAPTURES, ids=_id)
def test_traces_match_golden(capture: Path) -> None:
    rendered = render_golden(replay_file(capture))
    golden = _golden_path(capture)
    if os.environ.get("UPDATE_GOLDEN") and not golden.exists():
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(rendered)
    assert golden.exists(), f"no golden for {capture}: run UPDATE_GOLDEN=1 pytest"
    assert rendered == golden.read_text()


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("capture", ALL_CAPTURES, ids=_id)
def test_arrival_order_within_the_window_does_not_change_traces(capture: Path, seed: int) -> None:
    lines = [line for line in capture.read_text().splitlines() if line.strip()]
    shuffled = permuted_within(lines, seed, jitter_s=3.0)
    assert shuffled != lines or len(lines) < 3
    assert render_golden(replay_lines(shuffled)) == render_golden(replay_lines(lines))


@pytest.mark.parametrize("scenario", REAL_SCENARIOS)
def test_both_event_apis_give_the_same_traces(scenario: str) -> None:
    core = replay_file(CAPTURES / "real-1.36" / f"{scenario}.core.jsonl")
    events = replay_file(CAPTURES / "real-1.36" / f"{scenario}.events.jsonl")
    assert render_golden(core) == render_golden(events)
    assert {(span_id(s), parent_id(s), trace_id(s)) for s in core} == {
        (span_id(s), parent_id(s), trace_id(s)) for s in events
    }


def _occurrences(capture: Path) -> set[tuple[str, int]]:
    return {
        (item.event.uid, item.event.count)
        for item in read_capture(str(capture))
        if isinstance(item, EventChange) and item.type.value != "DELETED"
    }


def _held(span: ReadableSpan) -> list[tuple[object, object]]:
    """The occurrences a span stands for: its own, or each of a span of repeats' events."""
    if span.events:
        return [
            ((e.attributes or {}).get("k8s.event.uid"), (e.attributes or {}).get("k8s.event.count"))
            for e in span.events
        ]
    return [(attr(span, "k8s.event.uid"), attr(span, "k8s.event.count"))]


@pytest.mark.parametrize("capture", ALL_CAPTURES, ids=_id)
def test_every_occurrence_becomes_exactly_one_span_or_span_event(capture: Path) -> None:
    spans = replay_file(capture)
    exported = [key for s in spans for key in _held(s)]
    event_spans = [key for key in exported if key[0] is not None]
    assert len(event_spans) == len(set(event_spans))
    assert set(event_spans) == _occurrences(capture)
    assert len({span_id(s) for s in spans}) == len(spans)
    ids = {span_id(s) for s in spans}
    assert all(parent_id(s) in ids for s in spans if parent_id(s) is not None)


_NAMING = [
    (re.compile(r"^Scaled up replica set (\S+)"), "ReplicaSet", "create"),
    (re.compile(r"^Scaled down replica set (\S+)"), "ReplicaSet", "delete"),
    (re.compile(r"^Created pod: (\S+)"), "Pod", "create"),
    (re.compile(r"^Deleted pod: (\S+)"), "Pod", "delete"),
    (re.compile(r"^(?i:create) Pod (\S+) in StatefulSet"), "Pod", "create"),
    (re.compile(r"^(?i:delete) Pod (\S+) in StatefulSet"), "Pod", "delete"),
    (re.compile(r"^Created job (\S+)"), "Job", "create"),
]


def _named(span: ReadableSpan) -> tuple[str, str, str] | None:
    message = str(attr(span, "k8s.event.message") or "")
    for pattern, kind, relation in _NAMING:
        found = pattern.search(message)
        if found:
            return kind, found.group(1), relation
    return None


def _nearest_event_ancestor(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> ReadableSpan:
    """The nearest span above that stands for another Event (repeats hang under their first)."""
    own = attr(span, "k8s.event.uid")
    current = by_id.get(parent_id(span) or 0)
    while current is not None and attr(current, "k8s.event.uid") in (None, own):
        current = by_id.get(parent_id(current) or 0)
    assert current is not None, f"{span.name} has no event above it"
    return current


def _replaces(span: ReadableSpan) -> bool:
    return any(
        (link.attributes or {}).get("kspan.link.reason") == "replaces" for link in span.links
    )


@pytest.mark.parametrize("capture", ALL_CAPTURES, ids=_id)
def test_children_hang_under_the_act_that_named_them(capture: Path) -> None:
    """A Pod's events sit under "Created pod: X" (its Killing under "Deleted pod: X" when a
    controller deleted it; a pod preempted or evicted has no such event), a ReplicaSet's acts
    under the Deployment's scaling that named it (when one did, in the minute before: a
    ReplicaSet also replaces lost pods on its own), a Job's under its creation."""
    spans = replay_file(capture)
    by_id = {span_id(s): s for s in spans}
    named = [(found, s.start_time or 0) for s in spans if (found := _named(s)) is not None]
    namers = {found[:2] for found, _ in named}
    deleted = {found[:2] for found, _ in named if found[2] == "delete"}
    checked = 0
    for span in spans:
        kind, name = attr(span, "k8s.object.kind"), attr(span, "k8s.object.name")
        reason = attr(span, "k8s.event.reason")
        if attr(span, "k8s.event.uid") is None or (kind, name) not in namers:
            continue
        if kind == "ReplicaSet" and reason not in ("SuccessfulCreate", "SuccessfulDelete"):
            continue
        if kind == "ReplicaSet" and _replaces(span):
            continue  # no step asked for it: it replaces a lost pod (linked to the loss)
        if kind == "ReplicaSet":
            relation = "create" if reason == "SuccessfulCreate" else "delete"
            at = span.start_time or 0
            if not any(
                found == (kind, name, relation) and at - 60 * 10**9 <= when <= at + 10**9
                for found, when in named
            ):
                continue
        cause = _named(_nearest_event_ancestor(span, by_id))
        assert cause is not None and cause[:2] == (kind, name), (
            f"{kind}/{name} {reason} is under {_nearest_event_ancestor(span, by_id).name}"
        )
        if kind == "Pod":
            by_controller = reason == "Killing" and (kind, name) in deleted
            assert cause[2] == ("delete" if by_controller else "create")
        if kind == "ReplicaSet":
            assert cause[2] == ("create" if reason == "SuccessfulCreate" else "delete")
        checked += 1
    assert checked > 0


def test_a_rolling_update_is_one_trace_per_change_rooted_at_who_changed_it() -> None:
    spans = replay_file(CAPTURES / "real-1.36" / "rollout.core.jsonl")
    roots = sorted((s for s in spans if s.parent is None), key=lambda s: s.start_time or 0)
    assert [(r.name, r.resource.attributes["service.name"]) for r in roots] == [
        ("Deployment.Create", "kubectl-create"),
        ("Deployment.Update", "kubectl-set"),
    ]
    assert len({trace_id(s) for s in spans}) == 2
    update = roots[1]
    in_update = [s for s in spans if trace_id(s) == trace_id(update)]
    assert {attr(s, "k8s.event.reason") for s in in_update} >= {
        "ScalingReplicaSet",
        "SuccessfulCreate",
        "SuccessfulDelete",
        "Killing",
        "Started",
    }
    assert update.end_time is not None
    assert update.end_time >= max(s.end_time or 0 for s in in_update)


def test_warning_events_and_problems_are_errors_with_their_message() -> None:
    spans = replay_file(CAPTURES / "real-1.36" / "badpull.core.jsonl")
    warnings = [s for s in spans if attr(s, "k8s.event.type") == "Warning"]
    assert warnings
    for span in warnings:
        assert span.status.status_code is StatusCode.ERROR
        assert span.status.description == attr(span, "k8s.event.message")
    normal = [s for s in spans if attr(s, "k8s.event.type") == "Normal"]
    # A Normal event is an error only when it shows a problem ("Back-off pulling image" is
    # Normal, and it is the ImagePullBackOff).
    for span in normal:
        expected = StatusCode.ERROR if attr(span, "kspan.problem") else StatusCode.UNSET
        assert span.status.status_code is expected, span.name
    assert {attr(s, "kspan.problem") for s in spans} >= {"ErrImagePull", "ImagePullBackOff"}


def test_repeats_keep_their_counts_in_order_in_one_trace() -> None:
    spans = replay_file(CAPTURES / "real-1.36" / "crashloop.core.jsonl")
    backoffs = sorted(
        (s for s in spans if s.name == "Pod.BackOff"), key=lambda s: s.start_time or 0
    )
    counts = [count for s in backoffs for _, count in _held(s)]
    assert counts == [1, 2, 3, 4, 5]
    assert len({attr(s, "k8s.event.uid") for s in backoffs}) == 1
    assert len({trace_id(s) for s in backoffs}) == 1
    assert {attr(s, "kspan.problem") for s in backoffs} == {"CrashLoopBackOff"}


def test_a_span_lasts_until_the_next_event_on_its_object() -> None:
    spans = replay_file(CAPTURES / "real-1.36" / "rollout.core.jsonl")
    pod = "web-657c9d4c5-qg7lm"
    on_pod = sorted(
        (s for s in spans if attr(s, "k8s.pod.name") == pod),
        key=lambda s: s.start_time or 0,
    )
    scheduled = next(s for s in on_pod if s.name == "Pod.Scheduled")
    pulling = next(s for s in on_pod if s.name == "Pod.Pulling")
    assert scheduled.end_time == pulling.start_time
    started = next(s for s in on_pod if s.name == "Pod.Started")
    killing = next(s for s in on_pod if s.name == "Pod.Killing")
    assert started.end_time == killing.start_time  # 3 s later, within the 5 s window


def test_container_and_semconv_attributes() -> None:
    spans = replay_file(CAPTURES / "real-1.36" / "rollout.events.jsonl")
    started = next(s for s in spans if s.name == "Pod.Started")
    attributes = dict(started.attributes or {})
    assert attributes["k8s.container.name"] == "web"
    assert attributes["k8s.object.fieldpath"] == "spec.containers{web}"
    assert attributes["k8s.pod.name"] == attributes["k8s.object.name"]
    assert attributes["k8s.pod.uid"] == attributes["k8s.object.uid"]
    assert attributes["k8s.namespace.name"] == "rollout"
    assert started.resource.attributes["service.name"] == "kubelet"
    assert started.resource.attributes["service.instance.id"].startswith("hollow-node-")
    scheduled = next(s for s in spans if s.name == "Pod.Scheduled")
    assert (scheduled.attributes or {})["k8s.event.action"] == "Binding"


def test_a_restarted_replay_gives_the_same_span_ids() -> None:
    lines = (CAPTURES / "real-1.36" / "crashloop.core.jsonl").read_text().splitlines()
    first_run = replay_lines(lines[: len(lines) // 2])
    full_run = replay_lines(lines)
    full = {attr(s, "k8s.event.uid"): set() for s in full_run}

    def first_held(span: ReadableSpan) -> tuple[object, object]:
        return _held(span)[0]

    by_occurrence = {first_held(s): span_id(s) for s in full_run}
    assert full
    for span in first_run:
        key = first_held(span)
        if key[0] is not None:
            assert by_occurrence[key] == span_id(span)


@pytest.mark.parametrize("capture", ALL_CAPTURES, ids=_id)
def test_a_pod_has_one_life_in_a_trace_and_it_covers_what_hangs_under_it(capture: Path) -> None:
    spans = replay_file(capture)
    lives = [s for s in spans if s.name == "Pod.Lifetime"]
    # (A StatefulSet re-creates a Pod under its name: another Pod, another life, one trace.)
    pods = [(trace_id(s), attr(s, "k8s.pod.uid") or attr(s, "k8s.pod.name")) for s in lives]
    assert len(pods) == len(set(pods)), "a Pod with two lives in one trace"
    for life in lives:
        under = [s for s in spans if parent_id(s) == span_id(life)]
        assert under, "a life with nothing in it"
        assert {attr(s, "k8s.pod.name") for s in under} == {attr(life, "k8s.pod.name")}
        assert (life.start_time or 0) <= min(s.start_time or 0 for s in under)
        assert (life.end_time or 0) >= max(s.end_time or 0 for s in under)
