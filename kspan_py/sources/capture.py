"""Read and write captures: streams of JSON values from a file, stdin or gzip, in any layout.

A capture is what ``kspan-py record`` writes (one watch event per line) or what
``kubectl get ... -o json`` prints (one pretty-printed List). Both, and concatenations of
either, are read here. Nothing malformed stops the read: each bad value becomes a Skipped item
naming the file, line and reason, and the caller decides whether that is fatal (``--strict``).
A large capture is parsed by a reader process when a second CPU can do it alongside the graph
(the reader process section below says why and how).
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import gzip
import io
import json
import logging
import marshal
import os
import signal
import struct
import subprocess
import sys
import threading
import traceback
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

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


CaptureItem = ObjectChange | EventChange | Skipped | Bookmark | Snapshot


class CaptureError(OSError):
    """The capture cannot be opened or read at all (missing file, bad gzip)."""


def read_capture(path: str, *, reader_process: bool | None = None) -> Iterator[CaptureItem]:
    """Yield the changes of a capture in file order; ``-`` reads standard input.

    Lines are streamed (a capture can be larger than memory allows to hold twice); only a
    pretty-printed or concatenated layout is read whole, from the line where it starts.

    A large capture file is parsed and normalised by a reader process when there is a second
    CPU for it (``reader_process=None`` decides so; True or False forces it): see
    ``_from_reader_process``. The items are the same either way.
    """
    if reader_process is None:
        reader_process = reads_in_a_process(path)
    if reader_process:
        return _from_reader_process(path)
    return _read_here(path)


def _read_here(path: str) -> Iterator[CaptureItem]:
    label = "<stdin>" if path == "-" else path
    with contextlib.ExitStack() as closing:
        try:
            stream = _open(path, closing)
        except OSError as error:
            raise CaptureError(f"cannot read capture {label}: {error}") from error
        try:
            yield from decode_lines(stream, label)
        except EOFError as error:
            # A recording whose writer was killed: what it flushed is there, the tail is not.
            yield Skipped(label, "truncated capture", f"ends early ({error})")
        except (OSError, zlib.error) as error:
            raise CaptureError(f"cannot read capture {label}: {error}") from error


def _open(path: str, closing: contextlib.ExitStack[bool | None]) -> IO[bytes]:
    if path == "-":
        buffered = cast(io.BufferedReader, sys.stdin.buffer)  # a BufferedReader at run time
    else:
        buffered = closing.enter_context(open(path, "rb"))  # noqa: SIM115
    if buffered.peek(2)[:2] == b"\x1f\x8b":
        unzipped = gzip.GzipFile(fileobj=buffered)
        closing.callback(unzipped.close)
        return cast(IO[bytes], unzipped)
    return buffered


def decode_values(text: str, label: str) -> Iterator[CaptureItem]:
    """Decode a stream of JSON values held in a string (see decode_lines)."""
    return decode_lines(text.encode().splitlines(keepends=True), label)


def decode_lines(lines: Iterable[bytes], label: str) -> Iterator[CaptureItem]:
    """Decode JSON values: one per line when possible, else a raw value stream from there on."""
    loads = orjson.loads  # the hot path: several times faster than json.loads on object bodies
    iterator = iter(lines)
    for line_no, line in enumerate(iterator, start=1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped[:1] in (b"{", b"[") and stripped[-1:] in (b"}", b"]"):
            try:
                value = loads(stripped)
            except orjson.JSONDecodeError as error:
                if not _looks_multiline(stripped):
                    yield Skipped(f"{label}:{line_no}", "malformed JSON", error.msg)
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
        # A pretty-printed or concatenated layout: read the rest as one stream of values.
        rest = line + b"".join(iterator)
        try:
            text = rest.decode("utf-8")
        except UnicodeDecodeError as error:
            raise CaptureError(f"capture {label} is not UTF-8 text: {error}") from error
        yield from _decode_stream(text, label, first_line=line_no)
        return


def _looks_multiline(line: bytes) -> bool:
    # A line holding several concatenated values ("{...}{...}") fails to parse as one value;
    # the value stream reads it correctly. Anything else is a malformed line.
    return b"}{" in line.replace(b" ", b"")


def _decode_stream(text: str, label: str, *, first_line: int) -> Iterator[CaptureItem]:
    decoder = json.JSONDecoder()
    position, end = 0, len(text)
    lines = _LineCounter(text, first_line)
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
_TYPES = tuple(ChangeType)
_TYPE_INDEX = {change_type: index for index, change_type in enumerate(_TYPES)}
# The first element of a packed item says what it is.
_EVENT, _OBJECT, _SKIPPED, _BOOKMARK, _SNAPSHOT, _END, _CAPTURE_ERROR, _FAILED = range(8)
# The child imports this very package: run with -P (no working directory on its path, where
# another kspan_py could be), it finds what the parent found, or this package's directory first.
_CHILD = (
    "import sys; root = sys.argv[1]; root in sys.path or sys.path.insert(0, root); "
    "from kspan_py.sources.capture import serve_capture; "
    "serve_capture(sys.argv[2], int(sys.argv[3]), on_parent_death=sys.argv[4] == '1')"
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


def _from_reader_process(path: str) -> Iterator[CaptureItem]:
    try:
        process = subprocess.Popen(
            [
                *(sys.executable, "-P", "-c", _CHILD, _PACKAGE_ROOT, path, str(os.getpid())),
                # The death signal follows the thread that started the child, not the
                # process: only the main thread lives as long as the process.
                "1" if threading.current_thread() is threading.main_thread() else "0",
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
                    yield event_change(
                        types[change_type],
                        event(
                            uid,
                            name,
                            namespace,
                            ref(*regarding),
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
            ),
        )
    if tag == _SKIPPED:
        return Skipped(packed[1], packed[2], packed[3])
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
        )
    if isinstance(item, Skipped):
        return (_SKIPPED, item.where, item.category, item.reason)
    if isinstance(item, Bookmark):
        return (_BOOKMARK,)
    return (_SNAPSHOT, item.end)


def serve_capture(path: str, parent_pid: int, *, on_parent_death: bool = True) -> None:
    """The reader process: read path, write its items to stdout in marshalled frames.

    With on_parent_death, it is killed when its parent dies (Linux); either way, it ends when
    its parent stops reading (a broken pipe).
    """
    _die_with_parent(parent_pid, on_parent_death=on_parent_death)
    out = sys.stdout.buffer
    frame: list[Packed] = []
    try:
        try:
            for item in _read_here(path):
                frame.append(_pack(item))
                if len(frame) >= _FRAME_ITEMS:
                    _send(out, frame)
                    frame = []
            frame.append((_END,))
        except CaptureError as error:
            frame.append((_CAPTURE_ERROR, str(error)))
        except Exception:
            frame.append((_FAILED, traceback.format_exc()))
        _send(out, frame)
        out.flush()
    except BrokenPipeError:
        os._exit(0)  # the parent stopped reading: it has ended, or ends this process


def _send(out: IO[bytes], frame: list[Packed]) -> None:
    data = marshal.dumps(frame)
    out.write(_FRAME_HEADER.pack(len(data)) + data)


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
