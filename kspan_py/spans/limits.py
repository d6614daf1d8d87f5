"""Span limits: how long a value a span carries may be, and how many span events it keeps.

An Event's message is whatever its author wrote; the API server does not bound a core/v1
message. Carried whole, a 50 MB message became a 52 MB OTLP request, which a Collector (4 MiB
by default) refuses, losing the whole batch. So values are cut as the SDK's own span limits cut
them, read from the same variables: ``OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT`` (else
``OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT``) characters per value, ``OTEL_SPAN_EVENT_COUNT_LIMIT``
span events per span (the latest kept, as the SDK keeps them). The SDK leaves the value length
unbounded by default; kspan-py defaults to ``DEFAULT_VALUE_LENGTH`` so that one span stays well
inside a Collector's default request limit, and the OTLP sink splits batches by size
(sinks/otlp.py). The status message (an Event's message too) is cut to the same length.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any, TypeVar

from opentelemetry.sdk.environment_variables import (
    OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT,
    OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT,
)
from opentelemetry.sdk.trace import SpanLimits

log = logging.getLogger(__name__)

DEFAULT_VALUE_LENGTH = 4096
"""Characters. Real Event messages are far shorter (a long admission webhook denial is a few
KB); at this length a span, with its 128 span events, stays under 2 MB of ASCII."""

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class ValueLimits:
    value_length: int | None = DEFAULT_VALUE_LENGTH
    """Longest string value (characters); None: unbounded (the variable set to ``unset``)."""
    event_count: int | None = 128
    """Most span events a span keeps (the latest); None: unbounded."""

    def cut(self, text: str) -> str:
        limit = self.value_length
        return text if limit is None or len(text) <= limit else text[:limit]

    def cut_values(self, attributes: dict[str, Any]) -> dict[str, Any]:
        """Cut every string value (and every string in a list value) in place; returns it."""
        limit = self.value_length
        if limit is None:
            return attributes
        for key, value in attributes.items():
            if value.__class__ is str:
                if len(value) > limit:
                    attributes[key] = value[:limit]
            elif isinstance(value, list | tuple):
                attributes[key] = type(value)(v[:limit] if isinstance(v, str) else v for v in value)
        return attributes

    def latest_events(self, events: list[_T]) -> list[_T]:
        limit = self.event_count
        return events if limit is None or len(events) <= limit else events[len(events) - limit :]


def read_value_limits() -> ValueLimits:
    """The limits the OTEL_* variables set, with kspan-py's default value length."""
    value_length_set = (
        OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT in os.environ
        or OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT in os.environ
    )
    try:
        sdk = SpanLimits()
    except ValueError as error:  # the SDK's own message names the variable
        log.warning("%s; using kspan-py's span limits", error)
        return ValueLimits()
    return ValueLimits(
        value_length=sdk.max_span_attribute_length if value_length_set else DEFAULT_VALUE_LENGTH,
        event_count=sdk.max_events,
    )


SPAN_LIMITS = read_value_limits()
"""Read once, as the SDK reads them when its TracerProvider is made."""
