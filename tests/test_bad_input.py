"""Bad and unusual input: every layout users have is read; every bad value is named, counted
and skipped (or fatal with --strict); nothing crashes the run and nothing is lost silently."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kspan_py.cli import main
from kspan_py.model import EventChange, ObjectChange, Snapshot
from kspan_py.sources.capture import Bookmark, CaptureError, Skipped, read_capture
from tests.otlp_receivers import GrpcReceiver, grpc_receiver
from tests.tracing import CAPTURES

__all__ = ["grpc_receiver"]  # a fixture, used by name

ROLLOUT = CAPTURES / "real-1.36" / "rollout.core.jsonl"
LINES = ROLLOUT.read_text().splitlines()
EVENT = json.loads(next(line for line in LINES if '"kind":"Event"' in line))["object"]
POD = json.loads(next(line for line in LINES if '"kind":"Pod"' in line))["object"]


def _items(path: Path) -> list[object]:
    return list(read_capture(str(path)))


def _values(path: Path) -> list[object]:
    """What a capture holds, without the Snapshot markers that bracket its listings."""
    return [item for item in read_capture(str(path)) if not isinstance(item, Snapshot)]


def test_a_malformed_line_is_skipped_with_file_line_and_reason(tmp_path: Path) -> None:
    capture = tmp_path / "broken.jsonl"
    capture.write_text("\n".join([LINES[0], '{"type": "ADDED", "object": {"kind": ', *LINES[1:4]]))
    items = _values(capture)
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
    assert [type(i) for i in _values(capture)] == [ObjectChange, EventChange]


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
    (item,) = _values(capture)
    assert isinstance(item, Skipped)
    assert item.category == "malformed object"
    assert reason in item.reason


def test_unknown_kinds_are_kept_for_ownership(tmp_path: Path) -> None:
    capture = tmp_path / "cm.jsonl"
    config_map = {"kind": "ConfigMap", "metadata": {"name": "c", "uid": "u", "namespace": "n"}}
    capture.write_text(json.dumps(config_map) + "\n")
    (item,) = _values(capture)
    assert isinstance(item, ObjectChange)
    assert item.obj.ref.kind == "ConfigMap"


def test_a_missing_capture_raises_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match=r"cannot read capture .*missing\.jsonl"):
        _items(tmp_path / "missing.jsonl")


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


# -- hostile values: whatever an Event's author or a capture's holder writes -------------------


def _with_line(lines: list[str], index: int, change: Callable[[dict[str, Any]], None]) -> list[str]:
    """lines with the watch event at index changed (its object, in place) by change."""
    value = json.loads(lines[index])
    change(value["object"])
    return [*lines[:index], json.dumps(value), *lines[index + 1 :]]


FIRST_EVENT = next(i for i, line in enumerate(LINES) if '"kind":"Event"' in line)
OWNED_POD = next(i for i, line in enumerate(LINES) if '"kind":"Pod"' in line and "ownerRef" in line)


def _replay_to(receiver: GrpcReceiver, capture: Path) -> int:
    endpoint = ("--otlp-endpoint", receiver.endpoint, "--otlp-insecure")
    return main(["replay", str(capture), "--exporter", "otlp", *endpoint])


@pytest.mark.parametrize(
    "when",
    [
        "2262-04-12T00:00:00Z",  # past int64 nanoseconds: every run died, every restart too
        "2200-01-01T00:00:00Z",  # past 2**62 ns: its span was never exported, and nothing said
        "1969-12-31T23:59:59Z",  # before the epoch: OTLP's unsigned times refused the batch
        "0001-01-01T00:00:00Z",  # Go's zero time
        "9999-12-31T23:59:59.999999-23:59",
    ],
)
def test_a_time_outside_what_otlp_carries_is_a_named_skip_and_the_rest_is_exported(
    tmp_path: Path,
    grpc_receiver: GrpcReceiver,
    capsys: pytest.CaptureFixture[str],
    when: str,
) -> None:
    capture = tmp_path / "far.jsonl"
    lines = _with_line(LINES, FIRST_EVENT, lambda event: event.update(lastTimestamp=when))
    capture.write_text("\n".join(lines) + "\n")
    assert _replay_to(grpc_receiver, capture) == 0
    err = capsys.readouterr().err
    assert f"{capture}:{FIRST_EVENT + 1}: malformed object: Event rollout/" in err
    assert f"lastTimestamp: time out of range (1970 to 2099): {when!r}" in err
    assert "1 skipped (malformed object: 1); 40 spans" in err
    assert len(grpc_receiver.spans()) == 40
    assert grpc_receiver.refused == 0


def test_the_last_time_that_spans_carry_is_exported(
    tmp_path: Path, grpc_receiver: GrpcReceiver, capsys: pytest.CaptureFixture[str]
) -> None:
    capture = tmp_path / "late.jsonl"
    latest = "2099-12-31T23:59:59.999999Z"
    last_event = max(i for i, line in enumerate(LINES) if '"kind":"Event"' in line)
    lines = _with_line(LINES, last_event, lambda event: event.update(lastTimestamp=latest))
    capture.write_text("\n".join(lines) + "\n")
    assert _replay_to(grpc_receiver, capture) == 0
    assert "0 skipped; 41 spans" in capsys.readouterr().err
    ends = [span.end_time_unix_nano for _, span in grpc_receiver.spans()]
    assert len(ends) == 41
    assert max(ends) >= 4102444799999999000


def _owner(pod: dict[str, Any]) -> dict[str, Any]:
    owner: dict[str, Any] = pod["metadata"]["ownerReferences"][0]
    return owner


@pytest.mark.parametrize(
    ("index", "change", "skipped"),
    [
        # Crashed the replay (unhashable): now the owner is unusable, the Pod kept without it.
        (OWNED_POD, lambda pod: _owner(pod).update(uid=["a", "list"]), None),
        (OWNED_POD, lambda pod: _owner(pod).update(uid={"an": "object"}), None),
        (OWNED_POD, lambda pod: _owner(pod).update(kind=["Job"]), None),
        # A status is read leniently: the condition is left out.
        (
            OWNED_POD,
            lambda pod: pod["status"].update(conditions=[{"type": ["Ready"], "status": "True"}]),
            None,
        ),
        # int() refuses more than 4,300 digits; "²" is a digit to isdigit() but not to int().
        (FIRST_EVENT, lambda event: event["metadata"].update(resourceVersion="9" * 5000), None),
        (FIRST_EVENT, lambda event: event["metadata"].update(resourceVersion="1²"), None),
        (FIRST_EVENT, lambda event: event.update(count=True), None),
        (
            FIRST_EVENT,
            lambda event: event.update(lastTimestamp=[[["nested"]]] * 1000),
            "lastTimestamp is not a time: a list",
        ),
        (FIRST_EVENT, lambda event: event.update(count=2**31), "count above 2147483647"),
        (FIRST_EVENT, lambda event: event["metadata"].update(name=["web"]), "without metadata"),
        (FIRST_EVENT, lambda event: event.update(involvedObject=[]), "involvedObject missing"),
        (FIRST_EVENT, lambda event: event.update(reason={"a": 1}, source=[1]), None),
    ],
)
def test_a_value_of_the_wrong_type_is_a_named_skip_or_left_out_never_a_crash(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    index: int,
    change: Callable[[dict[str, Any]], None],
    skipped: str | None,
) -> None:
    capture = tmp_path / "typed.jsonl"
    capture.write_text("\n".join(_with_line(LINES, index, change)) + "\n")
    spans = tmp_path / "spans.jsonl"
    status = main(
        ["replay", str(capture), "--exporter", "otlp-json", "--otlp-json-file", str(spans)]
    )
    err = capsys.readouterr().err
    assert status == 0, err
    assert "Traceback" not in err
    if skipped is None:
        assert "0 skipped" in err
    else:
        assert f"{capture}:{index + 1}: malformed object: " in err
        assert skipped in err
        assert "1 skipped (malformed object: 1)" in err


def test_numbers_too_large_for_otlp_are_left_out_of_a_pretty_printed_dump(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """orjson reads a huge number as a float; the json module of the pretty-printed path keeps
    it an int, up to 4,300 digits: an exit code or a count must still fit an int64."""
    crashloop = (CAPTURES / "real-1.36" / "crashloop.core.jsonl").read_text().splitlines()
    values = [json.loads(line)["object"] for line in crashloop]
    for value in values:
        for status in value.get("status", {}).get("containerStatuses", []):
            status["restartCount"] = 2**64
            for state in (status.get("state", {}), status.get("lastState", {})):
                if "terminated" in state:
                    state["terminated"].update(exitCode=-(2**70), signal=10**4000)
        if value["kind"] == "Event":
            value["metadata"]["resourceVersion"] = "9" * 4301
        value["metadata"]["generation"] = 2**63
    dump = tmp_path / "dump.json"
    dump.write_text(json.dumps({"kind": "List", "items": values}, indent=2))
    spans = tmp_path / "spans.jsonl"
    status = main(["replay", str(dump), "--exporter", "otlp-json", "--otlp-json-file", str(spans)])
    err = capsys.readouterr().err
    assert status == 0, err
    assert "0 skipped" in err
    exported = [json.loads(line) for line in spans.read_text().splitlines()]
    integers = [
        int(attribute["value"]["intValue"])
        for request in exported
        for resource in request["resourceSpans"]
        for scope in resource["scopeSpans"]
        for span in scope["spans"]
        for attribute in span["attributes"]
        if "intValue" in attribute["value"]
    ]
    assert integers
    assert all(-(2**63) <= value < 2**63 for value in integers)


def test_json_nested_deeper_than_the_parsers_go_is_one_skipped_value(tmp_path: Path) -> None:
    capture = tmp_path / "deep.jsonl"
    deep_object = '{"a":' * 3000 + "1" + "}" * 3000
    lines = [
        *LINES[:2],
        "[" * 990 + json.dumps(POD) + "]" * 990,  # within orjson's limit, past Python's
        deep_object,  # past orjson's limit
        *LINES[2:4],
        json.dumps({"kind": "List", "items": [POD]}, indent=1),  # the json module from here on
        "[" * 100_000 + "]" * 100_000,
        json.dumps(EVENT, indent=1),
    ]
    capture.write_text("\n".join(lines) + "\n")
    items = _items(capture)
    skipped = [str(item) for item in items if isinstance(item, Skipped)]
    assert skipped == [
        f"{capture}:4: malformed JSON: depth limit exceeded",
        f"{capture}:{7 + len(json.dumps({'kind': 'List', 'items': [POD]}, indent=1).splitlines())}"
        ": malformed JSON: nested too deeply",
    ]
    kept = [type(item).__name__ for item in items if not isinstance(item, Skipped)]
    assert kept == [  # the leading listing, then the List: each its own snapshot
        *("Snapshot", "ObjectChange", "ObjectChange", "ObjectChange", "ObjectChange"),
        *("ObjectChange", "Snapshot", "Snapshot", "ObjectChange", "Snapshot", "EventChange"),
    ]


def test_a_line_that_is_not_utf8_is_one_named_skip_and_the_rest_is_read(tmp_path: Path) -> None:
    capture = tmp_path / "latin1.jsonl"
    bad = LINES[5].encode().replace(b'"name":"', b'"name":"\xf6', 1)
    capture.write_bytes(
        b"\n".join([*(line.encode() for line in LINES[:5]), bad, *(x.encode() for x in LINES[6:])])
    )
    items = _values(capture)
    skipped = [str(item) for item in items if isinstance(item, Skipped)]
    assert len(skipped) == 1
    assert skipped[0].startswith(f"{capture}:6: not UTF-8: byte 0xf6 at column ")
    assert len(items) == len(LINES)


def test_a_pretty_printed_dump_with_a_line_that_is_not_utf8_keeps_its_other_values(
    tmp_path: Path,
) -> None:
    capture = tmp_path / "dump.json"
    first = json.dumps({"kind": "List", "items": [POD]}, indent=2).encode()
    second = json.dumps(EVENT, indent=2).encode().replace(b'"Normal"', b'"Norm\xe9l"')
    third = json.dumps(EVENT, indent=2).encode()
    capture.write_bytes(b"\xff\n" + first + b"\n" + second + b"\n" + third + b"\n")
    items = _items(capture)
    skipped = [str(item) for item in items if isinstance(item, Skipped)]
    second_starts = 2 + first.count(b"\n") + 1
    before_bad = second[: second.index(b"\xe9")]
    bad_line = second_starts + before_bad.count(b"\n")
    column = len(before_bad) - before_bad.rfind(b"\n")
    assert skipped == [
        f"{capture}:1: not UTF-8: byte 0xff at column 1",
        f"{capture}:{bad_line}: not UTF-8: byte 0xe9 at column {column}"
        f", in the value from {capture}:{second_starts}",
    ]
    assert [type(item).__name__ for item in items if not isinstance(item, Skipped)] == [
        "Snapshot",
        "ObjectChange",
        "Snapshot",
        "EventChange",
    ]


def test_a_byte_order_mark_before_a_pretty_printed_list_is_read_past(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capture = tmp_path / "bom.json"
    dump = json.dumps({"kind": "List", "items": [POD, EVENT]}, indent=2)
    capture.write_bytes(b"\xef\xbb\xbf" + dump.encode() + b"\n\xef\xbb\xbf" + dump.encode())
    assert main(["replay", str(capture), "--exporter", "none"]) == 0
    assert "read 4 values: 2 event occurrences, 2 objects, 0 skipped" in capsys.readouterr().err


def test_a_byte_order_mark_before_a_one_per_line_capture_is_read_past(tmp_path: Path) -> None:
    capture = tmp_path / "bom.jsonl"
    capture.write_bytes(b"\xef\xbb\xbf" + ("\n".join(LINES) + "\n").encode())
    assert _items(capture) == _items(ROLLOUT)


@pytest.mark.parametrize("layout", ["one per line", "pretty-printed"])
@pytest.mark.parametrize("exporter", ["console", "html"])
def test_a_lone_surrogate_escape_is_replaced_and_every_exporter_writes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], layout: str, exporter: str
) -> None:
    capture = tmp_path / "surrogate.json"
    event = {**EVENT, "message": "half a pair: \ud800, and a low half \udc00 alone"}
    event["involvedObject"] = {**EVENT["involvedObject"], "name": "web\udfff"}
    if layout == "one per line":
        capture.write_text(json.dumps({"type": "ADDED", "object": event}) + "\n")
    else:
        capture.write_text(json.dumps({"kind": "List", "items": [event]}, indent=2) + "\n")
    html = tmp_path / "timeline.html"
    status = main(["replay", str(capture), "--exporter", exporter, "--html-file", str(html)])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert "0 skipped; 1 span in" in err
    written = out if exporter == "console" else html.read_text(encoding="utf-8")
    assert "half a pair: \ufffd, and a low half \ufffd alone" in written


def test_a_damaged_gzip_keeps_what_came_before_the_damage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [line.encode() for line in LINES]
    compressor = zlib.compressobj(wbits=31)
    head = compressor.compress(b"\n".join(lines[:60]) + b"\n") + compressor.flush(zlib.Z_FULL_FLUSH)
    tail = compressor.compress(b"\n".join(lines[60:]) + b"\n") + compressor.flush()
    capture = tmp_path / "damaged.jsonl.gz"
    capture.write_bytes(head + b"\xff" * 64 + tail)  # an invalid block where line 61 starts
    items = _values(capture)
    assert items[:60] == _values(ROLLOUT)[:60]
    (damage,) = items[60:]
    assert isinstance(damage, Skipped)
    assert damage.where == f"{capture}:61"
    assert damage.category == "damaged gzip"
    assert "nothing after this line can be read" in damage.reason
    assert main(["replay", str(capture), "--exporter", "none"]) == 0
    assert "1 skipped (damaged gzip: 1)" in capsys.readouterr().err
    assert main(["replay", str(capture), "--exporter", "none", "--strict"]) == 2


def test_a_gzip_cut_short_keeps_every_whole_line(tmp_path: Path) -> None:
    capture = tmp_path / "cut.jsonl.gz"
    compressed = gzip.compress(("\n".join(LINES) + "\n").encode())
    capture.write_bytes(compressed[: len(compressed) * 2 // 3])
    items = _values(capture)
    *kept, cut = items
    assert isinstance(cut, Skipped)
    assert cut.category == "truncated capture"
    assert cut.where == f"{capture}:{len(kept) + 1}"
    assert kept == _values(ROLLOUT)[: len(kept)]
    assert len(kept) > len(LINES) // 3


def test_gzip_members_joined_are_one_capture(tmp_path: Path) -> None:
    capture = tmp_path / "joined.jsonl.gz"
    first = gzip.compress(("\n".join(LINES[:50]) + "\n").encode())
    second = gzip.compress(("\n".join(LINES[50:]) + "\n").encode())
    capture.write_bytes(first + second + b"\0" * 16)
    assert _items(capture) == _items(ROLLOUT)


def test_names_that_are_not_utf8_are_exported_with_replacement_characters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A command line or an environment the locale could not decode reaches Python with lone
    surrogates, which no OTLP request can carry: each batch holding one was refused whole.
    They are written as U+FFFD instead, and the run says which setting it was."""
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "team=ops\udcff")
    out = tmp_path / "spans.jsonl"
    events = CAPTURES / "real-1.36" / "crashloop.events.jsonl"
    args = ["replay", str(events), "--exporter", "otlp-json", "--otlp-json-file", str(out)]
    names = ["--cluster-name", "prod\udcff", "--service-name", "kspan\udcfe"]
    assert main([*args, *names]) == 0
    resources = [
        {kv["key"]: kv["value"]["stringValue"] for kv in rs["resource"]["attributes"]}
        for line in out.read_text().splitlines()
        for rs in json.loads(line)["resourceSpans"]
    ]
    assert resources
    for resource in resources:
        assert resource["k8s.cluster.name"] == "prod\ufffd"
        assert resource["service.name"] == "kspan\ufffd"
        assert resource["team"] == "ops\ufffd"
    err = capsys.readouterr().err
    for what in ("--cluster-name", "--service-name", "OTEL_RESOURCE_ATTRIBUTES"):
        assert f"{what} is not valid UTF-8" in err
