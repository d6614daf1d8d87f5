"""How many events/s `kspan-py run` sustains over real HTTP watches, and how late spans leave.

Why this exists: in a cluster kspan-py must keep up with the watch streams and export each
occurrence soon after it happened (Tempo searches only spans that arrive within minutes). This
benchmark (``make bench``, after the replay one) measures both against the fake API server of
the tests, run in a child process so that it does not share the GIL with the pipeline:

- the child serves the API and, once told to, writes a large rollout at a steady pace
  (the offered rate, events/s): Deployments, ReplicaSets and Pods as objects, and
  their controller, scheduler and kubelet Events (events.k8s.io/v1, eventTime = now);
- this process runs the live pipeline (``kspan_py.live.run``, the code ``kspan-py run`` runs)
  through the real client, with the default window, exporting to otlp-json; a thin wrapper
  around that sink notes, for each event span, wall time at hand-off minus the event's time;
- with ``--offline``, it then replays the recording the live run made, for the offline figure
  of the same stream.

It runs once per offered rate (``--rates``, default 2,500, 5,000 and 10,000 events/s, each for
``--seconds`` of writing, 8 by default), each with a fresh server and pipeline, and prints one
line per rate: the offered rate; the rate the server achieved writing (events / its writing
time) and the rate the pipeline achieved consuming (events / the time from "go" until its graph
had seen every occurrence); p50, p99 and max event-to-export latency; which side fell behind
(a side keeps up when it achieves >= 95 % of the offered rate; when the server did not and the
pipeline had everything within 1 s of its being written, the server alone is what fell
behind); and whether the target is met: the pipeline consumed >= 95 % of the offered rate with
p99 <= window + 1 s. Target (issue 14): met at 10,000 events/s. Both processes share the
machine's CPUs: on 2 cores the server child can be the side that falls behind, and says so.
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
        from kspan_py.model import KubeEvent
        from kspan_py.spans.building import KubeSpan

        now = time.time_ns()
        for span in spans:
            # An event span: read from its draft, not its attributes, which would build every
            # span's attributes a second time and charge the pipeline for the measuring.
            if isinstance(span, KubeSpan):
                if not isinstance(span.draft.subject, KubeEvent):
                    continue
                latest = span.draft.latest
            elif (span.attributes or {}).get("k8s.event.uid"):
                latest = None
            else:
                continue
            # The occurrence's own time: a Pod.Pulled span starts the pull time before it, and
            # a span of repeats is measured from its last occurrence.
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


KEPT_UP = 0.95
"""A side kept up with the offered rate when it achieved at least this share of it."""


def one_rate(
    rate: float, events: int, *, offline: bool, profile: Path | None = None
) -> dict[str, Any]:
    """Measure at one offered rate, in a fresh server child and a fresh pipeline."""
    with tempfile.TemporaryDirectory(prefix="kspan-live-bench-") as tmp:
        workdir = Path(tmp)
        if profile is not None:
            import cProfile

            profiler = cProfile.Profile()
            figures = profiler.runcall(asyncio.run, measure(events, rate, workdir))
            profiler.dump_stats(profile)
        else:
            figures = asyncio.run(measure(events, rate, workdir))
        recording = Path(figures.pop("recording"))
        if offline:
            figures.update(replay_figures(recording, workdir))
    written, window = figures["events"], figures["window_s"]
    server_rate = written / figures["server_write_s"]
    target = window + 1
    figures |= {
        "offered_events_per_s": rate,
        "server_events_per_s": round(server_rate),
        "pipeline_events_per_s": figures.pop("live_events_per_s"),
        "pipeline_lag_s": round(figures["live_ingest_s"] - figures["server_write_s"], 2),
        "latency_target_s": target,
    }
    server_ok = server_rate >= KEPT_UP * rate
    pipeline_ok = figures["pipeline_events_per_s"] >= KEPT_UP * rate
    if pipeline_ok:
        behind = "neither"
    elif not server_ok and figures["pipeline_lag_s"] <= 1.0:
        # The pipeline had everything within a second of its being written: it kept up
        # with what the server managed, and the server did not manage the rate.
        behind = "server"
    else:
        behind = "pipeline" if server_ok else "both"
    figures["fell_behind"] = behind
    figures["met"] = pipeline_ok and figures["latency_p99_s"] <= target
    return figures


def _line(f: dict[str, Any]) -> str:
    return (
        f"live {f['offered_events_per_s']:>7,.0f}/s offered: server wrote "
        f"{f['server_events_per_s']:>6,}/s, pipeline consumed {f['pipeline_events_per_s']:>6,}/s "
        f"({f['events']:,} events; lag at the end {f['pipeline_lag_s']} s); "
        f"latency p50 {f['latency_p50_s']} s, p99 {f['latency_p99_s']} s, "
        f"max {f['latency_max_s']} s (target <= {f['latency_target_s']} s); "
        f"fell behind: {f['fell_behind']}; {'met' if f['met'] else 'NOT met'}"
    )


def _print_profile(profile: Path) -> None:
    import pstats

    print(f"profile of the pipeline's process (main thread), top by own time: {profile}")
    pstats.Stats(str(profile)).sort_stats("tottime").print_stats(20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rates",
        default="2500,5000,10000",
        help="events/s the server writes, one run each (2500,5000,10000)",
    )
    parser.add_argument("--rate", type=float, help="one rate only (overrides --rates)")
    parser.add_argument(
        "--seconds", type=float, default=8.0, help="of writing at each rate (8): events = rate x s"
    )
    parser.add_argument("--events", type=int, help="events at each rate (instead of --seconds)")
    parser.add_argument(
        "--offline", action="store_true", help="also replay each live recording offline"
    )
    parser.add_argument(
        "--profile", type=Path, metavar="FILE", help="cProfile the pipeline (the last rate)"
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.events, args.rate))
        return
    rates = [args.rate] if args.rate else [float(r) for r in args.rates.split(",") if r.strip()]
    from kspan_py.collecting import tune_memory

    tune_memory()  # as `kspan-py run` does before it starts its pipeline
    for index, rate in enumerate(rates):
        events = args.events or round(rate * args.seconds)
        profile = args.profile if index == len(rates) - 1 else None
        figures = one_rate(rate, events, offline=args.offline, profile=profile)
        print(_line(figures))
        if args.offline:
            print(
                f"  offline replay of the live recording: {figures['replay_s']} s "
                f"({figures['replay_summary']})"
            )
        print(json.dumps({"kspan_live_bench": figures}, separators=(",", ":")), flush=True)
    if args.profile is not None:
        _print_profile(args.profile)


if __name__ == "__main__":
    main()
