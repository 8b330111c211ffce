"""What every Application source (the Argo CD REST API, the Kubernetes API) offers its consumers
(the guard, the console, `gitops status`): the same calls, the same events, the same errors.

`events(stop)` yields, until `stop` is set:
  - `Snapshot`: the full list, on the first connect and on every reconnect, so a consumer
    reconciles what it missed (deletions included) instead of trusting an incremental view;
  - `Changed` / `Deleted`: one app, as the server reported it;
  - `Polling`: the server offers no usable watch, so the source lists it every few seconds
    instead (told once per switch; changes then come as Changed / Deleted; not an outage);
  - `Down`: the source lost its server. Until the next Snapshot the consumer's data is stale and
    must not be acted on (the guard decides nothing); the source keeps reconnecting, with
    jittered exponential backoff.
A source reads only while its events are consumed (they are an async generator): consume them
in a task of their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol, TypeAlias

from console.fleet.model import App

REFRESH_TYPES = ("normal", "hard")  # Argo CD's `?refresh=` values
ErrorKind = Literal["unreachable", "tls", "auth", "not_found", "malformed", "http", "config"]


@dataclass(frozen=True)
class Snapshot:
    """Every app the source sees, read at `at`."""

    apps: tuple[App, ...]
    at: datetime


@dataclass(frozen=True)
class Changed:
    """An app appeared or changed (Argo CD's ADDED and MODIFIED)."""

    app: App
    at: datetime


@dataclass(frozen=True)
class Deleted:
    """An app is gone; `app` is its last state."""

    app: App
    at: datetime


@dataclass(frozen=True)
class Down:
    """The server is lost since `since`; `attempt` counts the reconnects tried so far."""

    error: str
    since: datetime
    attempt: int


@dataclass(frozen=True)
class Polling:
    """The server offers no usable watch (`reason`): the source lists every `every_s` seconds
    instead, and its data stays fresh. Told once per switch to polling, not once per poll."""

    reason: str
    every_s: float
    at: datetime


Event: TypeAlias = Snapshot | Changed | Deleted | Down | Polling


class SourceError(RuntimeError):
    """A request that failed, in one line that says what to check (never a traceback, never the
    token). `kind` lets callers tell the cases apart: unreachable, tls, auth (401/403),
    not_found (404), malformed (an answer that is not what the API defines), http (any other
    error status), config (the source cannot be set up: a kubeconfig or CA file)."""

    def __init__(self, message: str, kind: ErrorKind = "http") -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind

    @classmethod
    def unreachable(cls, what: str, url: str, reason: str) -> SourceError:
        return cls(f"cannot reach {what} at {url}: {reason}", "unreachable")

    @classmethod
    def deadline(cls, what: str, url: str, timeout: float) -> SourceError:
        """The whole answer did not arrive in time (each read may have: a trickling server)."""
        return cls.unreachable(what, url, f"no complete answer within {timeout:g}s")

    @classmethod
    def tls(cls, what: str, url: str, reason: str) -> SourceError:
        return cls(f"TLS error talking to {what} at {url}: {reason}", "tls")

    @classmethod
    def auth(cls, what: str, url: str) -> SourceError:
        return cls(f"token rejected by {what} at {url}", "auth")

    @classmethod
    def not_found(cls, what: str, url: str, name: str) -> SourceError:
        return cls(f'application "{name}" not found in {what} at {url}', "not_found")

    @classmethod
    def malformed(cls, url: str, problem: str) -> SourceError:
        return cls(f"malformed answer from {url}: {problem}", "malformed")

    @classmethod
    def status(cls, what: str, url: str, status: int, message: str) -> SourceError:
        detail = f": {message}" if message else ""
        return cls(f"{what} at {url} answered HTTP {status}{detail}", "http")


class AppSource(Protocol):
    """A source of Applications. `name` says which Argo CD instance or cluster it reads (the
    apps it returns carry it as `App.instance`)."""

    name: str

    async def list(self) -> list[App]:
        """Every app, now. Raises SourceError."""
        ...

    async def get(self, name: str, *, refresh: str | None = None) -> App:
        """One app, now; `refresh` asks the server to re-compare it with Git first ("normal")
        or to drop its manifest cache too ("hard"). Raises SourceError (kind "not_found" when
        there is no such app; ValueError for another `refresh`). `name` may be
        `namespace/name` (`App.key`) for an app outside the default namespace."""
        ...

    async def resource_tree(self, name: str) -> dict[str, Any]:
        """The app's live resource tree (`v1alpha1ApplicationTree`). Raises SourceError (kind
        "config" where the source cannot serve trees)."""
        ...

    def events(self, stop: asyncio.Event) -> AsyncIterator[Event]:
        """Snapshot, then changes, with Down and a fresh Snapshot around every outage, until
        `stop` is set. Down comes once per outage (again only when its reason changes); Polling
        once per switch to polling (the server has no usable stream). Raises
        SourceError only when the first read fails with a rejected token or TLS: a
        configuration error, not an outage."""
        ...

    async def aclose(self) -> None:
        """Release connections; the source is not used afterwards."""
        ...


def check_refresh(refresh: str | None) -> None:
    if refresh is not None and refresh not in REFRESH_TYPES:
        raise ValueError(f"refresh {refresh!r} is not one of {', '.join(REFRESH_TYPES)}")


def split_key(name: str, default_namespace: str) -> tuple[str, str]:
    """`namespace/name` (App.key) or a bare name, as (namespace, name)."""
    namespace, sep, bare = name.rpartition("/")
    return (namespace, bare) if sep and namespace else (default_namespace, bare)
