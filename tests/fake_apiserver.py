"""An in-process fake Kubernetes API server that speaks the real list/watch protocol.

Why it exists: kspan-py's live mode lists and watches a cluster through ``kubernetes_asyncio``.
What can go wrong there is protocol, not data: a paginated list that must be one snapshot, a
watch resumed from a resourceVersion, a 410 after compaction (as an ERROR event or as an HTTP
status), a connection dropped mid-stream, a token that expired, a Role that is missing. A real
cluster (kind, envtest) is slow to start and cannot be made to fail on cue, and mocking the client
tests nothing of that. So this is an aiohttp server on 127.0.0.1 (ephemeral port), reached by the
real client through a generated kubeconfig, that answers like kube-apiserver does and that tests
drive and break deterministically: no test of it needs to wait on the wall clock.

What it models:

- Discovery (``/version``, ``/api``, ``/apis``, ``/api/v1``, ``/apis/{group}[/{version}]``) for
  core/v1 pods, events, nodes and namespaces; apps/v1 deployments, replicasets, statefulsets and
  daemonsets; batch/v1 jobs and cronjobs; events.k8s.io/v1 events (unless
  ``serve_events_v1=False``: then that group answers 404 and is absent from ``/apis``);
  coordination.k8s.io/v1 leases.
- One store with one resourceVersion counter, as etcd has: every create, update and delete
  bumps it and stamps the object. core/v1 and events.k8s.io/v1 Events are two views of the same
  storage, converted as kube-apiserver converts them (see ``core_event_to_events_v1``).
- GET/POST/PUT/DELETE on objects, LIST with ``limit``/``continue`` (the pages are one snapshot
  at the first page's resourceVersion, rebuilt from the retained history; the token has the real
  token's shape: base64 of ``{"v": "meta.k8s.io/v1", "rv": N, "start": "<key>\\x00"}``) and
  ``resourceVersionMatch=Exact``; WATCH with ``resourceVersion`` (absent or "0": synthetic
  ADDED for what exists; N: every change after N from the history, then live ones),
  ``allowWatchBookmarks``, ``timeoutSeconds`` and ``sendInitialEvents`` (the WatchList form:
  initial ADDED events, then a BOOKMARK annotated ``k8s.io/initial-events-end``). A watch stream
  is chunked JSON, one event per line, written as it happens.
- ``compact()``: history at or below a resourceVersion is dropped; a watch from before it gets
  a 410 (an ERROR event, or an HTTP 410 with ``expired_as="http"``), so does a continue token.
- Faults on cue: ``drop_watches()`` (connection aborted mid-stream), ``end_watches()`` (clean
  end, what ``timeoutSeconds`` does), ``fail_next()`` (401, 403, 404, 409, 410, 429 with
  Retry-After, 500, 503, 504 with real Status bodies), bearer-token authentication with
  ``set_token()`` rotation, and an RBAC deny list (``forbid()``) with the real 403 message.
- Observation: the ``requests`` log, ``open_watches``, and ``watch_opened()``/``wait_until()``
  to sequence a test on what the client did instead of sleeping.

What it deliberately does not model: label and field selectors (ignored: every object matches),
PATCH and subresources (405/404), admission and validation (no defaulting beyond uid,
creationTimestamp and resourceVersion; Events are not validated), namespaces that must exist
before their objects, graceful deletion and finalizers (a delete is immediate), the aggregated
discovery format (``/apis`` always answers the legacy APIGroupList), periodic bookmarks and the
random default watch timeout of a real server (bookmarks are sent by ``send_bookmarks()``; a
watch without ``timeoutSeconds`` lasts until ended), and waiting for a resourceVersion newer than
the store's (a watch from the future just streams what comes after it; an Exact list from the
future answers 504 at once). Authentication applies to every path, ``/version`` included.

Use it from a test module by importing the fixtures::

    from tests.fake_apiserver import FakeApiServer, api_client, fake_apiserver, kubeconfig
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import hmac
import json
import random
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal

import orjson
import pytest
from aiohttp import web
from kubernetes_asyncio import client as k8s_client
from kubernetes_asyncio import config as k8s_config

Obj = dict[str, Any]
"""A Kubernetes object (or any JSON object) as a plain dict."""


def _json_copy(value: Any) -> Any:
    """A deep copy of JSON-shaped data (what the server stores and serves), through orjson:
    several times faster than copy.deepcopy, which was most of the server's work when the live
    benchmark wrote 10,000 events/s. What orjson cannot write (an integer beyond 64 bits a
    hostile test stored, a key that is not a string, a lone surrogate) is copied by
    copy.deepcopy. Not for what JSON cannot carry: orjson writes NaN and infinities as null, a
    tuple as a list, a datetime as its ISO text (the server only ever holds parsed JSON)."""
    try:
        return orjson.loads(orjson.dumps(value))
    except TypeError:
        return copy.deepcopy(value)


ExpiredAs = Literal["event", "http"]

GIT_VERSION: Final = "v1.36.0"
DEFAULT_TOKEN: Final = "fake-token"
DEFAULT_USER: Final = "system:serviceaccount:kspan:kspan"
INITIAL_EVENTS_END: Final = "k8s.io/initial-events-end"
EXEC_API_VERSION: Final = "client.authentication.k8s.io/v1"

_ALL_VERBS: Final = (
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
)
_CONTINUE_VERSION: Final = "meta.k8s.io/v1"
_NAME_SUFFIX_ALPHABET: Final = "bcdfghjklmnpqrstvwxz2456789"  # what generateName draws from
_STOP_TIMEOUT_S: Final = 5.0


# -- the resources it serves -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResourceType:
    """One collection of the API, as discovery describes it."""

    group: str  # "" for the core group
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = _ALL_VERBS
    storage: str = ""
    """Resources with the same storage are views of one collection (both Event APIs)."""
    unconditional_update: bool = True
    """Whether a PUT without metadata.resourceVersion is accepted (false for Leases)."""
    return_deleted_object: bool = False
    """Whether DELETE answers with the object (Pods) rather than a Status Success."""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_resource(self) -> str:
        """How RBAC messages and Status details name it: ``pods``, ``deployments.apps``."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def storage_key(self) -> str:
        return self.storage or self.group_resource

    def discovery(self) -> Obj:
        entry: Obj = {
            "name": self.plural,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": list(self.verbs),
        }
        if self.short_names:
            entry["shortNames"] = list(self.short_names)
        if self.categories:
            entry["categories"] = list(self.categories)
        return entry


_NAMESPACE_VERBS: Final = ("create", "delete", "get", "list", "patch", "update", "watch")

RESOURCES: Final[tuple[ResourceType, ...]] = (
    ResourceType(
        "",
        "v1",
        "pods",
        "pod",
        "Pod",
        short_names=("po",),
        categories=("all",),
        return_deleted_object=True,
    ),
    ResourceType("", "v1", "events", "event", "Event", short_names=("ev",), storage="events"),
    ResourceType("", "v1", "nodes", "node", "Node", namespaced=False, short_names=("no",)),
    ResourceType(
        "",
        "v1",
        "namespaces",
        "namespace",
        "Namespace",
        namespaced=False,
        short_names=("ns",),
        verbs=_NAMESPACE_VERBS,
    ),
    ResourceType(
        "apps",
        "v1",
        "deployments",
        "deployment",
        "Deployment",
        short_names=("deploy",),
        categories=("all",),
    ),
    ResourceType(
        "apps",
        "v1",
        "replicasets",
        "replicaset",
        "ReplicaSet",
        short_names=("rs",),
        categories=("all",),
    ),
    ResourceType(
        "apps",
        "v1",
        "statefulsets",
        "statefulset",
        "StatefulSet",
        short_names=("sts",),
        categories=("all",),
    ),
    ResourceType(
        "apps",
        "v1",
        "daemonsets",
        "daemonset",
        "DaemonSet",
        short_names=("ds",),
        categories=("all",),
    ),
    ResourceType("batch", "v1", "jobs", "job", "Job", categories=("all",)),
    ResourceType(
        "batch", "v1", "cronjobs", "cronjob", "CronJob", short_names=("cj",), categories=("all",)
    ),
    ResourceType(
        "events.k8s.io", "v1", "events", "event", "Event", short_names=("ev",), storage="events"
    ),
    ResourceType(
        "autoscaling",
        "v2",
        "horizontalpodautoscalers",
        "horizontalpodautoscaler",
        "HorizontalPodAutoscaler",
        short_names=("hpa",),
        categories=("all",),
    ),
    ResourceType(
        "coordination.k8s.io", "v1", "leases", "lease", "Lease", unconditional_update=False
    ),
)


# -- Events: two views of one storage ----------------------------------------------------
#
# kube-apiserver stores one internal Event and serves it as core/v1 and as events.k8s.io/v1
# (k8s.io/kubernetes/pkg/apis/events/v1/conversion.go). The fields map one to one:
#
#   core/v1                      events.k8s.io/v1
#   involvedObject               regarding
#   message                      note
#   source{component,host}       deprecatedSource
#   firstTimestamp               deprecatedFirstTimestamp
#   lastTimestamp                deprecatedLastTimestamp
#   count                        deprecatedCount
#   reportingComponent           reportingController
#   reason, type, action, related, reportingInstance, eventTime, series{count,lastObservedTime}
#                                (the same in both)
#
# Each view is rendered as Go's encoding/json renders the typed struct, in its field order:
# timestamps that are unset are ``null`` (metav1.Time is a struct, so omitempty does not drop
# it), structs are ``{}``, and core/v1's reportingComponent and reportingInstance (no omitempty)
# are ``""``. Fields neither type has are dropped, as decoding into the typed struct drops them.
# The store keeps the core/v1 shape.


def _series(value: Any) -> Obj | None:
    if not isinstance(value, Mapping):
        return None
    series: Obj = {}
    if value.get("count"):
        series["count"] = value["count"]
    series["lastObservedTime"] = value.get("lastObservedTime")
    return series


def _event_metadata(event: Mapping[str, Any]) -> Obj:
    metadata = event.get("metadata")
    return _json_copy(dict(metadata)) if isinstance(metadata, Mapping) else {}


def _core_event(metadata: Obj, fields: Mapping[str, Any]) -> Obj:
    """A core/v1 Event from its fields by their core/v1 names, rendered as the server does."""
    out: Obj = {"kind": "Event", "apiVersion": "v1", "metadata": metadata}
    out["involvedObject"] = _json_copy(fields.get("involvedObject") or {})
    for name in ("reason", "message"):
        if fields.get(name):
            out[name] = fields[name]
    out["source"] = _json_copy(fields.get("source") or {})
    out["firstTimestamp"] = fields.get("firstTimestamp")
    out["lastTimestamp"] = fields.get("lastTimestamp")
    if fields.get("count"):
        out["count"] = fields["count"]
    if fields.get("type"):
        out["type"] = fields["type"]
    out["eventTime"] = fields.get("eventTime")
    if (series := _series(fields.get("series"))) is not None:
        out["series"] = series
    if fields.get("action"):
        out["action"] = fields["action"]
    if fields.get("related"):
        out["related"] = _json_copy(fields["related"])
    out["reportingComponent"] = fields.get("reportingComponent") or ""
    out["reportingInstance"] = fields.get("reportingInstance") or ""
    return out


def canonical_core_event(event: Mapping[str, Any]) -> Obj:
    """A core/v1 Event as the server stores and returns it."""
    return _core_event(_event_metadata(event), event)


def events_v1_to_core_event(event: Mapping[str, Any]) -> Obj:
    """An events.k8s.io/v1 Event in its core/v1 shape."""
    fields = {
        "involvedObject": event.get("regarding"),
        "reason": event.get("reason"),
        "message": event.get("note"),
        "source": event.get("deprecatedSource"),
        "firstTimestamp": event.get("deprecatedFirstTimestamp"),
        "lastTimestamp": event.get("deprecatedLastTimestamp"),
        "count": event.get("deprecatedCount"),
        "type": event.get("type"),
        "eventTime": event.get("eventTime"),
        "series": event.get("series"),
        "action": event.get("action"),
        "related": event.get("related"),
        "reportingComponent": event.get("reportingController"),
        "reportingInstance": event.get("reportingInstance"),
    }
    return _core_event(_event_metadata(event), fields)


def core_event_to_events_v1(event: Mapping[str, Any]) -> Obj:
    """A core/v1 Event in its events.k8s.io/v1 shape."""
    out: Obj = {"kind": "Event", "apiVersion": "events.k8s.io/v1"}
    out["metadata"] = _event_metadata(event)
    out["eventTime"] = event.get("eventTime")
    if (series := _series(event.get("series"))) is not None:
        out["series"] = series
    if event.get("reportingComponent"):
        out["reportingController"] = event["reportingComponent"]
    for name in ("reportingInstance", "action", "reason"):
        if event.get(name):
            out[name] = event[name]
    out["regarding"] = _json_copy(event.get("involvedObject") or {})
    if event.get("related"):
        out["related"] = _json_copy(event["related"])
    if event.get("message"):
        out["note"] = event["message"]
    if event.get("type"):
        out["type"] = event["type"]
    out["deprecatedSource"] = _json_copy(event.get("source") or {})
    out["deprecatedFirstTimestamp"] = event.get("firstTimestamp")
    out["deprecatedLastTimestamp"] = event.get("lastTimestamp")
    if event.get("count"):
        out["deprecatedCount"] = event["count"]
    return out


# -- errors as the API server words them -------------------------------------------------


class FakeApiError(Exception):
    """A failure answered as a ``Status`` (raised by the Python API too, e.g. a 409)."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        details: Obj | None = None,
        metadata: Obj | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{code} {reason}: {message}")
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.metadata = metadata or {}
        self.headers = dict(headers or {})

    @property
    def status(self) -> Obj:
        body: Obj = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": self.metadata,
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        }
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body

    def response(self) -> web.Response:
        return web.json_response(self.status, status=self.code, headers=self.headers, dumps=_dumps)


def _details(resource: ResourceType, name: str | None = None) -> Obj:
    details: Obj = {}
    if name:
        details["name"] = name
    if resource.group:
        details["group"] = resource.group
    details["kind"] = resource.plural
    return details


def not_found_path() -> FakeApiError:
    return FakeApiError(
        404, "NotFound", "the server could not find the requested resource", details={}
    )


def not_found(resource: ResourceType, name: str) -> FakeApiError:
    return FakeApiError(
        404,
        "NotFound",
        f'{resource.group_resource} "{name}" not found',
        details=_details(resource, name),
    )


def already_exists(resource: ResourceType, name: str) -> FakeApiError:
    return FakeApiError(
        409,
        "AlreadyExists",
        f'{resource.group_resource} "{name}" already exists',
        details=_details(resource, name),
    )


def conflict(resource: ResourceType, name: str) -> FakeApiError:
    return FakeApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {resource.group_resource} "{name}": the object has '
        "been modified; please apply your changes to the latest version and try again",
        details=_details(resource, name),
    )


def bad_request(message: str) -> FakeApiError:
    return FakeApiError(400, "BadRequest", message)


def invalid(kind: str, name: str, message: str, *, group: str = "") -> FakeApiError:
    details: Obj = {"name": name}
    if group:
        details["group"] = group
    details["kind"] = kind
    prefix = f"{kind}.{group}" if group else kind
    return FakeApiError(422, "Invalid", f'{prefix} "{name}" is invalid: {message}', details=details)


def too_old(requested: int, oldest: int) -> FakeApiError:
    return FakeApiError(410, "Expired", f"too old resource version: {requested} ({oldest})")


_CONTINUE_EXPIRED_MESSAGE: Final = (
    "The provided continue parameter is too old to display a consistent list result. You can "
    "start a new list without the continue parameter, or use the continue token in this "
    "response to retrieve the remainder of the results. Continuing with the provided token "
    "results in an inconsistent list - objects that were created, modified, or deleted between "
    "the time the first chunk was returned and now may show up in the list."
)


# -- observation -------------------------------------------------------------------------


@dataclass(slots=True)
class RecordedRequest:
    """One request as the server saw it, for assertions."""

    method: str
    path: str
    query: dict[str, str]
    verb: str | None = None
    """The RBAC verb (get, list, watch, create, update, delete...); None off the resources."""
    group: str | None = None
    plural: str | None = None
    namespace: str | None = None
    name: str | None = None
    status: int | None = None
    """The HTTP status answered (for a watch: as soon as its headers went out)."""

    @property
    def watch(self) -> bool:
        return self.verb == "watch"

    @property
    def resource_version(self) -> str | None:
        """The resourceVersion asked for (a watch resumes from it)."""
        return self.query.get("resourceVersion")


@dataclass(slots=True)
class _Fault:
    code: int
    remaining: int
    path_contains: str | None
    message: str | None
    retry_after_s: int


@dataclass(frozen=True, slots=True)
class _Rule:
    verb: str
    plural: str
    namespace: str | None
    group: str | None

    def denies(self, verb: str, resource: ResourceType, namespace: str | None) -> bool:
        if self.verb not in ("*", verb) or self.plural not in ("*", resource.plural):
            return False
        if self.group is not None and self.group != resource.group:
            return False
        # A rule for one namespace also denies the cluster-wide request that includes it.
        return self.namespace is None or namespace is None or self.namespace == namespace


# -- watches -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Change:
    """One write in the history: the object after it (DELETED: the last state, stamped with the
    deletion's resourceVersion) and before it (None for ADDED), as stored (core/v1 for Events)."""

    rv: int
    type: Literal["ADDED", "MODIFIED", "DELETED"]
    storage: str
    key: tuple[str, str]  # (namespace, name); namespace "" when cluster-scoped
    obj: Obj
    prev: Obj | None


@dataclass(frozen=True, slots=True)
class _Bookmark:
    rv: int


class _End:
    """Ends a watch stream cleanly."""


class _Drop:
    """Wakes a watch whose connection was aborted (if aiohttp has not cancelled it already)."""


_WatchItem = _Change | _Bookmark | _End | _Drop


@dataclass(eq=False, slots=True)
class _Watcher:
    resource: ResourceType
    namespace: str | None
    since: int
    bookmarks: bool
    transport: Any  # asyncio.Transport | None, as aiohttp gives it
    queue: asyncio.Queue[_WatchItem] = field(default_factory=asyncio.Queue)

    def wants(self, change: _Change) -> bool:
        return (
            change.storage == self.resource.storage_key
            and (self.namespace is None or change.key[0] == self.namespace)
            and change.rv > self.since
        )

    def end(self) -> None:
        self.queue.put_nowait(_End())

    def drop(self) -> None:
        if self.transport is not None:
            self.transport.abort()
        self.queue.put_nowait(_Drop())


# -- the server --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Target:
    """What a path names: discovery (a document) or a resource, with its scope."""

    document: Callable[[], Obj] | None = None
    resource: ResourceType | None = None
    namespace: str | None = None
    name: str | None = None


class FakeApiServer:
    """A fake kube-apiserver on 127.0.0.1; ``async with FakeApiServer() as server: ...``."""

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        user: str = DEFAULT_USER,
        serve_events_v1: bool = True,
        expired_as: ExpiredAs = "event",
    ) -> None:
        self._token = token
        self.user = user
        """The identity 403 messages name (the one the token stands for)."""
        self.serve_events_v1 = serve_events_v1
        self.expired_as: ExpiredAs = expired_as
        """How a watch from a compacted resourceVersion fails: an ERROR event in a 200
        stream (as kube-apiserver's watch cache does) or an HTTP 410. May change any time."""
        self.resources: tuple[ResourceType, ...] = tuple(
            r for r in RESOURCES if serve_events_v1 or r.group != "events.k8s.io"
        )
        self.requests: list[RecordedRequest] = []
        self._rv = 0
        self._compacted = 0
        self._objects: dict[str, dict[tuple[str, str], Obj]] = {
            r.storage_key: {} for r in self.resources
        }
        self._history: list[_Change] = []
        self._watchers: set[_Watcher] = set()
        self._watches_opened: dict[tuple[str, str], int] = {}
        self._faults: list[_Fault] = []
        self._rules: list[_Rule] = []
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> FakeApiServer:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # handler_cancellation: a client that goes away cancels its watch's handler, so that
        # open_watches counts only streams someone reads.
        runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=_STOP_TIMEOUT_S
        )
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        """End the open watches (cleanly, so no handler is left waiting), then shut down."""
        if self._runner is None:
            return
        self.end_watches()
        await self._runner.cleanup()
        self._runner = None
        for _, waiter in self._waiters:
            waiter.cancel()
        self._waiters.clear()

    async def __aenter__(self) -> FakeApiServer:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the fake API server is not started")
        return self._port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- authentication and authorization -------------------------------------------------

    @property
    def token(self) -> str:
        return self._token

    def set_token(self, token: str) -> None:
        """Rotate the accepted bearer token: the old one gets 401 from now on."""
        self._token = token

    def forbid(
        self, verb: str, plural: str, namespace: str | None = None, *, group: str | None = None
    ) -> None:
        """Deny ``verb`` on ``plural`` (``"*"`` for any) with a 403, as a missing Role does.

        ``namespace=None`` denies it everywhere; a namespace denies it there and in the
        cluster-wide requests (which would include that namespace). ``group=None`` matches the
        plural in any group (``events`` is in two).
        """
        self._rules.append(_Rule(verb, plural, namespace, group))

    def allow_all(self) -> None:
        """Drop every ``forbid`` rule."""
        self._rules.clear()

    def fail_next(
        self,
        status: int,
        *,
        count: int = 1,
        path_contains: str | None = None,
        message: str | None = None,
        retry_after_s: int = 1,
    ) -> None:
        """Answer the next ``count`` requests (whose path contains ``path_contains``, if given)
        with ``status`` and the Status body the API server sends for it, before authentication.
        Faults queue up: the first that matches a request is the one used."""
        if count < 1:
            raise ValueError("count must be at least 1")
        self._faults.append(_Fault(status, count, path_contains, message, retry_after_s))

    # -- the store, from Python ------------------------------------------------------------

    def current_resource_version(self) -> int:
        return self._rv

    @property
    def compacted_resource_version(self) -> int:
        """History at or below this resourceVersion is gone (0: nothing compacted)."""
        return self._compacted

    def create(self, obj: Mapping[str, Any]) -> Obj:
        """Store a new object (ADDED); its apiVersion and kind choose the collection.

        A resourceVersion in it is replaced (so recorded objects can be replayed); uid and
        creationTimestamp are kept if present. Returns the object as stored, in its apiVersion.
        """
        resource = self._resource_for(obj)
        return self._create(resource, obj, namespace=None, from_client=False)

    def update(self, obj: Mapping[str, Any]) -> Obj:
        """Replace an object (MODIFIED); 409 (FakeApiError) if its resourceVersion is set and
        not the stored one."""
        resource = self._resource_for(obj)
        return self._update(resource, obj, namespace=None, name=None, from_client=False)

    def delete(
        self,
        what: Mapping[str, Any] | str,
        name: str | None = None,
        namespace: str | None = None,
    ) -> Obj:
        """Delete an object (DELETED): ``delete(obj)``, or ``delete("pods", "web-1", "ns")``
        (a plural or a kind). Returns its last state, stamped with the deletion's version."""
        if isinstance(what, str):
            resource = self._resource_named(what)
            if name is None:
                raise ValueError("delete by kind or plural needs a name")
        else:
            resource = self._resource_for(what)
            metadata = what.get("metadata") or {}
            name = name or metadata.get("name")
            namespace = namespace or metadata.get("namespace")
            if not name:
                raise ValueError("the object has no metadata.name")
        return self._delete(resource, self._namespace_of(resource, namespace), name)

    def get(self, what: str, name: str, namespace: str | None = None) -> Obj | None:
        """The stored object (by plural or kind), or None."""
        resource = self._resource_named(what)
        key = (self._namespace_of(resource, namespace), name)
        stored = self._objects[resource.storage_key].get(key)
        return None if stored is None else self._render(resource, stored)

    def list_objects(self, what: str) -> list[Obj]:
        """Every stored object of a resource (by plural, kind or ``plural.group``), as served."""
        resource = self._resource_named(what)
        return [self._render(resource, o) for o in self._objects[resource.storage_key].values()]

    def compact(self, up_to_rv: int | None = None) -> int:
        """Drop the history at or below ``up_to_rv`` (default: all of it, up to now); watches
        from before it and continue tokens from before it get 410. Returns the point."""
        point = self._rv if up_to_rv is None else up_to_rv
        if point > self._rv:
            raise ValueError(f"cannot compact at {point}: the store is at {self._rv}")
        self._compacted = max(self._compacted, point)
        self._history = [change for change in self._history if change.rv > self._compacted]
        return self._compacted

    # -- watches, from Python ----------------------------------------------------------------

    @property
    def open_watches(self) -> int:
        return len(self._watchers)

    def watches_opened(self, plural: str, *, group: str | None = None) -> int:
        """How many watches on ``plural`` (in ``group``; None: any) have streamed since the
        start; one answered with an error (a 410 ERROR event included) does not count."""
        return sum(
            n for (g, p), n in self._watches_opened.items() if p == plural and group in (None, g)
        )

    async def watch_opened(
        self, plural: str, *, count: int = 1, group: str | None = None, timeout: float = 5.0
    ) -> None:
        """Wait until the ``count``-th watch on ``plural`` is open: its headers and initial
        events are sent and every later write will reach it. ``timeout`` is a safety net."""
        await self.wait_until(
            lambda: self.watches_opened(plural, group=group) >= count, timeout=timeout
        )

    async def wait_until(self, predicate: Callable[[], bool], *, timeout: float = 5.0) -> None:
        """Wait until ``predicate()`` holds; it is checked whenever the server's state changes
        (a request, a watch opened or closed, a write). TimeoutError after ``timeout``."""
        if predicate():
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (predicate, waiter)
        self._waiters.append(entry)
        try:
            async with asyncio.timeout(timeout):
                await waiter
        finally:
            if entry in self._waiters:
                self._waiters.remove(entry)

    def end_watches(self) -> None:
        """End every open watch cleanly (the terminating chunk), as its timeoutSeconds would."""
        for watcher in list(self._watchers):
            watcher.end()

    def drop_watches(self) -> None:
        """Abort every open watch's connection mid-stream (no terminating chunk): the client
        sees a payload error or a disconnection."""
        for watcher in list(self._watchers):
            watcher.drop()

    def send_bookmarks(self) -> None:
        """Send a BOOKMARK at the current resourceVersion on every open watch that allows them
        (a real server sends one about every minute)."""
        for watcher in self._watchers:
            if watcher.bookmarks:
                watcher.queue.put_nowait(_Bookmark(self._rv))

    def _changed(self) -> None:
        for predicate, waiter in list(self._waiters):
            if not waiter.done() and predicate():
                waiter.set_result(None)

    # -- resources ---------------------------------------------------------------------------

    def _resource_for(self, obj: Mapping[str, Any]) -> ResourceType:
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if not api_version or not kind:
            raise ValueError("the object needs apiVersion and kind")
        for resource in self.resources:
            if resource.api_version == api_version and resource.kind == kind:
                return resource
        raise FakeApiError(
            404,
            "NotFound",
            f'the server could not find the requested resource (kind "{kind}" in {api_version})',
        )

    def _resource_named(self, what: str) -> ResourceType:
        for resource in self.resources:  # the core group first: "events" is core/v1's
            if what in (resource.plural, resource.kind, resource.group_resource):
                return resource
        raise ValueError(f"no resource named {what!r}")

    @staticmethod
    def _namespace_of(resource: ResourceType, namespace: str | None) -> str:
        return (namespace or "default") if resource.namespaced else ""

    def _render(self, resource: ResourceType, stored: Obj) -> Obj:
        """A stored object as ``resource`` serves it."""
        if resource.group == "events.k8s.io":
            return core_event_to_events_v1(stored)
        return _json_copy(stored)

    def _ingest(self, resource: ResourceType, obj: Mapping[str, Any]) -> Obj:
        """An object sent to ``resource`` in its stored form."""
        if resource.storage_key == "events":
            if resource.group == "events.k8s.io":
                return events_v1_to_core_event(obj)
            return canonical_core_event(obj)
        stored: Obj = {"kind": resource.kind, "apiVersion": resource.api_version}
        stored.update((k, _json_copy(v)) for k, v in obj.items() if k not in stored)
        if not isinstance(stored.get("metadata"), dict):
            stored["metadata"] = {}
        return stored

    # -- writes ------------------------------------------------------------------------------

    def _commit(
        self,
        resource: ResourceType,
        type_: Literal["ADDED", "MODIFIED", "DELETED"],
        key: tuple[str, str],
        obj: Obj,
    ) -> Obj:
        storage = self._objects[resource.storage_key]
        prev = storage.get(key)
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        if type_ == "DELETED":
            del storage[key]
        else:
            storage[key] = obj
        change = _Change(self._rv, type_, resource.storage_key, key, obj, prev)
        self._history.append(change)
        for watcher in self._watchers:
            if watcher.wants(change):
                watcher.queue.put_nowait(change)
        self._changed()
        return self._render(resource, obj)

    def _placed(
        self,
        resource: ResourceType,
        obj: Mapping[str, Any],
        namespace: str | None,
        name: str | None,
    ) -> tuple[Obj, tuple[str, str]]:
        """The object to store and its key, checked against the request's namespace and name."""
        stored = self._ingest(resource, obj)
        metadata = stored["metadata"]
        if resource.namespaced:
            given = metadata.get("namespace")
            if namespace is not None and given and given != namespace:
                raise bad_request(
                    "the namespace of the provided object does not match the namespace sent "
                    "on the request"
                )
            metadata["namespace"] = namespace or given or "default"
        else:
            metadata.pop("namespace", None)
        if name is not None and metadata.get("name") and metadata["name"] != name:
            raise bad_request(
                f"the name of the object ({metadata['name']}) does not match the name on the "
                f"URL ({name})"
            )
        if name is not None:
            metadata["name"] = name
        return stored, (metadata.get("namespace", ""), metadata.get("name", ""))

    def _create(
        self,
        resource: ResourceType,
        obj: Mapping[str, Any],
        *,
        namespace: str | None,
        from_client: bool,
    ) -> Obj:
        stored, key = self._placed(resource, obj, namespace, None)
        metadata = stored["metadata"]
        if from_client and metadata.get("resourceVersion"):
            raise bad_request("resourceVersion should not be set on objects to be created")
        if not metadata.get("name"):
            prefix = metadata.get("generateName")
            if not prefix:
                raise invalid(
                    resource.kind,
                    "",
                    "metadata.name: Required value: name or generateName is required",
                    group=resource.group,
                )
            metadata["name"] = prefix + "".join(random.choices(_NAME_SUFFIX_ALPHABET, k=5))
            key = (key[0], metadata["name"])
        if key in self._objects[resource.storage_key]:
            raise already_exists(resource, key[1])
        metadata.setdefault("uid", str(uuid.uuid4()))
        metadata.setdefault("creationTimestamp", _now())
        return self._commit(resource, "ADDED", key, stored)

    def _update(
        self,
        resource: ResourceType,
        obj: Mapping[str, Any],
        *,
        namespace: str | None,
        name: str | None,
        from_client: bool,
    ) -> Obj:
        stored, key = self._placed(resource, obj, namespace, name)
        metadata = stored["metadata"]
        if not key[1]:
            raise ValueError("the object has no metadata.name")
        current = self._objects[resource.storage_key].get(key)
        if current is None:
            raise not_found(resource, key[1])
        given = metadata.get("resourceVersion")
        if given and given != current["metadata"]["resourceVersion"]:
            raise conflict(resource, key[1])
        if from_client and not given and not resource.unconditional_update:
            raise invalid(
                resource.kind,
                key[1],
                "metadata.resourceVersion: Invalid value: 0x0: must be specified for an update",
                group=resource.group,
            )
        for kept in ("uid", "creationTimestamp"):
            if kept in current["metadata"]:
                metadata[kept] = current["metadata"][kept]
        return self._commit(resource, "MODIFIED", key, stored)

    def _delete(self, resource: ResourceType, namespace: str, name: str) -> Obj:
        current = self._objects[resource.storage_key].get((namespace, name))
        if current is None:
            raise not_found(resource, name)
        return self._commit(resource, "DELETED", (namespace, name), _json_copy(current))

    # -- reads -------------------------------------------------------------------------------

    def _snapshot(self, storage: str, at_rv: int) -> dict[tuple[str, str], Obj]:
        """The collection as it was at ``at_rv`` (which must not be below the compaction)."""
        state = dict(self._objects[storage])
        for change in reversed(self._history):
            if change.rv <= at_rv:
                break
            if change.storage != storage:
                continue
            if change.prev is None:
                state.pop(change.key, None)
            else:
                state[change.key] = change.prev
        return state

    def _items(
        self, resource: ResourceType, namespace: str | None, state: Mapping[tuple[str, str], Obj]
    ) -> list[tuple[str, Obj]]:
        """(key as etcd sorts it, stored object) in scope, in key order."""
        items = [
            (f"{ns}/{name}" if ns else name, obj)
            for (ns, name), obj in state.items()
            if namespace is None or ns == namespace
        ]
        items.sort(key=lambda item: item[0])
        return items

    def _list(self, resource: ResourceType, namespace: str | None, query: Mapping[str, str]) -> Obj:
        limit = _int_param(query, "limit") or 0
        token = query.get("continue", "")
        version = query.get("resourceVersion", "")
        start = ""
        if token:
            if version:
                raise bad_request("specifying resource version is not allowed when using continue")
            snapshot_rv, start = _decode_continue(token)
            if snapshot_rv < self._compacted:
                raise FakeApiError(
                    410,
                    "Expired",
                    _CONTINUE_EXPIRED_MESSAGE,
                    metadata={"continue": _encode_continue(self._rv, start)},
                )
        elif query.get("resourceVersionMatch") == "Exact":
            snapshot_rv = _rv_param(version)
            if snapshot_rv < self._compacted:
                raise too_old(snapshot_rv, self._compacted)
            if snapshot_rv > self._rv:
                raise FakeApiError(
                    504,
                    "Timeout",
                    f"Timeout: Too large resource version: {snapshot_rv}, current: {self._rv}",
                    details={"retryAfterSeconds": 1},
                )
        else:
            snapshot_rv = self._rv  # "", "0" and NotOlderThan: the latest will do
        state = (
            self._objects[resource.storage_key]
            if snapshot_rv == self._rv
            else self._snapshot(resource.storage_key, snapshot_rv)
        )
        items = [item for item in self._items(resource, namespace, state) if item[0] >= start]
        page = items[:limit] if limit else items
        metadata: Obj = {"resourceVersion": str(snapshot_rv)}
        if len(page) < len(items):
            metadata["continue"] = _encode_continue(snapshot_rv, page[-1][0] + "\x00")
            metadata["remainingItemCount"] = len(items) - len(page)
        return {
            "kind": f"{resource.kind}List",
            "apiVersion": resource.api_version,
            "metadata": metadata,
            "items": [_without_type(self._render(resource, obj)) for _, obj in page],
        }

    # -- HTTP --------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        target = self._route(request.path)
        record = RecordedRequest(request.method, request.path, dict(request.query))
        if target is not None and target.resource is not None:
            record.verb = _verb(request, target)
            record.group = target.resource.group
            record.plural = target.resource.plural
            record.namespace = target.namespace
            record.name = target.name
        self.requests.append(record)
        self._changed()
        response: web.StreamResponse
        try:
            self._inject_fault(record)
            self._authenticate(request)
            if target is None:
                raise not_found_path()
            if target.document is not None:
                if request.method != "GET":
                    raise _method_not_allowed(request.method)
                response = web.json_response(target.document(), dumps=_dumps)
            else:
                self._authorize(record, target)
                response = await self._serve(request, record, target)
        except FakeApiError as error:
            response = error.response()
        record.status = response.status
        self._changed()
        return response

    def _inject_fault(self, record: RecordedRequest) -> None:
        for fault in self._faults:
            if fault.path_contains is None or fault.path_contains in record.path:
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
                raise self._fault_error(fault, record)

    def _fault_error(self, fault: _Fault, record: RecordedRequest) -> FakeApiError:
        code, message = fault.code, fault.message
        if code == 403 and message is None:
            return self._forbidden(record)
        if code == 429:
            return FakeApiError(
                429,
                "TooManyRequests",
                message or "Too many requests, please try again later.",
                details={"retryAfterSeconds": fault.retry_after_s},
                headers={"Retry-After": str(fault.retry_after_s)},
            )
        if code == 500:
            cause = message or "injected fault"
            return FakeApiError(
                500,
                "InternalError",
                f"Internal error occurred: {cause}",
                details={"causes": [{"message": cause}]},
            )
        if code == 410:
            rv = _optional_int(record.resource_version) or 0
            return FakeApiError(
                410, "Expired", message or f"too old resource version: {rv} ({self._rv})"
            )
        reason, default = _FAULT_REASONS.get(code, ("", f"injected HTTP {code}"))
        return FakeApiError(code, reason, message or default)

    def _authenticate(self, request: web.Request) -> None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), self._token.encode()
        ):
            raise FakeApiError(401, "Unauthorized", "Unauthorized")

    def _authorize(self, record: RecordedRequest, target: _Target) -> None:
        resource = target.resource
        assert resource is not None and record.verb is not None
        namespace = target.namespace if resource.namespaced else None
        if any(rule.denies(record.verb, resource, namespace) for rule in self._rules):
            raise self._forbidden(record)

    def _forbidden(self, record: RecordedRequest) -> FakeApiError:
        """The 403 kube-apiserver's RBAC authorizer answers, worded as it words it."""
        resource = self._resource_or_none(record.group, record.plural)
        if resource is None or record.verb is None:
            verb = record.method.lower()
            return FakeApiError(
                403,
                "Forbidden",
                f'forbidden: User "{self.user}" cannot {verb} path "{record.path}"',
                details={},
            )
        what = resource.group_resource + (f' "{record.name}"' if record.name else "")
        scope = (
            f'in the namespace "{record.namespace}"'
            if record.namespace is not None
            else "at the cluster scope"
        )
        return FakeApiError(
            403,
            "Forbidden",
            f'{what} is forbidden: User "{self.user}" cannot {record.verb} resource '
            f'"{resource.plural}" in API group "{resource.group}" {scope}',
            details=_details(resource, record.name),
        )

    def _resource_or_none(self, group: str | None, plural: str | None) -> ResourceType | None:
        for resource in self.resources:
            if resource.group == group and resource.plural == plural:
                return resource
        return None

    async def _serve(
        self, request: web.Request, record: RecordedRequest, target: _Target
    ) -> web.StreamResponse:
        resource = target.resource
        assert resource is not None
        namespace, name = target.namespace, target.name
        if record.verb == "watch":
            return await self._watch(request, record, resource, namespace)
        if record.verb == "list":
            _bool_param(request.query, "watch")  # a value that is no boolean is a 400
            return _json(self._list(resource, namespace, request.query))
        item_namespace = self._namespace_of(resource, namespace)
        if record.verb == "get":
            assert name is not None
            stored = self._objects[resource.storage_key].get((item_namespace, name))
            if stored is None:
                raise not_found(resource, name)
            return _json(self._render(resource, stored))
        if record.verb == "create":
            if resource.namespaced and namespace is None:
                raise _method_not_allowed(request.method)
            body = await _body(request)
            return _json(self._create(resource, body, namespace=namespace, from_client=True), 201)
        if record.verb == "update":
            body = await _body(request)
            updated = self._update(resource, body, namespace=namespace, name=name, from_client=True)
            return _json(updated)
        if record.verb == "delete":
            assert name is not None
            deleted = self._delete(resource, item_namespace, name)
            if resource.return_deleted_object:
                return _json(deleted)
            details = _details(resource, name)
            details["uid"] = deleted["metadata"].get("uid", "")
            return _json(
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Success",
                    "details": details,
                }
            )
        raise _method_not_allowed(request.method)

    async def _watch(
        self,
        request: web.Request,
        record: RecordedRequest,
        resource: ResourceType,
        namespace: str | None,
    ) -> web.StreamResponse:
        query = request.query
        bookmarks = _bool_param(query, "allowWatchBookmarks") or False
        timeout_s = _int_param(query, "timeoutSeconds") or 0
        version = query.get("resourceVersion", "")
        send_initial = _bool_param(query, "sendInitialEvents")
        match = query.get("resourceVersionMatch", "")
        if send_initial is not None and match != "NotOlderThan":
            raise _invalid_options(
                "resourceVersionMatch",
                "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
            )
        if send_initial is None and match:
            raise _invalid_options(
                "resourceVersionMatch",
                "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
            )
        if send_initial and not bookmarks:
            raise _invalid_options(
                "allowWatchBookmarks", "sendInitialEvents requires setting allowWatchBookmarks"
            )

        # Decide what the stream starts with and subscribe, with no await in between, so that
        # no write can fall between the two.
        initial: list[Obj] = []
        since = self._rv
        if send_initial or (send_initial is None and version in ("", "0")):
            state = self._objects[resource.storage_key]
            initial = [
                {"type": "ADDED", "object": self._render(resource, obj)}
                for _, obj in self._items(resource, namespace, state)
            ]
            if send_initial:
                initial.append(_bookmark(resource, self._rv, initial_events_end=True))
        elif version not in ("", "0"):
            asked = _rv_param(version)
            if asked < self._compacted:
                return await self._expired(request, record, too_old(asked, self._compacted))
            since = max(asked, self._rv)
            initial = [
                {"type": change.type, "object": self._render(resource, change.obj)}
                for change in self._history
                if change.rv > asked and _in_scope(change, resource, namespace)
            ]
        watcher = _Watcher(resource, namespace, since, bookmarks, request.transport)
        self._watchers.add(watcher)
        timer = asyncio.get_running_loop().call_later(timeout_s, watcher.end) if timeout_s else None
        response = _stream_response()
        try:
            record.status = response.status
            await response.prepare(request)
            for event in initial:
                await response.write(_line(event))
            group_plural = (resource.group, resource.plural)
            self._watches_opened[group_plural] = self._watches_opened.get(group_plural, 0) + 1
            self._changed()
            while True:
                item = await watcher.queue.get()
                if isinstance(item, _Change):
                    event = {"type": item.type, "object": self._render(resource, item.obj)}
                    await response.write(_line(event))
                elif isinstance(item, _Bookmark):
                    await response.write(_line(_bookmark(resource, item.rv)))
                elif isinstance(item, _End):
                    await response.write_eof()
                    return response
                else:  # _Drop: the transport is aborted; aiohttp finds it closed, quietly
                    return response
        except ConnectionError:  # the client went away before aiohttp cancelled this handler
            return response
        finally:
            if timer is not None:
                timer.cancel()
            self._watchers.discard(watcher)
            self._changed()

    async def _expired(
        self, request: web.Request, record: RecordedRequest, error: FakeApiError
    ) -> web.StreamResponse:
        if self.expired_as == "http":
            raise error
        response = _stream_response()
        record.status = response.status
        await response.prepare(request)
        await response.write(_line({"type": "ERROR", "object": error.status}))
        await response.write_eof()
        return response

    # -- routing -----------------------------------------------------------------------------

    def _route(self, path: str) -> _Target | None:
        parts = [part for part in path.split("/") if part]
        match parts:
            case []:
                return _Target(document=self._root_paths)
            case ["version"]:
                return _Target(document=_version)
            case ["api"]:
                return _Target(document=self._api_versions)
            case ["apis"]:
                return _Target(document=self._api_group_list)
            case ["apis", group]:
                if not self._versions(group):
                    return None
                return _Target(document=lambda: self._api_group(group))
            case ["api", version, *rest]:
                return self._route_group("", version, rest)
            case ["apis", group, version, *rest]:
                return self._route_group(group, version, rest)
        return None

    def _route_group(self, group: str, version: str, rest: list[str]) -> _Target | None:
        served = [r for r in self.resources if r.group == group and r.version == version]
        if not served:
            return None
        by_plural = {r.plural: r for r in served}
        match rest:
            case []:
                return _Target(document=lambda: self._resource_list(group, version))
            case [plural] if plural in by_plural:
                return _Target(resource=by_plural[plural])
            case [plural, name] if plural in by_plural and not by_plural[plural].namespaced:
                return _Target(resource=by_plural[plural], name=name)
            case ["namespaces", namespace, plural] if (
                plural in by_plural and by_plural[plural].namespaced
            ):
                return _Target(resource=by_plural[plural], namespace=namespace)
            case ["namespaces", namespace, plural, name] if (
                plural in by_plural and by_plural[plural].namespaced
            ):
                return _Target(resource=by_plural[plural], namespace=namespace, name=name)
        return None

    # -- discovery documents -----------------------------------------------------------------

    def _versions(self, group: str) -> list[str]:
        return sorted({r.version for r in self.resources if r.group == group})

    def _groups(self) -> list[str]:
        return list(dict.fromkeys(r.group for r in self.resources if r.group))

    def _root_paths(self) -> Obj:
        paths = ["/api", "/api/v1", "/apis", "/version"]
        for group in self._groups():
            paths.append(f"/apis/{group}")
            paths.extend(f"/apis/{group}/{version}" for version in self._versions(group))
        return {"paths": sorted(paths)}

    def _api_versions(self) -> Obj:
        return {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": f"127.0.0.1:{self.port}"}
            ],
        }

    def _api_group(self, group: str) -> Obj:
        versions = [
            {"groupVersion": f"{group}/{version}", "version": version}
            for version in self._versions(group)
        ]
        return {
            "kind": "APIGroup",
            "apiVersion": "v1",
            "name": group,
            "versions": versions,
            "preferredVersion": versions[0],
        }

    def _api_group_list(self) -> Obj:
        groups = []
        for group in self._groups():
            entry = self._api_group(group)
            del entry["kind"], entry["apiVersion"]
            groups.append(entry)
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def _resource_list(self, group: str, version: str) -> Obj:
        body: Obj = {"kind": "APIResourceList"}
        if group:
            body["apiVersion"] = "v1"  # /api/v1 leaves it out; the groups' lists have it
        body["groupVersion"] = f"{group}/{version}" if group else version
        body["resources"] = [
            r.discovery() for r in self.resources if r.group == group and r.version == version
        ]
        return body


_FAULT_REASONS: Final[dict[int, tuple[str, str]]] = {
    400: ("BadRequest", "the request is invalid"),
    401: ("Unauthorized", "Unauthorized"),
    404: ("NotFound", "the server could not find the requested resource"),
    409: ("Conflict", "the object has been modified; please apply your changes and try again"),
    503: ("ServiceUnavailable", "the server is currently unable to handle the request"),
    504: ("Timeout", "Timeout: request did not complete within the allowed duration"),
}


# -- helpers -----------------------------------------------------------------------------


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _line(event: Obj) -> bytes:
    return _dumps(event).encode() + b"\n"


def _json(body: Obj, status: int = 200) -> web.Response:
    return web.json_response(body, status=status, dumps=_dumps)


def _stream_response() -> web.StreamResponse:
    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    response.enable_chunked_encoding()
    return response


def _without_type(obj: Obj) -> Obj:
    """A List's item: the List names kind and apiVersion once, the items do not."""
    obj.pop("kind", None)
    obj.pop("apiVersion", None)
    return obj


def _bookmark(resource: ResourceType, rv: int, *, initial_events_end: bool = False) -> Obj:
    metadata: Obj = {"resourceVersion": str(rv)}
    if initial_events_end:
        metadata["annotations"] = {INITIAL_EVENTS_END: "true"}
    return {
        "type": "BOOKMARK",
        "object": {"kind": resource.kind, "apiVersion": resource.api_version, "metadata": metadata},
    }


def _in_scope(change: _Change, resource: ResourceType, namespace: str | None) -> bool:
    return change.storage == resource.storage_key and namespace in (None, change.key[0])


def _verb(request: web.Request, target: _Target) -> str:
    method = request.method
    if method == "GET":
        if target.name is not None:
            return "get"
        return "watch" if _bool_param(request.query, "watch", lenient=True) else "list"
    if method == "DELETE":
        return "delete" if target.name is not None else "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())


def _method_not_allowed(method: str) -> FakeApiError:
    return FakeApiError(
        405,
        "MethodNotAllowed",
        f"the server does not allow this method on the requested resource ({method})",
    )


def _invalid_options(field_name: str, message: str) -> FakeApiError:
    return FakeApiError(
        422,
        "Invalid",
        f'ListOptions.meta.k8s.io "" is invalid: {field_name}: Forbidden: {message}',
        details={
            "group": "meta.k8s.io",
            "kind": "ListOptions",
            "causes": [{"reason": "FieldValueForbidden", "message": message, "field": field_name}],
        },
    )


async def _body(request: web.Request) -> Obj:
    try:
        body = await request.json()
    except ValueError as error:
        raise bad_request(f"the body of the request was in an unknown format: {error}") from None
    if not isinstance(body, dict):
        raise bad_request("the body of the request must be a JSON object")
    return body


_TRUE: Final = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE: Final = frozenset({"0", "f", "F", "FALSE", "false", "False"})


def _bool_param(query: Mapping[str, str], name: str, *, lenient: bool = False) -> bool | None:
    """A boolean query parameter as Go's strconv.ParseBool reads it (Python's ``True`` too)."""
    value = query.get(name)
    if value is None or value == "":
        return None
    if value in _TRUE:
        return True
    if value in _FALSE or lenient:
        return False
    raise bad_request(f'invalid value "{value}" for parameter {name}: expected a boolean')


def _int_param(query: Mapping[str, str], name: str) -> int | None:
    value = query.get(name)
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except ValueError:
        raise bad_request(f'invalid value "{value}" for parameter {name}') from None
    if number < 0:
        raise bad_request(f"{name}: must be greater than or equal to 0")
    return number


def _optional_int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def _rv_param(value: str) -> int:
    try:
        rv = int(value)
    except ValueError:
        raise bad_request(f'invalid resource version "{value}"') from None
    if rv < 0:
        raise bad_request(f'invalid resource version "{value}"')
    return rv


def _encode_continue(rv: int, start: str) -> str:
    token = _dumps({"v": _CONTINUE_VERSION, "rv": rv, "start": start})
    return base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")


def _decode_continue(token: str) -> tuple[int, str]:
    try:
        padded = token + "=" * (-len(token) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if decoded["v"] != _CONTINUE_VERSION:
            raise ValueError(f"unknown version {decoded['v']!r}")
        rv, start = decoded["rv"], decoded["start"]
        if not isinstance(rv, int) or not isinstance(start, str) or rv < 1:
            raise ValueError("incorrect encoded start resourceVersion (version meta.k8s.io/v1)")
    except (binascii.Error, ValueError, KeyError, TypeError) as error:
        raise bad_request(f"continue key is not valid: {error}") from None
    return rv, start


def _version() -> Obj:
    major, minor, _ = GIT_VERSION.removeprefix("v").split(".")
    return {
        "major": major,
        "minor": minor,
        "emulationMajor": major,
        "emulationMinor": minor,
        "minCompatibilityMajor": major,
        "minCompatibilityMinor": str(int(minor) - 1),
        "gitVersion": GIT_VERSION,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-04-22T00:00:00Z",
        "goVersion": "go1.26.2",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


# -- kubeconfig --------------------------------------------------------------------------


def exec_plugin_script(token_file: Path) -> str:
    """A Python program printing an ExecCredential with the token read from ``token_file``."""
    credential = {"apiVersion": EXEC_API_VERSION, "kind": "ExecCredential", "status": {}}
    return "\n".join(
        [
            "import json, pathlib",
            f"credential = {credential!r}",
            f"token_file = pathlib.Path({str(token_file)!r})",
            "credential['status']['token'] = token_file.read_text().strip()",
            "print(json.dumps(credential))",
        ]
    )


def write_kubeconfig(
    path: Path,
    *,
    url: str,
    token: str | None = None,
    context: str = "fake",
    namespace: str | None = None,
    exec_token_file: Path | None = None,
) -> Path:
    """Write a kubeconfig for ``url`` with a static ``token`` or, with ``exec_token_file``, an
    exec plugin (this Python, running ``exec_plugin_script``) whose token a test rotates by
    rewriting the file. It is JSON, which YAML readers take as it is."""
    if (token is None) == (exec_token_file is None):
        raise ValueError("give exactly one of token and exec_token_file")
    user: Obj
    if exec_token_file is not None:
        user = {
            "exec": {
                "apiVersion": EXEC_API_VERSION,
                "command": sys.executable,
                "args": ["-c", exec_plugin_script(Path(exec_token_file))],
                "interactiveMode": "Never",
                "provideClusterInfo": False,
            }
        }
    else:
        user = {"token": token}
    context_entry: Obj = {"cluster": context, "user": f"{context}-user"}
    if namespace is not None:
        context_entry["namespace"] = namespace
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": context, "cluster": {"server": url}}],
        "users": [{"name": f"{context}-user", "user": user}],
        "contexts": [{"name": context, "context": context_entry}],
        "current-context": context,
    }
    path = Path(path)
    path.write_text(json.dumps(kubeconfig, indent=2) + "\n")
    return path


async def load_api_client(kubeconfig_path: Path, *, context: str = "fake") -> k8s_client.ApiClient:
    """An ApiClient configured from a kubeconfig as an application loads it (close it after)."""
    configuration = k8s_client.Configuration()
    await k8s_config.load_kube_config(
        config_file=str(kubeconfig_path),
        context=context,
        client_configuration=configuration,
        persist_config=False,
    )
    return k8s_client.ApiClient(configuration)


# -- fixtures ----------------------------------------------------------------------------


@pytest.fixture
async def fake_apiserver() -> AsyncIterator[FakeApiServer]:
    """A started FakeApiServer with the default token."""
    async with FakeApiServer() as server:
        yield server


@pytest.fixture
def kubeconfig(fake_apiserver: FakeApiServer, tmp_path: Path) -> Path:
    """A kubeconfig (context "fake") for ``fake_apiserver`` with its token."""
    return write_kubeconfig(
        tmp_path / "kubeconfig", url=fake_apiserver.url, token=fake_apiserver.token
    )


@pytest.fixture
async def api_client(kubeconfig: Path) -> AsyncIterator[k8s_client.ApiClient]:
    """The real kubernetes_asyncio ApiClient, loaded from ``kubeconfig``; closed after."""
    client = await load_api_client(kubeconfig)
    async with client:
        yield client
