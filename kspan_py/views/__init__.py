"""Views of linked spans for a reader without a tracing backend.

``traces`` groups spans into trees; ``problems`` finds what went wrong and the verdict;
``focus`` picks what ``explain KIND/NAME`` is about; ``waterfall`` prints it in a terminal;
``timeline`` writes it as one self-contained HTML file. All of them read spans through the
OpenTelemetry ``ReadableSpan`` interface only, so they show whatever spans the graph makes.
"""

from kspan_py.views.problems import Problem, Verdict, find_problems, problem_of, verdict
from kspan_py.views.traces import ObjectKey, SpanRow, Trace, group_traces

__all__ = [
    "ObjectKey",
    "Problem",
    "SpanRow",
    "Trace",
    "Verdict",
    "find_problems",
    "group_traces",
    "problem_of",
    "verdict",
]
