"""The only place spans are made.

The graph keeps a mutable SpanDraft per span until it is final (OTLP cannot update a span),
then hands it here. Spans are built directly, not through a Tracer: the SDK's tracer makes
random ids and wall-clock times, and its processors drop unsampled spans.

A finished span is a KubeSpan: a ReadableSpan that reads its draft, which holds the occurrence
(or the change) it stands for rather than copies of its attributes. Finished spans wait in the
sinks' queues (thousands of them on a busy cluster); built out as the SDK builds them (a dict
of attributes, two SpanContexts, a Status) they took about three times the memory. Everything
the ReadableSpan interface gives is made when it is read, and a sink that knows KubeSpan (the
OTLP/JSON file sink) reads the draft directly.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from opentelemetry.sdk.resources import SERVICE_INSTANCE_ID, SERVICE_NAME, Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.util.types import Attributes as OtelAttributes

from kspan_py.model import (
    GenerationChange,
    KubeEvent,
    LifecycleFact,
    ObjectRef,
    replace_lone_surrogates,
)
from kspan_py.spans.attributes import (
    CLUSTER_NAME,
    CLUSTER_UID,
    COMPONENT,
    EVENT_COUNT,
    EVENT_MESSAGE,
    EVENT_UID,
    LINK_REASON,
    PROBLEM,
    REPEAT_FIRST_COUNT,
    Attributes,
    change_attributes,
    event_attributes,
    lifecycle_attributes,
)
from kspan_py.spans.ids import event_span_id
from kspan_py.spans.limits import SPAN_LIMITS
from kspan_py.spans.problems import Problem, event_problem

SCOPE = InstrumentationScope("kspan_py", "0.1.0")
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_UNSET = Status(StatusCode.UNSET)
UNKNOWN_COMPONENT = "kubernetes"


@dataclass(frozen=True, slots=True)
class ChangeRoot:
    """What the root span of a change stands for: the top object and its new generation."""

    top: ObjectRef
    generation: GenerationChange


SpanLink = tuple[int, int, str]
"""(trace id, span id, why): a span link to a cause in another place (kspan.link.reason)."""


@dataclass(slots=True)
class SpanDraft:
    """A span being assembled; its end grows until it is exported."""

    trace_id: int
    span_id: int
    parent_id: int | None
    start_ns: int
    end_ns: int
    # An occurrence, a phase read from status, or the change a root span stands for.
    subject: KubeEvent | LifecycleFact | ChangeRoot
    link_rule: str  # how an occurrence's span found its parent; "" for a change's root
    repeats: list[KubeEvent] | None = None  # later occurrences of the same Event, folded in
    links: list[SpanLink] | None = None
    # A span of repeats: what its first occurrence hangs under, so that the repeats still
    # stretch the Pod's life and the change's root once the first occurrence has left.
    cover_via: int | None = None
    # The subject's problem, classified on first read and kept: attributes, the status and
    # every view read it again, and a rule reads up to 8 KiB of message.
    _problem: Problem | Literal[False] | None = field(
        default=False, init=False, repr=False, compare=False
    )
    # False while the draft may still change; once it is a KubeSpan (final), None until its
    # attributes are first read, then them: each sink, the export filter and the OTLP size
    # bound read them, and making them was the largest part of encoding a span.
    _final_attributes: Attributes | Literal[False] | None = field(
        default=False, init=False, repr=False, compare=False
    )

    @property
    def name(self) -> str:
        subject = self.subject
        if isinstance(subject, KubeEvent):
            return f"{subject.regarding.kind}.{subject.reason or 'Event'}"
        if isinstance(subject, LifecycleFact):
            return subject.name
        return f"{subject.top.kind}.{subject.generation.operation}"

    @property
    def component(self) -> str:
        subject = self.subject
        if isinstance(subject, ChangeRoot):
            return subject.generation.manager
        return subject.component

    @property
    def instance(self) -> str:
        subject = self.subject
        return "" if isinstance(subject, ChangeRoot) else subject.instance

    @property
    def problem(self) -> Problem | None:
        found = self._problem
        if found is False:
            subject = self.subject
            found = self._problem = (
                event_problem(subject) if isinstance(subject, KubeEvent) else None
            )
        return found

    @property
    def latest(self) -> KubeEvent | None:
        """The latest occurrence the span holds (its own, or the last repeat folded in)."""
        subject = self.subject
        if not isinstance(subject, KubeEvent):
            return None
        return self.repeats[-1] if self.repeats else subject

    @property
    def error_message(self) -> str | None:
        """Set for Warning events and for problems: the span's status is ERROR."""
        subject = self.subject
        if isinstance(subject, LifecycleFact):
            return subject.error
        if isinstance(subject, KubeEvent):
            latest = self.latest
            assert latest is not None
            if subject.is_warning or self.problem is not None:
                return SPAN_LIMITS.cut(latest.message)
        return None

    def occurrences(self) -> list[tuple[int, int]]:
        """(span id of each occurrence the span holds, its time): what a restart must not repeat."""
        held = [(self.span_id, self.start_ns)]
        for repeat in self.repeats or ():
            held.append((event_span_id(repeat.uid, repeat.count), repeat.time_ns))
        return held

    @property
    def end(self) -> int:
        """The exported end: never before the start."""
        return max(self.end_ns, self.start_ns)

    def attributes(self) -> Attributes:
        """The span's attributes, string values cut to the span limits (spans/limits.py).
        Made once for a finished span: the same dict at every read (not to be changed)."""
        made = self._final_attributes
        if made is not None and made is not False:
            return made
        attributes = SPAN_LIMITS.cut_values(self._attributes())
        if made is None:
            self._final_attributes = attributes
        return attributes

    def finish(self) -> None:
        """The draft no longer changes (it became a KubeSpan): its attributes may be kept."""
        if self._final_attributes is False:
            self._final_attributes = None

    def _attributes(self) -> Attributes:
        subject = self.subject
        if isinstance(subject, LifecycleFact):
            return lifecycle_attributes(subject, self.link_rule)
        if isinstance(subject, ChangeRoot):
            return change_attributes(subject.top, subject.generation)
        attributes = event_attributes(subject, self.link_rule)
        problem = self.problem
        if problem is not None:
            attributes[PROBLEM] = problem.name
            attributes.update(problem.details)
        if self.repeats:
            latest = self.repeats[-1]
            attributes[REPEAT_FIRST_COUNT] = subject.count
            attributes[EVENT_COUNT] = latest.count
            attributes[EVENT_MESSAGE] = latest.message
        return attributes

    def span_events(self) -> list[tuple[str, int, Attributes]]:
        """The occurrences a span of repeats holds, as (name, time, attributes), the latest
        within the span limits; else none."""
        subject = self.subject
        if not isinstance(subject, KubeEvent):
            return []
        limits = SPAN_LIMITS
        if not self.repeats:
            if not subject.count > 1 or not self.start_ns <= subject.first_ns < subject.time_ns:
                return []
            # An Event seen only in its final state: the span starts at its first occurrence;
            # its last (the count it was seen at) is marked where it happened.
            attributes = {
                EVENT_UID: subject.uid,
                EVENT_COUNT: subject.count,
                EVENT_MESSAGE: subject.message,
            }
            return [
                (
                    limits.cut(subject.reason or "Event"),
                    subject.time_ns,
                    limits.cut_values(attributes),
                )
            ]
        return [
            (
                limits.cut(event.reason or "Event"),
                event.time_ns,
                limits.cut_values(
                    {EVENT_UID: event.uid, EVENT_COUNT: event.count, EVENT_MESSAGE: event.message}
                ),
            )
            for event in limits.latest_events([subject, *self.repeats])
        ]


class KubeSpan(ReadableSpan):
    """A finished span: the ReadableSpan interface over a draft that no longer changes."""

    __slots__ = ("_span_resource", "context_only", "draft", "shift_ns")

    # What the base class's own methods read, for what kspan-py never sets.
    _kind = SpanKind.INTERNAL
    _events: Sequence[Event] = ()
    _links: Sequence[Link] = ()
    _instrumentation_info = None
    _instrumentation_scope = SCOPE

    def __init__(self, draft: SpanDraft, resource: Resource, shift_ns: int = 0) -> None:
        # No super().__init__(): every field it would copy is read from the draft instead.
        draft.finish()
        self.draft = draft
        self._span_resource = resource
        self.shift_ns = shift_ns
        """Added to every time the span shows (--retime); the draft keeps the input's."""
        self.context_only = False
        """Exported only as the cause of a span an export filter chose (filtering.py): no log
        record is made for it."""

    @property
    def name(self) -> str:
        return self.draft.name

    def get_span_context(self) -> SpanContext:
        draft = self.draft
        return SpanContext(draft.trace_id, draft.span_id, is_remote=False, trace_flags=_SAMPLED)

    @property
    def context(self) -> SpanContext:
        return self.get_span_context()

    @property
    def kind(self) -> SpanKind:
        return SpanKind.INTERNAL

    @property
    def parent(self) -> SpanContext | None:
        draft = self.draft
        if draft.parent_id is None:
            return None
        return SpanContext(draft.trace_id, draft.parent_id, is_remote=False, trace_flags=_SAMPLED)

    @property
    def start_time(self) -> int:
        return self.draft.start_ns + self.shift_ns

    @property
    def end_time(self) -> int:
        return self.draft.end + self.shift_ns

    @property
    def status(self) -> Status:
        message = self.draft.error_message
        return _UNSET if message is None else Status(StatusCode.ERROR, message)

    @property
    def attributes(self) -> OtelAttributes:
        return MappingProxyType(self.draft.attributes())

    @property
    def dropped_attributes(self) -> int:
        return 0

    @property
    def events(self) -> Sequence[Event]:
        return [
            Event(name, attributes, timestamp + self.shift_ns)
            for name, timestamp, attributes in self.draft.span_events()
        ]

    @property
    def links(self) -> Sequence[Link]:
        return [
            Link(
                SpanContext(trace_id, span_id, is_remote=False, trace_flags=_SAMPLED),
                {LINK_REASON: reason},
            )
            for trace_id, span_id, reason in self.draft.links or ()
        ]

    @property
    def resource(self) -> Resource:
        return self._span_resource

    @property
    def instrumentation_scope(self) -> InstrumentationScope:
        return SCOPE

    def built_out(self) -> ReadableSpan:
        """The same span as the SDK's own ReadableSpan, every field copied."""
        return ReadableSpan(
            name=self.name,
            context=self.context,
            parent=self.parent,
            resource=self.resource,
            attributes=self.draft.attributes(),
            kind=SpanKind.INTERNAL,
            status=self.status,
            start_time=self.start_time,
            end_time=self.end_time,
            events=self.events,
            links=self.links,
            instrumentation_scope=SCOPE,
        )

    def to_json(self, indent: int | None = 4) -> str:
        text: str = self.built_out().to_json(indent)  # the SDK leaves it untyped
        return text


log = logging.getLogger(__name__)

_NOT_UTF8 = (
    "%s is not valid UTF-8 (bytes the locale could not decode): they are written as U+FFFD, "
    "which OTLP can carry"
)

_MAX_RESOURCES = 4096
"""Resources kept for reuse. Components and instances are Events' reportingController and
reportingInstance, which whoever creates an Event writes: a run sees a few per node, but must not
keep one for every value made up; all are forgotten when full (then made again as needed)."""


def _utf8(text: str, what: str) -> str:
    """text as OTLP can carry it: a command line or an environment that was not UTF-8 reaches
    Python with lone surrogates, and every request holding one would be refused whole."""
    valid: str = replace_lone_surrogates(text)
    if valid != text:
        log.warning(_NOT_UTF8, what)
    return valid


class SpanBuilder:
    """Builds ReadableSpans, sharing one Resource per (component, instance)."""

    def __init__(
        self,
        cluster_name: str = "",
        *,
        service_name: str = "",
        cluster_uid: str = "",
        time_shift_ns: int = 0,
    ) -> None:
        # Resource.create() brings OTEL_RESOURCE_ATTRIBUTES and the SDK's attributes; the
        # service.name of each span is its reporting component, whatever OTEL_SERVICE_NAME says,
        # unless one service name is asked for (--service-name): then the component is
        # kspan.component, so backends that split by service still tell components apart.
        cluster: dict[str, str] = {}
        if cluster_name:
            cluster[CLUSTER_NAME] = _utf8(cluster_name, "--cluster-name")
        if cluster_uid:
            cluster[CLUSTER_UID] = _utf8(cluster_uid, "--cluster-uid")
        created = Resource.create(cluster)
        attributes = dict(created.attributes)
        if SERVICE_INSTANCE_ID not in os.environ.get("OTEL_RESOURCE_ATTRIBUTES", ""):
            # The SDK makes up a random instance id per process; ids here must be reproducible.
            attributes.pop(SERVICE_INSTANCE_ID, None)
        attributes.pop(SERVICE_NAME, None)
        valid = replace_lone_surrogates(dict(attributes))  # (it mends in place)
        if valid != attributes:
            log.warning(_NOT_UTF8, "OTEL_RESOURCE_ATTRIBUTES")
        self._base = Resource(valid, created.schema_url)
        self._fallback_service = _utf8(
            os.environ.get("OTEL_SERVICE_NAME") or UNKNOWN_COMPONENT, "OTEL_SERVICE_NAME"
        )
        self._service_name = _utf8(service_name, "--service-name")
        self._shift_ns = time_shift_ns
        self._resources: dict[tuple[str, str], Resource] = {}

    def adopt_cluster_uid(self, uid: str) -> None:
        """k8s.cluster.uid learnt from the input (the kube-system namespace), unless set."""
        if CLUSTER_UID in self._base.attributes or len(uid) > 64:
            return
        self._base = self._base.merge(Resource({CLUSTER_UID: uid}))
        self._resources.clear()

    def resource(self, component: str, instance: str) -> Resource:
        key = (component, instance)
        found = self._resources.get(key)
        if found is None:
            if len(self._resources) >= _MAX_RESOURCES:
                self._resources.clear()
            if self._service_name:
                own = {SERVICE_NAME: self._service_name, COMPONENT: component or UNKNOWN_COMPONENT}
            else:
                own = {SERVICE_NAME: component or self._fallback_service}
            if instance:
                own[SERVICE_INSTANCE_ID] = instance
            found = self._base.merge(Resource(own))
            self._resources[key] = found
        return found

    def build(self, draft: SpanDraft) -> KubeSpan:
        return KubeSpan(draft, self.resource(draft.component, draft.instance), self._shift_ns)
