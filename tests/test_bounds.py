"""Bounded state and full disks: a long run keeps flat memory, and a disk that refuses the
checkpoint's writes is counted, shown and retried, never a traceback or a lost delivery."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest

from kspan_py.checkpoint import CheckpointFile
from kspan_py.config import GraphSettings
from kspan_py.graph.causality import CausalGraph
from kspan_py.model import ChangeType, EventChange, ObjectChange, ObjectRef, Uid
from kspan_py.model.sharing import share, shared_in_table
from kspan_py.sources.capture import read_capture
from kspan_py.spans.building import SpanBuilder
from tests.fake_apiserver import FakeApiServer
from tests.test_live import (
    CRASHLOOP,
    Clock,
    eventually,
    kubeconfig,  # noqa: F401 - a fixture
    live_run,
    push_all,
    server,  # noqa: F401 - a fixture
    span_ids_in,
    start_run,
    values_of,
)
from tests.test_monitoring import free_port, get, samples
from tests.tracing import kube_event, replay_file, span_id

HOUR_NS = 3600 * 10**9

needs_dev_full = pytest.mark.skipif(
    not Path("/dev/full").exists(), reason="/dev/full (ENOSPC on every write) is Linux's"
)


async def test_without_a_state_file_the_exported_ids_are_forgotten_after_the_event_ttl(
    server: FakeApiServer,  # noqa: F811
    kubeconfig: Path,  # noqa: F811
) -> None:
    """Only a restart with --state-file reads the table of exported span ids back, but a run
    without one kept it for ever: about 1 GB a day at 100 events/s."""
    expected = replay_file(CRASHLOOP)
    clock = Clock(min(s.start_time or 0 for s in expected))
    async with live_run(server, kubeconfig, clock=clock) as live:
        await live.caught_up(server)
        push_all(server, values_of(CRASHLOOP))
        await live.caught_up(server)
        gate = live.state.gate
        assert gate is not None
        clock.now_ns += 120 * 10**9  # the window and the repeats' quiet time pass
        await eventually(lambda: len(gate.exported) > 0, "the first exports")
        delivered = [span_id(s) for s in live.sink.get_finished_spans()]
        assert delivered and all(span in gate.exported for span in delivered)
        # Two hours later (event time) the API server has long forgotten those Events.
        clock.now_ns += 2 * HOUR_NS
        await eventually(
            lambda: not any(span in gate.exported for span in delivered), "the table pruned"
        )
        # What is left is what was delivered since (the changes' roots, held until now).
        assert len(gate.exported) < len(delivered)
        assert not live.task.done()


@needs_dev_full
async def test_a_journal_on_a_full_disk_is_counted_shown_in_readyz_and_metrics_and_retried(
    server: FakeApiServer,  # noqa: F811
    kubeconfig: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    state = tmp_path / "state.json"
    journal = Path(f"{state}.journal")
    journal.symlink_to("/dev/full")  # every write: ENOSPC
    expected = replay_file(CRASHLOOP)
    clock = Clock(min(s.start_time or 0 for s in expected))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with (
        live_run(
            server,
            kubeconfig,
            clock=clock,
            state_file=str(state),
            metrics_port=port,
            checkpoint_every_s=0.05,
        ) as live,
        aiohttp.ClientSession() as session,
    ):
        await live.caught_up(server)
        push_all(server, values_of(CRASHLOOP))
        await live.caught_up(server)
        clock.now_ns += 120 * 10**9
        writes = live.state.checkpoint_writes
        await eventually(lambda: writes.failures > 0, "a failed journal write")
        status, reason = await get(session, f"{base}/readyz")
        assert status == 503
        assert "journal" in reason and "No space left on device" in reason, reason
        metrics = samples((await get(session, f"{base}/metrics"))[1])
        assert metrics[("kspan_checkpoint_write_failures_total", ())] >= 1
        # The run goes on exporting; the checkpoint is written again (retried) meanwhile.
        assert not live.task.done()
        delivered = {span_id(s) for s in live.sink.get_finished_spans()}
        assert delivered
        await eventually(lambda: writes.saves > 1, "a checkpoint written since")
        journal.unlink()  # space again: the journal is written, and readiness comes back
        clock.now_ns += HOUR_NS // 2
        push_all(server, values_of(CRASHLOOP)[:1])
        await eventually(lambda: writes.error is None, "a write that worked")
        assert (await get(session, f"{base}/readyz"))[0] == 200
        await live.finish()
    # Nothing it delivered is forgotten: the checkpoint holds every id.
    saved = CheckpointFile(str(state)).load()
    assert saved is not None and all(span in saved.exported for span in delivered)


@needs_dev_full
async def test_run_survives_enospc_on_the_journal_and_reports_it_at_exit(
    server: FakeApiServer,  # noqa: F811
    kubeconfig: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    state, out = tmp_path / "state.json", tmp_path / "spans.jsonl"
    Path(f"{state}.journal").symlink_to("/dev/full")
    push_all(server, values_of(CRASHLOOP))
    process = await start_run(kubeconfig, out, "--state-file", str(state))
    try:
        await eventually(lambda: len(span_ids_in(out)) > 0, "the run's exports")
        process.send_signal(signal.SIGTERM)
        _, stderr_bytes = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    stderr = stderr_bytes.decode()
    assert "Traceback" not in stderr, stderr
    assert process.returncode == 0, stderr
    assert "journal" in stderr and "No space left on device" in stderr, stderr
    # What went out is in the checkpoint written on the way out: a restart does not repeat it.
    saved = CheckpointFile(str(state)).load()
    assert saved is not None
    assert all(int(span, 16) in saved.exported for span in span_ids_in(out))
    assert os.path.islink(f"{state}.journal")  # the operator's file was left alone


async def test_an_event_dated_years_ahead_is_skipped_live_and_blinds_nothing(
    server: FakeApiServer,  # noqa: F811
    kubeconfig: Path,  # noqa: F811
) -> None:
    """Event authors write Event times: one dated 2099 would carry event time with it."""
    from tests.test_live import same_cluster

    values = values_of(CRASHLOOP)
    hostile = json.loads(json.dumps(next(v for v in values if v["object"]["kind"] == "Event")))
    event = hostile["object"]
    event["metadata"].update(name="crasher.hostile", uid="0badc0de-0000-0000-0000-000000000001")
    for field in ("eventTime", "deprecatedFirstTimestamp", "deprecatedLastTimestamp"):
        if event.get(field):
            event[field] = (
                "2099-06-01T00:00:00.000000Z" if field == "eventTime" else "2099-06-01T00:00:00Z"
            )
    expected = replay_file(CRASHLOOP, same_cluster(server))
    start = min(s.start_time or 0 for s in expected)
    async with live_run(server, kubeconfig, since_ns=0) as live:
        live.clock.now_ns = start  # the wall clock of the recording's day
        await live.caught_up(server)
        half = len(values) // 2
        push_all(server, values[:half])
        push_all(server, [hostile])
        push_all(server, values[half:])
        await live.caught_up(server)
        graph = live.state.graph
        assert graph is not None
        assert graph.watermark_ns < start + 3600 * 10**9  # event time was not carried to 2099
        live.clock.now_ns = graph.watermark_ns + 120 * 10**9
        spans = await live.finish()
    assert live.summary.skipped["time in the future"] == 1
    assert {span_id(s) for s in spans} == {span_id(s) for s in expected}


def test_an_object_active_for_hours_keeps_the_graphs_memory_flat() -> None:
    """A Pod's BackOff repeating every 10 s for 8 h of event time, and a StatefulSet creating
    its Pod under one name every 5 min: what the graph holds stops growing once the link
    horizon (1 h) has passed. Each occurrence's entry in its object's timeline, and each act on
    a name, used to stay for as long as the object or the name kept being active."""
    graph = CausalGraph(GraphSettings())
    pod = ObjectRef("Pod", "ns", "web-1", Uid("p1"))
    statefulset = ObjectRef("StatefulSet", "ns", "db", Uid("s1"))
    traced: dict[int, int] = {}
    tracemalloc.start()
    try:
        for n in range(1, 8 * 360 + 1):
            at_s = 1_800_000_000 + n * 10
            backoff = kube_event(regarding=pod, reason="BackOff", uid="b", count=n, at_s=at_s)
            graph.ingest(EventChange(ChangeType.MODIFIED, backoff))
            if n % 30 == 0:
                created = kube_event(
                    regarding=statefulset,
                    reason="SuccessfulCreate",
                    message="create Pod db-0 in StatefulSet db successful",
                    component="statefulset-controller",
                    uid=f"c{n}",
                    at_s=at_s,
                    rv=n,
                )
                graph.ingest(EventChange(ChangeType.ADDED, created))
            graph.advance()
            if n in (2 * 360, 8 * 360):
                traced[n] = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert traced[8 * 360] - traced[2 * 360] < 64 * 1024


def _held_after(reason: str, message: str, kind: str, component: str) -> tuple[int, int]:
    """Traced memory of a graph that took 3,000 acts of ``reason`` (each naming its own
    child), right after they were linked, then once event time moved on two more minutes."""
    graph = CausalGraph(GraphSettings())
    start_s = 1_800_000_000
    tracemalloc.start()
    try:
        for n in range(3_000):
            owner = ObjectRef(kind, "ns", f"owner-{n}", Uid(f"o{n}"))
            act = kube_event(
                regarding=owner,
                reason=reason,
                message=message.format(n=n),
                component=component,
                uid=f"act-{n}-{'x' * 30}",
                at_s=start_s + n / 100,
                rv=n + 1,
            )
            graph.ingest(EventChange(ChangeType.ADDED, act))
        graph.advance(int((start_s + 40) * 1e9))
        linked = tracemalloc.get_traced_memory()[0]
        graph.advance(int((start_s + 160) * 1e9))
        later = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return linked, later


def test_scaling_steps_are_let_go_after_their_minute_and_pod_creations_are_not() -> None:
    """A ReplicaSet's events look for the scaling step behind them only within a minute, so the
    graph lets its steps go a minute and a half on (and as late as it links anything), not
    after the hour it keeps a Pod's creation for: a third of a rollout's acts. (That a packed
    creation is still found: tests/test_settled.py.)"""
    steps_linked, steps_later = _held_after(
        "ScalingReplicaSet",
        "Scaled up replica set web-{n} from 0 to 3",
        "Deployment",
        "deployment-controller",
    )
    creations_linked, creations_later = _held_after(
        "SuccessfulCreate", "Created pod: web-{n}-abcde", "ReplicaSet", "replicaset-controller"
    )
    assert steps_linked - steps_later > 3_000 * 250  # each step's act let go
    # Each creation's act kept: packed once settled (graph/settled.py, about 150 bytes less
    # here), never let go like a step (about 400).
    assert creations_linked - creations_later < 3_000 * 200


def test_objects_read_from_a_capture_share_their_repeated_strings(tmp_path: Path) -> None:
    """Every stored Pod of a namespace used to carry its own copy of "Pod", "v1", the
    namespace and each label, read anew from each line: now one string each, shared with the
    Events that regard the Pod (their names and uids too), in the reader process as here."""
    lines = []
    for n in range(600):
        pod = {
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": {
                "name": f"web-{n}",
                "namespace": "shop",
                "uid": f"pod-{n}",
                "resourceVersion": str(10 + n),
                "creationTimestamp": "2026-11-25T10:00:00Z",
                "labels": {"app": "web", "tier": "front"},
            },
        }
        lines.append({"type": "ADDED", "object": pod})
    capture = tmp_path / "pods.jsonl"
    capture.write_text("".join(json.dumps(line) + "\n" for line in lines))
    for items in (
        read_capture(str(capture), reader_process=False),
        read_capture(str(capture), reader_process=True),
    ):
        refs = [item.obj for item in items if isinstance(item, ObjectChange)]
        assert len(refs) == 600
        for shared in (
            lambda o: o.ref.kind,
            lambda o: o.ref.api_version,
            lambda o: o.ref.namespace,
            lambda o: o.labels[0][1],
            lambda o: o.labels[1][0],
        ):
            assert len({id(shared(o)) for o in refs}) == 1
        assert refs[7].ref.name is sys.intern("web-7") and refs[7].ref.uid is sys.intern("pod-7")


def test_the_events_of_one_object_share_its_reference_through_the_reader_process(
    tmp_path: Path,
) -> None:
    """A dump holds every Event until it is linked: the ten Events of a Pod name it with one
    ObjectRef, not ten equal ones (72 bytes each). Equal, as they were."""
    lines = []
    for n in range(300):
        regarding = {"kind": "Pod", "namespace": "shop", "name": f"web-{n // 10}"}
        regarding |= {"uid": f"pod-{n // 10}", "apiVersion": "v1"}
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"web.{n}", "namespace": "shop", "uid": f"ev-{n}"},
            "involvedObject": regarding,
            "reason": "Pulled",
            "message": "Pulled",
            "count": 1,
            "lastTimestamp": "2026-11-25T10:00:00Z",
        }
        lines.append({"type": "ADDED", "object": event})
    capture = tmp_path / "events.jsonl"
    capture.write_text("".join(json.dumps(line) + "\n" for line in lines))
    apart, shared = (
        [item.event for item in read_capture(str(capture), reader_process=process)
         if isinstance(item, EventChange)]
        for process in (False, True)
    )  # fmt: skip
    assert len(shared) == 300
    assert [event.regarding for event in shared] == [event.regarding for event in apart]
    assert len({id(event.regarding) for event in shared}) == 30
    assert shared[0].regarding == ObjectRef("Pod", "shop", "web-0", Uid("pod-0"), "v1")


@pytest.mark.parametrize("sharing", [share, shared_in_table], ids=["share", "3.12 table"])
def test_shared_strings_die_with_their_last_user(sharing: Callable[[str], str]) -> None:
    """Records share equal strings (model.sharing), and must not keep them alive: on CPython
    3.12 an interned string is immortal, and a live run's every Pod name and uid would pile up
    there. ``share`` is what this interpreter uses; the table is what 3.12 uses."""
    assert sharing("web-" + "1") is sharing("web-1")  # (equal strings become one)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(400_000):
            sharing(f"pod-{n:08d}-5f3c1a2e-0000-4000-8000-000000000000")
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 12 << 20  # 400,000 kept: 40 MB


def test_made_up_reporting_instances_do_not_pile_up_resources() -> None:
    """A span's resource is its Event's reporting component and instance, which whoever
    creates the Event writes. A stream of Events each naming a new instance keeps a bounded
    number of resources, not one per value made up (about 640 bytes each)."""
    builder = SpanBuilder()
    assert builder.resource("kubelet", "node-a") is builder.resource("kubelet", "node-a")
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(20_000):
            builder.resource("kubelet", f"made-up-{n:08d}")
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 6 << 20  # 20,000 kept: 13 MB
