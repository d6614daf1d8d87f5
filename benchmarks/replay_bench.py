"""How fast, and in how much memory, kspan-py replays a cluster's worth of watch events.

Why this exists: kspan-py must keep up with a busy cluster's watch stream and hold a small
record per object, not the bodies. This benchmark makes that measurable and repeatable
(``make bench``): it writes a large synthetic capture (by default 1,000 Deployments of 10 Pods,
each created and then rolled to a new image, with every controller, scheduler and kubelet
Event and full object bodies with managedFields; see ``synthetic_cluster.py``) into a temporary
directory, then in the same run measures

- parse-only: ``json.loads`` of every line of the capture, in this process: the floor that any
  Python reader of the capture pays;
- end-to-end: ``kspan-py replay CAPTURE --exporter otlp-json`` as a child process: wall time,
  peak RSS, and the counts from its summary line;
- the interpreter baseline: the peak RSS of a child that only imports ``kspan_py.cli``;
- when the replay parses in a reader process (a large capture and a second CPU), that reader's
  peak RSS reading the same capture alone, and its own interpreter's: what it holds above its
  interpreter counts towards the memory per object, like the main process's.

It prints a short block and, last, one JSON line with every figure. Targets: throughput ratio
(parse-only time / end-to-end time) >= 0.5; (peak RSS - baseline) / distinct objects < 1 KiB.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_cluster import rolling_update, write_capture

from kspan_py.sources.capture import reads_in_a_process

SUMMARY = re.compile(
    r"read (?P<values>\d+) values: (?P<events>\d+) event occurrences, (?P<objects>\d+) objects, "
    r"(?P<skipped>\d+) skipped.*?; (?P<spans>\d+) spans in (?P<traces>\d+) traces"
)
TIME = Path("/usr/bin/time")
RATIO_TARGET = 0.5
BYTES_PER_OBJECT_TARGET = 1024


@dataclass(frozen=True, slots=True)
class Run:
    """One child process: wall time, peak RSS and what it wrote to stderr."""

    wall_s: float
    peak_rss_bytes: int
    stderr: str


def run_child(command: list[str], *, output: bool = True) -> Run:
    """Run command to completion; peak RSS from /usr/bin/time, else from getrusage.
    Without output, its stdout goes to /dev/null."""
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss_file:
        measured = (
            [str(TIME), "-f", "%M", "-o", rss_file.name, *command] if TIME.exists() else command
        )
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        start = time.perf_counter()
        done = subprocess.run(
            measured,
            stdout=subprocess.PIPE if output else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - start
        if done.returncode != 0:
            sys.exit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr}")
        if TIME.exists():
            peak_kib = int(rss_file.read().strip().splitlines()[-1])
        else:  # the largest child so far: run the small children first
            peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            if peak_kib <= before:
                print(
                    "warning: peak RSS not measurable apart from an earlier child", file=sys.stderr
                )
    return Run(wall, peak_kib * 1024, done.stderr)


def parse_only(capture: Path) -> tuple[float, int]:
    """json.loads of every line, timed; returns (seconds, values)."""
    loads, values = json.loads, 0
    start = time.perf_counter()
    with capture.open("rb") as lines:
        for line in lines:
            if line.strip():
                loads(line)
                values += 1
    return time.perf_counter() - start, values


def _mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--deployments", type=int, default=1000)
    parser.add_argument("--replicas", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, metavar="FILE", help="write the capture here, keep it")
    args = parser.parse_args(argv)
    kspan = Path(sys.executable).with_name("kspan-py")
    if not kspan.exists():
        found = shutil.which("kspan-py")
        if found is None:
            sys.exit("kspan-py not found next to this interpreter or on PATH: run `make bench`")
        kspan = Path(found)

    with tempfile.TemporaryDirectory(prefix="kspan-bench-") as tmp:
        capture = args.keep if args.keep is not None else Path(tmp) / "capture.jsonl"
        spans_out = Path(tmp) / "spans.otlp.jsonl"
        print(
            f"generating {args.deployments} Deployments x {args.replicas} pods into {capture} ...",
            file=sys.stderr,
        )
        start = time.perf_counter()
        cluster, stream = rolling_update(
            deployments=args.deployments, replicas=args.replicas, seed=args.seed
        )
        stats = write_capture(capture, stream, cluster.api.stats)
        generate_s = time.perf_counter() - start
        objects, event_objects = len(stats.object_uids), len(stats.event_uids)
        del cluster, stream
        stats.object_uids.clear()
        stats.event_uids.clear()

        print("parse-only (json.loads) ...", file=sys.stderr)
        parse_s, parsed = parse_only(capture)
        print("interpreter baseline ...", file=sys.stderr)
        baseline = run_child([sys.executable, "-c", "import kspan_py.cli"])
        print("kspan-py replay ...", file=sys.stderr)
        replay = run_child(
            [
                str(kspan),
                "replay",
                str(capture),
                "--exporter",
                "otlp-json",
                "--otlp-json-file",
                str(spans_out),
            ]
        )
        # A large capture is parsed by a reader process (kspan_py.sources.capture). The peak RSS
        # that /usr/bin/time gives for the replay is its largest process's (the main one), not
        # the sum: the reader's is measured here apart, reading the same capture, and added.
        reader = reader_baseline = None
        if reads_in_a_process(str(capture)):
            print("reader process ...", file=sys.stderr)
            reader_baseline = run_child([sys.executable, "-c", "import kspan_py.sources.capture"])
            reader = run_child(
                [
                    sys.executable,
                    "-c",
                    "import os, sys; from kspan_py.sources.capture import serve_capture; "
                    "serve_capture(sys.argv[1], os.getppid())",
                    str(capture),
                ],
                output=False,
            )
        matched = SUMMARY.search(replay.stderr)
        if matched is None:
            sys.exit(f"no summary line in kspan-py's stderr:\n{replay.stderr}")
        summary = {key: int(value) for key, value in matched.groupdict().items()}
        spans_bytes = spans_out.stat().st_size

    events, spans = summary["events"], summary["spans"]
    ratio = parse_s / replay.wall_s
    extra_rss = replay.peak_rss_bytes - baseline.peak_rss_bytes
    reader_extra = 0
    if reader is not None and reader_baseline is not None:
        # Its interpreter is a fixed cost, like the main one's; what it holds above that counts.
        reader_extra = reader.peak_rss_bytes - reader_baseline.peak_rss_bytes
    per_object = (extra_rss + reader_extra) / max(1, objects)
    figures = {
        "deployments": args.deployments,
        "replicas": args.replicas,
        "seed": args.seed,
        "capture_bytes": stats.bytes,
        "values": stats.values,
        "event_occurrences_written": stats.event_writes,
        "objects": objects,
        "event_objects": event_objects,
        "generate_s": round(generate_s, 3),
        "parse_only_s": round(parse_s, 3),
        "parse_only_values_per_s": round(parsed / parse_s),
        "end_to_end_s": round(replay.wall_s, 3),
        "kspan_summary": summary,
        "events_per_s": round(events / replay.wall_s),
        "spans_per_s": round(spans / replay.wall_s),
        "values_per_s": round(summary["values"] / replay.wall_s),
        "throughput_ratio": round(ratio, 3),
        "peak_rss_bytes": replay.peak_rss_bytes,
        "baseline_rss_bytes": baseline.peak_rss_bytes,
        "reader_peak_rss_bytes": reader.peak_rss_bytes if reader is not None else None,
        "reader_baseline_rss_bytes": reader_baseline.peak_rss_bytes
        if reader_baseline is not None
        else None,
        "rss_bytes_per_object": round(per_object),
        "spans_file_bytes": spans_bytes,
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
    }
    reader_line = ""
    if reader is not None and reader_baseline is not None:
        reader_line = (
            f"\n  + reader    peak RSS {_mb(reader.peak_rss_bytes)} - its interpreter "
            f"{_mb(reader_baseline.peak_rss_bytes)} = {_mb(reader_extra)} (both processes at "
            f"their peaks: {_mb(replay.peak_rss_bytes + reader.peak_rss_bytes)} in all)"
        )
    ok_ratio = "ok" if ratio >= RATIO_TARGET else "BELOW TARGET"
    ok_rss = "ok" if per_object < BYTES_PER_OBJECT_TARGET else "ABOVE TARGET"
    print(
        f"kspan-py replay benchmark: {args.deployments:,} Deployments x {args.replicas} pods, "
        f"create + rolling update (seed {args.seed}, {os.cpu_count()} CPUs)\n"
        f"  capture     {_mb(stats.bytes)}, {stats.values:,} values, "
        f"{stats.event_writes:,} event occurrences, {objects:,} objects (distinct uids; "
        f"plus {event_objects:,} Event objects); generated in {generate_s:.1f} s\n"
        f"  kspan-py    {events:,} events, {summary['objects']:,} object changes, "
        f"{summary['skipped']} skipped -> {spans:,} spans in {summary['traces']:,} traces\n"
        f"  end-to-end  {replay.wall_s:.1f} s: {events / replay.wall_s:,.0f} events/s, "
        f"{spans / replay.wall_s:,.0f} spans/s "
        f"({summary['values'] / replay.wall_s:,.0f} values/s)\n"
        f"  parse-only  {parse_s:.1f} s: {parsed / parse_s:,.0f} values/s (json.loads per line)\n"
        f"  ratio       {ratio:.2f} = parse-only time / end-to-end time "
        f"(target >= {RATIO_TARGET}: {ok_ratio})\n"
        f"  memory      peak RSS {_mb(replay.peak_rss_bytes)} - interpreter "
        f"{_mb(baseline.peak_rss_bytes)} = {_mb(extra_rss)}{reader_line}\n"
        f"              -> {_mb(extra_rss + reader_extra)}: {per_object:,.0f} B per object "
        f"(target < {BYTES_PER_OBJECT_TARGET}: {ok_rss})"
    )
    if args.keep is not None:
        print(f"  kept        {args.keep}")
    print(json.dumps({"kspan_bench": figures}, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
