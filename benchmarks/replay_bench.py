"""How fast, and in how much memory, kspan-py replays a cluster's worth of watch events.

Why this exists: kspan-py must keep up with a busy cluster's watch stream and hold a small
record per object, not the bodies (issue 14, "Performance at the parse floor"). This benchmark
makes that measurable and repeatable (``make bench``) on two capture shapes, each written into a
temporary directory by ``synthetic_cluster.py`` (full object bodies with managedFields, every
controller, scheduler and kubelet Event):

- ``spread``: ``rolling_update`` of ``--deployments`` (1,000) Deployments of ``--replicas`` (10)
  Pods, each created and rolled to a new image 15-45 s later, one starting every 150-550 ms:
  spread over minutes, a few dozen in flight at a time;
- ``burst``: one interleaved rollout of ``--burst-deployments`` (20) Deployments copied into
  ``--copies`` (50) namespaces with their own uids and resourceVersions
  (``write_burst_capture``): the same number of Deployments and Pods, all in flight at once, the
  shape a busy cluster or the recording of a large incident gives.

For each shape it measures

- the parse floors: ``json.loads`` and ``orjson.loads`` of every line of the capture, in this
  process, timed apart: what any Python reader of the capture pays;
- end-to-end: ``kspan-py replay CAPTURE --exporter otlp-json`` as a child process: wall time,
  the counts of its summary line, and the memory of its whole process tree (a large capture is
  parsed in a reader process, ``kspan_py.sources.capture``);
- ratios: floor time / end-to-end time, for each floor. Targets >= 1.0 (json.loads) and
  >= 0.5 (orjson.loads).

Memory, and how it is measured: a thread samples ``/proc/PID/status`` of the replay and of
every descendant (found through ``/proc/PID/task/*/children``) every 10 ms, noting each
process's VmHWM (its own peak RSS, kept by the kernel, so no peak between samples is missed;
only growth in a process's last 10 ms before it exits is) and the sum of VmRSS over the tree.
A process's peak counts from its last exec: before it, a forked child shows its parent's memory.
(wait4's ru_maxrss is not used: Linux carries the forking parent's peak across exec into it,
and this process is large after generating a capture.) Each process's interpreter is a fixed
cost, not the data's: the peak of an interpreter that only imports what that process imports
(``kspan_py.cli`` for the main one, ``kspan_py.sources.capture`` with ``-P`` for the reader),
read by that interpreter from its own VmHWM as it ends, is subtracted from it. The figure per
object is

    sum over processes of (peak RSS - its interpreter) / distinct non-Event objects

where the objects are the distinct uids of everything but Events (Nodes, Deployments,
ReplicaSets, Pods). Summing each process's own peak counts them as if they peaked together,
an upper bound; the peak of the sampled sum of VmRSS (when they did peak together) is printed
beside it. Target <= 2 KiB per object.

It prints a short block per shape and, after each, one JSON line with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_cluster import CaptureStats, rolling_update, write_burst_capture, write_capture

from kspan_py.sources.capture import reads_in_a_process

SUMMARY = re.compile(
    r"read (?P<values>\d+) values: (?P<events>\d+) event occurrences, (?P<objects>\d+) objects, "
    r"(?P<skipped>\d+) skipped.*?; (?P<spans>\d+) spans in (?P<traces>\d+) traces"
)
JSON_RATIO_TARGET = 1.0
ORJSON_RATIO_TARGET = 0.5
BYTES_PER_OBJECT_TARGET = 2048
SAMPLE_S = 0.01


@dataclass(slots=True)
class Tree:
    """What the sampler saw of a process tree."""

    peaks: dict[int, int] = field(default_factory=dict)  # pid -> VmHWM bytes, last seen
    commands: dict[int, str] = field(default_factory=dict)  # pid -> command line
    max_sum_rss: int = 0  # the largest sum of VmRSS over the tree in one sample
    samples: int = 0


@dataclass(frozen=True, slots=True)
class Run:
    """One child process run to its end."""

    pid: int
    wall_s: float
    tree: Tree
    stderr: str


def _status_kib(pid: int) -> tuple[int, int] | None:
    """(VmRSS, VmHWM) in KiB, or None once the process is gone (or a zombie)."""
    rss = hwm = -1
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith(b"VmHWM:"):
                    hwm = int(line.split()[1])
    except (OSError, ValueError):
        return None
    return (rss, hwm) if rss >= 0 and hwm >= 0 else None


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        found.append(parent)
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{parent}/task/{task}/children", "rb") as children:
                    todo.extend(int(child) for child in children.read().split())
            except (OSError, ValueError):
                continue
    return found


def _command(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return cmdline.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def _sample(root: int, tree: Tree, stop: threading.Event) -> None:
    while True:
        total = 0
        for pid in _descendants(root):
            kib = _status_kib(pid)
            if kib is None:
                continue
            total += kib[0] * 1024
            command = _command(pid)
            if tree.commands.get(pid) != command:
                # Forked, not yet exec'd (it shows its parent's memory), or just exec'd: a
                # new program, whose VmHWM starts afresh.
                tree.commands[pid] = command
                tree.peaks[pid] = 0
            tree.peaks[pid] = max(tree.peaks[pid], kib[1] * 1024)
        tree.max_sum_rss = max(tree.max_sum_rss, total)
        tree.samples += 1
        if stop.wait(SAMPLE_S):
            return


def run_child(command: list[str]) -> Run:
    """Run command to completion, sampling its process tree's memory."""
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(command, stderr=err, text=True)
        tree, stop = Tree(), threading.Event()
        sampler = threading.Thread(target=_sample, args=(process.pid, tree, stop), daemon=True)
        sampler.start()
        process.wait()
        wall = time.perf_counter() - start
        stop.set()
        sampler.join()
        err.seek(0)
        stderr = err.read()
    if process.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({process.returncode}):\n{stderr}")
    return Run(process.pid, wall, tree, stderr)


def interpreter_peak(*flags: str, code: str) -> int:
    """The peak RSS (VmHWM, read by the process itself as it ends) of an interpreter that only
    runs code: the fixed cost of a process of kspan-py. The smallest of three: the first may
    compile the package's bytecode (a fresh checkout, or a change since), megabytes that the
    replay measured after it does not pay; taken as the baseline, they flattered the figure
    per object by up to 120 B."""
    report = "import re; print(re.search(r'VmHWM:\\s*(\\d+)', open('/proc/self/status').read())[1])"
    peaks = []
    for _ in range(3):
        done = subprocess.run(
            [sys.executable, *flags, "-c", f"{code}; {report}"],
            capture_output=True,
            text=True,
            check=True,
        )
        peaks.append(int(done.stdout.split()[-1]) * 1024)
    return min(peaks)


def parse_floor(capture: Path, loads: Callable[[bytes], Any], *, whole: bool = False) -> float:
    """loads of every non-blank line (whole: of the file as one value), timed."""
    start = time.perf_counter()
    if whole:
        loads(capture.read_bytes())
        return time.perf_counter() - start
    with capture.open("rb") as lines:
        for line in lines:
            if line.strip():
                loads(line)
    return time.perf_counter() - start


def _mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB"


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def _kspan() -> Path:
    kspan = Path(sys.executable).with_name("kspan-py")
    if kspan.exists():
        return kspan
    found = shutil.which("kspan-py")
    if found is None:
        sys.exit("kspan-py not found next to this interpreter or on PATH: run `make bench`")
    return Path(found)


def write_dump(capture: Path, dump: Path) -> CaptureStats:
    """What ``kubectl get -A -o json`` prints of the cluster at the capture's end: one List of
    every object still there and every Event, each at its last version, in namespace/name
    order, the List's keys in kubectl's order (its items before its kind). Each item is on a
    line of its own, so the value spans lines and is read as kubectl's pretty print is."""
    last: dict[str, tuple[str, str, str, bytes] | None] = {}
    with capture.open("rb") as lines:
        for line in lines:
            value = orjson.loads(line)
            body = value["object"]
            metadata = body["metadata"]
            if value["type"] == "DELETED":
                last[metadata["uid"]] = None  # gone: not listed
                continue
            order = (metadata.get("namespace") or "", metadata["name"], body["kind"])
            last[metadata["uid"]] = (*order, orjson.dumps(body))
    listed = sorted(item for item in last.values() if item is not None)
    stats = CaptureStats(values=1, event_writes=sum(kind == "Event" for _, _, kind, _ in listed))
    for uid, item in last.items():
        if item is not None:
            (stats.event_uids if item[2] == "Event" else stats.object_uids).add(uid)
    with dump.open("wb") as out:
        out.write(b'{"apiVersion":"v1","items":[\n')
        out.write(b",\n".join(body for *_, body in listed))
        out.write(b'\n],"kind":"List","metadata":{"resourceVersion":""}}\n')
    stats.bytes = dump.stat().st_size
    return stats


def generate(shape: str, capture: Path, args: argparse.Namespace) -> tuple[CaptureStats, str]:
    """Write the capture of a shape; returns its stats and a description."""
    if shape == "dump":
        recording = capture.with_suffix(".recorded.jsonl")
        generate("spread", recording, args)
        stats = write_dump(recording, capture)
        recording.unlink()
        return stats, (
            f"dump: kubectl get -A -o json at the end of the spread shape's {args.deployments:,}"
            " Deployments, one List spanning lines"
        )
    if shape == "spread":
        cluster, stream = rolling_update(
            deployments=args.deployments, replicas=args.replicas, seed=args.seed
        )
        stats = write_capture(capture, stream, cluster.api.stats)
        return stats, (
            f"spread: {args.deployments:,} Deployments x {args.replicas} pods, "
            "created and rolled one after another"
        )
    stats = write_burst_capture(
        capture,
        copies=args.copies,
        deployments=args.burst_deployments,
        replicas=args.replicas,
        seed=args.seed,
    )
    return stats, (
        f"burst: {args.burst_deployments} Deployments x {args.replicas} pods rolled together, "
        f"copied into {args.copies} namespaces ({args.burst_deployments * args.copies:,} "
        "Deployments in flight at once)"
    )


def bench_shape(shape: str, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    keep: Path | None = args.keep
    capture = keep / f"{shape}.jsonl" if keep is not None else tmp / f"{shape}.jsonl"
    spans_out = tmp / f"{shape}.spans.otlp.jsonl"
    print(f"[{shape}] generating {capture} ...", file=sys.stderr)
    start = time.perf_counter()
    stats, description = generate(shape, capture, args)
    generate_s = time.perf_counter() - start
    objects, event_objects = len(stats.object_uids), len(stats.event_uids)
    stats.object_uids.clear()
    stats.event_uids.clear()

    print(f"[{shape}] parse floors (json.loads, orjson.loads) ...", file=sys.stderr)
    json_s = parse_floor(capture, json.loads, whole=shape == "dump")
    orjson_s = parse_floor(capture, orjson.loads, whole=shape == "dump")
    print(f"[{shape}] interpreter baselines ...", file=sys.stderr)
    main_fixed = interpreter_peak(code="import kspan_py.cli")
    reader_fixed = interpreter_peak("-P", code="import kspan_py.sources.capture")
    in_a_process = reads_in_a_process(str(capture))
    print(f"[{shape}] kspan-py replay ...", file=sys.stderr)
    replay = run_child(
        [
            str(_kspan()),
            *("replay", str(capture), "--exporter", "otlp-json"),
            *("--otlp-json-file", str(spans_out)),
        ]
    )
    matched = SUMMARY.search(replay.stderr)
    if matched is None:
        sys.exit(f"no summary line in kspan-py's stderr:\n{replay.stderr}")
    summary = {key: int(value) for key, value in matched.groupdict().items()}
    spans_bytes = spans_out.stat().st_size
    spans_out.unlink()
    if keep is None:
        capture.unlink()

    # The processes of the tree: the replay itself and the others (the reader), each at its
    # own peak, each less its interpreter.
    main_peak = replay.tree.peaks.get(replay.pid, 0)
    others = {pid: peak for pid, peak in replay.tree.peaks.items() if pid != replay.pid}
    others_peak = sum(others.values())
    total_extra = main_peak - main_fixed + others_peak - reader_fixed * len(others)
    per_object = total_extra / max(1, objects)
    events, spans, wall = summary["events"], summary["spans"], replay.wall_s
    json_ratio, orjson_ratio = json_s / wall, orjson_s / wall
    figures: dict[str, Any] = {
        "shape": shape,
        "deployments": args.burst_deployments if shape == "burst" else args.deployments,
        "copies": args.copies if shape == "burst" else 1,
        "replicas": args.replicas,
        "seed": args.seed,
        "capture_bytes": stats.bytes,
        "values": stats.values,
        "event_occurrences_written": stats.event_writes,
        "objects": objects,
        "event_objects": event_objects,
        "generate_s": round(generate_s, 3),
        "json_loads_s": round(json_s, 3),
        "orjson_loads_s": round(orjson_s, 3),
        "end_to_end_s": round(wall, 3),
        "kspan_summary": summary,
        "events_per_s": round(events / wall),
        "spans_per_s": round(spans / wall),
        "values_per_s": round(summary["values"] / wall),
        "json_ratio": round(json_ratio, 3),
        "orjson_ratio": round(orjson_ratio, 3),
        "reader_process": in_a_process,
        "processes": len(replay.tree.peaks),
        "memory_samples": replay.tree.samples,
        "main_peak_rss_bytes": main_peak,
        "main_interpreter_rss_bytes": main_fixed,
        "other_peak_rss_bytes": others_peak,
        "other_interpreter_rss_bytes": reader_fixed * len(others),
        "sum_of_peaks_rss_bytes": main_peak + others_peak,
        "peak_of_sum_rss_bytes": replay.tree.max_sum_rss,
        "rss_above_interpreters_bytes": total_extra,
        "rss_bytes_per_object": round(per_object),
        "spans_file_bytes": spans_bytes,
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
    }
    floor_of = "the whole file" if shape == "dump" else "every line"
    other_lines = "".join(
        f"\n              + {_label(replay.tree.commands.get(pid, ''))} (pid {pid}) peak "
        f"{_mb(peak)} - its interpreter "
        f"{_mb(reader_fixed)}"
        for pid, peak in others.items()
    )
    print(
        f"kspan-py replay benchmark, {description} (seed {args.seed}, {os.cpu_count()} CPUs)\n"
        f"  capture     {_mb(stats.bytes)}, {stats.values:,} values, "
        f"{stats.event_writes:,} event occurrences, {objects:,} objects (distinct non-Event "
        f"uids; plus {event_objects:,} Event objects); generated in {generate_s:.1f} s\n"
        f"  kspan-py    {events:,} events, {summary['objects']:,} object changes, "
        f"{summary['skipped']} skipped -> {spans:,} spans in {summary['traces']:,} traces\n"
        f"  end-to-end  {wall:.1f} s: {events / wall:,.0f} events/s, {spans / wall:,.0f} spans/s "
        f"({summary['values'] / wall:,.0f} values/s)\n"
        f"  floors      json.loads {json_s:.1f} s, orjson.loads {orjson_s:.1f} s ({floor_of})\n"
        f"  ratios      json.loads {json_ratio:.2f} (target >= {JSON_RATIO_TARGET}: "
        f"{_met(json_ratio >= JSON_RATIO_TARGET)}), orjson.loads {orjson_ratio:.2f} "
        f"(target >= {ORJSON_RATIO_TARGET}: {_met(orjson_ratio >= ORJSON_RATIO_TARGET)}) "
        "= floor time / end-to-end time\n"
        f"  memory      replay (pid {replay.pid}) peak {_mb(main_peak)} - "
        f"its interpreter {_mb(main_fixed)}{other_lines}\n"
        f"              = {_mb(total_extra)} above the interpreters (sum of each process's "
        f"peak; the sampled tree peaked at {_mb(replay.tree.max_sum_rss)} in all)\n"
        f"              -> {per_object:,.0f} B per object (target <= {BYTES_PER_OBJECT_TARGET}: "
        f"{_met(per_object <= BYTES_PER_OBJECT_TARGET)})"
    )
    if keep is not None:
        print(f"  kept        {capture}")
    print(json.dumps({"kspan_bench": figures}, separators=(",", ":")), flush=True)
    return figures


def _label(command: str) -> str:
    return "reader" if "serve_capture" in command else (command[:40] or "child")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--shape",
        choices=("spread", "burst", "dump", "both", "all"),
        default="all",
        help="both: spread and burst; all: and dump (all)",
    )
    parser.add_argument("--deployments", type=int, default=1000, help="spread: (1000)")
    parser.add_argument("--burst-deployments", type=int, default=20, help="burst: per copy (20)")
    parser.add_argument("--copies", type=int, default=50, help="burst: namespaces (50)")
    parser.add_argument("--replicas", type=int, default=10, help="pods a Deployment (10)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, metavar="DIR", help="write the captures here, keep")
    args = parser.parse_args(argv)
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
    shapes = {"both": ("spread", "burst"), "all": ("spread", "burst", "dump")}.get(
        args.shape, (args.shape,)
    )
    with tempfile.TemporaryDirectory(prefix="kspan-bench-") as tmp:
        for shape in shapes:
            bench_shape(shape, args, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
