"""RFC 3339 timestamps to integer nanoseconds since the epoch, within the range spans can carry.

Kubernetes writes second-precision times (``2026-11-24T16:34:08Z``) for most fields and
microsecond MicroTime for ``eventTime``; both become int nanoseconds, the unit OTLP uses.

Anyone who may create Events writes their times, so a time is also checked against the range
kspan-py can carry, ``EARLIEST_NS`` to ``LATEST_NS`` (1970-01-01 up to, not including,
2100-01-01, UTC). Below it, OTLP's unsigned fixed64 nanoseconds cannot hold the time (an
encoder refuses the whole request that holds one). Above it, the graph's and the checkpoint's
int64 arrays overflow from 2262 on, event time is "forever" from 2116 on (2**62 ns: a span
ending then is never flushed), and windows, TTLs and durations are added to times: 2100 keeps
sixteen years of headroom below the first of those limits and is later than any clock a real
cluster has. A time outside the range is a ValueError that names it, like any other bad time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

EARLIEST_NS = 0
"""1970-01-01T00:00:00Z: OTLP's times are unsigned nanoseconds since the epoch."""
LATEST_NS = int(datetime(2100, 1, 1, tzinfo=UTC).timestamp()) * 1_000_000_000
"""2100-01-01T00:00:00Z, excluded: far below 2**62 ns (2116) and int64 ns (2262)."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_QUOTED_CHARACTERS = 40  # a hostile "time" can be megabytes: an error quotes its start


# Times repeat: every update of an object repeats its creation and conditions' times, and a
# second's Events share theirs. 2,048 recent texts miss as often as 8,192 did on the spread,
# burst and dump captures of ``make bench`` (20,562 misses in 998,000 parses, against 20,553),
# for about 1.3 MB less in the process that parses (an entry is about 220 bytes).
@lru_cache(maxsize=2048)
def parse_time_ns(text: str) -> int:
    """Parse an RFC 3339 time; raises ValueError with the text when it is not one, or when it is
    outside EARLIEST_NS..LATEST_NS."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not an RFC 3339 time: {_quoted(text)}") from None
    if moment.tzinfo is None:
        raise ValueError(f"time without a zone: {_quoted(text)}")
    since = moment - _EPOCH  # exact (a float timestamp rounds), and defined for any year
    value = (since.days * 86_400 + since.seconds) * 1_000_000_000 + since.microseconds * 1_000
    if not EARLIEST_NS <= value < LATEST_NS:
        raise ValueError(f"time out of range (1970 to 2099): {_quoted(text)}")
    return value


def _quoted(text: str) -> str:
    if len(text) <= _QUOTED_CHARACTERS:
        return repr(text)
    return f"{text[:_QUOTED_CHARACTERS]!r}... ({len(text)} characters)"


def format_time_ns(value: int) -> str:
    """Inverse of parse_time_ns, for messages and console output (UTC, ms precision)."""
    moment = datetime.fromtimestamp(value / 1e9, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
