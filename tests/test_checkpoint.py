"""The checkpoint file: what a restart reads back, also after a kill in the middle of a write."""

from __future__ import annotations

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
