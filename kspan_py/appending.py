"""Output files that a restart continues: opened for appending, written whole or not at all.

A ``run`` restarted with ``--state-file`` must go on where the killed process stopped, so its
files (``--otlp-json-file``, ``--record``) are appended to, never truncated. Two things can
leave a file damaged, and both are dealt with here rather than by each writer:

- a kill in the middle of a write leaves a torn last line: ``cut_torn_line`` takes it off when
  the file is opened again (what it held was never reported as written);
- a full disk (ENOSPC) refuses a write part-way: ``write_whole`` takes the written part back,
  so a retry does not follow half a line with the whole one.

A line may be written as it is made (``LineFile.write_parts``: the OTLP/JSON sinks encode a
span at a time rather than holding a batch): its parts are gathered into writes of
``WRITE_BYTES`` and, should a write fail or the maker of the parts raise, everything written of
the line is taken back, so a line is still in the file whole or not at all.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
import threading
from collections.abc import Iterable, Iterator
from typing import IO

DISK_FULL = "disk full"
_BLOCK = 1 << 20
WRITE_BYTES = 256 * 1024
"""A line written in parts is handed to the OS in writes of about this size: few system calls,
and no more than this much of the line held at once."""

log = logging.getLogger(__name__)


class LineFile:
    """An output file of whole lines (the OTLP/JSON sinks'): a run's continues (its torn last
    line cut off), a replay's starts anew; a line is written whole or not at all, and a refused
    write says why (``failure_reason``, which the outlet counts and /readyz shows)."""

    def __init__(self, path: str, *, append: bool) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._fd: int | None = open_output(path, append=append)
        self._regular = stat.S_ISREG(os.fstat(self._fd).st_mode)
        """What was written can be taken back (not a pipe or a device)."""
        self.torn_bytes = cut_torn_line(self._fd, path) if append else 0
        """What a killed run left of a line it was writing, cut off at the opening."""
        self.failure_reason: str | None = None
        """Why the last write failed (a full disk...); None after a success."""

    def write(self, line: bytes, *, what: str) -> bool:
        """Append line (with its newline); False when it could not be written (logged once
        per reason, ``what`` saying what was lost: "12 spans")."""
        return self.write_parts((line,), what=what)

    def write_parts(self, line: Iterable[bytes], *, what: str) -> bool:
        """Append the line made of these parts (the last ending it with its newline), writing
        them as they come: as ``write``, the line is in the file whole or not at all; an
        exception the parts' maker raises is raised here, what was written taken back."""
        with self._lock:
            if self._fd is None:
                return False
            try:
                if self._regular:
                    write_streamed(self._fd, line, WRITE_BYTES)
                else:  # what reached a pipe cannot be taken back: the line is made first
                    write_whole(self._fd, b"".join(line))
            except OSError as error:
                reason = write_failure_reason(error)
                if self.failure_reason != reason:
                    log.error("%s: cannot write %s: %s", self.path, what, error)
                self.failure_reason = reason
                return False
        # Written with os.write, so handed to the OS before success is reported: a live run
        # journals the batch as delivered next, and a kill must not lose what it says is written.
        self.failure_reason = None
        return True

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


def open_output(path: str, *, append: bool) -> int:
    """A descriptor that writes at the end (O_APPEND); append=False empties the file first."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | (0 if append else os.O_TRUNC)
    return os.open(path, flags, 0o666)


def write_failure_reason(error: OSError) -> str:
    """A short reason from a bounded set (it becomes a metric label) for a refused write."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return DISK_FULL
    return f"write failed ({errno.errorcode.get(error.errno or 0, 'unknown error')})"


def write_streamed(fd: int, parts: Iterable[bytes], write_bytes: int) -> None:
    """Write the parts, gathered into writes of about write_bytes, or take back what was
    written and raise (an OSError, or whatever the parts' maker raised)."""
    before = os.lseek(fd, 0, os.SEEK_END)
    written = False
    try:
        gathered: list[bytes] = []
        size = 0
        for part in parts:
            gathered.append(part)
            size += len(part)
            if size >= write_bytes:
                written = True
                _write_all(fd, b"".join(gathered))
                gathered.clear()
                size = 0
        if gathered:
            written = True
            _write_all(fd, b"".join(gathered))
    except BaseException:
        if written:
            with contextlib.suppress(OSError):  # raised: the first error says what went wrong
                os.ftruncate(fd, before)
        raise


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def write_whole(fd: int, data: bytes) -> None:
    """Write every byte, or take back what was written and raise."""
    before = os.lseek(fd, 0, os.SEEK_END)
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view) :]
    except OSError:
        if view.nbytes != len(data):
            with contextlib.suppress(OSError):  # not a regular file: nothing to take back
                os.ftruncate(fd, before)
        raise


def cut_torn_line(fd: int, path: str) -> int:
    """Cut a last line without its newline off a regular file; returns the bytes cut."""
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_size == 0:
        return 0
    with open(path, "rb") as stream:
        end = _end_of_last_line(stream, info.st_size)
    if end < info.st_size:
        os.ftruncate(fd, end)
    return info.st_size - end


def _end_of_last_line(stream: IO[bytes], size: int) -> int:
    position = size
    while position > 0:
        start = max(0, position - _BLOCK)
        stream.seek(start)
        found = stream.read(position - start).rfind(b"\n")
        if found >= 0:
            return start + found + 1
        position = start
    return 0


def lines_backwards(path: str) -> Iterator[bytes]:
    """The file's lines, last first, read a block at a time (a file may be far larger than
    what is wanted of its end)."""
    with open(path, "rb") as stream:
        position = stream.seek(0, os.SEEK_END)
        tail = b""
        while position > 0:
            start = max(0, position - _BLOCK)
            stream.seek(start)
            lines = (stream.read(position - start) + tail).split(b"\n")
            # The first piece may be the end of a line that began in an earlier block.
            tail = lines.pop(0) if start > 0 else b""
            for line in reversed(lines):
                if line:
                    yield line
            position = start
