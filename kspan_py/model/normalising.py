"""Raw API bodies (dicts from JSON) to typed records, accepting both Event APIs and old formats.

This is the one place that knows field names of the wire formats; see docs/contract.md and the
facts table "The two Event APIs". Anything malformed raises MalformedValue with a reason that
names the object and the missing or bad field, so that callers can count and report the skip.

It is also where values from outside are checked, since anyone who may create Events writes
them: every field is read with the type it must have (a list where a string belongs, an object
where a uid belongs, a count of a thousand digits), and every time must lie in the range spans
can carry, 1970-01-01 to 2099-12-31 UTC (see ``timestamps``). A bad identity field or time
makes the value a MalformedValue; a bad optional field (a status piece, a resourceVersion that
is not an int64, an unknown type) is left out, as before. The checks are the type tests the
reading already branches on, so they cost next to nothing; nesting depth is the parser's to
refuse (the capture reader turns its recursion errors into skips).
"""

from __future__ import annotations

import re
from typing import Any

from kspan_py.model.records import (
    Condition,
    ContainerRun,
    GenerationChange,
    KubeEvent,
    KubeObject,
    NodeStatus,
    ObjectRef,
    OwnerRef,
    PodStatus,
    Uid,
)
from kspan_py.model.sharing import share
from kspan_py.model.timestamps import parse_time_ns

Raw = dict[str, Any]


class MalformedValue(ValueError):
    """A value that cannot be used; the message says which object and which field."""


def normalise(raw: Raw, *, kind_hint: str = "") -> KubeObject | KubeEvent:
    """Turn one raw object body into a record. ``kind_hint`` comes from a typed List."""
    if not isinstance(raw, dict):
        raise MalformedValue(f"expected an object, got {type(raw).__name__}")
    kind = raw.get("kind") or kind_hint
    if not isinstance(kind, str) or not kind:
        raise MalformedValue("object without kind")
    metadata = raw.get("metadata")
    if not isinstance(metadata, dict):
        raise MalformedValue(f"{kind} without metadata")
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        raise MalformedValue(f"{kind} without metadata.name")
    if kind == "Event":
        return _event(raw, metadata, name)
    return _object(raw, kind, metadata, name)


# Strings that repeat across objects and events (kinds, namespaces, reasons, components, the
# names and uids of objects that events regard and owners, an object's own identity and
# labels) are interned: the graph holds many records at once, and interned they share one
# string instead of one copy per parsed value (marshal keeps them interned across the reader
# process's pipe). Interned strings are freed with their last user, as any other (but on
# CPython 3.12: see model.sharing).
_intern = share


class _FieldError(MalformedValue):
    """A bad field; the object's _event/_object names the object in front of the message."""


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _time(value: Any, what: str) -> int | None:
    if not value:
        return None
    if not isinstance(value, str):
        # Named by type, never printed: a hostile value can be nested too deep to print.
        raise _FieldError(f"{what} is not a time: a {type(value).__name__}")
    try:
        return parse_time_ns(value)
    except ValueError as error:
        raise _FieldError(f"{what}: {error}") from None


CLUSTER_SCOPED_KINDS = frozenset(
    {
        "Node",
        "Namespace",
        "PersistentVolume",
        "StorageClass",
        "VolumeAttachment",
        "CSINode",
        "CSIDriver",
        "PriorityClass",
        "RuntimeClass",
        "IngressClass",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "APIService",
        "CertificateSigningRequest",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
    }
)
"""Built-in kinds without a namespace. An Event about one lives in some namespace ("default"
for a Node's), which is not the object's: a reference to one of these has no namespace."""


def _ref(raw: Any, default_namespace: str, what: str) -> ObjectRef:
    if not isinstance(raw, dict):
        raise _FieldError(f"{what} missing")
    kind, name = raw.get("kind"), raw.get("name")
    if not kind or not name or not isinstance(kind, str) or not isinstance(name, str):
        raise _FieldError(f"{what} without kind or name")
    namespace, uid, api_version = raw.get("namespace"), raw.get("uid"), raw.get("apiVersion")
    if kind in CLUSTER_SCOPED_KINDS:
        namespace, default_namespace = "", ""
    return ObjectRef(
        _intern(kind),
        _intern(namespace) if namespace and isinstance(namespace, str) else default_namespace,
        _intern(name),
        Uid(_intern(uid)) if uid and isinstance(uid, str) else None,
        _intern(api_version) if isinstance(api_version, str) else "",
    )


_LABEL_CHARACTERS = 120
"""Names are quoted in messages up to this length: a hostile name can be megabytes."""


def _label(text: str) -> str:
    if len(text) <= _LABEL_CHARACTERS:
        return text
    return f"{text[:_LABEL_CHARACTERS]}... ({len(text)} characters)"


def _event(raw: Raw, metadata: Raw, name: str) -> KubeEvent:
    uid = _text(metadata.get("uid"))
    namespace = _text(metadata.get("namespace"))
    if not uid:
        raise MalformedValue(f"Event {_label(namespace + '/' + name)} without metadata.uid")
    try:
        return _event_fields(raw, metadata, name, uid, _intern(namespace))
    except _FieldError as error:
        raise MalformedValue(f"Event {_label(namespace + '/' + name)}: {error}") from None


def _event_fields(raw: Raw, metadata: Raw, name: str, uid: str, namespace: str) -> KubeEvent:
    # core/v1: involvedObject, message, source; events.k8s.io: regarding, note, deprecatedSource.
    get = raw.get
    involved = get("involvedObject")
    is_core = "involvedObject" in raw or ("regarding" not in raw and "note" not in raw)
    if is_core:
        regarding = _ref(involved, namespace, "involvedObject")
        message = get("message")
        source = get("source") or {}
        last, first, count = get("lastTimestamp"), get("firstTimestamp"), get("count")
        component = get("reportingComponent")
    else:
        regarding = _ref(get("regarding"), namespace, "regarding")
        message = get("note")
        source = get("deprecatedSource") or {}
        last, first = get("deprecatedLastTimestamp"), get("deprecatedFirstTimestamp")
        count = get("deprecatedCount")
        component = get("reportingController")
    if not isinstance(source, dict):
        source = {}
    series = get("series")
    if not isinstance(series, dict):
        series = {}
    event_time = _time(get("eventTime"), "eventTime")
    first_ns = _time(first, "firstTimestamp")
    time_ns = (
        _time(series.get("lastObservedTime"), "series.lastObservedTime")
        or _time(last, "lastTimestamp")
        or event_time
        or first_ns
        or _time(metadata.get("creationTimestamp"), "creationTimestamp")
    )
    if time_ns is None:
        raise _FieldError("has no timestamp (series, lastTimestamp, eventTime, ...)")
    occurrence = series.get("count") if series.get("count") else count
    if occurrence.__class__ is not int or not 1 <= occurrence <= _MAX_COUNT:
        occurrence = _count(occurrence)
    related_raw = get("related")
    related = _ref(related_raw, namespace, "related") if related_raw else None
    field_path = (involved or get("regarding") or {}).get("fieldPath")
    if not component or not isinstance(component, str):
        component = source.get("component")
    instance = get("reportingInstance")
    if not instance or not isinstance(instance, str):
        instance = source.get("host")
    api_version = get("apiVersion")
    if not api_version or not isinstance(api_version, str):
        api_version = "v1" if is_core else "events.k8s.io/v1"
    # Positional, in field order (uid, name, namespace, regarding, field_path, related, reason,
    # message, type, action, count, time_ns, first_ns, component, instance, api_version,
    # resource_version): keywords cost a third of the construction.
    return KubeEvent(
        Uid(uid),
        name,
        namespace,
        regarding,
        _intern(field_path) if isinstance(field_path, str) else "",
        related,
        _intern_text(get("reason")),
        message if isinstance(message, str) else "",
        _intern_text(get("type")) or "Normal",
        _intern_text(get("action")),
        occurrence,
        time_ns,
        event_time or first_ns or time_ns,
        _intern_text(component),
        _intern_text(instance),
        _intern(api_version),
        write_order(metadata.get("resourceVersion")),
    )


_MAX_COUNT = 2**31 - 1


def _count(value: Any) -> int:
    """A count that is not a plain int from 1 to _MAX_COUNT: 1 when it says nothing usable."""
    # orjson reads an integer beyond 64 bits as a float, the json module as an int: the same
    # count must get the same verdict whichever parser read it.
    if (value.__class__ is int or value.__class__ is float) and value > _MAX_COUNT:
        # Not made 1: that would be the first occurrence's id, and one of the two would be lost.
        raise _FieldError(f"count above {_MAX_COUNT} (the API's int32)")
    return 1  # missing, zero, negative, a bool or a string: the first occurrence


_INT64_DIGITS = 18  # any 18 digits fit an int64; etcd's revisions are int64


def write_order(resource_version: Any) -> int:
    """A numeric resourceVersion as an int (ASCII digits only: "²".isdigit() holds, and int()
    refuses it; no longer than an int64, which also keeps int()'s 4,300-digit limit away);
    anything else is opaque, 0."""
    if (
        isinstance(resource_version, str)
        and len(resource_version) <= _INT64_DIGITS
        and resource_version.isascii()
        and resource_version.isdigit()
    ):
        return int(resource_version)
    return 0


def _intern_text(value: Any) -> str:
    return _intern(value) if isinstance(value, str) else ""


def _object(raw: Raw, kind: str, metadata: Raw, name: str) -> KubeObject:
    namespace = _intern_text(metadata.get("namespace"))
    try:
        return _object_fields(raw, kind, metadata, name, namespace)
    except _FieldError as error:
        label = f"{_label(kind)} {_label((namespace + '/' if namespace else '') + name)}"
        raise MalformedValue(f"{label}: {error}") from None


def _object_fields(raw: Raw, kind: str, metadata: Raw, name: str, namespace: str) -> KubeObject:
    uid = metadata.get("uid")
    created = _time(metadata.get("creationTimestamp"), "creationTimestamp")
    owner = _controller_owner(metadata.get("ownerReferences"))
    generation = metadata.get("generation")
    if generation.__class__ is not int or not 1 <= generation < _INT64:
        generation = None
    change = None
    # Only objects at the top of an ownership chain start changes; skip the work for the rest.
    if owner is None and generation is not None:
        change = _generation_change(metadata.get("managedFields"), generation, created)
    deleted = metadata.get("deletionTimestamp")
    status: PodStatus | NodeStatus | None = None
    scale_target = None
    if kind == "HorizontalPodAutoscaler":
        target = _mapping(_mapping(raw.get("spec")).get("scaleTargetRef"))
        target_kind, target_name = target.get("kind"), target.get("name")
        if isinstance(target_kind, str) and isinstance(target_name, str) and target_name:
            scale_target = ObjectRef(_intern(target_kind), namespace, _intern(target_name))
    replicas, rolling_out = None, None
    if kind == "Pod":
        status = _pod_status(raw)
    elif kind == "Node":
        status = NodeStatus(_conditions(_mapping(raw.get("status")).get("conditions")))
    elif kind in _SCALED_BY_STEPS:
        wanted = _mapping(raw.get("spec")).get("replicas")
        replicas = wanted if wanted.__class__ is int and 0 <= wanted < _INT64 else None
    elif kind in _ROLLOUT_READERS:
        rolling_out = _ROLLOUT_READERS[kind](
            _mapping(raw.get("spec")), _mapping(raw.get("status")), generation
        )
    # (ref, resource_version, created_ns, owner, generation, change, deleted_ns, status)
    return KubeObject(
        ObjectRef(
            _intern(kind),
            namespace,
            _intern(name),
            Uid(_intern(uid)) if uid and isinstance(uid, str) else None,
            _intern_text(raw.get("apiVersion")),
        ),
        _text(metadata.get("resourceVersion")),
        created or 0,
        owner,
        generation,
        change,
        _time(deleted, "deletionTimestamp") if deleted else None,
        status,
        scale_target,
        _labels(metadata.get("labels")),
        replicas,
        rolling_out,
    )


_SCALED_BY_STEPS = frozenset({"ReplicaSet", "ReplicationController"})
"""Kinds a deployment controller scales step by step: their spec.replicas history says which
step was in force when each of their pods was created or deleted."""


def _int_field(mapping: Raw, field: str) -> int | None:
    value = mapping.get(field)
    return value if value.__class__ is int else None


def _observed(status: Raw, generation: int | None) -> bool:
    observed = _int_field(status, "observedGeneration")
    return generation is None or (observed is not None and observed >= generation)


def _deployment_rolling_out(spec: Raw, status: Raw, generation: int | None) -> bool | None:
    """In progress until the controller saw the spec and reported the new ReplicaSet available
    (Progressing: NewReplicaSetAvailable); a rollout past its deadline is over (failed)."""
    if not status:
        return None
    if not _observed(status, generation):
        return True
    for condition in _list(status.get("conditions")):
        if condition.get("type") == "Progressing":
            if condition.get("status") == "False":
                return False  # ProgressDeadlineExceeded: it stopped trying
            return condition.get("reason") != "NewReplicaSetAvailable"
    wanted = _int_field(spec, "replicas")
    updated = _int_field(status, "updatedReplicas") or 0
    return wanted is not None and updated < wanted


def _statefulset_rolling_out(spec: Raw, status: Raw, generation: int | None) -> bool | None:
    """In progress while its pods are not all at the update revision. (Not readiness: a pod
    lost and re-created is no rollout.)"""
    if not status:
        return None
    if not _observed(status, generation):
        return True
    current, update = status.get("currentRevision"), status.get("updateRevision")
    return isinstance(update, str) and bool(update) and current != update


def _daemonset_rolling_out(spec: Raw, status: Raw, generation: int | None) -> bool | None:
    """In progress while a node's pod is not of the new template yet."""
    if not status:
        return None
    if not _observed(status, generation):
        return True
    desired = _int_field(status, "desiredNumberScheduled") or 0
    updated = _int_field(status, "updatedNumberScheduled")
    return updated is not None and updated < desired


_ROLLOUT_READERS = {
    "Deployment": _deployment_rolling_out,
    "StatefulSet": _statefulset_rolling_out,
    "DaemonSet": _daemonset_rolling_out,
}


def _labels(raw: Any) -> tuple[tuple[str, str], ...]:
    """metadata.labels as pairs; an entry that is not text to text is left out."""
    if not raw or not isinstance(raw, dict):
        return ()
    return tuple(
        (_intern(key), _intern(value))
        for key, value in raw.items()
        if isinstance(key, str) and isinstance(value, str)
    )


def _controller_owner(refs: Any) -> OwnerRef | None:
    if not refs:
        return None
    if not isinstance(refs, list):
        raise _FieldError("ownerReferences is not a list")
    chosen = None
    for ref in refs:
        if (
            isinstance(ref, dict)
            and isinstance(ref.get("uid"), str)
            and isinstance(ref.get("kind"), str)
            and ref["uid"]
            and ref["kind"]
        ):
            # The controller owner is the one that acts on the object; hand-made objects may
            # not mark one: then the first usable reference.
            if ref.get("controller") is True:
                chosen = ref
                break
            if chosen is None:
                chosen = ref
    if chosen is None:
        return None
    return OwnerRef(
        _intern(chosen["kind"]), _intern_text(chosen.get("name")), Uid(_intern(chosen["uid"]))
    )


_SPEC_SUBRESOURCES = ("", "scale")  # a spec change comes through the object itself or /scale


def _generation_change(
    fields: Any, generation: int, created: int | None
) -> GenerationChange | None:
    """Who made the current generation, from managedFields (the latest spec-touching entry)."""
    entries = [e for e in fields if isinstance(e, dict)] if isinstance(fields, list) else []
    spec_entries: list[tuple[int, str]] = []
    for entry in entries:
        if _text(entry.get("subresource")) not in _SPEC_SUBRESOURCES:
            continue
        touched = entry.get("fieldsV1")
        if not isinstance(touched, dict) or "f:spec" not in touched:
            continue
        when = _time(entry.get("time"), "managedFields.time")
        if when is not None:
            spec_entries.append((when, _text(entry.get("manager")) or "unknown"))
    if generation == 1:
        if created is None:
            return None
        creator = min(spec_entries)[1] if spec_entries else "unknown"
        return GenerationChange(generation, created, creator, "Create")
    if not spec_entries:
        return None
    when, manager = max(spec_entries)
    return GenerationChange(generation, when, manager, "Update")


# -- status ----------------------------------------------------------------------------------
# A status is read leniently: a malformed piece of it is left out rather than losing the object
# (its identity and owner matter more to linking than one bad condition).


def _mapping(value: Any) -> Raw:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Raw]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _lenient_time(value: Any) -> int | None:
    if not value or not isinstance(value, str):
        return None
    try:
        return parse_time_ns(value)
    except ValueError:
        return None


_INT64 = 2**63


def _int(value: Any) -> int | None:
    """An int that an OTLP attribute (int64) can carry; None for anything else."""
    return value if value.__class__ is int and -_INT64 <= value < _INT64 else None


def _conditions(raw: Any) -> tuple[Condition, ...]:
    return tuple(
        Condition(
            _intern_text(item.get("type")),
            _intern_text(item.get("status")),
            _lenient_time(item.get("lastTransitionTime")) or 0,
            _intern_text(item.get("reason")),
            _text(item.get("message")),
        )
        for item in _list(raw)
        if isinstance(item.get("type"), str)
    )


_POD_PHASES = ("PodScheduled", "Initialized", "Ready")


def _pod_status(raw: Raw) -> PodStatus:
    spec, status = _mapping(raw.get("spec")), _mapping(raw.get("status"))
    since = dict.fromkeys(_POD_PHASES, 0)
    conditions = status.get("conditions")
    for condition in conditions if isinstance(conditions, list) else ():
        if not isinstance(condition, dict):
            continue
        kind = condition.get("type")
        if isinstance(kind, str) and kind in since and condition.get("status") == "True":
            since[kind] = _lenient_time(condition.get("lastTransitionTime")) or 0
    runs: list[ContainerRun] = []
    for field, init in (("initContainerStatuses", True), ("containerStatuses", False)):
        for container in _list(status.get(field)):
            name = container.get("name")
            if not isinstance(name, str) or not name:
                continue
            restarts = _int(container.get("restartCount")) or 0
            state = _mapping(container.get("state"))
            current = _run(name, init, state, restarts)
            if current is not None:
                runs.append(current)
            # The run before the current one: when the current one runs (or has ended), it is
            # run number restarts - 1; while waiting to restart, the last run is the latest.
            before = restarts - 1 if "waiting" not in state else restarts
            previous = _run(name, init, _mapping(container.get("lastState")), max(before, 0))
            if previous is not None:
                runs.append(previous)
    limits = []
    for container in _list(spec.get("containers")) + _list(spec.get("initContainers")):
        memory = _mapping(_mapping(container.get("resources")).get("limits")).get("memory")
        name = container.get("name")
        if isinstance(name, str) and isinstance(memory, str):
            limits.append((_intern(name), _intern(memory)))
    # (phase, reason, node, has_init_containers, scheduled, initialized, ready, runs, limits)
    return PodStatus(
        _intern_text(status.get("phase")),
        _intern_text(status.get("reason")),
        _intern_text(spec.get("nodeName")),
        bool(spec.get("initContainers")),
        since["PodScheduled"],
        since["Initialized"],
        since["Ready"],
        tuple(runs),
        tuple(limits),
    )


def _run(name: str, init: bool, state: Raw, restart: int) -> ContainerRun | None:
    """The run a container state describes, if it is one that ran (running or terminated)."""
    terminated = state.get("terminated")
    if isinstance(terminated, dict):
        started = _lenient_time(terminated.get("startedAt"))
        finished = _lenient_time(terminated.get("finishedAt"))
        if started is None or finished is None:
            return None  # never started (a failed create): the events tell that story
        # (container, init, restart, started_ns, finished_ns, exit_code, signal, reason, message)
        return ContainerRun(
            _intern(name),
            init,
            restart,
            started,
            max(finished, started),
            _int(terminated.get("exitCode")),
            _int(terminated.get("signal")),
            _intern_text(terminated.get("reason")),
            _text(terminated.get("message")),
        )
    running = state.get("running")
    if isinstance(running, dict):
        started = _lenient_time(running.get("startedAt"))
        if started is not None:
            return ContainerRun(_intern(name), init, restart, started, None, None, None, "", "")
    return None


# -- text --------------------------------------------------------------------------------------

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def replace_lone_surrogates(value: Any) -> Any:
    """The decoded JSON value with every lone surrogate (``"\\ud800"``) made U+FFFD.

    JSON can escape half of a UTF-16 pair alone, and Python's json module decodes it into a str
    that no UTF-8 writer can write: the console and HTML exporters would fail at the first one.
    Readers call this for a value whose text holds a surrogate escape (rare), so that no record
    ever carries one. Iterative: the value may be nested as deep as the parser allows.
    """
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if not isinstance(value, dict | list):
        return value
    root: list[Any] = [value]
    stack: list[tuple[Any, Any]] = [(root, 0)]
    while stack:
        container, key = stack.pop()
        item = container[key]
        if isinstance(item, str):
            container[key] = _LONE_SURROGATE.sub("\ufffd", item)
        elif isinstance(item, list):
            stack.extend((item, index) for index in range(len(item)))
        elif isinstance(item, dict):
            for name in list(item):
                fixed = _LONE_SURROGATE.sub("\ufffd", name) if isinstance(name, str) else name
                if fixed is not name and fixed != name:
                    item[fixed] = item.pop(name)
                stack.append((item, fixed))
    return root[0]
