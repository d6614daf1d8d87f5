"""The forms a user hands over for a post-mortem, built from one recorded capture.

A recording is a sequence of watch events (``{"type": ..., "object": ...}``), one per line. The
same cluster history reaches kspan-py in other forms too, and each must give the same causes:

- ``recorded``: the lines as the watch delivered them;
- ``sorted``: every line ordered by its own time (ties keep the recorded order), as a user who
  merged several files by time would hand it over;
- ``dump``: what ``kubectl get ... -A -o json`` prints, one List holding the last state of every
  uid, in namespace/name order (so a Pod's Events come before its owners');
- ``wrapped``: the leading run of ADDED lines (a start-up listing) as one List, the rest as
  recorded.

Everything here works on decoded JSON values and gives values back; ``as_text`` writes them as
the one-value-per-line text the capture reader takes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

Value = dict[str, Any]
"""One top-level JSON value of a capture: a watch event, or a List of objects."""

WINDOW_S = 5.0
"""The linking window (GraphSettings.window_ns): lines within it of each other may arrive in
either order."""


def read_values(path: Path) -> list[Value]:
    """Every top-level JSON value of a capture: one per line, or a pretty-printed stream."""
    decoder = json.JSONDecoder()
    text = path.read_text()
    values: list[Value] = []
    position = 0
    while position < len(text):
        if text[position].isspace():
            position += 1
            continue
        value, position = decoder.raw_decode(text, position)
        values.append(value)
    return values


def as_text(values: Sequence[Value]) -> str:
    return "".join(json.dumps(v, separators=(",", ":")) + "\n" for v in values)


def seconds(stamp: str | None) -> float:
    """An RFC 3339 time as seconds since the epoch; 0 for no time."""
    if not stamp:
        return 0.0
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def event_last_time(body: Value) -> str | None:
    """When an Event last occurred: series.lastObservedTime, lastTimestamp, eventTime,
    firstTimestamp, then its creation (either Event API's field names)."""
    series = body.get("series") or {}
    stamp: str | None = (
        series.get("lastObservedTime")
        or body.get("lastTimestamp")
        or body.get("deprecatedLastTimestamp")
        or body.get("eventTime")
        or body.get("firstTimestamp")
        or body.get("deprecatedFirstTimestamp")
        or body["metadata"].get("creationTimestamp")
    )
    return stamp


def line_time(value: Value) -> float:
    """A watch event's own time: an Event's last occurrence; an object's latest write that it
    shows (creation, deletion, or a managed-fields entry)."""
    body = value["object"]
    metadata = body["metadata"]
    if body.get("kind") == "Event":
        return seconds(event_last_time(body))
    writes = [
        seconds(metadata.get("creationTimestamp")),
        seconds(metadata.get("deletionTimestamp")),
    ]
    writes += [seconds(entry.get("time")) for entry in metadata.get("managedFields") or []]
    return max(writes)


def a_list(items: Sequence[Value]) -> Value:
    return {"kind": "List", "apiVersion": "v1", "metadata": {}, "items": list(items)}


def listing_order(body: Value) -> tuple[str, str, str]:
    """The order of a listing: namespace, then name (then kind, for a stable order)."""
    metadata = body["metadata"]
    return (metadata.get("namespace") or "", metadata["name"], body.get("kind") or "")


def last_states(lines: Sequence[Value]) -> list[Value]:
    """The last state recorded of every uid, deleted ones included, in namespace/name order."""
    last: dict[str, Value] = {}
    for value in lines:
        last[value["object"]["metadata"]["uid"]] = value["object"]
    return sorted(last.values(), key=listing_order)


def leading_added(lines: Sequence[Value]) -> int:
    """How many lines the leading run of ADDED lines (a start-up listing) holds."""
    count = 0
    while count < len(lines) and lines[count].get("type") == "ADDED":
        count += 1
    return count


def recorded(lines: Sequence[Value]) -> list[Value]:
    return list(lines)


def time_sorted(lines: Sequence[Value]) -> list[Value]:
    return sorted(lines, key=line_time)  # sorted() is stable: ties keep the recorded order


def dump(lines: Sequence[Value]) -> list[Value]:
    return [a_list(last_states(lines))]


def wrapped(lines: Sequence[Value]) -> list[Value]:
    """The leading ADDED run as one List; at least the last line stays a watch event."""
    count = min(leading_added(lines), len(lines) - 1)
    return [a_list([v["object"] for v in lines[:count]]), *lines[count:]]


FORMS: dict[str, Callable[[Sequence[Value]], list[Value]]] = {
    "recorded": recorded,
    "sorted": time_sorted,
    "dump": dump,
    "wrapped": wrapped,
}


def listing_span(form: str, values: Sequence[Value]) -> tuple[int, int] | None:
    """Where the start-up listing of a form is: (index of its List value, item count), or
    (-1, count) for a leading run of ADDED lines; None when the form has none."""
    if values and values[0].get("kind") == "List":
        return 0, len(values[0]["items"])
    if form == "recorded" and leading_added(values) > 1:
        return -1, leading_added(values)
    return None


def permute_listing(values: Sequence[Value], order: Sequence[int]) -> list[Value]:
    """The same input with the start-up listing's entries in ``order`` (a permutation of its
    positions): the items of a leading List, else the leading ADDED lines."""
    if values and values[0].get("kind") == "List":
        items = values[0]["items"]
        return [{**values[0], "items": [items[i] for i in order]}, *values[1:]]
    count = len(order)
    return [*(values[i] for i in order), *values[count:]]


def uid_of(value: Value) -> object:
    """The uid of a value's object (its watch event's or its own), if it has one."""
    body = value.get("object", value)
    metadata = body.get("metadata") if isinstance(body, dict) else None
    return metadata.get("uid") if isinstance(metadata, dict) else None


def swap_within_window(
    lines: Sequence[Value], swaps: Sequence[int], window_s: float = WINDOW_S
) -> list[Value]:
    """Apply adjacent swaps (position i with i + 1), each only when the two lines' own times
    are within ``window_s`` of each other. Two lines change their relative order only when they
    are swapped as neighbours, so every pair the result inverts lies within the window."""
    out = list(lines)
    times = [line_time(v) for v in out]
    for i in swaps:
        # (Two versions of one object never swap: one watch stream keeps an object's order.)
        if (
            0 <= i < len(out) - 1
            and abs(times[i] - times[i + 1]) <= window_s
            and uid_of(out[i]) != uid_of(out[i + 1])
        ):
            out[i], out[i + 1] = out[i + 1], out[i]
            times[i], times[i + 1] = times[i + 1], times[i]
    return out
