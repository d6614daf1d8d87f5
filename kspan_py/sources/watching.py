"""Watches a cluster: list, then watch from the list's resourceVersion, for as long as it runs.

The only importer of kubernetes_asyncio. Its typed API and its ``Watch`` helper are not used on
the hot path: they build model classes per event and, on a 410, retry once with the same stale
version before giving up. Instead each watched resource runs three nested loops, each with one
job (as kopf does):

- ``ResourceWatch.run`` never ends: it lists, then watches; any failure backs off (exponential,
  full jitter) and goes around again; only a 410 Gone or an ERROR event makes it list again.
- ``_list`` pages through the collection with ``limit``/``continue``; the pages together are
  one snapshot at the first page's resourceVersion (an expired continue token is a 410).
- ``_watch_once`` is one HTTP request: a chunked stream of JSON lines, read raw with orjson,
  ended by the server's ``timeoutSeconds``, by a client-side read timeout (a half-dead
  connection sends nothing), or by a dropped connection, after which it resumes from the last
  resourceVersion it saw (a BOOKMARK moves that forward without an object).

What comes out is a stream of ``SourceValue``: raw JSON values in the capture format (a watch
event per line, a re-list as one ``List``), so that recording them gives a capture that
``kspan-py replay`` reads back into the same changes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from kubernetes_asyncio import client as k8s_client
from kubernetes_asyncio import config as k8s_config
from kubernetes_asyncio.config.config_exception import ConfigException

from kspan_py.config import ClusterSettings
from kspan_py.controllers import Resource
from kspan_py.sources.resources import EVENTS_CORE, EVENTS_V1, select_resources

log = logging.getLogger(__name__)

Raw = dict[str, Any]


# -- what comes out ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SourceValue:
    """One raw JSON value in the capture format, and its encoded bytes when the server sent it
    as they are (a watch line), so that recording costs no second encoding."""

    value: Raw
    raw: bytes | None = None
    resource: str = ""
    snapshot: bool = False  # a List: its items are a snapshot, taken whole


class AccessDenied(RuntimeError):
    """401 or 403: the message names the credentials or the permission that is missing."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class ApiUnavailable(RuntimeError):
    """The API server cannot be reached or answers with an error: retried with backoff."""


class Gone(Exception):
    """410: the resourceVersion or continue token is older than the server keeps. List again."""


# -- connection --------------------------------------------------------------------------


@dataclass(slots=True)
class Connection:
    """An ApiClient and how to renew its credentials when the server rejects them."""

    api: k8s_client.ApiClient
    configuration: k8s_client.Configuration
    description: str
    _renew: Callable[[], Awaitable[None]]
    _background: list[asyncio.Task[None]] = field(default_factory=list)

    async def renew_credentials(self) -> None:
        try:
            await self._renew()
        except Exception as error:  # a broken exec plugin or an unreadable token file
            log.error("could not renew credentials: %s", error)

    async def close(self) -> None:
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self.api.close()


async def connect(settings: ClusterSettings) -> Connection:
    """Load credentials as kubectl does: --kubeconfig, else $KUBECONFIG, else the in-cluster
    service account when running in a Pod, else ~/.kube/config."""
    configuration = k8s_client.Configuration()
    kubeconfig = settings.kubeconfig or os.environ.get("KUBECONFIG")
    in_cluster = not kubeconfig and "KUBERNETES_SERVICE_HOST" in os.environ
    if in_cluster:

        async def renew() -> None:
            k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]

        description = "in-cluster service account"
    else:
        path = kubeconfig or str(Path("~/.kube/config").expanduser())

        async def renew() -> None:
            # A fresh loader runs the exec plugin again (the old one caches its token until
            # the expiry the plugin stated, even after the server rejected it).
            await k8s_config.load_kube_config(
                config_file=path,
                context=settings.context,
                client_configuration=configuration,
                persist_config=False,
            )

        description = f"kubeconfig {path}" + (
            f" (context {settings.context})" if settings.context else ""
        )
    try:
        await renew()
    except (ConfigException, OSError, ValueError) as error:
        raise ConfigException(f"cannot load {description}: {error}") from error
    api = k8s_client.ApiClient(configuration)
    connection = Connection(api, configuration, f"{configuration.host} ({description})", renew)
    if not in_cluster:
        # Exec-plugin tokens expire: renew them before they do, not only after a 401.
        connection._background.append(
            asyncio.create_task(_renew_every(connection, 60.0), name="credentials:refresh")
        )
    return connection


async def read_kube_system(connection: Connection, *, timeout_s: float = 5.0) -> Raw | None:
    """The kube-system Namespace, whose uid is the cluster's stable identity (k8s.cluster.uid).

    Optional: without ``get`` on that one namespace (the manifests grant it), or with the API
    server unreachable at start, spans simply go without it; the watches report the rest."""
    try:
        response = await _get(connection, "/api/v1/namespaces/kube-system", [], timeout_s=timeout_s)
        async with response:
            if response.status != 200:
                log.info(
                    "k8s.cluster.uid not set: reading namespace kube-system: HTTP %d",
                    response.status,
                )
                return None
            body = orjson.loads(await response.read())
    except (
        aiohttp.ClientError,
        k8s_client.ApiException,
        TimeoutError,
        OSError,
        orjson.JSONDecodeError,
    ) as error:
        log.info("k8s.cluster.uid not set: reading namespace kube-system: %s", error)
        return None
    return body if isinstance(body, dict) else None


async def _renew_every(connection: Connection, interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        await connection.renew_credentials()


async def events_resource(connection: Connection, settings: ClusterSettings) -> Resource:
    """events.k8s.io/v1 when the cluster serves it, else core/v1 (the same Events, older shape)."""
    if settings.events_api == "v1":
        return EVENTS_CORE
    if settings.events_api == "events.k8s.io/v1":
        return EVENTS_V1
    response = await _get(
        connection, "/apis/events.k8s.io/v1", [], timeout_s=settings.request_timeout_s
    )
    try:
        if response.status == 200:
            body = await response.read()
            resources = orjson.loads(body).get("resources", [])
            if any(r.get("name") == "events" for r in resources if isinstance(r, dict)):
                return EVENTS_V1
        elif response.status not in (403, 404):
            await _raise_for_status(response, EVENTS_V1, None)
    finally:
        response.release()
    log.info("events.k8s.io/v1 is not served here; watching core/v1 Events")
    return EVENTS_CORE


# -- the loops ---------------------------------------------------------------------------


@dataclass(slots=True)
class Backoff:
    """Exponential backoff with full jitter; reset once a request succeeds."""

    initial_s: float
    maximum_s: float
    _attempt: int = 0
    _random: random.Random = field(default_factory=random.Random)

    def next_delay(self) -> float:
        ceiling = min(self.maximum_s, self.initial_s * 2**self._attempt)
        self._attempt = min(self._attempt + 1, 30)
        return self._random.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self._attempt = 0


@dataclass(slots=True)
class WatchStats:
    lists: int = 0
    relists: int = 0  # lists after the first: a 410 or an ERROR event
    watches: int = 0
    errors: int = 0
    events: int = 0


class ResourceWatch:
    """Lists and watches one resource in one namespace (or all) and puts what it sees on out."""

    def __init__(
        self,
        connection: Connection,
        resource: Resource,
        namespace: str | None,
        settings: ClusterSettings,
        out: Callable[[SourceValue], Awaitable[None]],
    ) -> None:
        self.connection = connection
        self.resource = resource
        self.namespace = namespace
        self.settings = settings
        self._out = out
        self.resource_version = ""
        self.stats = WatchStats()
        # uid -> (namespace, name) of what is present, to tell which objects vanished while
        # the watch was gone (a re-list shows only what is left). Events need no such care:
        # an expired Event is no occurrence.
        self._present: dict[str, tuple[str, str]] = {}
        self._track = resource.kind != "Event"
        self._backoff = Backoff(settings.backoff_initial_s, settings.backoff_max_s)
        self.listed = asyncio.Event()

    @property
    def label(self) -> str:
        where = f" in namespace {self.namespace}" if self.namespace else ""
        return f"{self.resource.name}{where}"

    async def run(self, *, listed: bool = False) -> None:
        """Forever: list (unless the start-up snapshot just did), then watch. A dropped or
        failed watch resumes from the last resourceVersion; only a 410 lists again."""
        must_list = not listed
        while True:
            try:
                if must_list:
                    await self._relisted(await self.list_all())
                    self.stats.relists += 1
                    must_list = False
                await self._watch()
            except Gone:
                log.info(
                    "%s: resourceVersion %s expired; listing again",
                    self.label,
                    self.resource_version,
                )
                must_list = True
            except Exception as error:  # _failed re-raises what it cannot handle
                await self._failed(error)

    async def initial_list(self) -> list[Raw]:
        """The first list, retried until it succeeds: the start-up snapshot's share."""
        while True:
            try:
                items = await self.list_all()
            except Gone:
                continue
            except Exception as error:
                await self._failed(error)
            else:
                self.adopt(items)
                return items

    async def _failed(self, error: Exception) -> None:
        self.stats.errors += 1
        await _back_off(error, self.label, self.connection, self._backoff)

    # -- list --------------------------------------------------------------------------------

    async def list_all(self) -> list[Raw]:
        """Every item, across pages, with kind and apiVersion set (a List omits them per item)."""
        items: list[Raw] = []
        continue_token = ""
        while True:
            query: list[tuple[str, str]] = [("limit", str(self.settings.page_size))]
            if continue_token:
                query.append(("continue", continue_token))
            response = await _get(
                self.connection,
                self.resource.path(self.namespace),
                query,
                timeout_s=self.settings.request_timeout_s,
            )
            try:
                await _raise_for_status(response, self.resource, self.namespace)
                page = orjson.loads(await response.read())
            finally:
                response.release()
            if not isinstance(page, dict) or not isinstance(page.get("items"), list):
                raise ApiUnavailable(f"{self.label}: the list answer is not a List")
            metadata = page.get("metadata") or {}
            if not continue_token:
                self.resource_version = str(metadata.get("resourceVersion") or "")
            for item in page["items"]:
                if isinstance(item, dict):
                    item.setdefault("kind", self.resource.kind)
                    item.setdefault("apiVersion", self.resource.api_version)
                    items.append(item)
            continue_token = str(metadata.get("continue") or "")
            if not continue_token:
                break
        self.stats.lists += 1
        self._backoff.reset()
        self.listed.set()
        return items

    def adopt(self, items: list[Raw]) -> None:
        """Take a first list made by the caller (the start-up snapshot) as what is present."""
        if self._track:
            self._present = {
                uid: key for item in items if (uid := _uid(item)) for key in [_key(item)]
            }

    async def _relisted(self, items: list[Raw]) -> None:
        """Hand a re-list on as one List, then a DELETED for each object that vanished."""
        vanished: list[Raw] = []
        if self._track:
            present = {uid: _key(item) for item in items if (uid := _uid(item))}
            for uid, (namespace, name) in self._present.items():
                if uid not in present:
                    vanished.append(self._tombstone(uid, namespace, name))
            self._present = present
        await self._out(
            SourceValue(
                {"kind": "List", "apiVersion": "v1", "items": items},
                resource=self.resource.name,
                snapshot=True,
            )
        )
        for body in vanished:
            await self._out(
                SourceValue({"type": "DELETED", "object": body}, resource=self.resource.name)
            )

    def _tombstone(self, uid: str, namespace: str, name: str) -> Raw:
        metadata: Raw = {"name": name, "uid": uid, "resourceVersion": self.resource_version}
        if namespace:
            metadata["namespace"] = namespace
        return {
            "kind": self.resource.kind,
            "apiVersion": self.resource.api_version,
            "metadata": metadata,
        }

    # -- watch -------------------------------------------------------------------------------

    async def _watch(self) -> None:
        """Watch requests one after another, each resuming where the previous one stopped."""
        while True:
            await self._watch_once()

    async def _watch_once(self) -> None:
        timeout_s = self.settings.watch_timeout_s
        query = [
            ("watch", "true"),
            ("allowWatchBookmarks", "true"),
            ("resourceVersion", self.resource_version),
            # Servers end a watch at a random 5-10 min by default; ask a bit less, with jitter,
            # so that many watches do not reconnect at once.
            ("timeoutSeconds", str(int(timeout_s * random.uniform(0.9, 1.0)))),
        ]
        response = await _get(
            self.connection,
            self.resource.path(self.namespace),
            query,
            timeout_s=None,
            read_timeout_s=self.settings.read_timeout_s,
        )
        try:
            await _raise_for_status(response, self.resource, self.namespace)
            self.stats.watches += 1
            self._backoff.reset()
            content = response.content
            while line := await content.readline():
                await self._line(line)
        finally:
            response.release()

    async def _line(self, line: bytes) -> None:
        line = line.strip()
        if not line:
            return
        try:
            event = orjson.loads(line)
            watch_type = event["type"]
            body = event["object"]
            metadata = body.get("metadata") or {}
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as error:
            raise ApiUnavailable(
                f"{self.label}: unreadable watch line ({error}): {line[:200]!r}"
            ) from None
        if watch_type == "ERROR":
            code = body.get("code")
            if code == 410:
                raise Gone(body.get("message", ""))
            raise ApiUnavailable(f"{self.label}: ERROR event {code}: {body.get('message', '')}")
        version = metadata.get("resourceVersion")
        if isinstance(version, str) and version:
            self.resource_version = version
        if watch_type == "BOOKMARK":
            return
        self.stats.events += 1
        if self._track and (uid := metadata.get("uid")):
            if watch_type == "DELETED":
                self._present.pop(uid, None)
            else:
                self._present[uid] = (metadata.get("namespace") or "", metadata.get("name") or "")
        await self._out(SourceValue(event, raw=line, resource=self.resource.name))


async def _back_off(error: Exception, label: str, connection: Connection, backoff: Backoff) -> None:
    """Log a failure once, renew rejected credentials, and wait before the next attempt;
    anything that is not an API or network failure is a bug and is raised."""
    if isinstance(error, AccessDenied):
        log.error("%s", error)
        if error.status == 401:
            await connection.renew_credentials()
    elif isinstance(
        error, ApiUnavailable | aiohttp.ClientError | OSError | TimeoutError | ValueError
    ):
        # An API server nobody answers for is an error; a dropped watch is routine.
        unreachable = isinstance(error, aiohttp.ClientConnectorError | ConnectionRefusedError)
        level = logging.ERROR if unreachable else logging.WARNING
        log.log(level, "%s: %s", label, _describe(error, connection))
    else:
        raise error
    delay = backoff.next_delay()
    log.debug("%s: retrying in %.2fs", label, delay)
    await asyncio.sleep(delay)


# -- HTTP through the client ---------------------------------------------------------------


async def _get(
    connection: Connection,
    path: str,
    query: list[tuple[str, str]],
    *,
    timeout_s: float | None,
    read_timeout_s: float | None = None,
) -> aiohttp.ClientResponse:
    """A GET through the ApiClient (its auth, TLS and proxy settings), answer left unread."""
    timeout = aiohttp.ClientTimeout(
        total=timeout_s, connect=30.0, sock_connect=30.0, sock_read=read_timeout_s or timeout_s
    )
    response: aiohttp.ClientResponse = await connection.api.call_api(
        path,
        "GET",
        query_params=query,
        header_params={"Accept": "application/json"},
        auth_settings=["BearerToken"],
        _preload_content=False,
        _request_timeout=timeout,
    )
    return response


async def _raise_for_status(
    response: aiohttp.ClientResponse, resource: Resource, namespace: str | None
) -> None:
    if response.status < 300:
        return
    try:
        status = orjson.loads(await response.read())
        message = status.get("message", "") if isinstance(status, dict) else ""
    except (orjson.JSONDecodeError, aiohttp.ClientError):
        message = ""
    if response.status == 410:
        raise Gone(message)
    scope = f"in namespace {namespace}" if namespace else "cluster-wide"
    if response.status == 401:
        raise AccessDenied(
            401,
            f"401 Unauthorized on {resource.name}: the API server rejected the credentials "
            f"(expired or revoked token?); renewing them. {message}".rstrip(),
        )
    if response.status == 403:
        group = resource.group or '"" (core)'
        raise AccessDenied(
            403,
            f"403 Forbidden: kspan-py needs get, list and watch on {resource.plural} in API "
            f"group {group} {scope} (a ClusterRole or Role bound to its identity). "
            f"The server said: {message}",
        )
    raise ApiUnavailable(f"{resource.name}: HTTP {response.status} {message}".rstrip())


def _describe(error: BaseException, connection: Connection) -> str:
    if isinstance(error, aiohttp.ClientConnectorError | ConnectionRefusedError):
        return f"cannot reach the API server at {connection.description}: {error}"
    if isinstance(error, TimeoutError):
        return "no answer within the read timeout (a half-dead connection?); reconnecting"
    if isinstance(error, aiohttp.ClientPayloadError | aiohttp.ServerDisconnectedError):
        return f"the watch connection dropped ({error}); resuming"
    return str(error) or type(error).__name__


def _uid(item: Raw) -> str:
    metadata = item.get("metadata")
    return str(metadata.get("uid") or "") if isinstance(metadata, dict) else ""


def _key(item: Raw) -> tuple[str, str]:
    metadata = item.get("metadata") or {}
    return (str(metadata.get("namespace") or ""), str(metadata.get("name") or ""))


# -- the whole cluster ---------------------------------------------------------------------


class ClusterSource:
    """Every watch of one run, and the start-up snapshot they make together.

    At start every resource is listed (concurrently, each retried until it succeeds), and the
    lists go out as one snapshot, owners first and Events last, so that the graph takes the
    whole state of the cluster before event time moves. Then each resource is watched from its
    own list's resourceVersion.
    """

    def __init__(
        self,
        connection: Connection,
        settings: ClusterSettings,
        out: Callable[[SourceValue], Awaitable[None]],
    ) -> None:
        self.connection = connection
        self.settings = settings
        self._put = out
        self.values_out = 0
        self.watches: list[ResourceWatch] = []
        self.discovery_errors = 0
        """Failed discoveries of the Events API: what fails first when the server is away."""
        self.ready = asyncio.Event()
        """Set once the start-up snapshot is out: what a readiness probe waits for."""

    async def run(self) -> None:
        events = await self._events_resource()
        namespaces: list[str | None] = list(self.settings.namespaces) or [None]
        resources = (
            *select_resources(self.settings.kinds, namespaced=bool(self.settings.namespaces)),
            events,
        )
        for resource in resources:
            scopes = namespaces if resource.namespaced else [None]
            for namespace in scopes:
                self.watches.append(
                    ResourceWatch(self.connection, resource, namespace, self.settings, self._out)
                )
        lists = await asyncio.gather(*(watch.initial_list() for watch in self.watches))
        items = [item for listed in lists for item in listed]
        log.info("listed %d objects and events from %s", len(items), self.connection.description)
        await self._out(
            SourceValue({"kind": "List", "apiVersion": "v1", "items": items}, snapshot=True)
        )
        self.ready.set()
        await asyncio.gather(*(watch.run(listed=True) for watch in self.watches))

    async def _out(self, value: SourceValue) -> None:
        self.values_out += 1
        await self._put(value)

    async def _events_resource(self) -> Resource:
        backoff = Backoff(self.settings.backoff_initial_s, self.settings.backoff_max_s)
        while True:
            try:
                return await events_resource(self.connection, self.settings)
            except Exception as error:  # _back_off re-raises what it cannot handle
                self.discovery_errors += 1
                await _back_off(error, "discovery of events.k8s.io/v1", self.connection, backoff)

    def resource_versions(self) -> dict[str, str]:
        return {watch.label: watch.resource_version for watch in self.watches}


# -- one look, no watch --------------------------------------------------------------------


class ListFailed(RuntimeError):
    """A one-shot list could not be made; the message names the resource and why."""


async def list_once(settings: ClusterSettings) -> SourceValue:
    """Every watched resource listed once (in ``settings.namespaces``, or all) and handed back
    as one snapshot, owners before what they own and Events last: what ``explain`` reads live.

    No watch and no retry, since a person is waiting for the answer: the first failure is
    raised as ListFailed (a load of the kubeconfig that fails, as ConfigException).
    """
    connection = await connect(settings)
    try:
        return await _list_everything(connection, settings)
    finally:
        await connection.close()


async def _list_everything(connection: Connection, settings: ClusterSettings) -> SourceValue:
    try:
        events = await events_resource(connection, settings)
    except (AccessDenied, ApiUnavailable, aiohttp.ClientError, OSError, TimeoutError) as error:
        raise ListFailed(
            f"cannot discover the Event API: {_describe(error, connection)}"
        ) from error
    namespaces: list[str | None] = list(settings.namespaces) or [None]
    resources = (*select_resources(settings.kinds, namespaced=bool(settings.namespaces)), events)
    watches = [
        ResourceWatch(connection, resource, namespace, settings, _nowhere)
        for resource in resources
        for namespace in (namespaces if resource.namespaced else [None])
    ]
    # Every list runs to its end (return_exceptions): none is left running when one fails.
    lists = await asyncio.gather(
        *(_list_one(watch, connection) for watch in watches), return_exceptions=True
    )
    items: list[Raw] = []
    for listed in lists:
        if isinstance(listed, BaseException):
            raise listed
        items.extend(listed)
    log.info("listed %d objects and events from %s", len(items), connection.description)
    return SourceValue({"kind": "List", "apiVersion": "v1", "items": items}, snapshot=True)


async def _list_one(watch: ResourceWatch, connection: Connection) -> list[Raw]:
    for _ in range(3):
        try:
            return await watch.list_all()
        except Gone:  # a continue token expired between pages: list again from the start
            continue
        except (AccessDenied, ApiUnavailable, aiohttp.ClientError, OSError, TimeoutError) as error:
            raise ListFailed(
                f"cannot list {watch.label}: {_describe(error, connection)}"
            ) from error
    raise ListFailed(f"cannot list {watch.label}: the list kept expiring (410 Gone)")


async def _nowhere(value: SourceValue) -> None:
    """A one-shot list hands its items back; nothing is streamed."""
