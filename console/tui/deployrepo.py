"""Reading a deploy repo for the console: its head (cheap, polled), its history (re-read when
the head moves) and the image tag an overlay pins at a revision (read once: a commit's content
never changes).

A repository on disk (a work tree or a bare one, as `gitops up` serves) is read in place; a URL
is cloned once, bare and without file contents (fetched on demand when a pin is read), into a
scratch directory and fetched when its remote head moves. Blocking: call from a thread.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath

from console.fleet.history import log
from console.git import GitError, git, redact
from console.promote.overlay import OverlayError, read_tag
from console.tui.store import RepoFacts

KUSTOMIZATION = "kustomization.yaml"


class RepoError(RuntimeError):
    """The deploy repo could not be read: one line naming it and git's reason."""


def _is_repo(path: Path) -> bool:
    """A work tree's top or a bare repository (not a directory inside some repository)."""
    return (path / ".git").exists() or ((path / "HEAD").is_file() and (path / "objects").is_dir())


def _reason(exc: GitError) -> str:
    lines = [line for line in exc.stderr.splitlines() if line.strip()]
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

    def head(self) -> str:
        """The sha the repo's default branch points at now."""
        try:
            if self._local is not None:
                if not _is_repo(self._local):
                    raise RepoError(f"{self.location}: not a git repository")
                return git(["rev-parse", "HEAD"], self._local).strip()
            self._clone.parent.mkdir(parents=True, exist_ok=True)
            out = git(["ls-remote", "--", self.location, "HEAD"], self._clone.parent)
        except GitError as exc:
            raise RepoError(
                f"cannot read the deploy repo {redact(self.location)}: {_reason(exc)}"
            ) from None
        except OSError as exc:  # no git on PATH, an unreadable directory
            raise RepoError(
                f"cannot read the deploy repo {redact(self.location)}: {exc.strerror or exc}"
            ) from None
        return out.split()[0] if out.strip() else ""

    def read(self, head: str) -> RepoFacts:
        """The commits reachable from `head`, newest first (a URL is fetched first)."""
        try:
            if self._local is None and head != self._fetched_head:
                self._fetch()
                self._fetched_head = head
            return RepoFacts.of(head, log(self._git_dir, head or "HEAD"))
        except GitError as exc:
            raise RepoError(
                f"cannot read the deploy repo {redact(self.location)}: {_reason(exc)}"
            ) from None
        except OSError as exc:
            raise RepoError(
                f"cannot read the deploy repo {redact(self.location)}: {exc.strerror or exc}"
            ) from None

    def pins(self, wanted: Iterable[tuple[str, str, str]]) -> Mapping[tuple[str, str], str | None]:
        """(revision, path) -> the tag `path/kustomization.yaml` pins for the service at that
        revision; None when it pins none or cannot be read (not an overlay, no such revision)."""
        out: dict[tuple[str, str], str | None] = {}
        for rev, path, service in wanted:
            file = str(PurePosixPath(path) / KUSTOMIZATION)
            try:
                text = git(["show", f"{rev}:{file}"], self._git_dir)
                out[(rev, path)] = read_tag(text, service, file)
            except (GitError, OverlayError, OSError):
                out[(rev, path)] = None
        return out

    def _fetch(self) -> None:
        if not (self._clone / "HEAD").is_file():
            self._clone.parent.mkdir(parents=True, exist_ok=True)
            git(
                [
                    "clone",
                    "--quiet",
                    "--bare",
                    "--filter=blob:none",
                    "--",
                    self.location,
                    str(self._clone),
                ],
                self._clone.parent,
            )
            return
        # A bare clone has no fetch refspec of its own: mirror the branches.
        git(["fetch", "--quiet", "origin", "+refs/heads/*:refs/heads/*"], self._clone)
