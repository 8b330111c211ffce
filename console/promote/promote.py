"""Promotion as a commit: decide (pure over the repo's files and history), then write and push."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from console.contract import PROMOTED_FROM, PROMOTED_SERVICE, PROMOTED_TAG, SOURCE_COMMIT
from console.fleet.history import Rollback, log, rollbacks
from console.git import GitError, commit_all, git, redact, token_auth_env
from console.gitpush import PushResult, commit_and_push
from console.promote.overlay import (
    OverlayError,
    app_name,
    list_overlays,
    overlay_path,
    read_tag,
    set_tag,
)

TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
FULL_SHA = re.compile(r"^[0-9a-f]{40}$")
TOKEN_ENV = "GITOPS_GIT_TOKEN"  # noqa: S105 - the name of the variable, not a secret


class PromoteError(Exception):
    """The promotion cannot be done as asked; the message says why (exit 2)."""


@dataclass(frozen=True)
class PromoteRequest:
    service: str
    env: str
    tag: str | None = None
    from_env: str | None = None
    source_commit: str | None = None
    force: bool = False


@dataclass(frozen=True)
class Outcome:
    service: str
    env: str
    tag: str
    previous: str
    sha: str | None  # the promotion commit; None when it was already there
    pushed: bool
    attempts: int


def bad_tags(repo: Path, service: str) -> dict[str, Rollback]:
    """Tags of `service` that a rollback commit marked bad: the tag its overlay pinned at the
    commit named by `Rollback-Of`, for the app named by `Rollback-App`."""
    overlays = list_overlays(repo)
    envs_of_app = {
        app_name(service, env): env for env, services in overlays.items() if service in services
    }
    out: dict[str, Rollback] = {}
    for rb in rollbacks(log(repo)):
        env = envs_of_app.get(rb.app)
        if env is None:
            continue
        try:
            text = git(["show", f"{rb.of}:{overlay_path(env, service)}"], repo)
            out.setdefault(read_tag(text, service), rb)
        except (GitError, OverlayError):
            continue  # the bad revision predates this overlay: nothing to mark
    return out


def _short(tag: str) -> str:
    return tag[:7] if FULL_SHA.match(tag) else tag


def _trailers(req: PromoteRequest, tag: str) -> list[str]:
    trailers = [f"{PROMOTED_SERVICE}: {req.service}", f"{PROMOTED_TAG}: {tag}"]
    if req.from_env:
        trailers.append(f"{PROMOTED_FROM}: {req.from_env}")
    source = req.source_commit or (tag if FULL_SHA.match(tag) else None)
    if source:
        trailers.append(f"{SOURCE_COMMIT}: {source}")
    return trailers


def _message(req: PromoteRequest, tag: str) -> str:
    return _combined_message([(req, tag)])


def _combined_message(changes: Sequence[tuple[PromoteRequest, str]]) -> str:
    """One commit message for promotions into one environment: the subject names every service
    (`promote backend, frontend 1a2b3c4 to dev`, or each with its tag when they differ), and each
    service has its own group of trailers, in order, starting with Promoted-Service."""
    env = changes[0][0].env
    tags = {tag for _, tag in changes}
    if len(tags) == 1:
        what = f"{', '.join(req.service for req, _ in changes)} {_short(next(iter(tags)))}"
    else:
        what = ", ".join(f"{req.service} {_short(tag)}" for req, tag in changes)
    trailers = [line for req, tag in changes for line in _trailers(req, tag)]
    return f"chore(deploy): promote {what} to {env}\n\n" + "\n".join(trailers)


def plan(repo: Path, req: PromoteRequest) -> tuple[str, str, str | None]:
    """(tag, previous tag, commit message or None when already there) for `req` in `repo`."""
    overlays = list_overlays(repo)
    if req.env not in overlays:
        known = ", ".join(overlays) or "none"
        raise PromoteError(f"unknown environment {req.env!r} (overlays: {known})")
    if req.service not in overlays[req.env]:
        known = ", ".join(overlays[req.env])
        raise PromoteError(f"unknown service {req.service!r} in {req.env} (services: {known})")
    target = repo / overlay_path(req.env, req.service)
    tag = req.tag
    if req.from_env is not None:
        if req.from_env not in overlays or req.service not in overlays[req.from_env]:
            raise PromoteError(f"{req.service} has no overlay in {req.from_env!r} (--from-env)")
        source = repo / overlay_path(req.from_env, req.service)
        tag = read_tag(source.read_text(encoding="utf-8"), req.service, str(source))
    if tag is None or not TAG.match(tag):
        raise PromoteError(f"{tag!r} is not a valid image tag")
    previous = read_tag(target.read_text(encoding="utf-8"), req.service, str(target))
    if previous == tag:
        return tag, previous, None
    marked = bad_tags(repo, req.service).get(tag)
    if marked is not None and not req.force:
        raise PromoteError(
            f"{req.service}:{tag} was rolled back by {marked.sha[:7]} "
            f"({marked.app}: {marked.reason or 'no reason recorded'}); "
            "pass --force to promote it anyway"
        )
    return tag, previous, _message(req, tag)


def pin_tag(repo: Path, env: str, service: str, tag: str) -> None:
    """Write `tag` as `service`'s newTag in its `env` overlay of the work tree at `repo`."""
    target = repo / overlay_path(env, service)
    text = target.read_text(encoding="utf-8")
    target.write_text(set_tag(text, service, tag, str(target)), encoding="utf-8")


class _Change:
    """The promotions as one re-appliable change; remembers what it decided last time."""

    def __init__(self, reqs: Sequence[PromoteRequest]) -> None:
        self.reqs = list(reqs)
        self.tags = [""] * len(self.reqs)
        self.previous = [""] * len(self.reqs)
        self.changed = [False] * len(self.reqs)

    def __call__(self, repo: Path) -> str | None:
        # Every request is planned before any file is written: one bad request changes nothing.
        plans = [plan(repo, req) for req in self.reqs]
        changes: list[tuple[PromoteRequest, str]] = []
        for i, (req, (tag, previous, message)) in enumerate(zip(self.reqs, plans, strict=True)):
            self.tags[i], self.previous[i], self.changed[i] = tag, previous, message is not None
            if message is not None:
                pin_tag(repo, req.env, req.service, tag)
                changes.append((req, tag))
        return _combined_message(changes) if changes else None

    def outcomes(self, sha: str | None, pushed: bool, attempts: int) -> list[Outcome]:
        return [
            Outcome(
                req.service,
                req.env,
                self.tags[i],
                self.previous[i],
                sha if self.changed[i] else None,
                pushed and self.changed[i],
                attempts,
            )
            for i, req in enumerate(self.reqs)
        ]


def _check_batch(reqs: Sequence[PromoteRequest]) -> None:
    if not reqs:
        raise PromoteError("nothing to promote: name at least one service")
    envs = {req.env for req in reqs}
    if len(envs) > 1:
        raise PromoteError(f"one commit promotes into one environment, not {sorted(envs)}")
    seen: set[str] = set()
    for req in reqs:
        if req.service in seen:
            raise PromoteError(f"service {req.service!r} is named more than once")
        seen.add(req.service)


def _work_tree(path: Path) -> bool:
    out = git(["rev-parse", "--is-inside-work-tree"], path, check=False).strip()
    return out == "true"


def promote(
    deploy_repo: str,
    req: PromoteRequest,
    *,
    push: bool,
    attempts: int = 5,
    sleep: Callable[[float], None] | None = None,
) -> Outcome:
    """Promote in a local clone (commit only), or on the remote with `push` (from a fresh clone,
    so the user's work tree is never reset)."""
    return promote_all(deploy_repo, [req], push=push, attempts=attempts, sleep=sleep)[0]


def promote_all(
    deploy_repo: str,
    reqs: Sequence[PromoteRequest],
    *,
    push: bool,
    attempts: int = 5,
    sleep: Callable[[float], None] | None = None,
) -> list[Outcome]:
    """`promote` for several services of one environment in one commit (one push, one check by
    the remote): all or nothing. One outcome per request, in order; a service already at its tag
    has no commit (`sha` None) and is left out of the commit message."""
    _check_batch(reqs)
    local = Path(deploy_repo).expanduser()
    is_tree = local.is_dir() and _work_tree(local)
    if not push:
        if not is_tree:
            raise PromoteError(
                f"{redact(deploy_repo)} is not a local work tree; add --push to promote on it"
            )
        if git(["status", "--porcelain"], local).strip():
            raise PromoteError(f"{local}: the work tree has uncommitted changes")
        change = _Change(reqs)
        message = change(local)
        sha = None
        if message is not None:
            sha = commit_all(local, message)
        return change.outcomes(sha, False, 1)

    url = deploy_repo
    if is_tree:
        url = git(["remote", "get-url", "origin"], local, check=False).strip()
        if not url:
            raise PromoteError(f"{local}: no `origin` remote to push to")
    elif local.is_dir():
        url = str(local.resolve())
    token = os.environ.get(TOKEN_ENV)
    env = token_auth_env(token) if token else None
    tmp = Path(tempfile.mkdtemp(prefix="gitops-promote-"))
    try:
        try:
            git(["clone", "--quiet", url, str(tmp / "repo")], tmp, env=env)
        except GitError as exc:
            raise PromoteError(f"cannot clone {redact(url)}: {exc.stderr}") from None
        change = _Change(reqs)
        result: PushResult = commit_and_push(
            tmp / "repo", change, attempts=attempts, env=env, sleep=sleep or time.sleep
        )
        return change.outcomes(result.sha, result.sha is not None, result.attempts)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
