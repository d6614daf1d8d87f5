"""A large List (`kubectl get -A -o json` of a whole cluster) is read an item at a time.

Parsed whole, a dump took eight times its size in memory before its first item was read. The
reader now streams a List of at least ``_STREAMED_BYTES``; what it yields must be what the whole
value gives (``expand_value`` of the parsed value), in every layout a user hands over: one line
(``jq -c``) or pretty-printed (kubectl's own), items before the kind (kubectl writes keys in
alphabetical order) or after it (the API server's order, whose items carry no kind of their
own), and through the reader process. The dumps are a real recording's last states, each
object made larger by a last-applied-configuration annotation, as kubectl apply leaves them.
"""

from __future__ import annotations

import gzip
import json
import tracemalloc
from pathlib import Path
from typing import Any

import orjson
import pytest

from kspan_py.model import ObjectChange, Snapshot
from kspan_py.sources.capture import (
    _STREAMED_BYTES,
    CaptureItem,
    Skipped,
    bracket_leading_listing,
    expand_value,
    read_capture,
)
from tests.input_forms import last_states, read_values
from tests.tracing import CAPTURES

ROLLOUT = CAPTURES / "real-1.36" / "rollout.core.jsonl"
APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _large_states() -> list[dict[str, Any]]:
    """The recording's last states, together at least _STREAMED_BYTES as JSON."""
    states = last_states(read_values(ROLLOUT))
    padding = _STREAMED_BYTES // len(states) + 1
    for state in states:
        annotations = state["metadata"].setdefault("annotations", {})
        annotations[APPLIED] = json.dumps({"spec": "x" * padding})
    return states


def _write(path: Path, value: dict[str, Any], *, pretty: bool) -> bytes:
    data = json.dumps(value, indent=4 if pretty else None).encode()
    assert len(data) >= _STREAMED_BYTES
    path.write_bytes(data + b"\n")
    return data


def _whole(path: Path, data: bytes) -> list[CaptureItem]:
    """What the value gives parsed whole (as every value smaller than a dump is read)."""
    return list(bracket_leading_listing(expand_value(orjson.loads(data), f"{path}:1")))


def _read(path: Path, *, reader_process: bool = False) -> list[CaptureItem]:
    return list(read_capture(str(path), reader_process=reader_process))


@pytest.mark.parametrize("pretty", [False, True], ids=["one line", "pretty-printed"])
@pytest.mark.parametrize("order", ["kubectl", "api server"])
def test_a_large_list_reads_as_the_whole_value_would(
    tmp_path: Path, pretty: bool, order: str
) -> None:
    states = _large_states()
    if order == "kubectl":  # keys sorted: apiVersion, items, kind, metadata
        value = {"apiVersion": "v1", "items": states, "kind": "List", "metadata": {}}
    else:  # a PodList's items name no kind: the List's kind says it
        pods = [s for s in states if s["kind"] == "Pod"]
        for pod in pods:
            del pod["kind"], pod["apiVersion"]
        states = pods * (len(states) // len(pods) + 1)  # large again with Pods only
        value = {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": states}
    path = tmp_path / "dump.json"
    data = _write(path, value, pretty=pretty)

    read = _read(path)
    assert read == _whole(path, data)
    assert read[0] == Snapshot(end=False) and read[-1] == Snapshot(end=True)
    assert len(read) == len(states) + 2  # every item one change
    assert not any(isinstance(item, Skipped) for item in read)
    if order == "api server":
        assert {item.obj.ref.kind for item in read if isinstance(item, ObjectChange)} == {"Pod"}
    assert _read(path, reader_process=True) == read


@pytest.mark.parametrize("pretty", [False, True], ids=["one line", "pretty-printed"])
def test_what_a_large_value_holds_besides_a_list_reads_as_before(
    tmp_path: Path, pretty: bool
) -> None:
    states = _large_states()
    cases: dict[str, dict[str, Any]] = {
        # A kind given twice: the last one counts, as in the whole value.
        "kind twice": {"kind": "ConfigMap", "items": states, "metadata": {}},
        # Not a List: one object, however large (its "items" are not objects of the cluster).
        "not a list": {"kind": "ConfigMap", "apiVersion": "v1", "metadata": states[0]["metadata"]}
        | {"items": states},
        # A watch event of one large object (a ConfigMap's data): no List at all.
        "watch event": {
            "type": "ADDED",
            "object": {"kind": "ConfigMap", "apiVersion": "v1", "metadata": states[0]["metadata"]}
            | {"data": {"big": "x" * _STREAMED_BYTES}},
        },
        # A List of no items, made large by its metadata.
        "empty list": {
            "kind": "List",
            "metadata": {},
            "items": [],
            "padding": ["x" * _STREAMED_BYTES],
        },
    }
    for name, value in cases.items():
        path = tmp_path / f"{name}.json"
        data = json.dumps(value, indent=2 if pretty else None).encode()
        if name == "kind twice":  # JSON allows it; Python's dicts do not hold it
            first = b'"kind": "ConfigMap"'
            data = data.replace(first, b'"kind": "List", ' + first, 1)
        assert len(data) >= _STREAMED_BYTES
        path.write_bytes(data + b"\n")
        assert _read(path) == _whole(path, data), name


def test_a_lone_surrogate_in_a_large_list_is_replaced_as_in_any_value(tmp_path: Path) -> None:
    states = _large_states()
    event = next(s for s in states if s["kind"] == "Event")
    event["message"] = "Created pod: web-1 MARK"
    path = tmp_path / "dump.json"
    data = json.dumps({"kind": "List", "items": states}).encode().replace(b"MARK", b"\\ud800!")
    path.write_bytes(data)
    read = _read(path)
    messages = [item.event.message for item in read if getattr(item, "event", None) is not None]
    assert "Created pod: web-1 \ufffd!" in messages


def test_a_large_list_cut_short_is_one_malformed_value_as_before(tmp_path: Path) -> None:
    path = tmp_path / "dump.json"
    data = json.dumps({"kind": "List", "items": _large_states()}, indent=2).encode()
    path.write_bytes(data[: len(data) * 2 // 3])
    read = _read(path)
    assert [item for item in read if not isinstance(item, Skipped)] == []
    assert [(item.where, item.category) for item in read if isinstance(item, Skipped)] == [
        (f"{path}:1", "malformed JSON")
    ]


@pytest.mark.parametrize(
    ("start", "newline"), [("", "\n"), ("\ufeff", "\r\n")], ids=["plain", "BOM and CRLF"]
)
def test_a_recording_after_its_large_leading_list_is_read_too(
    tmp_path: Path, start: str, newline: str
) -> None:
    """The wrapped form: a start-up listing as one large List line, then the watch lines (in
    a file, the List is read from the file up to its line's end, then the lines after it)."""
    states = _large_states()
    lines = read_values(ROLLOUT)
    listing = {"kind": "List", "apiVersion": "v1", "metadata": {}, "items": states}
    path = tmp_path / "wrapped.jsonl"
    text = start + newline.join(json.dumps(v) for v in [listing, *lines[-20:]]) + newline
    path.write_bytes(text.encode())
    read = _read(path)
    whole = _whole(path, json.dumps(listing).encode())
    assert read[: len(whole)] == whole
    rest = [item for item in read[len(whole) :] if not isinstance(item, Snapshot)]
    assert len(rest) == 20 and not any(isinstance(item, Skipped) for item in rest)


def test_a_large_pretty_printed_dump_read_from_gzip_is_read_the_same(tmp_path: Path) -> None:
    """Not a file that can be read twice (a gzip stream, standard input): the dump is held, and
    still parsed an item at a time."""
    value = {"apiVersion": "v1", "items": _large_states(), "kind": "List", "metadata": {}}
    plain, packed = tmp_path / "dump.json", tmp_path / "dump.json.gz"
    data = _write(plain, value, pretty=True)
    packed.write_bytes(gzip.compress(data + b"\n"))
    read = list(read_capture(str(packed), reader_process=False))
    assert read == _whole(plain, data)  # (a change does not say which file it came from)
    assert not any(isinstance(item, Skipped) for item in read)


@pytest.mark.parametrize("pretty", [False, True], ids=["one line", "pretty-printed"])
def test_a_large_dump_in_a_file_is_never_held_whole(tmp_path: Path, pretty: bool) -> None:
    """kubectl's own form, or a dump on one line (``jq -c``, or a listing in a recording), in a
    file: read from where the value starts, an item at a time; the reader holds a few items,
    not the dump (nor eight times it, as parsing it whole did; nor the line, twice, as reading
    it as a line did)."""
    value = {"apiVersion": "v1", "items": _large_states(), "kind": "List", "metadata": {}}
    path = tmp_path / "dump.json"
    data = _write(path, value, pretty=pretty)
    tracemalloc.start()
    try:
        read = sum(1 for _ in read_capture(str(path), reader_process=False))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert read == len(value["items"]) + 2
    assert peak < len(data) / 4


@pytest.mark.parametrize("pretty", [False, True], ids=["one line", "pretty-printed"])
def test_a_large_list_nested_too_deeply_is_one_skipped_value_in_bounded_memory(
    tmp_path: Path, pretty: bool
) -> None:
    """Hostile input: an item nested 20,000 deep (40 KB) in a dump padded past the streaming
    size. The item-at-a-time parser keeps a path string per open level (20,000 levels: 1 GB),
    so such a value is refused before it, as the whole value is (deeper than orjson goes)."""
    states = _large_states()
    deep = "[" * 20_000 + "]" * 20_000
    path = tmp_path / "dump.json"
    text = json.dumps({"kind": "List", "items": [*states, "DEEP"]}, indent=2 if pretty else None)
    path.write_text(text.replace('"DEEP"', deep) + "\n")
    tracemalloc.start()
    try:
        read = _read(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [(item.where, item.category) for item in read if isinstance(item, Skipped)] == [
        (f"{path}:1", "malformed JSON")
    ]
    assert not [item for item in read if not isinstance(item, Skipped)]
    assert peak < 200 << 20


def test_a_dump_cut_while_it_is_read_keeps_what_was_read_and_says_so(tmp_path: Path) -> None:
    """Its first pass found it whole; then the file was cut (a dump being rewritten as it is
    replayed): the items read stand, the rest is one skipped value, and the read goes on."""
    value = {"apiVersion": "v1", "items": _large_states(), "kind": "List", "metadata": {}}
    path = tmp_path / "dump.json"
    data = _write(path, value, pretty=True)
    reading = read_capture(str(path), reader_process=False)
    read = [next(reading), next(reading)]  # the listing begins, and its first item
    assert isinstance(read[1], ObjectChange)
    with path.open("r+b") as file:
        file.truncate(len(data) // 2)
    read += list(reading)
    skipped = [item for item in read if isinstance(item, Skipped)]
    assert [(item.where, item.category) for item in skipped] == [(f"{path}:1", "malformed JSON")]
    assert "changed while it was read" in skipped[0].reason
    assert read[0] == Snapshot(end=False) and read[-1] == Snapshot(end=True)
    assert 1 < len(read) - 3 < len(value["items"])  # some items, not all


@pytest.mark.parametrize("pretty", [False, True], ids=["one line", "pretty-printed"])
@pytest.mark.parametrize("case", ["integer past 63 bits", "long keys", "deep"])
def test_what_the_streaming_parser_cannot_take_is_read_whole(
    tmp_path: Path, case: str, pretty: bool
) -> None:
    """Found by review: numbers yajl reads natively overflow where orjson's do not, and ijson's
    paths hold the keys above them (1,000 levels under 8 KiB keys took 4 GB). Such a List,
    its odd part in one of its items, gives what the whole value gives, in bounded memory."""
    states = _large_states()
    odd = {
        "integer past 63 bits": "9223372036854775808",
        "long keys": "".join(f'{{"{index:02}{"k" * 200_000}":' for index in range(60))
        + "1"
        + "}" * 60,
        "deep": "[" * 200 + "]" * 200,
    }[case]
    states[3]["spec"] = {"odd": "ODD"}
    text = json.dumps({"kind": "List", "items": states}, indent=2 if pretty else None)
    data = text.replace('"ODD"', odd).encode()
    path = tmp_path / "dump.json"
    path.write_bytes(data + b"\n")
    tracemalloc.start()
    try:
        read = _read(path)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        whole = _whole(path, data)
        _, whole_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert read == whole
    assert peak < max(whole_peak, 4 * len(data)) * 1.2  # no more than reading it whole


def test_an_integer_of_thousands_of_digits_is_one_skipped_value(tmp_path: Path) -> None:
    """Python's int refuses 4,300 digits and more: the streaming parser's C code raised that
    out of the reader (review); the whole value's parsers refuse it as malformed, as before."""
    states = _large_states()
    states[3]["spec"] = {"odd": "ODD"}
    path = tmp_path / "dump.json"
    path.write_bytes(
        json.dumps({"kind": "List", "items": states}).replace('"ODD"', "1" * 5000).encode()
    )
    read = _read(path)
    assert [(item.where, item.category) for item in read] == [(f"{path}:1", "malformed JSON")]


def test_a_small_list_padded_past_the_streaming_size_is_read_whole(tmp_path: Path) -> None:
    """What decides streaming is the value, not its line: a List of less than _STREAMED_BYTES
    padded with whitespace is read whole, as before, with what only that reading does (of
    "items" given twice, the last counts)."""
    states = last_states(read_values(ROLLOUT))
    first, last = states[:3], states[3:]
    text = json.dumps({"kind": "List", "items": first}).removesuffix("}")
    text += ', "items": ' + json.dumps(last) + "}"
    path = tmp_path / "padded.jsonl"
    path.write_text(text + " " * _STREAMED_BYTES + "\n")
    read = _read(path)
    assert read == _whole(path, text.encode())
    assert len(read) == len(last) + 2  # (the listing's brackets)
