"""`kspan-py run` as a process, against the fake API server, while someone writes hostile Events.

Mid-stream come a 100 KB FailedScheduling message crafted for the rule that used to take
minutes on it, control sequences in a reason, a message and an Event's name, and a count far
past int64. The run must go on: /healthz answers all along, the normal Events written after them
reach the otlp-json file, nothing raw reaches its log, and SIGTERM ends it within the shutdown
timeout. Every wait is on a condition with a deadline.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from tests.fake_apiserver import FakeApiServer
from tests.hostile_messages import CRAFTED
from tests.test_live import (
    ROLLOUT,
    kubeconfig,  # noqa: F401 - a fixture
    push_all,
    server,  # noqa: F401 - a fixture
    span_ids_in,
    start_run,
    values_of,
)
from tests.test_monitoring import free_port
from tests.tracing import replay_file, span_id

SHUTDOWN_S = 15
TITLE = "\x1b]0;pwned\x07"
CLEAR = "\x1b[2J\x1b[H"
LINK = "\x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\"
RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def hostile_events() -> list[dict[str, Any]]:
    scheduling = next(c for c in CRAFTED if c.name == "scheduling: digits")

    def event(name: str, reason: str, message: str, **extra: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": "rollout"},
            "involvedObject": {"kind": "Pod", "namespace": "rollout", "name": "hostile-0"},
            "reason": reason,
            "message": message,
            "type": "Warning",
            "count": 1,
            "firstTimestamp": "2026-11-24T16:50:00Z",
            "lastTimestamp": "2026-11-24T16:50:00Z",
            "source": {"component": "default-scheduler"},
        }
        body.update(extra)
        return body

    return [
        event("hostile-0.1", "FailedScheduling", scheduling.message(100_000)),
        event(f"hostile-0.{TITLE}2", f"Evil{CLEAR}", f"{TITLE}{LINK}\u202etxt.exe\nforged"),
        event("hostile-0.3", "BackOff", "Back-off restarting failed container app", count=10**20),
        # Regarding nothing: skipped, and the skip is logged with the Event's name.
        event(f"hostile-0.{CLEAR}4", "Started", "Started", involvedObject={}),
    ]


async def until(condition: Callable[[], bool], what: str, *, deadline_s: float = 60) -> None:
    """Poll a condition a child process makes true, up to a deadline (not a timing bet)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    while not condition():
        if loop.time() > end:
            raise AssertionError(f"timed out after {deadline_s:.0f}s waiting for {what}")
        await asyncio.sleep(0.05)  # allow-sleep: a bounded poll of a condition, not a timing bet


async def healthz(session: aiohttp.ClientSession, port: int) -> int:
    """The probe's answer, as a kubelet sees it (it gives up after a few seconds)."""
    try:
        async with session.get(
            f"http://127.0.0.1:{port}/healthz", timeout=aiohttp.ClientTimeout(total=5)
        ) as response:
            return response.status
    except (TimeoutError, aiohttp.ClientError):
        return 0


async def test_hostile_events_mid_stream_neither_stall_nor_stop_the_run(
    server: FakeApiServer,  # noqa: F811
    kubeconfig: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    values = values_of(ROLLOUT)
    half = len(values) // 2
    out, port = tmp_path / "spans.jsonl", free_port()
    push_all(server, values[:half])
    run = await start_run(
        kubeconfig,
        out,
        "--metrics-port",
        str(port),
        "--metrics-address",
        "127.0.0.1",
        "--shutdown-timeout",
        f"{SHUTDOWN_S}s",
    )
    answers: list[int] = []
    try:
        async with aiohttp.ClientSession() as session:
            await until(lambda: len(span_ids_in(out)) > 0, "the first exports")
            answers.append(await healthz(session, port))

            for hostile in hostile_events():
                server.create(hostile)
            push_all(server, values[half:])  # the cluster goes on after them
            expected = {
                f"{span_id(s):016x}"
                for s in replay_file(ROLLOUT)
                if s.attributes and s.attributes.get("k8s.event.uid")
            }
            # The probe is asked all along, while the run takes the hostile Events and then the
            # rest of the rollout (each answer within the kubelet's patience, or it is a 0).
            loop = asyncio.get_running_loop()
            end = loop.time() + 60
            while not expected <= set(span_ids_in(out)):
                assert loop.time() < end, "the rollout's later Events never reached the file"
                answers.append(await healthz(session, port))
                await asyncio.sleep(0.05)  # allow-sleep: a bounded poll, as a kubelet's probe
            answers.append(await healthz(session, port))

        run.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(run.communicate(), SHUTDOWN_S)
    finally:
        if run.returncode is None:
            run.kill()
            await run.wait()
    log = stderr.decode(errors="replace")
    assert run.returncode == 0, log
    assert set(answers) == {200}, f"/healthz answered {answers}"
    for line in log.splitlines():
        assert RAW.search(line) is None, f"raw control character in the log: {line!r}"
    assert "forged" not in [line.strip() for line in log.splitlines()]
    assert "hostile-0.\\x1b[2J\\x1b[H4" in log  # the skipped Event, named escaped
    names = [
        span["name"]
        for line in out.read_text().splitlines()
        for resource in json.loads(line)["resourceSpans"]
        for scope in resource["scopeSpans"]
        for span in scope["spans"]
    ]
    assert "Pod.FailedScheduling" in names  # the crafted message is a span like any other
