"""`kspan-py explain` live: one list of the cluster, no watch, through the real client.

The recorded crash loop is written into the fake API server (so it holds each object and Event
at its last state, as a real cluster does afterwards); `kspan-py explain` then runs as a user
runs it, with a generated kubeconfig, in a thread with its own event loop while the server
answers in the test's loop.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kspan_py.cli import main
from kspan_py.config import ClusterSettings
from kspan_py.sources.watching import ListFailed, list_once
from tests.fake_apiserver import FakeApiServer, write_kubeconfig
from tests.test_live import CRASHLOOP, a_cluster, push_all, values_of

POD = "crasher-668df5975c-56trp"


@pytest.fixture
async def server() -> AsyncIterator[FakeApiServer]:
    async with FakeApiServer() as fake:
        a_cluster(fake)
        push_all(fake, values_of(CRASHLOOP))
        yield fake


@pytest.fixture
def kubeconfig(server: FakeApiServer, tmp_path: Path) -> Path:
    return write_kubeconfig(tmp_path / "kubeconfig", url=server.url, token=server.token)


async def explain(*args: str) -> int:
    return await asyncio.to_thread(main, ["explain", *args])


async def test_live_explain_lists_once_and_names_the_container_and_the_back_off(
    server: FakeApiServer, kubeconfig: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await explain(f"pod/{POD}", "-n", "crashloop", "--kubeconfig", str(kubeconfig))
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.startswith(
        f"pod/crashloop/{POD} ← replicaset/crasher-668df5975c ← deployment/crasher\n"
        "1 trace from the cluster in namespace crashloop; times UTC\n"
    )
    (verdict,) = [line for line in out.splitlines() if line.startswith("verdict:")]
    assert f"pod/crashloop/{POD}: container app" in verdict
    assert re.search(r"back-?off", verdict, re.IGNORECASE)
    # The cluster holds each Event at its last count: 4 starts, 5 back-offs.
    assert "→ 3 restarts →" in verdict and "(5 times)" in verdict
    # One look: lists in the namespace (and the discovery of the Event API), never a watch.
    resources = [r for r in server.requests if r.verb is not None]
    assert resources and not any(r.watch for r in resources)
    assert {r.verb for r in resources} == {"list"}
    assert {r.namespace for r in resources} == {"crashloop"}
    assert {r.plural for r in resources} >= {"pods", "replicasets", "deployments", "events"}


async def test_live_explain_without_n_lists_every_namespace(
    server: FakeApiServer, kubeconfig: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await explain("deploy/crasher", "--kubeconfig", str(kubeconfig))
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "1 trace from the cluster; 2 objects below it" in out
    assert {r.namespace for r in server.requests if r.verb == "list"} == {None}


async def test_a_forbidden_list_is_exit_1_naming_the_permission(
    server: FakeApiServer, kubeconfig: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.forbid("list", "pods", "crashloop")
    code = await explain(f"pod/{POD}", "-n", "crashloop", "--kubeconfig", str(kubeconfig))
    out, err = capsys.readouterr()
    assert (code, out) == (1, "")
    assert err.startswith(
        "kspan-py: cannot list pods in namespace crashloop: 403 Forbidden: kspan-py needs get, "
        'list and watch on pods in API group "" (core) in namespace crashloop'
    )


async def test_an_unknown_pod_live_is_exit_2_naming_the_pods_there(
    server: FakeApiServer, kubeconfig: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await explain("pod/crasher", "-n", "crashloop", "--kubeconfig", str(kubeconfig))
    _, err = capsys.readouterr()
    assert code == 2
    assert err == (
        "kspan-py: no Pod 'crasher' in namespace crashloop in the cluster in namespace "
        f"crashloop; Pods there: {POD}\n"
    )


async def test_an_api_server_nobody_answers_for_is_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A port that was just free: nothing listens there.
    gone = FakeApiServer()
    await gone.start()
    url = gone.url
    await gone.stop()
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", url=url, token="t")
    code = await explain("pod/x", "-n", "shop", "--kubeconfig", str(kubeconfig))
    _, err = capsys.readouterr()
    assert code == 1
    assert err.startswith(
        f"kspan-py: cannot discover the Event API: cannot reach the API server at {url}"
    )


async def test_a_kubeconfig_that_cannot_be_read_is_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await explain("pod/x", "--kubeconfig", str(tmp_path / "missing"))
    _, err = capsys.readouterr()
    assert code == 1
    # One line (kubernetes_asyncio's loader, asked, logged "not found" and then raised about a
    # missing current-context).
    assert err.splitlines() == [
        f"kspan-py: no kubeconfig: {tmp_path / 'missing'} (--kubeconfig) does not exist"
    ]


async def test_list_once_gives_one_snapshot_owners_before_events(
    server: FakeApiServer, kubeconfig: Path
) -> None:
    snapshot = await list_once(
        ClusterSettings(kubeconfig=str(kubeconfig), namespaces=("crashloop",), page_size=3)
    )
    assert snapshot.snapshot
    kinds = [item["kind"] for item in snapshot.value["items"]]
    assert kinds.index("Deployment") < kinds.index("ReplicaSet") < kinds.index("Pod")
    assert set(kinds[kinds.index("Event") :]) == {"Event"}  # Events last
    assert kinds.count("Pod") == 1


async def test_list_once_raises_list_failed_rather_than_retrying(
    server: FakeApiServer, kubeconfig: Path
) -> None:
    server.fail_next(500, path_contains="/replicasets", message="etcd is unhappy")
    with pytest.raises(ListFailed) as failed:
        await list_once(ClusterSettings(kubeconfig=str(kubeconfig), namespaces=("crashloop",)))
    assert str(failed.value).startswith("cannot list replicasets.apps in namespace crashloop: ")
    assert "etcd is unhappy" in str(failed.value)
    assert sum("/replicasets" in r.path for r in server.requests) == 1  # no retry


async def test_a_node_is_explained_from_a_cluster_wide_list_even_with_n(
    server: FakeApiServer, kubeconfig: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await explain("node/hollow-node-1", "-n", "crashloop", "--kubeconfig", str(kubeconfig))
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.startswith("node/hollow-node-1\n")
    nodes = [r for r in server.requests if r.plural == "nodes"]
    assert nodes and all(r.verb == "list" and r.namespace is None for r in nodes)
