"""What an Event author writes cannot stall kspan-py, nor reach a terminal, a log line or a
metric label raw.

Message rules: the worst case of each (tests/hostile_messages.py) is classified at a megabyte
in a child process with a deadline, since a stalled regex cannot be interrupted in-process; the
figures are in benchmarks/classify_bench.py. Output: control sequences, bidi overrides and rich
markup in Event names and messages come out escaped, as visible text.
"""

from __future__ import annotations

import io
import json
import logging
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kspan_py import explaining
from kspan_py.cli import main
from kspan_py.config import ExplainSettings
from kspan_py.escaping import printable
from kspan_py.logs import JsonFormatter, TextFormatter
from kspan_py.sinks.console import render_trees
from kspan_py.spans import building
from kspan_py.spans.building import SpanBuilder, SpanDraft
from kspan_py.spans.problems import (
    ERROR,
    FAILED_SCHEDULING,
    NODES_TOTAL,
    PROBLEM,
    RULES_READ,
    event_problem,
)
from tests.hostile_messages import CRAFTED, hostile_event, repeated
from tests.tracing import replay_file

ROOT = Path(__file__).resolve().parent.parent

# -- message rules -----------------------------------------------------------------------------

_CLASSIFY_ALL = """
from tests.hostile_messages import CRAFTED
from kspan_py.spans.problems import event_problem
for crafted in CRAFTED:
    event_problem(crafted.event(1_000_000))  # as a run does: the first 8 KiB
    event = crafted.event(100_000)
    event_problem(event, read=len(event.message))  # each rule on all of it
print("classified", len(CRAFTED))
"""


def test_every_rule_classifies_its_worst_crafted_message_without_stalling() -> None:
    """A quadratic rule takes minutes on 100 KB (the FailedScheduling count rule took 4 s on
    20 KB); linear ones take milliseconds. The deadline only tells a stall from the rest."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", _CLASSIFY_ALL],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=90,
            check=True,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("classifying the crafted messages stalled (more than 90 s)")
    assert done.stdout.strip() == f"classified {len(CRAFTED)}"


def test_rules_read_only_the_first_8_kib_of_a_message() -> None:
    form = "0/3 nodes are available: 3 Insufficient cpu."
    assert _details(event_problem(hostile_event("FailedScheduling", form)))[NODES_TOTAL] == 3
    late = repeated(" ", RULES_READ + len(form), after=form)  # the form starts past what rules read
    problem = event_problem(hostile_event("FailedScheduling", late))
    assert problem is not None and problem.name == FAILED_SCHEDULING  # still a problem
    assert NODES_TOTAL not in _details(problem)


def test_a_node_count_too_long_for_an_int_is_no_count() -> None:
    """Python refuses to parse an int of over 4,300 digits, and OTLP carries int64 only."""
    for digits in (20, 5_000):
        message = "9" * digits + "/3 nodes are available: 3 Insufficient cpu."
        problem = event_problem(hostile_event("FailedScheduling", message))
        assert problem is not None and problem.name == FAILED_SCHEDULING
        details = _details(problem)
        assert NODES_TOTAL not in details and ERROR in details


def test_a_span_is_classified_once_however_often_it_is_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Sinks and views read attributes and status many times; each read classified again."""
    calls: list[str] = []

    def counted(event: object, **kwargs: int) -> object:
        calls.append("classified")
        return event_problem(event, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(building, "event_problem", counted)
    event = hostile_event("FailedScheduling", "0/3 nodes are available: 3 Insufficient cpu.")
    draft = SpanDraft(1, 2, None, event.time_ns, event.time_ns, event, "")
    span = SpanBuilder().build(draft)
    for _ in range(5):
        assert span.attributes is not None and span.attributes[PROBLEM] == FAILED_SCHEDULING
        assert span.status.description is not None
        span.to_json()
    assert calls == ["classified"]


def _details(problem: object) -> dict[str, str | int]:
    assert problem is not None
    return dict(problem.details)  # type: ignore[attr-defined]


# -- terminal and log output -------------------------------------------------------------------

ESCAPES = {
    "window title": "\x1b]0;pwned\x07",
    "screen clear": "\x1b[2J\x1b[3J\x1b[H",
    "hyperlink": "\x1b]8;;http://evil.example/\x1b\\click me\x1b]8;;\x1b\\",
    "8-bit CSI": "\x9b2J",
    "bidi override": "\u202etxt.exe",
    "DEL and a forged line": "\x7f\nkspan-py: INFO: all good",
}
HOSTILE = "".join(ESCAPES.values())
MARKUP = "[bold red]loud[/] [link=http://evil.example/]click[/link]"
RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
"""What must not be in any output line (newlines end lines; our own SGR colours are removed
before the check)."""
OUR_COLOURS = re.compile(r"\x1b\[[0-9;]*m")


def core_event(name: str, reason: str, message: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "Event",
        "apiVersion": "v1",
        "metadata": {"name": name, "namespace": "shop", "uid": f"uid-{name}"},
        "involvedObject": {"kind": "Pod", "namespace": "shop", "name": "evil", "uid": "pod-1"},
        "reason": reason,
        "message": message,
        "type": "Warning",
        "count": 1,
        "firstTimestamp": "2026-11-24T16:40:00Z",
        "lastTimestamp": "2026-11-24T16:40:00Z",
        "source": {"component": "kubelet", "host": "node-1"},
    }
    body.update(extra)
    return {"type": "ADDED", "object": body}


@pytest.fixture
def hostile_capture(tmp_path: Path) -> Path:
    """Events about Pod shop/evil whose reason, message, component and names hold escapes."""
    values = [
        core_event("evil.1", "BackOff", f"Back-off restarting failed container app{HOSTILE}"),
        core_event(
            "evil.2",
            f"Evil{ESCAPES['screen clear']}",
            HOSTILE + MARKUP,
            source={"component": f"kube{ESCAPES['window title']}let"},
        ),
        core_event("evil.3", "Failed", f"Error: {MARKUP}{ESCAPES['hyperlink']}"),
        core_event(
            "other.5",
            "Started",
            "Started",
            involvedObject={"kind": "Pod", "namespace": "shop", "name": f"other{HOSTILE}"},
        ),
    ]
    nameless = core_event(f"evil{ESCAPES['window title']}.4", "Started", "Started")
    del nameless["object"]["metadata"]["uid"]  # skipped, and the skip is logged by name
    path = tmp_path / "hostile.jsonl"
    path.write_text("\n".join(json.dumps(v) for v in [*values, nameless]) + "\n")
    return path


def assert_no_raw_controls(text: str) -> None:
    for number, line in enumerate(OUR_COLOURS.sub("", text).splitlines(), 1):
        found = RAW.search(line)
        assert found is None, f"line {number}: raw {found.group()!r} in {line!r}"


def test_printable_escapes_every_control_and_nothing_else() -> None:
    assert printable(HOSTILE) == (
        "\\x1b]0;pwned\\x07\\x1b[2J\\x1b[3J\\x1b[H"
        "\\x1b]8;;http://evil.example/\\x1b\\click me\\x1b]8;;\\x1b\\"
        "\\x9b2J\\u202etxt.exe\\x7f\\nkspan-py: INFO: all good"
    )
    assert printable(printable(HOSTILE)) == printable(HOSTILE)  # escaping twice changes nothing
    plain = 'Back-off pulling image "reg/app:1\\"x" [bold] é ✖'
    assert printable(plain) == plain
    assert printable("a\nb\x1b", keep_newlines=True) == "a\nb\\x1b"
    assert printable("\udcff") == "\\udcff"  # a lone surrogate, which no encoder writes


def test_the_console_exporter_escapes_what_events_say(
    hostile_capture: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", str(hostile_capture), "--exporter", "console"]) == 0
    out, err = capsys.readouterr()
    assert_no_raw_controls(out)
    assert "Pod.Evil\\x1b[2J" in out and "\\x1b]0;pwned\\x07" in out  # visible, not acted on
    assert "\\x1b]8;;http://evil.example/" in out
    # In colour too: the only escape sequences left are the exporter's own.
    coloured = render_trees(replay_file(hostile_capture), color=True)
    assert "\x1b[31m" in coloured
    assert_no_raw_controls(coloured)
    # The skip names the Event, escaped: the log line is one line, no window title.
    assert_no_raw_controls(err)
    assert "evil\\x1b]0;pwned\\x07.4 without metadata.uid" in err


def test_explain_escapes_what_events_say_and_never_reads_it_as_markup(
    hostile_capture: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["explain", "pod/evil", "--from", str(hostile_capture)])
    plain = capsys.readouterr().out
    assert code == 0
    assert_no_raw_controls(plain)
    assert "Pod.Evil\\x1b[2J" in plain and "container app\\x1b]0;pwned\\x07" in plain
    assert MARKUP in plain
    explanation = explaining.explain(
        explaining.gather_files([str(hostile_capture)]), ExplainSettings(target="pod/evil")
    )
    colour = io.StringIO()
    explaining.print_explanation(explanation, stream=colour, color=True)
    shown = colour.getvalue()
    assert "\x1b[" in shown  # colours
    assert_no_raw_controls(shown)
    assert "\x1b]8;" not in shown  # no hyperlink, from the message or from [link=...]
    assert "ContainerStartFailed ([bold red]loud[" in OUR_COLOURS.sub("", shown)  # just text


def test_an_unknown_object_error_escapes_the_names_it_lists(
    hostile_capture: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["explain", "pod/nothing", "--from", str(hostile_capture)])
    err = capsys.readouterr().err
    assert code == 2
    assert_no_raw_controls(err)
    assert "other\\x1b]0;pwned\\x07" in err  # the Pods there, named as they are


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_log_lines_escape_what_events_say(log_format: str) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    logger = logging.getLogger("kspan_py.test_hostile")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("skipped Event shop/%s: %s", HOSTILE, MARKUP)
        try:
            raise ValueError(HOSTILE)
        except ValueError:
            logger.exception("failed on %s", "evil")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert_no_raw_controls(text)
    assert "kspan-py: INFO: all good" not in text.splitlines()  # no forged line
    if log_format == "json":
        first, second = (json.loads(line) for line in text.splitlines())
        assert first["message"] == f"skipped Event shop/{printable(HOSTILE)}: {MARKUP}"
        assert "Traceback" in second["exception"] and "\n" in second["exception"]
    else:
        assert text.startswith(f"kspan-py: WARNING: skipped Event shop/{printable(HOSTILE)}")
        assert "\nTraceback (most recent call last):\n" in text  # a traceback keeps its lines


def test_strict_mode_names_the_skipped_event_escaped(
    hostile_capture: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", str(hostile_capture), "--strict", "--exporter", "console"]) == 2
    err = capsys.readouterr().err
    assert_no_raw_controls(err)
    assert "--strict: " in err and "evil\\x1b]0;pwned\\x07.4" in err
