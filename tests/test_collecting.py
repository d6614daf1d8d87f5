"""The allocator setting of kspan-py's own processes (kspan_py/collecting.py): a large block
freed goes back to the system, even after larger ones were freed before it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from kspan_py.collecting import _is_glibc

_PROBE = """
import re, sys
from kspan_py.collecting import fix_mmap_threshold, tune_memory
def rss():
    return int(re.search(r"VmRSS:\\s*(\\d+)", open("/proc/self/status").read())[1]) * 1024
if sys.argv[1] == "tuned":
    tune_memory()
print(fix_mmap_threshold() if sys.argv[1] == "again" else "-")
start = rss()
first = b"x" * (16 << 20)  # its own mapping; freed, it lifts glibc's threshold to 16 MiB
del first
before = rss()
print(before - start)
table = b"y" * (8 << 20)  # (a seen table's array: filled, so resident)
grown = rss() - before
del table
print(grown, rss() - before)
"""

pytestmark = pytest.mark.skipif(
    not _is_glibc() or "LD_PRELOAD" in os.environ,  # (another allocator may be preloaded)
    reason="glibc's malloc only",
)
_TRIM_64_MIB = f"glibc.malloc.trim_threshold={64 << 20}"
# The probe starts from glibc's defaults, whatever the developer's shell sets.
_ALLOCATOR_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")


def _run(mode: str, **env: str) -> tuple[str, int, int, int]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, mode],
        capture_output=True,
        text=True,
        check=True,
        env={
            **{k: v for k, v in os.environ.items() if k not in _ALLOCATOR_SETTINGS},
            **env,
        },
    )
    said, first_kept, figures = done.stdout.splitlines()
    grown, kept = map(int, figures.split())
    return said, int(first_kept), grown, kept


def test_a_freed_large_block_leaves_the_process_once_tuned() -> None:
    _, _, grown, kept = _run("tuned")
    assert grown >= 7 << 20
    assert kept < 1 << 20  # unmapped on free: the rebuilt table's old arrays do not stay


def test_untuned_the_same_block_stays_which_is_what_the_setting_is_for() -> None:
    """glibc's own behaviour, the premise of the setting (no kspan-py code runs here)."""
    _, _, grown, kept = _run("plain")
    assert grown >= 7 << 20
    assert kept >= 7 << 20  # the heap kept it (glibc's dynamic threshold)


@pytest.mark.parametrize(
    "theirs",
    [
        {"MALLOC_MMAP_THRESHOLD_": str(64 << 20), "MALLOC_TRIM_THRESHOLD_": str(64 << 20)},
        {"GLIBC_TUNABLES": f"glibc.malloc.mmap_threshold={32 << 20}:" + _TRIM_64_MIB},
    ],
)
def test_the_users_own_threshold_is_left_as_they_set_it(theirs: dict[str, str]) -> None:
    said, first_kept, _, _ = _run("again", **theirs)
    assert said == "False"
    assert first_kept >= 15 << 20  # by their threshold, even the 16 MiB block was the heap's
