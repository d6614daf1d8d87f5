"""--shard i/n: every occurrence is exported by exactly one shard, with its causes intact."""

from __future__ import annotations

import json
import zlib

import pytest

from kspan_py.config import GraphSettings
from kspan_py.graph.causality import replay_changes
from kspan_py.model import EventChange, ObjectChange, Snapshot
from kspan_py.sharding import Shard
from kspan_py.sources.capture import expand_value
from tests.tracing import CAPTURES, parent_id, span_id, trace_id

SCENARIOS = [
    CAPTURES / "real-1.36" / "rollout.events.jsonl",
    CAPTURES / "real-1.36" / "crashloop.core.jsonl",
    CAPTURES / "real-1.36" / "badpull.events.jsonl",
    CAPTURES / "crashloop.jsonl",  # namespace shop: shard 0 of 2 and of 3
]


def values() -> list[dict[str, object]]:
    return [
        json.loads(line)
        for path in SCENARIOS
        for line in path.read_text().splitlines()
        if line.strip()
    ]


def replay(taken: list[dict[str, object]]) -> list:  # type: ignore[type-arg]
    changes = [
        change
        for value in taken
        for change in expand_value(value, "test")
        if isinstance(change, ObjectChange | EventChange | Snapshot)
    ]
    return replay_changes(changes, GraphSettings())


def namespaces(taken: list[dict[str, object]]) -> set[str]:
    found = set()
    for value in taken:
        body = value.get("object", value)
        assert isinstance(body, dict)
        found.add(body["metadata"].get("namespace", ""))
    return found


@pytest.mark.parametrize("count", [2, 3])
def test_shards_split_the_namespaces_and_together_give_the_whole_traces(count: int) -> None:
    everything = values()
    whole = replay(everything)
    shards = [Shard(i, count) for i in range(count)]
    taken = [[v for v in everything if shard.takes(v) is not None] for shard in shards]
    spans = [replay(t) for t in taken]

    event_ids = [{span_id(s) for s in part if s.attributes.get("k8s.event.uid")} for part in spans]
    for i, first in enumerate(event_ids):
        for second in event_ids[i + 1 :]:
            assert not first & second, "an occurrence exported by two shards"
    assert set().union(*event_ids) == {
        span_id(s) for s in whole if s.attributes.get("k8s.event.uid")
    }
    # Each occurrence has the trace and parent one process linking everything gives it.
    placed = {span_id(s): (trace_id(s), parent_id(s)) for s in whole}
    for part in spans:
        for span in part:
            assert (trace_id(span), parent_id(span)) == placed[span_id(span)], span.name
    assert sum(bool(part) for part in spans) >= 2  # the namespaces did spread
    # Nodes (cluster-scoped) are context in every shard.
    for part in taken:
        assert "" in namespaces(part)


def test_a_namespace_hashes_to_one_shard_stably() -> None:
    shard_of = {ns: zlib.crc32(ns.encode()) % 3 for ns in ("shop", "payments", "kube-system")}
    for ns, index in shard_of.items():
        assert [Shard(i, 3).owns_namespace(ns) for i in range(3)] == [i == index for i in range(3)]


def test_bad_shard_specs_are_named() -> None:
    for text in ("3/3", "1", "a/b", "0/0"):
        with pytest.raises(ValueError, match=text.replace("/", "/")):
            Shard.parse(text)
    assert Shard.parse(" 1/4 ") == Shard(1, 4)
