"""Turn a server's list and watch calls into the event sequence every source promises
(`console.fleet.source`): Snapshot, changes, Down around outages, reconnects with backoff, and
polling when the watch keeps failing while listing works (a proxy that cuts long requests).

The loop, for one source:
  1. list -> Snapshot (on failure: Down once, jittered exponential backoff, list again);
  2. watch from the list's resourceVersion -> Changed / Deleted, skipping what the consumer
     already has (servers that do not resume replay the current state instead);
  3. the watch ends or fails -> Down, backoff, back to 1. A watch that fails `stream_failures`
     times in a row without delivering anything switches to polling the list every `poll_s`
     (diffs become Changed / Deleted; the data stays fresh, so no Down), and the watch is tried
     again every `stream_retry_s`. A watch the server does not offer at all (NoWatchError:
     404, 405 or 501, an older or proxied Argo CD) switches to polling at once, without Down.
     Each switch to polling is told once (Polling). An expired resourceVersion (Kubernetes'
     410 Gone) re-lists at once, without Down: nothing was lost but the position.
A rejected token or TLS failure before anything was ever read is a configuration error and
ends the events by raising SourceError; after that, every failure is retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, Protocol, TypeVar

from console.backoff import backoff_delay
from console.fleet.model import App
from console.fleet.source import Changed, Deleted, Down, Event, Polling, Snapshot, SourceError

log = logging.getLogger(__name__)

T = TypeVar("T")
WatchType = Literal["ADDED", "MODIFIED", "DELETED"]


class ExpiredError(Exception):
    """The watch's resourceVersion is too old for the server (410 Gone): list again."""


class NoWatchError(SourceError):
    """The server has no watch to offer (it answered 404, 405 or 501): poll instead, at once.
    Retrying it with backoff would only tell the consumer Down and Up again and again."""


NO_WATCH_STATUSES = frozenset({404, 405, 501})


class Feed(Protocol):
    """The two calls a server offers, raising SourceError (or ExpiredError or NoWatchError
    from a watch)."""

    name: str

    async def snapshot(self) -> tuple[list[App], str]:
        """Every app and the list's resourceVersion ("" when the server gives none)."""
        ...

    def watch(self, resource_version: str) -> AsyncGenerator[tuple[WatchType, App], None]:
        """Changes after `resource_version`; ends or raises when the connection does."""
        ...


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Pacing:
    """Timing of reconnects and polling; `sleep` and `rng` are injectable so tests need no
    real waiting."""

    poll_s: float = 30.0
    stream_failures: int = 3  # consecutive empty, failed watches before polling
    stream_retry_s: float = 300.0  # while polling, try the watch again this often
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 30.0
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    rng: Callable[[], float] = random.random
    clock: Callable[[], float] = time.monotonic
    now: Callable[[], datetime] = field(default=_utcnow)

    def backoff(self, attempt: int) -> float:
        return backoff_delay(max(1, attempt), self.rng, self.backoff_base_s, self.backoff_cap_s)


class _Stopped(Exception):
    pass


class _Race:
    """Await anything, but give up (raise _Stopped) as soon as `stop` is set."""

    def __init__(self, stop: asyncio.Event) -> None:
        self._stop = stop
        self._waiter: asyncio.Future[object] | None = None

    async def __call__(self, awaitable: Awaitable[T]) -> T:
        if self._stop.is_set():
            close = getattr(awaitable, "close", None)
            if close is not None:
                close()  # never started: no "was never awaited" warning
            raise _Stopped
        waiter = self._waiter
        if waiter is None:
            waiter = self._waiter = asyncio.ensure_future(self._wait())
        task: asyncio.Future[T] = asyncio.ensure_future(awaitable)
        try:
            await asyncio.wait((task, waiter), return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        if task.cancelled():
            raise _Stopped
        return task.result()

    async def _wait(self) -> object:
        return await self._stop.wait()

    def close(self) -> None:
        if self._waiter is not None:
            self._waiter.cancel()


def _same(old: App, new: App) -> bool:
    if old.resource_version and new.resource_version:
        return old.resource_version == new.resource_version
    return old == new


def diff(known: dict[str, App], apps: Iterable[App], at: datetime) -> list[Changed | Deleted]:
    """The events that turn `known` (updated in place) into `apps`."""
    fresh = {app.key: app for app in apps}
    events: list[Changed | Deleted] = [
        Changed(app, at)
        for key, app in fresh.items()
        if key not in known or not _same(known[key], app)
    ]
    events.extend(Deleted(known[key], at) for key in known.keys() - fresh.keys())
    known.clear()
    known.update(fresh)
    return events


class _Follower:
    def __init__(self, feed: Feed, stop: asyncio.Event, pacing: Pacing) -> None:
        self.feed = feed
        self.pacing = pacing
        self.race = _Race(stop)
        self.known: dict[str, App] = {}
        self.resource_version = ""
        self.outage: Down | None = None
        self.attempt = 0  # consecutive failures of the current outage
        self.read_once = False
        self.stream_failures = 0

    def down(self, error: str) -> Down | None:
        """The Down to tell for a failure, None when the consumer already knows this one."""
        self.attempt += 1
        if self.outage is not None and self.outage.error == error:
            return None
        since = self.outage.since if self.outage is not None else self.pacing.now()
        self.outage = Down(error, since, self.attempt)
        log.warning("%s: %s", self.feed.name, error)
        return self.outage

    async def relist(self) -> Snapshot | Down | None:
        """A fresh Snapshot; after a failure, the Down to tell (None: already told)."""
        try:
            apps, self.resource_version = await self.race(self.feed.snapshot())
        except SourceError as exc:
            if not self.read_once and exc.kind in ("auth", "tls"):
                raise
            return self.down(str(exc))
        if self.outage is not None:
            log.info("%s: answers again", self.feed.name)
        self.read_once, self.outage, self.attempt = True, None, 0
        self.known = {app.key: app for app in apps}
        return Snapshot(tuple(apps), self.pacing.now())

    def event(self, kind: WatchType, app: App) -> Changed | Deleted | None:
        key = app.key
        if kind == "DELETED":
            gone = self.known.pop(key, None) is not None  # unknown to the consumer: no news
            return Deleted(app, self.pacing.now()) if gone else None
        old = self.known.get(key)
        if (
            old is not None
            and old.resource_version
            and old.resource_version == app.resource_version
        ):
            return None  # the consumer has it (a server that replays instead of resuming)
        self.known[key] = app
        return Changed(app, self.pacing.now())


async def follow(feed: Feed, stop: asyncio.Event, pacing: Pacing) -> AsyncIterator[Event]:
    """The events of `feed` until `stop` is set (see the module's docstring)."""
    f = _Follower(feed, stop, pacing)
    try:
        async for event in _run(f):
            yield event
    except _Stopped:
        return
    finally:
        f.race.close()


async def _run(f: _Follower) -> AsyncIterator[Event]:
    pacing, race = f.pacing, f.race
    while True:
        listed = await f.relist()
        if not isinstance(listed, Snapshot):
            if listed is not None:
                yield listed
            await race(pacing.sleep(pacing.backoff(f.attempt)))
            continue
        yield listed
        while f.outage is None:
            if f.stream_failures >= pacing.stream_failures:
                async for event in _poll(f):
                    yield event
                if f.outage is not None:  # the list failed while polling
                    break
            async for event in _watch(f):
                yield event
            if f.stream_failures < pacing.stream_failures:
                break  # lost or expired: list again (after a backoff when lost)
        if f.outage is not None:
            await race(pacing.sleep(pacing.backoff(max(f.attempt, f.stream_failures))))


async def _poll(f: _Follower) -> AsyncIterator[Event]:
    """List every poll_s and tell the differences, at least once and until the watch is due
    again, or until the list fails (then f.outage is set)."""
    pacing = f.pacing
    retry_at = pacing.clock() + pacing.stream_retry_s
    while True:
        await f.race(pacing.sleep(pacing.poll_s))
        try:
            apps, f.resource_version = await f.race(f.feed.snapshot())
        except SourceError as exc:
            down = f.down(str(exc))
            if down is not None:
                yield down
            return
        for change in diff(f.known, apps, pacing.now()):
            yield change
        if pacing.clock() >= retry_at:
            return


async def _watch(f: _Follower) -> AsyncIterator[Event]:
    """The watch's changes until it ends; then a Down (f.outage set) unless the position
    expired or the watch failed too often (both mean: list again now)."""
    pacing = f.pacing
    started, delivered, missing = pacing.clock(), False, False
    error = f"the watch of {f.feed.name} ended"
    watch = f.feed.watch(f.resource_version)
    try:
        while True:
            try:
                kind, app = await f.race(anext(watch))
            except StopAsyncIteration:
                break
            delivered = True
            change = f.event(kind, app)
            if change is not None:
                yield change
    except ExpiredError:
        f.stream_failures = 0
        return
    except NoWatchError as exc:
        error, missing = str(exc), True
    except SourceError as exc:
        error = str(exc)
    finally:
        with contextlib.suppress(Exception):
            await watch.aclose()

    worked = delivered or pacing.clock() - started >= pacing.poll_s
    before, limit = f.stream_failures, pacing.stream_failures
    if missing:  # no watch to wait for: poll now, whatever the count
        f.stream_failures = max(before + 1, limit)
    else:
        f.stream_failures = 0 if worked else before + 1
    if f.stream_failures >= limit:
        if before < limit:  # the switch, told once; a failed retry while polling is not news
            why = error if missing else f"the watch failed {f.stream_failures} times ({error})"
            log.warning("%s: %s; polling every %gs", f.feed.name, why, pacing.poll_s)
            yield Polling(why, pacing.poll_s, pacing.now())
        return
    down = f.down(error)
    if down is not None:
        yield down
