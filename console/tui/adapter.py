"""The console's data side: workers that read the targets and post what they read as messages
(console.tui.messages). Widgets never do I/O; the app applies messages to its Store.

Per target, one worker consumes `AppSource.events(stop)` (Snapshot / Changed / Deleted / Down /
Polling:
the source reconnects with backoff by itself) and, where services' URLs are known, one polls
their `/version` with bounded concurrency (console.fleet.probes.fetch_versions). Per deploy
repo, one worker polls its head and re-reads the history when it moves; pins (the tag an
overlay pins at a revision) are read on request. The guard's event file is re-read when its
size or mtime changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from textual.app import App as TextualApp

from console.fleet.mirror import FleetMirror
from console.fleet.probes import fetch_versions
from console.fleet.source import (
    AppSource,
    Changed,
    Deleted,
    Down,
    Event,
    Polling,
    Snapshot,
    SourceError,
)
from console.fleet.targets import probe_urls
from console.guard.events import read_events
from console.tui import messages as msg
from console.tui.deployrepo import RepoError
from console.tui.store import RepoFacts
from console.tui.targets import ConsoleTarget

log = logging.getLogger(__name__)

Probe = Callable[[Mapping[str, str]], Awaitable[Mapping[str, str | None]]]


class RepoReader(Protocol):
    """What the adapter asks of a deploy repo (console.tui.deployrepo.DeployRepo); blocking."""

    def head(self) -> str: ...

    def read(self, head: str) -> RepoFacts: ...

    def pins(
        self, wanted: Iterable[tuple[str, str, str]]
    ) -> Mapping[tuple[str, str], str | None]: ...


@dataclass(frozen=True)
class Timing:
    probe_s: float = 10.0  # a /version round per target this often
    probe_timeout_s: float = 2.0  # each probe's deadline
    repo_s: float = 5.0  # a deploy repo's head is checked this often
    guard_s: float = 2.0  # the guard's event file is checked this often
    restart_s: float = 1.0  # a worker that failed starts again after this, doubling to 30 s


async def default_probe(urls: Mapping[str, str], timeout: float = 2.0) -> Mapping[str, str | None]:
    return await fetch_versions(urls, timeout=timeout)


class Adapter:
    def __init__(
        self,
        app: TextualApp[Any],
        targets: Sequence[ConsoleTarget],
        *,
        clock: Callable[[], datetime],
        repo_reader: Callable[[str], RepoReader],
        probe: Probe | None = None,
        timing: Timing | None = None,
    ) -> None:
        self.app = app
        self.targets = list(targets)
        self.sources: dict[str, AppSource] = {}  # opened sources, for the actions
        self._clock = clock
        self._repo_reader = repo_reader
        self._timing = timing or Timing()
        self._probe = probe or (lambda urls: default_probe(urls, self._timing.probe_timeout_s))
        self._stop = asyncio.Event()
        self._mirrors: dict[str, FleetMirror] = {t.name: FleetMirror() for t in self.targets}
        self._listed: dict[str, asyncio.Event] = {t.name: asyncio.Event() for t in self.targets}
        self._repos: dict[str, RepoReader] = {}
        # (location, revision, path, service) being read or read: a commit's content never
        # changes, so each is read once.
        self._pins_asked: set[tuple[str, str, str, str]] = set()

    def start(self) -> None:
        for target in self.targets:
            self._worker(partial(self._follow, target), f"follow {target.name}")
            if target.services:
                self._worker(partial(self._probe_loop, target), f"probe {target.name}")
        for location in dict.fromkeys(t.deploy_repo for t in self.targets if t.deploy_repo):
            self._worker(partial(self._repo_loop, location), f"repo {location}")
        for path in dict.fromkeys(t.guard_events for t in self.targets if t.guard_events):
            self._worker(partial(self._guard_loop, path), f"guard events {path}")

    def add(self, target: ConsoleTarget) -> None:
        """Follow one more target from now on (a platform that became ready after start)."""
        locations = {t.deploy_repo for t in self.targets}
        paths = {t.guard_events for t in self.targets}
        self.targets.append(target)
        self._mirrors[target.name] = FleetMirror()
        self._listed[target.name] = asyncio.Event()
        self._worker(partial(self._follow, target), f"follow {target.name}")
        if target.services:
            self._worker(partial(self._probe_loop, target), f"probe {target.name}")
        if target.deploy_repo and target.deploy_repo not in locations:
            repo = target.deploy_repo
            self._worker(partial(self._repo_loop, repo), f"repo {repo}")
        if target.guard_events and target.guard_events not in paths:
            events = target.guard_events
            self._worker(partial(self._guard_loop, events), f"guard events {events}")

    def stop(self) -> None:
        self._stop.set()

    def _worker(self, work: Callable[[], Awaitable[None]], name: str) -> None:
        self.app.run_worker(
            self._supervised(work, name), name=name, group="adapter", exit_on_error=False
        )

    async def _supervised(self, work: Callable[[], Awaitable[None]], name: str) -> None:
        """Run `work` until it returns; an exception it was never meant to raise (a bug, a
        library's surprise) is told as an event and the work starts again after a back-off,
        instead of the worker ending silently and its data going stale unseen."""
        failures = 0
        while not self._stop.is_set():
            try:
                await work()
                return
            except Exception as exc:
                failures += 1
                delay = min(self._timing.restart_s * 2 ** (failures - 1), 30.0)
                log.exception("console worker %s failed", name)
                self.app.post_message(
                    msg.WorkerFailed(name, f"{type(exc).__name__}: {exc}", delay, self._clock())
                )
                if await self._pause(delay):
                    return

    async def _pause(self, seconds: float) -> bool:
        """Wait `seconds`; True when the adapter was stopped meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)
        return self._stop.is_set()

    # --- sources ----------------------------------------------------------------------------

    async def _follow(self, target: ConsoleTarget) -> None:
        try:
            source = target.open()
        except SourceError as exc:
            self.app.post_message(msg.TargetFailed(target.name, str(exc), self._clock()))
            return
        self.sources[target.name] = source
        try:
            async for event in source.events(self._stop):
                self._forward(target.name, event)
        except SourceError as exc:  # a rejected token or TLS on the first read: not retried
            self.app.post_message(msg.TargetFailed(target.name, str(exc), self._clock()))
        finally:
            with contextlib.suppress(Exception):
                await source.aclose()

    def _forward(self, target: str, event: Event) -> None:
        self._mirrors[target].apply(event)  # what the probes probe
        if isinstance(event, Snapshot):
            self._listed[target].set()
            self.app.post_message(msg.AppsListed(target, event.apps, event.at))
        elif isinstance(event, Changed):
            self.app.post_message(msg.AppChanged(target, event.app, event.at))
        elif isinstance(event, Deleted):
            self.app.post_message(msg.AppDeleted(target, event.app, event.at))
        elif isinstance(event, Down):
            self.app.post_message(msg.TargetDown(target, event))
        elif isinstance(event, Polling):
            self.app.post_message(msg.TargetPolling(target, event))

    # --- probes -----------------------------------------------------------------------------

    async def _probe_loop(self, target: ConsoleTarget) -> None:
        await self._listed[target.name].wait()  # nothing to probe before the first list
        while True:
            urls = probe_urls(self._mirrors[target.name].apps(), target.services)
            if urls:
                versions = await self._probe(urls)
                self.app.post_message(msg.VersionsProbed(target.name, versions))
            if await self._pause(self._timing.probe_s):
                return

    # --- deploy repos -----------------------------------------------------------------------

    def _reader(self, location: str) -> RepoReader:
        reader = self._repos.get(location)
        if reader is None:
            reader = self._repos[location] = self._repo_reader(location)
        return reader

    async def _repo_loop(self, location: str) -> None:
        reader = self._reader(location)
        last, told = None, None
        while True:
            try:
                head = await asyncio.to_thread(reader.head)
                if head != last:
                    facts = await asyncio.to_thread(reader.read, head)
                    self.app.post_message(msg.RepoRead(location, facts))
                    last = head
                told = None
            except RepoError as exc:
                if str(exc) != told:  # once per problem, not once per poll
                    told = str(exc)
                    self.app.post_message(msg.RepoFailed(location, told, self._clock()))
            if await self._pause(self._timing.repo_s):
                return

    def want_pins(self, missing: Mapping[str, set[tuple[str, str, str]]]) -> None:
        """Read the pins the app lacks (revision, path, service), each once."""
        for location, wanted in missing.items():
            todo = {w for w in wanted if (location, *w) not in self._pins_asked}
            if not todo:
                continue
            self._pins_asked.update((location, *w) for w in todo)
            self._worker(partial(self._read_pins, location, todo), f"pins {location}")

    async def _read_pins(self, location: str, wanted: set[tuple[str, str, str]]) -> None:
        reader = self._reader(location)
        found = await asyncio.to_thread(reader.pins, wanted)
        pins = {(location, rev, path): tag for (rev, path), tag in found.items()}
        self.app.post_message(msg.PinsRead(pins))

    # --- the guard's events -----------------------------------------------------------------

    async def _guard_loop(self, path: Path) -> None:
        seen: tuple[int, int] | None = None
        while True:
            try:
                stat = os.stat(path)
                now = (stat.st_mtime_ns, stat.st_size)
            except OSError:
                now = None  # no guard yet, or no file: nothing to tell
            if now is not None and now != seen:
                seen = now
                try:
                    found = await asyncio.to_thread(read_events, path)
                except (OSError, UnicodeDecodeError):
                    found = None  # unreadable for now: the next change is read again
                if found is not None:
                    self.app.post_message(msg.GuardEventsRead(found))
            if await self._pause(self._timing.guard_s):
                return
