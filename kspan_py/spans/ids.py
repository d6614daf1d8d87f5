"""Deterministic trace and span ids.

Ids are hashes of what the span stands for, never random, so that a restart, a second replica
or a second replay produce the same ids and a backend merges instead of duplicating.
"""

from __future__ import annotations

from hashlib import blake2b


def _digest(size: int, *parts: str) -> int:
    value = int.from_bytes(blake2b("\x1f".join(parts).encode(), digest_size=size).digest(), "big")
    return value or 1  # an all-zero id is invalid in OTLP


def event_span_id(event_uid: str, count: int) -> int:
    return _digest(8, "event", event_uid, str(count))


def event_trace_id(event_uid: str, count: int) -> int:
    """Trace of a change that starts with this occurrence (no known change caused it)."""
    return _digest(16, "event", event_uid, str(count))


def lifecycle_span_id(fact_uid: str) -> int:
    """A phase read from status: hash of the object and what the phase is (see graph.lifecycle)."""
    return _digest(8, "lifecycle", fact_uid)


def change_span_id(object_key: str, generation: int) -> int:
    return _digest(8, "change", object_key, str(generation))


def change_trace_id(object_key: str, generation: int) -> int:
    """Trace of a change to a top-level object: hash(object uid, generation)."""
    return _digest(16, "change", object_key, str(generation))


def format_span_id(value: int) -> str:
    return f"{value:016x}"


def format_trace_id(value: int) -> str:
    return f"{value:032x}"
