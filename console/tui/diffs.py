"""Fetching what the diff view compares: an app's rendered manifests at two revisions, from
Argo CD's GetManifests (a real Argo CD or the embedded platform's), or, for a target with no
such API, rendered here from a clone of its deploy repo; and a draft's before and after
(promote, rollback), rendered from a scratch clone with the draft applied and not pushed.

Blocking parts run in worker threads; the app runs the whole in a worker and posts the result.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from console.fleet.manifests import Object, Rendered, render_tree
from console.git import GitError, checkout_tree, git, redact
from console.kustomize import KustomizeError

Objects = Sequence[Object]
Fetch = Callable[[], Awaitable[tuple[Objects, Objects]]]


class DiffError(Exception):
    """The manifests could not be had; one line saying which and why."""


@runtime_checkable
class Rendering(Protocol):
    """A source that renders an app's manifests at a revision (console.fleet.argocd)."""

    async def manifests(self, name: str, revision: str) -> Rendered: ...


@dataclass(frozen=True)
class DiffJob:
    """One diff to show: where its sides come from and what they are called."""

    title: str  # "backend-dev"
    what: str  # what comparing them shows
    old: str  # the sides' labels: "2222222", "main"
    new: str
    fetch: Fetch


def from_api(source: Rendering, app_key: str, old: str, new: str) -> Fetch:
    """Both revisions from Argo CD's repo server, asked at once."""

    async def fetch() -> tuple[Objects, Objects]:
        a, b = await asyncio.gather(source.manifests(app_key, old), source.manifests(app_key, new))
        return a.objects, b.objects

    return fetch


def from_clone(location: str, path: str, old: str, new: str) -> Fetch:
    """Both revisions rendered here, from a scratch clone of the deploy repo."""

    def both() -> tuple[Objects, Objects]:
        with _Clone(location, checkout=False) as repo:
            return _render_at(repo, old, path, "old"), _render_at(repo, new, path, "new")

    async def fetch() -> tuple[Objects, Objects]:
        return await asyncio.to_thread(both)

    return fetch


def previewed(location: str, path: str, change: Callable[[Path], None]) -> Fetch:
    """`path` at the deploy repo's head, and after `change(work tree)`: what a draft will
    change, rendered from a scratch clone nobody pushes."""

    def both() -> tuple[Objects, Objects]:
        with _Clone(location, checkout=True) as repo:
            before = _render(repo, path)
            try:
                change(repo)
            except (GitError, ValueError) as exc:  # ValueError: an overlay that is not one
                reason = exc.stderr.strip() if isinstance(exc, GitError) else str(exc)
                raise DiffError(f"cannot apply the draft to a clone: {reason}") from None
            return before, _render(repo, path)

    async def fetch() -> tuple[Objects, Objects]:
        return await asyncio.to_thread(both)

    return fetch


class _Clone:
    """A scratch clone of `location`, removed on exit."""

    def __init__(self, location: str, *, checkout: bool) -> None:
        self.location, self.checkout = location, checkout
        self.tmp = Path(tempfile.mkdtemp(prefix="gitops-console-diff-"))

    def __enter__(self) -> Path:
        repo = self.tmp / "repo"
        args = ["clone", "--quiet", *([] if self.checkout else ["--no-checkout"])]
        try:
            git([*args, "--", self.location, str(repo)], self.tmp)
        except (GitError, OSError) as exc:
            shutil.rmtree(self.tmp, ignore_errors=True)
            reason = exc.stderr.strip() if isinstance(exc, GitError) else str(exc)
            raise DiffError(
                f"cannot clone the deploy repo {redact(self.location)}: {reason}"
            ) from None
        return repo

    def __exit__(self, *_: object) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def _render(root: Path, path: str) -> Objects:
    try:
        return render_tree(root, path)[1]
    except KustomizeError as exc:
        raise DiffError(str(exc)) from None


def _render_at(repo: Path, revision: str, path: str, side: str) -> Objects:
    tree = repo.parent / side
    tree.mkdir()
    try:
        checkout_tree(repo / ".git", revision, tree)
    except GitError as exc:
        raise DiffError(f"{revision}: not in the deploy repo ({exc.stderr.strip()})") from None
    return _render(tree, path)
