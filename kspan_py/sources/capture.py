"""Read and write captures: streams of JSON values from a file, stdin or gzip, in any layout.

A capture is what ``kspan-py record`` writes (one watch event per line) or what
``kubectl get ... -o json`` prints (one pretty-printed List). Both, and concatenations of
either, are read here. Nothing malformed stops the read: each bad value becomes a Skipped item
naming the file, line and reason, and the caller decides whether that is fatal (``--strict``).
A capture is whatever someone hands over, so the reader keeps every good value it can: a line
that is not UTF-8 is one skipped line, a byte-order mark is read past, a lone surrogate escape
is replaced (no writer could write it), a value nested deeper than the parser goes is one
skipped value, and a damaged or cut gzip stream keeps every line before the damage.
A large List (a whole cluster's dump) is read an item at a time (``_streamed_list``), not
parsed whole first.
A large capture is parsed by a reader process when a second CPU can do it alongside the graph
(the reader process section below says why and how).
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import functools
import gzip
import io
import itertools
import json
import logging
import marshal
import os
import re
import signal
import stat
import struct
import subprocess
import sys
import threading
import traceback
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from operator import itemgetter, length_hint
from pathlib import Path
from typing import IO, Any, cast

import ijson  # type: ignore[import-untyped]
import orjson

from kspan_py.appending import cut_torn_line, open_output, write_failure_reason, write_whole
from kspan_py.model import (
    ChangeType,
    Condition,
    ContainerRun,
    EventChange,
    GenerationChange,
    KubeEvent,
    KubeObject,
    MalformedValue,
    NodeStatus,
    ObjectChange,
    ObjectRef,
    OwnerRef,
    PodStatus,
    Snapshot,
    normalise,
    replace_lone_surrogates,
    write_order,
)

_WATCH_TYPES = {t.value: t for t in ChangeType}
_log = logging.getLogger(__name__)


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
class Unchanged:
    """Object updates the reader process left out (``read_capture(..., drop_unchanged=True)``):
    MODIFIED versions identical, in everything kspan-py reads of an object, to the version of
    that object before them; a status field no rule reads (a ReplicaSet's availableReplicas,
    a Node's heartbeat) was all that changed. Counted, never linked: ``count`` of them since
    the last item. A count of -1 takes one back: a version left out was sent after all, because
    a version written before it arrived after it (the reader process's ``_UnchangedUpdates``)."""

    count: int


CaptureItem = ObjectChange | EventChange | Skipped | Bookmark | Snapshot | Unchanged


class CaptureError(OSError):
    """The capture cannot be opened or read at all (missing file, an I/O error)."""


class _Damaged(Exception):
    """The byte stream ends in damage: what came before it was read, nothing after can be."""

    def __init__(self, line: int, category: str, reason: str) -> None:
        super().__init__(reason)
        self.line, self.category, self.reason = line, category, reason


def read_capture(
    path: str, *, reader_process: bool | None = None, drop_unchanged: bool = False
) -> Iterator[CaptureItem]:
    """Yield the changes of a capture in file order; ``-`` reads standard input.

    Lines are streamed (a capture can be larger than memory allows to hold twice); only a
    pretty-printed or concatenated layout is held whole, from the line where it starts, and a
    large List in it (or on one line) is then parsed an item at a time.

    A large capture file is parsed and normalised by a reader process when there is a second
    CPU for it (``reader_process=None`` decides so; True or False forces it): see
    ``_from_reader_process``. The items are the same either way, except that with
    ``drop_unchanged`` a reader process leaves out the updates that change nothing kspan-py
    reads and yields ``Unchanged`` counts in their place (see ``_UnchangedUpdates``).
    """
    if reader_process is None:
        reader_process = reads_in_a_process(path)
    if reader_process:
        return _from_reader_process(path, drop_unchanged=drop_unchanged)
    return _read_here(path)


def _read_here(path: str) -> Iterator[CaptureItem]:
    label = "<stdin>" if path == "-" else path
    with contextlib.ExitStack() as closing:
        try:
            stream = _open(path, closing)
        except OSError as error:
            raise CaptureError(f"cannot read capture {label}: {error}") from error
        try:
            yield from bracket_leading_listing(decode_lines(stream, label))
        except _Damaged as damage:
            yield Skipped(f"{label}:{damage.line}", damage.category, damage.reason)
        except OSError as error:
            raise CaptureError(f"cannot read capture {label}: {error}") from error


def _open(path: str, closing: contextlib.ExitStack[bool | None]) -> Iterable[bytes]:
    if path == "-":
        buffered = cast(io.BufferedReader, sys.stdin.buffer)  # a BufferedReader at run time
    else:
        # Lines are kilobytes (object bodies): with the default 8 KiB buffer, reading them
        # cost four times what it does with this one.
        buffered = closing.enter_context(
            io.BufferedReader(io.FileIO(path, "rb"), _READ_BUFFER_BYTES)
        )
    if buffered.peek(2)[:2] == _GZIP_MAGIC:
        return _gunzipped_lines(buffered)
    return buffered


_READ_BUFFER_BYTES = 64 << 10
_GZIP_MAGIC = b"\x1f\x8b"
_GZIP_READ_BYTES = 64 << 10


def _gunzipped_lines(compressed: IO[bytes]) -> Iterator[bytes]:
    """The lines of a gzip stream (of one or more members, as ``cat a.gz b.gz`` makes).

    Unlike GzipFile, damage does not lose what came before it: every line decompressed up to
    the damage is yielded, then _Damaged says at which line the stream broke and why. A stream
    cut short (a recording whose writer was killed: what it flushed is there, the tail is not)
    is a "truncated capture" in the same way.
    """
    lines, partial = 0, b""
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    unused = b""
    while True:
        chunk = unused or compressed.read(_GZIP_READ_BYTES)
        unused = b""
        if not chunk:
            if decompressor.eof and not partial:
                return
            if decompressor.eof:
                yield partial  # the last line, without its newline
                return
            raise _Damaged(
                lines + 1, "truncated capture", "ends early (the gzip stream is cut short)"
            )
        if decompressor.eof:  # a next member, or padding (zeros) after the last one
            chunk = chunk.lstrip(b"\0")
            if not chunk:
                continue
            if not chunk.startswith(_GZIP_MAGIC[: len(chunk)]):
                raise _Damaged(lines + 1, "damaged gzip", "data after the gzip stream's end")
            decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
        before = decompressor.copy()
        try:
            data = decompressor.decompress(chunk)
        except zlib.error as error:
            # Salvage: from the state before this chunk, a byte at a time up to the damage.
            pieces, decompressor = [], before
            with contextlib.suppress(zlib.error):
                for start in range(len(chunk)):
                    pieces.append(decompressor.decompress(chunk[start : start + 1]))
            data = b"".join(pieces)
            *complete, partial = (partial + data).split(b"\n")
            for line in complete:
                yield line + b"\n"
            lines += len(complete)
            raise _Damaged(
                lines + 1, "damaged gzip", f"{error}; nothing after this line can be read"
            ) from None
        unused = decompressor.unused_data
        if b"\n" not in data:
            partial += data
            continue
        end = data.rindex(b"\n") + 1
        block = partial + data[:end] if partial else data[:end]
        partial = data[end:]
        lines += block.count(b"\n")
        yield from io.BytesIO(block)


def decode_values(text: str, label: str) -> Iterator[CaptureItem]:
    """Decode a stream of JSON values held in a string (see decode_lines), its leading
    listing bracketed as read_capture does."""
    return bracket_leading_listing(decode_lines(text.encode().splitlines(keepends=True), label))


def bracket_leading_listing(items: Iterable[CaptureItem]) -> Iterator[CaptureItem]:
    """Bracket the run of ADDED values a capture starts with as one Snapshot.

    A recording (``kubectl get -w -o json``, a watch's first burst) begins with the list of
    what exists, one ADDED line per object in namespace/name order, not in time order: a Pod's
    Events sort before its owners'. Taken as a stream, event time would move on inside it and
    link children before their causes were read. It ends at the first value that is not an
    ADDED change: a MODIFIED or DELETED line, a BOOKMARK, or a List (itself a snapshot).
    """
    listing = None  # None: not begun; True: in it; False: over
    for item in items:
        if listing is not False and not isinstance(item, Skipped):
            added = isinstance(item, ObjectChange | EventChange) and item.type is ChangeType.ADDED
            if added and listing is None:
                listing = True
                yield Snapshot(end=False)
            elif not added:
                if listing:
                    yield Snapshot(end=True)
                listing = False
        yield item
    if listing:
        yield Snapshot(end=True)


_BOM = b"\xef\xbb\xbf"  # what some editors and Windows tools put before UTF-8 text


def decode_lines(lines: Iterable[bytes], label: str) -> Iterator[CaptureItem]:
    """Decode JSON values: one per line when possible, else a raw value stream from there on."""
    loads = orjson.loads  # the hot path: several times faster than json.loads on object bodies
    file = _regular_file(lines)
    # (Nothing here holds a line past its turn, not even enumerate's reused tuple: the first
    # part of a long line is dropped before its List is streamed from the file.)
    iterator = _bom_removed(lines if file is None else _bounded_lines(file))
    line_no = 0
    while (line := next(iterator, None)) is not None:
        line_no += 1
        if file is not None and len(line) >= _LINE_PART_BYTES - len(_BOM) and line[-1:] != b"\n":
            # The first part of a long line (a dump written on one line, as a List): read an
            # item at a time from the file, never held; anything else is read whole.
            streamed, next_line_at = _streamed_long_line(file, line, f"{label}:{line_no}")
            if streamed is not None:
                line = b""
                yield from streamed
                file.seek(next_line_at)
                continue
            line += file.readline()  # read whole, as any other line
        # The common line, a value from its first byte to the newline, is parsed as it is:
        # stripping it would copy every line (orjson reads past the newline itself).
        if line[-2:] in (b"}\n", b"]\n") and line[:1] in (b"{", b"["):
            stripped = line
        else:
            stripped = line.strip()
            if not stripped:
                continue
        if stripped[:1] in (b"{", b"[") and stripped[-1:] in (b"}", b"]", b"\n"):
            if len(stripped) >= _STREAMED_BYTES and stripped[:1] == b"{":
                streamed = _streamed_list(_Value(stripped), f"{label}:{line_no}")
                if streamed is not None:
                    yield from streamed
                    continue
            try:
                value = loads(stripped)
            except orjson.JSONDecodeError as first_error:
                error = first_error
                if stripped is line:  # the error's position as the line without its newline
                    stripped = line.strip()
                    try:
                        loads(stripped)
                    except orjson.JSONDecodeError as same_error:
                        error = same_error
                if not _looks_multiline(stripped) or not _is_utf8(stripped):
                    yield from _unreadable_line(stripped, error, f"{label}:{line_no}")
                    continue
            else:
                # The common case, one watch event of a well-formed object: made here, not
                # through the generators that expand_value takes for the other layouts.
                change = _watch_change(value) if value.__class__ is dict else None
                if change is not None:
                    yield change
                else:
                    yield from expand_value(value, f"{label}:{line_no}")
                continue
        # A pretty-printed or concatenated layout: read the rest as one stream of values. A
        # pretty-printed dump (kubectl's -o json) is one List, whose value starts on this line:
        # in a regular file, it is read from there an item at a time, never held whole.
        file = _regular_file(lines)
        if file is not None and stripped[:1] == b"{":
            resume = file.tell()
            start = resume - len(line)
            if os.fstat(file.fileno()).st_size - start >= _STREAMED_BYTES:
                file.seek(start)
                streamed = _streamed_list(_Value(file=file), f"{label}:{line_no}")
                if streamed is not None:
                    yield from streamed
                    return
                file.seek(resume)
        # Gathered in one buffer, not as a list of lines: a dump has millions of short lines,
        # which as bytes objects took three times the dump's size.
        rest, damage = bytearray(line), None
        try:
            for more in iterator:
                rest += more
        except _Damaged as error:  # what came before the damage is read, then it is reported
            damage = error
        if damage is None and len(rest) >= _STREAMED_BYTES and stripped[:1] == b"{":
            streamed = _streamed_list(_Value(rest), f"{label}:{line_no}")  # (stdin, gzip)
            if streamed is not None:
                yield from streamed
                return
        bad_lines: list[tuple[int, Skipped]] = []
        try:
            text = rest.decode("utf-8")
        except UnicodeDecodeError:
            text, bad_lines = _utf8_lines(bytes(rest), label, first_line=line_no)
        yield from _decode_stream(text, label, first_line=line_no, bad_lines=bad_lines)
        if damage is not None:
            raise damage
        return


def _bom_removed(lines: Iterable[bytes]) -> Iterator[bytes]:
    """lines, the first without a UTF-8 byte order mark (some editors and Windows tools write
    one)."""
    iterator = iter(lines)
    first = [next(iterator, b"").removeprefix(_BOM)]
    yield first.pop()  # (not held here while it is used)
    yield from iterator


def _bounded_lines(file: io.BufferedReader) -> Iterator[bytes]:
    """The lines of a regular file, a line longer than _LINE_PART_BYTES as its first part: the
    caller reads the rest of it from the file (see _streamed_long_line)."""
    return iter(functools.partial(file.readline, _LINE_PART_BYTES), b"")


_LINE_PART_BYTES = 256 << 10
"""The most of a line read before knowing how long it is (reading it takes twice that for a
moment). Lines are kilobytes (object bodies); a longer one costs one more copy."""


def _streamed_long_line(
    file: io.BufferedReader, part: bytes, where: str
) -> tuple[Iterator[CaptureItem] | None, int]:
    """The changes of the long line whose first part was just read from file, streamed from
    the file if the line is one List, with the offset where the next line starts; else None,
    and file is where it was (the caller reads the rest of the line and the line whole).

    Streamed exactly when a line held in memory would be (see decode_lines): its value, less
    the whitespace around it, is _STREAMED_BYTES or more, begins with "{", and holds ``List"``
    and ``"items"`` (``_Value.may_be_a_list``), so that a large watch event of one object is
    not parsed three times more to find that it is none."""
    start = file.tell() - len(part)
    end, value_bytes, may_be_a_list = _line_extent(file, part, start)
    if value_bytes >= _STREAMED_BYTES and may_be_a_list and part.lstrip()[:1] == b"{":
        streamed = _streamed_list(_Value(file=file, start=start, end=end), where)
        if streamed is not None:
            return streamed, end
    file.seek(start + len(part))
    return None, 0


def _line_extent(file: io.BufferedReader, part: bytes, start: int) -> tuple[int, int, bool]:
    """For the long line at offset start whose first part was just read from file: the offset
    just past its newline (or the file's end), the length of its value without the whitespace
    around it, and whether its bytes hold both ``List"`` and ``"items"``. Read in C, a part at
    a time."""
    kind = _LIST_KIND in part
    items = _ITEMS_KEY in part
    tail = part[-_NEEDLE_OVERLAP:]
    trailing = len(part) - len(part.rstrip())  # the whitespace the line ends with, so far
    end = -1
    read = file.read
    while end < 0 and (chunk := read(_LINE_SCAN_BYTES)):
        newline = chunk.find(b"\n")
        if newline >= 0:
            end = file.tell() - len(chunk) + newline + 1
            chunk = chunk[: newline + 1]
        joint = tail + chunk[:_NEEDLE_OVERLAP]  # (a name cut between two parts)
        kind = kind or _LIST_KIND in chunk or _LIST_KIND in joint
        items = items or _ITEMS_KEY in chunk or _ITEMS_KEY in joint
        tail = chunk[-_NEEDLE_OVERLAP:]
        content = len(chunk.rstrip())
        trailing = trailing + len(chunk) if not content else len(chunk) - content
    if end < 0:
        end = file.tell()
    leading = len(part) - len(part.lstrip())
    return end, end - start - leading - trailing, kind and items


_LINE_SCAN_BYTES = _LINE_PART_BYTES


def _regular_file(lines: Iterable[bytes]) -> io.BufferedReader | None:
    """The file lines are read from, if it is a regular file (one that can be read again)."""
    if not isinstance(lines, io.BufferedReader):
        return None
    try:
        return lines if stat.S_ISREG(os.fstat(lines.fileno()).st_mode) else None
    except (OSError, ValueError):  # no descriptor (a test's stream), or closed
        return None


def _is_utf8(line: bytes) -> bool:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _not_utf8(line: bytes, where: str) -> Skipped | None:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as error:
        byte = error.object[error.start]
        return Skipped(where, "not UTF-8", f"byte 0x{byte:02x} at column {error.start + 1}")
    return None


def _unreadable_line(
    line: bytes, error: orjson.JSONDecodeError, where: str
) -> Iterator[CaptureItem]:
    """A line orjson refused: not UTF-8, a lone surrogate escape (orjson refuses what json
    decodes, and the value is kept with U+FFFD in its place), or malformed JSON."""
    not_utf8 = _not_utf8(line, where)
    if not_utf8 is not None:
        yield not_utf8
        return
    if "surrogate" not in error.msg:
        yield Skipped(where, "malformed JSON", error.msg)
        return
    try:
        value = _DECODER.decode(line.decode("utf-8"))
    except RecursionError:
        yield Skipped(where, "malformed JSON", "nested too deeply")
        return
    except ValueError as decode_error:  # JSONDecodeError, or an int of too many digits
        yield Skipped(where, "malformed JSON", _decode_error_message(decode_error))
        return
    yield from expand_value(replace_lone_surrogates(value), where)


def _decode_error_message(error: ValueError) -> str:
    if isinstance(error, json.JSONDecodeError):
        return f"{error.msg} (line {error.lineno})"
    return str(error).split(";")[0]  # int(): "Exceeds the limit (4300 digits) ...; use ..."


def _utf8_lines(
    rest: bytes, label: str, *, first_line: int
) -> tuple[str, list[tuple[int, Skipped]]]:
    """The text of rest with each line that is not UTF-8 left empty, and (line, Skipped) for
    each: _decode_stream reports it, and skips the value that holds it (a value without one
    of its lines is not the value that was written)."""
    lines, bad = rest.split(b"\n"), []
    for index, line in enumerate(lines):
        not_utf8 = _not_utf8(line, f"{label}:{first_line + index}")
        if not_utf8 is not None:
            bad.append((first_line + index, not_utf8))
            lines[index] = b""
    return b"\n".join(lines).decode("utf-8"), bad


def _looks_multiline(line: bytes) -> bool:
    # A line holding several concatenated values ("{...}{...}") fails to parse as one value;
    # the value stream reads it correctly. Anything else is a malformed line.
    return b"}{" in line.replace(b" ", b"")


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE_ESCAPE_BYTES = re.compile(_SURROGATE_ESCAPE.pattern.encode())  # in raw bytes
_SPACE = frozenset(" \t\r\n\ufeff")  # JSON's whitespace, and a BOM between concatenated files


def _not_json(constant: str) -> None:
    raise ValueError(f"{constant} is not JSON")


_DECODER = json.JSONDecoder(parse_constant=_not_json)
"""The json module, as strict as orjson about NaN and Infinity: a value is read the same way
on the one-per-line path (orjson) and in a pretty-printed dump (this)."""


def _decode_stream(
    text: str, label: str, *, first_line: int, bad_lines: list[tuple[int, Skipped]]
) -> Iterator[CaptureItem]:
    decoder = _DECODER
    position, end = 0, len(text)
    lines = _LineCounter(text, first_line)
    surrogates = _SURROGATE_ESCAPE.search(text) is not None
    pending_bad = iter(bad_lines)
    bad_line, bad = next(pending_bad, (0, None))
    while True:
        while position < end and (text[position] in _SPACE or text[position].isspace()):
            position += 1
        if position >= end:
            break
        value_start = position
        line = lines.at(value_start)
        while bad is not None and bad_line < line:
            yield bad
            bad_line, bad = next(pending_bad, (0, None))
        where = f"{label}:{line}"
        try:
            value, position = decoder.raw_decode(text, position)
        except (ValueError, RecursionError) as error:
            # JSONDecodeError; an int of more digits than int() takes; deeper than the parser
            # goes. Report where the bad value starts, and resume at the next line that opens
            # a value: a truncated value must not swallow the good one after it.
            reason = (
                "nested too deeply"
                if isinstance(error, RecursionError)
                else _decode_error_message(error)
            )
            yield Skipped(where, "malformed JSON", reason)
            position = _next_value_start(text, value_start + 1)
            continue
        if bad is not None and bad_line <= (last_line := lines.at(position)):
            while bad is not None and bad_line <= last_line:
                yield Skipped(bad.where, bad.category, f"{bad.reason}, in the value from {where}")
                bad_line, bad = next(pending_bad, (0, None))
            continue
        if surrogates and _SURROGATE_ESCAPE.search(text, value_start, position):
            value = replace_lone_surrogates(value)
        yield from expand_value(value, where)
    if bad is not None:
        yield bad
    yield from (skipped for _, skipped in pending_bad)


class _LineCounter:
    """Line numbers of increasing offsets, counted once (a dump can be large)."""

    def __init__(self, text: str, first_line: int) -> None:
        self._text, self._offset, self._first = text, 0, first_line
        self._line = first_line

    def at(self, offset: int) -> int:
        if offset < self._offset:
            return self._text.count("\n", 0, offset) + self._first
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


_STREAMED_BYTES = 4 << 20
"""A value this large that is one List is read an item at a time (``_streamed_list``)."""

try:  # the C parser; the pure-Python one is a tenth as fast, but bounded in memory all the same
    _PARSER = ijson.get_backend("yajl2_c")
except ImportError:  # pragma: no cover (ijson's wheels carry it)
    _PARSER = ijson
_ITEMS, _BASIC_PARSE = _PARSER.items, _PARSER.basic_parse


def _streamed_list(value: _Value, where: str) -> Iterator[CaptureItem] | None:
    """The changes of a value, read an item at a time, if it is exactly one List object
    (``kubectl get -A -o json``); None for anything else, which the caller reads whole.

    Parsed whole, a dump takes eight times its size in memory (684 MB for an 84 MB dump of
    7,000 objects and 47,000 Events) before its first item is read. Read this way it takes a
    few MB. kubectl writes a List's keys in alphabetical order, its items before its kind; and a
    value is a List only if its kind says so. So a first pass checks that the value is one
    well-formed value the passes after it can take (``_shallow_and_plain``: two passes), the
    next reads its kind (C speed, nothing built), the last builds the items one by one.
    Everything else falls back to the whole value: malformed JSON (its error is reported as for
    any value), deep nesting, long keys, numbers past 64 bits, a surrogate escape (this parser
    would make a lone one "?", the whole-value path U+FFFD). Two things differ from the whole
    value: were "items" given twice, the items of both are read (a parser of the whole keeps
    the last); and a List that is also shaped as a watch event ("type" and "object" beside its
    items) is read as the List, where the whole value was read as the event.
    """
    if not value.may_be_a_list():
        return None
    kind: object = None
    try:
        if not _shallow_and_plain(value):
            return None
        # (Numbers read as yajl reads them, as in the items' pass: a value whose numbers only
        # Python's int takes, or floats past the double's range, is read whole, as before.)
        for kind in _ITEMS(value.reading(), "kind", use_float=True):  # noqa: B007 (the last)
            pass
    except Exception:  # whatever the streaming parser refuses is read whole, as before
        return None
    if not isinstance(kind, str) or not kind.endswith("List"):
        return None
    return _list_items(value, where, kind[: -len("List")])


def _shallow_and_plain(value: _Value) -> bool:
    """Whether the value is nested no deeper than _DEEPEST, with no key longer than
    _LONGEST_KEY and no surrogate escape: what the passes that keep paths can take.

    ijson keeps a path string for every level open (``items.item.metadata...``), each holding
    the keys above it: a value nested n deep costs it n² bytes (1 GB at 20,000 levels, which
    hostile input reaches in 40 KB), and long keys multiply that. Two passes count the levels
    and measure the keys from bare events, in C (map, accumulate, starmap, max: no Python code
    runs per event). Anything else is read whole, as before. Raises what ijson raises on
    malformed JSON, and on numbers past a 64-bit integer or a double (read whole too).
    """
    reading = value.reading()
    events = _BASIC_PARSE(reading, use_float=True)
    steps = map(_DEPTH_STEP.get, map(itemgetter(0), events), itertools.repeat(0))
    if max(itertools.accumulate(steps), default=0) > _DEEPEST or reading.surrogate_escape:
        return False
    # A path string holds the keys above it too: long keys cost as much as depth (1,000
    # levels under 8 KiB keys took 4 GB). The longest key, in a second pass, also in C.
    events = _BASIC_PARSE(value.reading(), use_float=True)
    longest = max(map(length_hint, itertools.starmap(_KEY_TEXT.get, events)), default=0)
    return longest <= _LONGEST_KEY


_DEEPEST = 64
"""Levels of nesting streamed: a Kubernetes object is about 20 deep (managedFields); deeper,
the value is read whole, as before. With _LONGEST_KEY, the paths take at most 64 levels x
64 x 16 KiB / 2: 33 MB."""
_LONGEST_KEY = 16 << 10
_DEPTH_STEP = {"start_map": 1, "start_array": 1, "end_map": -1, "end_array": -1}
_KEY_TEXT = dict.fromkeys(
    ("null", "boolean", "integer", "double", "number", "string", *_DEPTH_STEP), 0
)
"""Event -> 0, but a key, whose text stands (``dict.get(event, key)``): measured by length_hint."""


def _list_items(value: _Value, where: str, item_kind: str) -> Iterator[CaptureItem]:
    items = _ITEMS(value.reading(), "items.item", use_float=True)
    try:
        first = next(items, _NO_ITEM)
    except ijson.JSONError as error:
        yield Skipped(where, "malformed JSON", _changed_while_read(error))
        return
    if first is _NO_ITEM:  # no items, or "items" is not an array: as the whole value says
        try:
            whole = orjson.loads(value.reading().read())
        except orjson.JSONDecodeError as error:  # what only one of the two parsers takes
            yield Skipped(where, "malformed JSON", error.msg)
            return
        yield from expand_value(whole, where)
        return
    yield Snapshot(end=False)
    yield from _change(ChangeType.ADDED, first, where, item_kind)
    try:
        for item in items:
            yield from _change(ChangeType.ADDED, item, where, item_kind)
    except ijson.JSONError as error:
        yield Skipped(where, "malformed JSON", _changed_while_read(error))
    yield Snapshot(end=True)


def _changed_while_read(error: Exception) -> str:
    """The first pass read the value whole and well-formed, with the numbers the later passes
    take: the file changed since (cut, or rewritten, while it was read). What was read
    stands; the rest is reported as this."""
    text = error.args[0] if error.args else ""
    if isinstance(text, bytes):  # (yajl's lexical errors come as bytes)
        text = text.decode("utf-8", "replace")
    first_line = str(text).splitlines()[0] if str(text) else type(error).__name__
    return f"changed while it was read: {first_line[:_QUOTED_CHARACTERS]}"


_NO_ITEM = object()
_LIST_KIND, _ITEMS_KEY = b'List"', b'"items"'
_NEEDLE_OVERLAP = max(len(_LIST_KIND), len(_ITEMS_KEY)) - 1  # (either, cut between two reads)


class _Reading:
    """A file's read() over a value's bytes, noting whether they hold a surrogate escape."""

    def __init__(self, read: Callable[[int], bytes]) -> None:
        self._read = read
        self._tail = b""  # an escape cut between two reads is found in the next
        self.surrogate_escape = False

    def read(self, size: int = -1) -> bytes:
        chunk = self._read(size)
        if chunk and not self.surrogate_escape:
            self.surrogate_escape = _SURROGATE_ESCAPE_BYTES.search(self._tail + chunk) is not None
            self._tail = chunk[-5:]
        return chunk


class _Value:
    """The bytes of one large value, to be read more than once: held in memory (a line), or
    in a regular file from an offset to its end or to ``end`` (a pretty-printed dump, or a
    dump on one line, which are then never held whole: the reader process took the dump's
    size and more for them)."""

    def __init__(
        self,
        data: bytes | bytearray = b"",
        file: IO[bytes] | None = None,
        *,
        start: int | None = None,
        end: int | None = None,
    ) -> None:
        self._data, self._file = data, file
        self._start = start if start is not None else file.tell() if file is not None else 0
        self._end = end

    def may_be_a_list(self) -> bool:
        """False when the bytes held cannot be a List with items (a large watch event of one
        object, say): found in C, before the passes. (A key written with escapes, such as
        "\\u0069tems", is read whole: the same changes, in more memory.)"""
        if self._file is not None:
            return True  # (not read twice more for this: a dump is what a large file is)
        return _LIST_KIND in self._data and _ITEMS_KEY in self._data

    def reading(self) -> _Reading:
        file = self._file
        if file is not None:
            file.seek(self._start)
            if self._end is None:
                return _Reading(file.read)
            left = self._end - self._start

            def read_to_end(size: int = -1) -> bytes:
                nonlocal left
                chunk = file.read(left if size < 0 else min(size, left)) if left > 0 else b""
                left -= len(chunk)
                return chunk

            return _Reading(read_to_end)
        data, at = memoryview(self._data), 0

        def read(size: int = -1) -> bytes:
            nonlocal at
            start, at = at, len(data) if size < 0 else min(len(data), at + size)
            return bytes(data[start:at])

        return _Reading(read)


def expand_value(value: Any, where: str) -> Iterator[CaptureItem]:
    """One decoded JSON value to changes: a watch event, a bare object, or a List of objects."""
    if not isinstance(value, list):
        yield from _expand_one(value, where)
        return
    # Arrays of values, flattened without recursion: they may be nested as deep as the parser
    # allows, deeper than Python's recursion limit.
    stack = [iter(value)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            yield from _expand_one(item, where)
        else:
            stack.pop()


def _expand_one(value: Any, where: str) -> Iterator[CaptureItem]:
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


def _watch_change(value: dict[str, Any]) -> ObjectChange | EventChange | None:
    """The change of an ADDED, MODIFIED or DELETED watch event; None for anything else, and
    for a malformed object (expand_value then says why)."""
    watch_type = value.get("type")
    if not isinstance(watch_type, str) or "object" not in value:
        return None
    change_type = _WATCH_TYPES.get(watch_type)
    if change_type is None:
        return None
    try:
        record = normalise(value["object"])
    except MalformedValue:
        return None
    if isinstance(record, KubeEvent):
        return EventChange(change_type, record)
    return ObjectChange(change_type, record)


_QUOTED_CHARACTERS = 200  # of a value's own text in a skip's reason: it can be megabytes
_INT32 = 2**31


def _watch_event(watch_type: str, body: Any, where: str) -> Iterator[CaptureItem]:
    if watch_type == "BOOKMARK":
        yield Bookmark()
        return
    if watch_type == "ERROR":
        status = body if isinstance(body, dict) else {}
        message, code = status.get("message"), status.get("code")
        message = message[:_QUOTED_CHARACTERS] if isinstance(message, str) else ""
        code = code if code.__class__ is int and -_INT32 <= code < _INT32 else ""
        yield Skipped(where, "watch error", f"ERROR event {code} {message}".strip())
        return
    change_type = _WATCH_TYPES.get(watch_type)
    if change_type is None:
        yield Skipped(where, "unknown watch type", f"type {watch_type[:_QUOTED_CHARACTERS]!r}")
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


# -- the reader process ------------------------------------------------------------------------
#
# Parsing JSON and normalising the bodies is about half of a replay's time, and the graph waits
# for each value to be parsed. With a second CPU, a child process does both and sends the
# records packed as tuples of str, int and None, marshalled (the fastest serialiser of those;
# the child is the same interpreter, so its format always matches); the parent only rebuilds
# the small records and links. What the parent yields is what reading in-process yields:
# - the file's order (one pipe);
# - a Skipped keeps its file:line; a CaptureError is raised in the parent with its message, and
#   any other failure of the child with the child's traceback;
# - Ctrl-C: the child is in a process group of its own, so only the parent gets it; the parent
#   stops reading and ends the child;
# - the child dies with the parent (PR_SET_PDEATHSIG on Linux; a broken pipe anywhere) and is
#   always waited for, so none is left behind.

_PROCESS_MIN_BYTES = 32 << 20
"""Smaller captures are read in-process: a child costs about 0.1 s to start."""
_FRAME_ITEMS = 512  # items per marshalled frame
_FRAME_HEADER = struct.Struct("<I")
_PIPE_BYTES = 1 << 20  # lets the child run a few frames ahead while the parent links
_REFS_SHARED = 4096
"""Events' regarding objects remembered by the parent, so that the Events of one object share
one ObjectRef: an object's Events come close together (a dump lists them side by side; a
stream within minutes), and a dump holds every Event until it is linked (72 bytes each)."""
_TYPES = tuple(ChangeType)
_TYPE_INDEX = {change_type: index for index, change_type in enumerate(_TYPES)}
# The first element of a packed item says what it is.
(_EVENT, _OBJECT, _SKIPPED, _BOOKMARK, _SNAPSHOT, _END, _CAPTURE_ERROR, _FAILED,
 _UNCHANGED) = range(9)  # fmt: skip
# The child imports this very package: run with -P (no working directory on its path, where
# another kspan_py could be), it finds what the parent found, or this package's directory first.
# Its collector is tuned as the commands' are (2.85 -> 2.57 s on the 305 MB bench capture).
_CHILD = (
    "import sys; root = sys.argv[1]; root in sys.path or sys.path.insert(0, root); "
    "from kspan_py.sources.capture import serve_capture; "
    "from kspan_py.collecting import tune_memory; tune_memory(); "
    "serve_capture(sys.argv[2], int(sys.argv[3]), on_parent_death=sys.argv[4] == '1', "
    "drop_unchanged=sys.argv[5] == '1')"
)
_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent.parent)

Packed = tuple[Any, ...]


def reads_in_a_process(path: str) -> bool:
    """Whether read_capture(path) parses in a reader process (it does when that pays)."""
    if path == "-" or not sys.executable:
        return False
    try:
        size = os.path.getsize(path)
    except OSError:
        return False  # reading it in-process says why
    return size >= _PROCESS_MIN_BYTES and _cpus() >= 2


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _from_reader_process(path: str, *, drop_unchanged: bool = False) -> Iterator[CaptureItem]:
    try:
        process = subprocess.Popen(
            [
                *(sys.executable, "-P", "-c", _CHILD, _PACKAGE_ROOT, path, str(os.getpid())),
                # The death signal follows the thread that started the child, not the
                # process: only the main thread lives as long as the process.
                "1" if threading.current_thread() is threading.main_thread() else "0",
                "1" if drop_unchanged else "0",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            # Its own process group: a terminal's Ctrl-C (SIGINT to the foreground group) is
            # the parent's to handle, and the parent then ends the child.
            start_new_session=True,
        )
    except OSError:  # no process to be had (limits, memory): read here, only slower
        yield from _read_here(path)
        return
    stream = process.stdout
    assert stream is not None
    ended = False
    try:
        with contextlib.suppress(AttributeError, OSError):  # only where pipes can grow
            fcntl.fcntl(stream.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
        read, loads, unpack = stream.read, marshal.loads, _FRAME_HEADER.unpack
        types, event_change, event, ref = _TYPES, EventChange, KubeEvent, ObjectRef
        refs: dict[tuple[object, ...], ObjectRef] = {}
        while True:
            header = read(_FRAME_HEADER.size)
            size = unpack(header)[0] if len(header) == _FRAME_HEADER.size else 0
            frame = read(size) if size else b""
            if not size or len(frame) < size:  # it ended before saying so: it died
                code = process.wait()
                raise CaptureError(f"cannot read capture {path}: its reader ended (exit {code})")
            for packed in loads(frame):
                if packed[0] == _EVENT:  # the most common item, rebuilt inline (see _pack)
                    (_, change_type, uid, name, namespace, regarding, field_path, related,
                     reason, message, kind, action, count, time_ns, first_ns, component,
                     instance, api_version, resource_version) = packed  # fmt: skip
                    regarding_ref = refs.get(regarding)
                    if regarding_ref is None:
                        if len(refs) >= _REFS_SHARED:
                            refs.clear()
                        regarding_ref = refs[regarding] = ref(*regarding)
                    yield event_change(
                        types[change_type],
                        event(
                            uid,
                            name,
                            namespace,
                            regarding_ref,
                            field_path,
                            ref(*related) if related is not None else None,
                            reason,
                            message,
                            kind,
                            action,
                            count,
                            time_ns,
                            first_ns,
                            component,
                            instance,
                            api_version,
                            resource_version,
                        ),
                    )
                elif packed[0] == _END:
                    ended = True
                    return
                else:
                    yield _unpack(packed, path)
    finally:
        if not ended:
            process.kill()
        process.wait()
        stream.close()


def _status_tuple(status: PodStatus | NodeStatus | None) -> tuple[object, ...] | None:
    """A status as nested tuples of str, int, bool and None (what marshal carries)."""
    if status is None:
        return None
    if isinstance(status, NodeStatus):
        conditions = tuple(
            (c.type, c.status, c.since_ns, c.reason, c.message) for c in status.conditions
        )
        return ("Node", conditions)
    runs = tuple(
        (
            r.container,
            r.init,
            r.restart,
            r.started_ns,
            r.finished_ns,
            r.exit_code,
            r.signal,
            r.reason,
            r.message,
        )
        for r in status.runs
    )
    return (
        "Pod",
        status.phase,
        status.reason,
        status.node,
        status.has_init_containers,
        status.scheduled_ns,
        status.initialized_ns,
        status.ready_ns,
        runs,
        status.memory_limits,
    )


def _status_from(packed: Any) -> PodStatus | NodeStatus | None:
    if packed is None:
        return None
    if packed[0] == "Node":
        return NodeStatus(tuple(Condition(*c) for c in packed[1]))
    _, phase, reason, node, has_init, scheduled, initialized, ready, runs, limits = packed
    return PodStatus(
        phase,
        reason,
        node,
        has_init,
        scheduled,
        initialized,
        ready,
        tuple(ContainerRun(*r) for r in runs),
        tuple(tuple(limit) for limit in limits),
    )


def _unpack(packed: Packed, path: str) -> CaptureItem:
    tag = packed[0]
    if tag == _OBJECT:
        (_, change_type, ref, resource_version, created, owner, generation, change, deleted) = (
            packed[:9]
        )
        return ObjectChange(
            _TYPES[change_type],
            KubeObject(
                ObjectRef(*ref),
                resource_version,
                created,
                OwnerRef(*owner) if owner is not None else None,
                generation,
                GenerationChange(*change) if change is not None else None,
                deleted,
                _status_from(packed[9]),
                ObjectRef(*packed[10]) if packed[10] is not None else None,
                packed[11],
                packed[12],
                packed[13],
            ),
        )
    if tag == _SKIPPED:
        return Skipped(packed[1], packed[2], packed[3])
    if tag == _UNCHANGED:
        return Unchanged(packed[1])
    if tag == _BOOKMARK:
        return Bookmark()
    if tag == _SNAPSHOT:
        return Snapshot(packed[1])
    if tag == _CAPTURE_ERROR:
        raise CaptureError(packed[1])
    if tag == _FAILED:
        raise RuntimeError(f"the reader process of capture {path} failed:\n{packed[1]}")
    raise AssertionError(f"unknown item from the reader process: {packed!r}")


def _ref_tuple(ref: ObjectRef) -> Packed:
    return (ref.kind, ref.namespace, ref.name, ref.uid, ref.api_version)


def _pack(item: CaptureItem) -> Packed:
    """The item as plain tuples, in the order _from_reader_process and _unpack rebuild it."""
    if isinstance(item, EventChange):
        e = item.event
        related = e.related
        return (
            _EVENT,
            _TYPE_INDEX[item.type],
            e.uid,
            e.name,
            e.namespace,
            _ref_tuple(e.regarding),
            e.field_path,
            _ref_tuple(related) if related is not None else None,
            e.reason,
            e.message,
            e.type,
            e.action,
            e.count,
            e.time_ns,
            e.first_ns,
            e.component,
            e.instance,
            e.api_version,
            e.resource_version,
        )
    if isinstance(item, ObjectChange):
        obj, owner, change = item.obj, item.obj.owner, item.obj.change
        return (
            _OBJECT,
            _TYPE_INDEX[item.type],
            _ref_tuple(obj.ref),
            obj.resource_version,
            obj.created_ns,
            (owner.kind, owner.name, owner.uid) if owner is not None else None,
            obj.generation,
            (change.generation, change.time_ns, change.manager, change.operation)
            if change is not None
            else None,
            obj.deleted_ns,
            _status_tuple(obj.status),
            _ref_tuple(obj.scale_target) if obj.scale_target is not None else None,
            obj.labels,
            obj.replicas,
            obj.rolling_out,
        )
    if isinstance(item, Skipped):
        return (_SKIPPED, item.where, item.category, item.reason)
    if isinstance(item, Bookmark):
        return (_BOOKMARK,)
    if isinstance(item, Unchanged):
        return (_UNCHANGED, item.count)
    return (_SNAPSHOT, item.end)


def serve_capture(
    path: str, parent_pid: int, *, on_parent_death: bool = True, drop_unchanged: bool = False
) -> None:
    """The reader process: read path, write its items to stdout in marshalled frames.

    With on_parent_death, it is killed when its parent dies (Linux); either way, it ends when
    its parent stops reading (a broken pipe). With drop_unchanged, updates that change nothing
    kspan-py reads are counted instead of sent (``_UnchangedUpdates``).
    """
    _die_with_parent(parent_pid, on_parent_death=on_parent_death)
    out = sys.stdout.fileno()
    frame: list[Packed] = []
    unchanged = _UnchangedUpdates() if drop_unchanged else None
    try:
        try:
            for item in _read_here(path):
                packed = _pack(item)
                if unchanged is None:
                    frame.append(packed)
                elif packed[0] == _OBJECT:
                    unchanged.offer(packed, frame)
                else:
                    unchanged.count_before(frame)
                    frame.append(packed)
                if len(frame) >= _FRAME_ITEMS:
                    _send(out, frame)
                    frame = []
            if unchanged is not None:
                unchanged.count_before(frame)
            frame.append((_END,))
        except CaptureError as error:
            if unchanged is not None:  # what was read before the error is counted
                unchanged.count_before(frame)
            frame.append((_CAPTURE_ERROR, str(error)))
        except Exception:
            frame.append((_FAILED, traceback.format_exc()))
        _send(out, frame)
    except BrokenPipeError:
        os._exit(0)  # the parent stopped reading: it has ended, or ends this process


_UNCHANGED_REMEMBERED = 1 << 16
"""Objects whose newest version the reader process remembers (Pods are not compared):
past that many, it forgets them all, and the next version of each is sent whole. A version
held then is forgotten too: a late, older version of its object is then judged against the
version sent before it (the only case where the graph sees other than it would have)."""
_MODIFIED = _TYPE_INDEX[ChangeType.MODIFIED]


class _UnchangedUpdates:
    """Which object updates to leave out of the pipe: the ones identical to the version before.

    A controller rewrites its object's status many times (a ReplicaSet's availableReplicas, a
    Deployment's counts, a Node's heartbeat) where nothing kspan-py reads changes: two thirds
    of a rollout's ReplicaSet and Deployment updates, nearly every Node update. Left out here,
    they are never sent, unpacked or applied. Pods are always sent (see ``offer``). What is
    compared is the packed record (every field the graph reads) without its resourceVersion,
    itself (not a hash: Python's hash makes -1 and -2 equal), against the newest version of
    the object seen.

    One thing the left-out version still says is its write order: a version of the object
    that arrives after it but was written before it (a reordered input) is stale, and the
    graph must know so. So the latest one left out is held, and sent just before such a late
    version; the graph then judges the late one against it as it would have. It is held as its
    resourceVersion only: the rest of it is the record it was found equal to, kept anyway (held
    as bytes, the whole version doubled the table, since the last update of a settled
    ReplicaSet or Deployment is most often one left out: 2 MB of the reader's 34 MB peak on
    the 1,000-Deployment spread).
    """

    def __init__(self) -> None:
        # key -> (the newest version's record without its version, its write order, the
        # resourceVersion of the newest version left out if it is that one, else None). A plain
        # dict, emptied when full: an LRU's bookkeeping cost more than the updates it saved;
        # forgetting only means the next version of each object is sent whole.
        self._last: dict[object, tuple[bytes, int, object]] = {}
        self.dropped = 0

    def offer(self, packed: Packed, frame: list[Packed]) -> None:
        """Append packed to frame unless it is a left-out update (then counted)."""
        ref = packed[2]
        version = write_order(packed[3])
        if not version or ref[0] == "Pod":
            # No write order to reason with; or a Pod, whose record carries its status (runs,
            # conditions): comparing every Pod version cost the reader more than the fifth of
            # them left out saved the graph. Sent.
            self.count_before(frame)
            frame.append(packed)
            return
        key = ref[3] or ref  # the uid; the whole reference for an object without one
        # All the graph reads of it but the version, as bytes: compact, and nothing for the
        # garbage collector to walk (kept as tuples, they slowed the reader's parsing by a
        # sixth on a 1 GB capture).
        record = marshal.dumps(packed[:3] + packed[4:])
        last = self._last.get(key)
        if last is None:
            if len(self._last) >= _UNCHANGED_REMEMBERED:
                self._last.clear()
            self._last[key] = (record, version, None)
        else:
            last_record, latest, held = last
            if version > latest:
                if packed[1] == _MODIFIED and record == last_record:
                    self._last[key] = (last_record, version, packed[3])
                    self.dropped += 1
                    return
                self._last[key] = (record, version, None)  # (a held version need not go)
            elif held is not None:
                # Written before the version held back: the graph judges a late version by
                # the latest one it applied, which must then be the held one. What it compares
                # with stays the latest version, not this late one.
                self.dropped -= 1  # sent after all: not counted as left out (-1 if it was)
                self.count_before(frame)
                fields = marshal.loads(last_record)
                frame.append((*fields[:3], held, *fields[3:]))
                self._last[key] = (last_record, latest, None)
        self.count_before(frame)
        frame.append(packed)

    def count_before(self, frame: list[Packed]) -> None:
        """The count of what was left out, where it was: before the item sent next."""
        if self.dropped:
            frame.append((_UNCHANGED, self.take_count()))

    def take_count(self) -> int:
        count, self.dropped = self.dropped, 0
        return count


def _send(out: int, frame: list[Packed]) -> None:
    """Write one frame whole. A write to a pipe may take only part of it when a signal comes
    (SIGSTOP/SIGCONT from a debugger or profiler): the rest is written until every byte has
    gone, whatever buffering sys.stdout has (PYTHONUNBUFFERED makes it a raw file)."""
    data = marshal.dumps(frame)
    pending = memoryview(_FRAME_HEADER.pack(len(data)) + data)
    while pending:
        pending = pending[os.write(out, pending) :]


def _die_with_parent(parent_pid: int, *, on_parent_death: bool) -> None:
    if on_parent_death and sys.platform == "linux":
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent was gone before that took effect
        os._exit(1)


_PR_SET_PDEATHSIG = 1


class CaptureWriter:
    """Writes JSON values one per line, gzip-compressed when the name ends in ``.gz``.

    It appends: a restarted ``run --record`` (or ``record``) goes on after what the previous
    process wrote, instead of overwriting it; the restart lists the cluster again, so the
    capture then holds a second start-up snapshot, which a replay reads like any re-list.

    Values are held in memory until ``flush`` (the live run flushes on every tick), which
    writes them with one call: plain lines, or for gzip one whole gzip member (a gzip file is
    any number of members, read in turn). So a kill loses only what was not flushed, and the
    file stays readable to its end; a torn last line (a kill inside that call) is cut off when
    the file is opened again. A write the disk refuses is taken back whole, its values
    counted in ``lost`` and logged, and the recording goes on: it never stops the run.
    """

    _FLUSH_AT_BYTES = 4 << 20  # a long stretch without a flush still writes as it goes

    def __init__(self, path: str) -> None:
        self.path = path
        self._gzip = path.endswith(".gz")
        try:
            self._fd: int | None = open_output(path, append=True)
            if not self._gzip and cut_torn_line(self._fd, path):
                _log.warning("%s: cut off a torn last line a killed writer left", path)
        except OSError as error:
            raise CaptureError(f"cannot write capture {path}: {error}") from error
        self._pending: list[bytes] = []
        self._pending_values = 0
        self._pending_bytes = 0
        self.values = 0
        """Values written (flushed)."""
        self.lost = 0
        """Values a write refused (a full disk)."""
        self._failing: str | None = None

    def write(self, value: Any, raw: bytes | None = None) -> None:
        line = raw if raw is not None else orjson.dumps(value)
        self._pending.append(line)
        self._pending.append(b"\n")
        self._pending_values += 1
        self._pending_bytes += len(line) + 1
        if self._pending_bytes >= self._FLUSH_AT_BYTES:
            self.flush()

    def flush(self) -> None:
        if not self._pending or self._fd is None:
            return
        data = b"".join(self._pending)
        if self._gzip:
            data = gzip.compress(data, compresslevel=6, mtime=0)
        values = self._pending_values
        self._pending, self._pending_values, self._pending_bytes = [], 0, 0
        try:
            write_whole(self._fd, data)
        except OSError as error:
            self.lost += values
            reason = write_failure_reason(error)
            if self._failing != reason:
                _log.error("recording %s: %d values not written: %s", self.path, values, reason)
            self._failing = reason
            return
        if self._failing is not None:
            _log.warning("recording %s: writing again (%d values lost)", self.path, self.lost)
            self._failing = None
        self.values += values

    def close(self) -> None:
        self.flush()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self.lost:
            _log.error("recording %s: %d values were not written", self.path, self.lost)
