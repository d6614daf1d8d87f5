"""Where recent causes were placed, by name, for the hour: the graph's span-link anchors.

Why this exists: a node's latest problem, each container's latest run and each Event's first
occurrence in its trace are looked up by a key (``node:NAME``, ``run:POD/CONTAINER``...) for the
link horizon, as (trace id, span id, event time). There is one for every container that ran in
the last hour. A cachetools TTLCache took about 370 bytes an anchor, its bookkeeping more than
the anchor (a link object, its expiry as a float, an ordered dict's entry and a second dict's);
here an entry is its value with the time it was set, in one dict, and two deques (times set,
keys) say what to look at for expiry: about 230 bytes (tests/test_anchors.py).

Expiry is the cache's, to the float: an entry is there while the clock (event time in seconds,
``now_ns / 1e9``) is before the clock it was set at plus the ttl. Expired entries are let go as
later ones are put. Beyond ``max_size`` the entries set longest ago go first (the cache let the
least recently read go: they differ only past 100,000 live anchors, a cluster running that many
containers an hour).
"""

from __future__ import annotations

from collections import deque

Anchor = tuple[int, int, int]
"""(trace id, span id, event time) of the occurrence a key names."""


class Anchors:
    """key -> Anchor, each kept ``ttl_s`` of the clock after it was last set."""

    def __init__(self, ttl_s: float, max_size: int) -> None:
        self._ttl_s = ttl_s
        self._max_size = max_size
        # key -> (trace id, span id, event time, event time when set); the last is most often
        # the graph's watermark object itself, shared by every entry set at that moment.
        self._entries: dict[str, tuple[int, int, int, int]] = {}
        self._set_times: deque[int] = deque()  # when each put was made, oldest first
        self._set_keys: deque[str] = deque()  # and its key (a key put again is here again)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str, now_ns: int) -> Anchor | None:
        entry = self._entries.get(key)
        if entry is None or not now_ns / 1e9 < entry[3] / 1e9 + self._ttl_s:
            return None
        return entry[:3]

    def put(self, key: str, anchor: Anchor, now_ns: int) -> None:
        self._let_go(now_ns, room=key not in self._entries)  # (a key set again takes no room)
        self._entries[key] = (*anchor, now_ns)
        self._set_times.append(now_ns)
        self._set_keys.append(key)
        if len(self._set_times) > 2 * self._max_size:
            self._compact()

    def _let_go(self, now_ns: int, *, room: bool) -> None:
        """Drops the entries expired at now_ns, and (room: for one more) the oldest beyond
        max_size."""
        times, keys, entries = self._set_times, self._set_keys, self._entries
        clock, ttl_s, bound = now_ns / 1e9, self._ttl_s, self._max_size - room
        while times and (not clock < times[0] / 1e9 + ttl_s or len(entries) > bound):
            set_ns, key = times.popleft(), keys.popleft()
            entry = entries.get(key)
            if entry is not None and entry[3] == set_ns:  # not set again since
                del entries[key]

    def _compact(self) -> None:
        """The queues again with one record an entry (a key put over and over, as a node's
        problem repeating for the hour, left a record at each put)."""
        kept = sorted(self._entries.items(), key=lambda item: item[1][3])
        self._set_times = deque(entry[3] for _, entry in kept)
        self._set_keys = deque(key for key, _ in kept)
