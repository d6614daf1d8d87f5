"""Export filters: what a user asked for is exported with the causes that explain it, whatever
the filter, and nothing is linked differently (everything is still read)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from kspan_py.cli import main
from kspan_py.config import FilterSettings
from kspan_py.filtering import ExportFilter, LabelSelector
from tests.tracing import CAPTURES

CRASHLOOP = CAPTURES / "real-1.36" / "crashloop.events.jsonl"  # namespace crashloop, app=crasher
BADPULL = CAPTURES / "real-1.36" / "badpull.events.jsonl"  # namespace badpull, app=badpull
BOTH = (str(CRASHLOOP), str(BADPULL))


def exported(tmp_path: Path, *flags: str, paths: Sequence[str] = BOTH) -> list[dict[str, Any]]:
    """Replay through the command line into otlp-json; every span as a flat dict."""
    out = tmp_path / f"spans{len(list(tmp_path.iterdir()))}.jsonl"
    code = main(["replay", *paths, "--exporter", "otlp-json", "--otlp-json-file", str(out), *flags])
    assert code == 0
    spans = []
    for line in out.read_text().splitlines():
        for resource in json.loads(line)["resourceSpans"]:
            for scope in resource["scopeSpans"]:
                for span in scope["spans"]:
                    attributes = {
                        a["key"]: next(iter(a["value"].values())) for a in span["attributes"]
                    }
                    own = resource["resource"]["attributes"]
                    resource_attributes = {a["key"]: next(iter(a["value"].values())) for a in own}
                    spans.append({**span, "attrs": attributes, "resource": resource_attributes})
    return spans


def ids(spans: list[dict[str, Any]]) -> set[str]:
    return {span["spanId"] for span in spans}


def assert_whole(spans: list[dict[str, Any]]) -> None:
    """Every exported span's parent is exported too: the traces read from their roots."""
    present = ids(spans)
    orphans = [
        s["name"] for s in spans if s.get("parentSpanId") and s["parentSpanId"] not in present
    ]
    assert not orphans, f"spans exported without their parent: {orphans}"


def ancestors(span: dict[str, Any], by_id: dict[str, dict[str, Any]]) -> set[str]:
    found = set()
    while parent := span.get("parentSpanId"):
        found.add(parent)
        span = by_id[parent]
    return found


def expected_with_causes(
    everything: list[dict[str, Any]], wanted: list[dict[str, Any]]
) -> set[str]:
    by_id = {s["spanId"]: s for s in everything}
    chosen = set()
    for span in wanted:
        chosen.add(span["spanId"])
        chosen |= ancestors(span, by_id)
    return chosen


@pytest.fixture
def unfiltered(tmp_path: Path) -> list[dict[str, Any]]:
    return exported(tmp_path)


def test_an_excluded_namespace_exports_nothing_and_leaves_the_other_untouched(
    tmp_path: Path, unfiltered: list[dict[str, Any]]
) -> None:
    spans = exported(tmp_path, "--exclude-namespace", "badpull")
    assert spans, "the other namespace is still exported"
    assert all(s["attrs"].get("k8s.namespace.name") != "badpull" for s in spans)
    kept = [s for s in unfiltered if s["attrs"].get("k8s.namespace.name") != "badpull"]
    # Same spans, same ids, same parents: linking did not change, only export.
    assert sorted(json.dumps(s, sort_keys=True) for s in spans) == sorted(
        json.dumps(s, sort_keys=True) for s in kept
    )


def test_warning_only_exports_every_warning_with_its_causes_and_nothing_else(
    tmp_path: Path, unfiltered: list[dict[str, Any]]
) -> None:
    spans = exported(tmp_path, "--event-types", "Warning")
    warnings = [
        s
        for s in unfiltered
        if s["attrs"].get("k8s.event.type") == "Warning"
        or ("k8s.event.uid" not in s["attrs"] and s.get("status", {}).get("code") == 2)
    ]
    assert warnings
    assert ids(spans) == expected_with_causes(unfiltered, warnings)
    assert_whole(spans)
    normal_events = [s for s in unfiltered if s["attrs"].get("k8s.event.type") == "Normal"]
    assert len(ids(spans)) < len(unfiltered)
    # A Normal Event is there only as the cause of a Warning (Created pod: X).
    assert ids(normal_events) & ids(spans) <= expected_with_causes(unfiltered, warnings)


def test_reasons_and_excluded_reasons(tmp_path: Path, unfiltered: list[dict[str, Any]]) -> None:
    only = exported(tmp_path, "--reasons", "BackOff,Pulling")
    wanted = [s for s in unfiltered if s["attrs"].get("k8s.event.reason") in ("BackOff", "Pulling")]
    assert {s["attrs"]["k8s.event.reason"] for s in wanted} == {"BackOff", "Pulling"}
    assert ids(only) == expected_with_causes(unfiltered, wanted)
    assert_whole(only)

    without = exported(tmp_path, "--exclude-reasons", "BackOff")
    assert all(s["attrs"].get("k8s.event.reason") != "BackOff" for s in without)
    # A span of repeats hangs under the first BackOff: both are left out, nothing else is.
    assert ids(without) == ids(unfiltered) - {
        s["spanId"] for s in unfiltered if s["attrs"].get("k8s.event.reason") == "BackOff"
    }
    assert_whole(without)


def test_a_label_selector_exports_what_concerns_matching_objects_and_their_children(
    tmp_path: Path, unfiltered: list[dict[str, Any]]
) -> None:
    spans = exported(tmp_path, "--selector", "app=crasher")
    assert spans
    assert {s["attrs"].get("k8s.namespace.name") for s in spans} == {"crashloop"}
    crashloop_objects = [
        s
        for s in unfiltered
        if s["attrs"].get("k8s.namespace.name") == "crashloop"
        and s["attrs"].get("k8s.object.kind") in ("Deployment", "ReplicaSet", "Pod")
    ]
    assert ids(crashloop_objects) <= ids(spans)
    assert_whole(spans)
    assert exported(tmp_path, "-l", "app in (nothing,else)") == []
    assert ids(exported(tmp_path, "-l", "app notin (badpull)")) == ids(spans)


def test_bad_filters_are_named_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", str(CRASHLOOP), "--event-types", "Error"]) == 2
    assert "--event-types: 'Error' is not one of Normal, Warning" in capsys.readouterr().err
    assert main(["replay", str(CRASHLOOP), "--selector", "app=(x"]) == 2
    assert "--selector:" in capsys.readouterr().err


def test_filters_come_from_kspan_variables_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KSPAN_EXCLUDE_NAMESPACE", "badpull, crashloop")
    assert exported(tmp_path) == []
    monkeypatch.delenv("KSPAN_EXCLUDE_NAMESPACE")
    monkeypatch.setenv("KSPAN_EVENT_TYPES", "Warning")
    from_env = exported(tmp_path)
    monkeypatch.delenv("KSPAN_EVENT_TYPES")
    assert ids(from_env) == ids(exported(tmp_path, "--event-types", "Warning"))


@pytest.mark.parametrize(
    ("selector", "labels", "matches"),
    [
        ("app=web", {"app": "web"}, True),
        ("app==web", {"app": "db"}, False),
        ("app!=web", {}, True),
        ("app!=web", {"app": "web"}, False),
        ("app in (web, db),tier", {"app": "db", "tier": "x"}, True),
        ("app in (web, db),tier", {"app": "db"}, False),
        ("app notin (web)", {"app": "db"}, True),
        ("!legacy", {"legacy": ""}, False),
        ("example.com/team=a-b_c.d", {"example.com/team": "a-b_c.d"}, True),
    ],
)
def test_label_selector_syntax(selector: str, labels: dict[str, str], matches: bool) -> None:
    assert LabelSelector.parse(selector).matches(labels) is matches


def test_a_long_hostile_selector_is_refused_quickly() -> None:
    from kspan_py.config import ConfigError

    with pytest.raises(ConfigError):
        LabelSelector.parse("a" * 100_000 + "=(" + "," * 100_000)


def test_no_filter_is_free_and_exports_everything() -> None:
    export_filter = ExportFilter(FilterSettings())
    assert not export_filter.active
    assert export_filter.select([]) == []


def test_semantic_conventions_for_autoscalers_and_node_conditions(tmp_path: Path) -> None:
    spans = exported(
        tmp_path,
        paths=(
            str(CAPTURES / "hpa-scale-up.jsonl"),
            str(CAPTURES / "node-notready-eviction.jsonl"),
        ),
    )
    rescale = [s for s in spans if s["name"] == "HorizontalPodAutoscaler.SuccessfulRescale"]
    assert rescale and all(
        s["attrs"]["k8s.hpa.name"] == s["attrs"]["k8s.object.name"] for s in rescale
    )
    assert all(s["attrs"]["k8s.hpa.uid"] == s["attrs"]["k8s.object.uid"] for s in rescale)
    conditions = {
        (
            s["name"],
            s["attrs"].get("k8s.node.condition.type"),
            s["attrs"].get("k8s.node.condition.status"),
        )
        for s in spans
        if s["name"].startswith("Node.")
    }
    assert ("Node.NotReady", "Ready", "Unknown") in conditions  # read from status
    assert ("Node.NodeNotReady", "Ready", "False") in conditions  # the kubelet's Event
    assert ("Node.NodeHasInsufficientMemory", "MemoryPressure", "True") in conditions


def test_explain_shows_what_the_filters_choose_with_its_causes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    target = [
        "explain",
        "pod/crasher-668df5975c-56trp",
        "-n",
        "crashloop",
        "--from",
        str(CRASHLOOP),
    ]
    assert main([*target, "--no-color"]) == 0
    everything = capsys.readouterr().out
    assert main([*target, "--no-color", "--event-types", "Warning"]) == 0
    warnings = capsys.readouterr().out
    assert "Pod.Scheduled" in everything and "Pod.Scheduled" not in warnings
    assert "Pod.Pulled" in everything and "Pod.Pulled" not in warnings
    for kept in ("Deployment.Create", "Created pod: crasher-668df5975c-56trp", "Pod.BackOff"):
        assert kept in warnings  # the Warnings, and the causes above them


def test_a_dump_with_the_kube_system_namespace_names_its_cluster(tmp_path: Path) -> None:
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "kube-system", "uid": "6a1f0c2e-cluster", "resourceVersion": "4"},
    }
    dump = tmp_path / "dump.json"
    dump.write_text(json.dumps(namespace) + "\n" + CRASHLOOP.read_text())
    spans = exported(tmp_path, paths=(str(dump),))
    assert spans and all(s["resource"]["k8s.cluster.uid"] == "6a1f0c2e-cluster" for s in spans)
    given = exported(tmp_path, "--cluster-uid", "from-the-flag", paths=(str(dump),))
    assert all(s["resource"]["k8s.cluster.uid"] == "from-the-flag" for s in given)
