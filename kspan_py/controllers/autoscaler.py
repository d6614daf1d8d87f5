"""horizontal-pod-autoscaler: ``New size: %d; reason: %s`` (SuccessfulRescale) names no object
in its text; the autoscaler's spec.scaleTargetRef is the object it scaled, so the graph reads
the act's child from the stored autoscaler rather than from a message form.
"""

from __future__ import annotations

from kspan_py.controllers.base import Controller, Resource

AUTOSCALERS = Resource("HorizontalPodAutoscaler", "autoscaling", "v2", "horizontalpodautoscalers")

CONTROLLERS = (Controller("horizontal-pod-autoscaler", (), (AUTOSCALERS,)),)
