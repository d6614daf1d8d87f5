"""The shape of an actor rule: reason + message form on an owner's event -> a named child."""

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
