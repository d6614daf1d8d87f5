"""The only place ReadableSpans are made.

The graph keeps a mutable SpanDraft per span until it is final (OTLP cannot update a span),
then hands it here. Spans are built directly, not through a Tracer: the SDK's tracer makes
random ids and wall-clock times, and its processors drop unsampled spans.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from opentelemetry.sdk.resources import SERVICE_INSTANCE_ID, SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from kspan_py.spans.attributes import CLUSTER_NAME, Attributes

SCOPE = InstrumentationScope("kspan_py", "0.1.0")
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
UNKNOWN_COMPONENT = "kubernetes"


@dataclass(slots=True)
class SpanDraft:
    """A span being assembled; its end grows until it is exported."""

    trace_id: int
    span_id: int
    parent_id: int | None
    name: str
    start_ns: int
    end_ns: int
    component: str
    instance: str
    attributes: Attributes
    error_message: str | None  # set for Warning events: the span's status is ERROR


class SpanBuilder:
    """Builds ReadableSpans, sharing one Resource per (component, instance)."""

    def __init__(self, cluster_name: str = "") -> None:
        # Resource.create() brings OTEL_RESOURCE_ATTRIBUTES and the SDK's attributes; the
        # service.name of each span is its reporting component, whatever OTEL_SERVICE_NAME says.
        created = Resource.create({CLUSTER_NAME: cluster_name} if cluster_name else {})
        attributes = dict(created.attributes)
        if SERVICE_INSTANCE_ID not in os.environ.get("OTEL_RESOURCE_ATTRIBUTES", ""):
            # The SDK makes up a random instance id per process; ids here must be reproducible.
            attributes.pop(SERVICE_INSTANCE_ID, None)
        attributes.pop(SERVICE_NAME, None)
        self._base = Resource(attributes, created.schema_url)
        self._fallback_service = os.environ.get("OTEL_SERVICE_NAME") or UNKNOWN_COMPONENT
        self._resources: dict[tuple[str, str], Resource] = {}

    def resource(self, component: str, instance: str) -> Resource:
        key = (component, instance)
        found = self._resources.get(key)
        if found is None:
            own: dict[str, str] = {SERVICE_NAME: component or self._fallback_service}
            if instance:
                own[SERVICE_INSTANCE_ID] = instance
            found = self._base.merge(Resource(own))
            self._resources[key] = found
        return found

    def build(self, draft: SpanDraft) -> ReadableSpan:
        context = SpanContext(draft.trace_id, draft.span_id, is_remote=False, trace_flags=_SAMPLED)
        parent = (
            SpanContext(draft.trace_id, draft.parent_id, is_remote=False, trace_flags=_SAMPLED)
            if draft.parent_id is not None
            else None
        )
        status = (
            Status(StatusCode.ERROR, draft.error_message)
            if draft.error_message is not None
            else Status(StatusCode.UNSET)
        )
        return ReadableSpan(
            name=draft.name,
            context=context,
            parent=parent,
            resource=self.resource(draft.component, draft.instance),
            attributes=draft.attributes,
            kind=SpanKind.INTERNAL,
            status=status,
            start_time=draft.start_ns,
            end_time=max(draft.end_ns, draft.start_ns),
            instrumentation_scope=SCOPE,
        )
