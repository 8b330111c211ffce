"""The application controller: Argo CD's reconcile loop over the Applications in the deploy repo.

It starts from the root app-of-apps (the one Application bootstrapped from `argocd/root.yaml`),
whose source renders the child Applications; for every app it resolves the target revision,
asks the repo server for the desired objects, compares them with what the runtime runs, lets the
pure sync rules (`sync.auto_sync`) decide, applies through the runtime, and publishes the result
(sync, health, operation state, history, resources, conditions) into the read model the API
serves. It never writes to Git: status is read, changes come in as commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from console.application import (
    ApplicationCondition,
    ApplicationStatus,
    ApplicationSummary,
    ComparedTo,
    Operation,
    OperationInitiator,
    OperationPhase,
    OperationState,
    ResourceResult,
    ResourceStatus,
    RevisionHistory,
    SyncOperation,
    SyncOperationResult,
    SyncStatus,
    add_history,
)
from console.local.argo.appstate import ApplicationRecord
from console.local.argo.appstore import AppStore, SavedApp
from console.local.argo.health import Health, HealthStatus, app_health, live_health, resource_health
from console.local.argo.inmemory import InMemorySource
from console.local.argo.reposerver import Manifests, RepoServer, RepoServerError
from console.local.argo.requests import RefreshRequest, SyncRequest, WebhookDelivery
from console.local.argo.sync import (
    Phase,
    ResourceDiff,
    SyncAttempt,
    SyncCode,
    SyncPolicy,
    auto_sync,
    compare,
)
from console.local.git.webhook import PushEvent, WebhookError, parse_push
from console.local.kube.objects import ObjectKey, fingerprint, images, key_of
from console.local.kube.runtime import SUPPORTED_KINDS, ApplyResult, LiveResource, Runtime
from console.local.state import StateError

log = logging.getLogger("gitops.controller")

DEFAULT_POLL_S = 180.0  # Argo CD's default timeout.reconciliation
SAVE_RETRY_S = 5.0  # how often an app the store refused is saved again
SYNCED_MESSAGE = "successfully synced (all tasks run)"


def _condition(kind: str, message: str, at: datetime) -> ApplicationCondition:
    return ApplicationCondition(type=kind, message=message, last_transition_time=at)


def _version_of(obj: Mapping[str, Any]) -> str:
    return str(obj.get("apiVersion", "")).rpartition("/")[2]


@dataclass
class _App:
    """What the controller knows of one app between reconciles (the rest is in the record)."""

    manifest: Mapping[str, Any]
    last_op: SyncAttempt | None = None
    history: tuple[RevisionHistory, ...] = ()
    operation_state: OperationState | None = None
    wake_at: float | None = None
    applied_children: dict[ObjectKey, str] = field(default_factory=dict)  # root only
    applied: tuple[Mapping[str, Any], ...] = ()  # what the runtime was last given
    sync_error: str = ""  # why automated sync holds back now (a SyncError condition)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def spec(self) -> Mapping[str, Any]:
        return self.manifest.get("spec") or {}

    @property
    def source(self) -> Mapping[str, Any]:
        return self.spec.get("source") or {}

    @property
    def namespace(self) -> str:
        return str((self.spec.get("destination") or {}).get("namespace") or "")


class Controller:
    def __init__(
        self,
        repos: RepoServer,
        runtime: Runtime,
        source: InMemorySource,
        root: Mapping[str, Any],
        *,
        poll_s: float = DEFAULT_POLL_S,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
        store: AppStore | None = None,
        hold: frozenset[str] = frozenset(),
    ) -> None:
        self.repos = repos
        source.set_renderer(repos.render)  # GetManifests renders as the controller does
        # Apps this platform does not sync on its own (`gitops up --no-guard` holds the guard's),
        # as if an operator had turned their automated sync off: they stay OutOfSync until a
        # sync is asked for, and what a previous run applied for them is not started again.
        self.hold = hold
        self.runtime = runtime
        self.source = source
        self.root_name = str(root["metadata"]["name"])
        self.poll_s = poll_s
        self._mono = monotonic
        self._wall = wall
        self._apps: dict[str, _App] = {self.root_name: _App(root)}
        self._dirty: set[str] = set(self._apps)
        self._wake = asyncio.Event()
        # Set once every known app has been reconciled and published: what the API server waits
        # for before it answers (Argo CD's waits for its informer cache), so no client reads a
        # partial list of a restarted platform and takes the rest for deleted.
        self.synced = asyncio.Event()
        self._pending_sync: dict[str, SyncRequest] = {}
        self.store = store
        self._unsaved: set[str] = set()  # apps whose last save failed
        self._save_failing = False
        self._retry_save_at: float | None = None
        # Called with every push event (after the apps it concerns are marked): how `gitops up`
        # starts CI on a push to the apps repo.
        self.push_listeners: list[Callable[[PushEvent], None]] = []

    # -- persistence --

    async def restore(self) -> int:
        """Bring back what the store saved (call once, before `run`): each app's history and
        operation state, and the objects it had applied, which the runtime starts again. Returns
        how many apps were restored."""
        if self.store is None:
            return 0
        saved = self.store.load()
        now = self._mono()
        for name, doc in sorted(saved.items(), key=lambda kv: (kv[0] != self.root_name, kv[0])):
            app = self._apps.get(name) or _App(doc.manifest)
            if name != self.root_name:
                app.manifest = doc.manifest  # the root's comes from argocd/root.yaml, fresh
            app.history = doc.history
            app.operation_state = doc.operation_state
            app.applied_children = dict(doc.applied_children)
            app.applied = doc.applied
            op = doc.last_op
            if op is not None and op.phase is not Phase.RUNNING:
                app.last_op = replace(op, started_at=now, finished_at=now)
            elif op is not None:
                # Interrupted: compare afresh and sync again (Argo CD resumes the operation).
                app.operation_state = None
            self._apps[name] = app
            self._dirty.add(name)
            if name != self.root_name and app.applied and name not in self.hold:
                await self.runtime.apply(name, app.namespace, app.applied, False)
        return len(saved)

    def _save(self, name: str, app: _App) -> None:
        """Persist the app. When the store cannot be written (a full disk), the app stays
        known in memory and is saved again on the next pass: the controller keeps reconciling,
        as Argo CD's keeps its cache while etcd refuses writes, and says so once."""
        if self.store is None:
            return
        try:
            self._write(name, app)
        except StateError as exc:
            self._unsaved.add(name)
            self._retry_save_at = self._mono() + SAVE_RETRY_S
            if not self._save_failing:
                log.error("cannot save application %s: %s; retrying every %.0f s", name, exc,
                          SAVE_RETRY_S)  # fmt: skip
            self._save_failing = True
            return
        self._unsaved.discard(name)
        if self._save_failing and not self._unsaved:
            self._save_failing = False
            log.warning("saving applications works again")

    def _save_unsaved(self) -> None:
        for name in sorted(self._unsaved):
            if name in self._apps:
                self._save(name, self._apps[name])
            else:
                self._unsaved.discard(name)

    def _write(self, name: str, app: _App) -> None:
        if self.store is None:
            return
        self.store.save(
            name,
            SavedApp(
                manifest=app.manifest,
                history=app.history,
                operation_state=app.operation_state,
                last_op=app.last_op,
                applied=app.applied,
                applied_children=dict(app.applied_children),
            ),
        )

    # -- the loop --

    async def run(self, stop: asyncio.Event) -> None:
        """Reconcile until `stop` is set: on requests, runtime changes, retries and polling."""
        self.runtime.set_listener(self._mark)
        consumer = asyncio.create_task(self._consume_requests())
        next_poll = self._mono()
        try:
            while not stop.is_set():
                if self._mono() >= next_poll:
                    self._dirty.update(self._apps)
                    next_poll = self._mono() + self.poll_s
                await self.reconcile_dirty()
                self.synced.set()
                wakes = [a.wake_at for a in self._apps.values() if a.wake_at]
                if self._unsaved and self._retry_save_at is not None:
                    wakes.append(self._retry_save_at)
                wake_at = min([next_poll, *wakes])
                timeout = max(0.0, wake_at - self._mono())
                self._wake.clear()
                if self._dirty:
                    continue
                with contextlib.suppress(TimeoutError):
                    waits = [
                        asyncio.create_task(self._wake.wait()),
                        asyncio.create_task(stop.wait()),
                    ]
                    await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                    for task in waits:
                        task.cancel()
                for app in self._apps.values():
                    if app.wake_at is not None and app.wake_at <= self._mono():
                        app.wake_at = None
                        self._dirty.add(self._name_of(app))
        finally:
            consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await consumer

    def _name_of(self, app: _App) -> str:
        return str(app.manifest["metadata"]["name"])

    def _mark(self, name: str) -> None:
        if name in self._apps:
            self._dirty.add(name)
            self._wake.set()

    def refresh_all(self) -> None:
        self._dirty.update(self._apps)
        self._wake.set()

    async def _consume_requests(self) -> None:
        async for request in self.source.requests():
            if isinstance(request, SyncRequest):
                self._pending_sync[request.app] = request
                self._mark(request.app)
            elif isinstance(request, RefreshRequest):
                self._mark(request.app)
            else:
                self._on_webhook(request)

    def _on_webhook(self, delivery: WebhookDelivery) -> None:
        try:
            event = parse_push(dict(delivery.headers), delivery.body)
        except WebhookError as exc:
            log.warning("ignored webhook: %s", exc)
            return
        if event is None:
            return
        for name, app in self._apps.items():
            url = str(app.source.get("repoURL", ""))
            if url and event.matches(url):
                self._mark(name)
        log.info("push to %s %s", event.repo_url, event.ref)
        for listener in self.push_listeners:
            listener(event)

    async def reconcile_dirty(self) -> None:
        """Reconcile every app marked dirty, the root first (it decides which children exist)."""
        if self._unsaved:
            self._save_unsaved()
        while self._dirty:
            names = sorted(self._dirty, key=lambda n: (n != self.root_name, n))
            self._dirty.clear()
            for name in names:
                if name in self._apps:
                    await self.reconcile(name)

    # -- one app --

    async def reconcile(self, name: str) -> None:
        app = self._apps[name]
        async with app.lock:
            await self._reconcile(name, app)

    async def _reconcile(self, name: str, app: _App) -> None:
        url = str(app.source.get("repoURL", ""))
        revision = str(app.source.get("targetRevision") or "HEAD")
        target, rendered, error = "", None, ""
        try:
            # In a worker thread: git and `kustomize build` take a second or more, and this loop
            # also runs the probes and the API, which must not wait for a render.
            target = await asyncio.to_thread(self.repos.resolve, url, revision)
            rendered = await asyncio.to_thread(
                self.repos.manifests, url, target, str(app.source.get("path", ""))
            )
        except RepoServerError as exc:
            error = str(exc)
        request = self._pending_sync.pop(name, None)
        app.sync_error = ""
        if rendered is not None:
            code, diffs = self._compare(name, app, rendered, self._live(name, app))
            policy = SyncPolicy.from_spec(app.spec)
            if name in self.hold:
                policy = replace(policy, automated=False)
            wipes_out = bool(diffs) and all(d.requires_pruning for d in diffs)
            decision = auto_sync(policy, code, target, app.last_op, self._mono(), wipes_out)
            app.wake_at, app.sync_error = decision.wake_at, decision.condition
            if request is not None or decision.sync:
                await self._sync(
                    name,
                    app,
                    target=target,
                    rendered=rendered,
                    policy=policy,
                    request=request,
                    retry=decision.retry,
                )
        elif request is not None:
            self._fail_operation(app, target, request, f"ComparisonError: {error}")
        self._publish(name, app, target, rendered, error)

    def _live(self, name: str, app: _App) -> dict[ObjectKey, LiveResource]:
        """What runs for `name` (the root app's children are the controller's own, not a
        runtime's: they have no LiveResource)."""
        return {} if name == self.root_name else {r.key: r for r in self.runtime.resources(name)}

    def _compare(
        self, name: str, app: _App, rendered: Manifests, live: dict[ObjectKey, LiveResource]
    ) -> tuple[SyncCode, list[ResourceDiff]]:
        if name == self.root_name:
            return compare(rendered.objects, app.applied_children, app.namespace)
        return compare(rendered.objects, {k: r.fingerprint for k, r in live.items()}, app.namespace)

    async def _sync(
        self,
        name: str,
        app: _App,
        *,
        target: str,
        rendered: Manifests,
        policy: SyncPolicy,
        request: SyncRequest | None,
        retry: int,
    ) -> None:
        started_mono, started = self._mono(), self._wall()
        initiator = (
            OperationInitiator(username=request.initiated_by)
            if request is not None
            else OperationInitiator(automated=True)
        )
        prune = policy.prune or (request is not None and request.prune)
        operation = Operation(
            sync=SyncOperation(revision=target, prune=prune),
            initiated_by=initiator,
            retry=(app.spec.get("syncPolicy") or {}).get("retry") or {},
        )
        app.operation_state = OperationState(
            operation=operation, phase=OperationPhase.RUNNING, started_at=started, retry_count=retry
        )
        app.last_op = SyncAttempt(target, Phase.RUNNING, started_mono, retry_count=retry)
        self._publish(name, app, target, rendered, "")
        self._save(name, app)
        if request is not None and request.dry_run:
            results: list[ApplyResult] = []
        elif name == self.root_name:
            results = await self._apply_children(app, rendered.objects, prune)
        else:
            results = await self.runtime.apply(name, app.namespace, rendered.objects, prune)
            app.applied = tuple(rendered.objects)
        failed = [r for r in results if not r.ok]
        ok = not failed
        message = (
            SYNCED_MESSAGE
            if ok
            else (
                "one or more objects failed to apply, reason: "
                + "; ".join(f"{r.key}: {r.message}" for r in failed)
            )
        )
        finished = self._wall()
        app.operation_state = app.operation_state.evolve(
            phase=OperationPhase.SUCCEEDED if ok else OperationPhase.FAILED,
            message=message,
            finished_at=finished,
            sync_result=SyncOperationResult(
                revision=target,
                source=dict(app.source),
                resources=tuple(
                    ResourceResult(
                        group=r.key.group,
                        version=r.version,
                        kind=r.key.kind,
                        namespace=r.key.namespace,
                        name=r.key.name,
                        status="Pruned" if r.pruned else ("Synced" if r.ok else "SyncFailed"),
                        message=r.message,
                        sync_phase="Sync",
                    )
                    for r in results
                ),
            ),
        )
        app.last_op = SyncAttempt(
            target,
            Phase.SUCCEEDED if ok else Phase.FAILED,
            started_mono,
            self._mono(),
            message,
            automated=request is None,
            username=request.initiated_by if request else "",
            retry_count=retry,
        )
        if ok and not (request is not None and request.dry_run):
            app.history = add_history(
                app.history,
                revision=target,
                deployed_at=finished,
                deploy_started_at=started,
                source=app.source,
                initiated_by=initiator,
            )
        self._save(name, app)

    def _fail_operation(self, app: _App, target: str, request: SyncRequest, message: str) -> None:
        now = self._wall()
        app.operation_state = OperationState(
            operation=Operation(
                sync=SyncOperation(revision=target),
                initiated_by=OperationInitiator(username=request.initiated_by),
            ),
            phase=OperationPhase.ERROR,
            started_at=now,
            finished_at=now,
            message=message,
        )

    async def _apply_children(
        self, root: _App, objects: Sequence[Mapping[str, Any]], prune: bool
    ) -> list[ApplyResult]:
        """The root app-of-apps applies Applications: the controller itself runs them."""
        results = []
        wanted = set()
        for obj in objects:
            key = key_of(obj, root.namespace)
            name = key.name
            if obj.get("kind") != "Application" or not name or name == self.root_name:
                results.append(
                    ApplyResult(
                        key, _version_of(obj), False, "the root app may only hold Applications"
                    )
                )
                continue
            wanted.add(key)
            if name in self._apps:
                self._apps[name].manifest = obj
            else:
                self._apps[name] = _App(obj)
            root.applied_children[key] = fingerprint(obj)
            self._dirty.add(name)
            results.append(ApplyResult(key, _version_of(obj), True, "application configured"))
        for key in sorted(set(root.applied_children) - wanted):
            if not prune:
                continue
            root.applied_children.pop(key)
            gone = self._apps.pop(key.name, None)
            if gone is not None:
                await self.runtime.remove(key.name)
                self.source.delete(key.name)
                if self.store is not None:
                    try:
                        self.store.delete(key.name)
                    except StateError as exc:  # a restart brings it back, then prunes it again
                        log.error("cannot forget application %s: %s", key.name, exc)
            results.append(ApplyResult(key, "v1alpha1", True, "pruned", pruned=True))
        return results

    # -- publishing --

    def _resources(
        self, name: str, app: _App, rendered: Manifests | None
    ) -> tuple[SyncCode, list[ResourceStatus], Health, list[str], list[ApplicationCondition]]:
        conditions: list[ApplicationCondition] = []
        live_by_key = self._live(name, app)
        objects = list(rendered.objects) if rendered is not None else []
        code, diffs = (
            self._compare(name, app, rendered, live_by_key)
            if rendered is not None
            else (SyncCode.UNKNOWN, [])
        )
        versions = {key_of(o, app.namespace): _version_of(o) for o in objects}
        statuses, healths = [], []
        for diff in diffs:
            live = live_by_key.get(diff.key)
            if name == self.root_name:
                health = None
            elif live is not None:
                health = live_health(live)
            else:
                health = resource_health(diff.key.kind, None)
            if diff.key.kind not in SUPPORTED_KINDS and name != self.root_name:
                conditions.append(
                    ApplicationCondition(
                        type="UnknownError",
                        message=f"{diff.key}: kind {diff.key.kind} is not run by the embedded "
                        "platform",
                        last_transition_time=self._wall(),
                    )
                )
            healths.append(health)
            statuses.append(
                ResourceStatus(
                    group=diff.key.group,
                    version=versions.get(diff.key) or (live.version if live else ""),
                    kind=diff.key.kind,
                    namespace=diff.key.namespace,
                    name=diff.key.name,
                    status=diff.status,
                    health_state=health.state() if health else None,
                    requires_pruning=diff.requires_pruning,
                )
            )
        running = [img for r in live_by_key.values() for img in r.images] or images(objects)
        return code, statuses, app_health(healths), sorted(set(running)), conditions

    def _publish(
        self, name: str, app: _App, target: str, rendered: Manifests | None, error: str
    ) -> None:
        now = self._wall()
        code, resources, health, imgs, conditions = self._resources(name, app, rendered)
        if error:
            code = SyncCode.UNKNOWN
            conditions.append(_condition("ComparisonError", error, now))
        if app.operation_state is not None and app.operation_state.phase in ("Failed", "Error"):
            conditions.append(_condition("SyncError", app.operation_state.message, now))
        if app.sync_error:
            conditions.append(_condition("SyncError", app.sync_error, now))
        if name == self.root_name:
            health = Health(HealthStatus.HEALTHY)
        status = ApplicationStatus(
            sync=SyncStatus(
                status=code,
                revision=target,
                compared_to=ComparedTo(
                    source=dict(app.source),
                    destination=dict(app.spec.get("destination") or {}),
                ),
            ),
            health=health.state(),
            history=app.history,
            operation_state=app.operation_state,
            resources=tuple(resources),
            summary=ApplicationSummary(images=tuple(imgs)),
            conditions=tuple(conditions),
            reconciled_at=now,
            observed_at=now,
            source_type=rendered.source_type if rendered else "",
        )
        running = app.operation_state is not None and app.operation_state.running
        current = self.source.get(name)
        if current is None:
            self.source.put(ApplicationRecord(app.manifest, status))
            return

        def change(record: ApplicationRecord) -> ApplicationRecord:
            operation = record.operation if running or name in self._pending_sync else None
            return replace(record, manifest=app.manifest, status=status, operation=operation)

        self.source.update(name, change)
