"""Leader election on a coordination.k8s.io Lease: two replicas, one exporting.

The algorithm is client-go's: a candidate reads the Lease; if nobody holds it, or its holder
has not renewed it for ``lease_s`` as measured on *this* process's clock since it last saw the
record change (so clock skew between nodes does not matter), it writes itself in as holder,
using the resourceVersion it read (a concurrent write gets 409 and loses). The leader renews
every ``renew_s``; if it cannot renew for ``lease_s`` it has lost the lease and must stop
exporting at once: the run ends with ``LeadershipLost`` and the process exits non-zero, so the
kubelet restarts it as a candidate. A clean shutdown releases the Lease so that the other
replica takes over without waiting for it to expire.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson

from kspan_py.config import LeaseSettings
from kspan_py.sources.watching import Connection

log = logging.getLogger(__name__)


class LeadershipLost(RuntimeError):
    """The Lease could not be renewed in time, or another holder took it."""


def _micro_time(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElection:
    def __init__(
        self,
        connection: Connection,
        settings: LeaseSettings,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._connection = connection
        self.settings = settings
        self._monotonic = monotonic
        self._wall = wall
        self._observed: tuple[str, str] | None = None  # (holder, renewTime) last seen
        self._observed_at = 0.0
        self._lease: dict[str, Any] | None = None  # as last written or read
        self.leading = False

    @property
    def _path(self) -> str:
        return f"/apis/coordination.k8s.io/v1/namespaces/{self.settings.namespace}/leases"

    async def acquire(self) -> None:
        """Return once this process holds the Lease."""
        announced = False
        while True:
            try:
                if await self._try_acquire():
                    self.leading = True
                    log.warning(
                        "leading: lease %s/%s held by %s",
                        self.settings.namespace,
                        self.settings.name,
                        self.settings.identity,
                    )
                    return
            except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as error:
                log.warning("lease %s: %s", self.settings.name, error)
            if not announced:
                holder = self._observed[0] if self._observed else "?"
                log.warning("standing by: lease %s is held by %s", self.settings.name, holder)
                announced = True
            await asyncio.sleep(self.settings.retry_s)

    async def hold(self) -> None:
        """Renew until cancelled; raise LeadershipLost when renewing fails for lease_s."""
        last_renewed = self._monotonic()
        while True:
            await asyncio.sleep(self.settings.renew_s)
            try:
                if await self._renew():
                    last_renewed = self._monotonic()
                    continue
                raise LeadershipLost(f"lease {self.settings.name} was taken by another holder")
            except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as error:
                log.warning("lease %s: renewing failed: %s", self.settings.name, error)
            if self._monotonic() - last_renewed > self.settings.lease_s:
                self.leading = False
                raise LeadershipLost(
                    f"lease {self.settings.name} not renewed for {self.settings.lease_s:.0f}s"
                )

    async def release(self) -> None:
        """Give the Lease up (a clean shutdown): the other replica need not wait it out."""
        if not self.leading or self._lease is None:
            return
        self.leading = False
        lease = dict(self._lease)
        spec = dict(lease.get("spec") or {})
        spec.update({"holderIdentity": None, "leaseDurationSeconds": 1})
        lease["spec"] = spec
        try:
            await self._request("PUT", f"{self._path}/{self.settings.name}", lease)
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as error:
            log.warning("lease %s: could not release it: %s", self.settings.name, error)

    # -- the protocol ----------------------------------------------------------------------

    async def _try_acquire(self) -> bool:
        status, current = await self._request("GET", f"{self._path}/{self.settings.name}")
        now_wall = self._wall()
        spec = {
            "holderIdentity": self.settings.identity,
            "leaseDurationSeconds": max(1, round(self.settings.lease_s)),
            "acquireTime": _micro_time(now_wall),
            "renewTime": _micro_time(now_wall),
        }
        if status == 404:
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self.settings.name, "namespace": self.settings.namespace},
                "spec": {**spec, "leaseTransitions": 0},
            }
            status, written = await self._request("POST", self._path, body)
            return self._took(status, written)
        if status != 200 or current is None:
            raise ValueError(f"reading the lease answered HTTP {status}")
        held = current.get("spec") or {}
        holder = held.get("holderIdentity") or ""
        record = (holder, str(held.get("renewTime") or ""))
        if record != self._observed:
            self._observed, self._observed_at = record, self._monotonic()
        duration = float(held.get("leaseDurationSeconds") or self.settings.lease_s)
        expired = self._monotonic() - self._observed_at > duration
        if holder and holder != self.settings.identity and not expired:
            return False
        transitions = int(held.get("leaseTransitions") or 0)
        if holder != self.settings.identity:
            transitions += 1
        else:
            spec["acquireTime"] = held.get("acquireTime") or spec["acquireTime"]
        current["spec"] = {**held, **spec, "leaseTransitions": transitions}
        status, written = await self._request("PUT", f"{self._path}/{self.settings.name}", current)
        return self._took(status, written)

    async def _renew(self) -> bool:
        status, current = await self._request("GET", f"{self._path}/{self.settings.name}")
        if status != 200 or current is None:
            raise ValueError(f"reading the lease answered HTTP {status}")
        held = current.get("spec") or {}
        if held.get("holderIdentity") != self.settings.identity:
            return False
        current["spec"] = {**held, "renewTime": _micro_time(self._wall())}
        status, written = await self._request("PUT", f"{self._path}/{self.settings.name}", current)
        if status == 409:
            return False
        return self._took(status, written)

    def _took(self, status: int, written: dict[str, Any] | None) -> bool:
        if status in (200, 201) and written is not None:
            self._lease = written
            return True
        if status == 409:  # someone wrote it first
            return False
        raise ValueError(f"writing the lease answered HTTP {status}")

    async def _request(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any] | None]:
        response: aiohttp.ClientResponse = await self._connection.api.call_api(
            path,
            method,
            header_params={"Accept": "application/json", "Content-Type": "application/json"},
            body=body,
            auth_settings=["BearerToken"],
            _preload_content=False,
            _request_timeout=aiohttp.ClientTimeout(total=max(1.0, self.settings.retry_s * 2)),
        )
        try:
            data = await response.read()
        finally:
            response.release()
        parsed = orjson.loads(data) if data else None
        if response.status in (401, 403):
            message = parsed.get("message", "") if isinstance(parsed, dict) else ""
            raise ValueError(
                f"HTTP {response.status} on leases in namespace {self.settings.namespace} "
                f"(kspan-py needs get, create and update on leases there): {message}"
            )
        return response.status, parsed if isinstance(parsed, dict) else None
