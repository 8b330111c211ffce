"""The embedded platform the drill runs against: `gitops up` started as a child process on the
workspace (or one already running there, which the drill then leaves alone), found through the
`platform.json` it writes once every Application was deployed.

The child runs in its own session, so a Ctrl-C in the terminal reaches the drill only; the drill
stops the child with SIGTERM (it drains its proxies and stops its pods) and waits for it. Its
output (the platform's progress lines) goes to a log file the drill tails.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import IO, Any

from console.platforminfo import PlatformInfo, PlatformInfoError
from console.procs import alive

STOP_TIMEOUT_S = 120.0  # SIGTERM -> exit; CI running at that moment finishes first


class PlatformError(RuntimeError):
    """The platform did not start, or stopped; the message says what to look at."""


class WorkspaceBusyError(PlatformError):
    """Another `gitops up` holds the workspace (exit 2 of the child)."""


def read_platform(workspace: Path) -> PlatformInfo | None:
    """The workspace's platform.json, or None while there is none (or it is half written)."""
    try:
        return PlatformInfo.read(workspace)
    except PlatformInfoError:
        return None


def running_platform(workspace: Path) -> PlatformInfo | None:
    """The platform already serving this workspace, if one is (its process is alive)."""
    info = read_platform(workspace)
    return info if info is not None and alive(info.pid) else None


class LogTail:
    """The lines appended to a file since the last read (a partial last line waits)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = ""

    def lines(self) -> list[str]:
        try:
            with self.path.open("r", encoding="utf-8", errors="replace") as fh:
                fh.seek(self._offset)
                data = fh.read()
                self._offset = fh.tell()
        except FileNotFoundError:
            return []
        text = self._partial + data
        *done, self._partial = text.split("\n")
        return done


class PlatformProcess:
    """`gitops up --workspace W --config C` as a child process."""

    def __init__(self, workspace: Path, config: Path, log_path: Path) -> None:
        self.workspace = workspace
        self.config = config
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "console.cli",
                "up",
                "--workspace",
                str(self.workspace),
                "--config",
                str(self.config),
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in the terminal is the drill's to handle
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def exited(self) -> int | None:
        return self.proc.poll() if self.proc is not None else None

    def check_running(self) -> None:
        """Raise PlatformError if the child has exited."""
        code = self.exited()
        if code is None:
            return
        tail = self.log_tail()
        if code == 2 and "is in use by `gitops up`" in tail:
            line = tail.strip().splitlines()[-1]
            raise WorkspaceBusyError(line.removeprefix("gitops: error: "))
        raise PlatformError(
            f"`gitops up` exited with code {code}; its last lines ({self.log_path}):\n{tail}"
        )

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    async def wait_ready(
        self, timeout_s: float, on_line: Callable[[str], None], poll_s: float = 0.2
    ) -> PlatformInfo:
        """Wait for this child's platform.json; every log line in the meantime goes to
        `on_line`. Raises PlatformError when the child exits or the deadline passes."""
        tail = LogTail(self.log_path)
        deadline = time.monotonic() + timeout_s
        while True:
            for line in tail.lines():
                on_line(line)
            info = read_platform(self.workspace)
            if info is not None and info.pid == self.pid:
                return info
            self.check_running()
            if time.monotonic() > deadline:
                raise PlatformError(
                    f"the platform did not become ready within {timeout_s:.0f}s "
                    f"(no platform.json from pid {self.pid}); see {self.log_path}"
                )
            await asyncio.sleep(poll_s)  # polling a file the child writes, with a deadline

    def kill(self) -> None:
        """SIGKILL to `gitops up` alone, not its session: what it started (pods, Service
        proxies) is the data plane and outlives it, as on a cluster."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()

    async def reap(self, timeout_s: float = 30.0) -> int | None:
        """Wait for the child to be gone (after `kill`) and close its log; its exit code."""
        proc = self.proc
        if proc is None:
            return None
        try:
            with contextlib.suppress(subprocess.TimeoutExpired):
                await asyncio.to_thread(proc.wait, timeout_s)
            return proc.poll()
        finally:
            if self._log is not None:
                self._log.close()
                self._log = None

    async def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> int | None:
        """SIGTERM, then wait; SIGKILL to its whole session as the last resort. The exit code."""
        proc = self.proc
        if proc is None:
            return None
        try:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.to_thread(proc.wait, timeout_s)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    await asyncio.to_thread(proc.wait)
            return proc.returncode
        finally:
            if self._log is not None:
                self._log.close()
                self._log = None


async def finish_anyway(work: Coroutine[Any, Any, None]) -> None:
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


async def start_or_use(
    workspace: Path,
    config: Path,
    log_path: Path,
    ready_s: float,
    *,
    on_line: Callable[[str], None],
    on_start: Callable[[PlatformProcess], None],
) -> tuple[PlatformProcess | None, PlatformInfo]:
    """The platform already running on `workspace` (None: not ours to stop), else `gitops up`
    started there (told to `on_start`) and waited for until ready. Raises
    WorkspaceBusyError and PlatformError."""
    existing = running_platform(workspace)
    if existing is not None:
        return None, existing
    platform = PlatformProcess(workspace, config, log_path)
    platform.start()
    on_start(platform)
    return platform, await platform.wait_ready(ready_s, on_line)
