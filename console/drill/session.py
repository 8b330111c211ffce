"""The platform a drill runs against, for one drill or a game day of them: `gitops up` started once
on the workspace (or the one already running there, left alone), watched through one
PlatformView, killed and restarted when a scenario asks for it, and stopped at the end.

`Announce` is how every part of a drill tells its steps: one clock (seconds since the drill or
the game day started) and one callback.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from console.drill.options import DrillError, DrillUsageError
from console.drill.platform import (
    PlatformError,
    PlatformProcess,
    WorkspaceBusyError,
    start_or_use,
)
from console.drill.steps import Phase, Step
from console.drill.watch import PlatformView
from console.platforminfo import PlatformInfo
from console.procs import alive


class Announce:
    """Tells `on_step` each step, timed from when this was made."""

    def __init__(self, on_step: Callable[[Step], None]) -> None:
        self.on_step = on_step
        self.t0 = time.monotonic()

    def __call__(self, phase: Phase, message: str, **data: Any) -> None:
        self.on_step(
            Step(phase, message, datetime.now(UTC), time.monotonic() - self.t0, dict(data))
        )


class Session:
    def __init__(self, workspace: Path, config: Path, announce: Announce) -> None:
        self.ws = workspace
        self.config = config
        self.step = announce
        self.platform: PlatformProcess | None = None  # ours to stop; None: not started or not ours
        self.info: PlatformInfo | None = None
        self.view: PlatformView | None = None

    # ---- starting ---------------------------------------------------------------------------

    async def up(self, log_path: Path, ready_s: float) -> PlatformInfo:
        """The platform on the workspace, started when none runs there; its view started."""
        try:
            self.platform, self.info = await start_or_use(
                self.ws,
                self.config,
                log_path,
                ready_s,
                on_line=self._platform_line,
                on_start=self._platform_started,
            )
        except WorkspaceBusyError as exc:
            raise DrillUsageError(str(exc)) from None
        info = self.info
        if self.platform is None:
            self.step(
                Phase.PLATFORM,
                f"`gitops up` already runs on this workspace (pid {info.pid}): using it; "
                "it keeps running after the drill",
            )
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
        self.view = PlatformView(info.argocd_url, info.token())
        await self.view.start()
        return info

    def _platform_started(self, platform: PlatformProcess) -> None:
        msg = f"starting `gitops up` (pid {platform.pid}); its output: {platform.log_path}"
        self.step(Phase.PLATFORM, msg, pid=platform.pid)

    def _platform_line(self, line: str) -> None:
        if line.startswith("  ") and line.strip():  # `gitops up`'s progress lines
            self.step(Phase.PLATFORM, line.strip())

    # ---- kill -9 and restart ----------------------------------------------------------------

    async def kill_and_restart(self, log_path: Path, ready_s: float) -> tuple[datetime, datetime]:
        """SIGKILL to `gitops up` alone (its pods and Service proxies are the data plane: they
        outlive it), then `gitops up` again on the same workspace; (killed at, ready again at).
        Only a platform the drill started may be killed."""
        old = self.platform
        if old is None or old.pid is None:
            raise DrillError(
                "the platform ran before the drill: the drill kills and restarts only a "
                "`gitops up` it started itself"
            )
        pid = old.pid
        if self.view is not None:  # its API goes with it: a new view follows the new one
            await self.view.close()
            self.view = None
        old.kill()
        killed_at = datetime.now(UTC)
        self.step(Phase.PLATFORM, f"kill -9 of `gitops up` (pid {pid}) mid-rollout", pid=pid)
        await old.reap()
        platform = PlatformProcess(self.ws, self.config, log_path)
        platform.start()
        self.platform = platform
        self._platform_started(platform)
        self.info = await platform.wait_ready(ready_s, self._platform_line)
        ready_at = datetime.now(UTC)
        self.step(
            Phase.PLATFORM,
            f"platform ready again (pid {platform.pid}): Argo CD API on {self.info.argocd_url}",
        )
        self.view = PlatformView(self.info.argocd_url, self.info.token())
        await self.view.start()
        return killed_at, ready_at

    # ---- while it runs ------------------------------------------------------------------------

    def check_alive(self) -> None:
        if self.platform is not None:
            self.platform.check_running()
        elif self.info is not None and not alive(self.info.pid):
            raise PlatformError(f"the platform (pid {self.info.pid}) stopped during the drill")

    def require_view(self) -> PlatformView:
        if self.view is None:
            raise DrillError("the platform is not running")
        return self.view

    def require_info(self) -> PlatformInfo:
        if self.info is None:
            raise DrillError("the platform is not running")
        return self.info

    # ---- stopping -----------------------------------------------------------------------------

    async def close(self, *, keep: bool, interrupted: bool, stop_s: float) -> None:
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
        if keep and not interrupted:
            self.step(
                Phase.STOP,
                f"the platform keeps running (pid {pid}): look at it with `gitops status "
                f"--workspace {self.ws}`; stop it with `kill -TERM {pid}`",
                pid=pid,
            )
            return
        self.step(Phase.STOP, f"stopping the platform (SIGTERM to pid {pid}); pods stop with it")
        code = await self.platform.stop(stop_s)
        self.step(
            Phase.STOP,
            f"platform stopped (exit {code}); the workspace stays: `gitops up --workspace "
            f"{self.ws}` resumes it",
        )


async def settle(seconds: float) -> None:
    """A pause of the drill's own pace (e.g. load kept running after a refused push)."""
    await asyncio.sleep(seconds)
