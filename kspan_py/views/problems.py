"""Problems in spans, and the verdict: the first problem in causal order and what it caused.

A user asking "why did this pod restart?" wants one line before any tree: what went wrong
first, what followed, and where it stands now ("pod/shop/web-x: container app OOMKilled
(limit 256Mi) → 7 restarts → CrashLoopBackOff since 14:02:11 UTC"). This module finds it from
span attributes alone, as pure functions, so the terminal and the HTML views say the same.

A span shows a problem when it carries ``kspan.problem`` (the graph's classification, with
details as ``kspan.problem.<detail>``). Spans from a producer that does not classify (no span
of the input carries the contract's ``kspan.problem`` or ``kspan.lifecycle``: kspan-py before
it did, or another tool) fall back to their status: ERROR, or a Warning event, is a problem
named by the event's reason (``Error: ErrImagePull`` names ``ErrImagePull``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from kspan_py.spans.attributes import (
    CONTAINER_EXIT_CODE,
    CONTAINER_MEMORY_LIMIT,
    CONTAINER_NAME,
    CONTAINER_RESTART_COUNT,
    EVENT_COUNT,
    EVENT_MESSAGE,
    EVENT_REASON,
    EVENT_TYPE,
    EVENT_UID,
    LIFECYCLE,
    NODE_NAME,
    PROBLEM,
)
from kspan_py.views.traces import ObjectKey, object_of, start_of

# The span contract's problem and lifecycle names (README, "The span contract").
PROBLEM_DETAIL = PROBLEM + "."
CONTAINER_RUN = "Container.Run"
RESTART_COUNT = CONTAINER_RESTART_COUNT
MEMORY_LIMIT = CONTAINER_MEMORY_LIMIT

_ERROR_WORD = re.compile(r"^Error: (\w+)$")
_MESSAGE_CHARS = 64


@dataclass(frozen=True, slots=True)
class Subject:
    """What a problem happened to: an object, and the container when it concerns one."""

    obj: ObjectKey | None
    container: str | None

    def __str__(self) -> str:
        where = str(self.obj) if self.obj is not None else "?"
        return f"{where}: container {self.container}" if self.container else where


@dataclass(frozen=True, slots=True)
class Problem:
    span: ReadableSpan
    name: str
    """CrashLoopBackOff, OOMKilled, FailedScheduling... (the event reason without kspan.problem)."""
    message: str
    details: tuple[str, ...]
    """Readable details: "exit code 137", "limit 256Mi", "Liveness probe", "node n1"."""
    subject: Subject
    declared: bool
    """True when the span carries kspan.problem, False when inferred from status or type."""

    @property
    def start_ns(self) -> int:
        return start_of(self.span)

    @property
    def last_ns(self) -> int:
        """The last occurrence it stands for (a span folding repeats has one event each)."""
        return max([start_of(self.span), *(event.timestamp for event in self.span.events)])

    def label(self) -> str:
        """The name and its details, else a shortened message when it says more than the name."""
        if self.details:
            return f"{self.name} ({', '.join(self.details)})"
        message = self.message.strip()
        if message and message != self.name and not _ERROR_WORD.match(message):
            return f"{self.name} ({shorten(message)})"
        return self.name

    def detail(self, shown_message: str) -> str | None:
        """What a view prints under the span: the label and, when the status says more than
        the message already shown, the status. None for an inferred problem (its row shows
        all there is)."""
        if not self.declared:
            return None
        text = f"{self.name} ({', '.join(self.details)})" if self.details else self.name
        message = self.message.strip()
        if message and message != shown_message and message not in text:
            text += f": {message}"
        return text


def shorten(text: str, limit: int = _MESSAGE_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def classifies(spans: Iterable[ReadableSpan]) -> bool:
    """Whether the spans come from a producer that marks problems itself (the span contract's
    ``kspan.problem`` and ``kspan.lifecycle``). Then only ``kspan.problem`` counts: many
    Warning events are noise (``Killing``, ``ProbeWarning``), and some real problems are
    Normal events (a pull backing off), which only the classification knows."""
    return any(
        key.startswith(_CONTRACT_PREFIXES) for span in spans for key in (span.attributes or {})
    )


_CONTRACT_PREFIXES = (PROBLEM, LIFECYCLE)


def problem_of(span: ReadableSpan, *, classified: bool = False) -> Problem | None:
    """The problem a span shows, if any; ``classified``: only ``kspan.problem`` counts."""
    attributes = span.attributes or {}
    declared = attributes.get(PROBLEM)
    if not declared:
        if classified:
            return None
        is_error = span.status.status_code is StatusCode.ERROR
        if not is_error and attributes.get(EVENT_TYPE) != "Warning":
            return None
    message = str(span.status.description or attributes.get(EVENT_MESSAGE) or "")
    if declared:
        name = str(declared)
    else:
        word = _ERROR_WORD.match(str(attributes.get(EVENT_MESSAGE) or ""))
        name = word.group(1) if word else str(attributes.get(EVENT_REASON) or span.name)
    container = attributes.get(CONTAINER_NAME)
    return Problem(
        span=span,
        name=name,
        message=message,
        details=_details(attributes, name),
        subject=Subject(object_of(span), str(container) if container else None),
        declared=bool(declared),
    )


_DETAIL_CHARS = 48
_DETAIL_WORDS = {
    "probe": "{} probe",
    "output": "output: {}",
    "resource": "{}",
    "image": "image {}",
    "volume": "volume {}",
    "preemptor": "preempted by {}",
    "reasons": "{}",
    "insufficient": "insufficient {}",
    "condition": "condition {}",
    "error": "{}",
}
_GENERIC_REASONS = ("Error", "")  # a terminated reason that says no more than the exit code


def _details(attributes: Mapping[str, object], name: str) -> tuple[str, ...]:
    """Readable details, most telling first: exit code, memory limit, then the problem's own
    ``kspan.problem.*`` in the order given, then the node."""
    details: list[str] = []
    exit_code = attributes.get(PROBLEM_DETAIL + "exit_code", attributes.get(CONTAINER_EXIT_CODE))
    if exit_code is not None and name != "OOMKilled":  # an OOM kill is 137, and says so
        details.append(f"exit code {exit_code}")
    limit = attributes.get(PROBLEM_DETAIL + "memory_limit")
    if not limit and name == "OOMKilled":
        limit = attributes.get(MEMORY_LIMIT)
    if limit:
        details.append(f"limit {limit}")
    available = attributes.get(PROBLEM_DETAIL + "nodes_available")
    total = attributes.get(PROBLEM_DETAIL + "nodes_total")
    if available is not None and total is not None:
        details.append(f"{available}/{total} nodes available")
    for key, value in attributes.items():
        detail = key.removeprefix(PROBLEM_DETAIL)
        if detail == key or detail in _DONE_DETAILS or value in (None, ""):
            continue
        if detail == "reason" and str(value) in (name, *_GENERIC_REASONS):
            continue
        if detail == "host_port_conflict":
            if value:
                details.append("host port conflict")
            continue
        text = _DETAIL_WORDS.get(detail, detail.replace("_", " ") + " {}")
        text = text.format(shorten(str(value), _DETAIL_CHARS))
        # A detail another one already says ("insufficient cpu" after "2 Insufficient cpu").
        if not any(text.lower() in earlier.lower() for earlier in details):
            details.append(text)
    node = attributes.get(NODE_NAME)
    if node and (attributes.get(PROBLEM) or name.startswith("Node")):
        details.append(f"node {node}")
    return tuple(details)


_DONE_DETAILS = frozenset({"exit_code", "memory_limit", "nodes_available", "nodes_total"})


# -- counting occurrences ------------------------------------------------------------------


def occurrences(spans: Iterable[ReadableSpan]) -> int:
    """How many times what these spans stand for happened.

    The larger of two counts. The distinct seconds at which the spans (and their span events,
    one per folded repeat) happened count occurrences seen one by one, and count once the two
    Events the kubelet writes for one occurrence (``BackOff`` and ``Error: ImagePullBackOff``
    for one pull back-off). The highest count of one Event counts what a one-shot list cannot
    see one by one: an Event listed at count 5 happened five times.
    """
    seconds: set[int] = set()
    highest = 0
    for span in spans:
        seconds.add(start_of(span) // _SECOND_NS)
        seconds.update(event.timestamp // _SECOND_NS for event in span.events)
        attributes = span.attributes or {}
        if attributes.get(EVENT_UID):
            highest = max(highest, _int(attributes.get(EVENT_COUNT), 1))
            for event in span.events:
                highest = max(highest, _int((event.attributes or {}).get(EVENT_COUNT), 1))
    return max(len(seconds), highest)


_SECOND_NS = 1_000_000_000


def _int(value: object, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def restarts(spans: Sequence[ReadableSpan], subject: Subject) -> int | None:
    """Restarts of the subject's container: the highest restart count of its Container.Run
    spans when there are any, else its Started occurrences less the first start."""
    if subject.container is None:
        return None
    runs = [s for s in spans if s.name == CONTAINER_RUN and _concerns(s, subject)]
    if runs:
        counts = [_int((s.attributes or {}).get(RESTART_COUNT), -1) for s in runs]
        return max(counts) if max(counts) >= 0 else len(runs) - 1
    starts = [
        s
        for s in spans
        if (s.attributes or {}).get(EVENT_REASON) == "Started" and _concerns(s, subject)
    ]
    total = occurrences(starts)
    return total - 1 if total > 0 else None


def _concerns(span: ReadableSpan, subject: Subject) -> bool:
    if object_of(span) != subject.obj:
        return False
    container = (span.attributes or {}).get(CONTAINER_NAME)
    return subject.container is None or container in (None, subject.container)


# -- the verdict -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Verdict:
    first: Problem
    """The first problem in causal order: the earliest start (ties: the order given)."""
    restarts: int | None
    """Restarts of the first problem's container, when it concerns one and it restarted."""
    latest: Problem
    """The problem of the same subject seen last (may be the first)."""
    latest_since_ns: int
    """When the latest problem's kind first showed for that subject."""
    latest_count: int
    """How many times the latest problem's kind happened to that subject."""

    def line(self) -> str:
        parts = [f"{self.first.subject} {self.first.label()}"]
        if self.restarts:
            parts.append(f"{self.restarts} restart{'s' if self.restarts != 1 else ''}")
        if self.latest.span is not self.first.span or self.latest_count > 1:
            times = f" ({self.latest_count} times)" if self.latest_count > 1 else ""
            parts.append(f"{self.latest.name} since {clock(self.latest_since_ns)}{times}")
        return " → ".join(parts)


def clock(time_ns: int) -> str:
    """A time of day in UTC, to the second: what Events are precise to."""
    return datetime.fromtimestamp(time_ns / 1e9, UTC).strftime("%H:%M:%S UTC")


def find_problems(
    spans: Sequence[ReadableSpan], *, classified: bool | None = None
) -> list[Problem]:
    """The problems among spans, earliest first (a stable sort: ties keep the order given).
    ``classified`` None: as ``classifies(spans)`` says."""
    if classified is None:
        classified = classifies(spans)
    found = [
        problem
        for span in spans
        if (problem := problem_of(span, classified=classified)) is not None
    ]
    found.sort(key=lambda problem: problem.start_ns)
    return found


def verdict(spans: Sequence[ReadableSpan], *, classified: bool | None = None) -> Verdict | None:
    """The first problem among spans and what followed for the same object and container.

    Pure: the same spans give the same verdict. None when no span shows a problem.
    ``classified`` None: as ``classifies(spans)`` says (a caller showing part of a larger
    input passes what the whole input says).
    """
    problems = find_problems(spans, classified=classified)
    if not problems:
        return None
    first = problems[0]
    same = [p for p in problems if _same_subject(p.subject, first.subject)]
    latest = first
    for problem in same:  # the last of equals: equal (truncated) times keep the order given
        if problem.last_ns >= latest.last_ns:
            latest = problem
    kind = [p for p in same if p.name == latest.name]
    return Verdict(
        first=first,
        restarts=restarts(spans, first.subject),
        latest=latest,
        latest_since_ns=min(p.start_ns for p in kind),
        latest_count=occurrences(p.span for p in kind),
    )


def _same_subject(subject: Subject, first: Subject) -> bool:
    if subject.obj != first.obj:
        return False
    return first.container is None or subject.container in (None, first.container)
