"""A map whose entries expire a fixed time after they were set, on the graph's clock.

Why this exists: the graph remembers where recent causes were placed (a node's problem, each
container's latest run, the first span of an Event's repeats) and the Pods each controller lost,
for the link horizon: an entry for nearly every container started in the last hour. A
``cachetools.TTLCache`` paid about 270 bytes an entry for its bookkeeping (a link object, an
ordered dict and a dict beside the data); here an entry is its dict slot, a pair (value, expiry)
and two deque slots in the order entries were set, about 150 bytes.

Expiry is the replaced cache's, to the float: an entry is there while the clock (a callable
returning seconds) is before the time it was set plus the ttl. Beyond ``max_size`` the entry
set first goes first (the cache let the least recently read go: the same unless an entry was
read long after it was set; the bound is for 100,000 entries within the hour).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

_SLACK = 1024  # records beyond two an entry before they are compacted


class ExpiringMap(Generic[K, V]):
    """key -> value, each entry for ``ttl_s`` of ``clock`` after it was last set."""

    def __init__(self, max_size: int, ttl_s: float, clock: Callable[[], float]) -> None:
        self._max_size = max_size
        self._ttl_s = ttl_s
        self._clock = clock
        self._entries: dict[K, tuple[V, float]] = {}
        # Every set, in order (so by expiry: the clock never goes back, the ttl is one):
        # (expiry, key) side by side. A key set again has an older record left behind, which
        # the sweep passes over (its entry's expiry is no longer that one).
        self._expiries: deque[float] = deque()
        self._keys: deque[K] = deque()

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None or not self._clock() < entry[1]:
            return None
        return entry[0]

    def __contains__(self, key: K) -> bool:
        entry = self._entries.get(key)
        return entry is not None and self._clock() < entry[1]

    def __setitem__(self, key: K, value: V) -> None:
        now = self._clock()
        self._sweep(now)
        entries = self._entries
        if key not in entries:
            while len(entries) >= self._max_size:
                self._drop_first()
        expiry = now + self._ttl_s
        entries[key] = (value, expiry)
        self._expiries.append(expiry)
        self._keys.append(key)
        if len(self._keys) > 2 * len(entries) + _SLACK:
            self._compact()

    def __len__(self) -> int:
        self._sweep(self._clock())
        return len(self._entries)

    def _sweep(self, now: float) -> None:
        """Drop the entries expired at now (and the records of earlier sets passed by)."""
        expiries, keys, entries = self._expiries, self._keys, self._entries
        while expiries and not now < expiries[0]:
            expiry = expiries.popleft()
            key = keys.popleft()
            entry = entries.get(key)
            if entry is not None and entry[1] == expiry:
                del entries[key]

    def _compact(self) -> None:
        """One record an entry again: keys set again and again within the ttl (a container
        restarting every few seconds) would otherwise leave a record each time."""
        by_expiry = sorted(self._entries.items(), key=lambda item: item[1][1])
        self._expiries = deque(entry[1] for _, entry in by_expiry)
        self._keys = deque(key for key, _ in by_expiry)

    def _drop_first(self) -> None:
        """Drop the live entry set first (records of earlier sets are passed by)."""
        expiries, keys, entries = self._expiries, self._keys, self._entries
        while expiries:
            expiry = expiries.popleft()
            key = keys.popleft()
            entry = entries.get(key)
            if entry is not None and entry[1] == expiry:
                del entries[key]
                return
