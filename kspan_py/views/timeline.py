"""The HTML timeline: one self-contained file with a waterfall per trace.

Anyone can open it (a mail attachment, a CI artefact) without a tracing backend and without a
network: the styles and the script are inline, the data is JSON inside a
``<script type="application/json">`` element, and a Content-Security-Policy forbids every
fetch. The script builds the page from the data with ``textContent`` only, so Event messages
can never become markup; in the JSON, ``<``, ``>`` and ``&`` are written as ``\\u003c``-style
escapes, so a message holding ``</script>`` cannot end the data element early.

The page shows a colour per component, problems marked with their details, the attributes of
a span on hover, and a filter box (also set from the address: ``timeline.html#filter=BackOff``).
"""

from __future__ import annotations

import html
import zlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import orjson
from opentelemetry.sdk.trace import ReadableSpan

from kspan_py.spans.attributes import LINK_REASON
from kspan_py.views.problems import classifies, problem_of, verdict
from kspan_py.views.traces import (
    Trace,
    component_of,
    message_of,
    object_of,
    start_of,
)

Json = dict[str, Any]

# Distinct on a white page, none of them red (red marks problems).
COMPONENT_COLOURS = (
    "#1f77b4",
    "#2ca02c",
    "#9467bd",
    "#ff7f0e",
    "#17becf",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#3949ab",
)

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; \
script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>@TITLE@</title>
<style>
@STYLE@
</style>
</head>
<body>
<header>
<h1>@TITLE@</h1>
<p class="note">@NOTE@</p>
<div class="tools">
<input id="filter" type="search" placeholder="filter: name, component, object, message"
 aria-label="filter spans" autocomplete="off">
<span id="count"></span>
</div>
<div id="legend"></div>
</header>
<main id="traces"><noscript>This timeline is drawn by its inline script.</noscript></main>
<div id="tooltip" hidden></div>
<script type="application/json" id="kspan-data">@DATA@</script>
<script>
@SCRIPT@
</script>
</body>
</html>
"""


def component_colour(component: str) -> str:
    """The same colour for a component in every page."""
    return COMPONENT_COLOURS[zlib.crc32(component.encode()) % len(COMPONENT_COLOURS)]


def _ms(value_ns: int) -> float:
    return round(value_ns / 1e6, 3)


def _plain(value: object) -> object:
    """An attribute value as JSON: sequences as lists, anything unknown as its text."""
    if isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Sequence):
        return [_plain(v) for v in value]
    return str(value)


def _attributes(attributes: Mapping[str, object] | None) -> Json:
    return {key: _plain(value) for key, value in (attributes or {}).items()}


def _iso(time_ns: int) -> str:
    return datetime.fromtimestamp(time_ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _span(span: ReadableSpan, depth: int, origin: int, end: int, *, classified: bool) -> Json:
    problem = problem_of(span, classified=classified)
    component = component_of(span)
    obj = object_of(span)
    context = span.context
    return {
        "id": f"{context.span_id:016x}" if context is not None else "",
        "depth": depth,
        "name": span.name,
        "component": component,
        "object": str(obj) if obj is not None else "",
        "message": message_of(span),
        "offset": _ms(start_of(span) - origin),
        "duration": _ms(end - start_of(span)),
        "problem": (
            {"name": problem.name, "detail": problem.detail(message_of(span))}
            if problem is not None
            else None
        ),
        "attributes": {
            "service.name": component,
            "start": _iso(start_of(span)),
            **_attributes(span.attributes),
        },
        "events": [
            {
                "name": event.name,
                "offset": _ms(event.timestamp - origin),
                "attributes": _attributes(event.attributes),
            }
            for event in span.events
        ],
        "links": [
            {
                "trace": f"{link.context.trace_id:032x}",
                "span": f"{link.context.span_id:016x}",
                "reason": str((link.attributes or {}).get(LINK_REASON) or "link"),
            }
            for link in span.links
        ],
    }


def timeline_data(traces: Sequence[Trace]) -> Json:
    """What the page's script draws: traces, their spans in tree order, times in ms."""
    classified = classifies(span for trace in traces for span in trace.spans)
    components: dict[str, str] = {}
    encoded = []
    for trace in traces:
        origin = trace.start_ns
        spans = []
        for row in trace.rows():
            component = component_of(row.span)
            components.setdefault(component, component_colour(component))
            end = origin + row.offset_ns + row.duration_ns
            spans.append(_span(row.span, row.depth, origin, end, classified=classified))
        found = verdict(trace.spans, classified=classified)
        encoded.append(
            {
                "id": f"{trace.trace_id:032x}",
                "start": _iso(origin),
                "duration": _ms(trace.end_ns - origin),
                "verdict": found.line() if found is not None else None,
                "spans": spans,
            }
        )
    return {"components": dict(sorted(components.items())), "traces": encoded}


def script_json(value: object) -> str:
    """JSON safe inside a <script> element: no character of it can close the element or
    open a comment, whatever the strings hold."""
    text = orjson.dumps(value).decode()
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _asset(name: str) -> str:
    return resources.files("kspan_py.views").joinpath(name).read_text(encoding="utf-8")


def render_timeline(
    traces: Sequence[Trace], *, title: str = "kspan-py timeline", note: str = ""
) -> str:
    """The whole page, as text."""
    spans = sum(len(trace.spans) for trace in traces)
    note = note or f"{len(traces)} traces, {spans} spans; times UTC"
    page = _PAGE.replace("@STYLE@", _asset("timeline.css")).replace(
        "@SCRIPT@", _asset("timeline.js")
    )
    # The data goes in last: nothing in it is ever taken for a placeholder.
    page = page.replace("@TITLE@", html.escape(title)).replace("@NOTE@", html.escape(note))
    return page.replace("@DATA@", script_json(timeline_data(traces)))
