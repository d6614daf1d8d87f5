"""Read captures: streams of JSON values from a file, stdin or gzip, in any layout users have.

A capture is what ``kspan-py record`` writes (one watch event per line) or what
``kubectl get ... -o json`` prints (one pretty-printed List). Both, and concatenations of
either, are read here. Nothing malformed stops the read: each bad value becomes a Skipped item
naming the file, line and reason, and the caller decides whether that is fatal (``--strict``).
"""

from __future__ import annotations

import gzip
import io
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import orjson

from kspan_py.model import (
    ChangeType,
    EventChange,
    KubeEvent,
    MalformedValue,
    ObjectChange,
    normalise,
)

_WATCH_TYPES = {t.value: t for t in ChangeType}


@dataclass(frozen=True, slots=True)
class Skipped:
    """A value that was read but not used, and why."""

    where: str  # "file:line"
    category: str  # short, for the summary ("malformed JSON", "malformed object", ...)
    reason: str  # the specific message

    def __str__(self) -> str:
        return f"{self.where}: {self.category}: {self.reason}"


@dataclass(frozen=True, slots=True)
class Bookmark:
    """A watch BOOKMARK: no object, only progress. Kept so that callers can count it."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Brackets the items of one List: a snapshot taken at one moment (``kubectl -o json``).

    Its items come in no time order (kubectl lists events before the objects they concern), so
    a consumer should take them all before it lets event time move on.
    """

    end: bool


CaptureItem = ObjectChange | EventChange | Skipped | Bookmark | Snapshot


class CaptureError(OSError):
    """The capture cannot be opened or read at all (missing file, bad gzip)."""


def read_capture(path: str) -> Iterator[CaptureItem]:
    """Yield the changes of a capture in file order; ``-`` reads standard input."""
    label = "<stdin>" if path == "-" else path
    try:
        data = _read_bytes(path)
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise CaptureError(f"cannot read capture {label}: {error}") from error
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise CaptureError(f"capture {label} is not UTF-8 text: {error}") from error
    yield from decode_values(text, label)


def _read_bytes(path: str) -> bytes:
    stream: BinaryIO
    if path == "-":
        data = sys.stdin.buffer.read()
    else:
        with open(path, "rb") as stream:
            data = stream.read()
    if data[:2] == b"\x1f\x8b":
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as unzipped:
            return unzipped.read()
    return data


def decode_values(text: str, label: str) -> Iterator[CaptureItem]:
    """Decode a stream of JSON values: one per line when possible, else a raw value stream."""
    loads = orjson.loads  # the hot path: several times faster than json.loads on object bodies
    line_no = 0
    lines = text.split("\n")
    for line_no, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped[0] in "{[" and stripped[-1] in "}]":
            try:
                value = loads(stripped)
            except orjson.JSONDecodeError as error:
                if _looks_multiline(stripped):
                    break
                yield Skipped(f"{label}:{line_no}", "malformed JSON", error.msg)
                continue
            yield from expand_value(value, f"{label}:{line_no}")
        else:
            break  # a pretty-printed or concatenated layout: continue with the value stream
    else:
        return
    offset = sum(len(line) + 1 for line in lines[: line_no - 1])
    yield from _decode_stream(text, offset, label)


def _looks_multiline(line: str) -> bool:
    # "{" on one line and "}" on a later one would not reach here; a line holding several
    # concatenated values ("{...}{...}") would, and the value stream reads it correctly.
    return "}{" in line.replace(" ", "")


def _decode_stream(text: str, start: int, label: str) -> Iterator[CaptureItem]:
    decoder = json.JSONDecoder()
    position, end = start, len(text)
    lines = _LineCounter(text)
    while True:
        while position < end and text[position].isspace():
            position += 1
        if position >= end:
            return
        value_start = position
        try:
            value, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as error:
            # Report where the bad value starts, and resume at the next line that opens a
            # value: a truncated value must not swallow the good one after it.
            where = f"{label}:{lines.at(value_start)}"
            yield Skipped(where, "malformed JSON", f"{error.msg} (line {error.lineno})")
            position = _next_value_start(text, value_start + 1)
            continue
        yield from expand_value(value, f"{label}:{lines.at(value_start)}")


class _LineCounter:
    """Line numbers of increasing offsets, counted once (a dump can be large)."""

    def __init__(self, text: str) -> None:
        self._text, self._offset, self._line = text, 0, 1

    def at(self, offset: int) -> int:
        if offset < self._offset:
            return self._text.count("\n", 0, offset) + 1
        self._line += self._text.count("\n", self._offset, offset)
        self._offset = offset
        return self._line


def _next_value_start(text: str, position: int) -> int:
    """Resynchronise after a syntax error: the next line that opens a value at column 0."""
    while True:
        newline = text.find("\n", position)
        if newline < 0:
            return len(text)
        position = newline + 1
        if text.startswith(("{", "["), position):
            return position


def expand_value(value: Any, where: str) -> Iterator[CaptureItem]:
    """One decoded JSON value to changes: a watch event, a bare object, or a List of objects."""
    if isinstance(value, list):
        for item in value:
            yield from expand_value(item, where)
        return
    if not isinstance(value, dict):
        yield Skipped(where, "malformed value", f"expected an object, got {type(value).__name__}")
        return
    watch_type = value.get("type")
    if isinstance(watch_type, str) and "object" in value:
        yield from _watch_event(watch_type, value["object"], where)
        return
    kind = value.get("kind")
    if isinstance(kind, str) and kind.endswith("List") and isinstance(value.get("items"), list):
        item_kind = kind[: -len("List")]  # "PodList" -> "Pod"; a plain "List" gives ""
        yield Snapshot(end=False)
        for item in value["items"]:
            yield from _change(ChangeType.ADDED, item, where, item_kind)
        yield Snapshot(end=True)
        return
    yield from _change(ChangeType.ADDED, value, where, "")


def _watch_event(watch_type: str, body: Any, where: str) -> Iterator[CaptureItem]:
    if watch_type == "BOOKMARK":
        yield Bookmark()
        return
    if watch_type == "ERROR":
        message = body.get("message", "") if isinstance(body, dict) else ""
        code = body.get("code", "") if isinstance(body, dict) else ""
        yield Skipped(where, "watch error", f"ERROR event {code} {message}".strip())
        return
    change_type = _WATCH_TYPES.get(watch_type)
    if change_type is None:
        yield Skipped(where, "unknown watch type", f"type {watch_type!r}")
        return
    yield from _change(change_type, body, where, "")


def _change(
    change_type: ChangeType, body: Any, where: str, kind_hint: str
) -> Iterator[CaptureItem]:
    try:
        record = normalise(body, kind_hint=kind_hint)
    except MalformedValue as error:
        yield Skipped(where, "malformed object", str(error))
        return
    if isinstance(record, KubeEvent):
        yield EventChange(change_type, record)
    else:
        yield ObjectChange(change_type, record)
