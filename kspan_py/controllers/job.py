"""job-controller: creates and deletes a Job's pods through the shared pod control.

Its other reasons (Completed, BackoffLimitExceeded, DeadlineExceeded) name no child.
"""

from __future__ import annotations

from kspan_py.controllers.base import Controller, Resource
from kspan_py.controllers.pod_control import pod_control_rules

JOBS = Resource("Job", "batch", "v1", "jobs")

CONTROLLERS = (Controller("job-controller", pod_control_rules("job-controller", "Job"), (JOBS,)),)
