"""What the console knows, in one place: the apps of every target, their live versions, the
deploy repos' commits and pins, the guard's events and each target's freshness.

The app updates the store from the adapter's messages and renders from it; nothing here does
I/O or knows about Textual, so every rule (what a change is, when data is stale, which events
an operator sees) is tested without a terminal.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from console.fleet.history import Commit
from console.fleet.mirror import Delta, FleetMirror
from console.fleet.model import ENV_LABEL, App, Health
from console.fleet.placement import Place, Placing, labelled_envs, place
from console.fleet.source import Changed, Deleted, Down, Polling, Snapshot
from console.guard import events as guard_events

AppId = tuple[str, str]  # (target name, App.key): unique across the fleet
PinKey = tuple[str, str, str]  # (deploy repo location, revision, app source path)
MAX_EVENTS = 500  # the events pane is a recent history, not an archive

# Events that are warnings; the rest are information.
WARNING_KINDS = guard_events.WARNINGS | {
    "Down",
    "ActionFailed",
    "Degraded",
    "Missing",
    "WorkerFailed",
}


@dataclass(frozen=True)
class ConsoleEvent:
    """One line of the events pane: the guard's (read from its JSONL file) or the console's
    own (a target went down, an app's health changed, an action ran)."""

    at: datetime
    kind: str
    app: str  # "" for the fleet or a whole target
    message: str
    target: str = ""
    origin: str = "console"  # "console" or "guard"

    @property
    def warning(self) -> bool:
        return self.kind in WARNING_KINDS


@dataclass
class TargetState:
    """How fresh a target's data is. `read_at` is the last time its source said anything
    (what the data's age counts from); `down` is the outage in progress, if any."""

    name: str
    read_at: datetime | None = None
    down: Down | None = None
    failed: str | None = None  # a configuration error that ended its events (token, TLS)
    polling: Polling | None = None  # its last switch to polling (no usable stream then)

    @property
    def stale(self) -> bool:
        return self.down is not None or self.failed is not None


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: a read is a snapshot
class RepoFacts:
    """A deploy repo as last read: its head and its commits, newest first."""

    head: str
    commits: tuple[Commit, ...]
    by_sha: Mapping[str, Commit] = field(default_factory=dict)
    position: Mapping[str, int] = field(default_factory=dict)  # sha -> index in `commits`

    @classmethod
    def of(cls, head: str, commits: Sequence[Commit]) -> RepoFacts:
        return cls(
            head,
            tuple(commits),
            {c.sha: c for c in commits},
            {c.sha: i for i, c in enumerate(commits)},
        )


class _FleetIndex(Mapping[AppId, App]):
    """Every target's mirror seen as one mapping by (target, App.key): what the views read."""

    def __init__(self, mirrors: Mapping[str, FleetMirror]) -> None:
        self._mirrors = mirrors

    def __getitem__(self, app_id: AppId) -> App:
        mirror = self._mirrors.get(app_id[0])
        app = mirror.get(app_id[1]) if mirror is not None else None
        if app is None:
            raise KeyError(app_id)
        return app

    def __iter__(self) -> Iterator[AppId]:
        for target, mirror in self._mirrors.items():
            for app in mirror:
                yield (target, app.key)

    def __len__(self) -> int:
        return sum(len(m) for m in self._mirrors.values())


class Store:
    """The console's state. Mutated only by the app's message handlers (one thread)."""

    def __init__(
        self,
        targets: Iterable[str],
        repo_of: Mapping[str, str] | None = None,
        placing: Placing | None = None,
    ) -> None:
        self.targets: dict[str, TargetState] = {name: TargetState(name) for name in targets}
        self.repo_of: dict[str, str] = dict(repo_of or {})  # target -> deploy repo location
        self.mirrors: dict[str, FleetMirror] = {name: FleetMirror() for name in targets}
        self.apps: Mapping[AppId, App] = _FleetIndex(self.mirrors)
        self.versions: dict[AppId, str | None] = {}
        self.repos: dict[str, RepoFacts] = {}
        self.pins: dict[PinKey, str | None] = {}
        self.guard: list[guard_events.Event] = []
        self.events: deque[ConsoleEvent] = deque(maxlen=MAX_EVENTS)
        self.total_events = 0  # ever stored: how the events pane knows what is new
        self.repo_errors: dict[str, str] = {}  # location -> why it cannot be read
        self.read_only: dict[str, str] = {}  # target -> why its token cannot sync
        # Bumped whenever what an app's facts read besides the App itself changes (live
        # versions, deploy repos, pins, a target going stale or fresh): facts joined at the
        # same context from the same App object are still right (fleetview.FactsCache).
        self.context = 0
        # Where apps without the platform's labels sit (console.fleet.placement): the rules,
        # and the environments they know, which the fleet's labelled apps add to.
        self.placing = placing or Placing()
        self._labelled: set[str] = set()
        self._known = self.placing.known()

    def add_target(self, name: str, deploy_repo: str | None = None) -> None:
        """A target that joined after start (console.drill.live: the platform became ready)."""
        self.targets.setdefault(name, TargetState(name))
        self.mirrors.setdefault(name, FleetMirror())
        if deploy_repo:
            self.repo_of[name] = deploy_repo
        self.context += 1

    # --- the sources' events ----------------------------------------------------------------

    def snapshot(self, target: str, apps: Sequence[App], at: datetime) -> None:
        """Replace the target's apps (deletions included) and mark it fresh."""
        state = self.targets[target]
        if state.down is not None:
            self._tell(at, "Up", "", f"{target} answers again", target)
        if state.stale:
            self.context += 1
        state.read_at, state.down, state.failed = at, None, None
        self._transitions(target, self.mirrors[target].apply(Snapshot(tuple(apps), at)), at)
        # Gone apps take their environments with them only here: a list is the whole truth.
        self._learn(labelled_envs(app for mirror in self.mirrors.values() for app in mirror))

    def changed(self, target: str, app: App, at: datetime) -> None:
        self._read(target, at)
        env = app.labels.get(ENV_LABEL)
        if env and env not in self._labelled:
            self._learn(self._labelled | {env})
        self._transitions(target, self.mirrors[target].apply(Changed(app, at)), at)

    def deleted(self, target: str, app: App, at: datetime) -> None:
        self._read(target, at)
        if self.mirrors[target].apply(Deleted(app, at)).removed:
            self._tell(at, "Deleted", app.name, "the Application is gone", target)

    def down(self, target: str, down: Down) -> None:
        state = self.targets[target]
        if state.down is None or state.down.error != down.error:
            self._tell(down.since, "Down", "", down.error, target)
        state.down = down
        self.context += 1

    def polling(self, target: str, polling: Polling) -> None:
        """The target's source polls from now on: said once, and the target stays live."""
        self._read(target, polling.at)
        self.targets[target].polling = polling
        every = f"{polling.every_s:g}s"
        self._tell(polling.at, "Polling", "", f"polling every {every}: {polling.reason}", target)

    def failed(self, target: str, message: str, at: datetime) -> None:
        self.targets[target].failed = message
        self.context += 1
        self._tell(at, "Down", "", message, target)

    def _read(self, target: str, at: datetime) -> None:
        state = self.targets[target]
        state.read_at = at
        if state.stale:  # the age its stale cells show counts from read_at
            self.context += 1

    def _transitions(self, target: str, delta: Delta, at: datetime) -> None:
        """An event for each health or sync change of an app already known (not the first
        read: a console that starts must not flood the pane with the whole fleet)."""
        for old, app in delta.changed:
            if old is None:
                continue
            if old.health is not app.health:
                bad = app.health in (Health.DEGRADED, Health.MISSING)
                kind = app.health.value if bad else "Health"
                detail = f": {app.health_message}" if app.health_message else ""
                message = f"{old.health.value} → {app.health.value}{detail}"
                self._tell(at, kind, app.name, message, target)
            if old.sync is not app.sync:
                self._tell(at, "Sync", app.name, f"{old.sync.value} → {app.sync.value}", target)

    def _learn(self, labelled: set[str]) -> None:
        """The labelled apps' environments are now `labelled`: a derived place may change."""
        if labelled != self._labelled:
            self._labelled = labelled
            self._known = self.placing.known(labelled)
            self.context += 1

    def place(self, app: App) -> Place:
        """Where the app sits in the matrix: its labels, else derived (console.fleet.placement)."""
        return place(app, self.placing, self._known)

    # --- the other readers ------------------------------------------------------------------

    def set_versions(self, target: str, versions: Mapping[str, str | None]) -> None:
        """Live versions by app name for one target (a full probe round)."""
        by_name = {app.name: app_id for app_id, app in self.apps.items() if app_id[0] == target}
        fresh = {by_name[name]: v for name, v in versions.items() if name in by_name}
        mine = {i: v for i, v in self.versions.items() if i[0] == target}
        if fresh == mine:
            return  # the same answers as last round: nothing to redo
        for old in mine:
            del self.versions[old]
        self.versions.update(fresh)
        self.context += 1

    def set_repo(self, location: str, facts: RepoFacts) -> None:
        self.repos[location] = facts
        self.repo_errors.pop(location, None)
        self.context += 1

    def repo_failed(self, location: str, message: str, at: datetime) -> None:
        self.repo_errors[location] = message
        self._tell(at, "Down", "", message, "")

    def set_pins(self, pins: Mapping[PinKey, str | None]) -> None:
        if any(key not in self.pins or self.pins[key] != tag for key, tag in pins.items()):
            self.pins.update(pins)
            self.context += 1

    def set_guard_events(self, found: Sequence[guard_events.Event]) -> None:
        """The guard's whole event file as read now; new events go to the pane too."""
        # A file that shrank was rotated or rewritten: everything in it is new.
        new = found[len(self.guard) :] if len(found) >= len(self.guard) else found
        for event in new:
            self._append(
                ConsoleEvent(event.at, event.type, event.app, event.message, origin="guard")
            )
        self.guard = list(found)

    def note(self, at: datetime, kind: str, app: str, message: str, target: str = "") -> None:
        """An event of the console's own (an action requested, done or failed)."""
        self._tell(at, kind, app, message, target)

    def _tell(self, at: datetime, kind: str, app: str, message: str, target: str) -> None:
        self._append(ConsoleEvent(at, kind, app, message, target))

    def _append(self, event: ConsoleEvent) -> None:
        self.events.append(event)
        self.total_events += 1

    # --- questions --------------------------------------------------------------------------

    def repo_for(self, target: str) -> RepoFacts | None:
        location = self.repo_of.get(target)
        return self.repos.get(location) if location is not None else None

    def missing_pins(
        self, among: Iterable[AppId] | None = None
    ) -> dict[str, set[tuple[str, str, str]]]:
        """location -> (revision, path, service) whose pinned tag is not read yet, for every
        app or those `among` the given ones."""
        out: dict[str, set[tuple[str, str, str]]] = {}
        apps = self.apps
        pairs = apps.items() if among is None else ((i, apps[i]) for i in among if i in apps)
        for (target, _), app in pairs:
            location = self.repo_of.get(target)
            source = app.source
            if location is None or source is None or not source.path or not app.service:
                continue
            if not app.sync_revision or (location, app.sync_revision, source.path) in self.pins:
                continue
            out.setdefault(location, set()).add((app.sync_revision, source.path, app.service))
        return out

    def missing_history_pins(self, app_id: AppId) -> dict[str, set[tuple[str, str, str]]]:
        """Like missing_pins, for every revision in one app's history (its detail shows the tag
        of each)."""
        app = self.apps.get(app_id)
        location = self.repo_of.get(app_id[0])
        source = app.source if app is not None else None
        if app is None or location is None or source is None or not source.path:
            return {}
        wanted = {
            (entry.revision, source.path, app.service)
            for entry in app.history
            if entry.revision and (location, entry.revision, source.path) not in self.pins
        }
        return {location: wanted} if wanted and app.service else {}

    def app_events(self, app: App, limit: int = 20) -> list[ConsoleEvent]:
        found = [e for e in self.events if e.app == app.name]
        return found[-limit:]
