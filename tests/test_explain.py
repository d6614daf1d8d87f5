"""`kspan-py explain KIND/NAME` from captures and dumps: what it selects and what it prints.

The real recordings (Kubernetes 1.36) check the end result a user sees: the verdict names the
container and the back-off. Small hand-written dumps check the selection rules (owners,
children, namespaces, objects only Events mention) and the errors for what does not exist.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from kspan_py import explaining
from kspan_py.cli import main
from kspan_py.config import ExplainSettings
from tests.tracing import CAPTURES, attr, replay_file

REAL = CAPTURES / "real-1.36"
CRASHLOOP_POD = "crasher-668df5975c-56trp"
BADPULL_POD = "badpull-fc96fdff6-vs4dt"
ROLLING = CAPTURES / "rolling-update.jsonl"


def explain_text(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["explain", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def verdict_of(output: str) -> list[str]:
    return [line.removeprefix("verdict: ") for line in output.splitlines() if "verdict:" in line]


# -- the real recordings ------------------------------------------------------------------


@pytest.mark.parametrize("api", ["core", "events"])
def test_a_crash_loop_is_explained_by_its_container_and_its_back_off(
    api: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = REAL / f"crashloop.{api}.jsonl"
    code, out, err = explain_text(f"pod/{CRASHLOOP_POD}", "--from", str(path), capsys=capsys)
    assert code == 0, err
    lines = out.splitlines()
    # Not a terminal: plain text, no escape codes, the owner chain first.
    assert "\x1b[" not in out
    assert lines[0] == (
        f"pod/crashloop/{CRASHLOOP_POD} ← replicaset/crasher-668df5975c ← deployment/crasher"
    )
    assert lines[1] == f"1 trace from crashloop.{api}.jsonl; times UTC"
    (verdict,) = verdict_of(out)
    assert verdict.startswith(f"! pod/crashloop/{CRASHLOOP_POD}: container app ")
    assert re.search(r"back-?off", verdict, re.IGNORECASE), verdict
    assert "→ 3 restarts →" in verdict  # four starts of the container
    assert "(5 times)" in verdict  # the BackOff Event reached count 5
    # The waterfall: every span of the trace (all about the Pod and its owners), the root first,
    # every back-off marked as a problem.
    rows = [line for line in lines if re.match(r"^\s+\+", line)]
    assert len(rows) == len(replay_file(path))
    assert rows[0].split("|")[0].strip() == "+0s"
    assert "Deployment.Create  kubectl-create  crasher" in rows[0]
    backoffs = [row for row in rows if "Pod.BackOff" in row]
    assert backoffs and all("! Pod.BackOff  kubelet  Back-off restarting" in r for r in backoffs)
    assert "Pod.Started  kubelet  Container started" in out


@pytest.mark.parametrize("api", ["core", "events"])
def test_an_image_that_cannot_be_pulled_is_explained_by_the_pull_and_its_back_off(
    api: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = REAL / f"badpull.{api}.jsonl"
    code, out, err = explain_text(
        "deploy/badpull", "-n", "badpull", "--from", str(path), capsys=capsys
    )
    assert code == 0, err
    (verdict,) = verdict_of(out)
    assert verdict.startswith(f"! pod/badpull/{BADPULL_POD}: container app ")
    assert "registry.example/app:sim-fail-pull" in verdict  # the image that failed
    # Four back-offs: the kubelet reports each twice (BackOff, Error: ImagePullBackOff).
    assert re.search(r"→ ImagePullBackOff since \d\d:\d\d:\d\d UTC \(4 times\)$", verdict)
    assert "2 objects below it" in out  # its ReplicaSet and Pod


def test_one_pod_of_a_rollout_shows_its_own_story_not_its_siblings(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = explain_text("pod/web-j8wwkxrfl-gzxsh", "--from", str(ROLLING), capsys=capsys)
    assert code == 0, err
    assert "verdict: no problem in these spans" in out
    # Shown: the Pod's own spans and its owners' (the causal chain); not its siblings'.
    gathered = explaining.gather_files([str(ROLLING)])
    explanation = explaining.explain(gathered, ExplainSettings(target="pod/web-j8wwkxrfl-gzxsh"))
    (focused,) = explanation.selection.traces
    shown, hidden = len(focused.shown.spans), focused.hidden
    assert hidden > 0 and shown + hidden == len(focused.trace.spans)
    assert f" · {shown} spans ({hidden} more about other objects not shown) · " in out
    shown = {attr(s, "k8s.object.name") for s in focused.shown.spans}
    assert shown == {"web", "web-j8wwkxrfl", "web-j8wwkxrfl-gzxsh"}
    hidden = {attr(s, "k8s.object.name") for s in focused.trace.spans} - shown
    assert hidden == {
        "web-j8wwkxrfl-lrjmf",
        "web-7bbs8nhpb",
        "web-7bbs8nhpb-96flz",
        "web-7bbs8nhpb-wvzn6",
    }


def test_a_node_shows_its_outage_and_then_the_evictions_it_caused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    capture = CAPTURES / "node-notready-eviction.jsonl"
    # Its Events live in namespace "default", the Node in none: no -n needed.
    code, out, err = explain_text("node/hollow-node-2", "--from", str(capture), capsys=capsys)
    assert code == 0, err
    assert out.startswith("node/hollow-node-2\n")
    gathered = explaining.gather_files([str(capture)])
    explanation = explaining.explain(gathered, ExplainSettings(target="node/hollow-node-2"))
    own = [f for f in explanation.selection.traces if not f.effect]
    caused = [f for f in explanation.selection.traces if f.effect]
    assert {s.name for f in own for s in f.shown.spans} >= {"Node.NodeNotReady", "Node.Rebooted"}
    # The Pod evicted from the node, in its rollout's trace: the spans that link to the outage,
    # under the Pod's life and the act that created it; its replacement is not shown.
    (eviction,) = caused
    shown = [s.name for s in eviction.shown.spans]
    assert shown[-4:] == [
        "ReplicaSet.SuccessfulCreate",
        "Pod.Lifetime",
        "Pod.NodeNotReady",
        "Pod.TaintManagerEviction",
    ]
    assert eviction.hidden > 0
    assert "caused: its spans link to node/hollow-node-2's above" in out
    assert "Evicted" in verdict_of(out)[-1]


def test_a_deployment_shows_every_trace_of_its_rollout(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = explain_text("deployment.apps/web", "--from", str(ROLLING), capsys=capsys)
    assert code == 0
    assert out.startswith("deployment/shop/web\n")
    assert "not shown" not in out  # everything in these traces is the Deployment's
    for pod in ("web-j8wwkxrfl-gzxsh", "web-j8wwkxrfl-lrjmf", "web-7bbs8nhpb-96flz"):
        assert pod in out


def test_html_file_holds_the_spans_shown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "why.html"
    code, text, _ = explain_text(
        "pod/web-j8wwkxrfl-gzxsh", "--from", str(ROLLING), "--html-file", str(out), capsys=capsys
    )
    assert code == 0
    page = out.read_text()
    assert "<title>kspan-py explain pod/web-j8wwkxrfl-gzxsh</title>" in page
    data = json.loads(page.split('id="kspan-data">', 1)[1].split("</script>", 1)[0])
    (trace,) = data["traces"]
    shown = int(re.search(r" · (\d+) spans \(\d+ more about other objects", text).group(1))  # type: ignore[union-attr]
    assert len(trace["spans"]) == shown  # what the terminal showed, not the whole trace


def test_colour_on_a_terminal_and_plain_text_the_same_words() -> None:
    gathered = explaining.gather_files([str(REAL / "crashloop.core.jsonl")])
    explanation = explaining.explain(gathered, ExplainSettings(target=f"po/{CRASHLOOP_POD}"))
    colour, plain = io.StringIO(), io.StringIO()
    explaining.print_explanation(explanation, stream=colour, color=True)
    explaining.print_explanation(explanation, stream=plain, color=None)  # not a tty: plain
    assert "\x1b[" in colour.getvalue() and "\x1b[" not in plain.getvalue()
    assert "✖ Pod.BackOff" in colour.getvalue() and "! Pod.BackOff" in plain.getvalue()
    assert "━" in colour.getvalue() and "=" in plain.getvalue()
    verdict = verdict_of(plain.getvalue())[0].removeprefix("! ")
    # The verdict wraps on a narrow terminal rather than being cut.
    words = " ".join(re.sub(r"\x1b\[[0-9;]*m", "", colour.getvalue()).split())
    assert "BackOff since" in words and "(5 times)" in words
    assert "(5 times)" in verdict


def test_no_color_is_plain_even_when_asked_for_colour_by_a_terminal(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdout.isatty", lambda: True, raising=False)
    code, out, _ = explain_text(
        f"pod/{CRASHLOOP_POD}",
        "--from",
        str(REAL / "crashloop.core.jsonl"),
        "--no-color",
        capsys=capsys,
    )
    assert code == 0 and "\x1b[" not in out and "! Pod.BackOff" in out


# -- selection rules on small dumps --------------------------------------------------------


def obj(
    kind: str,
    namespace: str,
    name: str,
    uid: str,
    owner: tuple[str, str, str] | None = None,
    created: str = "2026-01-05T14:00:00Z",
) -> dict[str, Any]:
    api = {"Pod": "v1", "Node": "v1"}.get(kind, "apps/v1")
    metadata: dict[str, Any] = {"name": name, "uid": uid, "creationTimestamp": created}
    if namespace:
        metadata["namespace"] = namespace
    if owner is not None:
        metadata["ownerReferences"] = [
            {
                "apiVersion": "apps/v1",
                "kind": owner[0],
                "name": owner[1],
                "uid": owner[2],
                "controller": True,
            }
        ]
    return {"apiVersion": api, "kind": kind, "metadata": metadata}


def event(
    namespace: str,
    about: tuple[str, str, str],
    reason: str,
    message: str,
    at: str,
    *,
    warning: bool = False,
    uid: str = "",
) -> dict[str, Any]:
    kind, name, object_uid = about
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"{name}.{reason}",
            "namespace": namespace,
            "uid": uid or f"ev-{name}-{reason}",
            "creationTimestamp": at,
        },
        "involvedObject": {"kind": kind, "name": name, "namespace": namespace, "uid": object_uid},
        "reason": reason,
        "message": message,
        "type": "Warning" if warning else "Normal",
        "count": 1,
        "firstTimestamp": at,
        "lastTimestamp": at,
        "source": {"component": "kubelet"},
    }


def dump(tmp_path: Path, *items: dict[str, Any]) -> str:
    path = tmp_path / "dump.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": list(items)}))
    return str(path)


def test_an_unknown_object_is_exit_2_naming_what_exists(
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = str(REAL / "badpull.events.jsonl")
    code, out, err = explain_text("pod/nope", "-n", "badpull", "--from", path, capsys=capsys)
    assert (code, out) == (2, "")
    assert err == (
        "kspan-py: no Pod 'nope' in namespace badpull in badpull.events.jsonl; "
        f"Pods there: {BADPULL_POD}\n"
    )
    code, _, err = explain_text("pod/nope", "-n", "elsewhere", "--from", path, capsys=capsys)
    assert code == 2
    assert err == (
        "kspan-py: no Pod 'nope' in namespace elsewhere: there is no Pod in namespace "
        "elsewhere in badpull.events.jsonl\n"
    )
    code, _, err = explain_text("gadget/x", "--from", path, capsys=capsys)
    assert code == 2
    assert err == "kspan-py: unknown kind 'gadget'; kinds here: Deployment, Node, Pod, ReplicaSet\n"
    code, _, err = explain_text("web", "--from", path, capsys=capsys)
    assert code == 2 and "'web' is not KIND/NAME" in err


def test_a_name_in_two_namespaces_needs_n(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = dump(
        tmp_path,
        obj("Pod", "a", "web", "pa"),
        obj("Pod", "b", "web", "pb"),
        event("a", ("Pod", "web", "pa"), "Started", "Container started", "2026-01-05T14:00:01Z"),
        event(
            "b",
            ("Pod", "web", "pb"),
            "BackOff",
            "Back-off restarting failed container app",
            "2026-01-05T14:00:02Z",
            warning=True,
        ),
    )
    code, _, err = explain_text("pod/web", "--from", path, capsys=capsys)
    assert code == 2
    assert err == "kspan-py: Pod web exists in several namespaces (a, b): choose one with -n\n"
    code, out, _ = explain_text("pod/web", "-n", "b", "--from", path, capsys=capsys)
    assert code == 0
    assert "Pod.BackOff" in out and "Pod.Started" not in out


def test_without_events_of_its_own_an_objects_owners_traces_are_shown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = dump(
        tmp_path,
        obj("ReplicaSet", "shop", "web-1", "rs1"),
        obj("Pod", "shop", "web-1-a", "p1", owner=("ReplicaSet", "web-1", "rs1")),
        event(
            "shop",
            ("ReplicaSet", "web-1", "rs1"),
            "FailedCreate",
            'Error creating: pods "web-1-b" is forbidden: exceeded quota',
            "2026-01-05T14:00:05Z",
            warning=True,
        ),
    )
    code, out, _ = explain_text("pod/web-1-a", "--from", path, capsys=capsys)
    assert code == 0
    assert out.splitlines()[:3] == [
        "pod/shop/web-1-a ← replicaset/web-1",
        "1 trace from dump.json; times UTC",
        "no events about pod/shop/web-1-a or its children: showing its owners' traces",
    ]
    (verdict,) = [line for line in out.splitlines() if line.startswith("verdict:")]
    assert verdict.startswith("verdict: ! replicaset/shop/web-1 FailedCreate (")
    assert "forbidden" in verdict


def test_an_object_only_events_mention_can_be_explained(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = dump(
        tmp_path,
        event(
            "shop",
            ("Service", "web", "svc1"),
            "FailedToUpdateEndpoint",
            "Failed to update endpoint shop/web",
            "2026-01-05T14:00:05Z",
            warning=True,
        ),
    )
    code, out, err = explain_text("svc/web", "--from", path, capsys=capsys)
    assert code == 0, err
    assert out.startswith("service/shop/web\n")
    assert "Service.FailedToUpdateEndpoint" in out


def test_an_object_with_no_events_left_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = dump(tmp_path, obj("Deployment", "shop", "quiet", "d1"))
    code, out, _ = explain_text("deploy/quiet", "--from", path, capsys=capsys)
    assert code == 0
    assert "0 traces from dump.json" in out
    assert "no events about deployment/shop/quiet, its owners or its children" in out


def test_a_capture_that_cannot_be_read_is_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = explain_text("pod/x", "--from", "/nonexistent/capture.jsonl", capsys=capsys)
    assert code == 1
    assert err.startswith("kspan-py: cannot read capture /nonexistent/capture.jsonl")


def test_a_kubectl_dump_is_explained_like_the_recording(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`kubectl get events,pods,replicasets,deployments -o json` at the end of the crash loop."""
    latest: dict[str, tuple[str, dict[str, Any]]] = {}
    for line in (REAL / "crashloop.core.jsonl").read_text().splitlines():
        value = json.loads(line)
        latest[value["object"]["metadata"]["uid"]] = (value["type"], value["object"])
    items = [body for kind, body in latest.values() if kind != "DELETED"]
    path = dump(tmp_path, *sorted(items, key=lambda b: b["kind"] != "Event"))  # events first
    code, out, err = explain_text(f"pod/{CRASHLOOP_POD}", "--from", path, capsys=capsys)
    assert code == 0, err
    (verdict,) = verdict_of(out)
    # A dump holds each Event once, at its last count: still 3 restarts and 5 back-offs.
    assert "container app" in verdict and "→ 3 restarts →" in verdict
    assert "(5 times)" in verdict


def test_the_readme_sample_is_what_explain_prints(capsys: pytest.CaptureFixture[str]) -> None:
    """The README shows explain's output trimmed (`...`): every line it keeps is printed, in
    that order."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = re.search(r"```\n\$ kspan-py (explain [^\n]+)\n(.*?)```", readme, re.S)
    assert block is not None, "the README lost its explain sample"
    args = block[1].split()[1:]
    code, out, err = explain_text(*args, "--no-color", capsys=capsys)
    assert code == 0, err
    printed = iter(out.splitlines())
    for line in block[2].splitlines():
        if line.strip() != "...":
            assert line in printed, f"not printed (or not in this order): {line}"
