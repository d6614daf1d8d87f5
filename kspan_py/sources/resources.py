"""The API collections kspan-py watches, and how --kinds selects them.

The object collections are the controllers' (``kspan_py.controllers``: each registers what its
acts concern); the Events are everyone's. Kept apart from watching.py (which imports the API
client) so that the command line can name and check them without loading the client.
"""

from __future__ import annotations

from collections.abc import Iterable

from kspan_py.controllers import WATCHED, Resource

EVENTS_V1 = Resource("Event", "events.k8s.io", "v1", "events")
EVENTS_CORE = Resource("Event", "", "v1", "events")
OBJECT_RESOURCES: tuple[Resource, ...] = WATCHED  # owners first: a snapshot lists them so
KINDS = (*(r.kind for r in OBJECT_RESOURCES), "Event")


def select_resources(kinds: Iterable[str], *, namespaced: bool) -> tuple[Resource, ...]:
    """The object resources to watch for --kinds (Event is always watched, separately).

    Nodes are cluster-scoped: watching only some namespaces leaves them out unless asked for by
    name, since a namespaced deployment has no right to list them.
    """
    wanted = {k.lower() for k in kinds}
    if not wanted:
        return tuple(r for r in OBJECT_RESOURCES if r.namespaced or not namespaced)
    unknown = wanted - {k.lower() for k in KINDS}
    if unknown:
        raise ValueError(f"unknown kinds {sorted(unknown)}; known: {', '.join(KINDS)}")
    return tuple(r for r in OBJECT_RESOURCES if r.kind.lower() in wanted)
