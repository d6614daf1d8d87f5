"""Raw API bodies (dicts from JSON) to typed records, accepting both Event APIs and old formats.

This is the one place that knows field names of the wire formats; see docs/contract.md and the
facts table "The two Event APIs". Anything malformed raises MalformedValue with a reason that
names the object and the missing or bad field, so that callers can count and report the skip.
"""

from __future__ import annotations

from typing import Any

from kspan_py.model.records import (
    GenerationChange,
    KubeEvent,
    KubeObject,
    ObjectRef,
    OwnerRef,
    Uid,
)
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


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _time(value: Any, what: str) -> int | None:
    if not value:
        return None
    if not isinstance(value, str):
        raise MalformedValue(f"{what} is not a time: {value!r}")
    try:
        return parse_time_ns(value)
    except ValueError as error:
        raise MalformedValue(f"{what}: {error}") from None


def _ref(raw: Any, default_namespace: str, what: str) -> ObjectRef:
    if not isinstance(raw, dict):
        raise MalformedValue(f"{what} missing")
    kind, name = _text(raw.get("kind")), _text(raw.get("name"))
    if not kind or not name:
        raise MalformedValue(f"{what} without kind or name")
    uid = _text(raw.get("uid"))
    return ObjectRef(
        kind=kind,
        namespace=_text(raw.get("namespace")) or default_namespace,
        name=name,
        uid=Uid(uid) if uid else None,
        api_version=_text(raw.get("apiVersion")),
    )


def _event(raw: Raw, metadata: Raw, name: str) -> KubeEvent:
    uid = _text(metadata.get("uid"))
    namespace = _text(metadata.get("namespace"))
    label = f"Event {namespace}/{name}"
    if not uid:
        raise MalformedValue(f"{label} without metadata.uid")
    # core/v1: involvedObject, message, source; events.k8s.io: regarding, note, deprecatedSource.
    is_core = "involvedObject" in raw or ("regarding" not in raw and "note" not in raw)
    if is_core:
        regarding = _ref(raw.get("involvedObject"), namespace, f"{label}: involvedObject")
        message = _text(raw.get("message"))
        source = raw.get("source") or {}
        last, first, count = raw.get("lastTimestamp"), raw.get("firstTimestamp"), raw.get("count")
        component = _text(raw.get("reportingComponent"))
    else:
        regarding = _ref(raw.get("regarding"), namespace, f"{label}: regarding")
        message = _text(raw.get("note"))
        source = raw.get("deprecatedSource") or {}
        last, first = raw.get("deprecatedLastTimestamp"), raw.get("deprecatedFirstTimestamp")
        count = raw.get("deprecatedCount")
        component = _text(raw.get("reportingController"))
    if not isinstance(source, dict):
        source = {}
    series = raw.get("series")
    if not isinstance(series, dict):
        series = {}
    event_time = _time(raw.get("eventTime"), f"{label}: eventTime")
    first_ns = _time(first, f"{label}: firstTimestamp")
    time_ns = (
        _time(series.get("lastObservedTime"), f"{label}: series.lastObservedTime")
        or _time(last, f"{label}: lastTimestamp")
        or event_time
        or first_ns
        or _time(metadata.get("creationTimestamp"), f"{label}: creationTimestamp")
    )
    if time_ns is None:
        raise MalformedValue(f"{label} has no timestamp (series, lastTimestamp, eventTime, ...)")
    occurrence = series.get("count") if series.get("count") else count
    if not isinstance(occurrence, int) or occurrence < 1:
        occurrence = 1
    related_raw = raw.get("related")
    related = _ref(related_raw, namespace, f"{label}: related") if related_raw else None
    rv = _text(metadata.get("resourceVersion"))
    return KubeEvent(
        uid=Uid(uid),
        name=name,
        namespace=namespace,
        regarding=regarding,
        field_path=_text(
            (raw.get("involvedObject") or raw.get("regarding") or {}).get("fieldPath")
        ),
        related=related,
        reason=_text(raw.get("reason")),
        message=message,
        type=_text(raw.get("type")) or "Normal",
        action=_text(raw.get("action")),
        count=occurrence,
        time_ns=time_ns,
        first_ns=event_time or first_ns or time_ns,
        component=component or _text(source.get("component")),
        instance=_text(raw.get("reportingInstance")) or _text(source.get("host")),
        api_version=_text(raw.get("apiVersion")) or ("v1" if is_core else "events.k8s.io/v1"),
        resource_version=int(rv) if rv.isdigit() else 0,
    )


def _object(raw: Raw, kind: str, metadata: Raw, name: str) -> KubeObject:
    namespace = _text(metadata.get("namespace"))
    uid = _text(metadata.get("uid"))
    label = f"{kind} {namespace + '/' if namespace else ''}{name}"
    created = _time(metadata.get("creationTimestamp"), f"{label}: creationTimestamp")
    owner = _controller_owner(metadata.get("ownerReferences"), label)
    generation = metadata.get("generation")
    if not isinstance(generation, int) or generation < 1:
        generation = None
    change = None
    # Only objects at the top of an ownership chain start changes; skip the work for the rest.
    if owner is None and generation is not None:
        change = _generation_change(metadata.get("managedFields"), generation, created, label)
    return KubeObject(
        ref=ObjectRef(
            kind=kind,
            namespace=namespace,
            name=name,
            uid=Uid(uid) if uid else None,
            api_version=_text(raw.get("apiVersion")),
        ),
        resource_version=_text(metadata.get("resourceVersion")),
        created_ns=created or 0,
        owner=owner,
        generation=generation,
        change=change,
        deleted_ns=_time(metadata.get("deletionTimestamp"), f"{label}: deletionTimestamp"),
    )


def _controller_owner(refs: Any, label: str) -> OwnerRef | None:
    if not refs:
        return None
    if not isinstance(refs, list):
        raise MalformedValue(f"{label}: ownerReferences is not a list")
    usable = [r for r in refs if isinstance(r, dict) and r.get("uid") and r.get("kind")]
    if not usable:
        return None
    # The controller owner is the one that acts on the object; hand-made objects may not mark one.
    chosen = next((r for r in usable if r.get("controller") is True), usable[0])
    return OwnerRef(kind=chosen["kind"], name=_text(chosen.get("name")), uid=Uid(chosen["uid"]))


_SPEC_SUBRESOURCES = ("", "scale")  # a spec change comes through the object itself or /scale


def _generation_change(
    fields: Any, generation: int, created: int | None, label: str
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
        when = _time(entry.get("time"), f"{label}: managedFields.time")
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
