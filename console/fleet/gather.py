"""One read of a target for `gitops status`: the Applications, then their live versions and the
deploy repo's rollbacks side by side, assembled into status rows."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from console.fleet.history import Rollback, log, rollbacks
from console.fleet.probes import fetch_versions
from console.fleet.status import StatusRow, build_rows, group_rollbacks
from console.fleet.targets import Target, probe_urls
from console.git import GitError, git, redact


class DeployRepoError(RuntimeError):
    """The deploy repo could not be read; one line naming it and git's reason."""


def _git_reason(exc: GitError) -> str:
    lines = [line for line in exc.stderr.splitlines() if line.strip()]
    # git prints hints and warnings first; the fatal line says what failed.
    fatal = [line for line in lines if line.startswith(("fatal:", "error:"))]
    return (fatal or lines or [f"exit {exc.returncode}"])[-1].removeprefix("fatal: ")


def _is_repo(path: Path) -> bool:
    """A work tree's top or a bare repository (not just a directory inside some repository)."""
    return (path / ".git").exists() or ((path / "HEAD").is_file() and (path / "objects").is_dir())


def read_rollbacks(repo: str) -> list[Rollback]:
    """The rollback commits on the deploy repo's default branch. `repo` is a work tree or bare
    repository on disk (read in place) or a URL (cloned, commits only, into a temp dir)."""
    local = Path(repo).expanduser()
    if local.is_dir() and not _is_repo(local):
        # git would read whatever repository encloses it instead.
        raise DeployRepoError(f"cannot read the deploy repo {repo}: not a git repository")
    try:
        if local.is_dir():
            return rollbacks(log(local))
        with tempfile.TemporaryDirectory(prefix="gitops-status-") as tmp:
            clone = Path(tmp) / "deploy.git"
            # Trailers live in commit messages: no file contents needed.
            git(
                [
                    "clone",
                    "--quiet",
                    "--bare",
                    "--single-branch",
                    "--filter=blob:none",
                    "--",
                    repo,
                    str(clone),
                ],
                Path(tmp),
            )
            return rollbacks(log(clone))
    except GitError as exc:
        raise DeployRepoError(
            f"cannot read the deploy repo {redact(repo)}: {_git_reason(exc)}"
        ) from None
    except OSError as exc:  # no git on PATH, an unreadable directory
        reason = exc.strerror or str(exc)
        raise DeployRepoError(f"cannot read the deploy repo {redact(repo)}: {reason}") from None


async def gather_status(target: Target, *, probe_timeout: float = 2.0) -> list[StatusRow]:
    """Rows for every app `target` holds. Raises SourceError (the apps could not be read) and
    DeployRepoError; a service that does not answer its probe only reads as unknown."""
    source = target.open()
    try:
        apps = await source.list()
    finally:
        await source.aclose()
    urls = probe_urls(apps, target.services)
    if target.deploy_repo is None:
        versions = await fetch_versions(urls, timeout=probe_timeout)
        return build_rows(apps, versions, None)
    versions, found = await asyncio.gather(
        fetch_versions(urls, timeout=probe_timeout),
        asyncio.to_thread(read_rollbacks, target.deploy_repo),
    )
    return build_rows(apps, versions, group_rollbacks(found))
