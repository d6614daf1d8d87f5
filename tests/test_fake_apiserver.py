"""The fake API server, driven by the real kubernetes_asyncio client through a kubeconfig.

These pin the protocol the live mode relies on (pagination, watch resumption, 410s, dropped
streams, credentials) so that tests written against the fake test something true of a cluster.
Nothing here sleeps: the server is sequenced through its own state (``watch_opened``,
``wait_until``) and the lines the client has read.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, cast

import aiohttp
import pytest
from kubernetes_asyncio import client, watch
from kubernetes_asyncio import config as k8s_config
from kubernetes_asyncio.client.exceptions import ApiException

from tests.fake_apiserver import (
    FakeApiError,
    FakeApiServer,
    api_client,
    fake_apiserver,
    kubeconfig,
    load_api_client,
    write_kubeconfig,
)

__all__ = ["api_client", "fake_apiserver", "kubeconfig"]  # fixtures, used by name

Obj = dict[str, Any]
USER = "system:serviceaccount:kspan:kspan"


def pod(name: str, namespace: str = "default", **metadata: Any) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, **metadata},
        "spec": {"containers": [{"name": "app", "image": "registry.example/app:1"}]},
    }


def core_event(name: str, namespace: str = "default") -> Obj:
    """A core/v1 Event as kube-controller-manager writes it (shaped as in the bundled capture)."""
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": namespace},
        "involvedObject": {"kind": "ReplicaSet", "namespace": namespace, "name": "web-657c9d4c5"},
        "reason": "SuccessfulCreate",
        "message": "Created pod: web-657c9d4c5-qg7lm",
        "source": {"component": "replicaset-controller"},
        "firstTimestamp": "2026-11-24T16:34:08Z",
        "lastTimestamp": "2026-11-24T16:34:09Z",
        "count": 2,
        "type": "Normal",
        "eventTime": None,
        "reportingComponent": "replicaset-controller",
        "reportingInstance": "",
    }


def events_v1_event(name: str, namespace: str = "default") -> Obj:
    """An events.k8s.io/v1 Event as kube-scheduler writes it (as in the bundled capture)."""
    return {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": namespace},
        "eventTime": "2026-11-24T16:34:08.985580Z",
        "reportingController": "default-scheduler",
        "reportingInstance": "default-scheduler-vm",
        "action": "Binding",
        "reason": "Scheduled",
        "regarding": {"kind": "Pod", "namespace": namespace, "name": "web-657c9d4c5-qg7lm"},
        "note": "Successfully assigned rollout/web-657c9d4c5-qg7lm to hollow-node-0",
        "type": "Normal",
    }


async def raw_get(
    api: client.ApiClient, path: str, *, auth: bool = True, **query: str
) -> aiohttp.ClientResponse:
    """A GET through the ApiClient, its answer left unread (the live mode's way to watch).

    ``auth_settings`` must be named: call_api adds the bearer token only for the settings it is
    given. With ``_preload_content=False`` no status raises: the caller reads ``status``."""
    response: aiohttp.ClientResponse = await api.call_api(
        path,
        "GET",
        query_params=list(query.items()),
        header_params={"Accept": "application/json"},
        auth_settings=["BearerToken"] if auth else [],
        _preload_content=False,
    )
    return response


async def read_events(response: aiohttp.ClientResponse, count: int) -> list[Obj]:
    """The next ``count`` watch events (one JSON object a line); the deadline only turns a
    missing event into a failure instead of a hang."""
    events = []
    async with asyncio.timeout(5):
        for _ in range(count):
            line = await response.content.readline()
            assert line.endswith(b"\n"), f"the stream ended early: {line!r}"
            events.append(json.loads(line))
    return events


def summary(events: list[Obj]) -> list[tuple[str, str, str]]:
    return [
        (
            e["type"],
            e["object"]["metadata"].get("name", ""),
            e["object"]["metadata"]["resourceVersion"],
        )
        for e in events
    ]


def status_of(error: ApiException) -> Obj:
    assert error.body is not None
    body: Obj = json.loads(error.body)
    return body


@pytest.fixture
def core(api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


# -- discovery ---------------------------------------------------------------------------


async def test_discovery_answers_the_typed_client(api_client: client.ApiClient) -> None:
    version = await client.VersionApi(api_client).get_code()
    assert version.git_version == "v1.36.0"
    assert (version.major, version.minor) == ("1", "36")

    assert (await client.CoreApi(api_client).get_api_versions()).versions == ["v1"]
    groups = await client.ApisApi(api_client).get_api_versions()
    assert [g.name for g in groups.groups] == [
        "apps",
        "batch",
        "events.k8s.io",
        "autoscaling",
        "coordination.k8s.io",
    ]
    assert groups.groups[0].preferred_version.group_version == "apps/v1"

    core = await client.CoreV1Api(api_client).get_api_resources()
    assert {(r.name, r.namespaced, r.kind) for r in core.resources} == {
        ("pods", True, "Pod"),
        ("events", True, "Event"),
        ("nodes", False, "Node"),
        ("namespaces", False, "Namespace"),
    }
    pods = next(r for r in core.resources if r.name == "pods")
    assert {"list", "watch", "get"} <= set(pods.verbs)
    apps = await client.AppsV1Api(api_client).get_api_resources()
    assert apps.group_version == "apps/v1"
    assert [r.name for r in apps.resources] == [
        "deployments",
        "replicasets",
        "statefulsets",
        "daemonsets",
    ]
    batch = await client.BatchV1Api(api_client).get_api_resources()
    assert [r.kind for r in batch.resources] == ["Job", "CronJob"]
    events = await client.EventsV1Api(api_client).get_api_resources()
    assert [r.name for r in events.resources] == ["events"]
    leases = await client.CoordinationV1Api(api_client).get_api_resources()
    assert [(r.name, r.kind) for r in leases.resources] == [("leases", "Lease")]


async def test_without_events_v1_that_group_is_not_found(tmp_path: Path) -> None:
    async with FakeApiServer(serve_events_v1=False) as server:
        path = write_kubeconfig(tmp_path / "kubeconfig", url=server.url, token=server.token)
        server.create(core_event("web.1"))
        with pytest.raises(FakeApiError) as created:
            server.create(events_v1_event("web.2"))
        assert created.value.code == 404
        async with await load_api_client(path) as api:
            groups = await client.ApisApi(api).get_api_versions()
            assert "events.k8s.io" not in [g.name for g in groups.groups]
            discovery = await raw_get(api, "/apis/events.k8s.io/v1")
            async with discovery:
                assert discovery.status == 404
                assert (await discovery.json())["reason"] == "NotFound"
            with pytest.raises(ApiException) as listed:
                await client.EventsV1Api(api).list_event_for_all_namespaces()
            assert listed.value.status == 404
            events = await client.CoreV1Api(api).list_event_for_all_namespaces()
            assert [e.metadata.name for e in events.items] == ["web.1"]


# -- objects and lists -------------------------------------------------------------------


async def test_store_stamps_versions_and_lists_strip_kind(
    fake_apiserver: FakeApiServer, core: client.CoreV1Api
) -> None:
    created = fake_apiserver.create(pod("web-1", "shop", resourceVersion="999"))
    fake_apiserver.create(pod("web-2", "shop"))
    fake_apiserver.create(pod("other", "elsewhere"))
    assert created["metadata"]["resourceVersion"] == "1"  # a recorded version is replaced
    assert created["metadata"]["uid"] and created["metadata"]["creationTimestamp"]
    assert fake_apiserver.current_resource_version() == 3

    pods = await core.list_namespaced_pod("shop")
    assert [p.metadata.name for p in pods.items] == ["web-1", "web-2"]
    assert pods.metadata.resource_version == "3"
    assert pods.metadata._continue is None
    assert pods.items[0].kind is None and pods.items[0].api_version is None

    got = await core.read_namespaced_pod("web-1", "shop")
    assert (got.kind, got.metadata.uid) == ("Pod", created["metadata"]["uid"])
    with pytest.raises(ApiException) as missing:
        await core.read_namespaced_pod("nope", "shop")
    assert missing.value.status == 404
    assert status_of(missing.value)["message"] == 'pods "nope" not found'

    changed = {**created, "status": {"phase": "Running"}}
    updated = fake_apiserver.update(changed)
    assert updated["metadata"]["resourceVersion"] == "4"
    assert updated["metadata"]["uid"] == created["metadata"]["uid"]
    with pytest.raises(FakeApiError) as stale:
        fake_apiserver.update(changed)  # still carries version 1
    assert (stale.value.code, stale.value.reason) == (409, "Conflict")
    with pytest.raises(FakeApiError) as twice:
        fake_apiserver.create(pod("web-2", "shop"))
    assert twice.value.reason == "AlreadyExists"

    over_http = await core.delete_namespaced_pod("web-2", "shop")
    assert over_http.metadata.name == "web-2"  # pods answer with the object, not a Status
    deleted = fake_apiserver.delete("pods", "web-1", "shop")
    assert deleted["metadata"]["resourceVersion"] == "6"
    assert deleted["status"] == {"phase": "Running"}
    assert fake_apiserver.get("Pod", "web-1", "shop") is None
    named = fake_apiserver.create(pod("", "shop", generateName="web-"))
    assert named["metadata"]["name"].startswith("web-") and len(named["metadata"]["name"]) == 9


async def test_pages_are_one_snapshot_even_when_the_store_changes_between_them(
    fake_apiserver: FakeApiServer, core: client.CoreV1Api
) -> None:
    originals = {
        p["metadata"]["name"]: p
        for p in (fake_apiserver.create(pod(f"p{i}", "pg")) for i in range(5))
    }
    snapshot_rv = str(fake_apiserver.current_resource_version())

    names: list[str] = []
    versions: list[str] = []
    page = await core.list_namespaced_pod("pg", limit=2)
    assert page.metadata.remaining_item_count == 3
    # Between the pages: one object added (sorting first), one changed, one deleted.
    fake_apiserver.create(pod("a-new", "pg"))
    fake_apiserver.update({**originals["p3"], "status": {"phase": "Running"}})
    fake_apiserver.delete(originals["p4"])
    while True:
        names += [p.metadata.name for p in page.items]
        versions += [p.metadata.resource_version for p in page.items]
        assert page.metadata.resource_version == snapshot_rv
        if not page.metadata._continue:
            break
        page = await core.list_namespaced_pod("pg", limit=2, _continue=page.metadata._continue)

    assert names == ["p0", "p1", "p2", "p3", "p4"]
    assert versions == [originals[n]["metadata"]["resourceVersion"] for n in names]
    lists = [r for r in fake_apiserver.requests if r.verb == "list"]
    assert [r.query.get("limit") for r in lists] == ["2", "2", "2"]
    assert [("continue" in r.query) for r in lists] == [False, True, True]

    now = await core.list_namespaced_pod("pg")
    assert [p.metadata.name for p in now.items] == ["a-new", "p0", "p1", "p2", "p3"]
    exact = await core.list_namespaced_pod(
        "pg", resource_version=snapshot_rv, resource_version_match="Exact"
    )
    assert [p.metadata.name for p in exact.items] == ["p0", "p1", "p2", "p3", "p4"]


async def test_an_expired_continue_token_is_410(
    fake_apiserver: FakeApiServer, core: client.CoreV1Api
) -> None:
    for i in range(3):
        fake_apiserver.create(pod(f"p{i}"))
    first = await core.list_namespaced_pod("default", limit=1)
    fake_apiserver.create(pod("later"))
    fake_apiserver.compact()
    with pytest.raises(ApiException) as expired:
        await core.list_namespaced_pod("default", limit=1, _continue=first.metadata._continue)
    assert expired.value.status == 410
    status = status_of(expired.value)
    assert (status["kind"], status["status"], status["reason"], status["code"]) == (
        "Status",
        "Failure",
        "Expired",
        410,
    )
    assert "too old to display a consistent list" in status["message"]
    assert status["metadata"]["continue"]  # the real server offers an inconsistent remainder

    with pytest.raises(ApiException) as garbage:
        await core.list_namespaced_pod("default", limit=1, _continue="not-a-token")
    assert garbage.value.status == 400


# -- watches -----------------------------------------------------------------------------


async def test_raw_watch_delivers_added_modified_deleted_and_bookmarks(
    fake_apiserver: FakeApiServer, core: client.CoreV1Api
) -> None:
    web1 = fake_apiserver.create(pod("web-1"))
    # The typed call with _preload_content=False gives the aiohttp response, unread (whatever
    # its stub says: V1PodList).
    response = cast(
        aiohttp.ClientResponse,
        await core.list_pod_for_all_namespaces(
            watch=True, allow_watch_bookmarks=True, resource_version="0", _preload_content=False
        ),
    )
    async with response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/json"
        assert response.headers["Transfer-Encoding"] == "chunked"
        assert fake_apiserver.open_watches == 1
        [added] = await read_events(response, 1)
        assert added["object"]["kind"] == "Pod" and added["object"]["apiVersion"] == "v1"

        web2 = fake_apiserver.create(pod("web-2", "other"))
        fake_apiserver.update({**web1, "status": {"phase": "Running"}})
        fake_apiserver.delete(web2)
        fake_apiserver.send_bookmarks()
        events = await read_events(response, 4)
        assert summary([added, *events]) == [
            ("ADDED", "web-1", "1"),
            ("ADDED", "web-2", "2"),
            ("MODIFIED", "web-1", "3"),
            ("DELETED", "web-2", "4"),
            ("BOOKMARK", "", "4"),
        ]
        assert events[1]["object"]["status"] == {"phase": "Running"}
        assert events[3]["object"] == {
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": {"resourceVersion": "4"},
        }

        fake_apiserver.end_watches()  # what timeoutSeconds does: a clean end of the stream
        assert await response.content.readline() == b""
    await fake_apiserver.wait_until(lambda: fake_apiserver.open_watches == 0)
    [asked] = [r for r in fake_apiserver.requests if r.watch]
    assert (asked.plural, asked.resource_version, asked.status) == ("pods", "0", 200)
    assert asked.query["allowWatchBookmarks"] == "True"  # the client sends Python's spelling


async def test_watch_resumes_from_a_version_within_its_namespace(
    fake_apiserver: FakeApiServer, api_client: client.ApiClient
) -> None:
    fake_apiserver.create(pod("a", "shop"))
    resume_from = fake_apiserver.current_resource_version()
    fake_apiserver.create(pod("b", "shop"))
    fake_apiserver.create(pod("c", "elsewhere"))
    fake_apiserver.create(pod("d", "shop"))

    response = await raw_get(
        api_client,
        "/api/v1/namespaces/shop/pods",
        watch="true",
        resourceVersion=str(resume_from),
        timeoutSeconds="300",
    )
    async with response:
        assert summary(await read_events(response, 2)) == [("ADDED", "b", "2"), ("ADDED", "d", "4")]
        fake_apiserver.create(pod("e", "elsewhere"))
        fake_apiserver.create(pod("f", "shop"))
        assert summary(await read_events(response, 1)) == [("ADDED", "f", "6")]
    watches = [r for r in fake_apiserver.requests if r.watch]
    assert [(r.namespace, r.resource_version) for r in watches] == [("shop", "1")]


async def test_watch_from_a_compacted_version_gets_an_error_event(
    fake_apiserver: FakeApiServer, api_client: client.ApiClient, core: client.CoreV1Api
) -> None:
    for name in ("a", "b", "c"):
        fake_apiserver.create(pod(name))
    assert fake_apiserver.compact(2) == 2
    response = await raw_get(api_client, "/api/v1/pods", watch="1", resourceVersion="1")
    async with response:
        assert response.status == 200
        [error] = await read_events(response, 1)
        assert await response.content.readline() == b""
    assert error == {
        "type": "ERROR",
        "object": {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": "too old resource version: 1 (2)",
            "reason": "Expired",
            "code": 410,
        },
    }

    # kubernetes_asyncio's Watch turns it into an ApiException (retrying once first, with the
    # same stale version, unless timeout_seconds is given).
    async with watch.Watch() as stream:
        with pytest.raises(ApiException) as raised:
            async for _ in stream.stream(
                core.list_pod_for_all_namespaces, resource_version="1", timeout_seconds=60
            ):
                pass
    assert raised.value.status == 410

    # From the compaction point on, the history is there.
    response = await raw_get(api_client, "/api/v1/pods", watch="true", resourceVersion="2")
    async with response:
        assert summary(await read_events(response, 1)) == [("ADDED", "c", "3")]


async def test_watch_from_a_compacted_version_as_http_410(
    fake_apiserver: FakeApiServer, api_client: client.ApiClient, core: client.CoreV1Api
) -> None:
    fake_apiserver.expired_as = "http"
    fake_apiserver.create(pod("a"))
    fake_apiserver.create(pod("b"))
    fake_apiserver.compact()
    with pytest.raises(ApiException) as raised:
        await core.list_pod_for_all_namespaces(watch=True, resource_version="1")
    assert raised.value.status == 410
    assert status_of(raised.value)["reason"] == "Expired"
    response = await raw_get(api_client, "/api/v1/pods", watch="true", resourceVersion="1")
    async with response:
        assert response.status == 410
        assert (await response.json())["message"] == "too old resource version: 1 (2)"


async def test_timeout_seconds_ends_the_stream_on_the_loops_clock(
    fake_apiserver: FakeApiServer, api_client: client.ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    response = await raw_get(api_client, "/api/v1/pods", watch="true", timeoutSeconds="300")
    async with response:
        loop = asyncio.get_running_loop()
        later = loop.time() + 301
        with monkeypatch.context() as clock:
            clock.setattr(loop, "time", lambda: later)  # the server's timer is due: no waiting
            assert await response.content.readline() == b""
    assert fake_apiserver.requests[-1].query["timeoutSeconds"] == "300"


async def test_dropped_watch_is_an_abnormal_end(
    fake_apiserver: FakeApiServer, api_client: client.ApiClient
) -> None:
    fake_apiserver.create(pod("a"))
    response = await raw_get(api_client, "/api/v1/pods", watch="true", resourceVersion="0")
    async with response:
        await read_events(response, 1)
        fake_apiserver.drop_watches()
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.content.readline()
    await fake_apiserver.wait_until(lambda: fake_apiserver.open_watches == 0)


async def test_watch_opened_sequences_a_background_watch(
    fake_apiserver: FakeApiServer, core: client.CoreV1Api
) -> None:
    seen: list[tuple[str, str]] = []

    async def follow() -> None:
        async with watch.Watch() as stream:
            async for event in stream.stream(core.list_namespaced_pod, "shop", timeout_seconds=60):
                seen.append((event["type"], event["object"].metadata.name))
                if event["type"] == "DELETED":
                    return

    task = asyncio.create_task(follow())
    await fake_apiserver.watch_opened("pods")
    fake_apiserver.create(pod("web", "shop"))
    fake_apiserver.delete("Pod", "web", "shop")
    await asyncio.wait_for(task, 5)
    assert seen == [("ADDED", "web"), ("DELETED", "web")]
    assert fake_apiserver.watches_opened("pods") == 1


async def test_streaming_list_ends_its_initial_events_with_a_bookmark(
    fake_apiserver: FakeApiServer, api_client: client.ApiClient
) -> None:
    fake_apiserver.create(pod("a"))
    fake_apiserver.create(pod("b"))
    response = await raw_get(
        api_client,
        "/api/v1/pods",
        watch="true",
        sendInitialEvents="true",
        resourceVersionMatch="NotOlderThan",
        allowWatchBookmarks="true",
    )
    async with response:
        events = await read_events(response, 3)
    assert summary(events) == [("ADDED", "a", "1"), ("ADDED", "b", "2"), ("BOOKMARK", "", "2")]
    assert events[2]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    invalid = await raw_get(
        api_client,
        "/api/v1/pods",
        watch="true",
        sendInitialEvents="true",
        resourceVersionMatch="NotOlderThan",
    )
    async with invalid:
        assert invalid.status == 422


# -- credentials and permissions ---------------------------------------------------------


async def test_requests_without_the_token_are_401(
    fake_apiserver: FakeApiServer, api_client: client.ApiClient, tmp_path: Path
) -> None:
    unsigned = await raw_get(api_client, "/api/v1/pods", auth=False)
    async with unsigned:
        assert unsigned.status == 401
        assert await unsigned.json() == {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": "Unauthorized",
            "reason": "Unauthorized",
            "code": 401,
        }
    wrong = write_kubeconfig(tmp_path / "wrong", url=fake_apiserver.url, token="not-the-token")
    async with await load_api_client(wrong) as api:
        with pytest.raises(ApiException) as raised:
            await client.CoreV1Api(api).list_namespaced_pod("default")
        assert raised.value.status == 401

    await client.CoreV1Api(api_client).list_namespaced_pod("default")
    fake_apiserver.set_token("rotated")
    with pytest.raises(ApiException) as rotated:
        await client.CoreV1Api(api_client).list_namespaced_pod("default")
    assert rotated.value.status == 401


async def test_exec_plugin_token_rotation(fake_apiserver: FakeApiServer, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("first\n")
    fake_apiserver.set_token("first")
    path = write_kubeconfig(
        tmp_path / "kubeconfig", url=fake_apiserver.url, exec_token_file=token_file
    )
    configuration = client.Configuration()
    loader = await k8s_config.load_kube_config(
        config_file=str(path), client_configuration=configuration, persist_config=False
    )
    assert configuration.api_key["BearerToken"] == "Bearer first"  # the plugin ran
    async with client.ApiClient(configuration) as api:
        core = client.CoreV1Api(api)
        await core.list_namespaced_pod("default")

        fake_apiserver.set_token("second")
        token_file.write_text("second\n")
        with pytest.raises(ApiException) as stale:  # the client never re-runs it by itself
            await core.list_namespaced_pod("default")
        assert stale.value.status == 401

        # Renewing: the loader runs the plugin again (it caches only a token with an expiry)
        # and the ApiClient reads the Configuration on every request.
        await loader.load_from_exec_plugin()
        configuration.api_key["BearerToken"] = loader.token
        await core.list_namespaced_pod("default")
    assert [r.status for r in fake_apiserver.requests] == [200, 401, 200]


async def test_forbidden_answers_with_the_rbac_message(
    fake_apiserver: FakeApiServer, core: client.CoreV1Api, api_client: client.ApiClient
) -> None:
    fake_apiserver.forbid("watch", "pods")
    fake_apiserver.forbid("list", "deployments", namespace="kube-system")
    with pytest.raises(ApiException) as watch_denied:
        await core.list_pod_for_all_namespaces(watch=True)
    assert watch_denied.value.status == 403
    assert status_of(watch_denied.value) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f'pods is forbidden: User "{USER}" cannot watch resource "pods" in API group "" '
        "at the cluster scope",
        "reason": "Forbidden",
        "details": {"kind": "pods"},
        "code": 403,
    }
    await core.list_pod_for_all_namespaces()  # list is allowed

    apps = client.AppsV1Api(api_client)
    with pytest.raises(ApiException) as namespaced:
        await apps.list_namespaced_deployment("kube-system")
    assert status_of(namespaced.value)["message"] == (
        f'deployments.apps is forbidden: User "{USER}" cannot list resource "deployments" in API '
        'group "apps" in the namespace "kube-system"'
    )
    await apps.list_namespaced_deployment("default")
    with pytest.raises(ApiException) as cluster_wide:  # it would include kube-system
        await apps.list_deployment_for_all_namespaces()
    assert cluster_wide.value.status == 403
    fake_apiserver.allow_all()
    await apps.list_deployment_for_all_namespaces()


async def test_fail_next_injects_statuses(
    fake_apiserver: FakeApiServer, core: client.CoreV1Api
) -> None:
    fake_apiserver.fail_next(500)
    fake_apiserver.fail_next(429, path_contains="/events", retry_after_s=3)
    fake_apiserver.fail_next(403, path_contains="/nodes", count=2)

    with pytest.raises(ApiException) as internal:
        await core.list_namespaced_pod("default")
    assert (internal.value.status, status_of(internal.value)["reason"]) == (500, "InternalError")
    await core.list_namespaced_pod("default")

    with pytest.raises(ApiException) as throttled:
        await core.list_namespaced_event("default")
    assert throttled.value.status == 429
    assert throttled.value.headers is not None
    assert throttled.value.headers["Retry-After"] == "3"
    assert status_of(throttled.value)["details"] == {"retryAfterSeconds": 3}

    for _ in range(2):
        with pytest.raises(ApiException) as denied:
            await core.list_node(watch=True)
        assert status_of(denied.value)["message"] == (
            f'nodes is forbidden: User "{USER}" cannot watch resource "nodes" in API group "" '
            "at the cluster scope"
        )
    await core.list_node()
    assert [r.status for r in fake_apiserver.requests] == [500, 200, 429, 403, 403, 200]


# -- Events: one storage, two APIs -------------------------------------------------------


async def test_events_are_one_storage_seen_through_both_apis(
    fake_apiserver: FakeApiServer, api_client: client.ApiClient
) -> None:
    events_api = client.EventsV1Api(api_client)
    response = await raw_get(api_client, "/apis/events.k8s.io/v1/events", watch="true")
    async with response:
        fake_apiserver.create(core_event("web.1"))
        [watched] = await read_events(response, 1)
    as_v1 = watched["object"]
    del as_v1["metadata"]
    assert as_v1 == {
        "kind": "Event",
        "apiVersion": "events.k8s.io/v1",
        "eventTime": None,
        "reportingController": "replicaset-controller",
        "reason": "SuccessfulCreate",
        "regarding": {"kind": "ReplicaSet", "namespace": "default", "name": "web-657c9d4c5"},
        "note": "Created pod: web-657c9d4c5-qg7lm",
        "type": "Normal",
        "deprecatedSource": {"component": "replicaset-controller"},
        "deprecatedFirstTimestamp": "2026-11-24T16:34:08Z",
        "deprecatedLastTimestamp": "2026-11-24T16:34:09Z",
        "deprecatedCount": 2,
    }

    # A dict body is sent as it is (the stub asks for the model).
    body: Any = events_v1_event("web.2")
    created = await events_api.create_namespaced_event("default", body)
    assert created.reporting_controller == "default-scheduler"
    core_list = await raw_get(api_client, "/api/v1/namespaces/default/events")
    async with core_list:
        listed = await core_list.json()
    assert listed["kind"] == "EventList" and listed["apiVersion"] == "v1"
    as_core = listed["items"][1]
    assert as_core["metadata"]["resourceVersion"] == "2"
    del as_core["metadata"]
    assert as_core == {  # as a real cluster shows kube-scheduler's Events through core/v1
        "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web-657c9d4c5-qg7lm"},
        "reason": "Scheduled",
        "message": "Successfully assigned rollout/web-657c9d4c5-qg7lm to hollow-node-0",
        "source": {},
        "firstTimestamp": None,
        "lastTimestamp": None,
        "type": "Normal",
        "eventTime": "2026-11-24T16:34:08.985580Z",
        "action": "Binding",
        "reportingComponent": "default-scheduler",
        "reportingInstance": "default-scheduler-vm",
    }
    assert listed["items"][0]["count"] == 2 and "count" not in as_core

    # The typed client cannot read that list: it requires eventTime, which core/v1 Events lack.
    with pytest.raises(ValueError, match="event_time"):
        await events_api.list_namespaced_event("default")

    fake_apiserver.delete("events", "web.2", "default")
    remaining = await raw_get(api_client, "/apis/events.k8s.io/v1/events")
    async with remaining:
        assert [e["metadata"]["name"] for e in (await remaining.json())["items"]] == ["web.1"]


# -- leases ------------------------------------------------------------------------------


async def test_leases_create_get_update_with_conflicts(api_client: client.ApiClient) -> None:
    leases = client.CoordinationV1Api(api_client)
    body = client.V1Lease(
        metadata=client.V1ObjectMeta(name="kspan"),
        spec=client.V1LeaseSpec(holder_identity="pod-a", lease_duration_seconds=15),
    )
    created = await leases.create_namespaced_lease("kspan", body)
    assert (created.kind, created.metadata.namespace) == ("Lease", "kspan")
    with pytest.raises(ApiException) as exists:
        await leases.create_namespaced_lease("kspan", body)
    assert exists.value.status == 409
    assert status_of(exists.value)["reason"] == "AlreadyExists"
    assert status_of(exists.value)["message"] == 'leases.coordination.k8s.io "kspan" already exists'

    current = await leases.read_namespaced_lease("kspan", "kspan")
    current.spec.holder_identity = "pod-b"
    renewed = await leases.replace_namespaced_lease("kspan", "kspan", current)
    assert renewed.spec.holder_identity == "pod-b"
    assert int(renewed.metadata.resource_version) > int(current.metadata.resource_version)

    current.spec.holder_identity = "pod-c"  # still at the version pod-b replaced
    with pytest.raises(ApiException) as stale:
        await leases.replace_namespaced_lease("kspan", "kspan", current)
    assert stale.value.status == 409
    assert status_of(stale.value)["reason"] == "Conflict"
    assert status_of(stale.value)["details"] == {
        "name": "kspan",
        "group": "coordination.k8s.io",
        "kind": "leases",
    }

    unversioned = client.V1Lease(metadata=client.V1ObjectMeta(name="kspan"), spec=current.spec)
    with pytest.raises(ApiException) as unconditional:
        await leases.replace_namespaced_lease("kspan", "kspan", unversioned)
    assert unconditional.value.status == 422
    with pytest.raises(ApiException) as missing:
        await leases.read_namespaced_lease("other", "kspan")
    assert missing.value.status == 404

    deleted = await leases.delete_namespaced_lease("kspan", "kspan")
    assert (deleted.status, deleted.details.name) == ("Success", "kspan")
    with pytest.raises(ApiException) as gone:
        await leases.read_namespaced_lease("kspan", "kspan")
    assert gone.value.status == 404


async def test_unknown_paths_are_404(api_client: client.ApiClient) -> None:
    for path in ("/apis/example.com/v1/widgets", "/api/v1/namespaces/a/nodes", "/api/v1/pods/x"):
        response = await raw_get(api_client, path)
        async with response:
            assert response.status == 404, path
            assert (await response.json())["message"] == (
                "the server could not find the requested resource"
            )


def test_kubeconfig_is_read_by_the_client_and_needs_exactly_one_credential(
    tmp_path: Path,
) -> None:
    path = write_kubeconfig(
        tmp_path / "k", url="http://127.0.0.1:1", token="t", context="ctx", namespace="shop"
    )
    contexts, current = k8s_config.list_kube_config_contexts(config_file=str(path))
    assert current == {
        "name": "ctx",
        "context": {"cluster": "ctx", "user": "ctx-user", "namespace": "shop"},
    }
    assert contexts == [current]
    with pytest.raises(ValueError, match="exactly one"):
        write_kubeconfig(tmp_path / "k", url="http://127.0.0.1:1")
