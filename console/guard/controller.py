"""The guard's driver: feeds the Application events of a fleet source through the pure policy
(console.guard.policy) and carries out its decisions by writing commits to the deploy repo.

Safety rules the driver adds around the policy:
  - No decision on stale data: while the source is down nothing is decided, and before acting
    the app is read again from the source (a fresh GET), the deploy repo fetched and the Git
    facts re-read; the decision must still stand on that fresh state.
  - At most one rollback in flight per app; a failed write is retried with jittered backoff and
    an event, never given up silently; a refused push or a failing rollback revision halts that
    app (a RollbackFailed event) instead of looping.
  - After a push, Argo CD is asked to refresh the app so recovery does not wait for polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from console.backoff import backoff_delay
from console.fleet.mirror import FleetMirror
from console.fleet.model import App, Health, Sync
from console.fleet.source import AppSource, Down, Event, Snapshot, SourceError
from console.fleet.tree import failing_pods
from console.gitpush import PushRejectedError
from console.guard import events as ev
from console.guard.analyzer import Analyzer, SampleProvider
from console.guard.events import EventLog
from console.guard.facts import GitFacts
from console.guard.limits import TokenBucket
from console.guard.metrics import GuardMetrics
from console.guard.policy import (
    Action,
    Decision,
    Policy,
    Watch,
    after_outage,
    decide,
    may_still_recover,
    observe,
    observe_analysis,
    observe_pods,
)
from console.guard.rollback import RollbackOutcome, RollbackRequest, RollbackRequestError

log = logging.getLogger("gitops.guard")
TREE_EVERY_S = 1.0  # how often the tree of a Progressing app is read for failing pods
TREE_RATE = 20.0  # tree reads per second at most, across the fleet: a mass rollout must not
# turn the guard into a load generator for Argo CD (the deadline rule still covers the rest)


class Writer(Protocol):
    """The deploy repo, as console.guard.rollback.RollbackWriter offers it (blocking calls: the
    guard runs them in a worker thread)."""

    def facts(self, app: str, *, refresh: bool = True) -> GitFacts:
        """The app's rollback facts on the remote's main, read after a fetch (`refresh`; else
        as of the last one)."""
        ...

    def write(self, req: RollbackRequest) -> RollbackOutcome: ...

    def contains(self, revision: str, commit: str) -> bool:
        """True when `commit` is `revision` or an ancestor of it on the remote."""
        ...


@dataclass
class _Tracked:
    app: App
    watch: Watch = field(default_factory=Watch)
    facts: GitFacts = field(default_factory=GitFacts)
    wake_at: float | None = None
    busy: bool = False
    retries: int = 0
    told: set[str] = field(default_factory=set)  # events already emitted (once per revision)
    recovering: tuple[str, float] | None = None  # (rollback sha, bad revision's start)
    recovering_from_git: bool = False  # the rollback's events were rebuilt from Git
    # Whether a deployed revision other than the rollback contains it (a commit that landed on
    # top before Argo CD synced the rollback): (revision, verdict), None while Git is asked.
    includes: tuple[str, bool | None] = ("", None)
    tree_at: float = 0.0  # when its resource tree was last read
    tree_busy: bool = False
    analyzed: set[str] = field(default_factory=set)  # revisions whose analysis started


class Guard:
    def __init__(
        self,
        source: AppSource,
        writer: Writer,
        *,
        events: EventLog | None = None,
        metrics: GuardMetrics | None = None,
        clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
        retry_base_s: float = 1.0,
        retry_cap_s: float = 60.0,
        providers: Mapping[str, SampleProvider] | None = None,
    ) -> None:
        self.source = source
        self.writer = writer
        self.events = events or EventLog()
        self.metrics = metrics or GuardMetrics()
        self._clock = clock
        self._rng = rng
        self._retry = (retry_base_s, retry_cap_s)
        self._mirror = FleetMirror()  # what the source's events say, by namespace/name
        self._apps: dict[str, _Tracked] = {}  # the guard's view of each, by App.key
        self._fresh = False
        self._down_told = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._trees = True  # False once the source says it cannot serve resource trees
        self._tree_reads = TokenBucket(TREE_RATE, clock())
        self.changed = asyncio.Event()  # set after each turn of the loop (tests wait on it)
        self._analyzer = Analyzer(providers or {}, self.events, self.metrics, clock, self.changed)
        self._poked = asyncio.Event()
        # Apps whose rollback history was read from Git after start, to rebuild the events a
        # guard killed between push and event never wrote (only with an events file).
        self.events_restored: set[str] = set()
        self._restoring: set[str] = set()
        # Seconds per observed change (observe + decide), newest last: for benchmarks/guard_scale.
        self.decision_samples: deque[float] = deque(maxlen=100_000)

    @property
    def ready(self) -> bool:
        """True once the fleet was read and while the source answers."""
        return self._fresh

    def poke(self) -> None:
        """Look at the timers now (after an injected clock moved)."""
        self._poked.set()

    def _tracked(self, name: str) -> _Tracked | None:
        """By `namespace/name`, or by a name no other app has."""
        app = self._mirror.named(name)
        return self._apps.get(app.key) if app is not None else None

    def app_of(self, name: str) -> App | None:
        """The app as the guard last saw it."""
        tracked = self._tracked(name)
        return tracked.app if tracked else None

    def watch_of(self, name: str) -> Watch | None:
        tracked = self._tracked(name)
        return tracked.watch if tracked else None

    # ---- the loop ------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        queue: asyncio.Queue[Event] = asyncio.Queue()

        async def pump() -> None:
            async for event in self.source.events(stop):
                queue.put_nowait(event)

        pumping = asyncio.create_task(pump())
        stopping = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set():
                getting = asyncio.create_task(queue.get())
                poked = asyncio.create_task(self._poked.wait())
                timeout = self._next_wake()
                done, _ = await asyncio.wait(
                    {getting, stopping, pumping, poked},
                    timeout=timeout,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                self._poked.clear()
                poked.cancel()
                if getting in done:
                    await self._handle(getting.result())
                else:
                    getting.cancel()
                if pumping in done and not stop.is_set():
                    pumping.result()  # the source gave up: raise its error
                    return
                await self._wake_due()
                self.changed.set()
        finally:
            self._analyzer.cancel()
            for task in (pumping, stopping):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            for task in list(self._tasks):
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def _next_wake(self) -> float | None:
        wakes = [t.wake_at for t in self._apps.values() if t.wake_at is not None and not t.busy]
        return max(0.0, min(wakes) - self._clock()) if wakes else None

    async def _wake_due(self) -> None:
        now = self._clock()
        for tracked in list(self._apps.values()):
            if tracked.wake_at is not None and tracked.wake_at <= now and not tracked.busy:
                tracked.wake_at = None
                self._consider(tracked.app.name, tracked, now)

    async def _handle(self, event: Event) -> None:
        now = self._clock()
        delta = self._mirror.apply(event)
        if isinstance(event, Down):
            self._fresh = False
            self.metrics.source_up.set(0)
            if not self._down_told:
                self._down_told = True
                self.events.emit(
                    ev.SOURCE_DOWN, "", f"no decisions until the source is back: {event.error}"
                )
            return
        if isinstance(event, Snapshot):
            if self._down_told:
                self.events.emit(ev.SOURCE_UP, "", f"{self.source.name} answers again")
            elif not self._fresh:
                self.events.emit(
                    ev.WATCHING,
                    "",
                    f"watching {len(event.apps)} applications on {self.source.name}",
                )
            if not self._fresh:  # back after an outage: every rollout is found under way
                for tracked in self._apps.values():
                    tracked.watch = after_outage(tracked.watch)
            self._fresh, self._down_told = True, False
            self.metrics.source_up.set(1)
        for gone in delta.removed:
            self._forget(gone)
        for _, app in delta.changed:
            self._observe(app, now)
        self.metrics.apps.set(len(self._apps))

    def _forget(self, app: App) -> None:
        """An app gone from the fleet: should it come back, its history is read again."""
        self._apps.pop(app.key, None)
        self._restoring.discard(app.key)
        self.events_restored.discard(app.name)

    def _observe(self, app: App, now: float) -> None:
        started = time.perf_counter()
        tracked = self._apps.get(app.key)
        if tracked is None:
            tracked = self._apps[app.key] = _Tracked(app)
        tracked.app = app
        tracked.watch = observe(tracked.watch, app, now)
        if self.events.path is not None and app.key not in self._restoring:
            self._restoring.add(app.key)
            self._spawn(self._restore_events(app.name, app.key))
        self._tell_comparison_error(app.name, tracked)
        self._recovered(app.name, tracked, now)
        self._maybe_analyze(app.name, tracked, now)
        self._consider(app.name, tracked, now)
        elapsed = time.perf_counter() - started
        self.metrics.decision.observe(elapsed)
        self.decision_samples.append(elapsed)

    # ---- analysis ------------------------------------------------------------------------

    def _maybe_analyze(self, name: str, tracked: _Tracked, now: float) -> None:
        """Start the analysis of a release that just turned Healthy and Synced (the rules are
        console.guard.analyzer's); a failed one is decided on as any failed rollout."""
        app, watch, rev = tracked.app, tracked.watch, tracked.watch.revision
        if not self._fresh or rev in tracked.analyzed or rev in watch.acted:
            return
        if tracked.facts.is_bad(rev) or tracked.facts.is_rollback(rev):
            return  # a rollback is not a release; a rolled-back revision runs no more
        key = app.key

        def current() -> bool:
            return self._apps.get(key) is tracked and tracked.watch.revision == rev

        def failed(reason: str) -> None:
            tracked.watch = observe_analysis(tracked.watch, rev, reason)
            if not tracked.busy:
                self._consider(name, tracked, self._clock())
            self._poked.set()

        if self._analyzer.start(app, rev, now, current=current, failed=failed):
            tracked.analyzed.add(rev)

    # ---- deciding ------------------------------------------------------------------------

    def _consider(self, name: str, tracked: _Tracked, now: float) -> None:
        if not self._fresh or tracked.busy:
            return
        policy = Policy.from_annotations(tracked.app.annotations)
        decision = decide(tracked.watch, tracked.app, policy, tracked.facts, now)
        tree_due = self._check_pods(name, tracked, policy, now)
        wakes = [t for t in (decision.wake_at, tree_due) if t is not None]
        tracked.wake_at = min(wakes) if wakes else None
        if decision.action is Action.NONE:
            self._tell_waiting(name, tracked, decision)
            return
        tracked.busy = True
        task = asyncio.get_running_loop().create_task(self._act(name, tracked, policy))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)  # the loop keeps only weak references
        task.add_done_callback(self._tasks.discard)

    def _check_pods(self, name: str, tracked: _Tracked, policy: Policy, now: float) -> float | None:
        """While an app is Progressing on a revision under watch, read its resource tree every
        TREE_EVERY_S for pods that cannot run; when to look again (None: no need)."""
        watch = tracked.watch
        if (
            not self._trees
            or not policy.enabled
            or tracked.app.health is not Health.PROGRESSING
            or not watch.revision
            or watch.revision in watch.acted
        ):
            return None
        due = tracked.tree_at + TREE_EVERY_S
        if now < due or tracked.tree_busy:
            return max(due, now + TREE_EVERY_S) if tracked.tree_busy else due
        if not self._tree_reads.take(now):
            return now + TREE_EVERY_S * (0.5 + self._rng())  # spread the waiting apps out
        tracked.tree_at, tracked.tree_busy = now, True
        task = asyncio.get_running_loop().create_task(self._read_tree(name, tracked))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return now + TREE_EVERY_S

    async def _read_tree(self, name: str, tracked: _Tracked) -> None:
        revision = tracked.watch.revision
        try:
            tree = await self.source.resource_tree(tracked.app.key)
        except SourceError as exc:
            if exc.kind == "config":
                self._trees = False
            log.debug("no resource tree for %s: %s", name, exc)
            return
        finally:
            tracked.tree_busy = False
        now = self._clock()
        tracked.watch = observe_pods(tracked.watch, revision, failing_pods(tree), now)
        if not tracked.busy:
            self._consider(name, tracked, now)
        self._poked.set()  # the loop's next timeout may have changed

    def _tell_comparison_error(self, name: str, tracked: _Tracked) -> None:
        """A target revision Argo CD cannot render (a Kustomize error, malformed YAML: pushed
        past the deploy repo's gate) is never deployed: what runs keeps running, and there is
        nothing to roll back. Said once per revision, so the operator fixes the commit."""
        app = tracked.app
        revision = app.sync_revision
        error = next((c.message for c in app.conditions if c.type == "ComparisonError"), "")
        if not error or not revision or f"comparison:{revision}" in tracked.told:
            return
        tracked.told.add(f"comparison:{revision}")
        deployed = tracked.watch.revision
        running = f"{deployed[:7]} keeps running" if deployed else "nothing of it runs"
        self.events.emit(
            ev.COMPARISON_ERROR,
            name,
            f"{revision[:7]} cannot be rendered, so it is not deployed and {running} (nothing "
            f"to roll back: fix or revert the commit): {error}",
            revision=revision,
            deployed=deployed,
            message=error,
        )

    def _tell_waiting(self, name: str, tracked: _Tracked, decision: Decision) -> None:
        """Events for what the policy is waiting on, once per revision."""
        watch, rev = tracked.watch, tracked.watch.revision
        if "no known-good" in decision.reason and f"nogood:{rev}" not in tracked.told:
            tracked.told.add(f"nogood:{rev}")
            self.events.emit(ev.NO_KNOWN_GOOD, name, decision.reason, revision=rev)
        counting = watch.degraded_since is not None or watch.failed_since is not None
        if counting and decision.wake_at is not None and f"unhealthy:{rev}" not in tracked.told:
            tracked.told.add(f"unhealthy:{rev}")
            self.events.emit(
                ev.UNHEALTHY,
                name,
                f"{rev[:7]} is {tracked.app.health.value}; rolled back in "
                f"{max(0.0, decision.wake_at - self._clock()):.0f}s unless it recovers",
                revision=rev,
                health=tracked.app.health.value,
                message=tracked.app.health_message,
            )

    async def _act(self, name: str, tracked: _Tracked, policy: Policy) -> None:
        try:
            decision = await self._confirm(name, tracked, policy)
            if decision is None or decision.action is Action.NONE:
                return
            if decision.action is Action.HALT:
                self._halt(name, tracked, decision)
                return
            await self._rollback(name, tracked, decision)
        finally:
            tracked.busy = False
            if tracked.wake_at is None and self._apps.get(tracked.app.key) is tracked:
                # What the app did while this ran was observed but not decided on (a busy app
                # is skipped): the rollback's own revision failing, say. A retry waits instead.
                self._consider(name, tracked, self._clock())
            self._poked.set()  # the loop's timers left this app out while it was busy

    async def _confirm(self, name: str, tracked: _Tracked, policy: Policy) -> Decision | None:
        """The decision again on fresh state: the app read again, Git fetched."""
        try:
            app = await self.source.get(tracked.app.key)
        except SourceError as exc:
            log.warning("not acting on %s: %s", name, exc)
            tracked.wake_at = self._clock() + self._retry[0]
            return None
        try:
            facts = await asyncio.to_thread(self._fresh_facts, name)
        except Exception as exc:
            self._retry_later(name, tracked, f"cannot read the deploy repo: {exc}")
            return None
        now = self._clock()
        tracked.app, tracked.facts = app, facts
        tracked.watch = observe(tracked.watch, app, now)
        decision = decide(tracked.watch, app, policy, facts, now)
        if decision.action is Action.NONE and facts.is_bad(tracked.watch.revision):
            tracked.watch = replace(tracked.watch, acted=tracked.watch.acted | {decision.bad})
        tracked.wake_at = decision.wake_at
        return decision

    def _fresh_facts(self, name: str) -> GitFacts:
        return self.writer.facts(name)  # fetches first

    def _halt(self, name: str, tracked: _Tracked, decision: Decision) -> None:
        tracked.watch = replace(tracked.watch, acted=tracked.watch.acted | {decision.bad})
        self.metrics.failures.labels(app=name, kind="halted").inc()
        self.events.emit(ev.FAILED, name, decision.reason, revision=decision.bad)

    async def _rollback(self, name: str, tracked: _Tracked, decision: Decision) -> None:
        source = tracked.app.source
        request = RollbackRequest(
            app=name,
            path=source.path if source else "",
            bad=decision.bad,
            good=decision.good,
            reason=decision.reason,
        )
        try:
            outcome = await asyncio.to_thread(self.writer.write, request)
        except (PushRejectedError, RollbackRequestError) as exc:
            # Retrying cannot help: the remote's checks refuse it, or it cannot be written.
            tracked.watch = replace(tracked.watch, acted=tracked.watch.acted | {decision.bad})
            self.metrics.failures.labels(app=name, kind="refused").inc()
            detail = exc.stderr.strip() if isinstance(exc, PushRejectedError) else str(exc)
            self.events.emit(
                ev.FAILED,
                name,
                f"the rollback of {decision.bad[:7]} cannot be written: {detail}",
                revision=decision.bad,
            )
            return
        except Exception as exc:
            self._retry_later(name, tracked, f"rollback of {decision.bad[:7]} not written: {exc}")
            return
        tracked.retries = 0
        tracked.watch = replace(tracked.watch, acted=tracked.watch.acted | {decision.bad})
        written = outcome.sha or outcome.already
        tracked.facts = GitFacts(
            tracked.facts.rolled_back | {decision.bad},
            tracked.facts.rollback_commits | ({written} if written else set()),
        )
        if outcome.sha is None:
            self.events.emit(
                ev.ALREADY,
                name,
                f"{decision.bad[:7]} is already rolled back"
                + (f" by {outcome.already[:7]}" if outcome.already else " (path unchanged)"),
                revision=decision.bad,
                commit=outcome.already or "",
            )
            return
        self.metrics.rollbacks.labels(app=name, reason=decision.kind).inc()
        if decision.detect_s is not None:
            self.metrics.detection.observe(decision.detect_s)
        started = tracked.watch.started_at or self._clock()
        tracked.recovering = (outcome.sha, started)
        self.events.emit(
            ev.ROLLBACK,
            name,
            f"rolled back {decision.bad[:7]} to {decision.good[:7]}: {decision.reason}",
            bad=decision.bad,
            good=decision.good,
            commit=outcome.sha,
            reason=decision.reason,
            kind=decision.kind,
            detect_s=round(decision.detect_s or 0.0, 3),
            attempts=outcome.attempts,
        )
        # Argo CD may have compared the rollback Synced while the push was returning (a
        # webhook's refresh; a wipe-out's rollback needs no sync): seen then, it was no news.
        self._recovered(name, tracked, self._clock())
        try:
            await self.source.get(tracked.app.key, refresh="normal")
        except SourceError as exc:
            log.warning(
                "refresh of %s after the rollback failed (polling will see it): %s", name, exc
            )

    def _retry_later(self, name: str, tracked: _Tracked, message: str) -> None:
        tracked.retries += 1
        delay = backoff_delay(tracked.retries, self._rng, *self._retry)
        tracked.wake_at = self._clock() + delay
        self.metrics.failures.labels(app=name, kind="retry").inc()
        self.events.emit(ev.RETRY, name, f"{message}; retry {tracked.retries} in {delay:.1f}s")

    def _recovered(self, name: str, tracked: _Tracked, now: float) -> None:
        """Recovered once the app is Healthy and Synced on the rollback, or on a revision that
        contains it: a commit that landed on top of the rollback before Argo CD synced it (a
        promotion of another app, say) is what deploys then, the rollback with it. Synced on
        the revision Argo CD compared with, whether or not a sync ran for it."""
        if tracked.recovering is None:
            return
        sha, started = tracked.recovering
        # Synced means what runs is Git at the compared revision: a rollback whose content
        # already runs (a wipe-out refused by auto-sync) is recovered without any sync of it.
        app = tracked.app
        revision = app.sync_revision or tracked.watch.revision
        if not revision or app.health is not Health.HEALTHY or app.sync is not Sync.SYNCED:
            return
        if revision != sha and tracked.includes != (revision, True):
            if tracked.includes[0] != revision:
                tracked.includes = (revision, None)
                self._spawn(self._check_includes(name, tracked, revision, sha))
            return
        tracked.recovering = None
        extra: dict[str, object] = {"reconstructed": True} if tracked.recovering_from_git else {}
        where = f"the rollback {sha[:7]}"
        if revision != sha:
            extra["revision"] = revision
            where = f"{revision[:7]}, which includes the rollback {sha[:7]}"
        self.events.emit(
            ev.RECOVERED,
            name,
            f"Healthy and Synced on {where}",
            commit=sha,
            mttr_s=round(now - started, 3),
            **extra,
        )

    async def _check_includes(self, name: str, tracked: _Tracked, revision: str, sha: str) -> None:
        try:
            verdict = await asyncio.to_thread(self.writer.contains, revision, sha)
        except Exception as exc:
            log.warning("cannot tell whether %s includes %s: %s", revision[:7], sha[:7], exc)
            tracked.includes = ("", None)  # asked again on the next change
            return
        if tracked.includes == (revision, None):
            tracked.includes = (revision, verdict)
            self._recovered(name, tracked, self._clock())
            self.changed.set()

    async def _restore_events(self, name: str, key: str) -> None:
        """Rebuild, from the deploy repo's history, the Rollback events a guard killed between
        its push and its event never wrote, and watch the newest such rollback for Recovered.
        Git is the record; the events file only tells it."""
        try:
            # As of the last fetch: one per app at start would be a fetch storm on a big fleet.
            facts = await asyncio.to_thread(self.writer.facts, name, refresh=False)
        except Exception as exc:
            log.warning("cannot read the rollback history of %s: %s", name, exc)
            return
        tracked = self._apps.get(key)
        for rb in reversed(facts.records):  # oldest first, as they happened
            told = self.events.said(ev.ROLLBACK, name, rb.sha)
            if not told:
                self.events.rollback_from_git(name, rb)
            newest = rb is facts.records[0]
            if (
                newest
                and tracked is not None
                and tracked.recovering is None
                and not self.events.said(ev.RECOVERED, name, rb.sha)
                and may_still_recover(tracked.app, rb.sha)
            ):
                # Told or not, its recovery was not: a guard stopped between the two.
                tracked.recovering, tracked.recovering_from_git = (rb.sha, rb.timestamp), True
                self._recovered(name, tracked, self._clock())
        if tracked is not None:
            tracked.facts = facts
            tracked.watch = replace(tracked.watch, acted=tracked.watch.acted | facts.rolled_back)
        self.events_restored.add(name)
        self.changed.set()
