"""The messages the adapter's workers post to the app: what a source, a probe round, a deploy
repo or the guard's event file said. Each carries the target (or repo) it is about; the app
applies it to its Store and re-renders what changed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from textual.message import Message

from console.fleet.model import App
from console.fleet.source import Down, Polling
from console.guard import events as guard_events
from console.tui.appdetail import HistoryLine
from console.tui.diffview import ManifestDiff, Pair
from console.tui.store import AppId, PinKey, RepoFacts


class AppsListed(Message):
    """A source's Snapshot: every app of the target (on connect and every reconnect)."""

    def __init__(self, target: str, apps: Sequence[App], at: datetime) -> None:
        super().__init__()
        self.target, self.apps, self.at = target, tuple(apps), at


class AppChanged(Message):
    def __init__(self, target: str, app: App, at: datetime) -> None:
        super().__init__()
        self.target, self.app, self.at = target, app, at


class AppDeleted(Message):
    def __init__(self, target: str, app: App, at: datetime) -> None:
        super().__init__()
        self.target, self.app, self.at = target, app, at


class TargetDown(Message):
    """The target's source lost its server; it keeps reconnecting."""

    def __init__(self, target: str, down: Down) -> None:
        super().__init__()
        self.target, self.down = target, down


class TargetPolling(Message):
    """The target's server offers no usable stream: its source polls the list instead (the
    data stays fresh; not an outage)."""

    def __init__(self, target: str, polling: Polling) -> None:
        super().__init__()
        self.target, self.polling = target, polling


class TargetFailed(Message):
    """The target cannot be read at all (a rejected token, TLS, a bad kubeconfig): its events
    ended, nothing is retried."""

    def __init__(self, target: str, message: str, at: datetime) -> None:
        super().__init__()
        self.target, self.message, self.at = target, message, at


class WorkerFailed(Message):
    """A worker (`name`: what it follows) failed unexpectedly; it starts again in `retry_s`."""

    def __init__(self, name: str, error: str, retry_s: float, at: datetime) -> None:
        super().__init__()
        self.name, self.error, self.retry_s, self.at = name, error, retry_s, at


class VersionsProbed(Message):
    """One probe round of a target: app name -> its `/version` (None: no answer)."""

    def __init__(self, target: str, versions: Mapping[str, str | None]) -> None:
        super().__init__()
        self.target, self.versions = target, dict(versions)


class RepoRead(Message):
    """A deploy repo's history, read because its head moved."""

    def __init__(self, location: str, facts: RepoFacts) -> None:
        super().__init__()
        self.location, self.facts = location, facts


class RepoFailed(Message):
    def __init__(self, location: str, message: str, at: datetime) -> None:
        super().__init__()
        self.location, self.message, self.at = location, message, at


class PinsRead(Message):
    """Image tags the overlays pin at given revisions."""

    def __init__(self, pins: Mapping[PinKey, str | None]) -> None:
        super().__init__()
        self.pins = dict(pins)


class GuardEventsRead(Message):
    """The guard's whole event file, read because it changed."""

    def __init__(self, events: Sequence[guard_events.Event]) -> None:
        super().__init__()
        self.events = list(events)


class ActionDone(Message):
    """An action (sync, rollback, promote) finished: `ok` and a one-line outcome."""

    def __init__(self, kind: str, app: str, target: str, ok: bool, message: str) -> None:
        super().__init__()
        self.kind, self.app, self.target, self.ok, self.message = kind, app, target, ok, message


class RollbackChosen(Message):
    """The operator chose a history line of an app to roll back to (the detail's `r`)."""

    def __init__(self, app_id: AppId, line: HistoryLine) -> None:
        super().__init__()
        self.app_id, self.line = app_id, line


class OpenApp(Message):
    """Drill into an app (enter on the fleet)."""

    def __init__(self, app_id: AppId) -> None:
        super().__init__()
        self.app_id = app_id


class FilterChanged(Message):
    def __init__(self, query: str) -> None:
        super().__init__()
        self.query = query


class ScreenReady(Message):
    """A screen mounted its widgets: render the store into it now."""


class DiffWanted(Message):
    """Show the diff of two revisions of an app (`d` on a history line or a rollback); `pair`
    is None when there is nothing to compare, `why` says why."""

    def __init__(self, target: str, app: str, pair: Pair | None, why: str = "") -> None:
        super().__init__()
        self.target, self.app, self.pair, self.why = target, app, pair, why


class DiffFetched(Message):
    """A diff view's manifests, compared (`diff`), or why they could not be had (`error`)."""

    def __init__(self, diff: ManifestDiff | None, error: str = "") -> None:
        super().__init__()
        self.diff, self.error = diff, error
