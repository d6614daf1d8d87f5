"""The graph's expiring map: what TTLCache did (expiry to the float), in less memory, bounded."""

from __future__ import annotations

import random

from cachetools import TTLCache

from kspan_py.graph.expiring import ExpiringMap


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_an_entry_is_there_until_its_ttl_after_it_was_set() -> None:
    clock = Clock()
    entries: ExpiringMap[str, int] = ExpiringMap(max_size=10, ttl_s=60.0, clock=clock)
    clock.now = 10.0
    entries["a"] = 1
    assert entries.get("a") == 1 and "a" in entries and len(entries) == 1
    clock.now = 69.999
    assert entries.get("a") == 1
    clock.now = 70.0  # the cache's rule: there while the clock is before set + ttl
    assert entries.get("a") is None and "a" not in entries and not len(entries)
    entries["a"] = 2
    clock.now = 129.0
    assert entries.get("a") == 2


def test_it_answers_as_ttlcache_does_within_its_size() -> None:
    rng = random.Random(7)
    clock = Clock()
    ours: ExpiringMap[int, int] = ExpiringMap(max_size=100_000, ttl_s=30.0, clock=clock)
    theirs: TTLCache[int, int] = TTLCache(maxsize=100_000, ttl=30.0, timer=clock)
    for step in range(30_000):
        clock.now += rng.randrange(4) / 10
        key = rng.randrange(500)
        assert ours.get(key) == theirs.get(key)
        assert (key in ours) == (key in theirs)
        if rng.random() < 0.4:
            ours[key] = theirs[key] = step
        if step % 1000 == 0:
            assert len(ours) == len(theirs)


def test_beyond_its_size_the_entry_set_first_goes_and_records_stay_bounded() -> None:
    clock = Clock()
    entries: ExpiringMap[int, int] = ExpiringMap(max_size=100, ttl_s=10.0**9, clock=clock)
    for key in range(1, 301):
        clock.now += 1
        entries[key] = key
    assert len(entries) == 100
    assert entries.get(200) is None and entries.get(201) == 201
    for _ in range(100_000):  # one key set again and again within the ttl
        clock.now += 1
        entries[7] = 7
    assert len(entries._keys) <= 2 * 100 + 1024 + 1
