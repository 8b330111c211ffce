"""The drill's eyes on the platform, through the interfaces any client has: Argo CD's API (the
application stream, resource trees; `console.fleet.argocd.ArgoCDSource`), the platform's CI runs
(`/api/ci/runs`), a Service's `/version`, the deploy repo's history (promotions and rollbacks, by
their trailers) and the guard's events file. Nothing here writes.

`wait_until` is how every step of the drill waits: on a condition, woken by the application
stream and at least every `every_s`, with a deadline whose message names what did not happen.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx

from console.contract import PROMOTED_SERVICE, ROLLBACK_OF, SOURCE_COMMIT
from console.drill.facts import CIRun, Commit, utc
from console.fleet.argocd import ArgoCDSource
from console.fleet.follow import Pacing
from console.fleet.history import Commit as GitCommit
from console.fleet.history import log
from console.fleet.mirror import FleetMirror
from console.fleet.model import App, Health, Sync
from console.fleet.source import Snapshot, SourceError
from console.guard.events import Event, read_events

T = TypeVar("T")


class DrillTimeoutError(RuntimeError):
    """A wait's deadline passed: the message names what did not happen."""


async def wait_until(
    check: Callable[[], Awaitable[T | None]],
    what: str | Callable[[], str],
    timeout_s: float,
    *,
    wake: asyncio.Event | None = None,
    every_s: float = 0.25,
    alive: Callable[[], None] | None = None,
) -> T:
    """The first non-None value of `check()`, called at once, on every `wake` and at least every
    `every_s`. `alive()` may raise to end the wait (the platform exited). Raises
    DrillTimeoutError("<what>: did not happen within <timeout>s") at the deadline (`what` may
    be a function: the message then says what it says at that moment)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if alive is not None:
            alive()
        value = await check()
        if value is not None:
            return value
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            said = what() if callable(what) else what
            raise DrillTimeoutError(f"{said}: did not happen within {timeout_s:g}s")
        pause = min(every_s, remaining)
        if wake is None:
            await asyncio.sleep(pause)  # the pace of a poll with a deadline
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=pause)
            wake.clear()


# --- git --------------------------------------------------------------------------------------


def _commit(c: GitCommit) -> Commit:
    return Commit(c.sha, c.subject, utc(c.timestamp), c.trailers)


def promotion_of(deploy_remote: str, source_commit: str, service: str) -> Commit | None:
    """The deploy-repo commit that promoted `service` built from `source_commit` (its trailers
    pair Promoted-Service with Source-Commit), or None yet."""
    for c in log(Path(deploy_remote), "main"):
        service_now = ""
        for key, value in c.trailers:
            if key.lower() == PROMOTED_SERVICE.lower():
                service_now = value
            elif (
                key.lower() == SOURCE_COMMIT.lower()
                and value == source_commit
                and service_now == service
            ):
                return _commit(c)
    return None


def rollbacks_of(deploy_remote: str, bad: str) -> list[Commit]:
    """Every rollback commit of the deploy revision `bad` (any app), newest first."""
    return [_commit(c) for c in log(Path(deploy_remote), "main") if c.trailer(ROLLBACK_OF) == bad]


def guard_events(path: str, app: str, since: datetime) -> list[Event]:
    """The guard's events about `app` from `since` on."""
    if not path:
        return []
    return [e for e in read_events(Path(path)) if e.app == app and e.at >= since]


# --- pods in a resource tree -------------------------------------------------------------------


@dataclass(frozen=True)
class Pod:
    name: str
    image: str
    reason: str  # Status Reason: Running, ContainerCreating, ImagePullBackOff, Terminating, ...
    ready: bool
    health: str

    @property
    def tag(self) -> str:
        return self.image.rpartition(":")[2] if ":" in self.image else ""


def pods(tree: Mapping[str, Any]) -> list[Pod]:
    """The pods of an Argo CD resource tree; malformed nodes are skipped."""
    out = []
    for node in tree.get("nodes") or []:
        if not isinstance(node, Mapping) or node.get("kind") != "Pod":
            continue
        info = {
            str(i.get("name")): str(i.get("value") or "")
            for i in node.get("info") or []
            if isinstance(i, Mapping)
        }
        ready, _, total = info.get("Containers", "").partition("/")
        images = node.get("images") or []
        health = node.get("health") if isinstance(node.get("health"), Mapping) else {}
        out.append(
            Pod(
                name=str(node.get("name") or ""),
                image=str(images[0]) if images else "",
                reason=info.get("Status Reason", ""),
                ready=bool(total) and ready == total and total != "0",
                health=str((health or {}).get("status") or ""),
            )
        )
    return out


def halted(all_pods: list[Pod], bad_tag: str, good_tag: str) -> str:
    """Non-empty (which pods) while a pod of the new build runs but is not ready and one of the
    old build serves: the rollout is halted with the old pods serving."""
    new = [p for p in all_pods if p.tag == bad_tag and p.reason == "Running" and not p.ready]
    old = [p for p in all_pods if p.tag == good_tag and p.ready]
    if not new or not old:
        return ""
    return (
        f"{', '.join(p.name for p in new)} Running 0/1; "
        f"{', '.join(p.name for p in old)} ready and serving"
    )


def failing(all_pods: list[Pod], bad_tag: str, reasons: Collection[str]) -> str:
    """Non-empty (which pods, with their status) while a pod of the new build shows one of
    `reasons` (CrashLoopBackOff, ImagePullBackOff, ...)."""
    new = [p for p in all_pods if p.tag == bad_tag and p.reason in reasons]
    return ", ".join(f"{p.name} {p.reason}" for p in new)


# --- the API ------------------------------------------------------------------------------------


def healthy_synced(app: App | None, revision: str | None = None) -> bool:
    """Synced and Healthy (on `revision`, when given: the revision its last sync deployed)."""
    if app is None or app.sync is not Sync.SYNCED or app.health is not Health.HEALTHY:
        return False
    if revision is None:
        return True
    deployed = app.operation.revision if app.operation is not None else app.sync_revision
    return deployed == revision and app.sync_revision == revision


class PlatformView:
    """Applications as the stream tells them (current within milliseconds), plus reads."""

    def __init__(self, argocd_url: str, token: str) -> None:
        self.source = ArgoCDSource(argocd_url, token, pacing=Pacing(poll_s=2.0, stream_retry_s=5.0))
        self._http = httpx.AsyncClient(
            base_url=argocd_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=10.0,
            trust_env=False,
        )
        self._plain = httpx.AsyncClient(timeout=5.0, trust_env=False)
        self.mirror = FleetMirror()
        self.changed = asyncio.Event()
        self.first = asyncio.Event()  # set once the first snapshot arrived
        self.failed = ""  # why the stream gave up (a rejected token)
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._follow())

    async def _follow(self) -> None:
        try:
            await self._events()
        except SourceError as exc:  # a rejected token: the stream gives up
            self.failed = str(exc)
            self.changed.set()

    async def _events(self) -> None:
        async for event in self.source.events(self._stop):
            self.mirror.apply(event)
            if isinstance(event, Snapshot):
                self.first.set()
            self.changed.set()

    @property
    def down(self) -> str:
        """Why the stream is down ("" while it is up)."""
        return self.failed or (self.mirror.down.error if self.mirror.down else "")

    async def close(self) -> None:
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, SourceError):
                await self._task
        await self.source.aclose()
        await self._http.aclose()
        await self._plain.aclose()

    def app(self, name: str) -> App | None:
        return self.mirror.named(name)

    async def get(self, name: str) -> App | None:
        """A fresh read of one app (None when it cannot be read right now)."""
        try:
            return await self.source.get(name)
        except SourceError:
            return None

    async def pods(self, name: str) -> list[Pod] | None:
        try:
            return pods(await self.source.resource_tree(name))
        except SourceError:
            return None

    async def ci_runs(self, repo: str, commit: str) -> list[CIRun] | None:
        """The CI stages of `commit`, oldest first (None when the API does not answer)."""
        try:
            answer = await self._http.get("/api/ci/runs", params={"repo": repo, "commit": commit})
            answer.raise_for_status()
            items = answer.json()["items"]
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            return None
        out = []
        for item in items:
            try:
                started = datetime.fromisoformat(str(item["startedAt"]).replace("Z", "+00:00"))
                duration = item.get("durationSeconds")
                out.append(
                    CIRun(
                        stage=str(item["stage"]),
                        result=str(item["result"]),
                        started_at=started,
                        duration_s=float(duration) if duration is not None else None,
                        log_path=str(item.get("logPath") or ""),
                    )
                )
            except (KeyError, ValueError, TypeError):
                continue
        return sorted(out, key=lambda r: (r.started_at, _STAGES.get(r.stage, 9)))

    async def version(self, service_url: str) -> dict[str, Any] | None:
        """A Service's /version (None when it does not answer 200 with a JSON object)."""
        try:
            answer = await self._plain.get(f"{service_url.rstrip('/')}/version")
            body = answer.json() if answer.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            return None
        return body if isinstance(body, dict) else None


_STAGES = {"test": 0, "build": 1, "promote": 2}


def is_about(event: Event, revision: str) -> bool:
    """Whether a guard event is about `revision` (as the bad one, or its commit)."""
    return bool(revision) and revision in {
        str(event.fields.get(k, "")) for k in ("bad", "revision", "commit")
    }


def says_recovered(event: Event, commit: str) -> bool:
    """Whether a guard event says the app recovered on the rollback `commit`."""
    return event.type == "Recovered" and event.fields.get("commit") == commit


def sync_started(app: App | None, revision: str) -> datetime | None:
    """When Argo CD started syncing `revision` (its running operation, else its history)."""
    if app is None:
        return None
    op = app.operation
    if op is not None and op.revision == revision and op.started_at is not None:
        return op.started_at
    for entry in app.history:
        if entry.revision == revision and entry.deploy_started_at is not None:
            return entry.deploy_started_at
    return None
