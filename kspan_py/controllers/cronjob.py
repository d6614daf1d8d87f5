"""cronjob-controller: ``Created job %v`` starts a run; ``Deleted job %v`` trims history.

``Saw completed job: %s, status: %v`` and ``Active job went missing: %v`` report on a Job the
controller did not act on, so they are no actor rules.
"""

from __future__ import annotations

from kspan_py.controllers.base import Controller, NamingRule, Relation, Resource, rule

_ACTS: tuple[NamingRule, ...] = (
    rule(
        "cronjob-controller",
        ("SuccessfulCreate",),
        owner_kinds=("CronJob",),
        pattern=r"^Created job (?P<child>\S+)",
        child_kind="Job",
        relation=Relation.CREATE,
    ),
    rule(
        "cronjob-controller",
        ("SuccessfulDelete",),
        owner_kinds=("CronJob",),
        pattern=r"^Deleted job (?P<child>\S+)",
        child_kind="Job",
        relation=Relation.DELETE,
    ),
)

CRONJOBS = Resource("CronJob", "batch", "v1", "cronjobs")

CONTROLLERS = (
    # A CronJob is the top of its Jobs' ownership chains.
    Controller("cronjob-controller", _ACTS, (CRONJOBS,)),
)
