"""The graph's anchors: read back as cachetools' TTLCache on the same clock, bounded, smaller."""

from __future__ import annotations

import random
import tracemalloc

from cachetools import TTLCache

from kspan_py.graph.anchors import Anchors

SECOND_NS = 10**9


def test_an_anchor_is_there_until_the_ttl_after_it_was_last_set() -> None:
    anchors = Anchors(ttl_s=60.0, max_size=100)
    anchors.put("node:a", (1, 2, 3), 10 * SECOND_NS)
    assert anchors.get("node:a", 69 * SECOND_NS) == (1, 2, 3)
    assert anchors.get("node:a", 70 * SECOND_NS) is None  # the cache's: clock < set + ttl
    anchors.put("node:a", (4, 5, 6), 75 * SECOND_NS)
    anchors.put("node:a", (7, 8, 9), 100 * SECOND_NS)  # set again: from then
    assert anchors.get("node:a", 159 * SECOND_NS) == (7, 8, 9)
    assert anchors.get("node:b", 0) is None


def test_it_answers_as_the_ttl_cache_it_replaced_read_for_read() -> None:
    """Random puts and reads on one clock (event time, in bursts, some keys put over and over,
    most reads of keys that expired or never were), below the size bound."""
    rng = random.Random(14)
    now_ns = 1_795_000_000 * SECOND_NS  # a real epoch: the float clock's rounding included
    ttl_s = 3610.0
    cache: TTLCache[str, tuple[int, int, int]] = TTLCache(
        maxsize=100_000, ttl=ttl_s, timer=lambda: now_ns / 1e9
    )
    anchors = Anchors(ttl_s, 100_000)
    for _ in range(60_000):
        now_ns += rng.choice((0, 0, 1, 333_333_333, 7 * SECOND_NS, 600 * SECOND_NS))
        key = f"run:ns/pod-{rng.randrange(400 if rng.random() < 0.5 else 5_000)}"
        assert anchors.get(key, now_ns) == cache.get(key)
        if rng.random() < 0.4:
            anchor = (rng.randrange(1, 2**128), rng.randrange(1, 2**64), now_ns)
            anchors.put(key, anchor, now_ns)
            cache[key] = anchor
    assert len(anchors) == len(cache)


def test_beyond_its_size_the_anchors_set_longest_ago_go_first() -> None:
    anchors = Anchors(ttl_s=10.0**9, max_size=1_000)
    for n in range(5_000):
        anchors.put("node:stale", (1, 1, n), n * SECOND_NS)  # one key put again and again
        anchors.put(f"run:{n}", (n + 1, n + 1, n), n * SECOND_NS)
    assert len(anchors) <= 1_000
    assert anchors.get("node:stale", 5_000 * SECOND_NS) == (1, 1, 4_999)
    assert anchors.get("run:4999", 5_000 * SECOND_NS) == (5_000, 5_000, 4_999)
    assert anchors.get("run:10", 5_000 * SECOND_NS) is None


def test_at_its_size_a_key_set_again_lets_nothing_go() -> None:
    """Full, the table makes room for a new key, never for one it holds already (a node's
    problem set again does not push out the oldest container run)."""
    anchors = Anchors(ttl_s=10.0**9, max_size=3)
    for n, key in enumerate(("run:a", "run:b", "node:n")):
        anchors.put(key, (n + 1, n + 1, n), n * SECOND_NS)
    anchors.put("node:n", (9, 9, 3), 3 * SECOND_NS)
    assert len(anchors) == 3
    assert anchors.get("run:a", 4 * SECOND_NS) == (1, 1, 0)
    anchors.put("run:c", (4, 4, 4), 4 * SECOND_NS)  # a new key: the one set longest ago goes
    assert anchors.get("run:a", 5 * SECOND_NS) is None
    assert anchors.get("node:n", 5 * SECOND_NS) == (9, 9, 3)


def test_an_anchor_costs_a_third_less_than_a_ttl_cache_entry() -> None:
    """One anchor for each container run of the hour: 230 bytes each where the cache took 370
    (each made here as the graph makes it, a tuple of new numbers)."""
    keys = [f"run:ns/web-{n:06d}/spec.containers{{app}}" for n in range(20_000)]
    now_ns = 1_795_000_000 * SECOND_NS
    anchors = Anchors(3610.0, 100_000)
    cache: TTLCache[str, tuple[int, int, int]] = TTLCache(
        maxsize=100_000, ttl=3610.0, timer=lambda: now_ns / 1e9
    )
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n, key in enumerate(keys):
            anchors.put(key, (2**127 + n, 2**63 + n, now_ns + n), now_ns)
        ours = tracemalloc.get_traced_memory()[0] - before
        for n, key in enumerate(keys):
            cache[key] = (2**127 + n, 2**63 + n, now_ns + n)
        theirs = tracemalloc.get_traced_memory()[0] - before - ours
    finally:
        tracemalloc.stop()
    assert len(anchors) == len(cache) == 20_000
    assert ours < 0.7 * theirs
