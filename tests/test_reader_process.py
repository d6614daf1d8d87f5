"""The reader process: a large capture is parsed in a child process, and nothing else changes.

What is yielded must be what reading in-process yields (order, records, skips with their
file:line, errors); and the child must never outlive its use: closed early, killed, Ctrl-C or
a parent killed with -9, no reader process is left behind.
"""

from __future__ import annotations

import dataclasses
import gzip
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path

import pytest

from kspan_py.cli import main as cli_main
from kspan_py.config import GraphSettings
from kspan_py.graph.causality import ADVANCE_EVERY, CausalGraph
from kspan_py.model import ChangeType, EventChange, ObjectChange
from kspan_py.pipeline import link
from kspan_py.sources.capture import CaptureError, Unchanged, read_capture, reads_in_a_process
from kspan_py.views.traces import Trace
from tests.tracing import CAPTURES, otlp_json_span_times, span_times

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc for child processes")

ROLLOUT = CAPTURES / "real-1.36" / "rollout.core.jsonl"
LINES = ROLLOUT.read_text().splitlines()
EXAMPLES = sorted(CAPTURES.glob("*.jsonl")) + sorted((CAPTURES / "real-1.36").glob("*.jsonl"))
# Read in one batch of event time whatever is left out (the spans' ends depend on where event
# time moves on, and pipeline.link does not count what is left out towards a batch).
SMALL_EXAMPLES = [p for p in EXAMPLES if len(p.read_bytes().splitlines()) < ADVANCE_EVERY]


def _spans(traces: Iterable[Trace]) -> list[tuple[object, ...]]:
    return sorted(
        (span.context.span_id if span.context else 0, span.parent.span_id if span.parent else 0,
         span.name, span.start_time, span.end_time, repr(sorted((span.attributes or {}).items())))
        for trace in traces
        for span in trace.spans
    )  # fmt: skip


def _both_ways(path: Path) -> tuple[list[object], list[object]]:
    return list(read_capture(str(path), reader_process=False)), list(
        read_capture(str(path), reader_process=True)
    )


@pytest.mark.parametrize("capture", EXAMPLES, ids=lambda p: p.name)
def test_the_reader_process_yields_what_reading_here_yields(capture: Path) -> None:
    here, there = _both_ways(capture)
    assert here
    assert there == here


def test_skips_and_every_layout_come_through_with_their_file_and_line(tmp_path: Path) -> None:
    event = json.loads(next(line for line in LINES if '"kind":"Event"' in line))["object"]
    pod = json.loads(next(line for line in LINES if '"kind":"Pod"' in line))["object"]
    related = {**event, "related": {"kind": "Node", "name": "n1"}}
    dump = {"kind": "List", "items": [pod, event], "metadata": {}}
    capture = tmp_path / "mixed.jsonl.gz"
    lines = [
        *LINES[:3],
        "not json at all",
        json.dumps({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "9"}}}),
        json.dumps({"type": "ERROR", "object": {"code": 410, "message": "too old"}}),
        json.dumps({"type": "ADDED", "object": {"kind": "Pod", "metadata": {}}}),
        json.dumps({"type": "MODIFIED", "object": related}),
        json.dumps({"type": "DELETED", "object": pod}),
        json.dumps(dump, indent=2),  # from here on, read as a stream of values
    ]
    capture.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    here, there = _both_ways(capture)
    assert there == here
    assert [str(item) for item in there if not hasattr(item, "obj") and not hasattr(item, "event")]
    assert any(f"{capture}:4: malformed JSON" in str(item) for item in there)


def test_a_capture_error_in_the_reader_process_is_raised_here(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match=r"cannot read capture .*missing\.jsonl"):
        list(read_capture(str(tmp_path / "missing.jsonl"), reader_process=True))


def test_hostile_bytes_are_the_same_skips_in_the_reader_process(tmp_path: Path) -> None:
    """Not UTF-8, a lone surrogate escape, nesting deeper than any parser goes, a damaged gzip:
    the reader process reports and keeps exactly what reading here does."""
    event = json.loads(next(line for line in LINES if '"kind":"Event"' in line))
    event["object"]["message"] = "half a pair: \ud800"
    lines = [
        *(line.encode() for line in LINES[:3]),
        b"\xff\xfe\x00garbage",
        json.dumps(event).encode(),
        b"[" * 5000 + b"]" * 5000,
        *(line.encode() for line in LINES[3:6]),
        json.dumps({"kind": "List", "items": [event["object"]]}, indent=2).encode(),
    ]
    capture = tmp_path / "hostile.jsonl.gz"
    compressed = gzip.compress(b"\n".join(lines) + b"\n")
    capture.write_bytes(compressed[:-200] + b"\xff" * 100 + compressed[-100:])
    here, there = _both_ways(capture)
    assert there == here
    assert f"{capture}:4: not UTF-8: byte 0xff at column 1" in [str(item) for item in there]
    messages = [item.event.message for item in there if isinstance(item, EventChange)]
    assert "half a pair: \ufffd" in messages


def test_without_a_process_to_be_had_the_capture_is_read_here(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_process(*args: object, **kwargs: object) -> None:
        raise BlockingIOError("Resource temporarily unavailable")

    monkeypatch.setattr(subprocess, "Popen", no_process)
    here, there = _both_ways(ROLLOUT)
    assert there == here


def test_the_reader_process_imports_this_package_whatever_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoy = tmp_path / "kspan_py"
    decoy.mkdir()
    (decoy / "__init__.py").write_text("raise ImportError('the decoy was imported')\n")
    monkeypatch.chdir(tmp_path)
    here, there = _both_ways(ROLLOUT)
    assert there == here


def _large_capture(tmp_path: Path, megabytes: int) -> Path:
    """Far more than the pipe holds, so the reader is still running when a test acts."""
    capture = tmp_path / "large.jsonl"
    block = ("\n".join(LINES) + "\n").encode()
    with capture.open("wb") as out:
        for _ in range(megabytes * (1 << 20) // len(block) + 1):
            out.write(block)
    return capture


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.update(int(child) for child in (task / "children").read_text().split())
    return found


def _gone(pid: int, within_s: float = 5.0) -> bool:
    """pid has exited (a zombie nobody reaps counts as exited)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)  # allow-sleep: a bounded poll; an exit has no event to wait for
    return False


def test_closing_early_ends_and_waits_for_the_reader_process(tmp_path: Path) -> None:
    before = _children(os.getpid())
    items = read_capture(str(_large_capture(tmp_path, 16)), reader_process=True)
    next(items)
    (reader,) = _children(os.getpid()) - before
    items.close()
    assert not Path(f"/proc/{reader}").exists()  # ended and reaped


def test_a_reader_process_that_dies_is_an_error_not_a_short_capture(tmp_path: Path) -> None:
    before = _children(os.getpid())
    items = read_capture(str(_large_capture(tmp_path, 16)), reader_process=True)
    next(items)
    (reader,) = _children(os.getpid()) - before
    os.kill(reader, signal.SIGKILL)
    with pytest.raises(CaptureError, match=r"its reader ended \(exit -9\)"):
        for _ in items:
            pass


def test_a_reader_started_by_a_thread_that_ends_reads_on(tmp_path: Path) -> None:
    # The death signal is bound to the starting thread: it must not be used then.
    capture = _large_capture(tmp_path, 16)
    items = read_capture(str(capture), reader_process=True)
    first: list[object] = []
    starter = threading.Thread(target=lambda: first.append(next(items)))
    starter.start()
    starter.join()
    assert [*first, *items] == list(read_capture(str(capture), reader_process=False))


def test_the_reader_process_dies_with_its_parent(tmp_path: Path) -> None:
    capture = _large_capture(tmp_path, 16)
    with subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from kspan_py.sources.capture import read_capture; "
            "items = read_capture(sys.argv[1], reader_process=True); next(items); "
            "print('reading', flush=True); time.sleep(60)",  # allow-sleep: held until killed
            str(capture),
        ],
        stdout=subprocess.PIPE,
        text=True,
    ) as parent:
        try:
            assert parent.stdout is not None
            assert parent.stdout.readline() == "reading\n"
            (reader,) = _children(parent.pid)
            parent.kill()
            parent.wait()
            assert _gone(reader)
        finally:
            parent.kill()


def test_ctrl_c_ends_a_replay_and_its_reader_process(tmp_path: Path) -> None:
    capture = _large_capture(tmp_path, 80)  # well over the size that a replay reads in a process
    kspan = Path(sys.executable).with_name("kspan-py")
    spans = tmp_path / "spans.jsonl"
    replay = subprocess.Popen(
        [str(kspan), "replay", str(capture), "--exporter", "otlp-json", "--otlp-json-file", spans],
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    try:
        deadline = time.monotonic() + 10
        while not _children(replay.pid) and time.monotonic() < deadline:
            time.sleep(0.05)  # allow-sleep: a bounded poll; nothing announces the reader
        (reader,) = _children(replay.pid)
        os.killpg(replay.pid, signal.SIGINT)  # what Ctrl-C sends: to the whole group
        _, stderr = replay.communicate(timeout=30)
        assert replay.returncode == 130, stderr
        assert "interrupted" in stderr
        assert "Traceback" not in stderr  # the reader ignored the SIGINT, quietly
        assert _gone(reader)
    finally:
        replay.kill()
        replay.wait()


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def _wait_for_state(pid: int, states: str, within_s: float = 10.0) -> None:
    deadline = time.monotonic() + within_s
    while _state(pid) not in states:
        assert time.monotonic() < deadline, f"reader {pid} never reached {states}: {_state(pid)}"
        time.sleep(0.01)  # allow-sleep: a bounded poll; /proc has no event to wait on


def test_stopping_and_continuing_an_unbuffered_reader_loses_no_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PYTHONUNBUFFERED=1 (the Dockerfile sets it) makes the reader's stdout a raw file, whose
    write may take only part of a frame when a signal interrupts it: a debugger's or a
    profiler's SIGSTOP/SIGCONT. Every byte must still arrive, in order."""
    # Long messages make each frame larger than the pipe: every frame is written in parts.
    capture = tmp_path / "long-messages.jsonl"
    lines = []
    for line in LINES:
        value = json.loads(line)
        if value["object"]["kind"] == "Event":
            value["object"]["message"] = "x" * 8000
        lines.append(json.dumps(value))
    block = ("\n".join(lines) + "\n").encode()
    capture.write_bytes(block * (32 * (1 << 20) // len(block) + 1))
    monkeypatch.setenv("PYTHONUNBUFFERED", "1")
    before = _children(os.getpid())
    items = read_capture(str(capture), reader_process=True)
    read = [next(items)]
    (reader,) = _children(os.getpid()) - before
    for _ in range(5):
        # The parent is not reading: the reader fills the pipe and blocks in a write (S).
        _wait_for_state(reader, "S")
        os.kill(reader, signal.SIGSTOP)
        _wait_for_state(reader, "T")
        os.kill(reader, signal.SIGCONT)
        read.extend(itertools.islice(items, 512))  # let the pipe drain a little, then stop
    read.extend(items)
    assert read == list(read_capture(str(capture), reader_process=False))


# -- updates that change nothing kspan-py reads ------------------------------------------------


def _without_version(change: ObjectChange) -> tuple[object, ...]:
    return (change.type, dataclasses.replace(change.obj, resource_version=""))


@pytest.mark.parametrize("capture", SMALL_EXAMPLES, ids=lambda p: p.name)
def test_left_out_updates_are_the_unchanged_ones_and_are_counted(capture: Path) -> None:
    """With drop_unchanged, the reader process leaves out exactly the MODIFIED versions equal,
    but for their resourceVersion, to the version of their object before them; the counts in
    their place add up, and linking what is sent gives the spans linking everything gives."""
    here = list(read_capture(str(capture), reader_process=False))
    there = list(read_capture(str(capture), reader_process=True, drop_unchanged=True))
    previous: dict[str, tuple[object, ...]] = {}
    expected_left_out = 0
    kept_here = []
    for item in here:
        if isinstance(item, ObjectChange):
            key = item.obj.ref.key
            shape = _without_version(item)
            same = item.type is ChangeType.MODIFIED and previous.get(key) == shape
            if same and item.obj.ref.kind != "Pod":  # (Pods are always sent)
                expected_left_out += 1
                continue
            previous[key] = shape
        kept_here.append(item)
    counted = sum(item.count for item in there if isinstance(item, Unchanged))
    assert counted == expected_left_out
    assert [item for item in there if not isinstance(item, Unchanged)] == kept_here
    assert _spans(link(here)) == _spans(link(there))


def test_status_only_updates_of_a_real_rollout_are_left_out() -> None:
    """The real rollout's ReplicaSets report availableReplicas and the like many times over:
    some of those versions must be left out (else the filter does nothing on real input)."""
    there = list(read_capture(str(ROLLOUT), reader_process=True, drop_unchanged=True))
    assert sum(item.count for item in there if isinstance(item, Unchanged)) > 0
    values = sum(1 for item in there if isinstance(item, ObjectChange | EventChange))
    assert values + sum(i.count for i in there if isinstance(i, Unchanged)) == len(
        [line for line in LINES if line.strip()]
    )


def test_a_late_older_version_still_meets_the_left_out_one_first(tmp_path: Path) -> None:
    """v12 equals v10 (only the ReplicaSet's availableReplicas changed) and is left out; v11,
    written between them, arrives last and differs (another spec.replicas). The graph must
    still see v12 before v11, so that v11 is judged stale as it would be had nothing been left
    out, and no value is counted twice."""
    replica_set = next(
        json.loads(line)["object"]
        for line in LINES
        if '"kind":"ReplicaSet"' in line and '"type":"MODIFIED"' in line
    )

    def version(rv: str, replicas: int, available: int) -> str:
        body = json.loads(json.dumps(replica_set))
        body["metadata"]["resourceVersion"] = rv
        body["spec"]["replicas"] = replicas
        body["status"] = {**body.get("status", {}), "availableReplicas": available}
        return json.dumps({"type": "MODIFIED", "object": body})

    capture = tmp_path / "late.jsonl"
    capture.write_text(
        "\n".join(
            [
                version("10", replicas=3, available=1),
                version("12", replicas=3, available=2),  # unchanged for kspan-py: left out, held
                version("11", replicas=4, available=1),  # written before 12, arrives after it
            ]
        )
        + "\n"
    )
    there = list(read_capture(str(capture), reader_process=True, drop_unchanged=True))
    changes = [item for item in there if isinstance(item, ObjectChange)]
    assert [change.obj.resource_version for change in changes] == ["10", "12", "11"]
    assert sum(item.count for item in there if isinstance(item, Unchanged)) == 0


def test_pods_are_always_sent(tmp_path: Path) -> None:
    """A Pod's versions are never compared (hashing their status cost more than it saved):
    even one identical but for its resourceVersion is sent."""
    pod = next(
        json.loads(line)["object"]
        for line in LINES
        if '"kind":"Pod"' in line and '"type":"MODIFIED"' in line
    )
    lines = []
    for rv in ("10", "11"):
        body = json.loads(json.dumps(pod))
        body["metadata"]["resourceVersion"] = rv
        lines.append(json.dumps({"type": "MODIFIED", "object": body}))
    capture = tmp_path / "pods.jsonl"
    capture.write_text("\n".join(lines) + "\n")
    there = list(read_capture(str(capture), reader_process=True, drop_unchanged=True))
    assert [item.obj.resource_version for item in there if isinstance(item, ObjectChange)] == [
        "10",
        "11",
    ]


def _deployment_versions(tmp_path: Path, versions: list[tuple[str, bool, int]]) -> Path:
    """A Deployment's MODIFIED versions (resourceVersion, rolling out, availableReplicas):
    rolling out or not is read from its Progressing condition; availableReplicas is not read."""
    deployment = next(json.loads(line)["object"] for line in LINES if '"kind":"Deployment"' in line)
    lines = []
    for rv, rolling, available in versions:
        body = json.loads(json.dumps(deployment))
        body["metadata"]["resourceVersion"] = rv
        reason = "ReplicaSetUpdated" if rolling else "NewReplicaSetAvailable"
        body["status"] = {
            "observedGeneration": body["metadata"].get("generation", 1),
            "availableReplicas": available,
            "conditions": [{"type": "Progressing", "status": "True", "reason": reason}],
        }
        lines.append(json.dumps({"type": "MODIFIED", "object": body}))
    capture = tmp_path / "deployment.jsonl"
    capture.write_text("\n".join(lines) + "\n")
    return capture


@pytest.mark.parametrize(
    "versions",
    [
        # a late older version between two equal ones
        [("10", True, 1), ("9", False, 1), ("11", True, 2), ("12", False, 2)],
        [("10", True, 1), ("9", False, 1), ("11", False, 1)],
        [("10", True, 1), ("12", True, 2), ("11", False, 1), ("13", False, 1)],
        [("10", True, 1), ("11", True, 2), ("12", True, 3), ("9", False, 1), ("13", True, 4)],
        [("10", False, 1), ("10", False, 1), ("11", False, 2), ("11", False, 2)],  # re-lists
    ],
)
def test_what_the_graph_knows_of_an_object_does_not_depend_on_what_was_left_out(
    tmp_path: Path, versions: list[tuple[str, bool, int]]
) -> None:
    """Reordered versions of a Deployment, some equal but for their resourceVersion: the graph
    ends up with the same rollout status whether they were all sent or the
    equal ones left out. (Its stored write order may lag: the newest version left out is held
    until a version written before it arrives, and is sent then.)"""
    capture = _deployment_versions(tmp_path, versions)
    known = []
    for items in (
        read_capture(str(capture), reader_process=False),
        read_capture(str(capture), reader_process=True, drop_unchanged=True),
    ):
        graph = CausalGraph(GraphSettings())
        for item in items:
            if isinstance(item, ObjectChange):
                graph.ingest(item)
                ref = item.obj.ref
        assert graph.store.get(ref) is not None
        known.append(graph.store.rolling_out(ref))
    assert known[0] == known[1]


def test_replay_through_the_reader_process_gives_the_spans_link_gives(tmp_path: Path) -> None:
    """`kspan-py replay` of a capture large enough for the reader process, with updates left
    out in long runs and a leading listing longer than a batch: the same spans, to the
    nanosecond, as linking everything read here (where event time moves on is unchanged)."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one CPU: captures are never read in a reader process")
    rv = re.compile(r'"resourceVersion":"(\d+)"')
    lines = []
    for original in (CAPTURES / "big-listing.jsonl").read_text().splitlines():
        line = rv.sub(lambda m: f'"resourceVersion":"{int(m[1]) * 1000}"', original)  # room
        lines.append(line)
        value = json.loads(line)
        if value["type"] == "MODIFIED" and value["object"]["kind"] in ("ReplicaSet", "Deployment"):
            body = value["object"]
            base = int(body["metadata"]["resourceVersion"])
            for k in range(1, 700):  # status-only rewrites: more than a batch of them in a row
                body["metadata"]["resourceVersion"] = str(base + k)
                body.setdefault("status", {})["availableReplicas"] = k % 7
                lines.append(json.dumps({"type": "MODIFIED", "object": body}))
    # Past the size from which a capture is read in a reader process: one object, not read.
    padding = {"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "padding"}}
    padding["metadata"]["annotations"] = {"x": "p" * (33 << 20)}
    lines.append(json.dumps({"type": "ADDED", "object": padding}))
    capture = tmp_path / "large.jsonl"
    capture.write_text("\n".join(lines) + "\n")
    assert reads_in_a_process(str(capture))
    left_out = sum(
        item.count
        for item in read_capture(str(capture), reader_process=True, drop_unchanged=True)
        if isinstance(item, Unchanged)
    )
    assert left_out > ADVANCE_EVERY

    out = tmp_path / "spans.jsonl"
    args = ["replay", str(capture), "--exporter", "otlp-json", "--otlp-json-file", str(out)]
    assert cli_main(args) == 0
    from_cli = otlp_json_span_times(out)
    traces = link(read_capture(str(capture), reader_process=False))
    from_library = span_times(span for trace in traces for span in trace.spans)
    assert from_cli and from_cli == from_library
