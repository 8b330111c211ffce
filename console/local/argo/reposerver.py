"""The repo server: Git revision + path in, Kubernetes objects out, as Argo CD's repo server does.

A source path with a kustomization is rendered by Kustomize (the binary, as Argo CD shells out to
it); any other path is a directory source: its YAML and JSON files, not recursing, as Argo CD's
default. Trees are materialised once per commit and renderings cached per (commit, path), so the
controller can ask on every reconcile at no cost.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from console import kustomize
from console.fleet.manifests import render_tree
from console.git import GitError, checkout_tree, git
from console.local.git.webhook import normalize_url


class RepoServerError(Exception):
    """The source cannot be resolved or rendered; the message is what Argo CD shows as a
    ComparisonError condition."""


@dataclass(frozen=True)
class Manifests:
    revision: str
    path: str
    source_type: str  # "Kustomize" or "Directory", as Argo CD reports it
    objects: tuple[dict[str, Any], ...]


class RepoServer:
    def __init__(self, cache_root: Path) -> None:
        self.cache_root = cache_root
        self._repos: dict[str, Path] = {}
        self._rendered: dict[tuple[str, str, str], Manifests] = {}
        self._lock = threading.Lock()

    def register(self, repo_url: str, git_dir: Path) -> None:
        """Serve `repo_url` (as Applications name it) from the local repository `git_dir`."""
        self._repos[normalize_url(repo_url)] = git_dir

    def git_dir(self, repo_url: str) -> Path:
        try:
            return self._repos[normalize_url(repo_url)]
        except KeyError:
            raise RepoServerError(f"repository not found: {repo_url}") from None

    def resolve(self, repo_url: str, revision: str) -> str:
        """The commit `revision` (branch, tag, HEAD or a sha) names now."""
        git_dir = self.git_dir(repo_url)
        ref = "HEAD" if revision in ("", "HEAD") else revision
        try:
            return git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], git_dir).strip()
        except GitError:
            raise RepoServerError(
                f"unable to resolve '{revision}' to a commit SHA in {repo_url}"
            ) from None

    def tree(self, repo_url: str, sha: str) -> Path:
        """The files of commit `sha`, materialised once (render into a temp dir, then rename)."""
        key = hashlib.sha256(normalize_url(repo_url).encode()).hexdigest()[:16]
        dest = self.cache_root / key / sha
        if dest.is_dir():
            return dest
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{sha[:12]}-", dir=dest.parent))
        try:
            checkout_tree(self.git_dir(repo_url), sha, staging)
            try:
                staging.rename(dest)
            except OSError:
                if not dest.is_dir():  # another thread won the race with the same content
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return dest

    def render(self, repo_url: str, revision: str, path: str) -> Manifests:
        """The objects the source path renders to at `revision` (a branch, tag, HEAD or sha):
        what Argo CD's GetManifests answers. Blocking."""
        return self.manifests(repo_url, self.resolve(repo_url, revision), path)

    def manifests(self, repo_url: str, sha: str, path: str) -> Manifests:
        """The objects the source path renders to at commit `sha`."""
        key = (normalize_url(repo_url), sha, path)
        with self._lock:
            if key in self._rendered:
                return self._rendered[key]
        root = self.tree(repo_url, sha)
        try:
            source_type, objects = render_tree(root, path)
        except kustomize.KustomizeError as exc:
            raise RepoServerError(str(exc)) from None
        result = Manifests(sha, path, source_type, objects)
        with self._lock:
            self._rendered[key] = result
        return result
