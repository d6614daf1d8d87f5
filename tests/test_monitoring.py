"""Metrics, probes and logs of a live run, read as Prometheus, a kubelet and a log pipeline do."""

from __future__ import annotations

import io
import json
import logging
import socket
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from kspan_py.logs import JsonFormatter, RateLimit
from kspan_py.monitoring import Health, LiveState, liveness, readiness
from tests.fake_apiserver import FakeApiServer, write_kubeconfig
from tests.test_live import (
    ROLLOUT,
    eventually,
    kubeconfig,  # noqa: F401 - a fixture
    live_run,
    push_all,
    server,  # noqa: F401 - a fixture
    values_of,
)
from tests.tracing import replay_file


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def get(session: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with session.get(url) as response:
        return response.status, await response.text()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_metrics_and_probes_follow_the_run(
    server: FakeApiServer,  # noqa: F811
    kubeconfig: Path,  # noqa: F811
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server.forbid("list", "pods")  # not ready until an operator fixes the Role
    async with (
        live_run(server, kubeconfig, metrics_port=port) as live,
        aiohttp.ClientSession() as session,
    ):
        state, sink, clock = live.state, live.sink, live.clock
        await eventually(lambda: state.heartbeat_s > 0, "the first tick")
        assert await get(session, f"{base}/healthz") == (200, "ok\n")
        status, reason = await get(session, f"{base}/readyz")
        assert (status, reason) == (503, "the start-up lists are not done\n")

        source = state.source
        assert source is not None
        pods = [w for w in source.watches if w.label == "pods"]
        await eventually(lambda: pods[0].stats.errors > 0, "the refused list of pods")
        server.allow_all()
        await live.caught_up(server)
        assert (await get(session, f"{base}/readyz"))[0] == 200
        push_all(server, values_of(ROLLOUT))
        await live.caught_up(server)
        graph = state.graph
        assert graph is not None
        clock.now_ns = graph.watermark_ns + 60 * 10**9
        await eventually(lambda: state.delivered_spans > 0 and graph.pending == 0, "exports")

        status, text = await get(session, f"{base}/metrics")
        assert status == 200
        metrics = samples(text)
        received = {
            labels: value
            for (name, labels), value in metrics.items()
            if name == "kspan_events_received_total"
        }
        scheduled = [s for s in replay_file(ROLLOUT) if s.name == "Pod.Scheduled"]
        key = (("kind", "Pod"), ("reason", "Scheduled"), ("type", "Normal"))
        assert received[key] == len(scheduled)
        assert sum(received.values()) == graph.stats.occurrences
        assert metrics[("kspan_spans_exported_total", (("sink", "memory"),))] == len(
            sink.get_finished_spans()
        )
        assert metrics[("kspan_pending_occurrences", ())] == 0
        assert metrics[("kspan_object_store_objects", ())] == len(graph.store)
        assert metrics[("kspan_watch_errors_total", (("resource", "pods"),))] >= 1
        assert ("kspan_relists_total", (("resource", "pods"),)) in metrics
        assert metrics[("kspan_watermark_lag_seconds", ())] == 0.0  # event time caught up


def test_liveness_fails_when_the_graph_loop_stops_turning() -> None:
    state = LiveState()
    assert liveness(state, stuck_after_s=30, now=lambda: 100.0).ok  # not started yet
    state.heartbeat_s = 100.0
    assert liveness(state, stuck_after_s=30, now=lambda: 120.0).ok
    stuck = liveness(state, stuck_after_s=30, now=lambda: 140.0)
    assert not stuck.ok and "40s" in stuck.reason


def test_json_logs_are_one_object_per_line() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("kspan_py.test_json")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("sink %s dropped %d spans: %s", "otlp", 3, "queue full")
    finally:
        logger.removeHandler(handler)
    entry = json.loads(stream.getvalue())
    assert entry["level"] == "warning"
    assert entry["message"] == "sink otlp dropped 3 spans: queue full"
    assert entry["logger"] == "kspan_py.test_json" and entry["time"].endswith("Z")


def test_repeated_log_lines_are_rate_limited_and_counted() -> None:
    now = [0.0]
    limit = RateLimit(burst=2, period_s=60, clock=lambda: now[0])

    def record(text: str) -> logging.LogRecord:
        return logging.LogRecord("kspan_py.x", logging.WARNING, __file__, 1, text, None, None)

    passed = [limit.filter(record("watch dropped")) for _ in range(5)]
    assert passed == [True, True, False, False, False]
    assert limit.filter(record("another message"))
    now[0] = 61.0
    late = record("watch dropped")
    assert limit.filter(late)
    assert "3 similar lines suppressed" in str(late.msg)


def test_a_standby_replica_is_alive_and_ready_so_rollouts_proceed() -> None:
    state = LiveState(standby=True)
    assert readiness(state) == Health(True, "standing by: another replica holds the lease")
    assert liveness(state, stuck_after_s=30, now=lambda: 1e9).ok
    state.standby = False  # it took over: ready only once its lists are done
    assert not readiness(state).ok


async def test_crafted_reasons_kinds_and_types_share_one_other_series(
    server: FakeApiServer,  # noqa: F811
    kubeconfig: Path,  # noqa: F811
) -> None:
    """Anyone who may create Events picks their reason, type and kind: 300 made-up ones must
    not make 300 series (or carry control characters into the scrape)."""
    port = free_port()
    crafted = 300
    async with (
        live_run(server, kubeconfig, metrics_port=port) as live,
        aiohttp.ClientSession() as session,
    ):
        await live.caught_up(server)
        for number in range(crafted):
            server.create(
                {
                    "apiVersion": "v1",
                    "kind": "Event",
                    "metadata": {"name": f"crafted.{number}", "namespace": "default"},
                    "involvedObject": {
                        "kind": f"Kind{number}",
                        "namespace": "default",
                        "name": "x",
                    },
                    "reason": f"Reason{number}\x1b]0;pwned\x07",
                    "message": "crafted",
                    "type": f"Type{number}",
                    "firstTimestamp": "2026-11-24T16:40:00Z",
                    "lastTimestamp": "2026-11-24T16:40:00Z",
                    "count": 1,
                }
            )
        server.create(ROLLOUT_POD_SCHEDULED)
        await live.caught_up(server)
        status, text = await get(session, f"http://127.0.0.1:{port}/metrics")
    assert status == 200
    assert "\x1b" not in text
    received = {
        dict(labels)["reason"]: value
        for (name, labels), value in samples(text).items()
        if name == "kspan_events_received_total"
    }
    assert received == {"other": crafted, "Scheduled": 1}


ROLLOUT_POD_SCHEDULED = {
    "apiVersion": "v1",
    "kind": "Event",
    "metadata": {"name": "web-1.scheduled", "namespace": "default"},
    "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web-1"},
    "reason": "Scheduled",
    "message": "Successfully assigned default/web-1 to node-1",
    "type": "Normal",
    "firstTimestamp": "2026-11-24T16:40:00Z",
    "lastTimestamp": "2026-11-24T16:40:00Z",
    "count": 1,
}
"""A known reason on a known kind keeps its labels."""


async def test_metrics_address_binds_only_what_it_names(
    server: FakeApiServer,  # noqa: F811
    kubeconfig: Path,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="kspan_py.monitoring")
    default_port, local_port = free_port(), free_port()
    async with live_run(server, kubeconfig, metrics_port=default_port):
        pass
    async with (
        live_run(server, kubeconfig, metrics_port=local_port, metrics_address="127.0.0.1"),
        aiohttp.ClientSession() as session,
    ):
        assert (await get(session, f"http://127.0.0.1:{local_port}/healthz"))[0] == 200
    assert f"metrics and probes on 0.0.0.0:{default_port}" in caplog.text
    assert f"metrics and probes on 127.0.0.1:{local_port}" in caplog.text


async def test_an_api_server_unreachable_from_the_start_shows_in_watch_errors(
    tmp_path: Path,
) -> None:
    async with FakeApiServer() as gone:
        url, token = gone.url, gone.token
    config = write_kubeconfig(tmp_path / "kubeconfig", url=url, token=token)  # nobody there
    port = free_port()
    async with (
        live_run(None, config, metrics_port=port) as live,
        aiohttp.ClientSession() as session,
    ):
        source = live.state.source
        assert source is not None
        await eventually(lambda: source.discovery_errors >= 2, "failed attempts")
        status, text = await get(session, f"http://127.0.0.1:{port}/metrics")
        assert status == 200
        errors = samples(text)[("kspan_watch_errors_total", (("resource", "discovery"),))]
        assert errors >= 2
        assert (await get(session, f"http://127.0.0.1:{port}/readyz"))[0] == 503
