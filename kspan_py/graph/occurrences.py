"""Which event occurrences were seen lately: a packed hash set of span ids with their expiry.

Why this exists: the graph must drop a repeat of an occurrence it already took (a re-list, an
overlapping capture) for as long as the occurrence can matter (the link horizon and two
windows of event time). That is every occurrence of the last hour: on a busy cluster hundreds
of thousands, more than anything else the graph holds. A cache of Python objects paid about
300 bytes for each (a key tuple, its uid string, the cache's links); here an occurrence is its
span id (the occurrence's identity in the output already: two occurrences with one span id
would be one span) and its expiry, 16 bytes in two arrays, open addressing with linear probing.

Each entry also holds where the occurrence was placed once it is linked (its trace, and the span
it lives in: its own, or the span of repeats it was folded into), 24 bytes more: a repeat of an
Event joins the place of the occurrence before it, and a link names a trace as well as a span.

Expiry follows the cache it replaces: an entry lives ``ttl_ns`` of event time after it was last
set; an expired entry is absent at once and its slot is reclaimed when the table is rebuilt.

The table is sized to what it holds, not to a power of two (a slot is the span id modulo the
capacity): rebuilt at three quarters full to twice what is alive, it holds 1.3 to 2 slots an
occurrence. Rounded up to powers of two it held up to 4, and was the largest thing in a large
replay's memory (22 of 68 MB at 157,000 occurrences; ``make bench``).
"""

from __future__ import annotations

from array import array

_EMPTY = 0  # span ids are never 0 (an all-zero id is invalid in OTLP; see spans.ids)
_MIN_CAPACITY = 1 << 10


class SeenOccurrences:
    """Span ids of occurrences set within ``ttl_ns`` of event time; at most ``max_size``."""

    def __init__(self, ttl_ns: int, max_size: int) -> None:
        self._ttl_ns = ttl_ns
        self._max_size = max_size
        self._allocate(_MIN_CAPACITY)

    def _allocate(self, capacity: int) -> None:
        self._ids = _zeros("Q", capacity)
        self._expiry = _zeros("q", capacity)
        self._trace_high = _zeros("Q", capacity)
        self._trace_low = _zeros("Q", capacity)
        self._placed_span = _zeros("Q", capacity)
        self._capacity = capacity
        self._used = 0  # slots holding an id, expired or not

    def __len__(self) -> int:
        return self._used

    @property
    def slots(self) -> int:
        """The table's capacity: what its memory is (40 bytes a slot)."""
        return self._capacity

    def _slot(self, span_id: int) -> int:
        """The slot holding span_id, or the empty slot where it would go."""
        ids, capacity = self._ids, self._capacity
        slot = span_id % capacity
        while True:
            found = ids[slot]
            if found in (span_id, _EMPTY):
                return slot
            slot += 1
            if slot == capacity:
                slot = 0

    def alive(self, span_id: int, now_ns: int) -> bool:
        slot = self._slot(span_id)
        return self._ids[slot] == span_id and self._expiry[slot] >= now_ns

    def placement(self, span_id: int, now_ns: int) -> tuple[int, int] | None:
        """(trace id, span) where a live occurrence was placed, if it is linked."""
        slot = self._slot(span_id)
        if self._ids[slot] != span_id or self._expiry[slot] < now_ns:
            return None
        placed = self._placed_span[slot]
        if not placed:
            return None
        return (self._trace_high[slot] << 64) | self._trace_low[slot], placed

    def set(self, span_id: int, now_ns: int, trace_id: int = 0, placed_span: int = 0) -> None:
        """Remember span_id (again) until now_ns + ttl; with placed_span, where it was placed
        (read back by ``placement``)."""
        slot = self._slot(span_id)
        self._expiry[slot] = now_ns + self._ttl_ns
        if self._ids[slot] == _EMPTY:
            self._ids[slot] = span_id
            self._placed_span[slot] = 0
            self._used += 1
        if placed_span:
            self._trace_high[slot] = trace_id >> 64
            self._trace_low[slot] = trace_id & 0xFFFF_FFFF_FFFF_FFFF
            self._placed_span[slot] = placed_span
        if 4 * self._used > 3 * self._capacity:
            self._rebuild(now_ns)

    def _rebuild(self, now_ns: int) -> None:
        """Drop expired entries (and the oldest beyond max_size); the load is then a half (at
        most three quarters before the next rebuild).

        The new table is made one array at a time, each old one let go once its successor is
        filled: the table's memory then peaks at about its new size, not at old and new
        together (the rebuild was the moment of a large replay's peak, ``make bench``)."""
        old_ids, old_expiry = self._ids, self._expiry
        live = sum(
            1
            for span_id, expiry in zip(old_ids, old_expiry, strict=True)
            if span_id != _EMPTY and expiry >= now_ns
        )
        oldest_kept = now_ns
        if live > self._max_size:  # rare: more occurrences within the ttl than allowed
            kept = sorted(e for i, e in zip(old_ids, old_expiry, strict=True) if i != _EMPTY)
            oldest_kept = kept[-self._max_size]
        capacity = max(_MIN_CAPACITY, 2 * min(live, self._max_size))
        ids = _zeros("Q", capacity)
        moved_from, moved_to = array("q"), array("q")  # where each kept entry goes
        for old_slot, (span_id, expiry) in enumerate(zip(old_ids, old_expiry, strict=True)):
            if span_id == _EMPTY or expiry < oldest_kept:
                continue
            slot = span_id % capacity
            while ids[slot] != _EMPTY:
                slot = slot + 1 if slot + 1 < capacity else 0
            ids[slot] = span_id
            moved_from.append(old_slot)
            moved_to.append(slot)
        del old_ids, old_expiry
        self._ids, self._capacity, self._used = ids, capacity, len(moved_to)
        self._expiry = _moved(self._expiry, "q", capacity, moved_from, moved_to)
        self._trace_high = _moved(self._trace_high, "Q", capacity, moved_from, moved_to)
        self._trace_low = _moved(self._trace_low, "Q", capacity, moved_from, moved_to)
        self._placed_span = _moved(self._placed_span, "Q", capacity, moved_from, moved_to)


def _zeros(typecode: str, length: int) -> array[int]:
    """An array of length zeros, made without a temporary of its size (``bytes(n)`` is one)."""
    return array(typecode, (0,)) * length


def _moved(
    old: array[int], typecode: str, capacity: int, moved_from: array[int], moved_to: array[int]
) -> array[int]:
    new = _zeros(typecode, capacity)
    for old_slot, slot in zip(moved_from, moved_to, strict=True):
        new[slot] = old[old_slot]
    return new
