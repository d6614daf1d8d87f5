"""Logging set-up: readable lines on a terminal, JSON lines for a cluster's log pipeline.

Also a rate limit: a watch that drops every few seconds, or a collector that is down, would
otherwise write the same warning thousands of times. Each message template gets a burst of
lines per minute; past it the lines are counted, and the next line let through says how many
like it were suppressed. Nothing is silently lost: the counts are also in the metrics.

Log lines name Events, objects and what the API server said, all of which anyone who may
create an Event can write. Both formats escape control characters in the message (a newline
would forge a line, an ESC sequence would drive the reader's terminal) and, line by line, in a
traceback (kspan_py.escaping).
"""

from __future__ import annotations

import json
import logging
import sys
import time
import traceback
from collections.abc import Callable
from types import TracebackType

from kspan_py.escaping import printable

FORMATS = ("text", "json")


ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None] | tuple[None, None, None]


def escaped_traceback(ei: ExcInfo) -> str:
    """A traceback as logging writes it, each exception's own text escaped, newlines too: only
    the frames (from the source, not from Events) keep their lines."""
    _, error, _ = ei
    if error is None:
        return ""
    return "".join(_traceback_lines(traceback.TracebackException.from_exception(error))).rstrip()


def _traceback_lines(error: traceback.TracebackException) -> list[str]:
    lines: list[str] = []
    if error.__cause__ is not None:
        lines += _traceback_lines(error.__cause__)
        lines.append("\nThe above exception was the direct cause of the following exception:\n\n")
    elif error.__context__ is not None and not error.__suppress_context__:
        lines += _traceback_lines(error.__context__)
        lines.append("\nDuring handling of the above exception, another exception occurred:\n\n")
    if error.stack:
        lines.append("Traceback (most recent call last):\n")
        lines += (printable(frame, keep_newlines=True) for frame in error.stack.format())
    lines += (printable(line.removesuffix("\n")) + "\n" for line in error.format_exception_only())
    return lines


class TextFormatter(logging.Formatter):
    """``kspan-py: LEVEL: message``, escaped (a traceback keeps its lines)."""

    def __init__(self) -> None:
        super().__init__("kspan-py: %(levelname)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        return printable(super().formatMessage(record))

    def formatException(self, ei: ExcInfo) -> str:
        return escaped_traceback(ei)

    def formatStack(self, stack_info: str) -> str:
        return printable(super().formatStack(stack_info), keep_newlines=True)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (and the exception, if any).

    JSON escapes C0 itself; DEL, C1 and bidi controls it leaves, so the message is escaped too."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": printable(record.getMessage()),
        }
        if record.exc_info:
            entry["exception"] = escaped_traceback(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


JsonFormatter.converter = time.gmtime


class RateLimit(logging.Filter):
    """At most ``burst`` lines per message template and ``period_s``; the rest are counted."""

    def __init__(
        self, burst: int = 10, period_s: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self._burst = burst
        self._period_s = period_s
        self._clock = clock
        self._windows: dict[tuple[str, str], tuple[float, int, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg))
        now = self._clock()
        start, passed, suppressed = self._windows.get(key, (now, 0, 0))
        if now - start >= self._period_s:
            start, passed = now, 0
        if passed >= self._burst:
            self._windows[key] = (start, passed, suppressed + 1)
            return False
        if suppressed:
            record.msg = f"{record.msg} ({suppressed} similar lines suppressed before this)"
        self._windows[key] = (start, passed + 1, 0)
        return True


def configure(level: str, log_format: str = "text") -> None:
    """Set up the root logger once, for the command line."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter())
    handler.addFilter(RateLimit())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
