"""The repo server against a real bare deploy repo (from `gitops scaffold`) and real Kustomize."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from console.local.argo.reposerver import RepoServer, RepoServerError
from tests.world import World

URL = "https://github.com/acme/platform-deploy.git"


def run_git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture(scope="module")
def bare(shared_world: World, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("platform")
    deploy = shared_world.renderings / "deploy-repo"
    run_git(root, "clone", "--quiet", "--bare", str(deploy), "deploy.git")
    return root / "deploy.git"


@pytest.fixture
def server(bare: Path, tmp_path: Path) -> RepoServer:
    server = RepoServer(tmp_path / "cache")
    server.register(URL, bare)
    return server


def test_a_directory_source_yields_the_child_applications(server: RepoServer, bare: Path) -> None:
    sha = server.resolve(URL, "main")
    assert sha == run_git(bare, "rev-parse", "main").strip()
    apps = server.manifests(URL, sha, "argocd/apps")
    assert apps.source_type == "Directory"
    names = sorted(obj["metadata"]["name"] for obj in apps.objects)
    assert names == ["backend-dev", "backend-prod", "frontend-dev", "frontend-prod", "gitops-guard"]
    assert {obj["kind"] for obj in apps.objects} == {"Application"}


def test_a_kustomize_source_renders_the_overlay(server: RepoServer) -> None:
    sha = server.resolve(URL, "HEAD")
    rendered = server.manifests(URL, sha, "overlays/dev/backend")
    assert rendered.source_type == "Kustomize"
    kinds = sorted(obj["kind"] for obj in rendered.objects)
    assert kinds == [
        "Deployment",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "Service",
        "ServiceAccount",
    ]
    deployment = next(o for o in rendered.objects if o["kind"] == "Deployment")
    assert deployment["metadata"]["namespace"] == "dev"
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "123456789012.dkr.ecr.eu-west-1.amazonaws.com/backend:unreleased"
    assert server.manifests(URL, sha, "overlays/dev/backend") is rendered, "cached per commit"


def test_a_broken_commit_is_a_comparison_error_and_the_old_one_still_renders(
    server: RepoServer, bare: Path, tmp_path: Path
) -> None:
    good = server.resolve(URL, "main")
    work = tmp_path / "work"
    run_git(tmp_path, "clone", "--quiet", str(bare), str(work))
    (work / "overlays" / "dev" / "backend" / "kustomization.yaml").write_text(
        "resources:\n  - ../../../base/missing\n"
    )
    run_git(work, "commit", "--quiet", "-am", "fix: break the overlay")
    bad = run_git(work, "rev-parse", "HEAD").strip()
    # Straight into the object store: the local Git host's gate would refuse this push.
    run_git(work, "push", "--quiet", str(bare), f"HEAD:refs/heads/broken-{bad[:7]}")
    with pytest.raises(RepoServerError, match="overlays/dev/backend"):
        server.manifests(URL, bad, "overlays/dev/backend")
    assert server.manifests(URL, good, "overlays/dev/backend").objects


@pytest.mark.parametrize(
    ("revision", "path", "message"),
    [
        ("no-such-branch", "overlays/dev/backend", "unable to resolve 'no-such-branch'"),
        ("main", "overlays/staging/backend", "app path does not exist"),
        ("main", "../etc", "must stay inside the repository"),
    ],
)
def test_bad_sources_say_why(server: RepoServer, revision: str, path: str, message: str) -> None:
    with pytest.raises(RepoServerError, match=message):
        server.manifests(URL, server.resolve(URL, revision), path)


def test_an_unknown_repository_is_an_error(server: RepoServer) -> None:
    with pytest.raises(RepoServerError, match="repository not found"):
        server.resolve("https://github.com/acme/elsewhere.git", "main")
