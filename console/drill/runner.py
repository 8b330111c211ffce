"""The drill, orchestrated: `run_drill(options, on_step)`.

1. Start the embedded platform (`gitops up`) on the workspace as a child process, or use the one
   already running there; wait until every service Application is Synced and Healthy, and read
   the known-good version from the Service's /version.
2. Start the load generator through the Service's endpoint; it runs for the whole drill.
3. Push the bad change to the apps repo as a developer would (console.drill.change).
4. Watch the platform work: CI's stages, the promotion commit, the sync of the bad revision, the
   new pods that never become ready while the old ones serve, the guard's events, the rollback
   commit, Healthy and Synced on the rollback revision, the known-good version serving again.
   Every wait has a deadline; its failure names what did not happen.
5. Stop the load; gather the records; write the post-mortem and `drill.json` under
   `<workspace>/drills/<drill id>/`; stop the platform (unless `keep`, or it was not ours).

Each step is announced through `on_step` as it happens (a UI renders them; `gitops demo
--headless` prints them). Cancelling the task (Ctrl-C) stops the load generator and the platform
child and re-raises; the workspace stays resumable by `gitops up --workspace DIR`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from console.config import PlatformConfig, load_config
from console.contract import DEADLINE, DRILL_TRAILER, ENABLED, GRACE
from console.drill import change as bad_change
from console.drill.facts import Commit, Facts, Policy, utc
from console.drill.load import DEFAULT_RATE, DEFAULT_TIMEOUT_S, BackgroundLoad, LoadGenerator
from console.drill.platform import (
    PlatformError,
    PlatformProcess,
    WorkspaceBusyError,
    running_platform,
)
from console.drill.postmortem import render as render_postmortem
from console.drill.result import DrillResult, result
from console.drill.steps import Phase, Step
from console.drill.timeline import assemble
from console.drill.watch import (
    DrillTimeoutError,
    PlatformView,
    guard_events,
    halted,
    healthy_synced,
    promotion_of,
    rollbacks_of,
    wait_until,
)
from console.fleet.model import Health
from console.git import GitError
from console.guard.events import Event
from console.guard.policy import deployed_revision
from console.local.ci.runner import repo_name
from console.local.last_workspace import state_file
from console.platforminfo import PlatformInfo
from console.procs import alive
from console.timestamps import rfc3339_ms

SERVICE = "frontend"  # the service the drill breaks (console.drill.change edits the frontend)
FATAL_GUARD_EVENTS = frozenset({"RollbackFailed", "NoKnownGood"})
TREE_EVERY_S = 0.5


@dataclass(frozen=True)
class Deadlines:
    """How long each wait may take, in seconds."""

    platform_s: float = 900.0  # a first start scaffolds, runs CI and deploys everything
    baseline_s: float = 180.0  # every service app Synced and Healthy
    first_answer_s: float = 15.0  # the load generator's first successful answer
    ci_s: float = 600.0  # test, build and promote of the change
    promotion_s: float = 60.0  # the promotion commit in the deploy repo after CI promoted
    sync_s: float = 90.0  # the app syncing the bad revision
    rollback_s: float = 120.0  # the rollback commit, after the bad sync started (+ deadline)
    recover_s: float = 120.0  # Healthy and Synced on the rollback revision
    version_s: float = 30.0  # /version naming the known-good build again
    recovered_event_s: float = 15.0  # the guard's Recovered event
    stop_s: float = 120.0  # the platform stopping after SIGTERM


@dataclass(frozen=True)
class DrillOptions:
    workspace: Path | None = None  # None: $XDG_STATE_HOME/gitops/demos/<drill id>, new
    config: Path = Path("repos.yaml")
    keep: bool = False  # leave the platform running afterwards
    rate: float = DEFAULT_RATE
    request_timeout_s: float = DEFAULT_TIMEOUT_S
    deadlines: Deadlines = field(default_factory=Deadlines)


class DrillUsageError(ValueError):
    """The drill cannot start as asked (a workspace in use, not a directory): exit 2."""


class DrillError(RuntimeError):
    """Something the drill needs did not happen; the message says what."""


def demos_root() -> Path:
    """$XDG_STATE_HOME/gitops/demos (default ~/.local/state/gitops/demos)."""
    return state_file().parent / "demos"


def new_drill_id(now: datetime) -> str:
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


async def run_drill(options: DrillOptions, on_step: Callable[[Step], None]) -> DrillResult:
    """Run one drill (see the module doc). Raises ConfigError (repos.yaml) and DrillUsageError
    before anything starts; anything that goes wrong later is in the result's `problems`."""
    config = load_config(options.config)
    return await _Drill(options, config, on_step).run()


class _Drill:
    def __init__(
        self, options: DrillOptions, config: PlatformConfig, on_step: Callable[[Step], None]
    ) -> None:
        self.o, self.d = options, options.deadlines
        self.config = config
        self.on_step = on_step
        self.t0 = time.monotonic()
        started = datetime.now(UTC)
        self.id = new_drill_id(started)
        self.env = config.environment_names[0]
        self.app = f"{SERVICE}-{self.env}"
        if SERVICE not in {s.name for s in config.services}:
            raise DrillUsageError(f"{options.config} declares no service {SERVICE!r} to break")
        root = options.workspace or demos_root() / self.id
        self.ws = root.expanduser().absolute()
        if self.ws.exists() and not self.ws.is_dir():
            raise DrillUsageError(f"{self.ws}: not a directory (--workspace)")
        self.dir = self.ws / "drills" / self.id
        self.facts = Facts(
            drill_id=self.id,
            app=self.app,
            env=self.env,
            service=SERVICE,
            workspace=self.ws,
            started_at=started,
            finished_at=started,
            owner=config.owners,
            what_changed=bad_change.WHAT_IT_CHANGED,
            why_ci_passed=bad_change.WHY_CI_PASSED,
        )
        self.errors: list[str] = []
        self.platform: PlatformProcess | None = None
        self.info: PlatformInfo | None = None
        self.view: PlatformView | None = None
        self.load: BackgroundLoad | None = None
        self.service_url = ""
        self._told: set[tuple[str, str, str]] = set()
        self._tree_at = 0.0

    # ---- announcing ---------------------------------------------------------------------------

    def step(self, phase: Phase, message: str, **data: Any) -> None:
        self.on_step(
            Step(phase, message, datetime.now(UTC), time.monotonic() - self.t0, dict(data))
        )

    # ---- the whole ----------------------------------------------------------------------------

    async def run(self) -> DrillResult:
        interrupted = False
        try:
            return await self._run()
        except asyncio.CancelledError:
            interrupted = True
            raise
        finally:
            await _to_the_end(self._cleanup(interrupted))

    async def _run(self) -> DrillResult:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.step(Phase.SETUP, f"drill {self.id} on the workspace {self.ws}", workspace=self.ws)
        try:
            await self._platform_up()
            await self._baseline()
            await self._start_load()
            await self._change()
            await self._ci()
            await self._promotion()
            await self._bad_sync()
            await self._until_rollback()
            await self._recovery()
        except (DrillError, DrillTimeoutError, PlatformError, bad_change.ChangeError) as exc:
            self._error(str(exc))
        except GitError as exc:
            self._error(f"git failed: {exc}")
        await self._stop_load()
        if self.view is not None and self.info is not None:
            await self._gather()
        return self._report()

    def _error(self, message: str) -> None:
        self.errors.append(message)
        self.step(Phase.ERROR, message)

    def _alive(self) -> None:
        if self.platform is not None:
            self.platform.check_running()
        elif self.info is not None and not alive(self.info.pid):
            raise PlatformError(f"the platform (pid {self.info.pid}) stopped during the drill")

    # ---- 1. the platform and the known-good version -----------------------------------------

    async def _platform_up(self) -> None:
        existing = running_platform(self.ws)
        if existing is not None:
            self.info = existing
            self.step(
                Phase.PLATFORM,
                f"`gitops up` already runs on this workspace (pid {existing.pid}): using it; "
                "it keeps running after the drill",
            )
        else:
            log_path = self.dir / "gitops-up.log"
            self.platform = PlatformProcess(self.ws, self.o.config.absolute(), log_path)
            self.platform.start()
            self.step(
                Phase.PLATFORM,
                f"starting `gitops up` (pid {self.platform.pid}); its output: {log_path}",
                pid=self.platform.pid,
            )
            try:
                self.info = await self.platform.wait_ready(self.d.platform_s, self._platform_line)
            except WorkspaceBusyError as exc:
                raise DrillUsageError(str(exc)) from None
        info = self.info
        self.step(
            Phase.PLATFORM,
            f"platform ready: Argo CD API on {info.argocd_url}",
            workspace=str(self.ws),
        )
        if not info.guard_url:
            raise DrillError(
                "the platform runs without its guard (`gitops up --no-guard`): nothing would "
                "roll the bad version back"
            )
        self.facts = replace(
            self.facts,
            apps_remote=info.remotes.get("apps", ""),
            deploy_remote=info.remotes.get("deploy", ""),
        )
        self.view = PlatformView(info.argocd_url, info.token())
        await self.view.start()

    def _platform_line(self, line: str) -> None:
        if line.startswith("  ") and line.strip():  # `gitops up`'s progress lines
            self.step(Phase.PLATFORM, line.strip())

    async def _baseline(self) -> None:
        view = self._view()
        waiting: list[str] = []

        async def everything_healthy() -> list[str] | None:
            if not view.first.is_set():
                return None
            services = sorted(app.name for app in view.mirror if app.service)
            waiting[:] = [n for n in services if not healthy_synced(view.app(n))]
            return services if services and not waiting else None

        services = await wait_until(
            everything_healthy,
            lambda: (
                "every service Application Synced and Healthy"
                + (f" (not yet: {', '.join(waiting)})" if waiting else "")
                + (f" (Argo CD API: {view.down})" if view.down else "")
            ),
            self.d.baseline_s,
            wake=view.changed,
            alive=self._alive,
        )
        if self.app not in services:
            raise DrillError(f"the platform has no Application {self.app}")
        app = view.app(self.app)
        if app is None:
            raise DrillError(f"{self.app} is gone from the platform")
        policy = Policy(
            enabled=app.annotations.get(ENABLED, ""),
            grace_s=app.annotations.get(GRACE, ""),
            deadline_s=app.annotations.get(DEADLINE, ""),
        )
        if policy.enabled.strip().lower() != "true":
            raise DrillError(f"auto-rollback is not enabled for {self.app} ({ENABLED})")
        url = self._info().services.get(self.app)
        if not url:
            raise DrillError(f"platform.json names no Service {self.app}")
        self.service_url = url

        async def version() -> dict[str, Any] | None:
            return await view.version(url)

        answer = await wait_until(
            version, f"{url}/version answering", self.d.baseline_s, alive=self._alive
        )
        pods = await view.pods(self.app) or []
        self.facts = replace(
            self.facts,
            good_revision=deployed_revision(app),
            good_version=str(answer.get("revision", "")),
            good_semver=str(answer.get("version", "")),
            replicas=sum(p.ready for p in pods),
            policy=policy,
        )
        f = self.facts
        self.step(
            Phase.BASELINE,
            f"known-good: {len(services)} apps Synced and Healthy; {self.app} on "
            f"{f.good_revision[:7]} serves {f.good_semver} ({f.good_version[:7]}) with "
            f"{f.replicas} ready pod(s); auto-rollback after {policy.deadline_s}s Progressing",
            good_version=f.good_version,
            good_revision=f.good_revision,
        )

    # ---- 2. load -------------------------------------------------------------------------------

    async def _start_load(self) -> None:
        url = f"{self.service_url}/version"
        load = BackgroundLoad(
            LoadGenerator(url, rate=self.o.rate, timeout_s=self.o.request_timeout_s)
        )
        self.load = load
        load.start()

        async def answered() -> bool | None:
            return True if load.answered else None

        await wait_until(answered, f"a first answer from {url}", self.d.first_answer_s)
        self.step(
            Phase.LOAD,
            f"load: {self.o.rate:g} requests/s to {url}; any non-2xx answer or no answer within "
            f"{self.o.request_timeout_s:g}s counts as failed",
        )

    async def _stop_load(self) -> None:
        if self.load is None:
            return
        self.load.stop()
        stats = await self.load.wait()
        self.load = None
        self.facts = replace(self.facts, load=stats)
        self.step(
            Phase.LOAD,
            f"load stopped: {stats.total} requests sent, {stats.failed} failed",
            total=stats.total,
            failed=stats.failed,
        )

    # ---- 3. the change -------------------------------------------------------------------------

    async def _change(self) -> None:
        remote = self._info().remotes["apps"]
        try:
            pushed = await asyncio.to_thread(
                bad_change.push_change, remote, self.id, time.time, self.dir
            )
        except GitError as exc:
            raise DrillError(f"the change could not be pushed to the apps repo: {exc}") from None
        self.facts = replace(
            self.facts,
            change=Commit(
                pushed.sha,
                pushed.subject,
                utc(pushed.pushed_at),
                ((DRILL_TRAILER, self.id),),
            ),
            change_files=pushed.files,
        )
        self.step(
            Phase.CHANGE,
            f'pushed {pushed.sha[:7]} to the apps repo: "{pushed.subject}" (the frontend\'s '
            f"readiness now needs {bad_change.VARIABLE}; the tests set it, no Deployment does)",
            bad_version=pushed.sha,
        )

    # ---- 4. watching ---------------------------------------------------------------------------

    async def _ci(self) -> None:
        view, sha = self._view(), self.facts.bad_version
        repo = repo_name(self._info().remotes["apps"])
        told: set[tuple[str, str]] = set()

        async def promoted() -> bool | None:
            runs = await view.ci_runs(repo, sha)
            if runs is None:
                return None
            self.facts = replace(self.facts, ci_runs=tuple(runs))
            for run in runs:
                if (run.stage, run.result) not in told:
                    told.add((run.stage, run.result))
                    took = f" in {run.duration_s:.1f}s" if run.duration_s is not None else ""
                    self.step(Phase.CI, f"CI {run.stage} of {sha[:7]}: {run.result}{took}")
                if run.result in ("failed", "skipped"):
                    raise DrillError(
                        f"CI {run.stage} {run.result} for {sha[:7]}; its log: {run.log_path}"
                    )
            done = any(r.stage == "promote" and r.result == "succeeded" for r in runs)
            return True if done else None

        await wait_until(
            promoted,
            f"CI of {sha[:7]} (test, build, promote)",
            self.d.ci_s,
            every_s=0.5,
            alive=self._alive,
        )

    async def _promotion(self) -> None:
        deploy, sha = self._info().remotes["deploy"], self.facts.bad_version

        async def found() -> Commit | None:
            return await asyncio.to_thread(promotion_of, deploy, sha, SERVICE)

        promo = await wait_until(
            found,
            f"a promotion of {SERVICE} {sha[:7]} in the deploy repo (Source-Commit trailer)",
            self.d.promotion_s,
            alive=self._alive,
        )
        self.facts = replace(self.facts, promotion=promo)
        self.step(
            Phase.PROMOTION,
            f'promotion {promo.sha[:7]} in the deploy repo: "{promo.subject}"',
            bad_revision=promo.sha,
        )

    async def _bad_sync(self) -> None:
        view, bad = self._view(), self.facts.bad_revision

        async def started() -> datetime | None:
            app = view.app(self.app)
            if app is None:
                return None
            op = app.operation
            if op is not None and op.revision == bad and op.started_at is not None:
                return op.started_at
            for entry in app.history:
                if entry.revision == bad and entry.deploy_started_at is not None:
                    return entry.deploy_started_at
            return None

        at = await wait_until(
            started,
            f"{self.app} syncing the bad revision {bad[:7]}",
            self.d.sync_s,
            wake=view.changed,
            alive=self._alive,
        )
        self.facts = replace(self.facts, bad_sync_started=at)
        self.step(
            Phase.SYNC,
            f"{self.app}: sync of {bad[:7]} started at {rfc3339_ms(at)[11:19]}Z (Argo CD "
            f"operationState); rolling out {SERVICE}:{self.facts.bad_version[:7]}",
        )

    async def _observe(self, revision: str) -> None:
        """One look at the app on `revision`: health, its pods (every TREE_EVERY_S), the guard."""
        view, f = self._view(), self.facts
        app = view.app(self.app)
        if (
            app is not None
            and deployed_revision(app) == f.bad_revision
            and app.health is Health.DEGRADED
            and f.degraded_at is None
        ):
            self.facts = replace(self.facts, degraded_at=datetime.now(UTC))
            self.step(
                Phase.HEALTH, f"{self.app} Degraded on {f.bad_revision[:7]}: {app.health_message}"
            )
        now = time.monotonic()
        if now - self._tree_at >= TREE_EVERY_S:
            self._tree_at = now
            pods = await view.pods(self.app)
            if pods is not None:
                ready = sum(p.ready for p in pods)
                low = ready if f.min_ready is None else min(ready, f.min_ready)
                self.facts = replace(self.facts, min_ready=low)
                passed = [p.name for p in pods if p.tag == f.bad_version and p.ready]
                if passed:
                    raise DrillError(
                        f"the new pod(s) {', '.join(passed)} of {f.bad_version[:7]} passed "
                        "readiness: the change did not break what the drill expects"
                    )
                which = halted(pods, f.bad_version, f.good_version)
                if which and revision == f.bad_revision and self.facts.pods_not_ready_at is None:
                    self.facts = replace(
                        self.facts, pods_not_ready_at=datetime.now(UTC), pods_not_ready=which
                    )
                    self.step(
                        Phase.PODS,
                        f"new pods not ready, rollout halted, old pods serving: {which}",
                    )
        self._guard_steps()

    def _guard_steps(self) -> None:
        """Tell the guard's new events about the app since the change was pushed (earlier ones
        are about what ran before: an earlier drill's leftovers, say)."""
        f = self.facts
        since = f.change.at if f.change is not None else f.started_at
        for event in guard_events(self._info().guard_events, self.app, since):
            key = (rfc3339_ms(event.at), event.type, event.message)
            if key in self._told:
                continue
            self._told.add(key)
            self.step(Phase.GUARD, f"guard {event.type}: {event.message}", event=event.to_json())
            if event.type in FATAL_GUARD_EVENTS and _about(event, f.bad_revision):
                raise DrillError(f"the guard gave up on {self.app}: {event.message}")

    async def _until_rollback(self) -> None:
        view, f = self._view(), self.facts
        bad, deploy = f.bad_revision, self._info().remotes["deploy"]
        try:
            deadline = float(f.policy.deadline_s) + float(f.policy.grace_s)
        except ValueError:
            deadline = 0.0

        async def rolled_back() -> Commit | None:
            await self._observe(bad)
            found = await asyncio.to_thread(rollbacks_of, deploy, bad)
            return found[-1] if found else None

        rb = await wait_until(
            rolled_back,
            f"a rollback commit of {bad[:7]} in the deploy repo (Rollback-Of: {bad[:7]})",
            deadline + self.d.rollback_s,
            wake=view.changed,
            alive=self._alive,
        )
        self.facts = replace(self.facts, rollback=rb)
        self.step(
            Phase.ROLLBACK,
            f'rollback commit {rb.sha[:7]} in the deploy repo: "{rb.subject}" '
            f"(Rollback-To {rb.trailer('Rollback-To')[:7]})",
            rollback_commit=rb.sha,
        )
        if self.facts.pods_not_ready_at is None:
            self._error(
                "the new pods were never seen running but not ready: not the failure the drill "
                "stages"
            )

    async def _recovery(self) -> None:
        view, f = self._view(), self.facts
        rb = f.rollback
        if rb is None:
            raise DrillError("no rollback commit to recover on")

        async def recovered() -> datetime | None:
            await self._observe(rb.sha)
            app = view.app(self.app)
            return datetime.now(UTC) if healthy_synced(app, rb.sha) else None

        at = await wait_until(
            recovered,
            f"{self.app} Healthy and Synced on the rollback {rb.sha[:7]}",
            self.d.recover_s,
            wake=view.changed,
            alive=self._alive,
        )
        self.facts = replace(self.facts, healthy_on_rollback_at=at)
        self.step(Phase.RECOVERY, f"{self.app} Healthy and Synced on the rollback {rb.sha[:7]}")
        good = f.good_version

        async def serving() -> datetime | None:
            answer = await view.version(self.service_url)
            ok = answer is not None and answer.get("revision") == good
            return datetime.now(UTC) if ok else None

        at = await wait_until(
            serving,
            f"{self.service_url}/version answering the known-good {good[:7]}",
            self.d.version_s,
            alive=self._alive,
        )
        self.facts = replace(self.facts, version_restored_at=at)
        self.step(Phase.RECOVERY, f"/version answers {good[:7]} again: the known-good version")

        async def told() -> bool | None:
            self._guard_steps()
            events = guard_events(self._info().guard_events, self.app, f.started_at)
            return True if any(_recovered(e, rb.sha) for e in events) else None

        try:
            await wait_until(told, "the guard's Recovered event", self.d.recovered_event_s)
        except DrillTimeoutError as exc:
            self.step(Phase.GUARD, f"{exc}; recovery is timed by the drill's own sight of it")

    # ---- 5. the record --------------------------------------------------------------------------

    async def _gather(self) -> None:
        """The final facts, read while the platform still runs."""
        view, info, f = self._view(), self._info(), self.facts
        bad = f.bad_revision
        app = await view.get(self.app)
        answer = await view.version(self.service_url) if self.service_url else None
        events = guard_events(info.guard_events, self.app, f.started_at)
        count = 0
        if bad:
            try:
                count = len(await asyncio.to_thread(rollbacks_of, info.remotes["deploy"], bad))
            except GitError as exc:
                self.errors.append(f"the deploy repo's history cannot be read: {exc}")
        updates: dict[str, Any] = {
            "guard_events": tuple(events),
            "rollback_count": count,
            "final_version": str(answer.get("revision", "")) if answer else "",
            "finished_at": datetime.now(UTC),
        }
        if app is not None:
            by_revision = {e.revision: e for e in app.history}
            if bad in by_revision and by_revision[bad].deploy_started_at is not None:
                updates["bad_sync_started"] = by_revision[bad].deploy_started_at
            if f.rollback is not None:
                entry = by_revision.get(f.rollback.sha)
                if entry is not None and entry.deploy_started_at is not None:
                    updates["rollback_sync_started"] = entry.deploy_started_at
                updates["final_healthy_synced"] = healthy_synced(app, f.rollback.sha)
        self.facts = replace(self.facts, **updates)

    def _report(self) -> DrillResult:
        self.facts = replace(
            self.facts,
            finished_at=datetime.now(UTC),
            error="; ".join(self.errors),
        )
        path = self.dir / "postmortem.md"
        outcome = result(self.facts, path)
        path.write_text(render_postmortem(self.facts, outcome), encoding="utf-8")
        record = {
            "result": outcome.to_json(),
            "problems": list(outcome.problems),
            "timeline": [e.to_json() for e in assemble(self.facts)],
            "load": self.facts.load.to_json(),
            "drill_id": self.id,
            "workspace": str(self.ws),
        }
        (self.dir / "drill.json").write_text(json.dumps(record, indent=2) + "\n", "utf-8")
        self.step(Phase.REPORT, f"post-mortem: {path}", postmortem=path)
        return outcome

    # ---- stopping -----------------------------------------------------------------------------

    async def _cleanup(self, interrupted: bool) -> None:
        if interrupted:
            self.step(Phase.STOP, "interrupted: stopping the load generator and the platform")
        if self.load is not None:
            self.load.stop()
            with contextlib.suppress(Exception):
                await self.load.wait()
        if self.view is not None:
            with contextlib.suppress(Exception):
                await self.view.close()
        if self.platform is None:
            if self.info is not None:
                self.step(Phase.STOP, "the platform ran before the drill: it keeps running")
            return
        pid = self.platform.pid
        if self.platform.exited() is not None:
            await self.platform.stop()  # reaped already; closes its log
            return
        if self.o.keep and not interrupted:
            self.step(
                Phase.STOP,
                f"the platform keeps running (pid {pid}): look at it with `gitops status "
                f"--workspace {self.ws}`; stop it with `kill -TERM {pid}`",
                pid=pid,
            )
            return
        self.step(Phase.STOP, f"stopping the platform (SIGTERM to pid {pid}); pods stop with it")
        code = await self.platform.stop(self.d.stop_s)
        self.step(
            Phase.STOP,
            f"platform stopped (exit {code}); the workspace stays: `gitops up --workspace "
            f"{self.ws}` resumes it",
        )

    # ---- helpers --------------------------------------------------------------------------------

    def _view(self) -> PlatformView:
        if self.view is None:
            raise DrillError("the platform is not running")
        return self.view

    def _info(self) -> PlatformInfo:
        if self.info is None:
            raise DrillError("the platform is not running")
        return self.info


async def _to_the_end(work: Coroutine[Any, Any, None]) -> None:
    """Run `work` to its end even when the caller is cancelled meanwhile (a second Ctrl-C while
    the platform stops); the cancellation is raised afterwards."""
    task = asyncio.ensure_future(work)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            cancelled = True
    task.result()
    if cancelled:
        raise asyncio.CancelledError


def _about(event: Event, revision: str) -> bool:
    return bool(revision) and revision in {
        str(event.fields.get(k, "")) for k in ("bad", "revision", "commit")
    }


def _recovered(event: Event, commit: str) -> bool:
    return event.type == "Recovered" and event.fields.get("commit") == commit
