"""What a drill is asked to do: its workspace, its load and how long each of its waits may take."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from console.drill.load import DEFAULT_RATE, DEFAULT_TIMEOUT_S
from console.local.last_workspace import state_file


@dataclass(frozen=True)
class Deadlines:
    """How long each wait may take, in seconds."""

    platform_s: float = 900.0  # a first start scaffolds, runs CI and deploys everything
    baseline_s: float = 180.0  # every service app Synced and Healthy
    first_answer_s: float = 15.0  # the load generator's first successful answer
    ci_s: float = 600.0  # test, build and promote of the change
    promotion_s: float = 60.0  # the promotion commit in the deploy repo after CI promoted
    sync_s: float = 90.0  # the app syncing the bad revision
    rollback_s: float = 120.0  # the rollback commit, after the bad sync started (+ deadline)
    recover_s: float = 120.0  # Healthy and Synced on the rollback revision
    version_s: float = 30.0  # /version naming the known-good build again
    recovered_event_s: float = 15.0  # the guard's Recovered event
    stop_s: float = 120.0  # the platform stopping after SIGTERM


@dataclass(frozen=True)
class DrillOptions:
    workspace: Path | None = None  # None: $XDG_STATE_HOME/gitops/demos/<drill id>, new
    config: Path = Path("repos.yaml")
    keep: bool = False  # leave the platform running afterwards
    scenario: str = "readiness"  # console.drill.scenarios
    rate: float = DEFAULT_RATE
    request_timeout_s: float = DEFAULT_TIMEOUT_S
    deadlines: Deadlines = field(default_factory=Deadlines)


class DrillUsageError(ValueError):
    """The drill cannot start as asked (a workspace in use, not a directory): exit 2."""


class DrillError(RuntimeError):
    """Something the drill needs did not happen; the message says what."""


def demos_root() -> Path:
    """$XDG_STATE_HOME/gitops/demos (default ~/.local/state/gitops/demos)."""
    return state_file().parent / "demos"


def new_drill_id(now: datetime) -> str:
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"
