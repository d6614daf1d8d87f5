"""Bad and unusual input: every layout users have is read; every bad value is named, counted
and skipped (or fatal with --strict); nothing crashes the run and nothing is lost silently."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from kspan_py.cli import main
from kspan_py.model import EventChange, ObjectChange, Snapshot
from kspan_py.sources.capture import Bookmark, CaptureError, Skipped, read_capture
from tests.tracing import CAPTURES

ROLLOUT = CAPTURES / "real-1.36" / "rollout.core.jsonl"
LINES = ROLLOUT.read_text().splitlines()
EVENT = json.loads(next(line for line in LINES if '"kind":"Event"' in line))["object"]
POD = json.loads(next(line for line in LINES if '"kind":"Pod"' in line))["object"]


def _items(path: Path) -> list[object]:
    return list(read_capture(str(path)))


def test_a_malformed_line_is_skipped_with_file_line_and_reason(tmp_path: Path) -> None:
    capture = tmp_path / "broken.jsonl"
    capture.write_text("\n".join([LINES[0], '{"type": "ADDED", "object": {"kind": ', *LINES[1:4]]))
    items = _items(capture)
    skipped = [i for i in items if isinstance(i, Skipped)]
    assert len(skipped) == 1
    assert skipped[0].where == f"{capture}:2"
    assert skipped[0].category == "malformed JSON"
    assert len([i for i in items if not isinstance(i, Skipped)]) == 4


def test_a_pretty_printed_kubectl_list_is_expanded(tmp_path: Path) -> None:
    capture = tmp_path / "dump.json"
    dump = {"apiVersion": "v1", "kind": "List", "items": [POD, EVENT], "metadata": {}}
    capture.write_text(json.dumps(dump, indent=4))
    items = _items(capture)
    assert [type(i) for i in items] == [Snapshot, ObjectChange, EventChange, Snapshot]


def test_a_typed_list_gives_its_items_their_kind(tmp_path: Path) -> None:
    bare = {k: v for k, v in POD.items() if k not in ("kind", "apiVersion")}
    capture = tmp_path / "pods.json"
    capture.write_text(json.dumps({"kind": "PodList", "items": [bare]}))
    start, item, end = _items(capture)
    assert start == Snapshot(end=False)
    assert end == Snapshot(end=True)
    assert isinstance(item, ObjectChange)
    assert item.obj.ref.kind == "Pod"


def test_concatenated_values_and_gzip_are_read(tmp_path: Path) -> None:
    capture = tmp_path / "joined.json.gz"
    capture.write_bytes(gzip.compress((json.dumps(POD) + json.dumps(EVENT) + "\n").encode()))
    assert [type(i) for i in _items(capture)] == [ObjectChange, EventChange]


def test_watch_bookmarks_and_errors(tmp_path: Path) -> None:
    capture = tmp_path / "watch.jsonl"
    gone = {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"}
    capture.write_text(
        "\n".join(
            [
                json.dumps({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "9"}}}),
                json.dumps({"type": "ERROR", "object": gone}),
                json.dumps({"type": "RENAMED", "object": POD}),
            ]
        )
    )
    bookmark, error, unknown = _items(capture)
    assert isinstance(bookmark, Bookmark)
    assert isinstance(error, Skipped)
    assert error.category == "watch error"
    assert "410" in error.reason
    assert isinstance(unknown, Skipped)
    assert "RENAMED" in unknown.reason


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"kind": "Pod"}, "Pod without metadata"),
        ({"kind": "Pod", "metadata": {"namespace": "x"}}, "Pod without metadata.name"),
        ({"metadata": {"name": "x"}}, "object without kind"),
        (
            {**EVENT, "involvedObject": None},
            "Event rollout/web.18eb0857a1dedfbe: involvedObject missing",
        ),
        (
            {
                **EVENT,
                "firstTimestamp": None,
                "lastTimestamp": None,
                "metadata": {**EVENT["metadata"], "creationTimestamp": None},
            },
            "has no timestamp",
        ),
        ({**EVENT, "lastTimestamp": "yesterday"}, "not an RFC 3339 time: 'yesterday'"),
        ({**POD, "metadata": {**POD["metadata"], "ownerReferences": "web"}}, "not a list"),
    ],
)
def test_objects_missing_fields_get_a_specific_message(
    tmp_path: Path, body: dict[str, object], reason: str
) -> None:
    capture = tmp_path / "bad.jsonl"
    capture.write_text(json.dumps({"type": "ADDED", "object": body}) + "\n")
    (item,) = _items(capture)
    assert isinstance(item, Skipped)
    assert item.category == "malformed object"
    assert reason in item.reason


def test_unknown_kinds_are_kept_for_ownership(tmp_path: Path) -> None:
    capture = tmp_path / "cm.jsonl"
    config_map = {"kind": "ConfigMap", "metadata": {"name": "c", "uid": "u", "namespace": "n"}}
    capture.write_text(json.dumps(config_map) + "\n")
    (item,) = _items(capture)
    assert isinstance(item, ObjectChange)
    assert item.obj.ref.kind == "ConfigMap"


def test_unreadable_captures_raise_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match=r"cannot read capture .*missing\.jsonl"):
        _items(tmp_path / "missing.jsonl")
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(CaptureError, match="not UTF-8"):
        _items(binary)


def _broken_capture(tmp_path: Path) -> Path:
    capture = tmp_path / "broken.jsonl"
    capture.write_text("\n".join([*LINES[:5], "not json at all", *LINES[5:]]) + "\n")
    return capture


def test_the_run_goes_on_and_the_summary_counts_the_skip(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", str(_broken_capture(tmp_path)), "--exporter", "none"]) == 0
    err = capsys.readouterr().err
    assert "read 108 values: 33 event occurrences, 74 objects, 1 skipped" in err
    assert "(malformed value: 1)" in err or "(malformed JSON: 1)" in err
    assert "41 spans in 2 traces" in err


def test_strict_makes_a_malformed_value_fatal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capture = _broken_capture(tmp_path)
    assert main(["replay", str(capture), "--exporter", "none", "--strict"]) == 2
    assert f"--strict: {capture}:6:" in capsys.readouterr().err


def test_a_missing_capture_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(tmp_path / "nope.jsonl"), "--exporter", "none"]) == 1
    assert "cannot read capture" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--window", "soon"], "--window: 'soon' is not a duration"),
        (["--window", "0s"], "--window: '0s' must be positive"),
        (["--exporter", "otlp-json"], "--exporter otlp-json needs --otlp-json-file"),
        (["--otlp-header", "novalue"], "--otlp-header: header 1 is not KEY=VALUE"),
    ],
)
def test_configuration_errors_name_the_flag(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", str(ROLLOUT), *argv]) == 2
    assert message in capsys.readouterr().err


def test_a_bad_protocol_in_the_environment_is_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon")
    assert main(["replay", str(ROLLOUT), "--exporter", "otlp"]) == 2
    assert "OTEL_EXPORTER_OTLP_PROTOCOL: 'carrier-pigeon'" in capsys.readouterr().err


def test_kubectl_output_piped_to_stdin_is_replayed() -> None:
    dump = json.dumps({"kind": "List", "items": [POD, EVENT]}, indent=2)
    result = subprocess.run(
        [sys.executable, "-m", "kspan_py.cli", "replay", "-", "--exporter", "console"],
        input=dump,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "Deployment.ScalingReplicaSet" in result.stdout
    assert "read 2 values: 1 event occurrence, 1 object, 0 skipped" in result.stderr


def test_input_later_than_the_window_is_linked_and_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An event delivered long after later ones is still exported, and the summary says so."""
    lines = (CAPTURES / "real-1.36" / "crashloop.core.jsonl").read_text().splitlines()
    first_event = next(i for i, line in enumerate(lines) if '"kind":"Event"' in line)
    # The Deployment's scaling (16:34:08) delivered after everything else (16:35:15).
    late = [*lines[:first_event], *lines[first_event + 1 :], lines[first_event]]
    capture = tmp_path / "late.jsonl"
    capture.write_text("\n".join(late) + "\n")
    out = tmp_path / "spans.jsonl"
    assert (
        main(["replay", str(capture), "--exporter", "otlp-json", "--otlp-json-file", str(out)]) == 0
    )
    err = capsys.readouterr().err
    assert "19 spans in" in err
    assert "1 arrived more than the window late" in err
    assert json.loads(out.read_text().splitlines()[0])["resourceSpans"]


@pytest.mark.parametrize(
    ("env", "value", "named"),
    [
        ("KSPAN_MAX_QUEUE_SPANS", "lots", "--max-queue-spans: invalid int value: 'lots'"),
        ("KSPAN_METRICS_PORT", "http", "--metrics-port: invalid int value: 'http'"),
    ],
)
def test_a_bad_environment_value_names_its_flag(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: str,
    value: str,
    named: str,
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(SystemExit) as exit_info:
        main(["run"])
    assert exit_info.value.code == 2
    assert named in capsys.readouterr().err


def test_a_bad_shard_names_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--shard", "2/2"]) == 2
    assert "--shard: '2/2': i must be in 0..n-1" in capsys.readouterr().err
