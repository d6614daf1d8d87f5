"""Export filters: which occurrences a user wants exported, with the causes that explain them.

``--exclude-namespace``, ``--selector``, ``--event-types``, ``--reasons`` and
``--exclude-reasons`` narrow what is *exported*, never what is *read*: the graph still takes
every object and Event, because the cause of a Warning is usually a Normal Event
(``Created pod: X``) on another object. A span that matches goes out with its ancestors, so
every exported trace reads from its root down to what matched; the rest is context only.

Spans are finished in no particular order (a change's root is held until the change goes
quiet, long after its children), so the filter keeps, within bounds, the spans it has not sent
(a later match may hang under them) and the ids that a sent span hangs under but that have not
arrived yet (they go out when they do). The graph task owns it, as it owns the graph.

Which spans match:

- ``--exclude-namespace``: every span whose object is in the namespace is left out (a Node's
  spans have no namespace and stay).
- ``--selector``: the span's object, or one of its owners up the ``ownerReferences`` chain,
  carries labels that match (a Deployment's label covers its ReplicaSets and Pods). Objects are
  matched as they are read; an Event about an object never read (not watched) does not match.
- ``--event-types``: an Event span by its type; a span read from status (a ``Container.Run``,
  a ``Node.NotReady``) counts as ``Warning`` when it shows a problem, else ``Normal``.
- ``--reasons`` / ``--exclude-reasons``: an Event span by its reason; spans read from status
  have no reason, so ``--reasons`` leaves them out and ``--exclude-reasons`` keeps them.

Log records (``--exporter otlp-logs``) are made for the matching occurrences only: an ancestor
sent for context is marked ``context_only`` and has no record.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from cachetools import LRUCache
from opentelemetry.sdk.trace import ReadableSpan

from kspan_py.config import ConfigError, FilterSettings
from kspan_py.model import ChangeType, KubeEvent, ObjectChange, ObjectRef
from kspan_py.spans.building import ChangeRoot, KubeSpan

_MAX_HELD = 20_000
"""Unsent spans kept in case a later match hangs under them: a change's spans are finished
within minutes of each other, and a busy cluster finishes a few thousand spans a minute."""
_MAX_IDS = 100_000
_MAX_OBJECTS = 500_000
_MAX_OWNER_DEPTH = 8

# A label key (optionally prefixed) or value, as the API server validates them.
_NAME = r"[A-Za-z0-9](?:[-A-Za-z0-9_./]{0,251}[A-Za-z0-9])?"
_VALUE = r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?"
_EQUALITY = re.compile(rf"\s*(?P<key>{_NAME})\s*(?P<op>==|!=|=)\s*(?P<value>{_VALUE})\s*")
_SET = re.compile(rf"\s*(?P<key>{_NAME})\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)\s*")
_EXISTS = re.compile(rf"\s*(?P<not>!?)\s*(?P<key>{_NAME})\s*")
_VALUE_ONLY = re.compile(rf"\s*({_VALUE})\s*")


@dataclass(frozen=True, slots=True)
class Requirement:
    """One term of a label selector: ``key=v``, ``key!=v``, ``key in (a,b)``, ``!key``..."""

    key: str
    operator: str  # "in", "notin", "exists", "!exists"
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.operator == "exists":
            return present
        if self.operator == "!exists":
            return not present
        if self.operator == "in":
            return present and labels[self.key] in self.values
        return not present or labels[self.key] not in self.values


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """A Kubernetes label selector (``kubectl -l`` syntax): every requirement must hold."""

    requirements: tuple[Requirement, ...]

    @classmethod
    def parse(cls, text: str) -> LabelSelector:
        requirements = []
        for term in _terms(text):
            requirements.append(_requirement(term, text))
        if not requirements:
            raise ConfigError(f"--selector: {text!r} has no requirement")
        return cls(tuple(requirements))

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(requirement.matches(labels) for requirement in self.requirements)


def _terms(text: str) -> list[str]:
    """Split at the commas that are not inside ``( )``."""
    terms, depth, start = [], 0, 0
    for position, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            terms.append(text[start:position])
            start = position + 1
    terms.append(text[start:])
    return [term for term in terms if term.strip()]


def _requirement(term: str, text: str) -> Requirement:
    if found := _SET.fullmatch(term):
        values = []
        for value in found["values"].split(","):
            checked = _VALUE_ONLY.fullmatch(value)
            if checked is None:
                raise ConfigError(f"--selector: {value.strip()!r} in {text!r} is not a label value")
            values.append(checked.group(1))
        return Requirement(found["key"], found["op"], frozenset(values))
    if found := _EQUALITY.fullmatch(term):
        operator = "notin" if found["op"] == "!=" else "in"
        return Requirement(found["key"], operator, frozenset([found["value"]]))
    if found := _EXISTS.fullmatch(term):
        return Requirement(found["key"], "!exists" if found["not"] else "exists")
    raise ConfigError(
        f"--selector: {term.strip()!r} in {text!r} is not a requirement "
        "(key=value, key!=value, key in (a,b), key notin (a,b), key, !key)"
    )


@dataclass(slots=True)
class _Labelled:
    matches: bool
    owner: str | None


class ExportFilter:
    """Picks the spans to export; a no-op (and free) when no filter is set."""

    def __init__(self, settings: FilterSettings) -> None:
        self._settings = settings
        self._excluded = frozenset(settings.exclude_namespaces)
        self._types = frozenset(settings.event_types)
        self._reasons = frozenset(settings.reasons)
        self._excluded_reasons = frozenset(settings.exclude_reasons)
        self._selector = LabelSelector.parse(settings.selector) if settings.selector else None
        self.active = bool(
            self._excluded
            or self._types
            or self._reasons
            or self._excluded_reasons
            or self._selector is not None
        )
        # uid (or kind/namespace/name) -> whether its labels match, and its owner's uid
        self._objects: LRUCache[str, _Labelled] = LRUCache(_MAX_OBJECTS)
        self._held: LRUCache[int, ReadableSpan] = LRUCache(_MAX_HELD)
        self._wanted: LRUCache[int, None] = LRUCache(_MAX_IDS)
        self._sent: LRUCache[int, None] = LRUCache(_MAX_IDS)
        self.left_out = 0  # spans not exported (so far: a later match may still send them)

    @property
    def reads_objects(self) -> bool:
        """Whether observe() wants the object changes (only --selector does)."""
        return self._selector is not None

    def observe(self, change: ObjectChange) -> None:
        """Note an object's labels and owner (only --selector needs them)."""
        if self._selector is None:
            return
        obj = change.obj
        key = obj.ref.key
        if change.type is ChangeType.DELETED:
            return  # kept until evicted: late Events about the object still resolve
        labelled = _Labelled(
            self._selector.matches(dict(obj.labels)), obj.owner.uid if obj.owner else None
        )
        self._objects[key] = labelled
        if obj.ref.uid:
            self._objects[f"{obj.ref.kind}/{obj.ref.namespace}/{obj.ref.name}"] = labelled

    def matches(self, span: ReadableSpan) -> bool:
        if not self.active:
            return True
        if not isinstance(span, KubeSpan):
            return True  # not one of ours: nothing to judge it by
        subject = span.draft.subject
        ref = subject.top if isinstance(subject, ChangeRoot) else subject.regarding
        if ref.namespace in self._excluded:
            return False
        if self._selector is not None and not self._selected(ref):
            return False
        if isinstance(subject, KubeEvent):
            event_type, reason = subject.type, subject.reason
        else:
            event_type = "Warning" if span.draft.error_message is not None else "Normal"
            reason = None
        if self._types and event_type not in self._types:
            return False
        if self._reasons and reason not in self._reasons:
            return False
        return not (reason is not None and reason in self._excluded_reasons)

    def _selected(self, ref: ObjectRef) -> bool:
        found = self._objects.get(ref.key) or self._objects.get(
            f"{ref.kind}/{ref.namespace}/{ref.name}"
        )
        for _ in range(_MAX_OWNER_DEPTH):
            if found is None:
                return False
            if found.matches:
                return True
            found = self._objects.get(found.owner) if found.owner else None
        return False

    def select(self, spans: Sequence[ReadableSpan]) -> list[ReadableSpan]:
        """The spans to export now: those that match, the causes they hang under, and the
        held causes of matches seen before."""
        if not self.active:
            return list(spans)
        chosen: list[ReadableSpan] = []
        for span in spans:
            context = span.context
            assert context is not None
            if self.matches(span):
                self._send(span, chosen, context_only=False)
            elif context.span_id in self._wanted:
                self._send(span, chosen, context_only=True)
            else:
                self._held[context.span_id] = span
                self.left_out += 1
        return chosen

    def select_all(self, spans: Iterable[ReadableSpan]) -> list[ReadableSpan]:
        """A whole linked input at once (explain): the same choice as span by span."""
        return self.select(list(spans))

    def _send(self, span: ReadableSpan, chosen: list[ReadableSpan], *, context_only: bool) -> None:
        while True:
            context = span.context
            assert context is not None
            self._wanted.pop(context.span_id, None)
            self._sent[context.span_id] = None
            if isinstance(span, KubeSpan):
                span.context_only = context_only
            chosen.append(span)
            parent = span.parent
            if parent is None or parent.span_id in self._sent:
                return
            held = self._held.pop(parent.span_id, None)
            if held is None:
                self._wanted[parent.span_id] = None  # it comes later: sent when it does
                return
            self.left_out -= 1
            span, context_only = held, True
