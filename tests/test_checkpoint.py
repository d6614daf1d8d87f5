"""The checkpoint file: what a restart reads back, also after a kill in the middle of a write."""

from __future__ import annotations

import resource
import signal
from pathlib import Path

import pytest

from kspan_py.checkpoint import (
    Checkpoint,
    CheckpointError,
    CheckpointFile,
    ExportedSpans,
    ExportGate,
)
from tests.tracing import CAPTURES, replay_file, span_id


def exported(entries: dict[int, int]) -> ExportedSpans:
    table = ExportedSpans()
    for span, time in entries.items():
        table.add(span, time)
    return table


def contents(checkpoint: Checkpoint | None) -> tuple[int, dict[str, str], set[int]]:
    assert checkpoint is not None
    return checkpoint.since_ns, checkpoint.resource_versions, set(checkpoint.exported)


def test_saved_state_and_journalled_deliveries_come_back(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    first = CheckpointFile(str(path))
    first.save(Checkpoint(since_ns=7, resource_versions={"pods": "42"}, exported=exported({1: 10})))
    first.journal([(2, 20), (3, 30)])
    first.close()  # then a kill: no save after the journal

    loaded = CheckpointFile(str(path)).load()
    assert contents(loaded) == (7, {"pods": "42"}, {1, 2, 3})


def test_a_torn_journal_line_loses_only_that_delivery(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    checkpoint = CheckpointFile(str(path))
    checkpoint.save(Checkpoint(since_ns=1))
    checkpoint.journal([(5, 50)])
    checkpoint.close()
    with open(f"{path}.journal", "ab") as journal:
        journal.write(b'[["00000000000000')  # the write a kill cut short
    loaded = CheckpointFile(str(path)).load()
    assert loaded is not None and set(loaded.exported) == {5}


def test_a_save_folds_the_journal_in(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    checkpoint = CheckpointFile(str(path))
    checkpoint.save(Checkpoint(since_ns=1))
    checkpoint.journal([(5, 50)])
    checkpoint.save(Checkpoint(since_ns=1, exported=exported({5: 50})))
    assert Path(f"{path}.journal").read_bytes() == b""
    assert contents(CheckpointFile(str(path)).load()) == (1, {}, {5})


def test_no_state_yet_is_none_and_a_corrupt_one_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    assert CheckpointFile(str(path)).load() is None
    path.write_text("{not json")
    with pytest.raises(CheckpointError, match=r"state\.json: unreadable checkpoint"):
        CheckpointFile(str(path)).load()
    path.write_text('{"format": 99, "since_ns": 1}')
    with pytest.raises(CheckpointError, match=r"state\.json: unknown format 99"):
        CheckpointFile(str(path)).load()


def test_the_gate_holds_back_what_is_before_since_and_what_was_exported() -> None:
    spans = replay_file(CAPTURES / "real-1.36" / "rollout.events.jsonl")
    times = sorted(s.start_time or 0 for s in spans)
    since = times[len(times) // 2]
    gate = ExportGate(since)
    admitted = gate.admit(spans)
    assert admitted and all((s.start_time or 0) >= since for s in admitted)
    gate.delivered(admitted[:3])
    again = gate.admit(spans)
    assert {span_id(s) for s in again} == {span_id(s) for s in admitted[3:]}
    assert gate.already_exported == 3


def test_an_occurrence_folded_into_a_span_of_repeats_is_not_exported_again() -> None:
    """A restart re-lists a repeating Event at its latest count: that occurrence went out
    folded into a span of repeats, so it must not come back as a span of its own."""
    from tests.test_lifecycle import _crash_loop
    from tests.tracing import replay_lines

    lines = _crash_loop(10, 12)
    gate = ExportGate(since_ns=0)
    gate.delivered(replay_lines(lines))
    # After a restart: the Pod and the Event as a list shows them, at count 10.
    relisted = replay_lines([lines[0], lines[-1].replace('"MODIFIED"', '"ADDED"')])
    back_off = [span for span in relisted if span.name == "Pod.BackOff"]
    assert len(back_off) == 1
    assert gate.admit(back_off) == []
    # A newer repeat folded after the restart is new: its span goes out.
    newer = replay_lines([*lines, _crash_loop(11, 12)[-1]])
    last_series = max(
        (s for s in newer if s.name == "Pod.BackOff"), key=lambda s: s.start_time or 0
    )
    assert gate.admit([last_series]) == [last_series]


def test_a_checkpoint_of_format_1_is_still_read(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text(
        '{"format": 1, "since_ns": 3, "resource_versions": {"pods": "9"},'
        ' "exported": {"00000000000000ff": 10, "0000000000000100": 20}}'
    )
    assert contents(CheckpointFile(str(path)).load()) == (3, {"pods": "9"}, {0xFF, 0x100})
    CheckpointFile(str(path)).save(CheckpointFile(str(path)).load() or Checkpoint(0))
    assert not path.read_bytes().startswith(b"{")  # written again in the packed format
    assert contents(CheckpointFile(str(path)).load()) == (3, {"pods": "9"}, {0xFF, 0x100})


def test_a_damaged_or_truncated_checkpoint_is_a_named_error(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    CheckpointFile(str(path)).save(Checkpoint(1, {}, exported({7: 1, 8: 2})))
    whole = path.read_bytes()
    path.write_bytes(whole[:-12])
    with pytest.raises(CheckpointError, match=r"state\.json: truncated checkpoint"):
        CheckpointFile(str(path)).load()
    flipped = bytearray(whole)
    flipped[-6] ^= 0x01  # inside the last span id
    path.write_bytes(bytes(flipped))
    with pytest.raises(CheckpointError, match=r"state\.json: damaged checkpoint \(checksum"):
        CheckpointFile(str(path)).load()
    path.write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match=r"state\.json: not a kspan-py checkpoint"):
        CheckpointFile(str(path)).load()


def test_a_span_id_takes_8_bytes_of_checkpoint() -> None:
    """At 2,500 events/s the Event TTL holds 9 million ids: as JSON (format 1) about 40 bytes
    each, 360 MB, more than the manifests' emptyDir; packed, 8."""
    table = ExportedSpans()
    ids = [span_id_of(n) for n in range(100_000)]
    for n, span in enumerate(ids):
        table.add(span, n * 10_000_000)  # 100 a second, 1,000 s of event time
    assert all(span in table for span in ids[::997])
    assert span_id_of(100_001) not in table
    assert table.nbytes + 8 * 65_536 >= 8 * len(ids) >= table.nbytes


def test_generations_are_forgotten_whole_once_past_the_ttl() -> None:
    table = ExportedSpans(generation_ns=100)
    for time in range(0, 1000, 10):
        table.add(time + 1, time)
    table.forget_before(500)
    assert set(table) == {time + 1 for time in range(500, 1000, 10)}
    table.forget_before(2000)
    assert len(table) == 0 and 991 not in table


def test_a_failed_journal_append_leaves_no_torn_line_for_the_next_one(tmp_path: Path) -> None:
    """A full disk can take half a line (a short write, then an error): cut it, so that the
    next delivery's line is whole. A file size limit gives the same short write."""
    path = tmp_path / "state.json"
    checkpoint = CheckpointFile(str(path))
    assert checkpoint.journal([(1, 10)])
    size = Path(f"{path}.journal").stat().st_size
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG rather than a kill
    resource.setrlimit(resource.RLIMIT_FSIZE, (size + 20, hard))
    try:
        assert not checkpoint.journal([(span, 20) for span in range(2, 10)])
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
    assert checkpoint.writes.failures == 1 and checkpoint.writes.unsaved
    assert Path(f"{path}.journal").stat().st_size == size  # the part that went, cut
    assert checkpoint.journal([(10, 30)])
    assert checkpoint.writes.journal_error is None
    loaded = CheckpointFile(str(path)).load()
    assert loaded is not None and set(loaded.exported) == {1, 10}


def test_a_checkpoint_on_a_full_disk_keeps_the_previous_one_and_counts(tmp_path: Path) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("/dev/full (ENOSPC on every write) is Linux's")
    path = tmp_path / "state.json"
    checkpoint = CheckpointFile(str(path))
    assert checkpoint.save(Checkpoint(1, {}, exported({5: 50})))
    Path(f"{path}.journal").unlink(missing_ok=True)
    Path(f"{path}.journal").symlink_to("/dev/full")
    assert not checkpoint.journal([(6, 60)])
    writes = checkpoint.writes
    assert writes.failures == 1 and writes.unsaved
    assert writes.error is not None and "No space left on device" in writes.error
    # The whole checkpoint still goes (its directory has room): it holds the unjournalled id.
    assert checkpoint.save(Checkpoint(1, {}, exported({5: 50, 6: 60})))
    assert not writes.unsaved and writes.save_error is None
    assert contents(CheckpointFile(str(path)).load()) == (1, {}, {5, 6})


def span_id_of(number: int) -> int:
    from kspan_py.spans.ids import event_span_id

    return event_span_id(f"uid-{number}", 1)
