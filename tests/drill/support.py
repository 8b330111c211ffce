"""A drill's facts as a real run records them, for the pure parts' tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from console.drill.facts import CIRun, Commit, Facts, Policy
from console.drill.load import Failure, LoadStats
from console.guard.events import Event

T0 = datetime(2026, 8, 1, 12, 0, 0, tzinfo=UTC)  # the drill starts
GOOD_REV = "a" * 40  # deploy repo: what frontend-dev ran
GOOD_VERSION = "1" * 40  # apps repo: the build it served
BAD_VERSION = "2" * 40  # apps repo: the drill's change
BAD_REV = "b" * 40  # deploy repo: its promotion
ROLLBACK = "c" * 40  # deploy repo: the guard's revert
REASON = "still Progressing 12s after the sync started (deadline 12s): apps/Deployment ..."


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def event(seconds: float, type_: str, **fields: Any) -> Event:
    return Event(at(seconds), type_, "frontend-dev", f"{type_} message", fields)


def rollback_event(seconds: float = 40.5, detect_s: float = 12.25) -> Event:
    return event(
        seconds,
        "Rollback",
        bad=BAD_REV,
        good=GOOD_REV,
        commit=ROLLBACK,
        reason=REASON,
        kind="progress-deadline",
        detect_s=detect_s,
        attempts=1,
    )


def recovered_event(seconds: float = 42.0) -> Event:
    return event(seconds, "Recovered", commit=ROLLBACK, mttr_s=14.0)


def facts(**overrides: Any) -> Facts:
    """A passing drill: the bad revision's sync starts at +28 s (whole seconds, as Argo CD
    keeps it), the rollback is pushed at +40.5 s, Recovered at +42 s."""
    base = Facts(
        drill_id="20260801T120000Z-abcd",
        app="frontend-dev",
        env="dev",
        service="frontend",
        workspace=Path("/tmp/ws"),
        started_at=T0,
        finished_at=at(45),
        good_revision=GOOD_REV,
        good_version=GOOD_VERSION,
        good_semver="0.1.0",
        replicas=1,
        policy=Policy("true", "2", "12"),
        owner="@acme/platform",
        apps_remote="/tmp/ws/remotes/platform-apps.git",
        deploy_remote="/tmp/ws/remotes/platform-deploy.git",
        change=Commit(BAD_VERSION, "feat(frontend): authenticate", at(11.25)),
        change_files=("src/probe/frontend.py",),
        what_changed="readiness requires BACKEND_TOKEN",
        why_ci_passed="the tests set it",
        ci_runs=(
            CIRun("test", "succeeded", at(11), 8.5),
            CIRun("build", "succeeded", at(19), 0.0),  # recorded in whole seconds: before test
            CIRun("promote", "succeeded", at(20), 2.0),
        ),
        promotion=Commit(
            BAD_REV,
            "chore(deploy): promote backend, frontend 2222222 to dev",
            at(21),
            (("Promoted-Service", "frontend"), ("Source-Commit", BAD_VERSION)),
        ),
        bad_sync_started=at(28),
        pods_not_ready_at=at(29.2),
        pods_not_ready="frontend-new Running 0/1; frontend-old ready and serving",
        min_ready=1,
        degraded_at=at(41.0),
        guard_events=(
            event(5, "Unhealthy", revision="f" * 40),  # before the change: not this drill's
            rollback_event(),
            recovered_event(),
        ),
        rollback=Commit(
            ROLLBACK,
            f"revert(frontend-dev): roll back {BAD_REV[:7]} to {GOOD_REV[:7]}",
            at(38),
            (
                ("Rollback-Of", BAD_REV),
                ("Rollback-To", GOOD_REV),
                ("Rollback-App", "frontend-dev"),
                ("Rollback-Reason", REASON),
            ),
        ),
        rollback_count=1,
        rollback_sync_started=at(41),
        healthy_on_rollback_at=at(41.9),
        version_restored_at=at(42.1),
        final_version=GOOD_VERSION,
        final_healthy_synced=True,
        load=LoadStats(
            url="http://127.0.0.1:9999/version",
            rate=25.0,
            total=800,
            ok=800,
            failed=0,
            served_by=((GOOD_VERSION, 800),),
            started_at=at(10),
            stopped_at=at(42.2),
        ),
    )
    return replace(base, **overrides)


def failing_load(failed: int, total: int = 800) -> LoadStats:
    return LoadStats(
        url="http://127.0.0.1:9999/version",
        rate=25.0,
        total=total,
        ok=total - failed,
        failed=failed,
        timeouts=failed,
        first_failures=(Failure(at(28.5), "timeout after 2s"),),
        served_by=((GOOD_VERSION, total - failed),),
        started_at=at(10),
        stopped_at=at(42.2),
    )
