"""The checkpoint: what a restarted process needs to export every occurrence exactly once.

A restart lists the cluster again, so it sees again every Event the API server still keeps,
and the graph links them again (it needs them as context). What it must not do is export
again what the previous process already delivered, nor skip what that process had seen but not
yet exported (pending in the window, or queued for a sink). So the checkpoint keeps:

- the export floor (``since``) of the first run, so that a restart does not export the history
  older than that run's start;
- the span ids already delivered to every sink, with their event time, for as long as the API
  server keeps Events (after that no restart can see them again);
- the last resourceVersion of each watch (what it had read, for the operator: a restart lists
  anyway, since the object store lives in memory).

The file is replaced atomically (write, fsync, rename) every ``checkpoint_every_s``; between two
such writes each delivery is appended to a journal beside it (``FILE.journal``) as soon as the
sinks took it, so a ``kill -9`` loses at most a delivery whose journal line was being written.
A delivery the sinks took just before the kill and that was not yet journalled is exported again
after the restart, with the same deterministic ids, which a backend merges.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from opentelemetry.sdk.trace import ReadableSpan

from kspan_py.spans.building import KubeSpan

log = logging.getLogger(__name__)

_FORMAT = 1


class CheckpointError(ValueError):
    """The state file exists but cannot be used; the message says why and where."""


@dataclass(slots=True)
class Checkpoint:
    since_ns: int
    resource_versions: dict[str, str] = field(default_factory=dict)
    exported: dict[int, int] = field(default_factory=dict)
    """span id -> the span's start (event time)."""


class CheckpointFile:
    """Reads and writes one checkpoint and its journal."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.journal_path = Path(f"{path}.journal")
        self._journal: int | None = None

    def load(self) -> Checkpoint | None:
        """The saved checkpoint with its journal applied; None when there is none yet."""
        if not self.path.exists() and not self.journal_path.exists():
            return None
        checkpoint = Checkpoint(since_ns=0)
        if self.path.exists():
            self._read_state(checkpoint)
        applied = 0
        if self.journal_path.exists():
            for line in self.journal_path.read_bytes().splitlines():
                try:
                    entries = orjson.loads(line)
                    for span, time in entries:
                        checkpoint.exported[int(span, 16)] = int(time)
                except (orjson.JSONDecodeError, TypeError, ValueError):
                    # The line a kill interrupted: its delivery is exported again, same ids.
                    log.warning("%s: skipped a torn journal line", self.journal_path)
                    continue
                applied += 1
        log.info(
            "checkpoint %s: %d spans already exported, %d journal entries",
            self.path,
            len(checkpoint.exported),
            applied,
        )
        return checkpoint

    def _read_state(self, checkpoint: Checkpoint) -> None:
        try:
            body = orjson.loads(self.path.read_bytes())
        except (OSError, orjson.JSONDecodeError) as error:
            raise CheckpointError(f"{self.path}: unreadable checkpoint ({error})") from None
        version = body.get("format") if isinstance(body, dict) else None
        if version != _FORMAT:
            raise CheckpointError(f"{self.path}: unknown format {version!r}")
        try:
            checkpoint.since_ns = int(body["since_ns"])
            checkpoint.resource_versions = {
                str(k): str(v) for k, v in body.get("resource_versions", {}).items()
            }
            checkpoint.exported = {
                int(span, 16): int(time) for span, time in body.get("exported", {}).items()
            }
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise CheckpointError(f"{self.path}: unreadable checkpoint ({error})") from None

    def journal(self, entries: Sequence[tuple[int, int]]) -> None:
        """Append one delivery; one write call, so a kill tears at most this line."""
        if not entries:
            return
        if self._journal is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._journal = os.open(
                self.journal_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600
            )
        line = orjson.dumps([[f"{span:016x}", time] for span, time in entries]) + b"\n"
        os.write(self._journal, line)

    def save(self, checkpoint: Checkpoint) -> None:
        """Replace the file atomically, then start the journal afresh."""
        body = {
            "format": _FORMAT,
            "since_ns": checkpoint.since_ns,
            "resource_versions": checkpoint.resource_versions,
            "exported": {f"{span:016x}": time for span, time in checkpoint.exported.items()},
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(orjson.dumps(body))
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        # Everything journalled is in the file now. A kill between the rename and this
        # truncation replays entries the file already has: harmless.
        if self._journal is not None:
            os.ftruncate(self._journal, 0)
        elif self.journal_path.exists():
            self.journal_path.unlink()

    def close(self) -> None:
        if self._journal is not None:
            os.close(self._journal)
            self._journal = None


class ExportGate:
    """Decides which finished spans go to the sinks: none before ``since``, none twice."""

    def __init__(self, since_ns: int, exported: dict[int, int] | None = None) -> None:
        self.since_ns = since_ns
        self.exported = exported if exported is not None else {}
        self.held_back = 0  # spans before since: context only
        self.already_exported = 0

    def admit(self, spans: Iterable[ReadableSpan]) -> list[ReadableSpan]:
        admitted = []
        exported = self.exported
        for span in spans:
            assert span.start_time is not None
            # A span of repeats holds several occurrences: it is a duplicate only when every
            # one of them went out already (a restart re-lists an Event at its latest count).
            if all(span_id in exported for span_id, _ in _occurrences(span)):
                self.already_exported += 1
            elif span.start_time < self.since_ns:
                self.held_back += 1
            else:
                admitted.append(span)
        return admitted

    def delivered(self, spans: Sequence[ReadableSpan]) -> list[tuple[int, int]]:
        """Note spans every sink took; returns the entries to journal."""
        entries = []
        for span in spans:
            for span_id, start_ns in _occurrences(span):
                entries.append((span_id, start_ns))
                self.exported[span_id] = start_ns
        return entries

    def forget_before(self, time_ns: int) -> None:
        """Drop spans older than any Event the API server still keeps."""
        stale = [span for span, start in self.exported.items() if start < time_ns]
        for span in stale:
            del self.exported[span]


def _occurrences(span: ReadableSpan) -> list[tuple[int, int]]:
    """(id, time) of each occurrence a span stands for: its own id, and its folded repeats'."""
    if isinstance(span, KubeSpan):
        return span.draft.occurrences()
    assert span.context is not None and span.start_time is not None
    return [(span.context.span_id, span.start_time)]
