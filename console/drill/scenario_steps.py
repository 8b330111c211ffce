"""What only some scenarios do, on top of the shared steps (console.drill.drill), and the order
each scenario runs its steps in (`ScenarioDrill.run`): a promotion of a tag never built
(bad-image), a deploy commit the gate must refuse (broken-manifest), a kill -9 of the platform
mid-rollout and its restart (platform-crash), a good release that must stay (healthy), and the
drill's own rollback when the guard wrote none.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from console.contract import DRILL_TRAILER, PROMOTED_SERVICE, SOURCE_COMMIT
from console.drill import change as bad_change
from console.drill import deploy_changes
from console.drill.drill import ANALYSIS_MARGIN_S, REFUSED_WATCH_S, SERVICE, Drill
from console.drill.facts import Commit, utc
from console.drill.options import DrillError
from console.drill.platform import PlatformError
from console.drill.report import final_facts
from console.drill.result import DrillResult
from console.drill.scenarios import Expect, Push
from console.drill.session import settle
from console.drill.steps import Phase
from console.drill.watch import DrillTimeoutError, healthy_synced, rollbacks_of, wait_until
from console.git import GitError, git
from console.guard.rollback import RollbackError, RollbackRequest, RollbackWriter
from console.promote.promote import PromoteError


class ScenarioDrill(Drill):
    """A drill of one scenario: the shared steps plus its own, in its order."""

    # ---- the whole ----------------------------------------------------------------------------

    async def run(self, *, first: bool) -> DrillResult:
        """The scenario from the known-good version to its report; with `first`, the platform
        is started (or found) before."""
        self.dir.mkdir(parents=True, exist_ok=True)
        sc = self.scenario
        if first:
            self.step(Phase.SETUP, f"drill {self.id} on the workspace {self.ws}", workspace=self.ws)
        self.step(
            Phase.SETUP,
            f"scenario {sc.name}: {sc.change}; expected: {sc.expected}",
            scenario=sc.name,
        )
        try:
            if first:
                await self._platform_up()
            await self._baseline()
            await self._start_load()
            if sc.push is Push.APPS:
                await self._change()
                await self._ci()
                await self._promotion()
            elif sc.push is Push.PROMOTION:
                await self._promote_unbuilt()
            if sc.expect is Expect.REFUSED:
                await self._refused()
            elif sc.expect is Expect.STAYS:
                await self._bad_sync()
                await self._stays()
            else:
                await self._bad_sync()
                if sc.kill_platform:
                    await self._kill_and_restart()
                await self._until_rollback()
                await self._recovery()
        except (DrillError, DrillTimeoutError, PlatformError, bad_change.ChangeError) as exc:
            self._error(str(exc))
        except GitError as exc:
            self._error(f"git failed: {exc}")
        if sc.expect is Expect.ROLLBACK and self.facts.rollback is None and self.facts.promotion:
            await self._restore()
        await self._stop_load()
        view, info = self.view, self.info
        if view is not None and info is not None:  # read while the platform still runs
            self.facts = await final_facts(view, info, self.facts, self.service_url, self.errors)
        return self._report()

    async def _promote_unbuilt(self) -> None:
        """bad-image: a promotion commit of a tag no build has, straight to the deploy repo."""
        remote = self._info().remotes["deploy"]
        try:
            done = await asyncio.to_thread(
                deploy_changes.promote_unbuilt, remote, self.env, SERVICE, self.id, time.time
            )
        except (GitError, PromoteError) as exc:
            raise DrillError(f"the promotion could not be pushed: {exc}") from None
        promo = Commit(
            done.sha,
            done.subject,
            utc(done.pushed_at),
            ((PROMOTED_SERVICE, SERVICE), (SOURCE_COMMIT, done.tag)),
        )
        self.facts = replace(
            self.facts,
            bad_tag=done.tag,
            promotion=promo,
            what_changed=(
                f"a promotion commit in the deploy repo pins {SERVICE}:{done.tag[:7]}… in "
                f"overlays/{self.env}/{SERVICE}, a tag CI never built"
            ),
            why_ci_passed=(
                "no CI ran: the promotion was written straight to the deploy repo (`gitops "
                "promote --tag`), and the Git host's gate judges a commit's form, not whether "
                "its image exists (that is the runtime's business, as on a cluster)"
            ),
            follow_ups=(
                "Promote only tags CI built (`gitops promote --from-env`, or CI's own "
                "promotion), never a hand-typed tag",
                "Check in the deploy repo's CI that every image an overlay names exists in the "
                "registry before merging",
            ),
        )
        self.step(
            Phase.PROMOTION,
            f'pushed promotion {done.sha[:7]} to the deploy repo: "{done.subject}" (the tag '
            f"{done.tag[:7]} was never built)",
            bad_revision=done.sha,
        )

    async def _refused(self) -> None:
        """broken-manifest: a deploy commit that does not render, which the gate must refuse;
        then a few seconds of load with nothing changing."""
        info = self._info()
        remote = info.remotes["deploy"]
        done = await asyncio.to_thread(
            deploy_changes.push_unrendered,
            remote,
            env=self.env,
            service=SERVICE,
            drill_id=self.id,
            clock=time.time,
            workdir=self.dir,
        )
        self.facts = replace(
            self.facts,
            refused_commit=Commit(
                done.sha, done.subject, utc(done.pushed_at), ((DRILL_TRAILER, self.id),)
            ),
            refused_at=utc(done.pushed_at),
            refusal=done.refusal,
            refused_overlay=done.overlay,
            deploy_head_before=done.head_before,
            what_changed=(
                f"{done.overlay}/kustomization.yaml names {deploy_changes.MISSING_FILE}, a file "
                "that was never committed: the overlay does not render"
            ),
            why_ci_passed=(
                "it never reached CI or Argo CD: the deploy repo's pre-receive gate renders "
                "every overlay a push touches and refused it"
            ),
            follow_ups=(
                "Commit the missing file, or drop it from the kustomization, and push again",
                "Render each overlay before pushing (`kubectl kustomize overlays/<env>/<service>` "
                "in the deploy repo's pre-commit hooks), so the gate is never the first to see it",
            ),
        )
        if not done.refusal:
            raise DrillError(
                f"the deploy repo's gate accepted {done.sha[:7]}, whose {done.overlay} does not "
                "render"
            )
        said = done.refusal.splitlines()[0]
        self.step(Phase.REFUSED, f"push of {done.sha[:7]} refused by the deploy repo: {said}")
        await settle(REFUSED_WATCH_S)
        head = await asyncio.to_thread(git, ["rev-parse", "main"], Path(remote))
        self.facts = replace(self.facts, deploy_head_after=head.strip())
        app = self._view().app(self.app)
        if head.strip() == done.head_before and healthy_synced(app, self.facts.good_revision):
            self.step(
                Phase.RECOVERY,
                f"nothing deployed: main is still {done.head_before[:7]}; {self.app} Healthy "
                f"and Synced on {self.facts.good_revision[:7]}",
            )

    async def _stays(self) -> None:
        """healthy: the release turns Healthy and Synced, nothing rolls it back through the
        analysis window (and a margin), and /version answers the new build."""
        view, f = self._view(), self.facts
        new, deploy = f.bad_revision, self._info().remotes["deploy"]
        first = f.policy.stuck_after_s

        await self._until_observed(
            new,
            lambda: self.facts.bad_healthy_at,
            f"{self.app} Healthy and Synced on {new[:7]}",
            first + self.d.sync_s,
        )
        hold = ANALYSIS_MARGIN_S / 3
        with contextlib.suppress(ValueError):
            hold += float(f.policy.analysis_s)
        self.step(
            Phase.HEALTH,
            f"watching {self.app} on {new[:7]} for {hold:g}s (the analysis window and a "
            "margin): a good release must not be rolled back",
        )

        async def rolled_back() -> Commit | None:
            await self._observe(new)
            found = await asyncio.to_thread(rollbacks_of, deploy, new)
            return found[-1] if found else None

        with contextlib.suppress(DrillTimeoutError):
            rb = await wait_until(
                rolled_back, "a rollback", hold, wake=view.changed, alive=self._alive
            )
            self.facts = replace(self.facts, rollback=rb)
            raise DrillError(
                f"the good release {new[:7]} was rolled back by {rb.sha[:7]}: "
                f"{rb.trailer('Rollback-Reason') or 'no reason recorded'}"
            )
        want = f.bad_version
        await self._wait_serving(want, f"the new {want[:7]}")
        self.step(
            Phase.RECOVERY,
            f"/version answers the new {want[:7]}; no rollback: the good release stays",
        )

    async def _until_observed(
        self, revision: str, fact: Callable[[], datetime | None], what: str, deadline_s: float
    ) -> None:
        """Observe the platform on `revision` until `fact()` is known (`what` names it in a
        timeout)."""

        async def known() -> bool | None:
            await self._observe(revision)
            return True if fact() is not None else None

        await wait_until(known, what, deadline_s, wake=self._view().changed, alive=self._alive)

    async def _kill_and_restart(self) -> None:
        """platform-crash: once the rollout is under way (its new pods seen), kill -9 of
        `gitops up`, then `gitops up` again on the same workspace."""
        bad = self.facts.bad_revision

        await self._until_observed(
            bad,
            lambda: self.facts.pods_not_ready_at,
            f"the rollout of {bad[:7]} under way (a new pod running, not ready)",
            self.d.sync_s,
        )
        killed, ready = await self.session.kill_and_restart(
            self.dir / "gitops-up-restarted.log", self.d.platform_s
        )
        self.facts = replace(self.facts, platform_killed_at=killed, platform_restarted_at=ready)

    async def _restore(self) -> None:
        """The guard did not roll the bad revision back: the drill does, as an operator would
        from the console (a rollback commit to the known-good content), so the platform is left
        on the known-good version for whatever comes next. The drill has failed all the same."""
        f = self.facts
        view, info = self.view, self.info
        app = view.app(self.app) if view is not None else None
        path = app.source.path if app is not None and app.source is not None else ""
        if view is None or info is None or not path or not f.good_revision:
            return
        request = RollbackRequest(
            app=self.app,
            path=path,
            bad=f.bad_revision,
            good=f.good_revision,
            reason=f"gitops demo: the guard did not roll {f.bad_revision[:7]} back; the drill "
            "restores the known-good",
            operator="gitops demo",
        )
        writer = RollbackWriter(
            info.remotes["deploy"],
            self.dir / "restore",
            author=(bad_change.IDENTITY.name, bad_change.IDENTITY.email),
        )
        try:
            done = await asyncio.to_thread(writer.write, request)
        except (RollbackError, GitError) as exc:
            self._error(f"the drill could not restore the known-good: {exc}")
            return
        sha = done.sha or done.already
        if sha is None:
            return  # the path has the known-good content already
        self.facts = replace(self.facts, restored_by=sha)
        self.step(
            Phase.RECOVERY,
            f"the guard did not roll back: the drill restores the known-good by rollback commit "
            f"{sha[:7]} (as an operator would from the console)",
        )

        async def back() -> bool | None:
            return True if healthy_synced(view.app(self.app), sha) else None

        try:
            await wait_until(
                back,
                f"{self.app} Healthy and Synced on {sha[:7]}",
                self.d.recover_s,
                wake=view.changed,
                alive=self._alive,
            )
        except (DrillTimeoutError, PlatformError) as exc:
            self._error(str(exc))
            return
        self.step(Phase.RECOVERY, f"{self.app} Healthy and Synced on the drill's {sha[:7]}")
