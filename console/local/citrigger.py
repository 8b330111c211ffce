"""What starts the apps CI in the embedded platform: a push to the apps repo's main (its
webhook), or polling for a head CI has never run, as a CI system's trigger does."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Protocol

from console.config import PlatformConfig
from console.local.ci.runner import repo_name
from console.local.git.githost import GitHost
from console.local.git.webhook import PushEvent
from console.local.state import Run, State

Progress = Callable[[str], None]


def repo_url(config: PlatformConfig, name: str) -> str:
    """The URL a repo of the platform has in the deploy repo's Applications and in webhooks."""
    return f"{config.git_host.rstrip('/')}/{config.org}/{name}.git"


class Pipeline(Protocol):
    """What CITrigger starts: CIRunner.run."""

    def run(self, apps_remote: str, commit: str) -> list[Run]: ...


class CITrigger:
    """Starts the apps CI on a push to main (the webhook) or, as the fallback, when polling finds
    a head commit CI has never seen (a push while the platform was down, a lost webhook). One
    pipeline at a time, as a concurrency group; a commit is started once."""

    def __init__(
        self, config: PlatformConfig, host: GitHost, ci: Pipeline, state: State, progress: Progress
    ) -> None:
        self.apps = config.repos.apps.name
        self.apps_url = repo_url(config, self.apps)
        self.host, self.ci, self.state, self.progress = host, ci, state, progress
        self._lock = asyncio.Lock()
        self._started: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()  # the loop keeps only weak references

    def on_push(self, event: PushEvent) -> None:
        if event.matches(self.apps_url) and event.branch == "main" and not event.deleted:
            self._start(event.after)

    def poll(self) -> None:
        head = self.host.head(self.apps)
        if head is not None and not self._seen(head):
            self.progress(f"poll: {self.apps} is at {head[:7]}, which CI has not run")
            self._start(head)

    def _seen(self, sha: str) -> bool:
        """Started by this trigger, or run before (the bootstrap's CI, a run before a restart:
        the pushes of a bootstrap reach the webhook only once the API serves). A run a platform
        crash cut short does not count: its commit is run again."""
        if sha in self._started:
            return True
        latest = self.state.runs(repo_name(self.host.url(self.apps)), 1, commit=sha)
        return bool(latest) and not latest[0].interrupted

    async def poll_forever(self, every_s: float, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.poll()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every_s)

    async def idle(self) -> None:
        """Wait until no pipeline runs (tests and shutdown)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    def _start(self, sha: str) -> None:
        if self._seen(sha):
            return
        self._started.add(sha)
        task = asyncio.get_running_loop().create_task(self._run(sha))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, sha: str) -> None:
        async with self._lock:
            runs = await asyncio.to_thread(self.ci.run, self.host.url(self.apps), sha)
            self.progress(f"CI {sha[:7]}: " + ", ".join(f"{r.stage} {r.result}" for r in runs))
