"""One source's Applications as its events tell them: the fleet's one mirror (an informer's
cache), shared by the guard, the console and the drill.

A Snapshot replaces everything (what it leaves out was deleted while nobody watched), Changed
and Deleted move one app, Down marks the whole mirror stale until the next Snapshot, Polling
only says how the source reads now (the data stays fresh). Apps are
keyed by `App.key` (namespace/name): two apps of one name in two namespaces are two apps.
`apply` says what each event changed, with the state before, so consumers tell transitions
(health Degraded → Healthy) without keeping a second copy.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from console.fleet.model import App
from console.fleet.source import Changed, Deleted, Down, Event, Polling, Snapshot


@dataclass(frozen=True)
class Delta:
    """What one event did: apps added or modified, as (before, after) with `before` None for a
    new one, and apps removed (their last state)."""

    changed: tuple[tuple[App | None, App], ...] = ()
    removed: tuple[App, ...] = ()


class FleetMirror:
    def __init__(self) -> None:
        self._apps: dict[str, App] = {}
        self.listed = False  # a Snapshot arrived at least once
        self.down: Down | None = None  # the outage in progress
        self.read_at: datetime | None = None  # when the source last said anything
        self.polling: Polling | None = None  # the source polls: the server has no usable watch

    @property
    def stale(self) -> bool:
        """Nothing may be decided on it: never listed, or its source is down."""
        return not self.listed or self.down is not None

    def apply(self, event: Event) -> Delta:
        if isinstance(event, Down):
            self.down = event
            return Delta()
        self.read_at = event.at
        if isinstance(event, Polling):
            self.polling = event
            return Delta()
        if isinstance(event, Snapshot):
            fresh = {app.key: app for app in event.apps}
            removed = tuple(app for key, app in self._apps.items() if key not in fresh)
            changed = tuple(
                (self._apps.get(key), app)
                for key, app in fresh.items()
                if self._apps.get(key) is not app
            )
            self._apps, self.listed, self.down = fresh, True, None
            return Delta(changed, removed)
        if isinstance(event, Changed):
            before = self._apps.get(event.app.key)
            self._apps[event.app.key] = event.app
            return Delta(((before, event.app),))
        if isinstance(event, Deleted):
            gone = self._apps.pop(event.app.key, None)
            return Delta(removed=(gone,) if gone is not None else ())
        raise TypeError(f"not a source event: {event!r}")

    def get(self, key: str) -> App | None:
        return self._apps.get(key)

    def named(self, name: str) -> App | None:
        """By key, else by bare name when exactly one app has it."""
        app = self._apps.get(name)
        if app is not None:
            return app
        found = [a for a in self._apps.values() if a.name == name]
        return found[0] if len(found) == 1 else None

    def apps(self) -> list[App]:
        return list(self._apps.values())

    def __iter__(self) -> Iterator[App]:
        return iter(list(self._apps.values()))

    def __len__(self) -> int:
        return len(self._apps)

    def __contains__(self, key: object) -> bool:
        return key in self._apps
