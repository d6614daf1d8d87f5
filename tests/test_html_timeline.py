"""The HTML timeline: a self-contained page, safe against what Event messages hold, drawn by
its own script in a real browser.

The browser tests run headless Chromium (Debian packages ``chromium`` and ``chromium-driver``)
and read back the DOM its script built and a screenshot; they are skipped, saying why, where
Chromium is not installed. Chromium ends on its own once the page has loaded (its virtual time
budget), so nothing here waits on the wall clock.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import tomllib
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.trace import Link

from kspan_py.cli import main
from kspan_py.config import SinkSettings
from kspan_py.sinks import make_sinks
from kspan_py.sinks.html import HtmlTimelineSink
from kspan_py.views.timeline import render_timeline, script_json
from kspan_py.views.traces import group_traces
from tests.fake_apiserver import FakeApiServer, write_kubeconfig
from tests.spans_by_hand import context, repeat, span
from tests.test_live import CRASHLOOP as LIVE_CRASHLOOP
from tests.test_live import a_cluster, live_run, push_all, values_of
from tests.tracing import CAPTURES, ROOT, replay_file, span_id

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="headless Chromium is not installed (apt-get install chromium chromium-driver)",
)
EVIL = "</script><script>document.title='pwned';document.body.dataset.pwned='1'</script><!--"
CRASHLOOP = CAPTURES / "real-1.36" / "crashloop.core.jsonl"
BADPULL = CAPTURES / "real-1.36" / "badpull.events.jsonl"


def hand_built_trace() -> list[object]:
    root = span(
        "Deployment.Update",
        0,
        obj=("Deployment", "shop", "web"),
        lasts_s=40,
        component="kubectl-set",
        span_id=0x1,
    )
    created = span(
        "ReplicaSet.SuccessfulCreate",
        1,
        obj=("ReplicaSet", "shop", "web-1"),
        parent=root,
        component="replicaset-controller",
        message="Created pod: web-x",
        span_id=0x2,
    )
    oom = span(
        "Container.Run",
        3,
        lasts_s=20,
        parent=created,
        container="app",
        error="OOMKilled",
        span_id=0x3,
        attributes={
            "kspan.problem": "OOMKilled",
            "kspan.container.memory_limit": "256Mi",
            "k8s.container.restart_count": 0,
        },
        links=[Link(context(0x9), {"kspan.link.reason": "previous-run"})],
    )
    evil = span(
        "Pod.BackOff",
        25,
        parent=created,
        container="app",
        warning=True,
        message=EVIL,
        span_id=0x4,
        events=[repeat("BackOff", 25, 1), repeat("BackOff", 30, 2)],
        attributes={"kspan.problem": "CrashLoopBackOff"},
    )
    return [root, created, oom, evil]


def data_of(page: str) -> object:
    found = re.search(r'<script type="application/json" id="kspan-data">(.*?)</script>', page, re.S)
    assert found is not None
    return json.loads(found.group(1))


# -- the page as text ----------------------------------------------------------------------


def test_a_message_holding_script_tags_cannot_break_out_of_the_data() -> None:
    page = render_timeline(group_traces(hand_built_trace()), title="<b>t</b>")  # type: ignore[arg-type]
    # Only the page's own two script elements close: the data and the script.
    assert page.count("</script") == 2
    assert "<!--" not in page.split('id="kspan-data">', 1)[1]
    assert "<title>&lt;b&gt;t&lt;/b&gt;</title>" in page
    data = data_of(page)
    messages = [s["message"] for t in data["traces"] for s in t["spans"]]  # type: ignore[index]
    assert EVIL in messages  # it round-trips as text
    assert (
        script_json({"m": "a\u2028b</script>&"}) == '{"m":"a\\u2028b\\u003c/script\\u003e\\u0026"}'
    )


def test_the_page_needs_no_network() -> None:
    page = render_timeline(group_traces(replay_file(CRASHLOOP)))
    assert re.search(r"<(script|link|img|iframe)[^>]+(src|href)=", page) is None
    assert "default-src 'none'" in page  # the CSP forbids any fetch
    assert "@import" not in page and "url(" not in page


def test_the_data_holds_spans_in_tree_order_with_problems_colours_and_attributes() -> None:
    data = data_of(render_timeline(group_traces(hand_built_trace())))  # type: ignore[arg-type]
    (trace,) = data["traces"]  # type: ignore[index]
    assert [s["name"] for s in trace["spans"]] == [
        "Deployment.Update",
        "ReplicaSet.SuccessfulCreate",
        "Container.Run",
        "Pod.BackOff",
    ]
    assert [s["depth"] for s in trace["spans"]] == [0, 1, 2, 2]
    run = trace["spans"][2]
    assert run["problem"] == {"name": "OOMKilled", "detail": "OOMKilled (limit 256Mi)"}
    assert run["offset"] == 3000.0 and run["duration"] == 20000.0
    assert run["links"] == [
        {
            "trace": "0af7651916cd43dd8448eb211c80319c",
            "span": "0000000000000009",
            "reason": "previous-run",
        }
    ]
    assert run["attributes"]["kspan.container.memory_limit"] == "256Mi"
    assert [e["offset"] for e in trace["spans"][3]["events"]] == [25000.0, 30000.0]
    assert trace["verdict"].startswith("pod/shop/web-x: container app OOMKilled (limit 256Mi)")
    assert set(data["components"]) == {"kubectl-set", "replicaset-controller", "kubelet"}  # type: ignore[index]
    assert all(re.fullmatch(r"#[0-9a-f]{6}", c) for c in data["components"].values())  # type: ignore[index]


def test_the_assets_the_page_inlines_ship_in_the_wheel() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["kspan_py"]
    views = ROOT / "kspan_py" / "views"
    for asset in (views / "timeline.css", views / "timeline.js"):
        relative = asset.relative_to(ROOT / "kspan_py").as_posix()
        assert any(fnmatch(relative, pattern) for pattern in patterns), relative


# -- the sink ------------------------------------------------------------------------------


def test_replay_writes_the_timeline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "timeline.html"
    code = main(
        ["replay", str(CRASHLOOP), str(BADPULL), "--exporter", "html", "--html-file", str(out)]
    )
    assert code == 0, capsys.readouterr().err
    data = data_of(out.read_text())
    expected = group_traces([*replay_file(CRASHLOOP), *replay_file(BADPULL)])
    assert [t["id"] for t in data["traces"]] == [f"{t.trace_id:032x}" for t in expected]  # type: ignore[index]
    assert [len(t["spans"]) for t in data["traces"]] == [len(t.spans) for t in expected]  # type: ignore[index]
    assert [p.name for p in tmp_path.iterdir()] == ["timeline.html"]  # no temporary left


def test_exporter_html_needs_a_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(CRASHLOOP), "--exporter", "html"]) == 2
    assert capsys.readouterr().err == "kspan-py: --exporter html needs --html-file PATH\n"
    assert (
        main(
            [
                "replay",
                str(CRASHLOOP),
                "--exporter",
                "html",
                "--html-file",
                "/nonexistent/dir/t.html",
            ]
        )
        == 2
    )
    assert "--html-file: cannot write there" in capsys.readouterr().err


def test_the_sink_keeps_the_newest_traces_within_its_bound(tmp_path: Path) -> None:
    path = tmp_path / "t.html"
    sink = HtmlTimelineSink(str(path), max_spans=3)
    first = [span("Pod.Started", 0, trace_id=1), span("Pod.Killing", 1, trace_id=1)]
    second = [span("Pod.Started", 5, trace_id=2), span("Pod.Killing", 6, trace_id=2)]
    sink.export(first)
    sink.export(second)
    sink.shutdown()
    page = path.read_text()
    assert [t["id"] for t in data_of(page)["traces"]] == [f"{2:032x}"]  # type: ignore[index]
    assert "1 traces, 2 spans; times UTC; 2 spans of older traces left out (limit 3)" in page


async def test_run_writes_the_timeline_when_it_stops(tmp_path: Path) -> None:
    out = tmp_path / "live.html"
    async with FakeApiServer() as server:
        a_cluster(server)
        config = write_kubeconfig(tmp_path / "kubeconfig", url=server.url, token=server.token)
        sinks = make_sinks(SinkSettings(exporters=("html",), html_file=str(out)))
        async with live_run(server, config, sinks=sinks) as live:
            await live.caught_up(server)
            push_all(server, values_of(LIVE_CRASHLOOP))
            await live.caught_up(server)
            assert not out.exists()  # a page shows whole traces: written when the run stops
            await live.finish()
    data = data_of(out.read_text())
    drawn = {s["id"] for t in data["traces"] for s in t["spans"]}  # type: ignore[index]
    assert drawn == {f"{span_id(s):016x}" for s in replay_file(LIVE_CRASHLOOP)}
    assert "BackOff" in data["traces"][0]["verdict"]  # type: ignore[index]


# -- in a browser --------------------------------------------------------------------------


def chromium(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            f"--user-data-dir={cwd / 'profile'}",
            "--virtual-time-budget=5000",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        check=True,
    )


def write_page(path: Path, spans: list[object], title: str) -> dict[str, Any]:
    page = render_timeline(group_traces(spans), title=title)  # type: ignore[arg-type]
    path.write_text(page)
    return data_of(page)  # type: ignore[return-value]


def searched(span: dict[str, Any]) -> str:
    """What the filter box matches a span against (as the page's script builds it)."""
    problem = span["problem"]["name"] if span["problem"] else ""
    return " ".join((span["name"], span["component"], span["object"], span["message"], problem))


@pytest.fixture
def page(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """The real crash loop, and a span whose message tries to break out of the page."""
    evil = span(
        "Pod.BackOff",
        0,
        obj=("Pod", "crashloop", "evil"),
        warning=True,
        message=EVIL,
        trace_id=0xE,
        container="app",
    )
    path = tmp_path / "timeline.html"
    return path, write_page(path, [*replay_file(CRASHLOOP), evil], "crash loop")


@needs_chromium
def test_the_browser_draws_every_span_and_marks_the_problems(
    page: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    path, data = page
    spans = [s for t in data["traces"] for s in t["spans"]]
    dom = chromium("--dump-dom", path.as_uri(), cwd=tmp_path).stdout
    assert 'data-rendered="true"' in dom  # the script ran to its end
    assert "data-pwned" not in dom and "<title>crash loop</title>" in dom  # EVIL stayed text
    assert "&lt;/script&gt;&lt;script&gt;document.title" in dom  # the message, as text
    # One row per span, in the data's order, and the problems marked.
    drawn = re.findall(r'<div class="span" data-span-id="([0-9a-f]{16})" data-name="([^"]+)"', dom)
    assert drawn == [(s["id"], s["name"]) for s in spans]
    assert len(drawn) == len(replay_file(CRASHLOOP)) + 1
    problems = [s for s in spans if s["problem"]]
    assert any(s["name"] == "Pod.BackOff" for s in problems)
    assert dom.count('class="row problem"') == len(problems)
    assert dom.count('<section class="trace"') == len(data["traces"]) == 2
    assert f'<span id="count">{len(spans)} spans</span>' in dom


@needs_chromium
def test_the_browser_shows_problem_details_and_links(tmp_path: Path) -> None:
    path = tmp_path / "details.html"
    write_page(path, hand_built_trace(), "details")
    dom = chromium("--dump-dom", path.as_uri(), cwd=tmp_path).stdout
    assert dom.count('class="row problem"') == 2  # the OOM-killed run and the back-off
    assert "✖ OOMKilled (limit 256Mi)" in dom  # the run's detail line
    assert "✖ CrashLoopBackOff" in dom
    assert "↪ previous-run: span 0000000000000009 of trace " in dom
    assert 'class="occurrence"' in dom  # the back-off's repeats, as ticks on its bar


@needs_chromium
def test_the_filter_box_shows_only_matching_spans(
    page: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    path, data = page
    spans = [s for t in data["traces"] for s in t["spans"]]
    matching = [s for s in spans if all(w in searched(s).lower() for w in ("backoff", "kubelet"))]
    assert 0 < len(matching) < len(spans)
    dom = chromium("--dump-dom", path.as_uri() + "#filter=BackOff%20kubelet", cwd=tmp_path).stdout
    assert f'<span id="count">{len(matching)} of {len(spans)} spans</span>' in dom
    hidden = re.findall(r'<div class="span" data-span-id="([0-9a-f]+)"[^>]*hidden', dom)
    assert set(hidden) == {s["id"] for s in spans} - {s["id"] for s in matching}


@needs_chromium
def test_a_screenshot_has_the_window_size(
    page: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    shot = tmp_path / "shot.png"
    chromium(f"--screenshot={shot}", "--window-size=1200,800", page[0].as_uri(), cwd=tmp_path)
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])  # the IHDR chunk
    assert (width, height) == (1200, 800)
    assert len(png) > 20_000  # drawn, not blank


@needs_chromium
@pytest.mark.parametrize("typed", ["%", "%E0%A4%A", "back%zzoff"])
def test_a_filter_that_is_no_valid_escape_filters_by_its_text(
    typed: str, page: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    """decodeURIComponent throws on a lone "%": the page stopped before drawing its spans."""
    path, data = page
    spans = [s for t in data["traces"] for s in t["spans"]]
    matching = [s for s in spans if typed.lower() in searched(s).lower()]
    dom = chromium("--dump-dom", path.as_uri() + "#filter=" + typed, cwd=tmp_path).stdout
    assert 'data-rendered="true"' in dom
    assert f'<span id="count">{len(matching)} of {len(spans)} spans</span>' in dom
