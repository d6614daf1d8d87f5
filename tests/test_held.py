"""Held spans exported: read back as put, until the ttl on the graph's clock, bounded."""

from __future__ import annotations

import random

from kspan_py.graph.held import ExportedHeld


def test_a_held_span_is_there_until_its_ttl_after_it_was_put() -> None:
    held = ExportedHeld(ttl_s=60.0, max_size=100)
    assert held.get(7, 0.0) is None and not held.has(7, 0.0)
    held.put(7, 100, 200, None, now_s=10.0)
    held.put(8, 150, 300, 7, now_s=20.0)
    assert held.get(7, 10.0) == (100, 200, None)
    assert held.get(8, 69.9) == (150, 300, 7)
    assert held.has(7, 69.999) and not held.has(7, 70.0)  # the cache's: clock < set + ttl
    assert held.get(7, 70.0) is None
    held.put(7, 100, 250, 3, now_s=75.0)  # put again: anew, from then
    assert held.get(7, 134.0) == (100, 250, 3)


def test_it_reads_back_as_a_dict_through_growth_and_expiry() -> None:
    rng = random.Random(5)
    ttl = 50.0
    held = ExportedHeld(ttl_s=ttl, max_size=1_000_000)
    reference: dict[int, tuple[tuple[int, int, int | None], float]] = {}
    now = 0.0
    for _ in range(20_000):
        now += rng.randrange(3) / 10
        span_id = rng.randrange(1, 3_000) << rng.choice((0, 40))  # colliding low bits too
        known = reference.get(span_id)
        assert held.get(span_id, now) == (known[0] if known and now < known[1] else None)
        if rng.random() < 0.5:
            value = (rng.randrange(10**18), rng.randrange(10**18), rng.choice((None, 5, 2**63)))
            held.put(span_id, *value, now_s=now)
            reference[span_id] = (value, now + ttl)
    alive = sum(1 for _, expires in reference.values() if now < expires)
    assert len(held) <= 4 * alive + 256


def test_beyond_its_size_the_earliest_put_are_forgotten_first() -> None:
    held = ExportedHeld(ttl_s=10.0**9, max_size=1000)
    for n in range(1, 5001):
        held.put(n, n, n, None, now_s=float(n))
    assert held.get(5000, 5000.0) == (5000, 5000, None)
    assert held.get(1, 5000.0) is None
    assert len(held) <= 2000


def test_beyond_its_size_what_is_read_stays() -> None:
    """A crash-looping Pod's life is read at each run under it: it is not the one to go."""
    held = ExportedHeld(ttl_s=10.0**9, max_size=1000)
    held.put(1, 1, 1, None, now_s=1.0)
    for n in range(2, 5001):
        held.put(n, n, n, None, now_s=float(n))
        if n % 500 == 0:
            assert held.get(1, float(n)) == (1, 1, None)
    assert held.get(1, 5000.0) == (1, 1, None)
    assert held.get(2, 5000.0) is None
