"""The drill's timeline and its three durations, assembled from `Facts` (pure).

Times come from the records themselves: the drill's push (when `git push` returned), CI's runs
(start plus duration), commit times, Argo CD's history and operation state (whole seconds, as
Argo CD keeps them), the guard's events (milliseconds), and the drill's own observations through
the API (the pods that never became ready, health Degraded, the version serving again).

The durations are console.fleet.durations' (the console's rollback history shares them): the
push is the guard's Rollback event, the sync start Argo CD's operation state.

"Healthy and Synced on the rollback revision" is the guard's Recovered event, which it emits on
the first change of the app it reads after its push returned; without that event, the drill's
own first sight of it through the API (never earlier than the push).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from console.drill.facts import Facts
from console.fleet.durations import Durations, recovery
from console.timestamps import rfc3339_ms

_STAGES = {"test": 0, "build": 1, "promote": 2}
KNOWN_GUARD = frozenset({"Rollback", "Recovered"})  # told as git / argocd entries instead


@dataclass(frozen=True)
class Entry:
    at: datetime
    source: str  # git | ci | argocd | guard | load | drill
    event: str

    def to_json(self) -> dict[str, str]:
        return {"at": rfc3339_ms(self.at), "source": self.source, "event": self.event}


def short(sha: str) -> str:
    return sha[:7]


def pushed_at(facts: Facts) -> datetime | None:
    """When the rollback commit was pushed: the guard's Rollback event."""
    event = facts.rollback_event
    return event.at if event is not None else None


def recovered_at(facts: Facts) -> datetime | None:
    """When the app was Healthy and Synced on the rollback revision (see the module doc)."""
    event = facts.recovered_event
    if event is not None:
        return event.at
    seen, pushed = facts.healthy_on_rollback_at, pushed_at(facts)
    if seen is None:
        return None
    return max(seen, pushed) if pushed is not None else seen


def durations(facts: Facts) -> Durations:
    return recovery(facts.bad_sync_started, pushed_at(facts), recovered_at(facts))


def _ci(facts: Facts) -> list[Entry]:
    out: list[Entry] = []
    tag = short(facts.bad_version)
    for run in sorted(facts.ci_runs, key=lambda r: (r.started_at, _STAGES.get(r.stage, 9))):
        end = run.finished_at
        if end is None:
            continue
        # CI records a stage's start in whole seconds; its stages run one after the other, so
        # one never ends before the one before it.
        if out and end < out[-1].at:
            end = out[-1].at
        took = f" ({run.duration_s:.1f} s)" if run.duration_s is not None else ""
        if run.result != "succeeded":
            out.append(Entry(end, "ci", f"{run.stage} {run.result}{took}"))
        elif run.stage == "test":
            out.append(Entry(end, "ci", f"tests of {tag} passed{took}"))
        elif run.stage == "build":
            out.append(Entry(end, "ci", f"image {tag} built{took}"))
        else:
            out.append(Entry(end, "ci", f"image {tag} promoted into {facts.env}{took}"))
    return out


def _guard(facts: Facts) -> list[Entry]:
    out = []
    since = facts.change.at if facts.change is not None else None
    for event in facts.guard_events:
        if event.type in KNOWN_GUARD or (since is not None and event.at < since):
            continue  # told below; or about what ran before this drill's change
        out.append(Entry(event.at, "guard", f"{event.type}: {event.message}"))
    rollback = facts.rollback_event
    if rollback is not None:
        detect = rollback.fields.get("detect_s")
        if facts.bad_sync_started is not None and isinstance(detect, int | float):
            decided = facts.bad_sync_started + timedelta(seconds=float(detect))
            out.append(
                Entry(decided, "guard", f"rollback decided: {rollback.fields.get('reason', '')}")
            )
        commit = str(rollback.fields.get("commit", ""))
        out.append(
            Entry(
                rollback.at,
                "git",
                f"revert {short(commit)} pushed to the deploy repo "
                f"(Rollback-Of {short(facts.bad_revision)})",
            )
        )
    return out


def _scenario(facts: Facts) -> list[Entry]:
    """What only some scenarios record: pods that cannot run, the platform's kill and restart,
    a push the gate refused."""
    out = []
    if facts.bad_healthy_at is not None:
        out.append(
            Entry(
                facts.bad_healthy_at,
                "argocd",
                f"Healthy and Synced on {short(facts.bad_revision)}: its pods pass readiness",
            )
        )
    if facts.pods_failing_at is not None:
        out.append(
            Entry(
                facts.pods_failing_at,
                "argocd",
                f"new pods cannot run, old pods serving ({facts.pods_failing})",
            )
        )
    if facts.platform_killed_at is not None:
        out.append(Entry(facts.platform_killed_at, "drill", "kill -9 of `gitops up`"))
    if facts.platform_restarted_at is not None:
        out.append(
            Entry(facts.platform_restarted_at, "drill", "`gitops up` restarted and ready again")
        )
    refused = facts.refused_commit
    if refused is not None and facts.refused_at is not None:
        what = "refused by the deploy repo's gate" if facts.refusal else "accepted (!)"
        out.append(
            Entry(
                facts.refused_at,
                "git",
                f'{short(refused.sha)} "{refused.subject}" pushed to the deploy repo: {what}',
            )
        )
    return out


def assemble(facts: Facts) -> list[Entry]:
    """The drill's timeline, oldest first (entries at the same time keep the order of the story)."""
    entries: list[Entry] = []
    load = facts.load
    if load.started_at is not None:
        entries.append(
            Entry(load.started_at, "load", f"load started: {load.rate:g} requests/s to {load.url}")
        )
    if facts.change is not None:
        entries.append(
            Entry(
                facts.change.at,
                "git",
                f'{short(facts.change.sha)} pushed to the apps repo: "{facts.change.subject}"',
            )
        )
    entries += _ci(facts)
    if facts.promotion is not None:
        entries.append(
            Entry(
                facts.promotion.at,
                "git",
                f"promotion {short(facts.promotion.sha)} into overlays/{facts.env}",
            )
        )
    if facts.bad_sync_started is not None:
        entries.append(
            Entry(
                facts.bad_sync_started,
                "argocd",
                f"sync of {short(facts.bad_revision)} started; rollout begins",
            )
        )
    if facts.pods_not_ready_at is not None:
        entries.append(
            Entry(
                facts.pods_not_ready_at,
                "argocd",
                "new pods not ready; rollout halted, old pods serving"
                + (f" ({facts.pods_not_ready})" if facts.pods_not_ready else ""),
            )
        )
    if facts.degraded_at is not None:
        entries.append(
            Entry(facts.degraded_at, "argocd", f"health Degraded on {short(facts.bad_revision)}")
        )
    entries += _scenario(facts)
    entries += _guard(facts)
    if facts.rollback is not None and facts.rollback_sync_started is not None:
        entries.append(
            Entry(
                facts.rollback_sync_started,
                "argocd",
                f"sync of {short(facts.rollback.sha)} started",
            )
        )
    recovered = recovered_at(facts)
    if facts.rollback is not None and recovered is not None:
        entries.append(
            Entry(
                recovered,
                "argocd",
                f"Healthy and Synced on {short(facts.rollback.sha)}: the known-good content",
            )
        )
    if facts.version_restored_at is not None and facts.final_version:
        entries.append(
            Entry(
                facts.version_restored_at,
                "load",
                f"/version answers {short(facts.final_version)}"
                + (" again" if facts.final_version == facts.good_version else ""),
            )
        )
    if load.stopped_at is not None:
        entries.append(
            Entry(
                load.stopped_at,
                "load",
                f"load stopped: {load.total} requests sent, {load.failed} failed",
            )
        )
    # A stable sort: ties keep the order above, which is the order of the story.
    return sorted(entries, key=lambda e: e.at)


def render(entries: list[Entry], origin: datetime | None = None) -> list[str]:
    """One line per entry: `hh:mm:ss.mmm  +elapsed  source  event`."""
    lines = []
    for e in entries:
        offset = f"+{(e.at - origin).total_seconds():7.3f}s  " if origin is not None else ""
        lines.append(f"{rfc3339_ms(e.at)[11:23]}  {offset}{e.source:<6}  {e.event}")
    return lines
