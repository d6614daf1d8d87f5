"""RFC 3339 timestamps to integer nanoseconds since the epoch.

Kubernetes writes second-precision times (``2026-11-24T16:34:08Z``) for most fields and
microsecond MicroTime for ``eventTime``; both become int nanoseconds, the unit OTLP uses.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache


@lru_cache(maxsize=8192)
def parse_time_ns(text: str) -> int:
    """Parse an RFC 3339 time; raises ValueError with the text when it is not one."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not an RFC 3339 time: {text!r}") from None
    if moment.tzinfo is None:
        raise ValueError(f"time without a zone: {text!r}")
    seconds = int(moment.timestamp())
    return seconds * 1_000_000_000 + moment.microsecond * 1_000


def format_time_ns(value: int) -> str:
    """Inverse of parse_time_ns, for messages and console output (UTC, ms precision)."""
    from datetime import UTC

    moment = datetime.fromtimestamp(value / 1e9, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
