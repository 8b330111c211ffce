"""The drill's steps as it announces them while it runs: what a UI renders (the console's event
pane) and what `gitops demo --headless` prints, one line each."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Phase(StrEnum):
    """Where the drill is. A step's phase is stable: a UI may key on it."""

    SETUP = "setup"  # the workspace
    PLATFORM = "platform"  # `gitops up` starting (its own progress lines)
    BASELINE = "baseline"  # every app Synced and Healthy: the known-good version
    LOAD = "load"  # the load generator
    CHANGE = "change"  # the bad commit pushed to the apps repo
    CI = "ci"  # CI's stages
    PROMOTION = "promotion"  # the promotion commit in the deploy repo
    SYNC = "sync"  # Argo CD syncing the bad revision
    PODS = "pods"  # new pods not ready, the rollout halted
    HEALTH = "health"  # health changes of the app
    GUARD = "guard"  # the guard's events
    ROLLBACK = "rollback"  # the rollback commit
    REFUSED = "refused"  # a push the Git host's gate refused (broken-manifest)
    RECOVERY = "recovery"  # Healthy and Synced on the rollback, the known-good version serving
    REPORT = "report"  # timeline, post-mortem, verdict
    STOP = "stop"  # stopping the load and the platform
    ERROR = "error"  # what did not happen


@dataclass(frozen=True)
class Step:
    phase: Phase
    message: str
    at: datetime  # when the drill announced it (UTC)
    elapsed_s: float  # since the drill started
    data: Mapping[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        """`[  12.3s] phase     message`: what --headless prints."""
        return f"[{self.elapsed_s:7.1f}s] {self.phase.value:<9} {self.message}"
