"""Shared by the guard's tests: a bare deploy repository on the embedded Git host, seeded with the
committed deploy-repo rendering through the real pre-receive gate, and a history to roll back."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from console import kustomize
from console.fleet.history import Commit, log
from console.guard.rollback import RollbackRequest
from console.local.git.githost import GitHost
from console.promote.overlay import overlay_path, read_tag, set_tag
from console.promote.promote import PromoteRequest, promote

ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 120.0  # seconds a child writer may take; it normally finishes in a few
TAG_GOOD, TAG_BAD, TAG_LATER = "a" * 40, "b" * 40, "c" * 40
REASON = "Degraded for 30s: readiness probe failed\n(HTTP 503 on /readyz)"
BACKEND, FRONTEND = "overlays/dev/backend", "overlays/dev/frontend"


def run(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout


@dataclass
class Deploy:
    """The deploy repository of one test, and the history the rollbacks work on."""

    bare: Path
    url: str
    tmp: Path
    good: str = ""  # both dev apps on TAG_GOOD, backend with a NOTES.md
    bad: str = ""  # both dev apps on TAG_BAD; NOTES.md removed, patch.yaml added
    later: str = ""  # after bad: backend promoted in prod (must survive every rollback)

    def tip(self) -> str:
        return run(self.bare, "rev-parse", "main").strip()

    def commits(self) -> list[Commit]:
        return log(self.bare, "main")

    def show(self, rev: str, path: str) -> str:
        return run(self.bare, "show", f"{rev}:{path}")

    def tag(self, rev: str, env: str, service: str) -> str:
        return read_tag(self.show(rev, str(overlay_path(env, service))), service)

    def changed(self, sha: str) -> list[str]:
        return run(self.bare, "diff-tree", "--no-commit-id", "--name-only", "-r", sha).split()

    def clone(self, name: str) -> Path:
        run(self.tmp, "clone", "--quiet", self.url, name)
        return self.tmp / name

    def promote(self, service: str, env: str, tag: str) -> str:
        outcome = promote(self.url, PromoteRequest(service=service, env=env, tag=tag), push=True)
        assert outcome.sha is not None
        return outcome.sha

    def request(self, app: str = "backend-dev", path: str = BACKEND) -> RollbackRequest:
        return RollbackRequest(app=app, path=path, bad=self.bad, good=self.good, reason=REASON)


def retag(clone: Path, tag: str) -> None:
    for service in ("backend", "frontend"):
        file = clone / overlay_path("dev", service)
        file.write_text(set_tag(file.read_text(), service, tag))


def commit_and_push(clone: Path, message: str) -> str:
    run(clone, "add", "--all")
    run(clone, "commit", "--quiet", "--message", message)
    run(clone, "push", "--quiet", "origin", "HEAD:refs/heads/main")
    return run(clone, "rev-parse", "HEAD").strip()


@dataclass(frozen=True)
class Seeded:
    bare: Path
    good: str
    bad: str
    later: str


@pytest.fixture(scope="session")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    """A bare deploy repository seeded, through its gate, from the committed deploy-repo, and
    the history every test rolls back: made once a session (each gated push renders every
    overlay); every test works on a copy (`deploy`)."""
    try:
        kustomize.renderer()
    except kustomize.KustomizeError as exc:
        pytest.skip(str(exc))
    tmp = tmp_path_factory.mktemp("seed")
    work = tmp / "deploy-work"
    shutil.copytree(ROOT / "deploy-repo", work)
    run(work, "init", "--quiet", "--initial-branch", "main")
    run(work, "add", "--all")
    run(work, "commit", "--quiet", "--message", "chore: scaffold platform-deploy")
    host = GitHost(tmp / "git")
    host.seed("platform-deploy", None, work)
    repo = Deploy(host.path("platform-deploy"), host.url("platform-deploy"), tmp)
    work = repo.clone("author")
    retag(work, TAG_GOOD)
    (work / BACKEND / "NOTES.md").write_text("backend in dev: owned by the platform team\n")
    good = commit_and_push(work, "chore(deploy): promote backend and frontend to dev")
    # The bad revision touches both apps, and more than the image tag of one of them.
    retag(work, TAG_BAD)
    (work / BACKEND / "NOTES.md").unlink()
    (work / BACKEND / "patch.yaml").write_text("# an experiment nobody references\n")
    bad = commit_and_push(work, "chore(deploy): promote backend and frontend to dev")
    later = repo.promote("backend", "prod", TAG_LATER)
    return Seeded(repo.bare, good, bad, later)


@pytest.fixture
def deploy(seeded: Seeded, tmp_path: Path) -> Deploy:
    """A copy of the seeded repository for one test, its hooks wired afresh."""
    host = GitHost(tmp_path / "git")
    shutil.copytree(seeded.bare, host.path("platform-deploy"))
    bare = host.create("platform-deploy", "deploy")
    return Deploy(
        bare, host.url("platform-deploy"), tmp_path, seeded.good, seeded.bad, seeded.later
    )
