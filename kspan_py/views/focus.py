"""What ``kspan-py explain KIND/NAME`` is about: the object, its owners, its children, and the
traces and spans that concern them, and the traces those caused.

The object is found among the objects of the capture or the cluster (their ownerReferences
give its owners and children) or, for an object only Events mention (a Service, an HPA),
among the spans. A trace is selected when any of its spans is about the object or one of its
children (a Deployment's ReplicaSets and Pods); only when none is, the traces about its owners
are shown instead, and the output says so. Within a selected trace, the spans shown are those
about the object, its owners or its children, with their ancestors in the tree: the causal
chain from the change that started it. Siblings (the other Pods of a rollout) are left out and
counted, so explaining one Pod of fifty prints one Pod's story. After them come the traces
whose spans link to the object's own (the evictions a Node's NotReady caused, the Pod a
preemptor pushed out): those spans are shown, with their ancestors.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

from opentelemetry.sdk.trace import ReadableSpan

from kspan_py.escaping import printable
from kspan_py.model import KubeObject
from kspan_py.views.traces import ObjectKey, Trace, object_of, span_id_of

_ALIASES = {
    "Pod": ("po", "pod", "pods"),
    "Deployment": ("deploy", "deployment", "deployments"),
    "ReplicaSet": ("rs", "replicaset", "replicasets"),
    "StatefulSet": ("sts", "statefulset", "statefulsets"),
    "DaemonSet": ("ds", "daemonset", "daemonsets"),
    "Job": ("job", "jobs"),
    "CronJob": ("cj", "cronjob", "cronjobs"),
    "Node": ("no", "node", "nodes"),
    "Service": ("svc", "service", "services"),
    "HorizontalPodAutoscaler": ("hpa", "horizontalpodautoscaler", "horizontalpodautoscalers"),
    "PersistentVolumeClaim": ("pvc", "persistentvolumeclaim", "persistentvolumeclaims"),
}
KIND_OF_ALIAS = {alias: kind for kind, aliases in _ALIASES.items() for alias in aliases}
_LISTED_NAMES = 8


class UnknownObject(ValueError):
    """The object asked for cannot be parsed or found; the message says what exists (names
    from Events and objects, escaped: it is printed to a terminal)."""


@dataclass(frozen=True, slots=True)
class Target:
    """KIND/NAME as typed: the kind may be an alias (po, deploy) or a plural, with a group."""

    kind_text: str
    name: str

    @classmethod
    def parse(cls, text: str) -> Target:
        kind, slash, name = text.partition("/")
        if not slash or not kind.strip() or not name.strip() or "/" in name:
            raise UnknownObject(f"{text!r} is not KIND/NAME (for example pod/web-7d4b9-xk2pq)")
        return cls(kind.strip(), name.strip())


@dataclass(frozen=True, slots=True)
class Focus:
    target: ObjectKey
    owners: tuple[ObjectKey, ...]
    """Nearest first: a Pod's ReplicaSet, then its Deployment."""
    children: tuple[ObjectKey, ...]
    """Every descendant: a Deployment's ReplicaSets and their Pods."""

    @property
    def own(self) -> frozenset[ObjectKey]:
        """The object and its children: what selects a trace."""
        return frozenset((self.target, *self.children))

    @property
    def members(self) -> frozenset[ObjectKey]:
        return frozenset((self.target, *self.owners, *self.children))


class ObjectIndex:
    """The objects known (from a capture or a list) and those only span attributes mention."""

    def __init__(self, objects: Iterable[KubeObject], spans: Iterable[ReadableSpan]) -> None:
        self._objects: dict[ObjectKey, KubeObject] = {}
        by_uid: dict[str, ObjectKey] = {}
        for obj in objects:  # in order: the last state seen of each object wins...
            key = ObjectKey(obj.ref.kind, obj.ref.namespace, obj.ref.name)
            known = self._objects.get(key)
            # ...but a bare tombstone (a DELETED seen on a re-list) does not erase its owner.
            if known is None or obj.owner is not None or known.ref.uid != obj.ref.uid:
                self._objects[key] = obj
            if obj.ref.uid:
                by_uid[obj.ref.uid] = key
        self._owner: dict[ObjectKey, ObjectKey] = {}
        self._children: dict[ObjectKey, set[ObjectKey]] = defaultdict(set)
        for key, obj in self._objects.items():
            if obj.owner is None:
                continue
            owner = by_uid.get(obj.owner.uid) or self._named(
                obj.owner.kind, key.namespace, obj.owner.name
            )
            if owner != key:
                self._owner[key] = owner
                self._children[owner].add(key)
        self._mentioned = {found for span in spans if (found := object_of(span)) is not None}

    def _named(self, kind: str, namespace: str, name: str) -> ObjectKey:
        namespaced = ObjectKey(kind, namespace, name)
        cluster_scoped = ObjectKey(kind, "", name)
        return cluster_scoped if cluster_scoped in self._objects else namespaced

    @property
    def keys(self) -> set[ObjectKey]:
        return set(self._objects) | self._mentioned

    def kind_of(self, text: str) -> str:
        """The canonical Kind for what a user typed: an alias, a plural, any case, a group."""
        bare = text.split(".", 1)[0].lower()
        if bare in KIND_OF_ALIAS:
            return KIND_OF_ALIAS[bare]
        kinds = {key.kind for key in self.keys}
        for kind in sorted(kinds):
            if bare in (kind.lower(), kind.lower() + "s", kind.lower() + "es"):
                return kind
        known = ", ".join(sorted(kinds)) or "none"
        raise UnknownObject(printable(f"unknown kind {text!r}; kinds here: {known}"))

    def focus(self, target: Target, namespace: str | None, *, source: str) -> Focus:
        """The object named, its owners and children; UnknownObject naming what exists."""
        kind = self.kind_of(target.kind_text)
        of_kind = sorted(
            (key for key in self.keys if key.kind == kind),
            key=lambda key: (key.namespace, key.name),
        )
        # Cluster-scoped objects (Nodes) have no namespace: -n does not apply to them.
        in_scope = [k for k in of_kind if namespace is None or k.namespace in (namespace, "")]
        found = [k for k in in_scope if k.name == target.name]
        if len(found) > 1:
            namespaces = ", ".join(k.namespace for k in found)
            raise UnknownObject(
                printable(
                    f"{kind} {target.name} exists in several namespaces ({namespaces}): choose "
                    "one with -n"
                )
            )
        if not found:
            raise UnknownObject(
                printable(_not_found(kind, target.name, namespace, in_scope, source))
            )
        key = found[0]
        return Focus(key, self._owners(key), self._descendants(key))

    def _owners(self, key: ObjectKey) -> tuple[ObjectKey, ...]:
        owners: list[ObjectKey] = []
        current = self._owner.get(key)
        while current is not None and current not in owners and current != key:
            owners.append(current)
            current = self._owner.get(current)
        return tuple(owners)

    def _descendants(self, key: ObjectKey) -> tuple[ObjectKey, ...]:
        found: set[ObjectKey] = set()
        todo = [key]
        while todo:
            for child in self._children.get(todo.pop(), ()):
                if child not in found and child != key:
                    found.add(child)
                    todo.append(child)
        return tuple(sorted(found, key=lambda k: (k.kind, k.namespace, k.name)))

    def describe(self, key: ObjectKey) -> str:
        """``kind/ns/name``, followed by its owner chain when it has one."""
        chain = [str(key), *(f"{o.kind.lower()}/{o.name}" for o in self._owners(key))]
        return " ← ".join(chain)


def _not_found(
    kind: str, name: str, namespace: str | None, in_scope: Sequence[ObjectKey], source: str
) -> str:
    where = f" in namespace {namespace}" if namespace else ""
    if not in_scope:
        return f"no {kind} {name!r}{where}: there is no {kind}{where} in {source}"
    names = [k.name if namespace else f"{k.namespace}/{k.name}" for k in in_scope]
    listed = ", ".join(names[:_LISTED_NAMES])
    more = f" and {len(names) - _LISTED_NAMES} more" if len(names) > _LISTED_NAMES else ""
    return f"no {kind} {name!r}{where} in {source}; {kind}s there: {listed}{more}"


# -- selecting traces --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FocusedTrace:
    trace: Trace
    """The whole trace."""
    shown: Trace
    """The spans about the focus and their ancestors in the tree, in the trace's order."""
    hidden: int
    """Spans of the trace about other objects, left out of ``shown``."""
    effect: bool = False
    """Selected because some of its spans link to the object's spans (an eviction to the
    node's NotReady, a preempted Pod to its preemptor): what the object's problems caused.
    ``shown`` is those spans and their ancestors."""


@dataclass(frozen=True, slots=True)
class Selection:
    focus: Focus
    traces: tuple[FocusedTrace, ...]
    through_owners: bool
    """No trace concerns the object or its children: these are its owners' traces."""


def select(traces: Sequence[Trace], focus: Focus) -> Selection:
    own, members = focus.own, focus.members
    chosen = [t for t in traces if any(object_of(s) in own for s in t.spans)]
    through_owners = not chosen
    if through_owners:
        chosen = [t for t in traces if any(object_of(s) in members for s in t.spans)]
    focused = [_focused(t, lambda span: object_of(span) in members) for t in chosen]
    # Then the traces elsewhere that link to the object's own spans: what it caused.
    causes = {span_id_of(s) for t in chosen for s in t.spans if object_of(s) in own}
    picked = {t.trace_id for t in chosen}
    for trace in traces:
        if trace.trace_id in picked:
            continue
        if any(_links_into(span, causes) for span in trace.spans):
            focused.append(
                replace(_focused(trace, lambda span: _links_into(span, causes)), effect=True)
            )
    return Selection(focus, tuple(focused), through_owners)


def _links_into(span: ReadableSpan, span_ids: set[int]) -> bool:
    return any(link.context.span_id in span_ids for link in span.links)


def _focused(trace: Trace, wanted: Callable[[ReadableSpan], bool]) -> FocusedTrace:
    by_id = {span_id_of(span): span for span in trace.spans}
    keep: set[int] = set()
    for span in trace.spans:
        if not wanted(span):
            continue
        current: ReadableSpan | None = span
        while current is not None and span_id_of(current) not in keep:
            keep.add(span_id_of(current))
            parent = current.parent
            current = by_id.get(parent.span_id) if parent is not None else None
    rows = [
        (span, depth)
        for span, depth in zip(trace.spans, trace.depths, strict=True)
        if span_id_of(span) in keep
    ]
    shown = Trace(
        trace.trace_id,
        rows[0][0],
        tuple(span for span, _ in rows),
        tuple(depth for _, depth in rows),
    )
    return FocusedTrace(trace, shown, len(trace.spans) - len(rows))
