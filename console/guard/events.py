"""The guard's events: what it saw and did, for operators (the console's events pane, `/events`)
and for the record. Each event is also one structured (JSON) log line, and appended to a JSON
Lines file when one is given, so a console can follow it and a post-mortem can be written from
it. The Git history alone is enough to rebuild the rollback timeline; events add what Git cannot
know (detection times, retries, halts)."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from console.fleet.history import Rollback
from console.timestamps import rfc3339_ms

log = logging.getLogger("gitops.guard")

# Event types, in the words the console shows.
WATCHING = "Watching"  # the guard (re)started and read the fleet
SOURCE_DOWN = "SourceDown"  # Argo CD unreachable: no decisions until it is back
SOURCE_UP = "SourceUp"
UNHEALTHY = "Unhealthy"  # a rule started counting (Degraded, failed sync, Progressing)
ROLLBACK = "Rollback"  # a rollback commit was pushed
ALREADY = "AlreadyRolledBack"  # someone else rolled this revision back first
RETRY = "RollbackRetry"  # writing or pushing failed for now; retrying with backoff
FAILED = "RollbackFailed"  # stopped: the known-good fails too, or the push was refused
NO_KNOWN_GOOD = "NoKnownGood"  # unhealthy, but nothing to roll back to
RECOVERED = "Recovered"  # Healthy and Synced again on the rollback revision
COMPARISON_ERROR = "ComparisonError"  # a revision cannot be rendered: not deployed, old one runs
# The analysis of a Healthy revision's requests (console.guard.analysis): under way, and its end.
ANALYSIS = "Analysis"
ANALYSIS_PASSED = "AnalysisPassed"
ANALYSIS_FAILED = "AnalysisFailed"  # rolled back as any failed rollout is
ANALYSIS_INCONCLUSIVE = "AnalysisInconclusive"  # too little traffic: no verdict, no rollback

WARNINGS = frozenset(
    {SOURCE_DOWN, RETRY, FAILED, NO_KNOWN_GOOD, UNHEALTHY, COMPARISON_ERROR, ANALYSIS_FAILED}
)


@dataclass(frozen=True)
class Event:
    at: datetime
    type: str
    app: str
    message: str
    fields: Mapping[str, Any] = field(default_factory=dict)

    @property
    def warning(self) -> bool:
        return self.type in WARNINGS

    def to_json(self) -> dict[str, Any]:
        return {
            "at": rfc3339_ms(self.at),
            "type": self.type,
            "app": self.app,
            "message": self.message,
            **({"fields": dict(self.fields)} if self.fields else {}),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Event:
        return cls(
            at=datetime.fromisoformat(str(data["at"]).replace("Z", "+00:00")),
            type=str(data["type"]),
            app=str(data.get("app", "")),
            message=str(data.get("message", "")),
            fields=dict(data.get("fields") or {}),
        )


class EventLog:
    """The newest `keep` events in memory, each logged and optionally appended to `path`."""

    def __init__(
        self,
        path: Path | None = None,
        *,
        keep: int = 1000,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.path = path
        self._events: deque[Event] = deque(maxlen=keep)
        self._clock = clock
        self._lock = threading.Lock()
        self.listeners: list[Callable[[Event], None]] = []
        # (type, app, commit) of every event with a commit, this run's and the file's earlier
        # ones: what a restarted guard has said already.
        self._commits: set[tuple[str, str, str]] = set()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            for event in read_events(path):
                self._remember(event)

    def _remember(self, event: Event) -> None:
        commit = event.fields.get("commit")
        if commit:
            self._commits.add((event.type, event.app, str(commit)))

    def said(self, type_: str, app: str, commit: str) -> bool:
        """Whether an event of `type_` about `commit` of `app` was emitted (in this run, or in
        the events file by an earlier one)."""
        with self._lock:
            return (type_, app, commit) in self._commits

    def rollback_from_git(self, app: str, rb: Rollback) -> Event:
        """The Rollback a guard stopped between its push and its event never told, from the
        commit's trailers (`reconstructed`)."""
        return self.emit(
            ROLLBACK,
            app,
            f"rolled back {rb.of[:7]} to {rb.to[:7]}: {rb.reason} (recorded from Git: the "
            "guard stopped before it said so)",
            bad=rb.of,
            good=rb.to,
            commit=rb.sha,
            reason=rb.reason,
            reconstructed=True,
        )

    def emit(self, type_: str, app: str, message: str, /, **fields: Any) -> Event:
        event = Event(self._clock(), type_, app, message, fields)
        line = json.dumps(event.to_json(), separators=(",", ":"), default=str)
        log.log(logging.WARNING if event.warning else logging.INFO, "%s", line)
        with self._lock:
            self._events.append(event)
            self._remember(event)
            if self.path is not None:
                # O_APPEND: whole lines even if a reader follows the file meanwhile.
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                try:
                    os.write(fd, (line + "\n").encode())
                finally:
                    os.close(fd)
        for listener in self.listeners:
            listener(event)
        return event

    def recent(self, limit: int | None = None, app: str | None = None) -> list[Event]:
        with self._lock:
            events = [e for e in self._events if app is None or e.app == app]
        return events[-limit:] if limit else events


def read_events(path: Path) -> list[Event]:
    """Events from a JSON Lines file; a torn last line (a crash mid-write) is skipped."""
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(Event.from_json(json.loads(line)))
        except (ValueError, KeyError, TypeError):
            continue
    return out


ANALYSIS_STATES = {
    ANALYSIS: "running",
    ANALYSIS_PASSED: "passed",
    ANALYSIS_FAILED: "failed",
    ANALYSIS_INCONCLUSIVE: "inconclusive",
}


def analysis_of(events: Sequence[Event], app: str, revision: str) -> tuple[str, str] | None:
    """The analysis of `app` on `revision` as the newest of its events says it: (state, what
    was said), the state one of running, passed, failed, inconclusive; None when none ran."""
    for event in reversed(events):
        state = ANALYSIS_STATES.get(event.type)
        if state and event.app == app and event.fields.get("revision") == revision:
            return state, event.message
    return None
