"""The rollback as a commit: restore one app's source path in the deploy repo to its content at
the last known-good revision, with trailers that let Git alone tell the story, and push it with
fetch-rebase-retry (console.gitpush).

The writer keeps its own clone, and every attempt starts from the remote tip (fetch, hard reset,
clean), so a writer that died anywhere in a previous life leaves nothing behind that matters: an
unpushed commit is discarded, a pushed one is found by its trailers. That, and checking after
every fetch whether someone already rolled back the same (app, bad revision), makes `write`
idempotent across restarts and concurrent writers.
"""

from __future__ import annotations

import fcntl
import os
import random
import re
import shutil
import time
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from console.contract import ROLLBACK_APP, ROLLBACK_OF, ROLLBACK_REASON, ROLLBACK_TO
from console.fleet.history import Rollback, log, rollbacks
from console.git import GitError, Identity, git, redact
from console.gitpush import PushRejectedError, commit_and_push
from console.guard.facts import GitFacts

DEFAULT_AUTHOR = ("gitops-guard", "gitops-guard@users.noreply.local")
CLONE_DIR, LOCK_FILE, TMP_PREFIX = "deploy", "deploy.lock", ".deploy.tmp-"
MAX_REASON = 500  # characters of Rollback-Reason; the rest is cut (it is a summary, not a log)

_SHA = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")  # SHA-1 or SHA-256 object names
# An Argo CD Application name (a DNS subdomain) fits here; so does nothing that could break the
# header's scope or a trailer.
_APP = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,251}[A-Za-z0-9])?$")
# What a remote that refused the push (a hook, branch protection) says, as opposed to a remote
# that could not be reached or refused the connection.
_REFUSED_MARKERS = ("[remote rejected]", "hook declined")
# git's generic advice after a failed connection: true, and no help in a one-line message.
_NOISE = ("please make sure you have the correct access rights", "and the repository exists")
_REMOTE_COMMANDS = frozenset({"clone", "fetch", "push", "ls-remote"})
# Our own pathspecs are paths, never patterns or magic (`:(top)`, `*`).
_LITERAL = {"GIT_LITERAL_PATHSPECS": "1"}


class RollbackError(RuntimeError):
    """A rollback could not be written; the message is one redacted line."""


class RemoteUnreachableError(RollbackError):
    """The deploy repo could not be reached, or refused the connection (network, DNS,
    authentication, a missing repository). Transient as far as the writer can tell: retry with
    backoff."""


class RollbackRequestError(RollbackError, ValueError):
    """The request cannot be carried out as given (a malformed sha or path, a known-good revision
    the remote does not have, a path that did not exist at it). Retrying will not help."""


@dataclass(frozen=True)
class RollbackRequest:
    app: str
    path: str  # the app's source path in the deploy repo, e.g. overlays/dev/backend
    bad: str  # full sha of the revision being rolled back
    good: str  # full sha of the last known-good revision
    reason: str
    operator: str = ""  # who asked, when a person did (the console); "" for the guard


@dataclass(frozen=True)
class RollbackOutcome:
    sha: str | None  # the pushed rollback commit
    already: str | None  # a rollback of the same (app, bad) found on the remote: nothing written
    attempts: int
    unchanged: bool  # the path already had the good content at the tip: nothing written


def sanitize_reason(reason: str) -> str:
    """`reason` as one trailer-safe line: control characters and line breaks become spaces,
    runs of whitespace one space, at most MAX_REASON characters."""
    cleaned = "".join(
        " " if unicodedata.category(ch) in {"Cc", "Zl", "Zp"} else ch for ch in reason
    )
    line = " ".join(cleaned.split())
    if len(line) > MAX_REASON:
        line = line[: MAX_REASON - 1].rstrip() + "…"
    return line or "unspecified"


def normalize_path(path: str) -> str:
    """The app's source path relative to the repository root, or RollbackRequestError when it
    is empty, the root itself, absolute or escapes the repository."""
    pure = PurePosixPath(path.strip())
    parts = [p for p in pure.parts if p not in {"", "."}]
    control = any(unicodedata.category(ch) == "Cc" for ch in path)
    if control or pure.is_absolute() or not parts or ".." in parts:
        raise RollbackRequestError(
            f"{path!r} is not an app source path: expected a directory relative to the deploy "
            "repo's root, such as overlays/dev/backend"
        )
    return "/".join(parts)


def validate(req: RollbackRequest) -> RollbackRequest:
    """`req` with its path normalized, or RollbackRequestError saying what is wrong with it."""
    if not _APP.match(req.app):
        raise RollbackRequestError(f"{req.app!r} is not an application name")
    for name, sha in (("bad", req.bad), ("good", req.good)):
        if not _SHA.match(sha):
            raise RollbackRequestError(f"{name} revision {sha!r} is not a full commit sha")
    if req.bad == req.good:
        raise RollbackRequestError(f"bad and good are the same revision {req.good[:7]}")
    return RollbackRequest(
        req.app, normalize_path(req.path), req.bad, req.good, req.reason, req.operator
    )


def message(req: RollbackRequest) -> str:
    """The rollback commit's message: a Conventional Commit header (the deploy repo's gate
    requires one), a one-paragraph body, and the trailers the guard, `gitops promote` and the
    console read back."""
    bad7, good7 = req.bad[:7], req.good[:7]
    if req.operator:
        body = (
            f"Restore {req.path} to its content at {good7}, replacing {bad7} in {req.app}, as "
            f"{sanitize_reason(req.operator)} asked from the console; only this path changes."
        )
    else:
        body = (
            f"Restore {req.path} to its content at {good7}, the last known-good revision of "
            f"{req.app}, because {req.app} failed on {bad7}. Written by the rollback controller "
            "(gitops guard); only this path changes."
        )
    trailers = [
        f"{ROLLBACK_OF}: {req.bad}",
        f"{ROLLBACK_TO}: {req.good}",
        f"{ROLLBACK_APP}: {req.app}",
        f"{ROLLBACK_REASON}: {sanitize_reason(req.reason)}",
    ]
    return f"revert({req.app}): roll back {bad7} to {good7}\n\n{body}\n\n" + "\n".join(trailers)


def _one_line(stderr: str) -> str:
    lines = [" ".join(ln.split()) for ln in stderr.splitlines()]
    kept = [ln for ln in lines if ln and not ln.lower().startswith(_NOISE)]
    return redact("; ".join(kept)) or "no message from git"


class _Restore:
    """The rollback as a change commit_and_push can re-apply on every fresh tip; it remembers
    what it found on the last attempt."""

    def __init__(self, req: RollbackRequest) -> None:
        self.req = req
        self.already: str | None = None
        self.unchanged = False

    def __call__(self, work: Path) -> str | None:
        req = self.req
        self.already, self.unchanged = None, False
        # commit_and_push has just reset to the remote tip; a writer killed mid-change may have
        # left untracked files, which `git add --all` would otherwise commit.
        git(["clean", "--quiet", "-ffdx"], work)
        done = find_rollback(work, "HEAD", req.app, req.bad)
        if done is not None:
            self.already = done.sha
            return None
        found = git(
            ["rev-parse", "--verify", "--quiet", f"{req.good}^{{commit}}"], work, check=False
        )
        if found.strip() != req.good:
            raise RollbackRequestError(
                f"the known-good revision {req.good[:7]} is not in the deploy repo's history"
            )
        kind = git(["cat-file", "-t", f"{req.good}:{req.path}"], work, check=False).strip()
        if kind != "tree":
            # Restoring a path that did not exist at good would delete the app, not roll it back.
            raise RollbackRequestError(
                f"{req.path} is not a directory at the known-good revision {req.good[:7]}"
            )
        restore_path(work, req.path, req.good)
        staged = git(["diff", "--cached", "--name-only", "HEAD", "--"], work).strip()
        if not staged:
            self.unchanged = True
            return None
        return message(req)


def restore_path(work: Path, path: str, revision: str) -> None:
    """Stage `path` of the work tree at `work` as it was at `revision`: removed, then written
    back, so files added since disappear, files removed since return, and nothing outside the
    path is touched."""
    git(["rm", "-r", "--quiet", "--ignore-unmatch", "--", path], work, env=_LITERAL)
    git(["checkout", revision, "--", path], work, env=_LITERAL)


def find_rollback(repo: Path, rev: str, app: str, bad: str) -> Rollback | None:
    """The newest rollback commit reachable from `rev` that rolled `app` back from `bad`."""
    for rb in rollbacks(log(repo, rev)):
        if rb.app == app and rb.of.lower() == bad.lower():
            return rb
    return None


class RollbackWriter:
    """Writes rollback commits to the deploy repo at `remote`, from a clone of its own under
    `workdir` (made on first use, reused after). One writer at a time per workdir: a file lock
    serialises writers, across processes too, and dies with its holder."""

    def __init__(
        self,
        remote: str,
        workdir: Path,
        *,
        env: dict[str, str] | None = None,
        attempts: int = 5,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
        author: tuple[str, str] = DEFAULT_AUTHOR,
        branch: str = "main",
    ) -> None:
        self.remote = remote
        self.workdir = workdir
        self.attempts = attempts
        self.branch = branch
        self._sleep = sleep
        self._rng = rng
        name, email = author
        # The author wins over whatever identity the environment carries: the history must say
        # the guard wrote it.
        self._env = {**(env or {}), **Identity(name, email).env()}
        self._ready = False
        self._fetched = False
        self._cache: tuple[str, list[Rollback]] | None = None

    @property
    def clone(self) -> Path:
        return self.workdir / CLONE_DIR

    @property
    def _tracking(self) -> str:
        return f"refs/remotes/origin/{self.branch}"

    def fetch(self) -> None:
        """Bring the clone's view of the remote branch up to date."""
        with self._locked():
            self._fetch()

    def facts(self, app: str, *, refresh: bool = True) -> GitFacts:
        """What the remote branch's history says about `app`'s rollbacks. `refresh` fetches
        first; without it, the last fetch is read (a new writer always fetches once)."""
        with self._locked():
            if refresh or not self._fetched:
                self._fetch()
            tip = git(["rev-parse", self._tracking], self.clone).strip()
            if self._cache is None or self._cache[0] != tip:
                self._cache = (tip, rollbacks(log(self.clone, tip)))
            mine = [rb for rb in self._cache[1] if rb.app == app]
        return GitFacts(
            rolled_back=frozenset(rb.of for rb in mine),
            rollback_commits=frozenset(rb.sha for rb in mine),
            records=tuple(mine),
        )

    def contains(self, revision: str, commit: str) -> bool:
        """True when `commit` is `revision` or one of its ancestors on the remote (a revision
        the clone does not know yet is fetched for first); False for a revision the remote's
        branch does not have."""
        if not (_SHA.match(revision) and _SHA.match(commit)):
            return False
        with self._locked():
            if not self._fetched or not self._known(revision):
                self._fetch()
            if not (self._known(revision) and self._known(commit)):
                return False
            return self._succeeds(["merge-base", "--is-ancestor", commit, revision])

    def _known(self, sha: str) -> bool:
        return self._succeeds(["cat-file", "-e", f"{sha}^{{commit}}"])

    def _succeeds(self, args: list[str]) -> bool:
        try:
            git(args, self.clone)
        except GitError:
            return False
        return True

    def write(self, req: RollbackRequest) -> RollbackOutcome:
        """Commit and push the rollback `req` describes, unless the remote already has one for
        (app, bad) or the path already has the good content.

        Raises RollbackRequestError (do not retry), RemoteUnreachableError (retry with backoff),
        PushRejectedError (the remote's checks refused the commit; its message carries the
        hook's reasons) or RetriesExhaustedError (lost the race to other writers every time).
        """
        req = validate(req)
        change = _Restore(req)
        with self._locked():
            self._prepare()
            try:
                result = commit_and_push(
                    self.clone,
                    change,
                    branch=self.branch,
                    attempts=self.attempts,
                    sleep=self._sleep,
                    rng=self._rng,
                    env=self._env,
                )
            except PushRejectedError as exc:
                if any(marker in exc.stderr for marker in _REFUSED_MARKERS):
                    raise
                raise self._unreachable(exc) from None
            except GitError as exc:
                if exc.args_[:1] and exc.args_[0] in _REMOTE_COMMANDS:
                    raise self._unreachable(exc) from None
                raise
            self._fetched = True
        return RollbackOutcome(
            sha=result.sha,
            already=change.already,
            attempts=result.attempts,
            unchanged=change.unchanged,
        )

    # --- the clone -------------------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.workdir / LOCK_FILE, "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # released by the kernel if the holder dies
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _unreachable(self, exc: GitError) -> RemoteUnreachableError:
        return RemoteUnreachableError(
            f"deploy repo {redact(self.remote)} is unreachable: {_one_line(exc.stderr)}"
        )

    def _git_remote(self, args: list[str], cwd: Path) -> None:
        try:
            git(args, cwd, env=self._env)
        except GitError as exc:
            raise self._unreachable(exc) from None

    def _fetch(self) -> None:
        self._prepare()
        self._git_remote(["fetch", "--quiet", "origin", self.branch], self.clone)
        self._fetched = True

    def _prepare(self) -> None:
        """Make sure the clone exists and is usable; called with the lock held."""
        if self._ready:
            return
        # Temporary clones of writers that died while cloning.
        for stale in self.workdir.glob(f"{TMP_PREFIX}*"):
            shutil.rmtree(stale, ignore_errors=True)
        if not self._usable():
            shutil.rmtree(self.clone, ignore_errors=True)
            tmp = self.workdir / f"{TMP_PREFIX}{os.getpid()}"
            self._git_remote(
                [
                    "clone",
                    "--quiet",
                    "--single-branch",
                    "--branch",
                    self.branch,
                    "--",
                    self.remote,
                    str(tmp),
                ],
                self.workdir,
            )
            # A clone appears whole or not at all.
            os.replace(tmp, self.clone)
        else:
            # Lock files of a git process killed mid-way: with our lock held, nobody else's.
            git_dir = self.clone / ".git"
            for lock in [*git_dir.glob("*.lock"), *(git_dir / "refs").rglob("*.lock")]:
                lock.unlink(missing_ok=True)
            git(["remote", "set-url", "origin", self.remote], self.clone)
        name, email = self._env["GIT_AUTHOR_NAME"], self._env["GIT_AUTHOR_EMAIL"]
        for key, value in (
            ("user.name", name),
            ("user.email", email),
            # A signing setup in the user's global config must not stop an unattended writer.
            ("commit.gpgsign", "false"),
        ):
            git(["config", key, value], self.clone)
        self._ready = True

    def _usable(self) -> bool:
        if not (self.clone / ".git").is_dir():
            return False
        top = git(["rev-parse", "--show-toplevel"], self.clone, check=False).strip()
        return bool(top) and Path(top).resolve() == self.clone.resolve()
