"""Sharding a cluster too large for one process: ``--shard i/n`` takes a share of namespaces.

A namespace belongs to shard ``crc32(name) % n``: stable across processes, versions and
restarts, and it needs no coordination. Each shard still reads every watch (a field selector
cannot hash), but links, keeps state for and exports only its namespaces, which is where the
cost is. Causality never crosses a namespace (owners are in the object's namespace), so a shard
loses no link. Cluster-scoped objects (Nodes) are kept by every shard, since any pod may refer
to them; the Events about them are exported by shard 0 alone.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from typing import Any

_SPEC = re.compile(r"(\d+)/(\d+)")


@dataclass(frozen=True, slots=True)
class Shard:
    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        match = _SPEC.fullmatch(text.strip())
        if not match:
            raise ValueError(f"{text!r} is not i/n (e.g. 0/3)")
        index, count = int(match[1]), int(match[2])
        if count < 1 or not 0 <= index < count:
            raise ValueError(f"{text!r}: i must be in 0..n-1")
        return cls(index, count)

    def owns_namespace(self, namespace: str) -> bool:
        if not namespace:  # cluster-scoped: shard 0 speaks for it
            return self.index == 0
        return zlib.crc32(namespace.encode()) % self.count == self.index

    def takes(self, value: dict[str, Any]) -> dict[str, Any] | None:
        """The part of one raw value (watch event, object or List) that is this shard's."""
        if self.count == 1:
            return value
        items = value.get("items")
        if isinstance(items, list) and "type" not in value:
            kept = [item for item in items if self._takes_object(item)]
            return {**value, "items": kept}
        body = value.get("object") if "type" in value else value
        if not isinstance(body, dict) or value.get("type") in ("BOOKMARK", "ERROR"):
            return value
        return value if self._takes_object(body) else None

    def _takes_object(self, body: Any) -> bool:
        if not isinstance(body, dict):
            return True  # malformed: let the reader report it
        metadata = body.get("metadata")
        namespace = metadata.get("namespace") if isinstance(metadata, dict) else None
        if body.get("kind") == "Event":
            regarding = body.get("regarding") or body.get("involvedObject") or {}
            if isinstance(regarding, dict) and not regarding.get("namespace"):
                return self.index == 0  # about a Node or another cluster-scoped object
            return self.owns_namespace(str(namespace or ""))
        if not namespace:
            return True  # Nodes: context for every shard
        return self.owns_namespace(str(namespace))
