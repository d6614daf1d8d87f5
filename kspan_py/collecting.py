"""Garbage-collector and allocator settings for kspan-py's own processes.

Why this exists: every process kspan-py runs makes many short-lived containers (a parsed
object body per value, records, drafts) and, in the linking ones, many small long-lived records
(acts, stored objects, drafts held until their change goes quiet). With CPython's default
thresholds the collections of the older generations rescan the long-lived ones over and over:
about 20% of a large replay, 23-28% of a live run's sustained rate, and a tenth of the reader
process's time (all measured with ``make bench``).

The graph also holds a few large packed tables (the seen occurrences, the store's histories),
rebuilt larger as they fill. glibc's malloc serves a block that large with its own mapping
and unmaps it when freed, but each such free also raises the size below which later blocks
come from the heap instead (up to 32 MiB): from then on, a table's old arrays freed during a
rebuild stay in the heap, holes the larger new ones do not fit, and the process keeps both.
Fixing the threshold at its default (128 KiB) stops that: 1.9, 2.3 and 1.7 MiB less at the
peaks of the 1,000-Deployment spread and burst replays and the 300-Deployment dump's, for the
same CPU. A leaf module, so that the commands and the reader process (sources.capture) set
the same thing.
"""

from __future__ import annotations

import gc
import os

_M_MMAP_THRESHOLD = -3  # glibc's malloc.h
_MMAP_THRESHOLD = 128 * 1024  # glibc's default, kept fixed


def tune_memory() -> None:
    """Both settings below, for processes kspan-py owns (``replay``, ``run``, the reader
    process), never for a library caller's."""
    tune_garbage_collector()
    fix_mmap_threshold()


def tune_garbage_collector() -> None:
    """Freeze what exists once the process is set up (modules, settings) out of collection,
    and collect less often. Reference cycles are still collected, only later."""
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def fix_mmap_threshold() -> bool:
    """Keep glibc's mmap threshold at 128 KiB (see above); whether it was set. Nothing where
    the C library is not glibc, or where the user set the threshold (``MALLOC_MMAP_THRESHOLD_``,
    or ``glibc.malloc.mmap_threshold`` in ``GLIBC_TUNABLES``)."""
    if (
        "MALLOC_MMAP_THRESHOLD_" in os.environ
        or "glibc.malloc.mmap_threshold" in os.environ.get("GLIBC_TUNABLES", "")
        or not _is_glibc()
    ):
        return False
    import ctypes  # (here: only the processes that set it pay for the import)

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD))


def _is_glibc() -> bool:
    try:
        return (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (ValueError, OSError, AttributeError):  # not a name here, or no confstr at all
        return False
