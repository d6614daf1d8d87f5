"""Every Event occurrence as an OTLP log record, pointing at the span it belongs to.

The whole ecosystem (the Collector's ``k8s_events`` receiver, Alloy, Elastic, Loki) reads
Kubernetes Events as logs, without causality; the traces give causality, without a log line to
search. This sink gives both from one linking pass: it is a span sink like the others (it takes
the same deliveries, so it is queued, retried and journalled with them), and turns each span of
an Event into one record per occurrence the span holds (a span of repeats holds several), with
the span's trace and span id, so a backend jumps from the log line to its trace.

Attributes are named as the ``k8s_events`` receiver names them, so existing dashboards work.
Spans that are not Events (a change's root, a ``Pod.Lifetime``, phases read from status) have
no record: nothing was logged for them.

A restart exports again a span of repeats whose later occurrences were not delivered; its
earlier occurrences were, and their records are not sent twice (``already_delivered``).
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from kspan_py.appending import LineFile
from kspan_py.config import OtlpSettings
from kspan_py.model import KubeEvent
from kspan_py.model.timestamps import format_time_ns
from kspan_py.sinks.otlp import sdk_exporter
from kspan_py.sinks.otlp_json import (
    add_attributes,
    encoded,
    json_string,
    member_parts,
    resource_head,
    scope_head,
)
from kspan_py.spans.attributes import (
    EVENT_MESSAGE,
    EVENT_START_TIME,
    LINK_RULE,
    PROBLEM,
    Attributes,
    event_attributes,
)
from kspan_py.spans.building import SCOPE, KubeSpan
from kspan_py.spans.ids import event_span_id
from kspan_py.spans.limits import SPAN_LIMITS
from kspan_py.spans.problems import Problem, event_problem

_SEVERITY = {"Normal": SeverityNumber.INFO, "Warning": SeverityNumber.WARN}
_MAX_RECORDS_PER_REQUEST = 2048
_MAX_REQUEST_BYTES = 2 * 1024 * 1024
"""Half the 4 MiB a Collector accepts by default: what a record costs is estimated from its
text (protobuf adds a few bytes a field), so the margin covers the estimate."""
_RECORD_OVERHEAD_BYTES = 96  # ids, times, severity, flags and field tags
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)

_log = logging.getLogger(__name__)

AlreadyDelivered = Callable[[int], bool]
"""Whether the occurrence with this span id went out before (a restart's checkpoint)."""


@dataclass(frozen=True, slots=True)
class EventLog:
    """One occurrence of an Event as a log record: what both encodings are made from."""

    trace_id: int
    span_id: int
    time_ns: int
    observed_ns: int
    event_type: str
    body: str
    attributes: Attributes
    resource: Resource

    @property
    def severity(self) -> SeverityNumber:
        return _SEVERITY.get(self.event_type, SeverityNumber.UNSPECIFIED)


def log_attributes(
    event: KubeEvent, shift_ns: int = 0, problem: Problem | bool | None = False
) -> Attributes:
    """The record's attributes: the receiver's names, and the problem the occurrence shows
    (``problem``: already classified, e.g. the span's own; False: classify here)."""
    attributes = event_attributes(event, "")
    del attributes[LINK_RULE]
    del attributes[EVENT_MESSAGE]  # the body
    attributes[EVENT_START_TIME] = format_time_ns((event.first_ns or event.time_ns) + shift_ns)
    if problem is False:
        problem = event_problem(event)
    if isinstance(problem, Problem):
        attributes[PROBLEM] = problem.name
        attributes.update(problem.details)
    return attributes


def event_logs(
    spans: Sequence[ReadableSpan],
    *,
    observed_ns: int,
    already_delivered: AlreadyDelivered | None = None,
) -> list[EventLog]:
    """A record per Event occurrence the spans hold, in the order they happened."""
    logs = []
    for span in spans:
        if not isinstance(span, KubeSpan) or span.context_only:
            # Only kspan-py's own spans know the occurrences they stand for; a span exported
            # only as the cause of what a filter chose was not asked for.
            continue
        draft = span.draft
        first = draft.subject
        if not isinstance(first, KubeEvent):
            continue
        for event in (first, *(draft.repeats or ())):
            if already_delivered is not None and already_delivered(
                event_span_id(event.uid, event.count)
            ):
                continue
            logs.append(
                EventLog(
                    draft.trace_id,
                    draft.span_id,
                    event.time_ns + span.shift_ns,
                    observed_ns,
                    event.type,
                    SPAN_LIMITS.cut(event.message),
                    # The span's own occurrence was classified when the span was made.
                    SPAN_LIMITS.cut_values(
                        log_attributes(
                            event, span.shift_ns, draft.problem if event is first else False
                        )
                    ),
                    span.resource,
                )
            )
    return logs


def readable_record(log: EventLog) -> ReadableLogRecord:
    """The SDK's form, for its OTLP exporters."""
    context = trace.set_span_in_context(
        NonRecordingSpan(SpanContext(log.trace_id, log.span_id, False, _SAMPLED))
    )
    record = LogRecord(
        timestamp=log.time_ns,
        observed_timestamp=log.observed_ns,
        context=context,
        severity_text=log.event_type or None,
        severity_number=log.severity,
        body=log.body,
        attributes=log.attributes,
    )
    return ReadableLogRecord(record, log.resource, SCOPE)


def _add_record(parts: list[str], log: EventLog) -> None:
    """One LogRecord, written as text from the EventLog (no dict per attribute)."""
    quote = json_string
    parts.append(f'{{"timeUnixNano":"{log.time_ns}","observedTimeUnixNano":"{log.observed_ns}"')
    severity = log.severity
    if severity is not SeverityNumber.UNSPECIFIED:
        parts.append(f',"severityNumber":{severity.value}')
    if log.event_type:
        parts.append(',"severityText":')
        parts.append(quote(log.event_type))
    parts.append(',"body":{"stringValue":')
    parts.append(quote(log.body))
    parts.append("},")
    add_attributes(parts, log.attributes)
    parts.append(
        f',"flags":{int(_SAMPLED)},"traceId":"{log.trace_id:032x}","spanId":"{log.span_id:016x}"}}'
    )


def logs_request_parts(logs: Sequence[EventLog]) -> Iterator[bytes]:
    """One OTLP/JSON ExportLogsServiceRequest (a single line), by the rules the spans follow,
    in parts: records are encoded as the parts are asked for (as request_parts does)."""
    grouped: dict[int, tuple[Resource, list[EventLog]]] = {}
    for log in logs:
        found = grouped.get(id(log.resource))
        if found is None:
            found = grouped[id(log.resource)] = (log.resource, [])
        found[1].append(log)
    parts = ['{"resourceLogs":[']
    for resource_index, (resource, records) in enumerate(grouped.values()):
        if resource_index:
            parts.append(",")
        parts.append(resource_head(resource, "scopeLogs"))
        parts.append(scope_head(SCOPE, "logRecords"))
        yield from member_parts(parts, records, _add_record)
        parts.append("]}]}")
    parts.append("]}")
    yield encoded(parts)


def logs_request_json(logs: Sequence[EventLog]) -> bytes:
    """One OTLP/JSON ExportLogsServiceRequest (a single line, no newline)."""
    return b"".join(logs_request_parts(logs))


def estimated_size(log: EventLog) -> int:
    """About what a record takes in a request: its text, and a fixed part."""
    size = _RECORD_OVERHEAD_BYTES + len(log.body)
    for key, value in log.attributes.items():
        size += len(key) + (len(value) if isinstance(value, str) else 10) + 8
    return size


def in_requests(logs: Sequence[EventLog]) -> list[Sequence[EventLog]]:
    """Records cut into requests a default Collector accepts (bounded by count and size)."""
    requests: list[Sequence[EventLog]] = []
    start, size = 0, 0
    for index, log in enumerate(logs):
        cost = estimated_size(log)
        if index > start and (
            index - start >= _MAX_RECORDS_PER_REQUEST or size + cost > _MAX_REQUEST_BYTES
        ):
            requests.append(logs[start:index])
            start, size = index, 0
        size += cost
    if start < len(logs):
        requests.append(logs[start:])
    return requests


class EventLogSink(SpanExporter):
    """Base of the two log sinks: spans in, records out; knows what a restart delivered."""

    def __init__(self, *, clock: Callable[[], int] = time.time_ns) -> None:
        self.already_delivered: AlreadyDelivered | None = None
        """Set by a live run with a checkpoint: occurrences delivered before the restart."""
        self._clock = clock
        self.records = 0  # records the backend took

    def logs(self, spans: Sequence[ReadableSpan]) -> list[EventLog]:
        return event_logs(
            spans, observed_ns=self._clock(), already_delivered=self.already_delivered
        )


class OtlpLogSink(EventLogSink):
    """``--exporter otlp-logs``: the SDK's OTLP log exporter (gRPC or HTTP)."""

    def __init__(self, exporter: LogRecordExporter) -> None:
        super().__init__()
        self._exporter = exporter
        # A live run retries a refused delivery with the same list of spans: the requests of
        # it that were taken are not sent again. (the list's identity and size, records taken)
        self._progress: tuple[int, int, int] | None = None

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        logs = self.logs(spans)
        if not logs:
            return SpanExportResult.SUCCESS
        key = (id(spans), len(spans))
        progress = self._progress
        taken = progress[2] if progress is not None and progress[:2] == key else 0
        for request in in_requests(logs[taken:]):
            result = self._exporter.export([readable_record(log) for log in request])
            if result is not LogRecordExportResult.SUCCESS:
                self._progress = (*key, taken)
                return SpanExportResult.FAILURE
            taken += len(request)
            self.records += len(request)
        self._progress = None
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return bool(self._exporter.force_flush(timeout_millis))

    def shutdown(self) -> None:
        self._exporter.shutdown()  # type: ignore[no-untyped-call]


class OtlpLogsJsonFileSink(EventLogSink):
    """``--exporter otlp-logs-json``: one OTLP/JSON ExportLogsServiceRequest per line."""

    cpu_only = True
    """Exports without waiting on the network: the runner calls it inline, not in a thread."""

    def __init__(self, path: str, *, append: bool = True) -> None:
        """append: a run's file, which a restart with --state-file goes on with (a torn last
        line a kill left is cut off); False: a replay's, written anew (kspan_py/appending.py)."""
        super().__init__()
        self._file = LineFile(path, append=append)
        if self._file.torn_bytes:
            _log.warning("%s: cut off a torn last line a killed run left", path)

    @property
    def failure_reason(self) -> str | None:
        """Why the last export failed (a full disk); the outlet counts it by this reason."""
        return self._file.failure_reason

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        logs = self.logs(spans)
        if not logs:
            return SpanExportResult.SUCCESS
        line = itertools.chain(logs_request_parts(logs), (b"\n",))
        if not self._file.write_parts(line, what=f"{len(logs)} records"):
            return SpanExportResult.FAILURE
        self.records += len(logs)
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True  # every export is written with os.write before it returns

    def shutdown(self) -> None:
        self._file.close()


def make_otlp_log_exporter(settings: OtlpSettings) -> LogRecordExporter:
    exporter: LogRecordExporter = sdk_exporter(settings, "logs")
    return exporter
