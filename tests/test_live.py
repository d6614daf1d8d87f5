"""Live mode against the fake API server, through the real kubernetes_asyncio client.

A real recording is played into the fake server (creates, updates and deletes, in the order the
API server delivered them); `kspan-py run` watches it through a generated kubeconfig. Event
time comes from the recording; the wall clock the run sees is a test clock that never moves
unless a test moves it, so nothing here waits on time passing.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import signal
import sys
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from kspan_py.checkpoint import CheckpointFile
from kspan_py.config import (
    ClusterSettings,
    GraphSettings,
    LiveSettings,
    OtlpSettings,
    SinkSettings,
)
from kspan_py.live import run
from kspan_py.model import ObjectRef
from kspan_py.monitoring import LiveState
from kspan_py.runner import ReplaySummary
from kspan_py.sinks import make_sinks
from kspan_py.sinks.console import ConsoleSink
from kspan_py.sources.watching import connect
from tests.fake_apiserver import FakeApiError, FakeApiServer, write_kubeconfig
from tests.otlp_receivers import GrpcReceiver
from tests.tracing import CAPTURES, render_golden, replay_file, span_id

ROLLOUT = CAPTURES / "real-1.36" / "rollout.events.jsonl"
ROLLOUT_CORE = CAPTURES / "real-1.36" / "rollout.core.jsonl"
CRASHLOOP = CAPTURES / "real-1.36" / "crashloop.events.jsonl"

FAST = ClusterSettings(backoff_initial_s=0.005, backoff_max_s=0.02, page_size=7)


def values_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def push(server: FakeApiServer, value: dict[str, Any]) -> bool:
    """Write one recorded watch event into the server as the cluster did; False if the server
    does not serve its kind."""
    body = json.loads(json.dumps(value["object"]))
    body["metadata"].pop("resourceVersion", None)
    metadata = body["metadata"]
    try:
        exists = server.get(body["kind"], metadata["name"], metadata.get("namespace")) is not None
        if value["type"] == "DELETED":
            if exists:
                server.delete(body)
        elif exists:
            server.update(body)
        else:
            server.create(body)
    except FakeApiError as error:
        if error.code == 404:
            return False
        raise
    return True


def push_all(server: FakeApiServer, values: Iterable[dict[str, Any]]) -> int:
    return sum(push(server, value) for value in values)


RECORDING_DAY_NS = 1_795_536_000_000_000_000
"""2026-11-24T16:00:00Z: before every recording bundled (made from 16:32 on), and close enough
that none of their Events is taken for a time in the future (live.FUTURE_SKEW_NS)."""


@dataclass
class Clock:
    """The wall clock a run sees: it stays where a test puts it."""

    now_ns: int = RECORDING_DAY_NS

    def __call__(self) -> int:
        return self.now_ns


@dataclass
class Live:
    state: LiveState
    sink: InMemorySpanExporter  # the default sink (unused when a test gives its own)
    summary: ReplaySummary
    stop: asyncio.Event
    task: asyncio.Task[ReplaySummary]
    clock: Clock

    async def caught_up(self, server: FakeApiServer) -> None:
        """Wait until the run has taken everything the server holds: each watch has seen the
        server's resourceVersion (a bookmark brings it) and the graph took every value."""
        source = self.state.source
        assert source is not None and self.state.ready is not None
        await eventually(self.state.ready.is_set, "start-up snapshot")
        target = str(server.current_resource_version())
        server.send_bookmarks()
        await eventually(
            lambda: (
                all(w.resource_version == target for w in source.watches)
                and self.state.values_ingested == source.values_out
            ),
            f"watches at resourceVersion {target}",
            on_timeout=server.send_bookmarks,
        )

    async def finish(self) -> list[ReadableSpan]:
        self.stop.set()
        await asyncio.wait_for(self.task, 10)
        return list(self.sink.get_finished_spans())


async def eventually(
    condition: Callable[[], bool], what: str, *, on_timeout: Callable[[], None] | None = None
) -> None:
    """Poll a condition that other tasks make true; a bounded wait, not a timing assumption."""
    for attempt in range(2000):
        if condition():
            return
        if on_timeout is not None and attempt % 50 == 49:
            on_timeout()
        await asyncio.sleep(0.005)  # allow-sleep: a bounded poll of a condition, not a timing bet
    raise AssertionError(f"timed out waiting for {what}")


@asynccontextmanager
async def live_run(
    server: FakeApiServer | None,
    kubeconfig: Path,
    *,
    cluster: ClusterSettings = FAST,
    clock: Clock | None = None,
    sinks: dict[str, SpanExporter] | None = None,
    stop_timeout_s: float = 10.0,
    **settings: Any,
) -> AsyncIterator[Live]:
    """`run` in this loop through the real client, stopped (and checked to stop) on exit."""
    cluster = replace(cluster, kubeconfig=str(kubeconfig), context="fake")
    live_settings = LiveSettings(cluster=cluster, **{"tick_s": 0.005, **settings})
    sink = InMemorySpanExporter()
    summary = ReplaySummary()
    stop = asyncio.Event()
    state = LiveState()
    clock = clock or Clock()
    connection = await connect(cluster)
    task = asyncio.create_task(
        run(
            live_settings,
            sinks if sinks is not None else {"memory": sink},
            summary,
            stop=stop,
            clock=clock,
            connection=connection,
            state=state,
        )
    )
    live = Live(state, sink, summary, stop, task, clock)
    try:
        await eventually(lambda: state.source is not None or task.done(), "the run to start")
        yield live
    finally:
        if not task.done():
            stop.set()
            await asyncio.wait_for(task, stop_timeout_s)
        await connection.close()


def fingerprint(spans: Iterable[ReadableSpan]) -> list[tuple[Any, ...]]:
    """Everything a backend stores of a span, in a stable order."""
    rows = []
    for span in spans:
        assert span.context is not None
        rows.append(
            (
                span.context.trace_id,
                span.context.span_id,
                span.parent.span_id if span.parent else None,
                span.name,
                span.start_time,
                span.end_time,
                tuple(sorted((span.attributes or {}).items())),
                span.status.status_code.value,
                tuple(sorted(span.resource.attributes.items())),
            )
        )
    return sorted(rows)


def same_cluster(server: FakeApiServer) -> GraphSettings:
    """A replay's settings for input from this server: its identity (the kube-system
    namespace's uid, which a live run reads) as k8s.cluster.uid."""
    namespace = server.get("Namespace", "kube-system", None)
    assert namespace is not None
    return GraphSettings(cluster_uid=namespace["metadata"]["uid"])


def assert_exactly_once(spans: list[ReadableSpan]) -> None:
    ids = [span_id(s) for s in spans]
    assert len(ids) == len(set(ids)), "a span was exported twice"


def a_cluster(fake: FakeApiServer) -> FakeApiServer:
    """A cluster has written something before kspan-py starts (its resourceVersion is never 0,
    which a watch would take as "any version": the current state, not the history)."""
    for namespace in ("default", "kube-system", "rollout", "crashloop"):
        fake.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    return fake


@pytest.fixture
async def server() -> AsyncIterator[FakeApiServer]:
    async with FakeApiServer() as fake:
        yield a_cluster(fake)


@pytest.fixture
def kubeconfig(server: FakeApiServer, tmp_path: Path) -> Path:
    return write_kubeconfig(tmp_path / "kubeconfig", url=server.url, token=server.token)


# -- a normal run ------------------------------------------------------------------------


async def test_live_run_gives_the_traces_of_the_replay_and_records_them_replayably(
    server: FakeApiServer, kubeconfig: Path, tmp_path: Path
) -> None:
    values = values_of(ROLLOUT)
    third = len(values) // 3
    push_all(server, values[:third])  # what the cluster holds before the start: listed
    recording = tmp_path / "capture.jsonl.gz"
    async with live_run(server, kubeconfig, record_file=str(recording)) as live:
        await live.caught_up(server)
        push_all(server, values[third:])  # then watched
        await live.caught_up(server)
        spans = await live.finish()

    assert_exactly_once(spans)
    # The live run gives the traces a replay of the original recording gives.
    assert render_golden(spans) == render_golden(replay_file(ROLLOUT))
    # And its own recording replays into exactly the same spans, ids and times included.
    assert fingerprint(replay_file(recording)) == fingerprint(spans)
    # The hot path read pages of 7 with continue tokens, then watched from the list's version.
    lists = [r for r in server.requests if r.plural == "events" and not r.watch]
    assert len(lists) > 1 and "continue" in lists[1].query
    assert any(r.plural == "events" and r.watch and r.resource_version for r in server.requests)


async def test_a_cluster_serving_only_core_v1_events_gives_the_same_traces(
    tmp_path: Path,
) -> None:
    async with FakeApiServer(serve_events_v1=False) as server:
        a_cluster(server)
        config = write_kubeconfig(tmp_path / "kubeconfig", url=server.url, token=server.token)
        async with live_run(server, config) as live:
            await live.caught_up(server)
            push_all(server, values_of(ROLLOUT_CORE))
            await live.caught_up(server)
            spans = await live.finish()
        assert any(r.path == "/api/v1/events" and r.watch for r in server.requests)
    assert render_golden(spans) == render_golden(replay_file(ROLLOUT))


# -- the protocol's troubles -------------------------------------------------------------


@pytest.mark.parametrize("how", ["dropped", "ended by the server's timeout"])
async def test_a_dropped_watch_resumes_from_the_last_version_without_duplicates(
    server: FakeApiServer, kubeconfig: Path, how: str
) -> None:
    values = values_of(ROLLOUT)
    half = len(values) // 2
    async with live_run(server, kubeconfig) as live:
        await live.caught_up(server)
        push_all(server, values[:half])
        await live.caught_up(server)
        seen = {w.label: w.resource_version for w in live.state.source.watches}  # type: ignore[union-attr]
        lists_before = sum(not r.watch for r in server.requests)
        if how == "dropped":
            server.drop_watches()
        else:
            server.end_watches()
        push_all(server, values[half:])
        await live.caught_up(server)
        spans = await live.finish()

    assert_exactly_once(spans)
    assert render_golden(spans) == render_golden(replay_file(ROLLOUT))
    # Every watch came back from where it was, with no list in between.
    assert sum(not r.watch for r in server.requests if r.plural) == lists_before - sum(
        not r.watch and not r.plural for r in server.requests
    )
    resumed = {r.resource_version for r in server.requests if r.watch and r.plural == "events"}
    assert seen["events.events.k8s.io"] in resumed


@pytest.mark.parametrize("expired_as", ["event", "http"])
async def test_410_relists_and_an_object_deleted_meanwhile_becomes_deleted(
    server: FakeApiServer, kubeconfig: Path, expired_as: str, tmp_path: Path
) -> None:
    server.expired_as = expired_as  # type: ignore[assignment]
    values = values_of(ROLLOUT)
    recording = tmp_path / "capture.jsonl"
    async with live_run(server, kubeconfig, record_file=str(recording)) as live:
        await live.caught_up(server)
        push_all(server, values)
        await live.caught_up(server)
        pod = next(p for p in server.list_objects("pods"))
        ref = ObjectRef("Pod", pod["metadata"]["namespace"], pod["metadata"]["name"])
        # While the watches are gone: the pod goes, and the history they need is compacted.
        server.drop_watches()
        server.delete(pod)
        server.compact()
        await eventually(
            lambda: sum(r.plural == "pods" and not r.watch for r in server.requests) >= 2,
            "a re-list of pods",
        )
        await live.caught_up(server)
        graph = live.state.graph
        assert graph is not None
        stored = graph.store.get(ref)
        assert stored is not None and stored.deleted_ns is not None
        await live.finish()
    recorded = [json.loads(line) for line in recording.read_text().splitlines()]
    deletions = [v for v in recorded if v.get("type") == "DELETED"]
    assert any(d["object"]["metadata"]["uid"] == pod["metadata"]["uid"] for d in deletions)
    assert sum(1 for v in recorded if v.get("kind") == "List") >= 2  # start-up, then re-list


async def test_forbidden_names_the_missing_permission_and_keeps_trying(
    server: FakeApiServer, kubeconfig: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server.forbid("list", "pods")
    caplog.set_level(logging.ERROR)
    async with live_run(server, kubeconfig) as live:
        await eventually(
            lambda: sum(r.plural == "pods" and r.status == 403 for r in server.requests) >= 2,
            "retries of the forbidden list",
        )
        assert live.state.ready is not None and not live.state.ready.is_set()
        server.allow_all()  # an operator fixes the Role: the run goes on by itself
        await live.caught_up(server)
        push_all(server, values_of(ROLLOUT))
        await live.caught_up(server)
        spans = await live.finish()
    assert 'needs get, list and watch on pods in API group "" (core) cluster-wide' in caplog.text
    assert 'cannot list resource "pods"' in caplog.text
    assert render_golden(spans) == render_golden(replay_file(ROLLOUT))


async def test_a_rotated_exec_plugin_token_is_renewed_after_a_401(
    server: FakeApiServer, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(server.token)
    config = write_kubeconfig(tmp_path / "kubeconfig", url=server.url, exec_token_file=token_file)
    values = values_of(ROLLOUT)
    async with live_run(server, config) as live:
        await live.caught_up(server)
        push_all(server, values[:20])
        await live.caught_up(server)
        # The credentials rotate: the old token is refused, the plugin now gives the new one.
        server.set_token("rotated")
        token_file.write_text("rotated")
        server.drop_watches()
        push_all(server, values[20:])
        await live.caught_up(server)
        spans = await live.finish()
    assert any(r.status == 401 for r in server.requests)
    assert render_golden(spans) == render_golden(replay_file(ROLLOUT))


async def test_an_unreachable_api_server_is_named_and_retried(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with FakeApiServer() as server:
        url, token = server.url, server.token
    config = write_kubeconfig(tmp_path / "kubeconfig", url=url, token=token)  # nobody there
    caplog.set_level(logging.ERROR)
    async with live_run(None, config) as live:
        await eventually(lambda: caplog.text.count("cannot reach the API server") >= 3, "retries")
        assert not live.task.done()
    assert url.removeprefix("http://") in caplog.text


# -- what is exported ----------------------------------------------------------------------


async def test_occurrences_before_since_are_context_not_exported(
    server: FakeApiServer, kubeconfig: Path
) -> None:
    values = values_of(ROLLOUT)
    everything = replay_file(ROLLOUT, same_cluster(server))
    times = sorted(s.start_time or 0 for s in everything)
    since = times[len(times) // 2]
    async with live_run(server, kubeconfig, since_ns=since) as live:
        await live.caught_up(server)
        push_all(server, values)
        await live.caught_up(server)
        spans = await live.finish()
    assert spans and all((s.start_time or 0) >= since for s in spans)
    # The earlier occurrences still gave the later ones their parents.
    expected = [s for s in everything if (s.start_time or 0) >= since]
    assert fingerprint(spans) == fingerprint(expected)


async def test_a_repeat_is_a_new_occurrence_and_a_resent_one_is_not(
    server: FakeApiServer, kubeconfig: Path
) -> None:
    async with live_run(server, kubeconfig) as live:
        await live.caught_up(server)
        push_all(server, values_of(CRASHLOOP))
        await live.caught_up(server)
        backoff = next(e for e in server.list_objects("events") if e["reason"] == "BackOff")
        count = backoff["count"]
        # The kubelet counts a repeat on its core/v1 Event: count + 1, a later lastTimestamp.
        repeat = json.loads(json.dumps(backoff))
        repeat["count"] = count + 1
        repeat["lastTimestamp"] = "2026-11-24T16:45:00Z"  # after the recording
        repeat["metadata"].pop("resourceVersion")
        server.update(repeat)
        server.update(repeat)  # the same count again (a re-list, a resync): no new occurrence
        await live.caught_up(server)
        spans = await live.finish()
    assert_exactly_once(spans)
    counts = [s.attributes.get("k8s.event.count") for s in spans if s.attributes]
    assert count + 1 in counts

    def back_offs_held(spans: Sequence[ReadableSpan]) -> int:
        return sum(len(s.events) or 1 for s in spans if s.name == "Pod.BackOff")

    assert back_offs_held(spans) == back_offs_held(replay_file(CRASHLOOP)) + 1


# -- restarts ------------------------------------------------------------------------------


def span_ids_in(path: Path) -> list[str]:
    if not path.exists():
        return []
    ids = []
    # Only whole lines: a running process may be half-way through writing the last one.
    text = path.read_text()
    for line in text[: text.rfind("\n") + 1].splitlines():
        for resource in json.loads(line)["resourceSpans"]:
            for scope in resource["scopeSpans"]:
                ids.extend(span["spanId"] for span in scope["spans"])
    return ids


def journalled(state: Path) -> int:
    journal = Path(f"{state}.journal")
    if not journal.exists():
        return 0
    return sum(len(json.loads(line)) for line in journal.read_text().splitlines() if line)


def saved_floor(state: Path) -> int:
    saved = CheckpointFile(str(state)).load()
    assert saved is not None
    return saved.since_ns


async def kspan_py(*args: str) -> asyncio.subprocess.Process:
    """The command line in a process of its own, as a user (or a kill -9) would have it."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kspan_py.cli",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


async def start_run(kubeconfig: Path, out: Path, *extra: str) -> asyncio.subprocess.Process:
    """`kspan-py run` against the fake server into an otlp-json file, exporting the recording's
    past events too."""
    return await kspan_py(
        "run",
        "--kubeconfig",
        str(kubeconfig),
        "--context",
        "fake",
        "--exporter",
        "otlp-json",
        "--otlp-json-file",
        str(out),
        "--since",
        "100000h",  # the recording's events are in the past: export them all
        *extra,
    )


async def test_kill_9_and_restart_with_the_checkpoint_exports_each_occurrence_once(
    server: FakeApiServer, kubeconfig: Path, tmp_path: Path
) -> None:
    values = values_of(ROLLOUT)
    half = len(values) // 2
    state = tmp_path / "state.json"
    first_out, second_out = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    push_all(server, values[:half])

    first = await start_run(kubeconfig, first_out, "--state-file", str(state))
    try:
        # Until it has exported (and journalled) what it could, then no more.
        await eventually(
            lambda: journalled(state) > 0 and journalled(state) == len(span_ids_in(first_out)),
            "the first run's exports",
        )
    finally:
        first.kill()  # SIGKILL: no flush, no checkpoint written on the way out
        await first.wait()
    assert first.returncode == -signal.SIGKILL
    floor = saved_floor(state)  # saved at start, before any export

    push_all(server, values[half:])  # the cluster goes on while kspan-py is down
    second = await start_run(kubeconfig, second_out, "--state-file", str(state))
    try:
        await eventually(lambda: len(span_ids_in(second_out)) > 0, "the second run's exports")
        second.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(second.communicate(), 30)
    finally:
        if second.returncode is None:
            second.kill()
            await second.wait()
    assert second.returncode == 0, stderr.decode()

    first_ids, second_ids = span_ids_in(first_out), span_ids_in(second_out)
    assert len(set(first_ids)) == len(first_ids) and len(set(second_ids)) == len(second_ids)
    assert not set(first_ids) & set(second_ids), "exported again after the restart"
    # Together: every occurrence of the recording, once.
    expected = {
        f"{span_id(s):016x}" for s in replay_file(ROLLOUT) if s.attributes.get("k8s.event.uid")
    }
    assert expected <= set(first_ids) | set(second_ids)
    # The second run kept the first one's export floor (it did not start a new history).
    assert saved_floor(state) == floor


async def test_record_writes_a_capture_that_replays_and_stops_cleanly_on_sigterm(
    server: FakeApiServer, kubeconfig: Path, tmp_path: Path
) -> None:
    push_all(server, values_of(ROLLOUT)[:40])
    capture = tmp_path / "capture.jsonl.gz"
    recorder = await kspan_py(
        "record", str(capture), "--kubeconfig", str(kubeconfig), "--context", "fake"
    )
    try:
        await eventually(lambda: server.watches_opened("pods") > 0, "the recorder's watches")
        push_all(server, values_of(ROLLOUT)[40:])
        await eventually(
            lambda: server.open_watches >= 9 and capture.exists() and capture.stat().st_size > 0,
            "the recording",
        )
        recorder.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(recorder.communicate(), 30)
    finally:
        if recorder.returncode is None:
            recorder.kill()
            await recorder.wait()
    assert recorder.returncode == 0, stderr.decode()
    assert "recorded" in stderr.decode()
    spans = replay_file(capture)
    assert_exactly_once(spans)
    assert {s.name for s in spans} <= {s.name for s in replay_file(ROLLOUT)}


async def test_an_event_stream_ahead_of_the_objects_waits_for_the_wall_clock(
    server: FakeApiServer, kubeconfig: Path
) -> None:
    """The Events watch delivers a minute of history before the Deployment, ReplicaSet and
    Pod watches deliver theirs: the events' own times must not close the window on objects
    that are still on their way, or the Deployment's change root is never made."""
    values = values_of(CRASHLOOP)
    events = [v for v in values if v["object"].get("kind") == "Event"]
    objects = [v for v in values if v["object"].get("kind") != "Event"]
    expected = replay_file(CRASHLOOP)
    # The wall clock: when the first of them happened.
    clock = Clock(min(s.start_time or 0 for s in expected))
    async with live_run(server, kubeconfig, clock=clock) as live:
        await live.caught_up(server)
        push_all(server, events)
        await live.caught_up(server)
        before = live.state.heartbeat_s
        await eventually(lambda: live.state.heartbeat_s != before, "a tick after the events")
        assert live.state.graph is not None and live.state.graph.pending == len(events)
        push_all(server, objects)
        await live.caught_up(server)
        clock.now_ns = live.state.graph.watermark_ns + 60 * 10**9
        spans = await live.finish()
    assert "Deployment.Create" in {s.name for s in spans}
    assert render_golden(spans) == render_golden(expected)


async def test_a_pods_life_leaves_with_its_change_while_the_run_goes_on(
    server: FakeApiServer, kubeconfig: Path
) -> None:
    expected = [s for s in replay_file(ROLLOUT, same_cluster(server)) if s.name == "Pod.Lifetime"]
    async with live_run(server, kubeconfig) as live:
        await live.caught_up(server)
        push_all(server, values_of(ROLLOUT))
        await live.caught_up(server)
        graph = live.state.graph
        assert graph is not None

        def lives() -> list[ReadableSpan]:
            return [s for s in live.sink.get_finished_spans() if s.name == "Pod.Lifetime"]

        assert lives() == []  # held while their change may go on
        live.clock.now_ns = graph.watermark_ns + 31 * 10**9  # the change gap has passed
        await eventually(lambda: len(lives()) == len(expected), "the Pods' lives")
        assert not live.task.done()
        assert fingerprint(lives()) == fingerprint(expected)  # as long as in the replay
        spans = await live.finish()
    assert_exactly_once(spans)


async def test_the_wall_clock_exports_while_running_and_the_console_prints_as_it_goes(
    server: FakeApiServer, kubeconfig: Path
) -> None:
    printed = io.StringIO()
    console = ConsoleSink(printed, color=False)
    async with live_run(
        server, kubeconfig, sinks={"console": console}, console_every_s=0.01
    ) as live:
        await live.caught_up(server)
        push_all(server, values_of(ROLLOUT))
        await live.caught_up(server)
        assert printed.getvalue() == ""  # event time has not moved past the window yet
        # The wall clock moves on a minute: every occurrence is due, with nothing more coming.
        graph = live.state.graph
        assert graph is not None
        live.clock.now_ns = graph.watermark_ns + 60 * 10**9
        await eventually(lambda: "Pod.Killing" in printed.getvalue(), "the console's trees")
        assert not live.task.done()


# -- collector outages -----------------------------------------------------------------------


async def test_spans_wait_for_a_collector_that_is_down_and_are_all_delivered_when_it_returns(
    server: FakeApiServer, kubeconfig: Path
) -> None:
    receiver = GrpcReceiver().start()
    port = receiver.port
    sinks = make_sinks(
        SinkSettings(
            exporters=("otlp",),
            otlp=OtlpSettings(endpoint=receiver.endpoint, insecure=True, timeout_s=0.5),
        )
    )
    receiver.stop()  # the collector is down from the start
    back: GrpcReceiver | None = None
    try:
        async with live_run(server, kubeconfig, sinks=sinks, stop_timeout_s=30) as live:
            await live.caught_up(server)
            push_all(server, values_of(ROLLOUT))
            await live.caught_up(server)
            graph = live.state.graph
            assert graph is not None
            live.clock.now_ns = graph.watermark_ns + 60 * 10**9  # every span is due
            outlet = live.state.outlets["otlp"]
            await eventually(lambda: outlet.stats.retries >= 1, "a refused export")
            assert outlet.stats.exported == 0
            back = GrpcReceiver(port).start()  # the collector returns where it was
            expected = len(replay_file(ROLLOUT))
            await asyncio.to_thread(back.wait_for_spans, expected)
            await eventually(lambda: outlet.queued_spans == 0, "an empty queue")
            summary = live.summary
    finally:
        if back is not None:
            back.stop()
    received = [span.span_id.hex() for _, span in back.spans()]
    assert len(received) == len(set(received)) == expected
    assert not summary.dropped


async def test_a_full_queue_drops_the_oldest_spans_and_counts_them(
    server: FakeApiServer, kubeconfig: Path
) -> None:
    receiver = GrpcReceiver().start()
    receiver.failing = True  # up, but refusing everything
    sinks = make_sinks(
        SinkSettings(
            exporters=("otlp",),
            otlp=OtlpSettings(endpoint=receiver.endpoint, insecure=True, timeout_s=0.5),
            shutdown_timeout_s=0.5,
        )
    )
    try:
        async with live_run(
            server, kubeconfig, sinks=sinks, stop_timeout_s=30, max_queue_spans=5
        ) as live:
            await live.caught_up(server)
            push_all(server, values_of(ROLLOUT))
            await live.caught_up(server)
            graph = live.state.graph
            assert graph is not None
            clock = live.clock
            outlet = live.state.outlets["otlp"]
            # Event time moves on in steps, so that spans become due batch after batch.
            times = sorted({s.start_time or 0 for s in replay_file(ROLLOUT)})
            for step in times[:: max(1, len(times) // 6)]:
                clock.now_ns = step + 6 * 10**9
                await eventually(lambda: graph.watermark_ns >= clock.now_ns, "a tick")
            clock.now_ns = graph.watermark_ns + 60 * 10**9
            await eventually(lambda: outlet.stats.dropped["queue full"] > 0, "a drop")
            assert outlet.queued_spans <= 5  # memory stays bounded
            summary = live.summary
    finally:
        receiver.stop()
    # Every span is accounted for: none delivered, each dropped with its reason.
    assert sum(summary.dropped.values()) == len(replay_file(ROLLOUT))
    assert "otlp: queue full" in summary.dropped


# -- high availability -----------------------------------------------------------------------


def lease_holder(server: FakeApiServer) -> str:
    lease = server.get("leases", "kspan-py", "kspan")
    return str(((lease or {}).get("spec") or {}).get("holderIdentity") or "")


async def start_replica(kubeconfig: Path, out: Path, name: str) -> asyncio.subprocess.Process:
    return await start_run(
        kubeconfig,
        out,
        "--leader-elect",
        "--lease-namespace",
        "kspan",
        "--leader-identity",
        name,
        "--lease-duration",
        "1s",  # 15 s in production; short so the takeover happens within the test
    )


async def test_two_replicas_one_exports_and_the_standby_takes_over_when_it_is_killed(
    server: FakeApiServer, kubeconfig: Path, tmp_path: Path
) -> None:
    values = values_of(ROLLOUT)
    half = len(values) // 2
    push_all(server, values[:half])
    out_a, out_b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a = await start_replica(kubeconfig, out_a, "replica-a")
    b: asyncio.subprocess.Process | None = None
    try:
        await eventually(lambda: lease_holder(server).startswith("replica-a"), "a leader")
        b = await start_replica(kubeconfig, out_b, "replica-b")
        reads = len([r for r in server.requests if r.plural == "leases"])
        await eventually(lambda: len(span_ids_in(out_a)) > 0, "the leader's exports")
        await eventually(
            lambda: len([r for r in server.requests if r.plural == "leases"]) > reads + 10,
            "the standby trying the lease",
        )
        assert span_ids_in(out_b) == []  # the standby exports nothing
        assert lease_holder(server).startswith("replica-a")
        a.kill()
        await a.wait()
        push_all(server, values[half:])
        await eventually(lambda: lease_holder(server).startswith("replica-b"), "the takeover")
        expected = {
            f"{span_id(s):016x}"
            for s in replay_file(ROLLOUT)
            if s.attributes and s.attributes.get("k8s.event.uid")
        }
        await eventually(
            lambda: expected <= set(span_ids_in(out_a)) | set(span_ids_in(out_b)),
            "every occurrence exported by one replica or the other",
        )
        b.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(b.communicate(), 30)
        assert b.returncode == 0, stderr.decode()
        assert lease_holder(server) == ""  # released on a clean stop
    finally:
        for process in (a, b):
            if process is not None and process.returncode is None:
                process.kill()
                await process.wait()


async def test_autoscalers_are_watched_live_and_rescale_orders_the_scaling_as_in_a_replay(
    server: FakeApiServer, kubeconfig: Path
) -> None:
    capture = CAPTURES / "hpa-scale-up.jsonl"
    expected = replay_file(capture, same_cluster(server))
    rescale = [s for s in expected if s.name == "HorizontalPodAutoscaler.SuccessfulRescale"]
    ordered = [
        s for s in expected if s.parent and s.parent.span_id in {span_id(r) for r in rescale}
    ]
    assert rescale and ordered  # the replay links a scaling under the rescale that ordered it
    day = Clock(min(s.start_time or 0 for s in expected))  # the synthetic capture's own day
    values = values_of(capture)
    autoscalers = [v for v in values if v["object"]["kind"] == "HorizontalPodAutoscaler"]
    async with live_run(server, kubeconfig, since_ns=0, clock=day) as live:
        await live.caught_up(server)
        # The autoscaler exists before it acts. (Which watch delivers first, when its object
        # and its Events are written together, is the cross-stream order issue 11 is about:
        # under load a rescale can be linked before its autoscaler arrives.)
        assert push_all(server, autoscalers[:1]) == 1
        await live.caught_up(server)
        assert push_all(server, values) == len(values)  # served and watched: HPAs included
        await live.caught_up(server)
        graph = live.state.graph
        assert graph is not None
        live.clock.now_ns = graph.watermark_ns + 120 * 10**9
        spans = await live.finish()

    # The same trees (ids and parents). Durations differ live for two kubelet Events of two
    # Pods (an Event lasts until the next on its object, and the watches deliver them in
    # another order than the recording): the order dependence issue 11 is about.
    def trees(found: list[ReadableSpan]) -> set[tuple[int, int | None, str]]:
        return {(span_id(s), s.parent.span_id if s.parent else None, s.name) for s in found}

    assert trees(spans) == trees(expected)
