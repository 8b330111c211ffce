"""The world the platform tests start from, built once per session (once per xdist worker): the
three repos of repos.yaml as `gitops scaffold` leaves them, and an image store holding both
services built at the apps repo's first commit.

The repos are copied from the committed renderings (infra-repo/, apps-repo/, deploy-repo/; the
drift test keeps them identical to a fresh scaffold) and each made a git repo with one first
commit, as `gitops scaffold` makes them. A test that changes them works on its own copy
(`World.renderings_copy`); one that needs another build builds into the shared store under a tag
of its own (tags are immutable; blobs are content-addressed and shared)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from console.git import init_with_commit
from console.local.ci.images import ImageStore
from tests.helpers import ROOT, run_git

REGISTRY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
SERVICES = ("backend", "frontend")
REPOS = ("infra-repo", "apps-repo", "deploy-repo")


def build_args(service: str, sha: str, tag: str | None = None) -> dict[str, str]:
    """The build args CI passes (the Dockerfile's ARGs), for `service` at commit `sha`."""
    return {
        "SERVICE_NAME": service,
        "SERVICE_KIND": service,
        "SERVICE_VERSION": "0.1.0",
        "GIT_SHA": sha,
        "BUILT_AT": "2026-01-01T00:00:00Z",
        "IMAGE": f"{REGISTRY}/{service}:{tag or sha}",
    }


def render_repos(dest: Path) -> Path:
    """infra-repo/, apps-repo/ and deploy-repo/ under `dest`, each a git repo with one commit."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in REPOS:
        target = dest / name
        shutil.copytree(ROOT / name, target)
        init_with_commit(target, f"chore: scaffold platform-{name[: -len('-repo')]}")
    return dest


@dataclass(frozen=True)
class World:
    renderings: Path  # never changed: tests copy it
    store: ImageStore  # REGISTRY/<service>:<commit> for both services
    commit: str  # the apps repo's first commit

    def image(self, service: str, tag: str | None = None) -> str:
        return f"{REGISTRY}/{service}:{tag or self.commit}"

    def renderings_copy(self, dest: Path) -> Path:
        """A copy of the three repos (history and all) that a test may change."""
        shutil.copytree(self.renderings, dest, symlinks=True)
        return dest

    def store_copy(self, root: Path) -> ImageStore:
        """An empty image store of its own that starts with the shared dependency layers
        (hard links), for a test that counts what its store holds."""
        root.mkdir(parents=True)
        shutil.copytree(self.store.layers, root / "layers", copy_function=_link)
        return ImageStore(root)


def _link(src: str, dst: str) -> None:
    Path(dst).hardlink_to(src)


def build_world(base: Path) -> World:
    renderings = render_repos(base / "renderings")
    apps = renderings / "apps-repo"
    commit = run_git(apps, "rev-parse", "HEAD").strip()
    store = ImageStore(base / "images")
    for service in SERVICES:
        store.build(apps, commit, f"{REGISTRY}/{service}", commit, build_args(service, commit))
    return World(renderings, store, commit)
