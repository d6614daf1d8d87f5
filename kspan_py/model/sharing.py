"""One string object for equal strings that many records hold: kinds, namespaces, reasons,
components, the names and uids of objects (an object's own, the ones events regard, owners).

Why this exists: the graph holds many small records at once, and each parsed value brings its
own copy of every string. ``sys.intern`` makes them one, frees each with its last user on
CPython 3.11 and 3.13 and later, and survives the reader process's pipe (marshal writes a
string interned and reads it back interned). On CPython 3.12 interned strings are immortal:
interning the names and uids of a live cluster's Pods, which come and go for weeks, would
grow the process by their every value (about 300 bytes a Pod, measured). There, equal strings
are shared through a table of at most ``TABLE_SIZE`` entries, emptied when full: what is lost
is the sharing across an emptying and across the pipe, never memory.
"""

from __future__ import annotations

import sys

TABLE_SIZE = 1 << 16
"""Strings the 3.12 table holds at most: a few MB."""

_table: dict[str, str] = {}


def shared_in_table(text: str) -> str:
    """text, or the equal string the table already holds (the table's one owner is this
    function: it only ever adds immutable values and empties itself)."""
    table = _table
    found = table.get(text)
    if found is not None:
        return found
    if len(table) >= TABLE_SIZE:
        table.clear()
    table[text] = text
    return text


INTERNING_IS_IMMORTAL = sys.version_info[:2] == (3, 12)

share = shared_in_table if INTERNING_IS_IMMORTAL else sys.intern
"""The function that makes equal strings one: sys.intern where interned strings die."""
