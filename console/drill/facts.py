"""What a drill recorded: plain, frozen data gathered by the runner (console.drill.runner) from the
platform's own records (Git, Argo CD's application history and operation state, CI runs, the
guard's events) and from the drill's own observations (the load generator, the resource tree).
Everything downstream (the timeline, the durations, the verdict, the post-mortem, the JSON) is a
pure function of a `Facts`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from console.contract import ANALYSIS_SECONDS, DEADLINE, ENABLED, GRACE
from console.drill.load import LoadStats
from console.guard.events import Event


def utc(timestamp: float) -> datetime:
    """Seconds since the epoch as an aware UTC datetime."""
    return datetime.fromtimestamp(timestamp, UTC)


@dataclass(frozen=True)
class CIRun:
    """One stage of one CI run, as `/api/ci/runs` reports it."""

    stage: str  # test | build | promote
    result: str  # running | succeeded | failed | skipped
    started_at: datetime
    duration_s: float | None = None
    log_path: str = ""

    @property
    def finished_at(self) -> datetime | None:
        if self.duration_s is None or self.result == "running":
            return None
        return self.started_at + timedelta(seconds=self.duration_s)


@dataclass(frozen=True)
class Commit:
    """A commit as the drill tells it: `at` is when it happened (the push for the drill's own
    change, the commit time otherwise)."""

    sha: str
    subject: str
    at: datetime
    trailers: tuple[tuple[str, str], ...] = ()

    def trailer(self, key: str) -> str:
        values = [v for k, v in self.trailers if k.lower() == key.lower()]
        return values[-1] if values else ""


@dataclass(frozen=True)
class Policy:
    """The app's rollback policy, as its annotations say it (strings, as written)."""

    enabled: str = ""
    grace_s: str = ""
    deadline_s: str = ""
    analysis_s: str = ""

    @classmethod
    def of(cls, annotations: Mapping[str, str]) -> Policy:
        return cls(
            enabled=annotations.get(ENABLED, ""),
            grace_s=annotations.get(GRACE, ""),
            deadline_s=annotations.get(DEADLINE, ""),
            analysis_s=annotations.get(ANALYSIS_SECONDS, ""),
        )

    @property
    def stuck_after_s(self) -> float:
        """How long a rollout may be Progressing before the guard acts on it: the progress
        deadline and the grace period (0 when either cannot be read)."""
        try:
            return float(self.deadline_s) + float(self.grace_s)
        except ValueError:
            return 0.0


@dataclass(frozen=True)
class Facts:
    drill_id: str
    app: str  # the Application the drill breaks, e.g. frontend-dev
    env: str
    service: str
    workspace: Path
    started_at: datetime
    finished_at: datetime
    scenario: str = "readiness"  # console.drill.scenarios
    # Before the change: what runs, and how it is deployed.
    good_revision: str = ""  # the deploy-repo revision the app was Healthy and Synced on
    good_version: str = ""  # the commit the serving build came from (/version `revision`)
    good_semver: str = ""  # its /version `version`
    replicas: int = 0  # ready pods before the change
    policy: Policy = field(default_factory=Policy)
    owner: str = ""  # who owns the follow-ups (repos.yaml `codeowners`)
    apps_remote: str = ""
    deploy_remote: str = ""
    # The change.
    change: Commit | None = None  # in the apps repo; `at` is when the push returned
    change_files: tuple[str, ...] = ()
    what_changed: str = ""
    why_ci_passed: str = ""
    follow_ups: tuple[str, ...] = ()  # "{source}" is the change's short sha
    bad_tag: str = ""  # the image tag promoted without a change of the apps repo (bad-image)
    ci_runs: tuple[CIRun, ...] = ()
    promotion: Commit | None = None  # the bad revision, in the deploy repo
    # What the platform did.
    bad_sync_started: datetime | None = None  # Argo CD: history deployStartedAt / startedAt
    pods_not_ready_at: datetime | None = None  # seen by the drill in the resource tree
    pods_not_ready: str = ""  # which pods, as the tree says
    min_ready: int | None = None  # fewest ready pods seen while the bad revision was deployed
    degraded_at: datetime | None = None  # seen by the drill: health Degraded on the bad revision
    bad_healthy_at: datetime | None = None  # seen by the drill: Healthy on the bad revision
    pods_failing_at: datetime | None = None  # seen by the drill: a new pod that cannot run
    pods_failing: str = ""  # which pods, with their status (CrashLoopBackOff, ImagePullBackOff)
    platform_killed_at: datetime | None = None  # kill -9 of `gitops up` (platform-crash)
    platform_restarted_at: datetime | None = None  # the restarted platform ready again
    # A push the deploy repo's gate refused (broken-manifest).
    refused_commit: Commit | None = None  # never on the remote: the commit as it was pushed
    refused_at: datetime | None = None
    refusal: str = ""  # what the gate said
    refused_overlay: str = ""  # the overlay the commit broke, e.g. overlays/dev/frontend
    deploy_head_before: str = ""
    deploy_head_after: str = ""
    guard_events: tuple[Event, ...] = ()  # the app's, since the drill started
    rollback: Commit | None = None  # the rollback commit of the bad revision (Rollback-Of)
    rollback_count: int = 0  # rollback commits of the bad revision, any app
    rollback_sync_started: datetime | None = None
    healthy_on_rollback_at: datetime | None = None  # seen by the drill through the API
    restored_by: str = ""  # the drill's own rollback commit, when the guard wrote none
    version_restored_at: datetime | None = None
    # At the end.
    final_version: str = ""  # /version `revision` after recovery
    final_healthy_synced: bool = False  # Healthy and Synced on the rollback revision
    load: LoadStats = field(default_factory=LoadStats)
    error: str = ""  # what did not happen, when the drill stopped early
    interrupted: bool = False

    @property
    def bad_revision(self) -> str:
        return self.promotion.sha if self.promotion else ""

    @property
    def bad_version(self) -> str:
        """The bad build's image tag: the drill's apps-repo commit, or the tag it promoted."""
        return self.change.sha if self.change else self.bad_tag

    def guard(self, type_: str) -> list[Event]:
        """The guard's events of `type_` about this drill's bad revision (or its rollback)."""
        wanted = {self.bad_revision, self.rollback.sha if self.rollback else ""} - {""}
        out = []
        for event in self.guard_events:
            if event.type != type_:
                continue
            fields = event.fields
            refs = {str(fields.get(k, "")) for k in ("bad", "revision", "commit")}
            if wanted & refs:
                out.append(event)
        return out

    @property
    def rollback_event(self) -> Event | None:
        """The guard's Rollback event for this drill's rollback commit."""
        for event in self.guard("Rollback"):
            if self.rollback is None or event.fields.get("commit") == self.rollback.sha:
                return event
        return None

    @property
    def recovered_event(self) -> Event | None:
        if self.rollback is None:
            return None
        for event in self.guard("Recovered"):
            if event.fields.get("commit") == self.rollback.sha:
                return event
        return None
