"""The container runtime of the embedded platform (what the kubelet asks CRI for): a container is a
local process leading its own session, its output appended to its log file.

The image's STOPSIGNAL goes to the main process, SIGKILL to its whole group, and the group is
killed when its leader exits, as a container's cgroup would be. A container a previous, killed
kubelet started is adopted by its identity (pid and process start time): `AdoptedProcess`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from console.local.kube.pods import parse_signal
from console.procs import process_start, process_state


class Container(Protocol):
    """A container's main process: a child this kubelet started (asyncio's Process), or one a
    previous kubelet started that this one adopted."""

    @property
    def pid(self) -> int: ...

    @property
    def returncode(self) -> int | None: ...

    async def wait(self) -> int: ...


ADOPTED_EXIT_CODE = 255  # the exit status of a process that is not our child is not ours to read
ADOPTED_POLL_S = 0.25  # where pidfd_open is missing: how often an adopted process is looked at


class AdoptedProcess:
    """A pod's process a previous (killed) kubelet started and left running, adopted by its
    identity (pid and start time): it is not this process's child, so its end is seen through a
    pidfd (Linux) or by looking, and its exit status is unknown."""

    def __init__(self, pid: int, identity: str | None) -> None:
        self._pid, self._identity = pid, identity
        self._code: int | None = None

    @property
    def pid(self) -> int:
        return self._pid

    @property
    def returncode(self) -> int | None:
        return self._code

    def alive(self) -> bool:
        state = process_state(self._pid)
        return state not in (None, "Z", "X") and (
            self._identity is None or process_start(self._pid) == self._identity
        )

    async def wait(self) -> int:
        if self._code is None:
            loop = asyncio.get_running_loop()
            readable = asyncio.Event()
            pidfd = _pidfd(self._pid)
            if pidfd is not None:
                loop.add_reader(pidfd, readable.set)  # readable once the process has ended
            try:
                while self.alive():  # a zombie (its parent has not reaped it) has ended too
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(readable.wait(), ADOPTED_POLL_S)
            finally:
                if pidfd is not None:
                    loop.remove_reader(pidfd)
                    os.close(pidfd)
            self._code = ADOPTED_EXIT_CODE
        return self._code


def _pidfd(pid: int) -> int | None:
    opener = getattr(os, "pidfd_open", None)
    if opener is None:
        return None
    try:
        fd: int = opener(pid)
    except OSError:
        return None
    return fd


async def run(
    argv: Sequence[str], cwd: Path, env: Mapping[str, str], log: Path
) -> asyncio.subprocess.Process:
    """Start a container's main process in its own session, stdout and stderr appended to
    `log`. Raises OSError when it cannot start (the kubelet's StartError)."""
    if not argv:
        raise OSError("no command specified: the image has no ENTRYPOINT or CMD")
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env=dict(env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )


def stop(pid: int, stop_signal: str) -> None:
    """The image's stop signal to a container's main process (gone already: nothing to do)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, parse_signal(stop_signal))


def kill_group(pid: int) -> None:
    """SIGKILL to the whole process group a container's main process leads."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
