"""Typed records every other layer speaks: the normalised shape of Kubernetes objects and Events.

Raw API bodies come in two Event dialects (core/v1 and events.k8s.io/v1) and many object kinds;
everything past ``sources`` sees only these records, so rules never test for dialect fields.
"""

from kspan_py.model.normalising import MalformedValue, normalise
from kspan_py.model.records import (
    Change,
    ChangeType,
    EventChange,
    GenerationChange,
    KubeEvent,
    KubeObject,
    ObjectChange,
    ObjectRef,
    OwnerRef,
    Snapshot,
    Uid,
)
from kspan_py.model.timestamps import parse_time_ns

__all__ = [
    "Change",
    "ChangeType",
    "EventChange",
    "GenerationChange",
    "KubeEvent",
    "KubeObject",
    "MalformedValue",
    "ObjectChange",
    "ObjectRef",
    "OwnerRef",
    "Snapshot",
    "Uid",
    "normalise",
    "parse_time_ns",
]
