"""The README is the contract users query against (TraceQL, Loki, dashboards): every attribute
kspan-py emits on the bundled captures is named there, and its sample log record is what
kspan-py writes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from kspan_py.cli import main
from kspan_py.sinks.otlp_logs import event_logs
from tests.tracing import CAPTURES, ROOT, replay_file

README = (ROOT / "README.md").read_text()


def _named_in_readme(key: str) -> bool:
    if f"`{key}`" in README:
        return True
    # Families the README names with a wildcard or a slash: `k8s.pod.*`, `k8s.related.kind/name`.
    parts = key.split(".")
    family = ".".join(parts[:-1])
    return (
        f"`{family}.*`" in README
        or re.search(rf"`{re.escape(family)}\.[a-z_/]*\b{re.escape(parts[-1])}\b[a-z_/]*`", README)
        is not None
    )


def test_every_attribute_emitted_on_the_bundled_captures_is_in_the_readme() -> None:
    keys: set[str] = set()
    captures = sorted(CAPTURES.glob("*.jsonl")) + sorted((CAPTURES / "real-1.36").glob("*.jsonl"))
    for capture in captures:
        spans = replay_file(capture)
        for span in spans:
            keys |= set(span.attributes or {})
            keys |= set(span.resource.attributes)
            for event in span.events:
                keys |= set(event.attributes or {})
            for link in span.links:
                keys |= set(link.attributes or {})
        for log in event_logs(spans, observed_ns=0):
            keys |= set(log.attributes)
    sdk = {key for key in keys if key.startswith("telemetry.sdk.")}
    missing = sorted(key for key in keys - sdk if not _named_in_readme(key))
    assert not missing, f"emitted but not in the README's contract: {missing}"


def _readme_record() -> dict[str, Any]:
    found = re.search(r"A record from the real crash loop.*?```json\n(.*?)```", README, re.S)
    assert found is not None, "the README lost its sample log record"
    sample: dict[str, Any] = json.loads(found.group(1))
    return sample


def test_the_readme_sample_record_is_what_kspan_py_writes(tmp_path: Path) -> None:
    out = tmp_path / "logs.jsonl"
    capture = CAPTURES / "real-1.36" / "crashloop.events.jsonl"
    args = ["replay", str(capture), "--exporter", "otlp-logs-json", "--otlp-logs-json-file"]
    assert main([*args, str(out), "--cluster-name", "prod"]) == 0
    sample = _readme_record()
    written = []
    for line in out.read_text().splitlines():
        for resource in json.loads(line)["resourceLogs"]:
            for scope in resource["scopeLogs"]:
                for record in scope["logRecords"]:
                    shown = {
                        "resource": {
                            a["key"]: next(iter(a["value"].values()))
                            for a in resource["resource"]["attributes"]
                            if not a["key"].startswith("telemetry.sdk.")
                        },
                        **{k: v for k, v in record.items() if k != "observedTimeUnixNano"},
                    }
                    shown["body"] = record["body"]["stringValue"]
                    shown["attributes"] = {
                        a["key"]: int(v["intValue"])
                        if "intValue" in (v := a["value"])
                        else v["stringValue"]
                        for a in record["attributes"]
                    }
                    written.append(shown)
    assert sample in written
    # It points at the BackOff span of repeats, as the README says.
    spans = replay_file(capture)
    holder = next(
        s
        for s in spans
        if s.context is not None and f"{s.context.span_id:016x}" == sample["spanId"]
    )
    assert holder.name == "Pod.BackOff" and len(holder.events) >= 3
