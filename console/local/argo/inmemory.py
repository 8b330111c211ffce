"""`InMemorySource`: the hand-off point between the embedded controller, which publishes
Applications into it, and the API server, which serves them and queues what users ask for.

It is a complete, thread-safe `ApplicationSource` over a dict of records, not a test double: a
versioned store with tombstones (so a watch resumes from any resource version), watchers woken
on every change (`wakeup`), an inbox of requests for the controller (`requests`), the live
resource trees and the pods' logs (`podlogs`).
"""

from __future__ import annotations

import asyncio
import builtins
import threading
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from console.application import Json, Operation, OperationInitiator, SyncOperation
from console.fleet.logs import LogQuery
from console.local.argo.appstate import (
    ApplicationRecord,
    EventType,
    as_object,
    plain_copy,
    resource_tree,
)
from console.local.argo.errors import (
    ApiError,
    ApplicationNotFoundError,
    NotFoundError,
    OperationInProgressError,
    UnavailableError,
    UnimplementedError,
)
from console.local.argo.podlogs import LogEntry, PodLogs
from console.local.argo.reposerver import Manifests, RepoServerError
from console.local.argo.requests import RefreshRequest, Request, SyncRequest, WebhookDelivery
from console.local.argo.wakeup import Wakeup


def _utcnow() -> datetime:
    return datetime.now(UTC)


# (repoURL, revision, path) -> what the source path renders to there; blocking (git, kustomize).
Renderer = Callable[[str, str, str], Manifests]


class InMemorySource:
    """A complete ApplicationSource over a dict of records: the hand-off point between the
    controller, which publishes into it, and the API server, which serves it.

    Thread-safe: publish from any thread (the controller's loop, a worker thread); the async
    methods may run on any event loop. Watchers are woken on every change; unchanged records are
    not changes (publishing the same state again emits nothing).

    For the controller:
      - `put(record)` publishes an application's manifest and status (new or changed);
        `update(name, fn)` changes one atomically (use it for every change after the first
        publish, e.g. to clear `operation` when the requested sync completes, so that a
        request arriving meanwhile is not overwritten); `delete(name)` removes one.
      - `set_resource_tree(name, tree)` publishes the live tree (pods, ReplicaSets...);
        without one the tree lists the managed resources of `status.resources`.
      - `set_renderer(render)` gives the repo server's rendering, which `manifests` answers
        with (run in a worker thread: it renders on demand, any revision).
      - `append_log(app, pod, content)` records a pod's log line (the last `max_log_lines` per
        pod are kept).
      - `requests()` (async, waits) or `take_requests()` (does not wait) hand over, in order,
        what users asked for: SyncRequest (a wake-up: the record's `operation`, set at the
        same time, is the request itself, as in Argo CD), RefreshRequest and WebhookDelivery
        (GitHub push events, already checked to be a push by the API).
    """

    def __init__(
        self,
        records: Iterable[ApplicationRecord] = (),
        *,
        max_pending: int = 1000,
        max_log_lines: int = 10_000,
        max_tombstones: int = 10_000,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._max_pending = max_pending
        self._max_tombstones = max_tombstones
        self._records: dict[str, ApplicationRecord] = {}
        self._added_at: dict[str, int] = {}  # version at which the app (re)appeared
        # Deleted apps: their last state (resource_version = the deletion's) and when they
        # appeared, so a watcher that knew them gets DELETED and one that did not gets nothing.
        self._tombstones: dict[str, tuple[ApplicationRecord, int]] = {}
        self._trees: dict[str, Json] = {}
        # Each app's live objects the runtime runs (its pods), by (kind, namespace, name).
        self._live: dict[str, dict[tuple[str, str, str], Json]] = {}
        self._logs = PodLogs(max_log_lines)
        self._render: Renderer | None = None
        self._inbox: deque[Request] = deque()
        self._changes = Wakeup()
        self._inbox_signal = Wakeup()
        initial = builtins.list(records)
        self._version = max((r.resource_version for r in initial), default=0)
        for record in initial:
            self.put(record)

    # -- publishing (the controller's side) --

    def put(self, record: ApplicationRecord) -> ApplicationRecord:
        """Publish an application (new or changed); returns the stored record, with its
        identity and versions filled in. Publishing an unchanged record is a no-op."""
        with self._lock:
            old = self._records.get(record.name)
            stored = self._store(record, old)
            waiters = self._changes.take() if stored is not old else []
        Wakeup.wake(waiters)
        return stored

    def update(
        self, name: str, change: Callable[[ApplicationRecord], ApplicationRecord]
    ) -> ApplicationRecord:
        """Replace an application by `change(current)` atomically; `change` runs under the
        source's lock, so it must be quick and must not call the source. Raises
        ApplicationNotFoundError."""
        with self._lock:
            old = self._records.get(name)
            if old is None:
                raise ApplicationNotFoundError(name)
            new = change(old)
            if new.name != name:
                raise ValueError(f"update of {name!r} returned application {new.name!r}")
            stored = self._store(new, old)
            waiters = self._changes.take() if stored is not old else []
        Wakeup.wake(waiters)
        return stored

    def delete(self, name: str) -> ApplicationRecord | None:
        """Remove an application; returns its last state, None when there was none."""
        with self._lock:
            old = self._records.pop(name, None)
            if old is None:
                return None
            self._version += 1
            tomb = replace(old, resource_version=self._version)
            self._tombstones.pop(name, None)
            self._tombstones[name] = (tomb, self._added_at.pop(name))
            while len(self._tombstones) > self._max_tombstones:
                self._tombstones.pop(next(iter(self._tombstones)))
            self._trees.pop(name, None)
            self._live.pop(name, None)
            waiters = self._changes.take()
        self._logs.forget(name)
        Wakeup.wake(waiters)
        return tomb

    def set_resource_tree(self, name: str, tree: Mapping[str, Any]) -> None:
        """Publish the application's live `v1alpha1ApplicationTree` JSON."""
        with self._lock:
            if name not in self._records:
                raise ApplicationNotFoundError(name)
            self._trees[name] = plain_copy(tree)

    def set_live_objects(self, name: str, objects: Mapping[tuple[str, str, str], Json]) -> None:
        """Publish the application's live objects beyond its managed resources (its pods), as
        the cluster has them: what `GET .../resource` answers."""
        with self._lock:
            if name not in self._records:
                raise ApplicationNotFoundError(name)
            self._live[name] = {key: plain_copy(obj) for key, obj in objects.items()}

    def live_object(self, name: str, kind: str, namespace: str, resource_name: str) -> Json:
        """One live object of the application. Raises ApplicationNotFoundError, NotFoundError."""
        with self._lock:
            if name not in self._records:
                raise ApplicationNotFoundError(name)
            found = self._live.get(name, {}).get((kind, namespace, resource_name))
            if found is None:
                raise NotFoundError(f'{kind.lower()}s "{resource_name}" not found')
            copy: Json = plain_copy(found)
            return copy

    def set_renderer(self, render: Renderer) -> None:
        """Answer `manifests` with `render` (the repo server's)."""
        self._render = render

    async def manifests(self, name: str, revision: str | None) -> Manifests:
        with self._lock:
            record = self._records.get(name)
        if record is None:
            raise ApplicationNotFoundError(name)
        render = self._render
        if render is None:
            raise UnimplementedError("manifests are not rendered by this platform")
        url = str(record.source.get("repoURL") or "")
        path = str(record.source.get("path") or "")
        try:
            return await asyncio.to_thread(render, url, revision or record.target_revision, path)
        except RepoServerError as exc:
            raise ApiError(str(exc)) from None

    def append_log(
        self,
        app: str,
        pod: str,
        content: str,
        *,
        container: str = "",
        timestamp: datetime | None = None,
    ) -> None:
        """Record one log line of a pod of `app` (the app need not be published yet)."""
        self._logs.append(app, LogEntry(content, timestamp or self._clock(), pod, container))

    def take_requests(self) -> builtins.list[Request]:
        """Every pending request, oldest first, without waiting."""
        with self._lock:
            pending = builtins.list(self._inbox)
            self._inbox.clear()
        return pending

    async def requests(self) -> AsyncIterator[Request]:
        """Pending requests, oldest first, waiting for new ones forever."""
        while True:
            with self._lock:
                item = self._inbox.popleft() if self._inbox else None
                waiter = self._inbox_signal.register() if item is None else None
            if waiter is not None:
                await self._wait(self._inbox_signal, waiter)
            elif item is not None:
                yield item

    # -- reading (the API's side) --

    def version(self) -> int:
        with self._lock:
            return self._version

    def list(self) -> builtins.list[ApplicationRecord]:
        with self._lock:
            return builtins.list(self._records.values())

    def get(self, name: str) -> ApplicationRecord | None:
        with self._lock:
            return self._records.get(name)

    async def watch(self, since: int) -> AsyncIterator[tuple[EventType, ApplicationRecord]]:
        while True:
            with self._lock:
                events = self._changes_since(since)
                waiter = None if events else self._changes.register()
            if waiter is not None:
                await self._wait(self._changes, waiter)
                continue
            for event in events:
                yield event
                since = event[1].resource_version

    async def sync(self, request: SyncRequest) -> ApplicationRecord:
        name = request.app
        with self._lock:
            old = self._records.get(name)
            if old is None:
                raise ApplicationNotFoundError(name)
            if old.operation_in_progress:
                raise OperationInProgressError(name)
            self._check_room()
            retry = as_object(
                as_object(old.spec.get("syncPolicy"), "syncPolicy").get("retry"), "retry"
            )
            operation = Operation(
                sync=SyncOperation(
                    revision=request.revision or "",
                    prune=request.prune,
                    dry_run=request.dry_run,
                    sync_options=request.sync_options,
                ),
                initiated_by=OperationInitiator(username=request.initiated_by),
                retry=plain_copy(retry),
            )
            stored = self._store(replace(old, operation=operation), old)
            self._inbox.append(request)
            waiters = self._changes.take() + self._inbox_signal.take()
        Wakeup.wake(waiters)
        return stored

    async def refresh(self, name: str, hard: bool) -> None:
        with self._lock:
            if name not in self._records:
                raise ApplicationNotFoundError(name)
            pending = [r for r in self._inbox if isinstance(r, RefreshRequest) and r.app == name]
            if any(r.hard or not hard for r in pending):
                return  # an equal or stronger refresh is already queued
            self._check_room()
            self._inbox.append(RefreshRequest(name, hard))
            waiters = self._inbox_signal.take()
        Wakeup.wake(waiters)

    def resource_tree(self, name: str) -> dict[str, Any]:
        with self._lock:
            record = self._records.get(name)
            if record is None:
                raise ApplicationNotFoundError(name)
            tree = self._trees.get(name)
            return plain_copy(tree) if tree is not None else resource_tree(record)

    def pod_logs(self, name: str, query: LogQuery) -> AsyncIterator[LogEntry]:
        with self._lock:
            if name not in self._records:
                raise ApplicationNotFoundError(name)
        if query.pod is not None and not self._logs.has_pod(name, query.pod):
            raise NotFoundError(f'pods "{query.pod}" not found')
        return self._logs.stream(name, query)

    async def webhook(self, event: bytes, headers: Mapping[str, str]) -> None:
        delivery = WebhookDelivery(bytes(event), tuple(headers.items()), self._clock())
        with self._lock:
            if len(self._inbox) >= self._max_pending:
                raise UnavailableError("Queue is full, discarding webhook payload")
            self._inbox.append(delivery)
            waiters = self._inbox_signal.take()
        Wakeup.wake(waiters)

    # -- internals --

    def _check_room(self) -> None:
        if len(self._inbox) >= self._max_pending:
            raise UnavailableError("too many pending requests; retry later")

    def _store(self, record: ApplicationRecord, old: ApplicationRecord | None) -> ApplicationRecord:
        """Stamp and store `record` (lock held); returns `old` itself when nothing changed."""
        manifest = plain_copy(record.manifest)
        if old is not None:
            same = replace(
                record,
                manifest=manifest,
                resource_version=old.resource_version,
                uid=old.uid,
                created_at=old.created_at,
                generation=old.generation,
            )
            if same == old:
                return old
            spec_changed = (
                {k: v for k, v in manifest.items() if k != "metadata"}
                != {k: v for k, v in old.manifest.items() if k != "metadata"}
                or record.status != old.status
                or record.operation != old.operation
            )
            # Applications have no status subresource: any change but metadata's is a new
            # generation.
            generation = old.generation + 1 if spec_changed else old.generation
            uid, created_at = old.uid, old.created_at
        else:
            generation = record.generation or 1
            uid = record.uid or str(uuid.uuid4())
            created_at = record.created_at or self._clock()
        self._version += 1
        stored = replace(
            record,
            manifest=manifest,
            resource_version=self._version,
            uid=uid,
            created_at=created_at,
            generation=generation,
        )
        if old is None:
            self._added_at[stored.name] = self._version
        self._records[stored.name] = stored
        return stored

    def _changes_since(self, since: int) -> builtins.list[tuple[EventType, ApplicationRecord]]:
        events: builtins.list[tuple[EventType, ApplicationRecord]] = []
        for name, record in self._records.items():
            if record.resource_version > since:
                events.append(("ADDED" if self._added_at[name] > since else "MODIFIED", record))
        for tomb, added_at in self._tombstones.values():
            if tomb.resource_version > since and added_at <= since:
                events.append(("DELETED", tomb))
        events.sort(key=lambda e: e[1].resource_version)
        return events

    async def _wait(self, signal: Wakeup, waiter: asyncio.Future[None]) -> None:
        await signal.wait(waiter, self._lock)
