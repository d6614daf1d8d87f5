"""How long the message rules take against the length of a crafted message: linear, or not.

Why this exists: anyone allowed to create Events writes their messages, and a regex that
backtracks turns one 100 KB message into minutes of CPU in the one thread that also answers
/healthz and SIGTERM (issue 12). Every rule must run in time linear in what it reads, and
reads at most the first ``RULES_READ`` characters (8 KiB) of a message. This benchmark
(``make bench``) classifies the worst case of each rule (tests/hostile_messages.py: unclosed
quotes and brackets, digit runs, openings with no end) at 1 KB, 10 KB, 100 KB and 1 MB, twice:

- **uncapped** (``event_problem(event, read=len(message))``): the rule on the whole message,
  what shows whether it is linear. Each size is 10x the previous, so the time ratio per
  doubling is ``(t(10n) / t(n)) ** log10(2)``: about 2 for linear, 4 for quadratic;
- **capped** (``event_problem(event)``, what ``run`` and ``replay`` do): flat past 8 KiB.

The actor rules of graph/rules/ and the Pulled duration of graph/lifecycle.py read the whole
message (they are anchored: one pass) and are timed the same way. Short times are the best of
several runs. It prints one line per form, then one JSON line with the worst ratios.
Target: ratios per doubling about 2 (up to 2.5 with noise; quadratic is 4 at every step), and
the capped 1 MB under 5 ms. The step from 100 KB to 1 MB also leaves the CPU's caches: a few
forms read up to 3 there, and about 2 again from 2 MB to 4 MB.
``--quick`` stops at 100 KB (what ``make bench`` runs first).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kspan_py.graph.lifecycle import stated_pull_ns
from kspan_py.graph.rules import named_child
from kspan_py.spans.problems import RULES_READ, event_problem
from tests.hostile_messages import CRAFTED, NAMING, hostile_event, pulled

SIZES = (1_000, 10_000, 100_000, 1_000_000)


def best_of(action: Callable[[], object], *, budget_s: float = 0.2, most: int = 20) -> float:
    """The shortest of several runs (at least one, within about budget_s), in seconds."""
    best = math.inf
    spent = 0.0
    for _ in range(most):
        started = time.perf_counter()
        action()
        took = time.perf_counter() - started
        best, spent = min(best, took), spent + took
        if spent > budget_s:
            break
    return best


def per_doubling(times: list[float]) -> float:
    """The worst time ratio per doubling of the length, between consecutive sizes (x10)."""
    ratios = [
        (later / earlier) ** math.log10(2)
        for earlier, later in itertools.pairwise(times)
        if earlier > 0
    ]
    return max(ratios, default=0.0)


def row(name: str, times: list[float], capped: float | None) -> str:
    cells = " ".join(f"{t * 1e3:9.3f}" for t in times)
    tail = f"  capped {capped * 1e3:6.3f}" if capped is not None else ""
    return f"{name:34} {cells}  x{per_doubling(times):4.2f}{tail}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="stop at 100 KB")
    args = parser.parse_args()
    sizes = SIZES[:3] if args.quick else SIZES
    largest = sizes[-1]
    print(f"message rules on crafted messages; ms at {', '.join(f'{s:,}' for s in sizes)} chars")
    print(f"(x: time ratio per doubling, ~2 = linear; capped: the run's cost, {RULES_READ} read)")
    worst_ratio, worst_capped = 0.0, 0.0
    for crafted in CRAFTED:
        events = [crafted.event(size) for size in sizes]
        times = [best_of(lambda e=e: event_problem(e, read=len(e.message))) for e in events]
        capped = best_of(lambda e=events[-1]: event_problem(e))
        worst_ratio, worst_capped = max(worst_ratio, per_doubling(times)), max(worst_capped, capped)
        print(row(crafted.name, times, capped))
    for crafted in NAMING:
        events = [crafted.event(size) for size in sizes]
        times = [best_of(lambda e=e: named_child(e)) for e in events]
        worst_ratio = max(worst_ratio, per_doubling(times))
        print(row(f"actor rule {crafted.name}", times, None))
    messages = [pulled(size) for size in sizes]
    times = [best_of(lambda m=m: stated_pull_ns(m)) for m in messages]
    worst_ratio = max(worst_ratio, per_doubling(times))
    print(row("pulled: duration", times, None))
    probe = hostile_event("FailedScheduling", CRAFTED[0].message(largest))
    print(
        json.dumps(
            {
                "largest_chars": largest,
                "worst_ratio_per_doubling": round(worst_ratio, 2),
                "worst_capped_ms": round(worst_capped * 1e3, 3),
                "scheduling_digits_capped_ms": round(
                    best_of(lambda: event_problem(probe)) * 1e3, 3
                ),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
