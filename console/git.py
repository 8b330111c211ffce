"""The one small wrapper through which the platform runs `git`: argument lists, never shell
strings."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Identity:
    """Who a commit says wrote it."""

    name: str
    email: str

    def env(self) -> dict[str, str]:
        """As git's author and committer variables (they win over any configured identity)."""
        return {
            "GIT_AUTHOR_NAME": self.name,
            "GIT_AUTHOR_EMAIL": self.email,
            "GIT_COMMITTER_NAME": self.name,
            "GIT_COMMITTER_EMAIL": self.email,
        }


# Used only when no identity is configured, so a first commit never fails on a fresh machine.
FALLBACK_IDENTITY = Identity("gitops-platform", "gitops-platform@localhost")


class GitError(RuntimeError):
    """A git command failed; the message carries the command and git's own words."""

    def __init__(self, args: Sequence[str], cwd: Path, returncode: int, stderr: str) -> None:
        self.args_ = list(args)
        self.cwd = cwd
        self.returncode = returncode
        self.stderr = redact(stderr.strip())
        shown = " ".join(redact(a) for a in args)
        super().__init__(f"git {shown} (in {cwd}) failed: {self.stderr or returncode}")


_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")


def redact(text: str) -> str:
    """Hide credentials embedded in URLs (`https://user:token@host`) before anything prints them."""
    return _CREDENTIALS.sub("***@", text)


def token_auth_env(token: str) -> dict[str, str]:
    """Git configuration, passed through the environment (never argv, never a file), that sends
    `token` as HTTP basic auth the way GitHub accepts an installation or personal token."""
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    return {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "http.extraHeader",
        "GIT_CONFIG_VALUE_0": f"Authorization: basic {basic}",
    }


def git(
    args: Sequence[str], cwd: Path, *, env: dict[str, str] | None = None, check: bool = True
) -> str:
    """Run `git <args>` in `cwd` and return stdout."""
    full_env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", **(env or {})}
    proc = subprocess.run(
        ["git", *args], cwd=cwd, env=full_env, capture_output=True, text=True, check=False
    )
    if check and proc.returncode != 0:
        raise GitError(args, cwd, proc.returncode, proc.stderr)
    return proc.stdout


def identity_env(cwd: Path) -> dict[str, str]:
    """Author/committer variables for a commit: the user's identity if set, else a fallback."""
    configured = git(["config", "user.email"], cwd, check=False).strip()
    return {} if configured else FALLBACK_IDENTITY.env()


def commit_all(
    path: Path, message: str, *, env: dict[str, str] | None = None, force: bool = False
) -> str:
    """Stage everything in the work tree `path` and commit it; the new commit's sha. The one
    way the platform writes a commit: no hooks, no signing (an unattended writer must not stop
    on a user's signing setup), the user's identity else the fallback unless `env` names one.
    `force` stages ignored files too (a global gitignore must not drop what an image holds)."""
    git(["add", "--all", *(["--force"] if force else [])], path)
    commit = ["-c", "commit.gpgsign=false", "commit", "--quiet", "--no-verify"]
    given = env or {}
    # Asking git for the configured identity costs a process: only when `env` names none.
    ident = given if "GIT_AUTHOR_EMAIL" in given else identity_env(path) | given
    git([*commit, "--message", message], path, env=ident)
    return git(["rev-parse", "HEAD"], path).strip()


def init_with_commit(path: Path, message: str, branch: str = "main") -> str:
    """Make `path` a git repository whose one commit holds every file in it; return the sha."""
    git(["init", "--quiet", "--initial-branch", branch], path)
    return commit_all(path, message)


def is_repo_root(path: Path) -> bool:
    """True when `path` is the top of a git work tree."""
    out = git(["rev-parse", "--show-toplevel"], path, check=False).strip()
    return bool(out) and Path(out).resolve() == path.resolve()


def checkout_tree(git_dir: Path, rev: str, dest: Path) -> None:
    """Write the tree of `rev` into `dest` (which must exist) through a temporary index, so a bare
    repository (or one whose objects are still in a pre-receive quarantine) is never touched.
    Unlike `git archive`, this ignores `export-ignore`, so nothing can hide files from a reader."""
    with tempfile.TemporaryDirectory(prefix="gitops-index-") as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        git(["read-tree", rev], git_dir, env=env)
        git(["--work-tree", str(dest), "checkout-index", "--all"], git_dir, env=env)
