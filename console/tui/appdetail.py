"""One app in depth, as data: its Argo CD history joined with the deploy repo's commits
(author, subject, trailers, the tag pinned at each revision), and the facts the detail screen
lists (operation, auto-sync, probe). Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from console.contract import ROLLBACK_OF
from console.fleet.history import Commit
from console.fleet.model import App
from console.tui.fleetview import AppFacts
from console.tui.store import RepoFacts, Store


@dataclass(frozen=True)
class HistoryLine:
    id: int
    revision: str
    deployed_at: datetime | None
    started_at: datetime | None
    initiated_by: str  # "auto", or the user who synced
    commit: Commit | None  # None: the deploy repo is not read, or does not hold it
    tag: str | None  # the image tag the overlay pins at this revision, when read
    current: bool  # the revision the app is at now

    @property
    def rollback(self) -> bool:
        return self.commit is not None and bool(self.commit.trailer(ROLLBACK_OF))

    @property
    def committed_at(self) -> datetime | None:
        if self.commit is None:
            return None
        return datetime.fromtimestamp(self.commit.timestamp, UTC)


def history_lines(facts: AppFacts, store: Store) -> list[HistoryLine]:
    """The app's history, newest first, each entry joined with its deploy-repo commit."""
    app = facts.app
    location = store.repo_of.get(facts.target)
    repo: RepoFacts | None = store.repos.get(location) if location is not None else None
    path = app.source.path if app.source is not None else ""
    lines = []
    for entry in sorted(app.history, key=lambda h: h.id, reverse=True):
        rev = entry.revision or next(iter(entry.revisions), "")
        lines.append(
            HistoryLine(
                id=entry.id,
                revision=rev,
                deployed_at=entry.deployed_at,
                started_at=entry.deploy_started_at,
                initiated_by="auto"
                if entry.automated or not entry.initiated_by
                else entry.initiated_by,
                commit=repo.by_sha.get(rev) if repo is not None else None,
                tag=store.pins.get((location, rev, path)) if location is not None else None,
                current=rev == app.sync_revision,
            )
        )
    return lines


def auto_sync_label(app: App) -> str:
    """`on (prune, self-heal)`, `on`, or `off`."""
    if not app.auto_sync:
        return "off"
    extras = [name for name, on in (("prune", app.prune), ("self-heal", app.self_heal)) if on]
    return f"on ({', '.join(extras)})" if extras else "on"
