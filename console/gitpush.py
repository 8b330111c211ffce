"""Commit a change and push it to a shared branch that others push to as well.

A rejected push means someone else got there first: fetch, rebase the change onto the new tip by
re-applying it there, and retry after a short jittered backoff. Re-applying (instead of replaying
an old diff) lets the change decide again on fresh state: a promotion that is now a no-op, or a
rollback someone else already wrote, commits nothing.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from console.backoff import backoff_delay
from console.git import GitError, commit_all, git

# Returns the commit message for what it changed in the work tree, or None when nothing is to do.
Change = Callable[[Path], "str | None"]

_RACE_MARKERS = ("[rejected]", "fetch first", "non-fast-forward", "cannot lock ref")


@dataclass(frozen=True)
class PushResult:
    sha: str | None  # the pushed commit; None when the change had nothing to do
    attempts: int


class PushRejectedError(GitError):
    """The remote refused the push for a reason other than a race (a hook, protection)."""


class RetriesExhaustedError(RuntimeError):
    pass


def commit_and_push(
    work: Path,
    change: Change,
    *,
    remote: str = "origin",
    branch: str = "main",
    attempts: int = 5,
    sleep: Callable[[float], None] = time.sleep,
    rng: Callable[[], float] = random.random,
    env: dict[str, str] | None = None,
) -> PushResult:
    """Apply `change` on the tip of `remote/branch` in the clone `work`, commit and push it."""
    for attempt in range(1, attempts + 1):
        git(["fetch", "--quiet", remote, branch], work, env=env)
        git(["reset", "--quiet", "--hard", f"{remote}/{branch}"], work)
        message = change(work)
        if message is None:
            return PushResult(None, attempt)
        sha = commit_all(work, message, env=env)
        try:
            git(["push", "--quiet", remote, f"HEAD:refs/heads/{branch}"], work, env=env)
        except GitError as exc:
            if not any(marker in exc.stderr for marker in _RACE_MARKERS):
                raise PushRejectedError(exc.args_, exc.cwd, exc.returncode, exc.stderr) from None
            if attempt < attempts:
                sleep(backoff_delay(attempt, rng))
            continue
        return PushResult(sha, attempt)
    raise RetriesExhaustedError(
        f"push to {remote}/{branch} lost the race {attempts} times; try again later"
    )
