"""The rollback decision, as pure functions: what the guard has seen of one app (`Watch`), the
app now (`console.fleet.model.App`), its policy annotations, what Git says of its rollbacks
(`GitFacts`) and the time `now` (seconds since the epoch; the driver passes a clock, tests a
number). No I/O here: the driver (console.guard.controller) fetches, writes and keeps time.

The rule: an app whose deployed revision R is not Healthy is rolled back to its last known-good
revision when, on R,
  - it has been Degraded for the grace period (flapping Degraded <-> Progressing keeps counting:
    only Healthy resets the clock), or
  - it is still Progressing past the deadline after R's deployment started, or
  - its new pods cannot run (an image pull failure, CrashLoopBackOff: what Argo CD's resource
    tree shows Degraded while the app is still Progressing) for the grace period, or
  - its sync failed and stayed failed for the grace period (Argo CD's retries get their chance),
  - or, Healthy, the analysis of its requests failed it (console.guard.analysis).
It never acts when disabled, within the grace period, on a revision Git already records as
rolled back for this app (whoever wrote that), or on a rollback commit: if a rollback's own
revision fails, the known-good is not good any more and the guard halts, loudly, once.

The last known-good revision comes from Argo CD's history and Git alone (the newest earlier
revision in `status.history` that Git does not record as rolled back), so a restarted guard
decides as the one before it did.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

from console.contract import DEADLINE, ENABLED, GRACE
from console.fleet.model import App, Health, Sync
from console.guard.facts import GitFacts

DEFAULT_GRACE_S = 30.0
DEFAULT_DEADLINE_S = 600.0  # Kubernetes' default progressDeadlineSeconds
# Argo CD's SyncError when automated sync would prune every resource (allowEmpty: false).
WIPE_OUT = "auto-sync will wipe out all resources"


@dataclass(frozen=True)
class Policy:
    enabled: bool = False
    grace_s: float = DEFAULT_GRACE_S
    deadline_s: float = DEFAULT_DEADLINE_S
    problem: str = ""  # a misread annotation: the policy is then disabled, and says why

    @classmethod
    def from_annotations(cls, annotations: Mapping[str, str]) -> Policy:
        """The app's policy. Opt-in: without `auto-rollback: "true"` nothing is rolled back, and
        a value that cannot be read disables it rather than guessing."""
        raw = str(annotations.get(ENABLED, "false")).strip().lower()
        if raw not in {"true", "false"}:
            return cls(problem=f'{ENABLED}: "{raw}" is not "true" or "false"')
        seconds: dict[str, float] = {}
        for key, default in ((GRACE, DEFAULT_GRACE_S), (DEADLINE, DEFAULT_DEADLINE_S)):
            text = annotations.get(key)
            try:
                value = float(text) if text is not None else default
            except ValueError:
                return cls(problem=f'{key}: "{text}" is not a number of seconds')
            if not math.isfinite(value) or value < 0:
                return cls(problem=f'{key}: "{text}" is not a number of seconds >= 0')
            seconds[key] = value
        return cls(raw == "true", seconds[GRACE], seconds[DEADLINE])


class Action(StrEnum):
    NONE = "none"
    ROLLBACK = "rollback"
    HALT = "halt"  # a rollback revision fails too: stop and say so, never loop


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    bad: str = ""
    good: str = ""
    wake_at: float | None = None  # decide again then, even if nothing changes
    detect_s: float | None = None  # from the bad revision's deployment start to the decision
    kind: str = ""  # degraded | pods-failing | progress-deadline | sync-failed (metric label)


@dataclass(frozen=True)
class Watch:
    """What the guard has seen of one app (the driver keeps one per app)."""

    revision: str = ""  # the deployed revision being watched
    started_at: float | None = None  # when its deployment started
    degraded_since: float | None = None
    failed_since: float | None = None
    pods_failing_since: float | None = None
    pods_problem: str = ""  # what the failing pods say, for the reason
    healthy: frozenset[str] = field(default_factory=frozenset)  # seen Healthy and Synced
    acted: frozenset[str] = field(default_factory=frozenset)  # rolled back or halted on
    refused: str = ""  # a target revision auto-sync refuses: it would prune everything
    refused_since: float | None = None
    refused_message: str = ""
    # Healthy on `revision` when last seen: a Progressing that follows is a new progression.
    was_healthy: bool = False
    seen_again: bool = False  # the first sight after the guard was blind (`after_outage`)
    analysis_failed: str = ""  # why the analysis of `revision`'s requests failed it


def deployed_revision(app: App) -> str:
    """The revision the app's last (or running) sync deploys (`App.deployed_revision`)."""
    return app.deployed_revision


def _started(app: App, revision: str) -> float | None:
    op = app.operation
    if op is not None and op.revision == revision and op.started_at is not None:
        return op.started_at.timestamp()
    return None


def _wipe_out(app: App) -> tuple[str, str]:
    """The target revision that automated sync refuses to sync because it would prune every
    resource the app runs (Argo CD's `allowEmpty: false`), and its SyncError; ("", "")."""
    if app.sync is not Sync.OUT_OF_SYNC or not app.sync_revision:
        return "", ""
    for condition in app.conditions:
        if condition.type == "SyncError" and WIPE_OUT in condition.message:
            return app.sync_revision, condition.message
    return "", ""


def observe(watch: Watch, app: App, now: float) -> Watch:
    """`watch` after seeing `app` at `now`."""
    target, message = _wipe_out(app)
    if target != watch.refused:
        watch = replace(
            watch, refused=target, refused_since=now if target else None, refused_message=message
        )
    revision = deployed_revision(app)
    if revision != watch.revision:
        # A rollout seen from its start counts from the sync's start. One found under way (the
        # guard or, on the embedded platform, the pods just restarted) counts from now: its
        # history before this moment is not known, and acting on a guess is what must not happen.
        first_sight = not watch.revision
        watch = Watch(
            revision=revision,
            started_at=now if first_sight else (_started(app, revision) or now),
            healthy=watch.healthy,
            acted=watch.acted,
            refused=watch.refused,
            refused_since=watch.refused_since,
            refused_message=watch.refused_message,
        )
    elif watch.started_at is None:
        watch = replace(watch, started_at=_started(app, revision) or now)
    if watch.seen_again:
        watch = replace(watch, started_at=now, seen_again=False)
    if app.health is Health.PROGRESSING and watch.was_healthy:
        # Healthy on this revision, Progressing again without a new one: its pods restarted (or
        # the embedded platform, restarted under a running guard, adopted them and probes them
        # again). Not a rollout stuck since the sync: the whole deadline counts from now.
        watch = replace(watch, started_at=now)
    watch = replace(watch, was_healthy=app.health is Health.HEALTHY)
    op = app.operation
    failed = op is not None and op.revision == revision and op.phase.failed
    # While the revision's sync runs, the app's health is still that of what ran before it (Argo
    # CD assesses the live state): a Degraded then is the previous revision's, not evidence
    # against this one, so its clock starts when the operation has ended.
    syncing = op is not None and op.revision == revision and op.phase.running
    if app.health is Health.HEALTHY:
        watch = replace(watch, degraded_since=None, pods_failing_since=None, pods_problem="")
        if app.sync is Sync.SYNCED and not failed and revision:
            watch = replace(watch, healthy=watch.healthy | {revision})
    elif syncing:
        watch = replace(watch, degraded_since=None)
    elif app.health is Health.DEGRADED and watch.degraded_since is None:
        watch = replace(watch, degraded_since=now)
    if not failed:
        watch = replace(watch, failed_since=None)
    elif watch.failed_since is None:
        watch = replace(watch, failed_since=now)
    return watch


def after_outage(watch: Watch) -> Watch:
    """`watch` once the source answers again after the guard was blind: whatever happened
    meanwhile is not known (on the embedded platform, the platform itself may have restarted and
    its rollouts paused), so a rollout still under way counts its deadline from the next sight,
    as one found under way at start. The Degraded and failing-pods clocks stand."""
    return replace(watch, seen_again=True)


def observe_pods(watch: Watch, revision: str, problems: Sequence[object], now: float) -> Watch:
    """`watch` after reading the resource tree of the app on `revision`: the failing pods (as
    console.fleet.tree.PodProblem, whose str() says what fails) or none."""
    if revision != watch.revision:
        return watch  # the tree of a revision no longer watched
    if not problems:
        return replace(watch, pods_failing_since=None, pods_problem="")
    since = watch.pods_failing_since if watch.pods_failing_since is not None else now
    return replace(watch, pods_failing_since=since, pods_problem=str(problems[0]))


def observe_analysis(watch: Watch, revision: str, failed: str) -> Watch:
    """`watch` after the analysis of `revision`'s requests failed it (`failed` says why)."""
    if revision != watch.revision or not failed:
        return watch  # the verdict on a revision no longer watched
    return replace(watch, analysis_failed=failed)


def may_still_recover(app: App, rollback: str) -> bool:
    """Whether a rollback's recovery can still be seen: the app is on it, or not yet Healthy
    and Synced on anything. An app already settled on a later revision recovered while no
    guard watched, at a time nobody saw: nothing is made up for it."""
    settled = app.health is Health.HEALTHY and app.sync is Sync.SYNCED
    return app.sync_revision in ("", rollback) or not settled


def known_good(app: App, facts: GitFacts, bad: str) -> str:
    """The newest revision in the app's history before `bad` that Git does not record as rolled
    back; "" when there is none."""
    for entry in reversed(app.history):
        revision = entry.revision
        if revision and revision != bad and not facts.is_bad(revision):
            return revision
    return ""


def _symptom(app: App) -> str:
    """What is wrong, in the words of the first unhealthy resource (the failing probe, the
    exceeded deadline) or of the app."""
    for resource in app.resources:
        if resource.health in (Health.DEGRADED, Health.PROGRESSING, Health.MISSING):
            detail = f": {resource.health_message}" if resource.health_message else ""
            return f"{resource.ref} {resource.health.value}{detail}"
    return app.health_message or f"health {app.health.value}"


def _trigger(watch: Watch, app: App, policy: Policy, now: float) -> tuple[str, str, float | None]:
    """Which rule fires and why ("", "" when none), and when to look again otherwise."""
    waits: list[float] = []
    if watch.analysis_failed:  # Healthy, but failing its users: no grace, the window was it
        return "analysis", watch.analysis_failed, None
    if watch.failed_since is not None:
        due = watch.failed_since + policy.grace_s
        if now >= due:
            message = app.operation.message if app.operation else ""
            return (
                "sync-failed",
                f"sync failed for {now - watch.failed_since:.0f}s: {message}",
                None,
            )
        waits.append(due)
    if watch.degraded_since is not None and app.health is Health.DEGRADED:
        due = watch.degraded_since + policy.grace_s
        if now >= due:
            why = f"Degraded for {now - watch.degraded_since:.0f}s: {_symptom(app)}"
            return "degraded", why, None
        waits.append(due)
    if watch.pods_failing_since is not None and app.health is not Health.HEALTHY:
        due = watch.pods_failing_since + policy.grace_s
        if now >= due:
            return (
                "pods-failing",
                f"new pods failing for {now - watch.pods_failing_since:.0f}s: {watch.pods_problem}",
                None,
            )
        waits.append(due)
    if app.health is Health.PROGRESSING and watch.started_at is not None:
        due = watch.started_at + policy.deadline_s
        if now >= due:
            return (
                "progress-deadline",
                f"still Progressing {now - watch.started_at:.0f}s after the sync started "
                f"(deadline {policy.deadline_s:.0f}s): {_symptom(app)}",
                None,
            )
        waits.append(due)
    return "", "", min(waits) if waits else None


def decide(  # noqa: PLR0911 - one return per rule of the decision table
    watch: Watch, app: App, policy: Policy, facts: GitFacts, now: float
) -> Decision:
    """What to do about `app` now. `watch` must already have observed `app`."""
    bad = watch.revision
    if not policy.enabled:
        return Decision(Action.NONE, policy.problem or "auto-rollback is disabled")
    if watch.refused and watch.refused != bad:
        return _decide_wipe_out(watch, app, policy, facts, now)
    if not bad:
        return Decision(Action.NONE, "nothing deployed yet")
    if bad in watch.acted or facts.is_bad(bad):
        return Decision(Action.NONE, f"{bad[:7]} is already rolled back", bad=bad)
    kind, why, wake_at = _trigger(watch, app, policy, now)
    if not why:
        return Decision(Action.NONE, "within policy", bad=bad, wake_at=wake_at)
    detect_s = now - watch.started_at if watch.started_at is not None else None
    if facts.is_rollback(bad):
        return Decision(
            Action.HALT,
            f"the rollback revision {bad[:7]} fails too ({why}); not rolling back again",
            bad=bad,
            detect_s=detect_s,
            kind=kind,
        )
    good = known_good(app, facts, bad)
    if not good:
        return Decision(Action.NONE, f"{why}; but no known-good revision to roll back to", bad=bad)
    return Decision(Action.ROLLBACK, why, bad=bad, good=good, detect_s=detect_s, kind=kind)


def _decide_wipe_out(
    watch: Watch, app: App, policy: Policy, facts: GitFacts, now: float
) -> Decision:
    """A new revision that would remove what serves: automated sync holds the old one, and the
    guard puts Git back to it, as for a failed rollout (the revision deployed is the good one)."""
    bad, since = watch.refused, watch.refused_since if watch.refused_since is not None else now
    if bad in watch.acted or facts.is_bad(bad):
        return Decision(Action.NONE, f"{bad[:7]} is already rolled back", bad=bad)
    if now < since + policy.grace_s:
        return Decision(Action.NONE, "within policy", bad=bad, wake_at=since + policy.grace_s)
    why = f"the new revision {bad[:7]} removes everything the app runs ({watch.refused_message})"
    if facts.is_rollback(bad):
        return Decision(
            Action.HALT,
            f"the rollback revision {bad[:7]} fails too ({why}); not rolling back again",
            bad=bad,
            detect_s=now - since,
            kind="wipes-out",
        )
    deployed = watch.revision
    good = deployed if deployed in watch.healthy else known_good(app, facts, bad)
    if not good:
        return Decision(Action.NONE, f"{why}; but no known-good revision to roll back to", bad=bad)
    return Decision(
        Action.ROLLBACK, why, bad=bad, good=good, detect_s=now - since, kind="wipes-out"
    )
