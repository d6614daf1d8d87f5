"""Held spans already exported: where each one was, for what is linked under it later.

Why this exists: a change's root and each Pod's life are held until their change goes quiet,
then exported; what is linked under them afterwards must still start no earlier than they did,
and must know whether they were a Pod's life (it then hangs under the act that created the Pod,
linked to the life). The graph keeps that for the link horizon: one entry for every Pod created
in the last hour. A TTLCache of tuples paid about 350 bytes an entry (its link object, ordered
dict and two dicts, a tuple of three ints); here an entry is six numbers in packed arrays
(span id, start, end, parent, expiry, when it was last used), 48 bytes a slot, open addressing
with linear probing like ``occurrences.py``: 1.3 to 2 slots an entry.

Expiry is the replaced cache's, to the float: an entry is there while the clock (event time, in
seconds) is before the time it was set plus the ttl. Beyond ``max_size`` the entries least
recently put or read go first, nearly as the cache's did (a crash-looping Pod's life is read at
each new run under it, and stays). Nearly: they go when the table is rebuilt, not one at each
put, so it holds up to half as many again in the meantime, and an entry read in that time
(which the cache would have let go already) counts as used; entries last used at the same
moment go in slot order. Below the bound (a cluster creating 100,000 Pods an hour) it answers
as the cache did, read for read (checked against cachetools' TTLCache on one clock).
"""

from __future__ import annotations

from array import array

from kspan_py.graph.occurrences import packed_slot, zeros

_EMPTY = 0  # span ids are never 0 (an all-zero id is invalid in OTLP; see spans.ids)
_MIN_CAPACITY = 1 << 8


class ExportedHeld:
    """span id -> (start, end, parent) of held spans exported within ``ttl_s`` of the clock."""

    def __init__(self, ttl_s: float, max_size: int) -> None:
        self._ttl_s = ttl_s
        self._max_size = max_size
        self._allocate(_MIN_CAPACITY)

    def _allocate(self, capacity: int) -> None:
        self._ids = zeros("Q", capacity)
        self._start = zeros("q", capacity)
        self._end = zeros("q", capacity)
        self._parent = zeros("Q", capacity)  # 0: none
        self._expires = array("d", (0.0,)) * capacity
        self._used_at = array("d", (0.0,)) * capacity  # the clock when last put or read
        self._capacity = capacity
        self._used = 0

    def __len__(self) -> int:
        return self._used

    def _slot(self, span_id: int) -> int:
        return packed_slot(self._ids, self._capacity, span_id)

    def has(self, span_id: int, now_s: float) -> bool:
        slot = self._slot(span_id)
        return self._ids[slot] == span_id and now_s < self._expires[slot]

    def get(self, span_id: int, now_s: float) -> tuple[int, int, int | None] | None:
        """(start, end, parent) of the exported held span, if it is still remembered."""
        slot = self._slot(span_id)
        if self._ids[slot] != span_id or not now_s < self._expires[slot]:
            return None
        self._used_at[slot] = now_s
        return self._start[slot], self._end[slot], self._parent[slot] or None

    def put(
        self, span_id: int, start_ns: int, end_ns: int, parent: int | None, now_s: float
    ) -> None:
        slot = self._slot(span_id)
        if self._ids[slot] == _EMPTY:
            self._ids[slot] = span_id
            self._used += 1
        self._start[slot], self._end[slot] = start_ns, end_ns
        self._parent[slot] = parent or 0
        self._expires[slot] = now_s + self._ttl_s
        self._used_at[slot] = now_s
        if 4 * self._used > 3 * self._capacity:
            self._rebuild(now_s)

    def _rebuild(self, now_s: float) -> None:
        """Drop what expired (and the least recently used beyond max_size); the load is then a
        half."""
        old_ids, old_start, old_end = self._ids, self._start, self._end
        old_parent, old_expires, old_used_at = self._parent, self._expires, self._used_at
        kept = [
            slot
            for slot, span_id in enumerate(old_ids)
            if span_id != _EMPTY and now_s < old_expires[slot]
        ]
        if len(kept) > self._max_size:  # rare: more held spans within the ttl than allowed
            kept = sorted(kept, key=old_used_at.__getitem__)[-self._max_size :]
        self._allocate(max(_MIN_CAPACITY, 2 * len(kept)))
        ids, capacity = self._ids, self._capacity
        start, end, parent, expires = self._start, self._end, self._parent, self._expires
        used_at = self._used_at
        for old_slot in kept:
            span_id = old_ids[old_slot]
            slot = packed_slot(ids, capacity, span_id)  # (each id once: an empty slot)
            ids[slot] = span_id
            start[slot], end[slot] = old_start[old_slot], old_end[old_slot]
            parent[slot], expires[slot] = old_parent[old_slot], old_expires[old_slot]
            used_at[slot] = old_used_at[old_slot]
        self._used = len(kept)
