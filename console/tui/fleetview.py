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
from datetime import datetime, timedelta
from typing import Literal

from rich.text import Text

from console.contract import PROMOTED_SERVICE, ROLLBACK_APP, ROLLBACK_OF
from console.fleet.display import HEALTH_SYMBOLS, SYNC_SYMBOLS, age, image_tag, short
from console.fleet.history import Commit
from console.fleet.model import App, Health, Sync
from console.fleet.placement import ENV_ORDER
from console.fleet.status import deployed_at, revision
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
    # (service, env): its labels, else derived (console.fleet.placement); "" where unknown.
    place: tuple[str, str]

    @functools.cached_property
    def id(self) -> AppId:
        return (self.target, self.app.key)

    @functools.cached_property  # once per AppFacts: its fields never change
    def drift(self) -> bool:
        return drifted(self.desired, self.image, self.live)

    @functools.cached_property
    def search_text(self) -> str:
        return haystack(self)


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


class FactsCache:
    """`join`, memoized for the app that flushes on every message: an app's facts are joined
    again only when its App object or the store's `context` (live versions, deploy repos,
    pins, staleness) changed since, so a stream event costs one join, not the fleet's."""

    def __init__(self) -> None:
        self._facts: dict[AppId, AppFacts] = {}
        self._context = -1
        self.fresh: list[AppFacts] = []  # what the last join joined anew
        # The last join dropped apps or joined every app anew: `fresh` is not all that changed.
        self.rebuilt = True

    def join(self, store: Store) -> list[AppFacts]:
        self.rebuilt = store.context != self._context
        if self.rebuilt:
            self._facts.clear()
            self._context = store.context
        cache = self._facts
        out = []
        fresh: list[AppFacts] = []
        for app_id, app in store.apps.items():
            facts = cache.get(app_id)
            if facts is None or facts.app is not app:
                facts = cache[app_id] = app_facts(store, app_id, app)
                fresh.append(facts)
            out.append(facts)
        if len(cache) > len(out):  # apps went away
            self.rebuilt = True
            for gone in cache.keys() - store.apps.keys():
                del cache[gone]
        self.fresh = fresh
        return out


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
    where = store.place(app)
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
        place=(where.service, where.env),
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

    @functools.cached_property  # a Row never changes: builds reuse unchanged ones
    def worst(self) -> int:
        """The rank of its worst health (HEALTH_RANK: 0 is the worst)."""
        return min(HEALTH_RANK[c.facts.app.health] for c in self.cells.values())

    @functools.cached_property
    def newest(self) -> float:
        """Minus the time of its last deployment (inf: never deployed), to sort by."""
        times = [c.facts.deployed_at for c in self.cells.values() if c.facts.deployed_at]
        return -max(t.timestamp() for t in times) if times else float("inf")

    @functools.cached_property
    def counts(self) -> tuple[int, int, int]:
        """Its apps, healthy ones and drifting ones (for the summary line)."""
        facts = [cell.facts for cell in self.cells.values()]
        healthy = sum(1 for f in facts if f.app.health is Health.HEALTHY)
        return len(facts), healthy, sum(1 for f in facts if f.drift)


@dataclass(frozen=True)
class Matrix:
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]  # in display order
    others: tuple[AppFacts, ...]  # apps without service and env (placement), sorted by name
    total: int  # apps in the fleet, before the filter


def env_rank(env: str) -> tuple[int, str]:
    """Promotion order (console.fleet.placement.ENV_ORDER), then any other by name."""
    return (ENV_ORDER.index(env) if env in ENV_ORDER else len(ENV_ORDER), env)


def haystack(facts: AppFacts) -> str:
    """What `/` matches against: name, service, env, health, sync, target revision(s), the
    revision and tags it runs, and the target's name."""
    app = facts.app
    parts = [
        app.name,
        *facts.place,
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
    text = facts.search_text
    return all(term in text for term in query.lower().split())


class MatrixMemo:
    """What the last build_matrix made, for the next one to reuse: the Cell of each app and
    the Row of each service. A build that finds an app's facts (the same object: see
    FactsCache) and filter match unchanged reuses its Cell, and a row of reused cells its Row,
    so a stream event makes one new Cell and one new Row, not a fleet's worth of objects
    (which also keeps the garbage collector's full passes rare)."""

    def __init__(self) -> None:
        # Keyed by id(facts): a Cell holds its facts, so no other object takes that id.
        self.cells: dict[int, Cell] = {}
        self.rows: dict[str, Row] = {}
        self.split: set[str] = set()


class MatrixBuilder:
    """build_matrix for the app's flushes, in proportion to what changed. When the last join
    (FactsCache) only changed some apps' facts, with no filter, and each of those apps keeps
    its cell (same service, env and target), the last matrix is patched: a new Cell and Row
    for each, the other rows as they were (re-sorted when the sort is not by name). Anything
    else (apps added or gone, a filter, another sort, a cell changing hands) builds it all,
    with the memo."""

    def __init__(self) -> None:
        self.memo = MatrixMemo()
        self._last: Matrix | None = None
        self._how: tuple[str, SortMode] = ("", "name")
        self._where: dict[AppId, tuple[str, str]] = {}  # app -> its cell: row key, column
        self._at: dict[str, int] = {}  # row key -> its index in the last matrix's rows

    def build(self, cache: FactsCache, facts: list[AppFacts], query: str, sort: SortMode) -> Matrix:
        """The matrix of `facts` (cache.join's answer) by `query` and `sort`."""
        last = self._last
        if last is not None and not cache.rebuilt and (query, sort) == self._how:
            if not cache.fresh:
                return last
            if not query.strip() and len(cache.fresh) <= len(facts) // 4:
                patched = self._patch(last, cache.fresh, sort)
                if patched is not None:
                    return patched
        return self._keep(build_matrix(facts, query, sort, memo=self.memo), query, sort)

    def _keep(self, matrix: Matrix, query: str, sort: SortMode) -> Matrix:
        """Remember a full build."""
        self._last, self._how = matrix, (query, sort)
        self._where = {
            cell.facts.id: (row.key, column)
            for row in matrix.rows
            for column, cell in row.cells.items()
        }
        self._at = {row.key: i for i, row in enumerate(matrix.rows)}
        return matrix

    def _patch(self, last: Matrix, fresh: list[AppFacts], sort: SortMode) -> Matrix | None:
        """The last matrix with `fresh` in their cells; None when one is not in a cell of the
        last matrix, or no longer belongs in it."""
        changed: dict[str, dict[str, Cell]] = {}
        for f in fresh:
            where = self._where.get(f.id)
            if where is None:
                return None  # a new app, a duplicate or one of the others
            key, column = where
            cells = changed.get(key)
            if cells is None:
                cells = changed[key] = dict(last.rows[self._at[key]].cells)
            old = cells[column]
            if old.facts.place != f.place or old.facts.target != f.target:
                return None  # it moves to another cell
            cells[column] = Cell(old.key, f, True)
        rows = list(last.rows)
        memo = self.memo
        for key, cells in changed.items():
            for cell in rows[self._at[key]].cells.values():
                memo.cells.pop(id(cell.facts), None)
            memo.cells.update((id(cell.facts), cell) for cell in cells.values())
            rows[self._at[key]] = memo.rows[key] = Row(key, cells)
        if sort != "name":
            rows = sort_rows(rows, sort)
            self._at = {row.key: i for i, row in enumerate(rows)}
        self._last = Matrix(last.columns, tuple(rows), last.others, last.total)
        return self._last


def build_matrix(
    facts: Iterable[AppFacts],
    query: str = "",
    sort: SortMode = "name",
    *,
    memo: MatrixMemo | None = None,
) -> Matrix:
    """The matrix of `facts`, filtered by `query` and sorted by `sort`. With a `memo` (the
    app's, on every flush), unchanged cells and rows are the previous build's objects."""
    # One pass, no sort of the fleet: the app runs this on every flush.
    memo = memo if memo is not None else MatrixMemo()
    filtering = bool(query.strip())
    placed: list[AppFacts] = []
    others: list[AppFacts] = []
    targets_of_env: dict[str, set[str]] = {}
    for f in facts:
        service, env = f.place
        if service and env:
            placed.append(f)
            targets = targets_of_env.get(env)
            if targets is None:
                targets_of_env[env] = {f.target}
            else:
                targets.add(f.target)
        else:
            others.append(f)
    split = {env for env, targets in targets_of_env.items() if len(targets) > 1}
    columns = {env: Column(env, env, env) for env in targets_of_env if env not in split}
    for env in split:
        for target in targets_of_env[env]:
            columns[f"{env}@{target}"] = Column(f"{env}@{target}", f"{env} @ {target}", env)
    if memo.split != split:  # cell keys name the target now, or no longer
        memo.cells, memo.rows, memo.split = {}, {}, split

    grouped, duplicates, changed = _group(placed, query if filtering else "", memo)
    rows = []
    for service, cells in grouped.items():
        row = memo.rows.get(service)
        # Its cells all from the last build (each then in this row), as many as then: the
        # same cells, so the same row.
        if row is None or service in changed or len(row.cells) != len(cells):
            row = Row(service, cells)
        rows.append(row)
    memo.rows = {row.key: row for row in rows}
    if filtering:
        rows = [row for row in rows if any(cell.matched for cell in row.cells.values())]
        others = [f for f in others if matches(f, query)]
        duplicates = [f for f in duplicates if matches(f, query)]
    ordered_columns = sorted(columns.values(), key=lambda c: (*env_rank(c.env), c.key))
    return Matrix(
        columns=tuple(ordered_columns),
        rows=tuple(sort_rows(rows, sort)),
        others=tuple(sorted([*others, *duplicates], key=lambda f: (f.app.name, f.target))),
        total=len(placed) + len(others),
    )


def _group(
    placed: list[AppFacts], query: str, memo: MatrixMemo
) -> tuple[dict[str, dict[str, Cell]], list[AppFacts], set[str]]:
    """The cells of each service (column key -> cell); the apps that claim a cell taken by an
    app of a smaller (name, target); the services with a cell not from the last build (or a
    claim). Cells come from the memo where they are the same; the memo keeps the new ones."""
    split, old_cells = memo.split, memo.cells
    new_cells: dict[int, Cell] = {}
    grouped: dict[str, dict[str, Cell]] = {}
    duplicates: list[AppFacts] = []
    changed: set[str] = set()
    for f in placed:
        service, env = f.place
        column = env if env not in split else f"{env}@{f.target}"
        cells = grouped.get(service)
        if cells is None:
            cells = grouped[service] = {}
        held = cells.get(column)
        if held is not None:
            # Two apps claim one cell: the first by name keeps it, the other is shown with
            # the others, not lost.
            changed.add(service)
            if (held.facts.app.name, held.facts.target) < (f.app.name, f.target):
                duplicates.append(f)
                continue
            duplicates.append(held.facts)
            del new_cells[id(held.facts)]
        matched = matches(f, query) if query else True
        cell = old_cells.get(id(f))
        if cell is None or cell.matched is not matched:
            key = f"{service}@{env}" if env not in split else f"{f.target}/{service}@{env}"
            cell = Cell(key, f, matched)
            changed.add(service)
        cells[column] = new_cells[id(f)] = cell
    memo.cells = new_cells
    return grouped, duplicates, changed


def sort_rows(rows: Sequence[Row], mode: SortMode) -> list[Row]:
    """By service name; or worst health first; or most recently deployed first (ties and
    apps never deployed by name)."""
    by_name = sorted(rows, key=lambda r: r.key)
    if mode == "health":
        return sorted(by_name, key=lambda r: r.worst)
    if mode == "recent":
        return sorted(by_name, key=lambda r: r.newest)
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


AGE_UNITS = (86400, 3600, 60, 1)  # console.fleet.display.age's units, largest first


def age_changes(since: datetime | None, now: datetime) -> datetime | None:
    """When `age(since, ...)` will next read differently from `age(since, now)`; None for
    never (no time)."""
    if since is None:
        return None
    seconds = max(0, int((now - since).total_seconds()))
    unit = next(u for u in AGE_UNITS if seconds >= u or u == 1)
    return since + timedelta(seconds=(seconds // unit + 1) * unit)


def cell_changes(facts: AppFacts, now: datetime) -> datetime | None:
    """When the cell of `facts` rendered at `now` will read differently with the clock alone
    (its deployment's age, its stale age); None for never. Until then the same facts render
    the same text, so the widget need not render them again."""
    times = [t for t in (facts.deployed_at, facts.stale_since) if t is not None]
    due = [age_changes(t, now) for t in times]
    return min((d for d in due if d is not None), default=None)


def cell_signature(cell: Cell, text: Text) -> tuple[str, bool]:
    """What a rendered cell shows: equal signatures look alike, so the widget skips the
    update."""
    return (text.plain, cell.matched)


def empty_cell() -> Text:
    return Text("·", style="dim")


def other_cells(facts: AppFacts, now: datetime) -> tuple[Text, ...]:
    """A row of the "other apps" table (no service and env: the root app, the guard)."""
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
    others = matrix.others
    count = sum(row.counts[0] for row in matrix.rows) + len(others)
    healthy = sum(row.counts[1] for row in matrix.rows)
    healthy += sum(1 for f in others if f.app.health is Health.HEALTHY)
    drift = sum(row.counts[2] for row in matrix.rows) + sum(1 for f in others if f.drift)
    shown = f"{count}/{matrix.total}" if count != matrix.total else f"{count}"
    parts = [f"{shown} apps", f"{healthy} healthy"]
    if drift:
        parts.append(f"{drift} drifting")
    return " · ".join(parts)
