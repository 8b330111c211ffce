"""The console's three actions, GitOps only: sync (Argo CD's sync API), rollback (a commit by the
guard's writer, console.guard.rollback) and promote (`gitops promote --from-env`).

Each is drafted first: a Draft says exactly what will be written (shown in the confirm modal)
and how to run it; or NotAllowed says why the key does nothing here. Running blocks only worker
threads or the network, never the UI: the app runs `Draft.run` in a worker.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from console.fleet.argocd import LIST_PATH, sync_body
from console.fleet.display import short
from console.fleet.model import App
from console.fleet.source import AppSource, split_key
from console.git import GitError, git, redact
from console.guard.rollback import (
    RollbackRequest,
    RollbackWriter,
    message,
    restore_path,
    sanitize_reason,
)
from console.promote.overlay import overlay_path
from console.promote.promote import PromoteRequest, pin_tag, plan, promote
from console.tui.appdetail import HistoryLine
from console.tui.diffs import DiffJob, previewed
from console.tui.fleetview import AppFacts, env_rank
from console.tui.targets import ConsoleTarget

Kind = Literal["sync", "rollback", "promote"]
DEFAULT_REASON = "rolled back from the console"


class NotAllowed(Exception):
    """The action cannot be taken here; the message says why (shown instead of acting)."""


@runtime_checkable
class Syncing(Protocol):
    """A source that can start a sync (console.fleet.argocd.ArgoCDSource)."""

    url: str

    async def sync(self, name: str, *, prune: bool = False) -> App: ...


@dataclass(frozen=True)
class Operator:
    name: str
    email: str


def operator(env: dict[str, str] | None = None) -> Operator:
    """Who acts: git's user.name and user.email, else the login name."""
    environ = os.environ if env is None else env

    def config(key: str) -> str:
        try:
            return git(["config", "--get", key], Path.home(), check=False).strip()
        except OSError:
            return ""

    login = environ.get("USER") or environ.get("LOGNAME") or _login()
    name = config("user.name") or login or "unknown"
    email = config("user.email") or f"{login or 'operator'}@users.noreply.local"
    return Operator(name, email)


def _login() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return ""


@dataclass(frozen=True)
class Draft:
    kind: Kind
    title: str  # "Sync backend-dev"
    facts: AppFacts
    describe: Callable[[str], str]  # the operator's reason -> exactly what will be written
    run: Callable[[str], Awaitable[str]]  # the operator's reason -> a one-line outcome
    # The reason written when the operator gives none; None when the action takes no reason.
    reason_default: str | None = None
    # What the draft changes in the rendered manifests (the confirm's `d`); None: nothing to show.
    preview: DiffJob | None = None


def _fresh(facts: AppFacts, verb: str) -> None:
    if facts.stale_since is not None:
        raise NotAllowed(
            f"{facts.target} is down: {facts.app.name}'s data is stale; {verb} when it answers"
        )


# --- sync --------------------------------------------------------------------------------------


def draft_sync(
    facts: AppFacts, target: ConsoleTarget, source: AppSource | None, read_only: str | None
) -> Draft:
    app = facts.app
    why = target.why_no_sync
    if why is not None:
        raise NotAllowed(why)
    if read_only is not None:
        raise NotAllowed(read_only)
    if not isinstance(source, Syncing):
        raise NotAllowed(f"{target.name} is not connected yet")
    _fresh(facts, "sync")
    if app.operation is not None and app.operation.phase.running:
        raise NotAllowed(f"{app.name} is syncing already (operation {app.operation.phase.value})")
    namespace, bare = split_key(app.key, "")
    body = json.dumps(sync_body(namespace))
    to = app.source.target_revision if app.source is not None else ""
    text = (
        f"POST {source.url}{LIST_PATH}/{bare}/sync\n{body}\n\n"
        f"Argo CD syncs {app.name} to its target revision"
        + (f" ({to})" if to else "")
        + ". Nothing is written to Git."
    )

    async def run(_: str) -> str:
        await source.sync(app.key)
        return f"sync of {app.name} requested: Argo CD runs it now"

    return Draft("sync", f"Sync {app.name}", facts, lambda _: text, run)


# --- rollback ----------------------------------------------------------------------------------


def draft_rollback(
    facts: AppFacts,
    line: HistoryLine,
    target: ConsoleTarget,
    who: Operator,
    workdir: Path,
) -> Draft:
    app = facts.app
    if target.deploy_repo is None:
        raise NotAllowed(f"no deploy repo known for {target.name}: pass --deploy-repo")
    if not app.auto_sync:
        raise NotAllowed(
            f"auto-sync is off for {app.name}: a rollback commit would not deploy until someone "
            "syncs it; sync by hand, or turn auto-sync on first"
        )
    path = app.source.path if app.source is not None else ""
    if not path:
        raise NotAllowed(f"{app.name} has no source path in the deploy repo to restore")
    if line.current or line.revision == app.sync_revision:
        raise NotAllowed(f"{app.name} runs {short(line.revision)} already: choose an older one")
    if not app.sync_revision:
        raise NotAllowed(f"{app.name} reports no current revision to roll back from")
    _fresh(facts, "roll back")
    remote = target.deploy_repo

    def request(reason: str) -> RollbackRequest:
        text = sanitize_reason(reason.strip() or DEFAULT_REASON)
        return RollbackRequest(
            app=app.name,
            path=path,
            bad=app.sync_revision,
            good=line.revision,
            reason=f"operator {who.name}: {text}",
            operator=f"operator {who.name}",
        )

    def describe(reason: str) -> str:
        return (
            f"push to {redact(remote)} (main) as {who.name} <{who.email}>:\n"
            f"restore {path} to its content at {short(line.revision)}\n\n"
            f"{message(request(reason))}"
        )

    async def run(reason: str) -> str:
        writer = RollbackWriter(remote, workdir, author=(who.name, who.email))
        outcome = await asyncio.to_thread(writer.write, request(reason))
        if outcome.already:
            return f"{app.name}: {short(app.sync_revision)} was rolled back already by " + short(
                outcome.already
            )
        if outcome.unchanged or outcome.sha is None:
            return f"{app.name}: {path} already has its content at {short(line.revision)}"
        return f"rolled back {app.name} to {short(line.revision)}: pushed {short(outcome.sha)}"

    def restore(repo: Path) -> None:  # as the writer will
        restore_path(repo, path, line.revision)

    preview = DiffJob(
        app.name,
        f"what the rollback commit will change: {path} at the deploy repo's head, and restored "
        f"to its content at {short(line.revision)}",
        "head",
        f"restored to {short(line.revision)}",
        previewed(remote, path, restore),
    )
    title = f"Roll back {app.name}"
    return Draft(
        "rollback", title, facts, describe, run, reason_default=DEFAULT_REASON, preview=preview
    )


# --- promote -----------------------------------------------------------------------------------


def next_env(facts: AppFacts, fleet: Sequence[AppFacts]) -> str:
    """The environment after the app's, in promotion order, among those where its service
    runs; NotAllowed when it is the last."""
    app = facts.app
    if not app.service or not app.env:
        raise NotAllowed(f"{app.name} has no service and env labels: nothing to promote")
    envs = sorted({f.app.env for f in fleet if f.app.service == app.service}, key=env_rank)
    later = envs[envs.index(app.env) + 1 :] if app.env in envs else []
    if not later:
        raise NotAllowed(f"{app.name} is in {app.service}'s last environment")
    return later[0]


def _promote_url(location: str) -> str:
    """The repository `promote(push=True)` clones: a work tree's origin, else the location."""
    local = Path(location).expanduser()
    if local.is_dir():
        top = git(["rev-parse", "--is-inside-work-tree"], local, check=False).strip()
        if top == "true":
            return git(["remote", "get-url", "origin"], local, check=False).strip() or location
        return str(local.resolve())
    return location


def preview_promotion(location: str, req: PromoteRequest) -> tuple[str, str, str | None]:
    """(tag, previous tag, commit message or None) as `promote` would decide it now, from a
    scratch clone of the deploy repo. Blocking."""
    tmp = Path(tempfile.mkdtemp(prefix="gitops-console-promote-"))
    try:
        git(["clone", "--quiet", "--", _promote_url(location), str(tmp / "repo")], tmp)
        return plan(tmp / "repo", req)
    except GitError as exc:
        raise NotAllowed(f"cannot read the deploy repo {redact(location)}: {exc.stderr}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


async def draft_promote(facts: AppFacts, fleet: Sequence[AppFacts], target: ConsoleTarget) -> Draft:
    """Raises NotAllowed, or PromoteError / OverlayError from the plan."""
    app = facts.app
    if target.deploy_repo is None:
        raise NotAllowed(f"no deploy repo known for {target.name}: pass --deploy-repo")
    env = next_env(facts, fleet)
    location = target.deploy_repo
    req = PromoteRequest(service=app.service, env=env, from_env=app.env)
    tag, previous, commit = await asyncio.to_thread(preview_promotion, location, req)
    if commit is None:
        raise NotAllowed(f"{app.service} in {env} pins {short(tag)} already")
    text = (
        f"push to {redact(location)}:\n"
        f"{overlay_path(env, app.service)}: newTag {short(previous)} → {short(tag)}\n\n{commit}"
    )

    async def run(_: str) -> str:
        out = await asyncio.to_thread(promote, location, req, push=True)
        if out.sha is None:
            return f"{app.service} in {env} is at {short(out.tag)} already"
        return f"promoted {app.service} {short(out.previous)} → {short(out.tag)} to {env}: " + (
            f"pushed {short(out.sha)}"
        )

    overlay = overlay_path(env, app.service)
    url = await asyncio.to_thread(_promote_url, location)

    def pin(repo: Path) -> None:  # as the promotion will
        pin_tag(repo, env, app.service, tag)

    preview = DiffJob(
        f"{app.service} in {env}",
        f"what the promotion will change: {overlay.parent} at the deploy repo's head, and with "
        f"newTag {short(previous)} → {short(tag)}",
        "head",
        f"promoted to {short(tag)}",
        previewed(url, str(overlay.parent), pin),
    )
    title = f"Promote {app.service} to {env}"
    return Draft("promote", title, facts, lambda _: text, run, preview=preview)
