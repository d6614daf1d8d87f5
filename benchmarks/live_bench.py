"""How many events/s `kspan-py run` sustains over real HTTP watches, and how late spans leave.

Why this exists: in a cluster kspan-py must keep up with the watch streams and export each
occurrence soon after it happened (Tempo searches only spans that arrive within minutes). This
benchmark (``make bench``, after the replay one) measures both against the fake API server of
the tests, run in a child process so that it does not share the GIL with the pipeline:

- the child serves the API and, once told to, writes a large rollout at a steady pace
  (``--rate`` events/s, default 2,500): Deployments, ReplicaSets and Pods as objects, and
  their controller, scheduler and kubelet Events (events.k8s.io/v1, eventTime = now);
- this process runs the live pipeline (``kspan_py.live.run``, the code ``kspan-py run`` runs)
  through the real client, with the default window, exporting to otlp-json; a thin wrapper
  around that sink notes, for each event span, wall time at hand-off minus the event's time;
- then it replays the recording the live run made, for the offline figure of the same stream.

Targets (issue "Live mode"): p99 latency <= window + 1 s while sustaining >= 2,000 events/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _event(
    namespace: str, regarding: dict[str, Any], reason: str, note: str, controller: str, *, n: int
) -> dict[str, Any]:
    now = _now()
    return {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": f"{regarding['name']}.{n:016x}", "namespace": namespace},
        "eventTime": now,
        "reportingController": controller,
        "reportingInstance": f"{controller}-bench",
        "action": reason,
        "reason": reason,
        "regarding": regarding,
        "note": note,
        "type": "Normal",
    }


async def serve(total_events: int, rate: float) -> None:
    """The child: serve, then on "go" write the rollout at rate events/s; "done" when written."""
    from tests.fake_apiserver import FakeApiServer

    async with FakeApiServer() as server:
        server.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bench"}})
        print(json.dumps({"url": server.url, "token": server.token}), flush=True)
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        await reader.readline()  # "go"
        start = time.perf_counter()
        written = 0
        n = 0

        async def emit(event: dict[str, Any]) -> None:
            nonlocal written, n
            server.create(event)
            written += 1
            n += 1
            due = start + written / rate
            delay = due - time.perf_counter()
            if delay > 0.002:
                await asyncio.sleep(delay)
            elif written % 50 == 0:
                await asyncio.sleep(0)  # let the watches stream

        d = 0
        while written < total_events:
            d += 1
            ns = "bench"
            deployment = server.create(
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": {"name": f"web-{d}", "namespace": ns, "generation": 1},
                    "spec": {"replicas": 10},
                }
            )
            dep_ref = {"kind": "Deployment", "namespace": ns, "name": f"web-{d}"}
            dep_ref["uid"] = deployment["metadata"]["uid"]
            rs_name = f"web-{d}-5d8f7c"
            rs = server.create(
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "metadata": {
                        "name": rs_name,
                        "namespace": ns,
                        "ownerReferences": [
                            {
                                "apiVersion": "apps/v1",
                                "kind": "Deployment",
                                "name": f"web-{d}",
                                "uid": dep_ref["uid"],
                                "controller": True,
                            }
                        ],
                    },
                }
            )
            rs_ref = {"kind": "ReplicaSet", "namespace": ns, "name": rs_name}
            rs_ref["uid"] = rs["metadata"]["uid"]
            await emit(
                _event(
                    ns,
                    dep_ref,
                    "ScalingReplicaSet",
                    f"Scaled up replica set {rs_name} from 0 to 10",
                    "deployment-controller",
                    n=n,
                )
            )
            for p in range(10):
                pod_name = f"{rs_name}-p{p:03d}"
                pod = server.create(
                    {
                        "apiVersion": "v1",
                        "kind": "Pod",
                        "metadata": {
                            "name": pod_name,
                            "namespace": ns,
                            "ownerReferences": [
                                {
                                    "apiVersion": "apps/v1",
                                    "kind": "ReplicaSet",
                                    "name": rs_name,
                                    "uid": rs_ref["uid"],
                                    "controller": True,
                                }
                            ],
                        },
                        "spec": {"nodeName": f"node-{p % 4}"},
                    }
                )
                pod_ref = {"kind": "Pod", "namespace": ns, "name": pod_name}
                pod_ref["uid"] = pod["metadata"]["uid"]
                await emit(
                    _event(
                        ns,
                        rs_ref,
                        "SuccessfulCreate",
                        f"Created pod: {pod_name}",
                        "replicaset-controller",
                        n=n,
                    )
                )
                await emit(
                    _event(
                        ns,
                        pod_ref,
                        "Scheduled",
                        f"Successfully assigned {ns}/{pod_name} to node-{p % 4}",
                        "default-scheduler",
                        n=n,
                    )
                )
                for reason, note in (
                    ("Pulling", 'Pulling image "registry.example/web:1"'),
                    ("Pulled", 'Successfully pulled image "registry.example/web:1" in 1.2s'),
                    ("Created", "Created container: web"),
                    ("Started", "Started container web"),
                ):
                    event = _event(
                        ns,
                        {**pod_ref, "fieldPath": "spec.containers{web}"},
                        reason,
                        note,
                        "kubelet",
                        n=n,
                    )
                    await emit(event)
            await emit(
                _event(
                    ns,
                    dep_ref,
                    "ScalingReplicaSet",
                    f"Scaled down replica set {rs_name}-old from 10 to 0",
                    "deployment-controller",
                    n=n,
                )
            )
        elapsed = time.perf_counter() - start
        print(json.dumps({"done": written, "seconds": elapsed}), flush=True)
        await reader.read()  # until the parent closes stdin


class _Measuring:
    """Wraps the otlp-json sink: notes hand-off time minus event time for each event span."""

    def __init__(self, sink: Any) -> None:
        self.sink = sink
        self.cpu_only = True
        self.latencies_s: list[float] = []

    def export(self, spans: Sequence[Any]) -> Any:
        from kspan_py.spans.building import KubeSpan

        now = time.time_ns()
        for span in spans:
            if (span.attributes or {}).get("k8s.event.uid"):
                # The occurrence's own time: a Pod.Pulled span starts the pull time before it,
                # and a span of repeats is measured from its last occurrence.
                latest = span.draft.latest if isinstance(span, KubeSpan) else None
                happened = latest.time_ns if latest is not None else span.start_time
                self.latencies_s.append((now - happened) / 1e9)
        return self.sink.export(spans)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return bool(self.sink.force_flush(timeout_millis))

    def shutdown(self) -> None:
        self.sink.shutdown()


async def measure(total_events: int, rate: float, workdir: Path) -> dict[str, Any]:
    from kspan_py.config import ClusterSettings, LiveSettings
    from kspan_py.live import run
    from kspan_py.monitoring import LiveState
    from kspan_py.runner import ReplaySummary
    from kspan_py.sinks.otlp_json import OtlpJsonFileSink
    from tests.fake_apiserver import write_kubeconfig

    child = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--serve",
        "--events",
        str(total_events),
        "--rate",
        str(rate),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert child.stdin is not None and child.stdout is not None
    hello = json.loads(await child.stdout.readline())
    kubeconfig = write_kubeconfig(workdir / "kubeconfig", url=hello["url"], token=hello["token"])
    recording = workdir / "live.jsonl"
    settings = LiveSettings(
        cluster=ClusterSettings(kubeconfig=str(kubeconfig), context="fake"),
        record_file=str(recording),
    )
    sink = _Measuring(OtlpJsonFileSink(str(workdir / "live-spans.jsonl")))
    summary, state, stop = ReplaySummary(), LiveState(), asyncio.Event()
    task = asyncio.create_task(run(settings, {"otlp-json": sink}, summary, stop=stop, state=state))  # type: ignore[dict-item]
    while state.ready is None or not state.ready.is_set():
        await asyncio.sleep(0.05)
    child.stdin.write(b"go\n")
    await child.stdin.drain()
    started = time.perf_counter()
    done = json.loads(await child.stdout.readline())
    # Every event in, then the window (and the export delay) for the last ones to leave.
    while state.graph is None or state.graph.stats.occurrences < done["done"]:
        await asyncio.sleep(0.02)
    ingested_s = time.perf_counter() - started
    await asyncio.sleep(settings.graph.window_ns / 1e9 + 1.5)
    stop.set()
    await task
    child.stdin.close()
    await child.wait()
    latencies = sorted(sink.latencies_s)
    return {
        "events": done["done"],
        "server_write_s": round(done["seconds"], 2),
        "live_ingest_s": round(ingested_s, 2),
        "live_events_per_s": round(done["done"] / ingested_s),
        "spans_exported": summary.spans,
        "latency_p50_s": round(statistics.median(latencies), 3),
        "latency_p99_s": round(latencies[int(len(latencies) * 0.99) - 1], 3),
        "latency_max_s": round(latencies[-1], 3),
        "window_s": settings.graph.window_ns / 1e9,
        "recording": str(recording),
    }


def replay_figures(recording: Path, workdir: Path) -> dict[str, Any]:
    start = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "kspan_py.cli",
            "replay",
            str(recording),
            "--exporter",
            "otlp-json",
            "--otlp-json-file",
            str(workdir / "replay-spans.jsonl"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - start
    return {"replay_s": round(wall, 2), "replay_summary": done.stderr.strip().splitlines()[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--rate", type=float, default=2_500.0, help="events/s the server writes")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.events, args.rate))
        return
    with tempfile.TemporaryDirectory(prefix="kspan-live-bench-") as tmp:
        workdir = Path(tmp)
        figures = asyncio.run(measure(args.events, args.rate, workdir))
        figures.update(replay_figures(Path(figures.pop("recording")), workdir))
    target = figures["window_s"] + 1
    print(
        f"live: {figures['events']:,} events written by the server in {figures['server_write_s']} s"
    )
    print(
        f"live: ingested in {figures['live_ingest_s']} s = "
        f"{figures['live_events_per_s']:,} events/s (target >= 2,000/s: "
        f"{'met' if figures['live_events_per_s'] >= 2000 else 'NOT met'})"
    )
    print(
        f"live: event-to-export latency p50 {figures['latency_p50_s']} s, "
        f"p99 {figures['latency_p99_s']} s, max {figures['latency_max_s']} s "
        f"(target p99 <= window + 1 s = {target} s: "
        f"{'met' if figures['latency_p99_s'] <= target else 'NOT met'})"
    )
    print(
        f"offline replay of the live recording: {figures['replay_s']} s "
        f"({figures['replay_summary']})"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
