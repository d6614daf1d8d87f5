"""Garbage-collector settings for kspan-py's own processes.

Why this exists: every process kspan-py runs makes many short-lived containers (a parsed
object body per value, records, drafts) and, in the linking ones, many small long-lived records
(acts, stored objects, drafts held until their change goes quiet). With CPython's default
thresholds the collections of the older generations rescan the long-lived ones over and over:
about 20% of a large replay, 23-28% of a live run's sustained rate, and a tenth of the reader
process's time (all measured with ``make bench``). A leaf module, so that the commands and the
reader process (sources.capture) set the same thing.
"""

from __future__ import annotations

import gc


def tune_garbage_collector() -> None:
    """Freeze what exists once the process is set up (modules, settings) out of collection,
    and collect less often. Reference cycles are still collected, only later. For processes
    kspan-py owns (``replay``, ``run``, the reader process), never for a library caller's."""
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
