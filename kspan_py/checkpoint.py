"""The checkpoint: what a restarted process needs to export every occurrence exactly once.

A restart lists the cluster again, so it sees again every Event the API server still keeps,
and the graph links them again (it needs them as context). What it must not do is export
again what the previous process already delivered, nor skip what that process had seen but not
yet exported (pending in the window, or queued for a sink). So the checkpoint keeps:

- the export floor (``since``) of the first run, so that a restart does not export the history
  older than that run's start;
- the span ids already delivered to every sink, for as long as the API server keeps Events
  (after that no restart can see them again);
- the last resourceVersion of each watch (what it had read, for the operator: a restart lists
  anyway, since the object store lives in memory).

At the rate the README claims (2,500 events/s) the Event TTL (1 h) holds 9 million span ids: as
a dict of ints they took about 1 GB of memory and, as JSON, 400 MB of file. So the ids are kept
packed, 8 bytes each, in generations by the event time they were delivered at (five minutes a
generation, sorted, searched by bisection); a generation is forgotten whole once its newest
delivery is older than the Event TTL, so the table is bounded by event time with or without a
state file. The file is the same generations as raw little-endian arrays behind a small header,
with a CRC-32 at the end (``benchmarks/state_bench.py`` prints the sizes). The JSON file of
format 1 is still read.

The file is replaced atomically (write, fsync, rename) every ``checkpoint_every_s``; between two
such writes each delivery is appended to a journal beside it (``FILE.journal``, JSON lines) as
soon as the sinks took it, so a ``kill -9`` loses at most a delivery whose journal line was being
written. A delivery the sinks took just before the kill and that was not yet journalled is
exported again after the restart, with the same deterministic ids, which a backend merges.

A write that fails (a full disk) never stops the run: the delivered ids stay in memory, the
failure is counted in ``CheckpointWrites`` (which /readyz and /metrics read), and the run writes
the whole checkpoint again soon. Until a write works, a kill only makes a restart export some
spans again, with the same ids.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import struct
import sys
import tempfile
import zlib
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import orjson
from opentelemetry.sdk.trace import ReadableSpan

from kspan_py.spans.building import KubeSpan

log = logging.getLogger(__name__)

_MAGIC = b"KSPANCP\x02"
"""Format 2: this, a u32 header length, the JSON header, a u32 generation count, each generation
as (i64 newest delivery ns, u64 count, count little-endian u64 span ids, sorted), then the
CRC-32 (u32) of everything before it."""
_LEGACY_FORMAT = 1
_GENERATION = struct.Struct("<qQ")
_U32 = struct.Struct("<I")

GENERATION_NS = 5 * 60 * 1_000_000_000
"""Deliveries of one generation: an id is remembered at most this much longer than needed, and
a lookup searches (TTL / this) + 1 generations."""
_SEAL_AT = 1 << 16
"""Ids the open generation (a set: about 70 bytes an id) takes before it is packed."""


class CheckpointError(ValueError):
    """The state file exists but cannot be used; the message says why and where."""


@dataclass(frozen=True, slots=True)
class Generation:
    """Span ids delivered in one stretch of event time, packed; never changed once made."""

    newest_ns: int
    """The event time of its latest delivery: forgotten whole once this is past the TTL."""
    ids: array[int]
    """Sorted (bisection), duplicates allowed."""

    def __contains__(self, span_id: int) -> bool:
        ids = self.ids
        found = bisect_left(ids, span_id)
        return found < len(ids) and ids[found] == span_id


class ExportedSpans:
    """Span ids delivered to every sink, by the event time of their delivery; bounded by it."""

    def __init__(self, generation_ns: int = GENERATION_NS) -> None:
        self._generation_ns = generation_ns
        self._sealed: list[Generation] = []
        self._sealed_ids = 0
        self._open: set[int] = set()
        self._open_newest_ns = 0

    def __len__(self) -> int:
        """Ids held (an id delivered twice, in two generations, counts twice)."""
        return self._sealed_ids + len(self._open)

    def __contains__(self, span_id: object) -> bool:
        if span_id in self._open:
            return True
        if not isinstance(span_id, int):
            return False
        return any(span_id in generation for generation in self._sealed)

    def __iter__(self) -> Iterator[int]:
        yield from self._open
        for generation in self._sealed:
            yield from generation.ids

    @property
    def nbytes(self) -> int:
        """Bytes of the packed generations (the open set not counted): for the benchmark."""
        return sum(g.ids.itemsize * len(g.ids) for g in self._sealed)

    def add(self, span_id: int, time_ns: int) -> None:
        """Remember span_id, delivered at time_ns (event time)."""
        if self._open and (
            len(self._open) >= _SEAL_AT
            or time_ns // self._generation_ns > self._open_newest_ns // self._generation_ns
        ):
            self._seal()
        newest = max(self._open_newest_ns, time_ns) if self._open else time_ns
        self._open.add(span_id)
        self._open_newest_ns = newest

    def restore(self, newest_ns: int, ids: array[int]) -> None:
        """Take a sorted generation as read from a checkpoint."""
        self._sealed.append(Generation(newest_ns, ids))
        self._sealed_ids += len(ids)

    def forget_before(self, time_ns: int) -> None:
        """Drop the generations whose every delivery is older than time_ns."""
        if self._open and self._open_newest_ns < time_ns:
            self._open = set()
            self._open_newest_ns = 0
        if any(g.newest_ns < time_ns for g in self._sealed):
            self._sealed = [g for g in self._sealed if g.newest_ns >= time_ns]
            self._sealed_ids = sum(len(g.ids) for g in self._sealed)

    def generations(self) -> list[Generation]:
        """Every id, packed (the open set too, as it is now): what a checkpoint writes."""
        packed = list(self._sealed)
        if self._open:
            packed.append(Generation(self._open_newest_ns, array("Q", sorted(self._open))))
        return packed

    def _seal(self) -> None:
        generation = Generation(self._open_newest_ns, array("Q", sorted(self._open)))
        self._open = set()
        self._open_newest_ns = 0
        last = self._sealed[-1] if self._sealed else None
        same_stretch = (
            last is not None
            and last.newest_ns // self._generation_ns == generation.newest_ns // self._generation_ns
        )
        if last is not None and same_stretch:
            # One generation per stretch keeps lookups few; both runs are sorted, so this sort
            # is a linear merge.
            merged = array("Q", sorted([*last.ids, *generation.ids]))
            self._sealed[-1] = Generation(max(last.newest_ns, generation.newest_ns), merged)
        else:
            self._sealed.append(generation)
        self._sealed_ids += len(generation.ids)


@dataclass(slots=True)
class Checkpoint:
    since_ns: int
    resource_versions: dict[str, str] = field(default_factory=dict)
    exported: ExportedSpans = field(default_factory=ExportedSpans)


@dataclass(slots=True)
class CheckpointWrites:
    """How the checkpoint's writes go: what /readyz, /metrics and the exit report read."""

    saves: int = 0
    """Whole checkpoints written."""
    failures: int = 0
    """Journal lines and checkpoints that could not be written (a full disk...)."""
    journal_error: str | None = None
    """The latest journal write failed with this; None once one works again."""
    save_error: str | None = None
    """The latest checkpoint write failed with this; None once one works again."""
    unsaved: bool = False
    """A delivery is missing from the journal: the checkpoint should be written soon."""

    @property
    def error(self) -> str | None:
        return self.journal_error or self.save_error


class CheckpointFile:
    """Reads and writes one checkpoint and its journal; a failed write is counted, not raised."""

    def __init__(self, path: str, writes: CheckpointWrites | None = None) -> None:
        self.path = Path(path)
        self.journal_path = Path(f"{path}.journal")
        self.writes = writes if writes is not None else CheckpointWrites()
        self._journal: int | None = None
        self._journal_size = 0

    def load(self) -> Checkpoint | None:
        """The saved checkpoint with its journal applied; None when there is none yet."""
        if not self.path.exists() and not self.journal_path.exists():
            return None
        checkpoint = Checkpoint(since_ns=0)
        if self.path.exists():
            self._read_state(checkpoint)
        applied = self._read_journal(checkpoint.exported) if self.journal_path.exists() else 0
        log.info(
            "checkpoint %s: %d spans already exported, %d journal entries",
            self.path,
            len(checkpoint.exported),
            applied,
        )
        return checkpoint

    def _read_journal(self, exported: ExportedSpans) -> int:
        if not _regular(self.journal_path):
            # A device or a pipe would be read for ever (/dev/full gives zeros without end).
            log.warning("%s: not a regular file; not read", self.journal_path)
            return 0
        try:
            lines = self.journal_path.read_bytes().splitlines()
        except OSError as error:
            raise CheckpointError(f"{self.journal_path}: unreadable journal ({error})") from None
        applied = 0
        for line in lines:
            try:
                entries = orjson.loads(line)
                for span, time in entries:
                    exported.add(int(span, 16), int(time))
            except (orjson.JSONDecodeError, TypeError, ValueError):
                # The line a kill interrupted: its delivery is exported again, same ids.
                log.warning("%s: skipped a torn journal line", self.journal_path)
                continue
            applied += 1
        return applied

    def _read_state(self, checkpoint: Checkpoint) -> None:
        try:
            with self.path.open("rb") as body:
                start = body.read(len(_MAGIC))
                if start.startswith(b"{"):
                    self._read_legacy(start + body.read(), checkpoint)
                elif start == _MAGIC:
                    self._read_packed(body, os.fstat(body.fileno()).st_size, checkpoint)
                else:
                    raise CheckpointError(f"{self.path}: not a kspan-py checkpoint")
        except OSError as error:
            raise CheckpointError(f"{self.path}: unreadable checkpoint ({error})") from None

    def _read_packed(self, body: BinaryIO, size: int, checkpoint: Checkpoint) -> None:
        crc = zlib.crc32(_MAGIC)

        def read(count: int) -> bytes:
            nonlocal crc
            data = body.read(count)
            if len(data) != count:
                raise CheckpointError(f"{self.path}: truncated checkpoint")
            crc = zlib.crc32(data, crc)
            return data

        (header_size,) = _U32.unpack(read(_U32.size))
        if header_size > size:
            raise CheckpointError(f"{self.path}: damaged checkpoint (header size)")
        try:
            header = orjson.loads(read(header_size))
            checkpoint.since_ns = int(header["since_ns"])
            checkpoint.resource_versions = {
                str(k): str(v) for k, v in header.get("resource_versions", {}).items()
            }
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as error:
            raise CheckpointError(f"{self.path}: unreadable checkpoint ({error})") from None
        (generations,) = _U32.unpack(read(_U32.size))
        for _ in range(generations):
            newest_ns, count = _GENERATION.unpack(read(_GENERATION.size))
            if count * 8 > size:  # a damaged count must not allocate terabytes
                raise CheckpointError(f"{self.path}: damaged checkpoint (generation size)")
            ids = array("Q")
            ids.frombytes(read(count * 8))
            if sys.byteorder != "little":
                ids.byteswap()
            checkpoint.exported.restore(newest_ns, ids)
        ending = body.read(_U32.size)
        if len(ending) != _U32.size or _U32.unpack(ending)[0] != crc:
            raise CheckpointError(f"{self.path}: damaged checkpoint (checksum mismatch)")

    def _read_legacy(self, text: bytes, checkpoint: Checkpoint) -> None:
        try:
            body = orjson.loads(text)
        except orjson.JSONDecodeError as error:
            raise CheckpointError(f"{self.path}: unreadable checkpoint ({error})") from None
        version = body.get("format") if isinstance(body, dict) else None
        if version != _LEGACY_FORMAT:
            raise CheckpointError(f"{self.path}: unknown format {version!r}")
        try:
            checkpoint.since_ns = int(body["since_ns"])
            checkpoint.resource_versions = {
                str(k): str(v) for k, v in body.get("resource_versions", {}).items()
            }
            for span, time in body.get("exported", {}).items():
                checkpoint.exported.add(int(span, 16), int(time))
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise CheckpointError(f"{self.path}: unreadable checkpoint ({error})") from None

    def journal(self, entries: Sequence[tuple[int, int]]) -> bool:
        """Append one delivery, whole or not at all; False (counted) if it could not be."""
        if not entries:
            return True
        line = orjson.dumps([[f"{span:016x}", time] for span, time in entries]) + b"\n"
        try:
            if self._journal is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._journal = os.open(
                    self.journal_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600
                )
                self._journal_size = os.fstat(self._journal).st_size
            _write_all(self._journal, line)
        except OSError as error:
            self._drop_torn_line()
            self.writes.unsaved = True
            self.writes.journal_error = self._failed(self.journal_path, error)
            return False
        self._journal_size += len(line)
        self.writes.journal_error = None
        return True

    def _drop_torn_line(self) -> None:
        """After a failed append: cut what part of the line went, so the next line is whole,
        and close, so the next append opens the path again (it may have been fixed)."""
        if self._journal is None:
            return
        try:
            if stat.S_ISREG(os.fstat(self._journal).st_mode):
                os.ftruncate(self._journal, self._journal_size)
        except OSError:
            pass  # the line stays torn: a load skips it, that delivery is exported again
        self.close()

    def save(self, checkpoint: Checkpoint) -> bool:
        """Replace the file atomically, then start the journal afresh; False (counted) if the
        file could not be written, and the previous one stays."""
        try:
            self._write(checkpoint)
        except OSError as error:
            self.writes.save_error = self._failed(self.path, error)
            return False
        self.writes.saves += 1
        self.writes.save_error = None
        self.writes.unsaved = False
        # Everything journalled is in the file now. A kill between the rename and this
        # truncation replays entries the file already has: harmless.
        try:
            if self._journal is not None:
                if stat.S_ISREG(os.fstat(self._journal).st_mode):
                    os.ftruncate(self._journal, 0)
                    self._journal_size = 0
            elif _regular(self.journal_path):
                os.truncate(self.journal_path, 0)
        except OSError as error:
            log.warning(
                "%s: not emptied (%s); its entries are read again, harmlessly",
                self.journal_path,
                error,
            )
        return True

    def _write(self, checkpoint: Checkpoint) -> None:
        header = orjson.dumps(
            {"since_ns": checkpoint.since_ns, "resource_versions": checkpoint.resource_versions}
        )
        generations = checkpoint.exported.generations()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            with os.fdopen(handle, "wb") as out:
                crc = 0
                for part in _packed(header, generations):
                    out.write(part)
                    crc = zlib.crc32(part, crc)
                out.write(_U32.pack(crc))
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def _failed(self, path: Path, error: OSError) -> str:
        self.writes.failures += 1
        reason = f"cannot write {path}: {error.strerror or error}"
        log.warning("checkpoint: %s; written again later", reason)
        return reason

    def close(self) -> None:
        if self._journal is not None:
            # A close that reports a late write error: the next save covers it.
            with contextlib.suppress(OSError):
                os.close(self._journal)
            self._journal = None


def _packed(header: bytes, generations: Sequence[Generation]) -> Iterator[bytes | array[int]]:
    yield _MAGIC
    yield _U32.pack(len(header))
    yield header
    yield _U32.pack(len(generations))
    for generation in generations:
        yield _GENERATION.pack(generation.newest_ns, len(generation.ids))
        if sys.byteorder == "little":
            yield generation.ids
        else:
            swapped = array("Q", generation.ids)
            swapped.byteswap()
            yield swapped


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


class ExportGate:
    """Decides which finished spans go to the sinks: none before ``since``, none twice."""

    def __init__(self, since_ns: int, exported: ExportedSpans | None = None) -> None:
        self.since_ns = since_ns
        self.exported = exported if exported is not None else ExportedSpans()
        self.now_ns = 0
        """Event time now (the graph's watermark): what a delivery is remembered by."""
        self.held_back = 0  # spans before since: context only
        self.already_exported = 0

    def admit(self, spans: Iterable[ReadableSpan]) -> list[ReadableSpan]:
        admitted = []
        exported = self.exported
        for span in spans:
            assert span.start_time is not None
            # A span of repeats holds several occurrences: it is a duplicate only when every
            # one of them went out already (a restart re-lists an Event at its latest count).
            if all(span_id in exported for span_id, _ in _occurrences(span)):
                self.already_exported += 1
            elif span.start_time < self.since_ns:
                self.held_back += 1
            else:
                admitted.append(span)
        return admitted

    def delivered(self, spans: Sequence[ReadableSpan]) -> list[tuple[int, int]]:
        """Note spans every sink took; returns the entries to journal.

        Each is remembered by the event time of its delivery, not its own: never earlier than
        its Event's, so it is kept at least as long as the API server keeps the Event, and a
        time an Event's author wrote (years ahead) cannot keep it for ever."""
        entries = []
        for span in spans:
            for span_id, start_ns in _occurrences(span):
                time_ns = self.now_ns or start_ns
                entries.append((span_id, time_ns))
                self.exported.add(span_id, time_ns)
        return entries

    def advance(self, now_ns: int, *, keep_ns: int) -> None:
        """Event time moved on: forget what was delivered more than keep_ns before it."""
        self.now_ns = max(self.now_ns, now_ns)
        self.exported.forget_before(self.now_ns - keep_ns)


def _occurrences(span: ReadableSpan) -> list[tuple[int, int]]:
    """(id, time) of each occurrence a span stands for: its own id, and its folded repeats'."""
    if isinstance(span, KubeSpan):
        return span.draft.occurrences()
    assert span.context is not None and span.start_time is not None
    return [(span.context.span_id, span.start_time)]
