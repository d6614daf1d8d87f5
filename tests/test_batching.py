"""Where `kspan-py replay` moves event time on: after every ADVANCE_EVERY values read, never
inside a snapshot, whether the reader process sent an update or left it out (Unchanged).

The oracle here reads every left-out update as a value of its own, as reading the capture in
the process does; the runner's batches must end where the oracle's do, with the same changes
in each: event time then moves on at the same points, and the spans are the same.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest

from kspan_py.graph.causality import ADVANCE_EVERY
from kspan_py.model import ChangeType, EventChange, Snapshot
from kspan_py.runner import ReplaySummary, batched
from kspan_py.sources.capture import CaptureItem, Unchanged
from tests.tracing import kube_event

Batches = list[tuple[list[int], bool]]


def _change(n: int) -> EventChange:
    return EventChange(ChangeType.ADDED, kube_event(uid=f"e{n}", at_s=n))


def _oracle(items: Sequence[CaptureItem | None]) -> Batches:
    """Every value read counts, a left-out update as one value (None here)."""
    expanded: list[CaptureItem | None] = []
    for item in items:
        if isinstance(item, Unchanged):
            expanded.extend([None] * item.count)
        else:
            expanded.append(item)
    batches: Batches = []
    batch: list[int] = []
    read, in_snapshot = 0, False
    for value in expanded:
        if isinstance(value, Snapshot):
            in_snapshot = not value.end
        else:
            read += 1
            if isinstance(value, EventChange):
                batch.append(int(value.event.uid[1:]))
        if read >= ADVANCE_EVERY and not in_snapshot:
            batches.append((batch, True))
            batch, read = [], 0
    if batch:
        batches.append((batch, False))
    return batches


def _pieces(items: Sequence[CaptureItem]) -> Batches:
    summary = ReplaySummary()
    return [
        ([int(c.event.uid[1:]) for c in batch if isinstance(c, EventChange)], advance)
        for batch, advance in batched(items, summary, strict=False)
    ]


def _runner(items: Sequence[CaptureItem]) -> Batches:
    """The runner's batches as the graph sees them between two moves of event time: pieces
    that do not move it on (a large snapshot's) joined to what follows them."""
    batches: Batches = []
    joined: list[int] = []
    for piece, advance in _pieces(items):
        joined += piece
        if advance:
            batches.append((joined, True))
            joined = []
    if joined:
        batches.append((joined, False))
    return batches


def _sequence(seed: int) -> list[CaptureItem]:
    rng = random.Random(seed)
    items: list[CaptureItem] = []
    n = 0
    if rng.random() < 0.7:  # a leading listing, often longer than a batch
        items.append(Snapshot(end=False))
        for _ in range(rng.choice((10, 300, 700, 1500))):
            items.append(_change(n))
            n += 1
        items.append(Snapshot(end=True))
    for _ in range(rng.randrange(5, 40)):
        kind = rng.random()
        if kind < 0.5:
            for _ in range(rng.randrange(1, 400)):
                items.append(_change(n))
                n += 1
        elif kind < 0.9:
            items.append(Unchanged(rng.choice((1, 5, 300, 511, 512, 513, 1100))))
        else:  # a List later on
            items.append(Snapshot(end=False))
            for _ in range(rng.randrange(1, 900)):
                items.append(_change(n))
                n += 1
            items.append(Snapshot(end=True))
    return items


@pytest.mark.parametrize("seed", range(40))
def test_batches_end_where_reading_every_value_would_end_them(seed: int) -> None:
    items = _sequence(seed)
    assert _runner(items) == _oracle(items)


def test_a_listing_longer_than_a_batch_moves_time_on_once_and_the_count_starts_again() -> None:
    listing: list[CaptureItem] = [Snapshot(end=False), *map(_change, range(1000))]
    items = [*listing, Snapshot(end=True), *map(_change, range(1000, 1600))]
    batches = _runner(items)
    assert [len(b) for b, _ in batches] == [1000, 512, 88]
    assert [advance for _, advance in batches] == [True, True, False]
    # ... given in pieces of at most a batch, so that a dump's wrappers are not all held
    pieces = _pieces(items)
    assert [(len(b), advance) for b, advance in pieces] == [
        (512, False),
        (488, True),
        (512, True),
        (88, False),
    ]


def test_values_left_out_are_counted_in_the_summary() -> None:
    summary = ReplaySummary()
    items = [_change(0), Unchanged(3), _change(1), Unchanged(-1), _change(2)]
    list(batched(items, summary, strict=False))
    assert summary.values == 3 + 3 - 1
