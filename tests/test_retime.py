"""--retime: an old capture replayed as if it had just happened, for backends that only search
(Tempo) or accept (Loki) recent data. Only the exported times move; links and ids do not."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from kspan_py.cli import main
from tests.tracing import CAPTURES

CRASHLOOP = CAPTURES / "real-1.36" / "crashloop.events.jsonl"


def spans_and_records(tmp_path: Path, *flags: str) -> tuple[list[dict[str, Any]], list[Any]]:
    spans_out, logs_out = tmp_path / "spans.jsonl", tmp_path / "logs.jsonl"
    spans_out.unlink(missing_ok=True)
    logs_out.unlink(missing_ok=True)
    args = ["replay", str(CRASHLOOP), "--exporter", "otlp-json", "--otlp-json-file"]
    args += [str(spans_out), "--exporter", "otlp-logs-json", "--otlp-logs-json-file", str(logs_out)]
    assert main([*args, *flags]) == 0
    spans = [
        span
        for line in spans_out.read_text().splitlines()
        for resource in json.loads(line)["resourceSpans"]
        for scope in resource["scopeSpans"]
        for span in scope["spans"]
    ]
    records = [
        record
        for line in logs_out.read_text().splitlines()
        for resource in json.loads(line)["resourceLogs"]
        for scope in resource["scopeLogs"]
        for record in scope["logRecords"]
    ]
    return spans, records


def test_every_time_moves_by_one_shift_that_ends_the_capture_a_window_ago(
    tmp_path: Path,
) -> None:
    before = time.time_ns()
    spans, records = spans_and_records(tmp_path, "--retime")
    after = time.time_ns()
    original, original_records = spans_and_records(tmp_path)
    by_id = {span["spanId"]: span for span in original}
    shifts = set()
    for span in spans:
        old = by_id[span["spanId"]]
        assert span.get("parentSpanId") == old.get("parentSpanId")  # the same trees
        for key in ("startTimeUnixNano", "endTimeUnixNano"):
            shifts.add(int(span[key]) - int(old[key]))
        for event, old_event in zip(span.get("events", []), old.get("events", []), strict=True):
            shifts.add(int(event["timeUnixNano"]) - int(old_event["timeUnixNano"]))
    for record, old_record in zip(records, original_records, strict=True):
        shifts.add(int(record["timeUnixNano"]) - int(old_record["timeUnixNano"]))
    assert len(shifts) == 1
    # The capture's last occurrence is now a window (5 s) ago; nothing lies in the future
    # beyond what lasts past it (a span ends a window after its occurrence at most here).
    latest_record = max(int(r["timeUnixNano"]) for r in records)
    assert before - 6 * 10**9 <= latest_record <= after
    assert max(int(s["endTimeUnixNano"]) for s in spans) <= after


def test_retime_needs_files(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "-", "--retime"]) == 2
    assert "--retime reads the input twice" in capsys.readouterr().err
