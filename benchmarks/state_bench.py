"""Memory of a long run, with and without --state-file, and the checkpoint's size at 2,500 events/s.

Why this exists: a run lasts weeks. Everything it keeps must be bounded by event time (the
Event TTL, 1 h), or memory grows until the kubelet kills the Pod; and the checkpoint of the span
ids delivered within the TTL must fit the manifests' emptyDir and memory limit at the rate the
README claims. Two parts, each in a child process of its own (so that one's peak does not hide
in the other's RSS):

- ``graph``: the live loop without its watches: synthetic Pods (a ReplicaSet creates each; it is
  scheduled, pulled, started, and deleted ten minutes later) at ``--rate`` events/s of event time
  for ``--hours``, through the normaliser, the graph and the export gate, journalled and
  checkpointed every 30 s (event time) as ``run`` does with ``--state-file``, or not; the RSS and
  the sizes of the bounded tables are printed every half hour of event time. Flat after the
  first hour (the TTL) is the target.
- ``checkpoint``: the export gate's table of span ids at ``--checkpoint-rate`` (2,500) span ids a
  second for 1 h and 10 min of event time, then saved and loaded: bytes per id in the file and
  in memory, the time of a save and a load, the peak RSS.

    python benchmarks/state_bench.py            # 100 events/s for 4 h (minutes of one core)
    python benchmarks/state_bench.py --quick    # 10 events/s for 3 h, checkpoint at 250/s
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kspan_py.checkpoint import (  # noqa: E402 - after the path, as the other benchmarks
    Checkpoint,
    CheckpointFile,
    ExportGate,
)
from kspan_py.config import SECOND_NS, GraphSettings  # noqa: E402
from kspan_py.graph.causality import CausalGraph  # noqa: E402
from kspan_py.model import EventChange, ObjectChange  # noqa: E402
from kspan_py.sources.capture import expand_value  # noqa: E402

START_NS = int(datetime(2026, 11, 25, 10, 0, 0, tzinfo=UTC).timestamp()) * SECOND_NS
CHECKPOINT_EVERY_NS = 30 * SECOND_NS
"""As ``run``: the whole checkpoint every 30 s, each delivery journalled in between."""
KEEP_NS = GraphSettings().link_horizon_ns + 60 * SECOND_NS
"""What ``run`` keeps of delivered span ids: the Event TTL and a minute."""
POD_LIFE_S = 600
EVENTS_A_POD = 5  # SuccessfulCreate, Scheduled, Pulled, Created, Started


def rss_mb() -> float:
    """Resident memory now (not the peak): /proc/self/statm's second field, in pages."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _stamp(t_ns: int) -> str:
    return datetime.fromtimestamp(t_ns // SECOND_NS, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _event(n: int, pod: dict[str, Any], reason: str, message: str, t_ns: int) -> dict[str, Any]:
    involved, component = (
        (pod["metadata"]["ownerReferences"][0], "replicaset-controller")
        if reason == "SuccessfulCreate"
        else ({"kind": "Pod", **pod["metadata"]}, "kubelet")
    )
    return {
        "type": "ADDED",
        "object": {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": f"{involved['name']}.{n:016x}",
                "namespace": "bench",
                "uid": f"event-{n}",
                "creationTimestamp": _stamp(t_ns),
            },
            "involvedObject": {
                "apiVersion": "apps/v1" if reason == "SuccessfulCreate" else "v1",
                "kind": involved["kind"],
                "name": involved["name"],
                "namespace": "bench",
                "uid": involved["uid"],
            },
            "reason": reason,
            "message": message,
            "source": {"component": component},
            "firstTimestamp": _stamp(t_ns),
            "lastTimestamp": _stamp(t_ns),
            "count": 1,
            "type": "Normal",
        },
    }


def _pod(i: int, t_ns: int, watch_type: str) -> dict[str, Any]:
    owner = i // 10  # ten Pods a ReplicaSet
    return {
        "type": watch_type,
        "object": {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"web-{owner}-{i}",
                "namespace": "bench",
                "uid": f"pod-{i}",
                "creationTimestamp": _stamp(t_ns),
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "ReplicaSet",
                        "name": f"web-{owner}",
                        "uid": f"rs-{owner}",
                        "controller": True,
                    }
                ],
            },
            "spec": {"nodeName": "node-1", "containers": [{"name": "app", "image": "app:1"}]},
            "status": {"phase": "Running"},
        },
    }


def second_of_values(second: int, rate: int, t_ns: int) -> list[dict[str, Any]]:
    """What the watches deliver in one second of event time: rate events and their Pods."""
    values: list[dict[str, Any]] = []
    first_pod = second * rate // EVENTS_A_POD
    for i in range(first_pod, (second + 1) * rate // EVENTS_A_POD):
        pod = _pod(i, t_ns, "ADDED")
        meta = pod["object"]["metadata"]
        name = meta["name"]
        values.append(pod)
        n = i * EVENTS_A_POD
        values.append(_event(n, pod["object"], "SuccessfulCreate", f"Created pod: {name}", t_ns))
        values.append(
            _event(n + 1, pod["object"], "Scheduled", f"Successfully assigned bench/{name}", t_ns)
        )
        values.append(_event(n + 2, pod["object"], "Pulled", "Container image already", t_ns))
        values.append(_event(n + 3, pod["object"], "Created", "Created container app", t_ns))
        values.append(_event(n + 4, pod["object"], "Started", "Started container app", t_ns))
    gone = second - POD_LIFE_S
    if gone >= 0:
        for i in range(gone * rate // EVENTS_A_POD, (gone + 1) * rate // EVENTS_A_POD):
            values.append(_pod(i, t_ns, "DELETED"))
    return values


def run_graph(rate: int, hours: float, *, state_file: bool, report_every_s: int) -> None:
    graph = CausalGraph(GraphSettings())
    gate = ExportGate(since_ns=0)
    workdir = tempfile.TemporaryDirectory(prefix="kspan-state-bench-")
    path = Path(workdir.name) / "state.bin"
    checkpoint = CheckpointFile(str(path)) if state_file else None
    label = "with --state-file" if state_file else "without --state-file"
    print(f"{label}: {rate} events/s of event time for {hours:g} h")
    print(
        "  event time | events     | RSS MB | objects (gc) | span ids held | checkpoint KB | CPU s"
    )
    started, events, next_save = time.process_time(), 0, START_NS + CHECKPOINT_EVERY_NS
    figures: list[tuple[float, float, int]] = []  # (hours, RSS MB, objects)
    for second in range(int(hours * 3600)):
        t_ns = START_NS + second * SECOND_NS
        for value in second_of_values(second, rate, t_ns):
            for change in expand_value(value, "bench"):
                if isinstance(change, ObjectChange | EventChange):
                    graph.ingest(change)
                    events += isinstance(change, EventChange)
        admitted = gate.admit(graph.advance(t_ns))
        gate.advance(graph.watermark_ns, keep_ns=KEEP_NS)
        entries = gate.delivered(admitted)
        if checkpoint is not None:
            checkpoint.journal(entries)
            if t_ns >= next_save:
                next_save += CHECKPOINT_EVERY_NS
                checkpoint.save(Checkpoint(0, {}, gate.exported))
        if (second + 1) % report_every_s == 0:
            size = path.stat().st_size / 1024 if checkpoint is not None else 0.0
            figures.append(((second + 1) / 3600, rss_mb(), len(gc.get_objects())))
            hours, rss, objects = figures[-1]
            print(
                f"  {hours:8.2f} h | {events:10,} | {rss:6.1f} | {objects:12,} | "
                f"{len(gate.exported):13,} | {size:13,.0f} | {time.process_time() - started:5.0f}"
            )
    # Once the TTL and a generation have passed, every table is as full as it gets.
    settled = [f for f in figures if f[0] >= 1.25] or figures[-1:]
    if settled:
        first, last = settled[0], settled[-1]
        print(
            f"  from {first[0]:.2f} h to {last[0]:.2f} h: RSS {first[1]:.1f} -> {last[1]:.1f} MB, "
            f"objects {first[2]:,} -> {last[2]:,}; peak RSS {peak_rss_mb():.1f} MB"
        )
    workdir.cleanup()


def run_checkpoint(rate: int) -> None:
    seconds = 3600 + 600
    print(f"checkpoint: {rate:,} span ids a second for {seconds // 60} min of event time")
    randomness = random.Random(12)
    before = rss_mb()
    gate = ExportGate(since_ns=0)
    for second in range(seconds):
        t_ns = START_NS + second * SECOND_NS
        gate.advance(t_ns, keep_ns=KEEP_NS)
        add = gate.exported.add
        for _ in range(rate):
            add(randomness.getrandbits(64) or 1, t_ns)
    table = gate.exported
    held = len(table)
    in_memory = rss_mb() - before
    with tempfile.TemporaryDirectory(prefix="kspan-state-bench-") as workdir:
        path = Path(workdir) / "state.bin"
        file = CheckpointFile(str(path))
        started = time.perf_counter()
        assert file.save(Checkpoint(0, {"pods": "1"}, table))
        save_s = time.perf_counter() - started
        size = path.stat().st_size
        started = time.perf_counter()
        loaded = CheckpointFile(str(path)).load()
        load_s = time.perf_counter() - started
        assert loaded is not None and len(loaded.exported) == held
    print(
        f"  span ids held: {held:,} (the TTL + 1 min + at most one 5-min generation)\n"
        f"  file: {size / 2**20:,.1f} MiB, {size / held:.2f} B a span id; "
        f"save {save_s:.2f} s, load {load_s:.2f} s\n"
        f"  memory: {in_memory:,.1f} MB RSS for the table "
        f"({in_memory * 2**20 / held:.1f} B an id), "
        f"{table.nbytes / 2**20:,.1f} MiB packed; peak RSS {peak_rss_mb():,.1f} MB "
        f"(a loaded copy beside it at the end)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="10 events/s for 3 h; 250 ids/s")
    parser.add_argument("--rate", type=int, help="events/s of the long run (100)")
    parser.add_argument("--hours", type=float, help="event time of the long run (4)")
    parser.add_argument("--checkpoint-rate", type=int, help="span ids/s (2,500)")
    parser.add_argument("--part", choices=("graph", "checkpoint"), help=argparse.SUPPRESS)
    parser.add_argument("--state-file", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    rate = args.rate or (10 if args.quick else 100)
    hours = args.hours or (3.0 if args.quick else 4.0)
    checkpoint_rate = args.checkpoint_rate or (250 if args.quick else 2500)
    report_every_s = min(1800, max(60, int(hours * 3600) // 8))
    if args.part == "graph":
        run_graph(rate, hours, state_file=args.state_file, report_every_s=report_every_s)
        return
    if args.part == "checkpoint":
        run_checkpoint(checkpoint_rate)
        return
    me = [sys.executable, __file__, "--rate", str(rate), "--hours", str(hours)]
    for extra in ([], ["--state-file"]):
        subprocess.run([*me, "--part", "graph", *extra], check=True)
    subprocess.run(
        [*me, "--part", "checkpoint", "--checkpoint-rate", str(checkpoint_rate)], check=True
    )


if __name__ == "__main__":
    main()
