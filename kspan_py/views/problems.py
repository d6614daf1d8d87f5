"""Problems in spans, and the verdict: the first problem in causal order and what it caused.

A user asking "why did this pod restart?" wants one line before any tree: what went wrong
first, what followed, and where it stands now ("pod/shop/web-x: container app OOMKilled
(limit 256Mi) → 7 restarts → CrashLoopBackOff since 14:02:11 UTC"). This module finds it from
span attributes alone, as pure functions, so the terminal and the HTML views say the same.

A span shows a problem when it carries ``kspan.problem`` (the graph's classification, with
details as ``kspan.problem.<detail>``), or, for spans made before that attribute existed, when
its status is ERROR or its event is a Warning (the event's reason names the problem then;
``Error: ErrImagePull`` names ``ErrImagePull``).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from kspan_py.spans.attributes import (
    CONTAINER_NAME,
    EVENT_COUNT,
    EVENT_MESSAGE,
    EVENT_REASON,
    EVENT_TYPE,
    EVENT_UID,
)
from kspan_py.views.traces import ObjectKey, object_of, start_of

# The span contract's problem and lifecycle attributes (README, "The span contract").
PROBLEM = "kspan.problem"
PROBLEM_DETAIL = "kspan.problem."
CONTAINER_RUN = "Container.Run"
RESTART_COUNT = "k8s.container.restart_count"
CONTAINER_EXIT_CODE = "kspan.container.exit_code"
MEMORY_LIMIT = "kspan.container.memory_limit"
NODE_NAME = "k8s.node.name"

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


def problem_of(span: ReadableSpan) -> Problem | None:
    attributes = span.attributes or {}
    declared = attributes.get(PROBLEM)
    is_error = span.status.status_code is StatusCode.ERROR
    if not declared and not is_error and attributes.get(EVENT_TYPE) != "Warning":
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


def _details(attributes: Mapping[str, object], name: str) -> tuple[str, ...]:
    details: list[str] = []
    exit_code = attributes.get(PROBLEM_DETAIL + "exit_code", attributes.get(CONTAINER_EXIT_CODE))
    for key, value in attributes.items():
        if not key.startswith(PROBLEM_DETAIL) or key == PROBLEM_DETAIL + "exit_code":
            continue
        detail = key.removeprefix(PROBLEM_DETAIL)
        text = _DETAIL_WORDS.get(detail, f"{detail.replace('_', ' ')} {{}}")
        details.append(text.format(value))
    if exit_code is not None and name != "OOMKilled":  # OOMKilled says 137 already
        details.insert(0, f"exit code {exit_code}")
    limit = attributes.get(MEMORY_LIMIT)
    if limit and name == "OOMKilled":
        details.insert(0, f"limit {limit}")
    node = attributes.get(NODE_NAME)
    if node and (attributes.get(PROBLEM) or name.startswith("Node")):
        details.append(f"node {node}")
    return tuple(details)


_DETAIL_WORDS = {
    "probe": "{} probe",
    "resource": "{}",
    "image": "image {}",
    "volume": "volume {}",
    "preemptor": "preempted by {}",
    "reasons": "{}",
}


# -- counting occurrences ------------------------------------------------------------------


def occurrences(spans: Iterable[ReadableSpan]) -> int:
    """How many times what these spans stand for happened.

    An Event's count is how often it happened since it was created, so an Event counts as its
    highest count seen, whether its repeats came as one span each (a capture), as one span
    with an event per repeat, or as one span at the latest count (a one-shot list). A span
    without an Event (a lifecycle span) counts once.
    """
    by_event: dict[str, int] = defaultdict(int)
    others = 0
    for span in spans:
        attributes = span.attributes or {}
        uid = attributes.get(EVENT_UID)
        if not uid:
            others += 1
            continue
        counts = [_int(attributes.get(EVENT_COUNT), 1)]
        counts.extend(_int((e.attributes or {}).get(EVENT_COUNT), 1) for e in span.events)
        by_event[str(uid)] = max(by_event[str(uid)], *counts)
    return others + sum(by_event.values())


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


def find_problems(spans: Iterable[ReadableSpan]) -> list[Problem]:
    """The problems among spans, earliest first (a stable sort: ties keep the order given)."""
    found = [problem for span in spans if (problem := problem_of(span)) is not None]
    found.sort(key=lambda problem: problem.start_ns)
    return found


def verdict(spans: Sequence[ReadableSpan]) -> Verdict | None:
    """The first problem among spans and what followed for the same object and container.

    Pure: the same spans give the same verdict. None when no span shows a problem.
    """
    problems = find_problems(spans)
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
