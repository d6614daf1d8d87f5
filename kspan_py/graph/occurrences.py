"""Which event occurrences were seen lately: a packed hash set of span ids with their expiry.

Why this exists: the graph must drop a repeat of an occurrence it already took (a re-list, an
overlapping capture) for as long as the occurrence can matter (the link horizon and two
windows of event time). That is every occurrence of the last hour: on a busy cluster hundreds
of thousands, more than anything else the graph holds. A cache of Python objects paid about
300 bytes for each (a key tuple, its uid string, the cache's links); here an occurrence is its
span id (the occurrence's identity in the output already: two occurrences with one span id
would be one span) and its expiry, 16 bytes in two arrays, open addressing with linear probing.

Each entry also holds where the occurrence was placed once it is linked (its trace, and the span
it lives in: its own, or the span of repeats it was folded into), 12 bytes more: a repeat of an
Event joins the place of the occurrence before it, and a link names a trace as well as a span.
Traces are far fewer than occurrences (a rollout's hundreds of occurrences share one), so a
trace id (16 bytes) is kept once, in a packed table of its own, and an entry holds its slot there
(4 bytes): 28 bytes a slot instead of 40. The trace table is compacted with the occurrences, and
is never smaller than an eighth of their table, so that new traces rebuild it rarely. Where every
occurrence is a trace of its own it costs about what a trace id in every slot did.

Expiry follows the cache it replaces: an entry lives ``ttl_ns`` of event time after it was last
set; an expired entry is absent at once and its slot is reclaimed when the table is rebuilt.

The table is sized to what it holds, not to a power of two (a slot is the span id modulo the
capacity): rebuilt at three quarters full to twice what is alive, it holds 1.3 to 2 slots an
occurrence. Rounded up to powers of two it held up to 4, and was the largest thing in a large
replay's memory (22 of 68 MB at 157,000 occurrences; ``make bench``).
"""

from __future__ import annotations

from array import array

_EMPTY = 0  # span ids are never 0 (an all-zero id is invalid in OTLP; see spans.ids), nor traces
_MIN_CAPACITY = 1 << 10
_MIN_TRACE_CAPACITY = 1 << 7
_LOW_64 = 0xFFFF_FFFF_FFFF_FFFF


class SeenOccurrences:
    """Span ids of occurrences set within ``ttl_ns`` of event time; at most ``max_size``."""

    def __init__(self, ttl_ns: int, max_size: int) -> None:
        self._ttl_ns = ttl_ns
        self._max_size = max_size
        self._ids = _zeros("Q", _MIN_CAPACITY)
        self._expiry = _zeros("q", _MIN_CAPACITY)
        self._trace_slot = _zeros("I", _MIN_CAPACITY)  # where its trace is in the trace table
        self._placed_span = _zeros("Q", _MIN_CAPACITY)
        self._capacity = _MIN_CAPACITY
        self._used = 0  # slots holding an id, expired or not
        self._new_trace_table(_MIN_TRACE_CAPACITY)

    def _new_trace_table(self, capacity: int) -> None:
        self._trace_high = _zeros("Q", capacity)
        self._trace_low = _zeros("Q", capacity)
        self._trace_capacity = capacity
        self._traces_used = 0

    def __len__(self) -> int:
        return self._used

    @property
    def slots(self) -> int:
        """The table's capacity: what its memory is (28 bytes a slot, and the trace table)."""
        return self._capacity

    @property
    def trace_slots(self) -> int:
        """The trace table's capacity (16 bytes a slot)."""
        return self._trace_capacity

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
        trace = self._trace_slot[slot]
        return (self._trace_high[trace] << 64) | self._trace_low[trace], placed

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
            self._trace_slot[slot] = self._trace_at(trace_id >> 64, trace_id & _LOW_64)
            self._placed_span[slot] = placed_span
        if 4 * self._used > 3 * self._capacity or 4 * self._traces_used > 3 * self._trace_capacity:
            self._rebuild(now_ns)

    def _trace_at(self, high: int, low: int) -> int:
        """The trace table's slot holding the trace (high, low), put there if new."""
        highs, lows, capacity = self._trace_high, self._trace_low, self._trace_capacity
        slot = low % capacity
        while True:
            found_low, found_high = lows[slot], highs[slot]
            if found_low == low and found_high == high:
                return slot
            if found_low == _EMPTY and found_high == _EMPTY:
                highs[slot], lows[slot] = high, low
                self._traces_used += 1
                return slot
            slot += 1
            if slot == capacity:
                slot = 0

    def _rebuild(self, now_ns: int) -> None:
        """Drop expired entries (and the oldest beyond max_size), and the traces no entry left
        names; the load is then a half (at most three quarters before the next rebuild).

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
        self._placed_span = _moved(self._placed_span, "Q", capacity, moved_from, moved_to)
        self._trace_slot = self._traces_compacted(moved_from, moved_to)

    def _traces_compacted(self, moved_from: array[int], moved_to: array[int]) -> array[int]:
        """A new trace table holding the traces of the placed entries kept; their new slots
        there, by their new slot in the table (``_placed_span`` already moved)."""
        old_slots, placed = self._trace_slot, self._placed_span
        old_high, old_low = self._trace_high, self._trace_low
        named = _zeros("b", self._trace_capacity)  # old trace slots still named
        for old_slot, slot in zip(moved_from, moved_to, strict=True):
            if placed[slot]:
                named[old_slots[old_slot]] = 1
        traces = sum(named)
        self._new_trace_table(max(_MIN_TRACE_CAPACITY, 2 * traces, self._capacity // 8))
        renamed = array("l", named)  # old trace slot -> new
        for old_trace, is_named in enumerate(named):
            if is_named:
                renamed[old_trace] = self._trace_at(old_high[old_trace], old_low[old_trace])
        del named, old_high, old_low
        new_slots = _zeros("I", self._capacity)
        for old_slot, slot in zip(moved_from, moved_to, strict=True):
            if placed[slot]:
                new_slots[slot] = renamed[old_slots[old_slot]]
        return new_slots


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
