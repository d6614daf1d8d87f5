"""Every message form of facts.md, old and new, is recognised as naming its child."""

from __future__ import annotations

import pytest

from kspan_py.controllers import CONTROLLERS
from kspan_py.graph.rules import Relation, named_child
from kspan_py.graph.rules.children import act_horizon_ns, child_policy
from kspan_py.model import KubeEvent
from tests.tracing import kube_event


def _event(kind: str, reason: str, message: str) -> KubeEvent:
    return kube_event(
        kind=kind, name="owner", event_name="x.1", reason=reason, message=message, component=""
    )


CREATE, DELETE = Relation.CREATE, Relation.DELETE

FORMS = [
    ("Deployment", "ScalingReplicaSet", "Scaled up replica set web-1 from 0 to 3", "ReplicaSet", "web-1", CREATE),
    ("Deployment", "ScalingReplicaSet", "Scaled up replica set web-1 from 1 to 2", "ReplicaSet", "web-1", CREATE),
    ("Deployment", "ScalingReplicaSet", "Scaled down replica set web-0 from 2 to 1", "ReplicaSet", "web-0", DELETE),
    ("Deployment", "ScalingReplicaSet", "Scaled up replica set web-1 to 3", "ReplicaSet", "web-1", CREATE),
    ("Deployment", "ScalingReplicaSet", "Scaled down replica set web-0 to 0", "ReplicaSet", "web-0", DELETE),
    ("ReplicaSet", "SuccessfulCreate", "Created pod: web-1-abcde", "Pod", "web-1-abcde", CREATE),
    ("ReplicaSet", "SuccessfulDelete", "Deleted pod: web-1-abcde", "Pod", "web-1-abcde", DELETE),
    ("ReplicationController", "SuccessfulCreate", "Created pod: rc-x", "Pod", "rc-x", CREATE),
    ("Job", "SuccessfulCreate", "Created pod: pi-xk2", "Pod", "pi-xk2", CREATE),
    ("Job", "SuccessfulDelete", "Deleted pod: pi-xk2", "Pod", "pi-xk2", DELETE),
    ("DaemonSet", "SuccessfulCreate", "Created pod: agent-7", "Pod", "agent-7", CREATE),
    ("StatefulSet", "SuccessfulCreate", "create Pod db-0 in StatefulSet db successful", "Pod", "db-0", CREATE),
    ("StatefulSet", "SuccessfulCreate", "Create Pod db-2 in StatefulSet db successful", "Pod", "db-2", CREATE),
    ("StatefulSet", "SuccessfulDelete", "delete Pod db-1 in StatefulSet db successful", "Pod", "db-1", DELETE),
    ("StatefulSet", "SuccessfulDelete", "Delete Pod db-1 in StatefulSet db successful", "Pod", "db-1", DELETE),
    ("StatefulSet", "FailedCreate", "create Pod db-0 in StatefulSet db failed error: quota", "Pod", "db-0", CREATE),
    ("CronJob", "SuccessfulCreate", "Created job hello-2890", "Job", "hello-2890", CREATE),
    ("CronJob", "SuccessfulDelete", "Deleted job hello-2880", "Job", "hello-2880", DELETE),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "reason", "message", "child_kind", "child", "relation"), FORMS)
def test_message_forms_name_their_child(
    kind: str, reason: str, message: str, child_kind: str, child: str, relation: Relation
) -> None:
    named = named_child(_event(kind, reason, message))
    assert named is not None
    assert (named.kind, named.name, named.namespace, named.relation) == (
        child_kind,
        child,
        "ns",
        relation,
    )


NOT_NAMING = [
    ("ReplicaSet", "FailedCreate", 'Error creating: pods "web-" is forbidden: exceeded quota'),
    ("CronJob", "SawCompletedJob", "Saw completed job: hello-2890, status: Complete"),
    ("Job", "Completed", "Job completed"),
    ("Pod", "SuccessfulCreate", "Created pod: not-from-a-controller"),
    ("Deployment", "ScalingReplicaSet", "Scaled sideways replica set web-1 to 3"),
    ("HorizontalPodAutoscaler", "SuccessfulRescale", "New size: 4; reason: cpu above target"),
]


@pytest.mark.parametrize(("kind", "reason", "message"), NOT_NAMING)
def test_other_messages_name_nothing(kind: str, reason: str, message: str) -> None:
    assert named_child(_event(kind, reason, message)) is None


def test_each_controller_watches_the_kinds_its_acts_are_written_on() -> None:
    """Registered once: a controller's acts are read from the collections it registers (the
    replication controller's acts excepted: ReplicationControllers are not watched)."""
    for controller in CONTROLLERS:
        owners = {kind for rule in controller.acts for kind in rule.owner_kinds}
        if controller.watches:
            assert owners <= {resource.kind for resource in controller.watches}, controller.name
        else:
            assert owners <= {"ReplicationController"}, controller.name
    assert len({c.name for c in CONTROLLERS}) == len(CONTROLLERS)


def test_no_policy_looks_for_an_act_longer_than_the_graph_keeps_it() -> None:
    """The graph keeps acts naming a kind only as long as ``act_horizon_ns`` says: every
    policy of that kind must look no farther (else a cause would be missing only once event
    time moved on, and the spans would depend on when the graph forgot)."""
    kinds = ("Pod", "ReplicaSet", "Deployment", "StatefulSet", "Job", "DaemonSet", "Node")
    reasons = ("SuccessfulCreate", "SuccessfulDelete", "FailedCreate", "ScalingReplicaSet",
               "Killing", "Started", "BackOff")  # fmt: skip
    for kind in kinds:
        kept = act_horizon_ns(kind)
        for reason in reasons:
            policy = child_policy(kind, reason)
            if policy is None or kept is None:
                continue
            assert policy.horizon_ns is not None and policy.horizon_ns <= kept, (kind, reason)
    assert act_horizon_ns("ReplicaSet") is not None  # (the test is not empty)
