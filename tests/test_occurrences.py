"""The graph's memory of occurrences seen: exact membership, expiry on event time, bounded."""

from __future__ import annotations

import random

from kspan_py.graph.occurrences import SeenOccurrences

S = 1_000_000_000


def test_an_occurrence_is_seen_until_its_ttl_after_it_was_last_set() -> None:
    seen = SeenOccurrences(ttl_ns=60 * S, max_size=100)
    assert not seen.alive(7, 0)
    seen.set(7, 10 * S)
    assert seen.alive(7, 10 * S)
    assert seen.alive(7, 70 * S)
    assert not seen.alive(7, 70 * S + 1)
    seen.set(7, 30 * S)  # set again: lives on from then
    assert seen.alive(7, 90 * S)
    assert not seen.alive(8, 30 * S)


def test_membership_matches_a_plain_dict_through_growth_and_expiry() -> None:
    rng = random.Random(3)
    ttl = 100
    seen = SeenOccurrences(ttl_ns=ttl, max_size=1_000_000)
    reference: dict[int, int] = {}
    now = 0
    for _ in range(20_000):
        now += rng.randrange(3)
        span_id = rng.randrange(1, 5_000) << rng.choice((0, 40))  # colliding low bits too
        assert seen.alive(span_id, now) == (reference.get(span_id, -1) >= now)
        if rng.random() < 0.7:
            seen.set(span_id, now)
            reference[span_id] = now + ttl
    assert len(seen) < 4 * sum(1 for expiry in reference.values() if expiry >= now) + 1024


def test_beyond_its_size_the_oldest_are_forgotten_first() -> None:
    seen = SeenOccurrences(ttl_ns=10**12, max_size=1000)
    for n in range(1, 5001):
        seen.set(n, n)
    assert seen.alive(5000, 5000)
    assert not seen.alive(1, 5000)
    assert len(seen) <= 2000


def test_where_an_occurrence_was_placed_is_kept_through_rebuilds() -> None:
    """A repeat of an Event joins the place of the occurrence before it: that place must be
    read back as it was set, after the table grew and rebuilt itself many times over, and
    not before the occurrence is linked (set without a place)."""
    seen = SeenOccurrences(ttl_ns=10**12, max_size=1 << 20)
    trace = (0xABCD << 64) | 0x1234
    seen.set(7, now_ns=0)
    assert seen.placement(7, now_ns=1) is None  # seen, not linked yet
    seen.set(7, 0, trace, 99)
    for span_id in range(1000, 6000):  # several rebuilds
        seen.set(span_id, 0, span_id << 64, span_id + 1)
    assert seen.placement(7, now_ns=1) == (trace, 99)
    assert seen.placement(4321, now_ns=1) == (4321 << 64, 4322)
    assert seen.placement(7, now_ns=10**13) is None  # expired


def test_the_table_holds_at_most_two_slots_an_occurrence_once_grown() -> None:
    """Its memory follows what it holds: 20 bytes a slot, and never more than two slots for
    each occurrence alive once it has grown (it was up to four, rounded to powers of two)."""
    seen = SeenOccurrences(ttl_ns=10**12, max_size=1 << 20)
    for alive in (5_000, 20_000, 77_777):
        for span_id in range(len(seen) + 1, alive + 1):
            seen.set(span_id * 0x9E3779B97F4A7C15 % (1 << 64) or 1, 0)
        assert len(seen) == alive
        assert alive / 0.75 <= seen.slots <= 2 * alive


def test_traces_are_kept_once_and_forgotten_with_their_occurrences() -> None:
    """A trace id is kept once for the occurrences placed in it (a slot of 4 bytes names it),
    and is let go when the last of them expires: a run of hours keeps only the live traces."""
    ttl = 1_000
    seen = SeenOccurrences(ttl_ns=ttl, max_size=1 << 20)
    for now in range(0, 200_000, 10):  # 20,000 occurrences, a new trace every 4th
        span_id = now + 1
        trace = ((now // 40 + 1) << 64) | (now // 40 + 7)
        seen.set(span_id, now)
        seen.set(span_id, now, trace, span_id)
        assert seen.placement(span_id, now) == (trace, span_id)
        if now >= 40:
            earlier = now - 40 + 1
            assert seen.placement(earlier, now) == (
                (((now - 40) // 40 + 1) << 64) | ((now - 40) // 40 + 7),
                earlier,
            )
    alive_traces = ttl // 40 + 1
    assert seen.trace_slots <= max(128, 4 * alive_traces, seen.slots // 4)


def test_placements_read_back_as_set_through_growth_and_expiry() -> None:
    """Own spans and folded ones (a repeat in a span of repeats), in few traces and in many:
    what ``placement`` says matches a plain dict while the occurrence is alive."""
    rng = random.Random(11)
    ttl = 200
    seen = SeenOccurrences(ttl_ns=ttl, max_size=1_000_000)
    placed: dict[int, tuple[int, int]] = {}
    expiry: dict[int, int] = {}
    now = 0
    for _ in range(12_000):
        now += rng.randrange(2)
        span_id = rng.randrange(1, 4_000) << rng.choice((0, 40))
        alive = expiry.get(span_id, -1) >= now
        if alive and span_id in placed:
            assert seen.placement(span_id, now) == placed[span_id]
        elif not alive:
            assert seen.placement(span_id, now) is None
        if not alive:
            placed.pop(span_id, None)  # seen anew: its old place is gone
        seen.set(span_id, now)
        expiry[span_id] = now + ttl
        if rng.random() < 0.8:
            trace = rng.randrange(1, 50 if rng.random() < 0.9 else 1 << 128)
            into = span_id if rng.random() < 0.7 else rng.randrange(1, 1 << 64)
            seen.set(span_id, now, trace, into)
            placed[span_id] = (trace, into)


def test_an_occurrence_seen_again_after_it_expired_has_no_placement_until_placed_again() -> None:
    """Whether its slot was reclaimed yet (the table rebuilt) or not, an expired occurrence set
    again is new: it does not say where it was placed an expiry ago."""
    seen = SeenOccurrences(ttl_ns=10, max_size=1 << 20)
    seen.set(7, now_ns=0, trace_id=5 << 64, placed_span=7)
    assert seen.placement(7, now_ns=5) == (5 << 64, 7)
    seen.set(7, now_ns=100)  # expired at 10, its slot still there (nothing rebuilt it)
    assert seen.alive(7, now_ns=100)
    assert seen.placement(7, now_ns=100) is None
    seen.set(7, now_ns=101, trace_id=6 << 64, placed_span=9)
    assert seen.placement(7, now_ns=101) == (6 << 64, 9)


def test_beyond_its_bound_it_keeps_exactly_the_bound_even_when_they_all_expire_together() -> None:
    """More occurrences than allowed, all set at one moment (one expiry): the rebuild keeps
    max_size of them and goes on (it kept every one tied at the cut, and filled up and hung)."""
    seen = SeenOccurrences(ttl_ns=10**12, max_size=600)
    for span_id in range(1, 5_001):
        seen.set(span_id, now_ns=0)
    assert len(seen) <= 600 * 3 // 2 + 1
    assert sum(seen.alive(span_id, now_ns=0) for span_id in range(1, 5_001)) == len(seen)


def test_runs_of_placements_in_one_trace_read_back_through_rebuilds() -> None:
    """A trace's occurrences are placed in runs (a rollout's hundreds): the table reuses the
    trace's slot along a run, and must not once a rebuild has moved the traces."""
    rng = random.Random(5)
    seen = SeenOccurrences(ttl_ns=300, max_size=1_000_000)
    placed: dict[int, tuple[int, int]] = {}
    trace = 1
    for now in range(1, 20_000):
        if rng.random() < 0.05:  # a new run, in a trace new or seen before
            trace = rng.randrange(1, 400) << rng.choice((0, 64))
        span_id = now  # (one a step: alive for the 300 steps of its ttl)
        seen.set(span_id, now, trace, span_id)
        placed[span_id] = (trace, span_id)
        for earlier in rng.choices(range(max(1, span_id - 250), span_id + 1), k=3):
            assert seen.placement(earlier, now) == placed[earlier]
