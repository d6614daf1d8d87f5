"""What a controller is to kspan-py: the acts it writes (reason + message form on an owner's
Event -> the child it names), the API collections to watch for them, and the RBAC those need.

An actor rule says "this event on the owner is the cause of that child": the child's following
events hang under it. A ``Controller`` gathers one controller's rules with the resources its
acts and objects are read from; ``kspan_py.controllers`` registers each once, and the graph
(rules), the sources (what to watch) and the deploy manifests (RBAC, checked by the tests) all
read that registry.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from kspan_py.model import KubeEvent


class Relation(enum.Enum):
    """What the act did to the child: brought it (or more of it) into being, or took it away."""

    CREATE = "create"  # created, or scaled up
    DELETE = "delete"  # deleted, or scaled down


@dataclass(frozen=True, slots=True)
class NamedChild:
    kind: str
    namespace: str
    name: str
    relation: Relation
    # A scaling step "from A to B" (groups ``from`` and ``to`` of the form): the size it set
    # and how many acts of the child it asks for. None when the form does not say.
    target: int | None = None
    step: int | None = None


@dataclass(frozen=True, slots=True)
class NamingRule:
    """One message form of one controller. ``pattern`` must have a group named ``child``."""

    controller: str  # who writes it (documentation; reporters are renamed across releases)
    reasons: frozenset[str]
    owner_kinds: frozenset[str]  # kinds the event is reported on
    pattern: re.Pattern[str]
    child_kind: str
    relation: Relation

    def match(self, event: KubeEvent) -> NamedChild | None:
        if event.regarding.kind not in self.owner_kinds:
            return None
        found = self.pattern.search(event.message)
        if found is None:
            return None
        groups = found.groupdict()
        target = _size(groups.get("to"))
        start = _size(groups.get("from"))
        return NamedChild(
            kind=self.child_kind,
            namespace=event.regarding.namespace or event.namespace,
            name=found.group("child"),
            relation=self.relation,
            target=target,
            step=abs(target - start) if target is not None and start is not None else None,
        )


_MAX_SIZE_DIGITS = 9  # replicas are int32: a longer number is no size (and int() stays cheap)


def _size(text: str | None) -> int | None:
    return int(text) if text is not None and len(text) <= _MAX_SIZE_DIGITS else None


@dataclass(frozen=True, slots=True)
class Resource:
    """A collection of the API, e.g. apps/v1 replicasets."""

    kind: str
    group: str  # "" for the core group
    version: str
    plural: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def name(self) -> str:
        """How RBAC and error messages name it: ``replicasets.apps``, ``pods``."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def path(self, namespace: str | None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if namespace is not None and self.namespaced:
            return f"{base}/namespaces/{namespace}/{self.plural}"
        return f"{base}/{self.plural}"


READ_VERBS = ("get", "list", "watch")
"""What kspan-py needs on every collection it watches: it never writes to the cluster."""


@dataclass(frozen=True, slots=True)
class Controller:
    """One controller: the acts it writes and the collections they are read from."""

    name: str  # who writes its Events (reporters are renamed across releases: documentation)
    acts: tuple[NamingRule, ...]  # its message forms that name a child
    watches: tuple[Resource, ...]  # the objects its acts concern, listed and watched
    verbs: tuple[str, ...] = READ_VERBS  # RBAC on each of them


def rule(
    controller: str,
    reasons: tuple[str, ...],
    *,
    owner_kinds: tuple[str, ...],
    pattern: str,
    child_kind: str,
    relation: Relation,
) -> NamingRule:
    return NamingRule(
        controller=controller,
        reasons=frozenset(reasons),
        owner_kinds=frozenset(owner_kinds),
        pattern=re.compile(pattern),
        child_kind=child_kind,
        relation=relation,
    )
