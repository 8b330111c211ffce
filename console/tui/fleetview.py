"""The fleet matrix as data: apps, live versions and deploy-repo commits joined into facts, then
laid out as rows (services) by columns (environments in promotion order), filtered and sorted,
and each cell rendered as text.

Pure: no I/O, no Textual. The clock is an argument. The widget (widgets/matrix.py) only places
what this module computes, and compares cell signatures to update just the cells that changed.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from rich.text import Text

from console.fleet.display import HEALTH_SYMBOLS, SYNC_SYMBOLS, age, image_tag, short
from console.fleet.history import PROMOTED_SERVICE, ROLLBACK_APP, ROLLBACK_OF, Commit
from console.fleet.model import App, Health, Sync
from console.fleet.status import ENV_ORDER, deployed_at, revision
from console.tui.store import AppId, RepoFacts, Store

SortMode = Literal["name", "health", "recent"]
SORT_MODES: tuple[SortMode, ...] = ("name", "health", "recent")
NONE = "-"
CELL_WIDTH = 25  # the widest first line: "↻ Progressing ⇡ OutOfSync"
DRIFT, ROLLBACK = "≠ drift", "↺ rollback"

# Worst first, for the "health" sort: what an operator must look at comes to the top.
HEALTH_RANK = {
    Health.DEGRADED: 0,
    Health.MISSING: 1,
    Health.UNKNOWN: 2,
    Health.PROGRESSING: 3,
    Health.SUSPENDED: 4,
    Health.HEALTHY: 5,
}
HEALTH_STYLE = {
    Health.HEALTHY: "green",
    Health.PROGRESSING: "cyan",
    Health.DEGRADED: "bold red",
    Health.SUSPENDED: "magenta",
    Health.MISSING: "yellow",
    Health.UNKNOWN: "dim",
}
SYNC_STYLE = {Sync.SYNCED: "green", Sync.OUT_OF_SYNC: "yellow", Sync.UNKNOWN: "dim"}


@dataclass(frozen=True)
class AppFacts:
    """Everything the console knows about one app, joined from its sources."""

    target: str
    app: App
    desired: str | None  # the tag Git pins at the app's revision (or the summary's, see below)
    desired_from: Literal["git", "image", ""]  # where `desired` came from
    image: str | None  # the tag of the first image the app runs (status.summary.images)
    live: str | None  # the /version answer
    rollback: Commit | None  # the commit the app runs, when it is a rollback commit
    deployed_at: datetime | None
    stale_since: datetime | None  # the target is down: its data is as of this moment

    @property
    def id(self) -> AppId:
        return (self.target, self.app.key)

    @property
    def drift(self) -> bool:
        return drifted(self.desired, self.image, self.live)


def same_version(a: str, b: str) -> bool:
    """Two version strings name the same build: equal, or one a 7+ character prefix of the
    other (a short sha against a full one)."""
    if a == b:
        return True
    shorter, longer = sorted((a, b), key=len)
    return len(shorter) >= 7 and longer.startswith(shorter)


def drifted(*versions: str | None) -> bool:
    """Git, the running image and the live service disagree: any two known values differ.
    Unknown values (None) say nothing either way."""
    known = [v for v in versions if v]
    return any(not same_version(known[0], other) for other in known[1:])


def first_image_tag(app: App) -> str | None:
    tags = [tag for tag in map(image_tag, app.images) if tag]
    return tags[0] if tags else None


def join(store: Store) -> list[AppFacts]:
    """One AppFacts per app the store holds, in no particular order."""
    return [app_facts(store, app_id, app) for app_id, app in store.apps.items()]


def facts_of(store: Store, app_id: AppId) -> AppFacts | None:
    app = store.apps.get(app_id)
    return app_facts(store, app_id, app) if app is not None else None


def app_facts(store: Store, app_id: AppId, app: App) -> AppFacts:
    target = app_id[0]
    state = store.targets[target]
    location = store.repo_of.get(target)
    repo = store.repos.get(location) if location is not None else None
    rev = revision(app) or ""
    image = first_image_tag(app)
    pinned: str | None = None
    source = app.source
    if location is not None and source is not None and rev:
        pinned = store.pins.get((location, rev, source.path))
    desired_from: Literal["git", "image", ""] = "git" if pinned else ("image" if image else "")
    return AppFacts(
        target=target,
        app=app,
        desired=pinned or image,
        desired_from=desired_from,
        image=image,
        live=store.versions.get(app_id),
        rollback=rolled_back(repo, app.name, app.service, app.env, rev) if repo else None,
        deployed_at=deployed_at(app),
        stale_since=state.read_at if state.stale else None,
    )


@functools.lru_cache(maxsize=16384)
def rolled_back(repo: RepoFacts, name: str, service: str, env: str, rev: str) -> Commit | None:
    """The rollback commit the app's content at `rev` comes from, or None: going back from
    `rev`, the first commit about this app decides; a rollback of it (`Rollback-App: name`)
    or a promotion of its service into its environment, which rolls it forward again. Other
    apps' commits on top of a rollback do not undo it. Memoized: a repo read is immutable."""
    start = repo.position.get(rev)
    if start is None:
        return None
    for commit in repo.commits[start:]:
        if commit.trailer(ROLLBACK_OF) and commit.trailer(ROLLBACK_APP) == name:
            return commit
        promoted = [v for k, v in commit.trailers if k.lower() == PROMOTED_SERVICE.lower()]
        if service in promoted and commit.subject.endswith(f" to {env}"):
            return None
    return None


# --- layout ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    key: str  # the environment, or `env@target` when several targets hold it
    label: str
    env: str


@dataclass(frozen=True)
class Cell:
    key: str  # `service@env`, or `target/service@env` when several targets hold that env
    facts: AppFacts
    matched: bool  # the filter matches this cell (unmatched cells of a shown row are dimmed)


@dataclass(frozen=True)
class Row:
    key: str  # the service
    cells: Mapping[str, Cell]  # column key -> cell


@dataclass(frozen=True)
class Matrix:
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]  # in display order
    others: tuple[AppFacts, ...]  # apps without service and env labels, sorted by name
    total: int  # apps in the fleet, before the filter


def env_rank(env: str) -> tuple[int, str]:
    """Promotion order (console.fleet.status.ENV_ORDER), then any other by name."""
    return (ENV_ORDER.index(env) if env in ENV_ORDER else len(ENV_ORDER), env)


def haystack(facts: AppFacts) -> str:
    """What `/` matches against: name, service, env, health, sync, target revision(s), the
    revision and tags it runs, and the target's name."""
    app = facts.app
    parts = [
        app.name,
        app.service,
        app.env,
        app.health.value,
        app.sync.value,
        facts.target,
        revision(app) or "",
        facts.desired or "",
        facts.live or "",
        *(source.target_revision for source in app.sources),
    ]
    return " ".join(parts).lower()


def matches(facts: AppFacts, query: str) -> bool:
    """Every whitespace-separated term of `query` is in the app's haystack (case-insensitive);
    an empty query matches everything."""
    text = haystack(facts)
    return all(term in text for term in query.lower().split())


def build_matrix(facts: Iterable[AppFacts], query: str = "", sort: SortMode = "name") -> Matrix:
    all_facts = list(facts)
    placed = [f for f in all_facts if f.app.service and f.app.env]
    others = sorted(
        (f for f in all_facts if not (f.app.service and f.app.env)),
        key=lambda f: (f.app.name, f.target),
    )
    targets_of_env: dict[str, set[str]] = {}
    for f in placed:
        targets_of_env.setdefault(f.app.env, set()).add(f.target)

    def column_of(f: AppFacts) -> Column:
        env = f.app.env
        if len(targets_of_env[env]) > 1:
            return Column(f"{env}@{f.target}", f"{env} @ {f.target}", env)
        return Column(env, env, env)

    columns: dict[str, Column] = {}
    grouped: dict[str, dict[str, Cell]] = {}
    duplicates: list[AppFacts] = []
    for f in sorted(placed, key=lambda f: (f.app.name, f.target)):
        column = column_of(f)
        columns.setdefault(column.key, column)
        cells = grouped.setdefault(f.app.service, {})
        if column.key in cells:
            duplicates.append(f)  # two apps claim one cell: shown with the others, not lost
            continue
        key = f"{f.app.service}@{f.app.env}"
        if column.key != column.env:
            key = f"{f.target}/{key}"
        cells[column.key] = Cell(key, f, matches(f, query))

    rows = [Row(service, cells) for service, cells in grouped.items()]
    if query.strip():
        rows = [row for row in rows if any(cell.matched for cell in row.cells.values())]
        others = [f for f in others if matches(f, query)]
        duplicates = [f for f in duplicates if matches(f, query)]
    ordered_columns = sorted(columns.values(), key=lambda c: (*env_rank(c.env), c.key))
    return Matrix(
        columns=tuple(ordered_columns),
        rows=tuple(sort_rows(rows, sort)),
        others=tuple(sorted([*others, *duplicates], key=lambda f: (f.app.name, f.target))),
        total=len(all_facts),
    )


def sort_rows(rows: Sequence[Row], mode: SortMode) -> list[Row]:
    """By service name; or worst health first; or most recently deployed first (ties and
    apps never deployed by name)."""
    by_name = sorted(rows, key=lambda r: r.key)
    if mode == "health":
        return sorted(
            by_name, key=lambda r: min(HEALTH_RANK[c.facts.app.health] for c in r.cells.values())
        )
    if mode == "recent":

        def newest(row: Row) -> float:
            times = [c.facts.deployed_at for c in row.cells.values() if c.facts.deployed_at]
            return -max(t.timestamp() for t in times) if times else float("inf")

        return sorted(by_name, key=newest)
    return by_name


# --- rendering ---------------------------------------------------------------------------------


def health_text(health: Health) -> Text:
    return Text(f"{HEALTH_SYMBOLS[health]} {health.value}", style=HEALTH_STYLE[health])


def sync_text(sync: Sync) -> Text:
    return Text(f"{SYNC_SYMBOLS[sync]} {sync.value}", style=SYNC_STYLE[sync])


def render_cell(cell: Cell, now: datetime) -> Text:
    """A cell's three lines:
        ✗ Degraded ⇡ OutOfSync
        git b7d0a5c live 0.1.0
        2h ≠ drift ↺ rollback
    The second line is what Git pins (`img` when only the running image's tag is known) and
    what answers /version; the third the age of the last deployment and the markers, after
    `stale 2m` while the target is down. Every status has a symbol and a word."""
    facts, app = cell.facts, cell.facts.app
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append_text(health_text(app.health))
    text.append(" ")
    text.append_text(sync_text(app.sync))
    text.append("\n")
    text.append("img" if facts.desired_from == "image" else "git", style="dim")
    text.append(f" {short(facts.desired)} ")
    text.append("live", style="dim")
    text.append(f" {short(facts.live)}\n")
    if facts.stale_since is not None:  # first: the cell is narrow, this must not be cut
        text.append(f"stale {age(facts.stale_since, now)} ", style="bold red")
    text.append(age(facts.deployed_at, now), style="dim")
    if facts.drift:
        text.append(f" {DRIFT}", style="bold yellow")
    if facts.rollback is not None:
        text.append(f" {ROLLBACK}", style="bold magenta")
    if facts.stale_since is not None or not cell.matched:
        text.stylize("dim")
    return text


def cell_signature(cell: Cell, text: Text) -> tuple[str, bool]:
    """What a rendered cell shows: equal signatures look alike, so the widget skips the
    update."""
    return (text.plain, cell.matched)


def empty_cell() -> Text:
    return Text("·", style="dim")


def other_cells(facts: AppFacts, now: datetime) -> tuple[Text, ...]:
    """A row of the "other apps" table (no service/env labels: the root app, the guard)."""
    app = facts.app
    stale = f" stale {age(facts.stale_since, now)}" if facts.stale_since else ""
    return (
        Text(app.name),
        Text(facts.target, style="dim"),
        health_text(app.health),
        sync_text(app.sync),
        Text(short(revision(app))),
        Text(age(facts.deployed_at, now) + stale, style="bold red" if stale else ""),
    )


def summary(matrix: Matrix) -> str:
    """The line above the matrix: how many apps and how healthy."""
    cells = [c.facts for row in matrix.rows for c in row.cells.values()] + list(matrix.others)
    healthy = sum(1 for f in cells if f.app.health is Health.HEALTHY)
    drift = sum(1 for f in cells if f.drift)
    shown = f"{len(cells)}/{matrix.total}" if len(cells) != matrix.total else f"{len(cells)}"
    parts = [f"{shown} apps", f"{healthy} healthy"]
    if drift:
        parts.append(f"{drift} drifting")
    return " · ".join(parts)
