"""A deploy repo with a history to render: the project's deploy-repo/ as a git work tree whose
second commit promotes a tag to backend in dev, served by a real RepoServer (real Kustomize).
Shared by the API's manifests test and the console's diff test."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from console.git import commit_all, init_with_commit
from console.local.argo.reposerver import RepoServer
from console.promote.overlay import overlay_path, set_tag

ROOT = Path(__file__).resolve().parents[2]
URL = "https://github.com/acme/platform-deploy.git"  # as deploy-repo/argocd/apps name it
TAG = "a" * 40


@dataclass(frozen=True)
class DeployHistory:
    repo: Path  # the work tree
    first: str  # the scaffold: backend pins "unreleased"
    second: str  # backend in dev pins TAG
    server: RepoServer


def deploy_history(tmp: Path) -> DeployHistory:
    repo = tmp / "deploy"
    shutil.copytree(ROOT / "deploy-repo", repo)
    first = init_with_commit(repo, "chore: scaffold platform-deploy")
    promote(repo, "dev", TAG)
    second = commit_all(repo, f"chore(deploy): promote backend {TAG[:7]} to dev")
    server = RepoServer(tmp / "cache")
    server.register(URL, repo)
    return DeployHistory(repo, first, second, server)


def promote(repo: Path, env: str, tag: str) -> None:
    """Pin `tag` for backend in `env` (uncommitted)."""
    file = repo / overlay_path(env, "backend")
    file.write_text(set_tag(file.read_text(encoding="utf-8"), "backend", tag), encoding="utf-8")
