"""The library surface: `kspan_py.link(changes) -> Iterator[Trace]`, as the README shows it.

The README's example is run as it is written and its printed output compared with the output
the README shows, so the documentation cannot drift from the code.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

import kspan_py
from kspan_py.cli import main
from kspan_py.config import GraphSettings
from kspan_py.graph.causality import replay_changes
from kspan_py.model import EventChange, ObjectChange, Snapshot
from kspan_py.sources.capture import Bookmark, Skipped, read_capture
from kspan_py.views import group_traces
from tests.tracing import CAPTURES, ROOT, otlp_json_span_times, span_id, span_times

ROLLOUT = CAPTURES / "real-1.36" / "rollout.events.jsonl"


def readme_example() -> tuple[str, str]:
    """The library section's Python block and the output block that follows it."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## As a library", 1)[1].split("\n## ", 1)[0]
    found = re.search(r"```python\n(.*?)```.*?```\n(.*?)```", section, re.S)
    assert found is not None, "the README's library section lost its example"
    return found.group(1), found.group(2)


def test_the_readme_example_prints_what_the_readme_says(monkeypatch: pytest.MonkeyPatch) -> None:
    code, shown = readme_example()
    monkeypatch.chdir(ROOT)  # its capture path is relative to the repository
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    assert printed.getvalue() == shown


def test_link_gives_every_span_once_grouped_by_trace_in_start_order() -> None:
    traces = list(kspan_py.link(read_capture(str(ROLLOUT))))
    changes = [
        c
        for c in read_capture(str(ROLLOUT))
        if isinstance(c, ObjectChange | EventChange | Snapshot)
    ]
    spans = replay_changes(changes, GraphSettings())
    assert sorted(span_id(s) for t in traces for s in t.spans) == sorted(map(span_id, spans))
    assert [t.trace_id for t in traces] == [t.trace_id for t in group_traces(spans)]
    starts = [t.start_ns for t in traces]
    assert starts == sorted(starts) and len(traces) >= 2
    for trace in traces:
        assert trace.root is trace.spans[0] and trace.root.parent is None
        assert {s.context.trace_id for s in trace.spans} == {trace.trace_id}
        assert len(trace.depths) == len(trace.spans) and trace.depths[0] == 0


def test_link_passes_over_what_is_not_a_change() -> None:
    items = list(read_capture(str(ROLLOUT)))
    noise = [Skipped("x.jsonl:1", "malformed value", "not JSON"), Bookmark()]
    with_noise = list(kspan_py.link([*noise, *items, *noise]))
    assert [t.trace_id for t in with_noise] == [t.trace_id for t in kspan_py.link(items)]


def _every_capture() -> list[Path]:
    return [
        *sorted((ROOT / "examples" / "captures").glob("*.jsonl")),
        *sorted((ROOT / "examples" / "captures" / "real-1.36").glob("*.jsonl")),
        *sorted((ROOT / "examples" / "captures" / "dumps").glob("*.json")),
    ]


@pytest.mark.parametrize("capture", _every_capture(), ids=lambda p: p.name)
def test_the_command_line_and_link_give_the_same_spans(capture: Path, tmp_path: Path) -> None:
    """One input, one answer: `kspan-py replay` and `kspan_py.link()` (explain's path too)."""
    out = tmp_path / "spans.jsonl"
    args = ["replay", str(capture), "--exporter", "otlp-json", "--otlp-json-file", str(out)]
    assert main(args) == 0
    from_cli = otlp_json_span_times(out)
    traces = kspan_py.link(kspan_py.read_capture(str(capture)))
    from_library = span_times(span for trace in traces for span in trace.spans)
    assert from_cli == from_library
