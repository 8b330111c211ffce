"""One drill's steps on the platform, shared by every scenario (console.drill.scenarios): the
known-good version, the load, an apps-repo change pushed as a developer would, CI, the promotion,
the sync of the bad revision, what its pods do, the guard's events and rollback commit, the
recovery, and the report. console.drill.scenario_steps adds what only some scenarios do and runs
them in order; console.drill.runner is the entry point.

The steps, in order, are those that console.drill.runner's docstring tells: the known-good
version, the load, the change, the watching (every wait has a deadline; its failure names what
did not happen), and the report.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from console.config import PlatformConfig
from console.contract import DRILL_TRAILER, ENABLED
from console.drill import change as bad_change
from console.drill.facts import Commit, Facts, Policy, utc
from console.drill.load import BackgroundLoad, LoadGenerator
from console.drill.options import DrillError, DrillOptions, DrillUsageError
from console.drill.report import write_report
from console.drill.result import DrillResult
from console.drill.scenarios import Scenario
from console.drill.session import Session
from console.drill.steps import Phase
from console.drill.watch import (
    DrillTimeoutError,
    PlatformView,
    failing,
    guard_events,
    halted,
    healthy_synced,
    is_about,
    promotion_of,
    rollbacks_of,
    says_recovered,
    sync_started,
    wait_until,
)
from console.fleet.model import Health
from console.git import GitError
from console.guard.policy import deployed_revision
from console.local.ci.runner import repo_name
from console.platforminfo import PlatformInfo
from console.timestamps import rfc3339_ms

SERVICE = "frontend"  # the service the drill breaks (console.drill.change edits the frontend)
FATAL_GUARD_EVENTS = frozenset({"RollbackFailed", "NoKnownGood"})
TREE_EVERY_S = 0.5
ANALYSIS_MARGIN_S = 30.0  # after the analysis window: its verdict, the push, the sync
REFUSED_WATCH_S = 3.0  # after a refused push: the load keeps running, nothing may change


class Drill:
    """One scenario on a session's platform: the steps every scenario shares."""

    def __init__(
        self,
        options: DrillOptions,
        config: PlatformConfig,
        session: Session,
        scenario: Scenario,
        *,
        drill_id: str,
        directory: Path,
    ) -> None:
        self.o, self.d = options, options.deadlines
        self.config = config
        self.session = session
        self.scenario = scenario
        started = datetime.now(UTC)
        self.id = drill_id
        self.env = config.environment_names[0]
        self.app = f"{SERVICE}-{self.env}"
        if SERVICE not in {s.name for s in config.services}:
            raise DrillUsageError(f"{options.config} declares no service {SERVICE!r} to break")
        self.ws = session.ws
        self.dir = directory
        change = scenario.apps_change
        self.facts = Facts(
            drill_id=self.id,
            app=self.app,
            env=self.env,
            service=SERVICE,
            workspace=self.ws,
            started_at=started,
            finished_at=started,
            scenario=scenario.name,
            owner=config.owners,
            what_changed=change.what_changed if change else "",
            why_ci_passed=change.why_ci_passed if change else "",
            follow_ups=change.follow_ups if change else (),
        )
        self.errors: list[str] = []
        self.load: BackgroundLoad | None = None
        self.service_url = ""
        self._told: set[tuple[str, str, str]] = set()
        self._tree_at = 0.0

    @property
    def view(self) -> PlatformView | None:
        return self.session.view

    @property
    def info(self) -> PlatformInfo | None:
        return self.session.info

    # ---- announcing ---------------------------------------------------------------------------

    def step(self, phase: Phase, message: str, **data: Any) -> None:
        self.session.step(phase, message, **data)

    def _error(self, message: str) -> None:
        self.errors.append(message)
        self.step(Phase.ERROR, message)

    def _alive(self) -> None:
        self.session.check_alive()

    # ---- 1. the platform and the known-good version -----------------------------------------

    async def _platform_up(self) -> None:
        info = await self.session.up(self.dir / "gitops-up.log", self.d.platform_s)
        self.facts = replace(
            self.facts,
            apps_remote=info.remotes.get("apps", ""),
            deploy_remote=info.remotes.get("deploy", ""),
        )

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
        policy = Policy.of(app.annotations)
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
        info = self._info()
        self.facts = replace(
            self.facts,
            apps_remote=info.remotes.get("apps", ""),
            deploy_remote=info.remotes.get("deploy", ""),
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
        stats, self.load = await self.load.finish(), None
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
        change = self.scenario.apps_change or bad_change.READINESS
        try:
            pushed = await asyncio.to_thread(
                bad_change.push_change,
                remote,
                self.id,
                time.time,
                self.dir,
                change=change,
                base=self.facts.good_version,
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
        why = (
            f"the frontend's readiness now needs {bad_change.VARIABLE}; the tests set it, no "
            "Deployment does"
            if change is bad_change.READINESS
            else self.scenario.change
        )
        self.step(
            Phase.CHANGE,
            f'pushed {pushed.sha[:7]} to the apps repo: "{pushed.subject}" ({why})',
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
            return sync_started(view.app(self.app), bad)

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

    async def _wait_serving(self, revision: str, what: str) -> None:
        """Until the Service's /version answers `revision` (`what` names it in a timeout);
        when is a fact: version_restored_at."""
        view = self._view()

        async def serving() -> datetime | None:
            answer = await view.version(self.service_url)
            ok = answer is not None and answer.get("revision") == revision
            return datetime.now(UTC) if ok else None

        at = await wait_until(
            serving,
            f"{self.service_url}/version answering {what}",
            self.d.version_s,
            alive=self._alive,
        )
        self.facts = replace(self.facts, version_restored_at=at)

    async def _observe(self, revision: str) -> None:
        """One look at the app on `revision`: health, its pods (every TREE_EVERY_S), the guard."""
        view, f = self._view(), self.facts
        app = view.app(self.app)
        if (
            self.scenario.new_pods_ready
            and f.bad_healthy_at is None
            and healthy_synced(app, f.bad_revision)
        ):
            self.facts = replace(self.facts, bad_healthy_at=datetime.now(UTC))
            self.step(
                Phase.HEALTH,
                f"{self.app} Healthy and Synced on the new {f.bad_revision[:7]}: its pods pass "
                "readiness; only the analysis of its requests can tell a bad one",
            )
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
                sc = self.scenario
                passed = [p.name for p in pods if p.tag == f.bad_version and p.ready]
                if passed and not sc.new_pods_ready:
                    raise DrillError(
                        f"the new pod(s) {', '.join(passed)} of {f.bad_version[:7]} passed "
                        "readiness: the change did not break what the drill expects"
                    )
                broken = failing(pods, f.bad_version, sc.pod_reasons)
                if broken and revision == f.bad_revision and f.pods_failing_at is None:
                    self.facts = replace(
                        self.facts, pods_failing_at=datetime.now(UTC), pods_failing=broken
                    )
                    self.step(Phase.PODS, f"new pods cannot run, old pods serving: {broken}")
                which = halted(pods, f.bad_version, f.good_version) if sc.halts else ""
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
            if event.type in FATAL_GUARD_EVENTS and is_about(event, f.bad_revision):
                raise DrillError(f"the guard gave up on {self.app}: {event.message}")

    async def _until_rollback(self) -> None:
        view, f = self._view(), self.facts
        bad, deploy = f.bad_revision, self._info().remotes["deploy"]
        deadline = f.policy.stuck_after_s
        margin = self.d.rollback_s
        if self.scenario.needs_analysis:
            # Healthy first (the deadline at most), then the analysis window, then the push.
            with contextlib.suppress(ValueError):
                deadline += float(f.policy.analysis_s)
            margin = min(margin, ANALYSIS_MARGIN_S)

        async def rolled_back() -> Commit | None:
            await self._observe(bad)
            found = await asyncio.to_thread(rollbacks_of, deploy, bad)
            return found[-1] if found else None

        rb = await wait_until(
            rolled_back,
            f"a rollback commit of {bad[:7]} in the deploy repo (Rollback-Of: {bad[:7]})",
            deadline + margin,
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
        if self.scenario.halts and self.facts.pods_not_ready_at is None:
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
        await self._wait_serving(good, f"the known-good {good[:7]}")
        self.step(Phase.RECOVERY, f"/version answers {good[:7]} again: the known-good version")

        async def told() -> bool | None:
            self._guard_steps()
            events = guard_events(self._info().guard_events, self.app, f.started_at)
            return True if any(says_recovered(e, rb.sha) for e in events) else None

        try:
            await wait_until(told, "the guard's Recovered event", self.d.recovered_event_s)
        except DrillTimeoutError as exc:
            self.step(Phase.GUARD, f"{exc}; recovery is timed by the drill's own sight of it")

    # ---- 5. the record --------------------------------------------------------------------------

    def _report(self) -> DrillResult:
        self.facts = replace(
            self.facts, finished_at=datetime.now(UTC), error="; ".join(self.errors)
        )
        outcome, path = write_report(self.facts, self.dir)
        self.step(Phase.REPORT, f"post-mortem: {path}", postmortem=path)
        return outcome

    # ---- stopping -----------------------------------------------------------------------------

    async def drop_load(self) -> None:
        """The load generator stopped, whatever happened (an interrupted drill)."""
        if self.load is not None:
            with contextlib.suppress(Exception):
                await self.load.finish()
            self.load = None

    # ---- helpers --------------------------------------------------------------------------------

    def _view(self) -> PlatformView:
        return self.session.require_view()

    def _info(self) -> PlatformInfo:
        return self.session.require_info()
