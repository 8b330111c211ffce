"""In-memory stand-ins for what the console reads: an AppSource whose events a test pushes, a
deploy repo, a probe; and `console_app`, the app over them with a fixed clock."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from textual.command import CommandList
from textual.widgets import Input

from console.fleet.logs import LogLine, LogQuery
from console.fleet.manifests import Rendered
from console.fleet.model import OperationPhase
from console.fleet.placement import Placing
from console.fleet.source import Event, Snapshot, SourceError
from console.fleet.tree import ResourceRef
from console.guard.events import Event as GuardEvent
from console.tui.actions import Operator
from console.tui.adapter import RepoReader, Timing
from console.tui.app import ConsoleApp
from console.tui.store import RepoFacts
from console.tui.targets import ConsoleTarget, Kind
from tests.fleet.build import App, Operation, replace
from tests.tui import data

DEADLINE_S = 10.0


class FakeSource:
    """An AppSource over a list of apps: a Snapshot first, then whatever the test pushes."""

    url = "https://argocd.example"

    def __init__(self, name: str, apps: Sequence[App], *, at: datetime = data.NOW) -> None:
        self.name = name
        self.apps = list(apps)
        self.at = at
        self.queue: asyncio.Queue[Event] = asyncio.Queue()
        self.synced: list[str] = []
        self.rendered: list[str] = []  # the revisions asked for by `manifests`
        self.sync_error: SourceError | None = None
        self.closed = False
        self.tree: dict[str, Any] = {}  # what resource_tree answers for every app
        self.tree_error: SourceError | None = None  # or what it raises
        self.live: dict[tuple[str, str, str], dict[str, Any]] = {}  # (kind, namespace, name)
        self.log_lines: list[tuple[str, str, LogLine]] = []  # (pod, container, line)
        self.log_queries: list[LogQuery] = []

    async def list(self) -> list[App]:
        return list(self.apps)

    async def get(self, name: str, *, refresh: str | None = None) -> App:
        for app in self.apps:
            if name in (app.name, app.key):
                return app
        raise SourceError(f'application "{name}" not found', "not_found")

    async def resource_tree(self, name: str) -> dict[str, Any]:
        if self.tree_error is not None:
            raise self.tree_error
        return self.tree

    async def live_resource(self, name: str, ref: ResourceRef) -> dict[str, Any]:
        found = self.live.get((ref.kind, ref.namespace, ref.name))
        if found is None:
            raise SourceError(f'{ref.kind.lower()}s "{ref.name}" not found', "http")
        return found

    async def logs(self, name: str, query: LogQuery) -> AsyncIterator[LogLine]:
        """The lines of `log_lines` the query selects (as the embedded platform picks them),
        then, following, nothing more: a quiet pod."""
        self.log_queries.append(query)
        for pod, container, line in self.log_lines:
            if query.pod in (None, pod) and query.container in (None, container):
                yield line
        if query.follow:
            await asyncio.Event().wait()

    async def events(self, stop: asyncio.Event) -> AsyncIterator[Event]:
        yield Snapshot(tuple(self.apps), self.at)
        while not stop.is_set():
            yield await self.queue.get()

    async def manifests(self, name: str, revision: str) -> Rendered:
        """What the app renders to at `revision`: the tag tests/tui/data pins there."""
        app = await self.get(name)
        path = app.source.path if app.source is not None else ""
        self.rendered.append(revision)
        return Rendered(revision, tuple(data.rendered(path, data.pins().get((revision, path)))))

    def push(self, event: Event) -> None:
        self.queue.put_nowait(event)

    async def sync(self, name: str, *, prune: bool = False) -> App:
        if self.sync_error is not None:
            raise self.sync_error
        self.synced.append(name)
        app = await self.get(name)
        return replace(app, operation=Operation(OperationPhase.RUNNING, app.sync_revision))

    async def aclose(self) -> None:
        self.closed = True


class FakeRepo:
    """The deploy repo of tests/tui/data, read in memory."""

    def __init__(self, facts: RepoFacts = data.REPO, pins: Mapping[Any, str] | None = None):
        self.facts = facts
        self.pin_map = dict(pins if pins is not None else data.pins())
        self.reads = 0

    def head(self) -> str:
        return self.facts.head

    def read(self, head: str) -> RepoFacts:
        self.reads += 1
        return self.facts

    def pins(self, wanted: Iterable[tuple[str, str, str]]) -> Mapping[tuple[str, str], str | None]:
        return {(rev, path): self.pin_map.get((rev, path)) for rev, path, _ in wanted}


async def fake_probe(urls: Mapping[str, str]) -> Mapping[str, str | None]:
    return {name: data.LIVE.get(name) for name in urls}


def write_guard_events(path: Path, events: Iterable[GuardEvent] = data.GUARD_EVENTS) -> Path:
    path.write_text("".join(json.dumps(e.to_json()) + "\n" for e in events), encoding="utf-8")
    return path


def target(
    source: FakeSource,
    *,
    kind: Kind = "workspace",
    guard_events: Path | None = None,
    deploy_repo: str | None = data.DEPLOY,
    services: Mapping[str, str] | None = None,
) -> ConsoleTarget:
    return ConsoleTarget(
        name=source.name,
        kind=kind,
        open=lambda: source,
        services=dict(services if services is not None else {n: "http://x" for n in data.LIVE}),
        deploy_repo=deploy_repo,
        guard_events=guard_events,
    )


def console_app(
    targets: Sequence[ConsoleTarget],
    *,
    repo: FakeRepo | None = None,
    reader: Callable[[str], RepoReader] | None = None,
    clock: Callable[[], datetime] = lambda: data.NOW,
    timing: Timing | None = None,
    placing: Placing | None = None,
) -> ConsoleApp:
    fake = repo or FakeRepo()
    return ConsoleApp(
        targets,
        clock=clock,
        repo_reader=reader or (lambda _: fake),
        probe=fake_probe,
        timing=timing or Timing(probe_s=3600, repo_s=3600, guard_s=3600),
        who=Operator("ada", "ada@example.com"),
        tick_s=3600,
        placing=placing,
    )


def loaded(app: ConsoleApp) -> bool:
    """The fixed fleet is fully on screen: apps, live versions, the repo, pins, guard events."""
    store = app.store
    return (
        len(store.apps) == len(data.fleet())
        and bool(store.versions)
        and bool(store.repos)
        and not store.missing_pins()
        and (not any(t.guard_events for t in app.targets.values()) or bool(store.guard))
    )


async def until(pilot: Any, condition: Callable[[], bool], timeout: float = DEADLINE_S) -> None:
    """Let the app run until `condition` holds; fail after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("the condition did not hold in time")
        await pilot.pause(0.01)
    await pilot.pause()


async def palette_search(pilot: Any, app: ConsoleApp, typed: str) -> CommandList:
    """Open the command palette, type `typed` (in one step: a pilot round per key costs a
    second), and wait for the palette's answer: its list, with an option highlighted."""
    await pilot.press("colon")
    app.screen.query_one(Input).insert_text_at_cursor(typed)

    def answered() -> bool:  # the palette searches in a worker
        found = app.screen.query(CommandList)
        return bool(found) and found.first().highlighted is not None

    await until(pilot, answered)
    return app.screen.query_one(CommandList)
