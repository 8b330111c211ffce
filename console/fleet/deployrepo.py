"""The one reader of a deploy repo's history, for `gitops status` and the console: its head, its
commits (trailers and all) and a file at a revision.

A repository on disk (a work tree or a bare one, as `gitops up` serves) is read in place; a URL
is cloned once, bare and without file contents (fetched on demand when a file is read), into a
scratch directory and fetched again only when its remote head moved. Blocking: call from a
thread.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from console.fleet.history import Commit, log
from console.git import GitError, git, redact

T = TypeVar("T")


class DeployRepoError(RuntimeError):
    """The deploy repo could not be read: one line naming it and git's reason."""


def _is_repo(path: Path) -> bool:
    """A work tree's top or a bare repository (not a directory inside some repository, which
    git would read instead)."""
    return (path / ".git").exists() or ((path / "HEAD").is_file() and (path / "objects").is_dir())


def _reason(exc: GitError) -> str:
    lines = [line for line in exc.stderr.splitlines() if line.strip()]
    # git prints hints and warnings first; the fatal line says what failed.
    fatal = [line for line in lines if line.startswith(("fatal:", "error:"))]
    return (fatal or lines or [f"exit {exc.returncode}"])[-1].removeprefix("fatal: ")


class DeployRepo:
    def __init__(self, location: str, scratch: Path) -> None:
        self.location = location
        local = Path(location).expanduser()
        self._local = local if local.is_dir() else None
        self._clone = scratch / "deploy.git"
        self._fetched_head = ""

    @property
    def _git_dir(self) -> Path:
        return self._local if self._local is not None else self._clone

    def _reading(self, work: Callable[[], T]) -> T:
        """`work`, with git's and the OS's failures told as one DeployRepoError line."""
        try:
            if self._local is not None and not _is_repo(self._local):
                reason = "not a git repository"
                raise DeployRepoError(f"cannot read the deploy repo {self.location}: {reason}")
            return work()
        except GitError as exc:
            reason = _reason(exc)
        except OSError as exc:  # no git on PATH, an unreadable directory
            reason = exc.strerror or str(exc)
        raise DeployRepoError(f"cannot read the deploy repo {redact(self.location)}: {reason}")

    def head(self) -> str:
        """The sha the repo's default branch points at now ("" for an empty repo)."""

        def read() -> str:
            if self._local is not None:
                return git(["rev-parse", "HEAD"], self._local).strip()
            self._clone.parent.mkdir(parents=True, exist_ok=True)
            out = git(["ls-remote", "--", self.location, "HEAD"], self._clone.parent)
            return out.split()[0] if out.strip() else ""

        return self._reading(read)

    def commits(self, head: str = "") -> list[Commit]:
        """The commits reachable from `head` (default: the head now), newest first; a URL is
        fetched first when its head moved."""

        def read() -> list[Commit]:
            if self._local is None and (not head or head != self._fetched_head):
                self._fetch()
                self._fetched_head = head
            return log(self._git_dir, head or "HEAD")

        return self._reading(read)

    def show(self, revision: str, path: str) -> str:
        """The file `path` at `revision`. Raises DeployRepoError."""
        return self._reading(lambda: git(["show", f"{revision}:{path}"], self._git_dir))

    def _fetch(self) -> None:
        if not (self._clone / "HEAD").is_file():
            self._clone.parent.mkdir(parents=True, exist_ok=True)
            clone = ["clone", "--quiet", "--bare", "--filter=blob:none"]
            git([*clone, "--", self.location, str(self._clone)], self._clone.parent)
            return
        # A bare clone has no fetch refspec of its own: mirror the branches.
        git(["fetch", "--quiet", "origin", "+refs/heads/*:refs/heads/*"], self._clone)
