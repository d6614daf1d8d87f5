"""Post-mortems from `kubectl get events,pods,replicasets,deployments -o json`: one List, in no
time order, events before the objects they concern, and larger than one batch of the runner."""

from __future__ import annotations

import json
from pathlib import Path

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from kspan_py.config import ReplaySettings
from kspan_py.runner import ReplaySummary, replay
from tests.tracing import CAPTURES, attr, parent_id, render_golden, replay_file, span_id

ROLLOUT = CAPTURES / "real-1.36" / "rollout.core.jsonl"


def _final_states(
    capture: Path = ROLLOUT,
) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """What `kubectl get` would list at the end of the recording: last versions, no deleted."""
    latest: dict[str, tuple[str, dict[str, object]]] = {}
    for line in capture.read_text().splitlines():
        value = json.loads(line)
        body = value["object"]
        latest[body["metadata"]["uid"]] = (value["type"], body)
    kept = [body for kind, body in latest.values() if kind != "DELETED"]
    events = [b for b in kept if b["kind"] == "Event"]
    return events, [b for b in kept if b["kind"] != "Event"]


def _padding(count: int) -> list[dict[str, object]]:
    return [
        {"kind": "ConfigMap", "metadata": {"name": f"cm-{i}", "namespace": "x", "uid": f"cm{i}"}}
        for i in range(count)
    ]


async def _replay_dump(tmp_path: Path, items: list[dict[str, object]]) -> list[ReadableSpan]:
    dump = tmp_path / "dump.json"
    dump.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}, indent=2))
    memory = InMemorySpanExporter()
    summary = ReplaySummary()
    await replay(ReplaySettings(paths=(str(dump),)), {"memory": memory}, summary)
    assert sum(summary.skipped.values()) == 0
    return list(memory.get_finished_spans())


async def test_a_dump_links_like_a_recording_whatever_its_order(tmp_path: Path) -> None:
    events, objects = _final_states()
    events_first = await _replay_dump(tmp_path, [*_padding(600), *events, *objects])
    objects_first = await _replay_dump(tmp_path, [*objects, *_padding(600), *events])
    assert render_golden(events_first) == render_golden(objects_first)

    assert {attr(s, "k8s.event.uid") for s in events_first} - {None} == {
        e["metadata"]["uid"]  # type: ignore[index]
        for e in events
    }
    by_id = {span_id(s): s for s in events_first}
    for span in events_first:
        pod = attr(span, "k8s.pod.name")
        if pod is None:
            continue
        cause = by_id[parent_id(span) or 0]
        if cause.name == "Pod.Lifetime":  # the Pod's life, under the act that created it
            assert attr(cause, "k8s.pod.name") == pod
            cause = by_id[parent_id(cause) or 0]
        wanted = "Deleted pod: " if span.name == "Pod.Killing" else "Created pod: "
        assert attr(cause, "k8s.event.message") == wanted + str(pod)
    update = [s for s in events_first if s.name == "Deployment.Update"]
    assert [s.resource.attributes["service.name"] for s in update] == ["kubectl-set"]


async def test_the_library_links_a_dump_as_the_runner_does(tmp_path: Path) -> None:
    """The crash loop's events span a minute: cut mid-List, most would be linked before the
    Deployment that roots them is known."""
    events, objects = _final_states(CAPTURES / "real-1.36" / "crashloop.core.jsonl")
    by_runner = await _replay_dump(tmp_path, [*events, *_padding(600), *objects])
    assert [s.name for s in by_runner if s.parent is None] == ["Deployment.Create"]
    assert render_golden(replay_file(tmp_path / "dump.json")) == render_golden(by_runner)


def _problems(spans: list[ReadableSpan]) -> set[tuple[object, object, object]]:
    return {
        (attr(s, "kspan.problem"), attr(s, "k8s.object.name"), attr(s, "k8s.container.name"))
        for s in spans
        if attr(s, "kspan.problem")
    }


async def test_a_dump_of_a_crash_loop_shows_the_problems_the_recording_shows(
    tmp_path: Path,
) -> None:
    """`kubectl get pods,replicasets,deployments,events -o json` after a crash loop: few events
    (each at its latest count) and the Pods' last statuses; the same problems stand out."""
    capture = CAPTURES / "real-1.36" / "crashloop.core.jsonl"
    events, objects = _final_states(capture)
    dumped = await _replay_dump(tmp_path, [*objects, *events])
    recorded = replay_file(capture)
    assert _problems(dumped) == _problems(recorded)
    assert {problem for problem, _, _ in _problems(dumped)} == {
        "CrashLoopBackOff",
        "ContainerFailed",
    }
    # The runs a dump still shows are the recording's runs: the same spans.
    runs_dumped = {span_id(s) for s in dumped if s.name == "Container.Run"}
    runs_recorded = {span_id(s) for s in recorded if s.name == "Container.Run"}
    assert runs_dumped
    assert runs_dumped <= runs_recorded
    for span in dumped:
        if span.name == "Container.Run":
            assert attr(span, "kspan.container.exit_code") == 1
