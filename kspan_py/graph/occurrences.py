"""Which event occurrences were seen lately: a packed hash set of span ids with their expiry.

Why this exists: the graph must drop a repeat of an occurrence it already took (a re-list, an
overlapping capture) for as long as the occurrence can matter (the link horizon and two
windows of event time). That is every occurrence of the last hour: on a busy cluster hundreds
of thousands, more than anything else the graph holds. A cache of Python objects paid about
300 bytes for each (a key tuple, its uid string, the cache's links); here an occurrence is its
span id (the occurrence's identity in the output already: two occurrences with one span id
would be one span) and its expiry, 16 bytes in two arrays, open addressing with linear probing.

Each entry also says where the occurrence was placed once it is linked (its trace, and the span
it lives in), 4 bytes more: a repeat of an Event joins the place of the occurrence before it,
and a link names a trace as well as a span. Traces are far fewer than occurrences (a rollout's
hundreds of occurrences share one), so a trace id (16 bytes) is kept once, in a packed table of
its own, and an entry holds its slot there. The span is nearly always the occurrence's own; a
repeat folded into a span of repeats has that span's id in a second small table, keyed by its
own. So an entry is 20 bytes a slot, where a trace id and a span id in every slot made it 40.
Both small tables are compacted with the occurrences, and are never smaller than a 64th of
their table, so that new entries in them rebuild it rarely (an eighth, as they were, was 1.2 MB
of empty slots at the end of the 1,000-Deployment spread replay: 1,613 traces and no folded
repeat in 37,485 slots each; ``make bench``). Where every occurrence is a trace of its own, or a
folded repeat, it costs about what the 40 bytes did.

Expiry follows the cache it replaces: an entry lives ``ttl_ns`` of event time after it was last
set; an expired entry is absent at once (set again, it is new, its old placement gone) and its
slot is reclaimed when the table is rebuilt. Beyond ``max_size`` live entries (2,000,000 in the
graph) the ones expiring first are dropped, exactly down to ``max_size``, at each rebuild: the
main table's, or either small table's (which the cache did not have), so the bound holds more
closely than the cache's did.

The table is sized to what it holds, not to a power of two (a slot is the span id modulo the
capacity): rebuilt at three quarters full to twice what is alive, it holds 1.3 to 2 slots an
occurrence. Rounded up to powers of two it held up to 4, and was the largest thing in a large
replay's memory (22 of 68 MB at 157,000 occurrences; ``make bench``).
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from itertools import compress, count, repeat
from operator import ge

_EMPTY = 0  # span ids are never 0 (an all-zero id is invalid in OTLP; see spans.ids), nor traces
_MIN_CAPACITY = 1 << 10
_MIN_SIDE_CAPACITY = 1 << 7
_LOW_64 = 0xFFFF_FFFF_FFFF_FFFF
# An entry's place: 0 while it is not linked, else its trace's slot + 1, with _FOLDED when the
# span it lives in is not its own (that span is then in the folded table).
_FOLDED = 1 << 31
_TRACE = _FOLDED - 1


class SeenOccurrences:
    """Span ids of occurrences set within ``ttl_ns`` of event time; at most ``max_size``."""

    def __init__(self, ttl_ns: int, max_size: int) -> None:
        self._ttl_ns = ttl_ns
        self._max_size = max_size
        self._ids = zeros("Q", _MIN_CAPACITY)
        self._expiry = zeros("q", _MIN_CAPACITY)
        self._place = zeros("I", _MIN_CAPACITY)
        self._capacity = _MIN_CAPACITY
        self._used = 0  # slots holding an id, expired or not
        self._new_trace_table(_MIN_SIDE_CAPACITY)
        self._new_folded_table(_MIN_SIDE_CAPACITY)

    def _new_trace_table(self, capacity: int) -> None:
        self._trace_high = zeros("Q", capacity)
        self._trace_low = zeros("Q", capacity)
        self._trace_capacity = capacity
        self._traces_used = 0
        self._last_trace = self._last_trace_place = 0  # the trace set last, and its place

    def _new_folded_table(self, capacity: int) -> None:
        self._folded_ids = zeros("Q", capacity)
        self._folded_into = zeros("Q", capacity)
        self._folded_capacity = capacity
        self._folded_used = 0

    def __len__(self) -> int:
        return self._used

    @property
    def slots(self) -> int:
        """The table's capacity: what its memory is (20 bytes a slot, and the small tables)."""
        return self._capacity

    @property
    def trace_slots(self) -> int:
        """The trace table's capacity (16 bytes a slot)."""
        return self._trace_capacity

    @property
    def folded_slots(self) -> int:
        """The folded table's capacity (16 bytes a slot)."""
        return self._folded_capacity

    def _slot(self, span_id: int) -> int:
        return packed_slot(self._ids, self._capacity, span_id)

    def alive(self, span_id: int, now_ns: int) -> bool:
        ids = self._ids
        slot = packed_slot(ids, self._capacity, span_id)
        return ids[slot] == span_id and self._expiry[slot] >= now_ns

    def placement(self, span_id: int, now_ns: int) -> tuple[int, int] | None:
        """(trace id, span) where a live occurrence was placed, if it is linked."""
        slot = self._slot(span_id)
        if self._ids[slot] != span_id or self._expiry[slot] < now_ns:
            return None
        place = self._place[slot]
        if not place:
            return None
        trace = (place & _TRACE) - 1
        trace_id = (self._trace_high[trace] << 64) | self._trace_low[trace]
        if place & _FOLDED:
            return trace_id, self._folded_into[self._folded_slot(span_id)]
        return trace_id, span_id

    def set(self, span_id: int, now_ns: int, trace_id: int = 0, placed_span: int = 0) -> None:
        """Remember span_id (again) until now_ns + ttl; with placed_span, where it was placed
        (read back by ``placement``)."""
        ids = self._ids
        slot = packed_slot(ids, self._capacity, span_id)
        if ids[slot] == _EMPTY:
            ids[slot] = span_id
            self._place[slot] = 0
            self._used += 1
        elif self._expiry[slot] < now_ns:
            # Expired, its slot not yet reclaimed: seen anew, not where it was placed before
            # (else what is read back would hang on when the table was last rebuilt).
            self._place[slot] = 0
        self._expiry[slot] = now_ns + self._ttl_ns
        if placed_span:
            if trace_id == self._last_trace:  # a trace's occurrences are placed in runs
                place = self._last_trace_place
            else:
                place = self._trace_at(trace_id >> 64, trace_id & _LOW_64) + 1
                self._last_trace, self._last_trace_place = trace_id, place
            if placed_span != span_id:
                folded = self._folded_slot(span_id)
                if self._folded_ids[folded] == _EMPTY:
                    self._folded_ids[folded] = span_id
                    self._folded_used += 1
                self._folded_into[folded] = placed_span
                place |= _FOLDED
            self._place[slot] = place
        if (
            4 * self._used > 3 * self._capacity
            or 4 * self._traces_used > 3 * self._trace_capacity
            or 4 * self._folded_used > 3 * self._folded_capacity
        ):
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

    def _folded_slot(self, span_id: int) -> int:
        return packed_slot(self._folded_ids, self._folded_capacity, span_id)

    def _rebuild(self, now_ns: int) -> None:
        """Drop expired entries (and the oldest beyond max_size), the traces no entry left
        names and the folded spans of entries dropped; the load is then a half (at most three
        quarters before the next rebuild).

        The new table is made one array at a time, each old one let go once its successor is
        filled: the table's memory then peaks at about its new size, not at old and new
        together (the rebuild was the moment of a large replay's peak, ``make bench``)."""
        old_ids, old_expiry = self._ids, self._expiry
        # An empty slot's expiry is 0 and a live entry's at least 1 (now_ns + ttl): counted
        # in C, not by a loop here (the rebuilds were a third of the table's cost).
        alive_from = max(now_ns, 1)
        live = sum(map(ge, old_expiry, repeat(alive_from)))
        oldest_kept = now_ns
        at_oldest = -1  # how many expiring at oldest_kept may stay (-1: all)
        if live > self._max_size:  # rare: more occurrences within the ttl than allowed
            kept = sorted(e for i, e in zip(old_ids, old_expiry, strict=True) if i != _EMPTY)
            oldest_kept = kept[-self._max_size]
            # Exactly max_size stay: of those expiring at the cut, only as many as fit.
            at_oldest = self._max_size - (len(kept) - bisect_right(kept, oldest_kept))
            del kept
        capacity = max(_MIN_CAPACITY, 2 * min(live, self._max_size))
        ids = zeros("Q", capacity)
        moved_from, moved_to = array("I"), array("I")  # where each kept entry goes
        kept_slots = compress(count(), map(ge, old_expiry, repeat(max(oldest_kept, 1))))
        for old_slot in kept_slots:
            if at_oldest >= 0 and old_expiry[old_slot] == oldest_kept:
                if at_oldest == 0:
                    continue
                at_oldest -= 1
            span_id = old_ids[old_slot]
            slot = packed_slot(ids, capacity, span_id)  # (each id once: an empty slot)
            ids[slot] = span_id
            moved_from.append(old_slot)
            moved_to.append(slot)
        del old_ids, old_expiry
        self._ids, self._capacity, self._used = ids, capacity, len(moved_to)
        self._expiry = _moved(self._expiry, "q", capacity, moved_from, moved_to)
        self._place = self._places_compacted(moved_from, moved_to)

    def _places_compacted(self, moved_from: array[int], moved_to: array[int]) -> array[int]:
        """New trace and folded tables holding what the entries kept name; the entries' new
        places, by their new slot (``_ids`` already moved)."""
        old_places, ids = self._place, self._ids
        old_high, old_low = self._trace_high, self._trace_low
        named = zeros("b", self._trace_capacity)  # old trace slots still named
        folded_ids, folded_into = array("Q"), array("Q")
        for old_slot, slot in zip(moved_from, moved_to, strict=True):
            place = old_places[old_slot]
            if place:
                named[(place & _TRACE) - 1] = 1
                if place & _FOLDED:
                    span_id = ids[slot]
                    folded_ids.append(span_id)
                    folded_into.append(self._folded_into[self._folded_slot(span_id)])
        side_minimum = max(_MIN_SIDE_CAPACITY, self._capacity // 64)
        self._new_trace_table(max(side_minimum, 2 * sum(named)))
        renamed = array("I", named)  # old trace slot -> new
        for old_trace, is_named in enumerate(named):
            if is_named:
                renamed[old_trace] = self._trace_at(old_high[old_trace], old_low[old_trace])
        del named, old_high, old_low
        self._new_folded_table(max(side_minimum, 2 * len(folded_ids)))
        for span_id, into in zip(folded_ids, folded_into, strict=True):
            folded = self._folded_slot(span_id)
            self._folded_ids[folded], self._folded_into[folded] = span_id, into
        self._folded_used = len(folded_ids)
        del folded_ids, folded_into
        places = zeros("I", self._capacity)
        for old_slot, slot in zip(moved_from, moved_to, strict=True):
            place = old_places[old_slot]
            if place:
                places[slot] = (renamed[(place & _TRACE) - 1] + 1) | (place & _FOLDED)
        return places


def packed_slot(ids: array[int], capacity: int, span_id: int) -> int:
    """The slot of an open-addressed table of span ids (linear probing, 0 for empty) holding
    span_id, or the empty slot where it would go."""
    slot = span_id % capacity
    found = ids[slot]
    # `found` is false at an empty slot (_EMPTY is 0): cheaper than `not in (span_id, 0)`,
    # which made a tuple at every probe.
    while found and found != span_id:
        slot += 1
        if slot == capacity:
            slot = 0
        found = ids[slot]
    return slot


def zeros(typecode: str, length: int) -> array[int]:
    """An array of length zeros, made without a temporary of its size (``bytes(n)`` is one)."""
    return array(typecode, (0,)) * length


def _moved(
    old: array[int], typecode: str, capacity: int, moved_from: array[int], moved_to: array[int]
) -> array[int]:
    new = zeros(typecode, capacity)
    for old_slot, slot in zip(moved_from, moved_to, strict=True):
        new[slot] = old[old_slot]
    return new
