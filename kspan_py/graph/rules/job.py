"""job-controller: creates and deletes a Job's pods through the shared pod control.

Its other reasons (Completed, BackoffLimitExceeded, DeadlineExceeded) name no child.
"""

from __future__ import annotations

from kspan_py.graph.rules.base import NamingRule
from kspan_py.graph.rules.pod_control import pod_control_rules

RULES: tuple[NamingRule, ...] = pod_control_rules("job-controller", "Job")
