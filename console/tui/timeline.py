"""The rollback timeline across the fleet: every rollback commit of the deploy repos (and every
rollback the guard reported, should its repo be unreadable), with how long it took to detect
the bad revision and to recover from it, and who rolled back.

Times come from the guard's events when it wrote them (detect_s on Rollback, mttr_s on
Recovered); otherwise they are derived from Argo CD's history: the bad revision's
deployStartedAt, the rollback revision's deployedAt. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from console.contract import ROLLBACK_APP, ROLLBACK_OF, ROLLBACK_REASON, ROLLBACK_TO
from console.fleet.durations import recovery, seconds
from console.fleet.history import Commit
from console.fleet.model import App, HistoryEntry
from console.guard import events as ev
from console.tui.store import Store

GUARD_AUTHOR = "gitops-guard"
OPERATOR = "operator "  # how an operator's Rollback-Reason starts: "operator alice: ..."


@dataclass(frozen=True)
class RollbackEntry:
    when: datetime
    app: str
    env: str
    target: str
    of: str  # the bad revision
    to: str  # the known-good revision restored
    sha: str  # the rollback commit ("" when only the guard's event is known)
    reason: str
    detect_s: float | None  # bad revision's deploy started -> rollback decided
    recover_s: float | None  # rollback written -> healthy on it
    mttr_s: float | None  # bad revision's deploy started -> healthy on the rollback
    by: str  # "guard", "operator alice", or the commit's author
    live: bool  # the app runs this rollback commit now


def who(commit: Commit | None, reason: str) -> str:
    """`operator <name>` from an operator's reason, `guard` for the guard's commits, else the
    commit author's name."""
    if reason.startswith(OPERATOR):
        name = reason[len(OPERATOR) :].partition(":")[0].strip()
        return f"operator {name}" if name else "operator"
    if commit is None:
        return "guard"
    author = commit.author.rpartition(" <")[0] or commit.author
    return "guard" if author == GUARD_AUTHOR else author


def _entry(history: Sequence[HistoryEntry], rev: str) -> HistoryEntry | None:
    found = [h for h in history if h.revision == rev]
    return max(found, key=lambda h: h.id) if found else None


@dataclass(frozen=True)
class _Guarded:
    """What the guard's events say about one rollback commit."""

    at: datetime | None = None  # the Rollback event: the commit was pushed
    detect_s: float | None = None
    recovered_at: datetime | None = None  # the Recovered event: healthy on the rollback
    mttr_s: float | None = None
    reason: str = ""


def _from_guard(events: Iterable[ev.Event]) -> tuple[dict[str, _Guarded], dict[str, ev.Event]]:
    """By rollback commit: the guard's Rollback and Recovered facts; and its Rollback events
    by commit, for rollbacks whose commit the console cannot read."""
    facts: dict[str, _Guarded] = {}
    rollbacks: dict[str, ev.Event] = {}
    for event in events:
        commit = str(event.fields.get("commit") or "")
        if not commit:
            continue
        old = facts.get(commit, _Guarded())
        if event.type == ev.ROLLBACK:
            rollbacks[commit] = event
            detect = event.fields.get("detect_s")
            facts[commit] = replace(
                old,
                at=event.at,
                detect_s=float(detect) if isinstance(detect, int | float) else None,
                reason=str(event.fields.get("reason") or ""),
            )
        elif event.type == ev.RECOVERED:
            mttr = event.fields.get("mttr_s")
            facts[commit] = replace(
                old,
                recovered_at=event.at,
                mttr_s=float(mttr) if isinstance(mttr, int | float) else None,
            )
    return facts, rollbacks


def _unhealthy_at(events: Iterable[ev.Event], app: str, bad: str) -> datetime | None:
    times = [
        e.at
        for e in events
        if e.type == ev.UNHEALTHY and e.app == app and e.fields.get("revision") == bad
    ]
    return min(times) if times else None


def timeline(store: Store) -> list[RollbackEntry]:
    """Every rollback known, newest first."""
    apps: dict[str, tuple[str, App]] = {}
    for (target, _), app in sorted(store.apps.items()):
        apps.setdefault(app.name, (target, app))
    guarded, guard_rollbacks = _from_guard(store.guard)
    out: dict[str, RollbackEntry] = {}
    seen_repos: set[str] = set()
    for location in store.repo_of.values():
        repo = store.repos.get(location)
        if repo is None or location in seen_repos:
            continue
        seen_repos.add(location)
        for commit in repo.commits:
            of = commit.trailer(ROLLBACK_OF)
            if of:
                out[commit.sha] = _build(
                    store,
                    apps,
                    guarded,
                    sha=commit.sha,
                    app_name=commit.trailer(ROLLBACK_APP) or "",
                    of=of,
                    to=commit.trailer(ROLLBACK_TO) or "",
                    reason=commit.trailer(ROLLBACK_REASON) or "",
                    when=datetime.fromtimestamp(commit.timestamp, UTC),
                    commit=commit,
                )
    for sha, event in guard_rollbacks.items():
        if sha in out:
            continue
        out[sha] = _build(
            store,
            apps,
            guarded,
            sha=sha,
            app_name=event.app,
            of=str(event.fields.get("bad") or ""),
            to=str(event.fields.get("good") or ""),
            reason=str(event.fields.get("reason") or event.message),
            when=event.at,
            commit=None,
        )
    return sorted(out.values(), key=lambda e: (e.when, e.sha), reverse=True)


def _build(
    store: Store,
    apps: Mapping[str, tuple[str, App]],
    guarded: Mapping[str, _Guarded],
    *,
    sha: str,
    app_name: str,
    of: str,
    to: str,
    reason: str,
    when: datetime,
    commit: Commit | None,
) -> RollbackEntry:
    target, app = apps.get(app_name, ("", None))
    history = app.history if app is not None else ()
    bad, good = _entry(history, of), _entry(history, sha)
    bad_start = bad.deploy_started_at if bad is not None else None
    facts = guarded.get(sha, _Guarded())
    detect = facts.detect_s
    if detect is None:
        detect = seconds(bad_start, _unhealthy_at(store.guard, app_name, of))
    healthy_at = facts.recovered_at or (good.deployed_at if good is not None else None)
    measured = recovery(bad_start, facts.at or when, healthy_at)
    recover = measured.recover_s
    mttr = facts.mttr_s if facts.mttr_s is not None else measured.mttr_s
    current = app is not None and (app.sync_revision == sha)
    return RollbackEntry(
        when=when,
        app=app_name,
        env=app.env if app is not None else "",
        target=target,
        of=of,
        to=to,
        sha=sha,
        reason=reason,
        detect_s=detect,
        recover_s=recover,
        mttr_s=mttr,
        by=who(commit, reason),
        live=current,
    )


def duration(seconds: float | None) -> str:
    """`850ms`, `42s`, `3m05s`, `2h10m`; `-` when unknown."""
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
