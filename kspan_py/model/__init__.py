"""Typed records every other layer speaks: the normalised shape of Kubernetes objects and Events.

Raw API bodies come in two Event dialects (core/v1 and events.k8s.io/v1) and many object kinds;
everything past ``sources`` sees only these records, so rules never test for dialect fields.
"""

from kspan_py.model.normalising import (
    MalformedValue,
    normalise,
    replace_lone_surrogates,
    write_order,
)
from kspan_py.model.records import (
    Change,
    ChangeType,
    Condition,
    ContainerRun,
    EventChange,
    GenerationChange,
    KubeEvent,
    KubeObject,
    LifecycleFact,
    NodeStatus,
    ObjectChange,
    ObjectRef,
    OwnerRef,
    PodStatus,
    Snapshot,
    Uid,
)
from kspan_py.model.timestamps import parse_time_ns

__all__ = [
    "Change",
    "ChangeType",
    "Condition",
    "ContainerRun",
    "EventChange",
    "GenerationChange",
    "KubeEvent",
    "KubeObject",
    "LifecycleFact",
    "MalformedValue",
    "NodeStatus",
    "ObjectChange",
    "ObjectRef",
    "OwnerRef",
    "PodStatus",
    "Snapshot",
    "Uid",
    "normalise",
    "parse_time_ns",
    "replace_lone_surrogates",
    "write_order",
]
