"""Logging set-up: readable lines on a terminal, JSON lines for a cluster's log pipeline.

Also a rate limit: a watch that drops every few seconds, or a collector that is down, would
otherwise write the same warning thousands of times. Each message template gets a burst of
lines per minute; past it the lines are counted, and the next line let through says how many
like it were suppressed. Nothing is silently lost: the counts are also in the metrics.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable

FORMATS = ("text", "json")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (and the exception, if any)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
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
        handler.setFormatter(logging.Formatter("kspan-py: %(levelname)s: %(message)s"))
    handler.addFilter(RateLimit())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
