"""The game day's deploy-repo changes: a tag never built (accepted: the gate judges form only) and
an overlay that does not render (refused at the gate with the render error, main unmoved),
pushed to a real deploy repository on the local Git host, hooks and all."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from console.drill.change import ChangeError
from console.drill.deploy_changes import (
    MISSING_FILE,
    break_overlay,
    message,
    never_built_tag,
    promote_unbuilt,
    push_unrendered,
)
from console.git import git, init_with_commit
from console.local.git.gate import conventional
from console.local.git.githost import GitHost
from tests.helpers import GIT_IDENTITY, ROOT


@pytest.fixture
def deploy_tree(tmp_path: Path) -> Path:
    dest = tmp_path / "deploy"
    shutil.copytree(ROOT / "deploy-repo", dest, ignore=shutil.ignore_patterns(".git"))
    return dest


def test_the_overlay_names_a_file_that_is_not_there(deploy_tree: Path) -> None:
    assert break_overlay(deploy_tree, "dev", "frontend") == "overlays/dev/frontend"
    text = (deploy_tree / "overlays/dev/frontend/kustomization.yaml").read_text()
    assert f"  - ../../../base/frontend\n  - {MISSING_FILE}\n" in text
    assert not (deploy_tree / "overlays/dev/frontend" / MISSING_FILE).exists()


def test_an_unknown_overlay_is_refused_loudly(deploy_tree: Path) -> None:
    with pytest.raises(ChangeError, match="no overlays/qa/frontend"):
        break_overlay(deploy_tree, "qa", "frontend")


def test_the_tag_is_never_built_and_new_per_drill() -> None:
    tag = never_built_tag("d1")
    assert len(tag) == 40
    assert int(tag, 16) >= 0
    assert never_built_tag("d1") == tag != never_built_tag("d2")


def test_the_commit_message_passes_the_gates_form_check() -> None:
    assert conventional(message("dev", "frontend", "d1")) is None


@pytest.fixture
def remote(tmp_path: Path, deploy_tree: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The deploy repo on the local Git host, its pre-receive gate installed (no platform)."""
    for key, value in GIT_IDENTITY.items():
        monkeypatch.setenv(key, value)
    init_with_commit(deploy_tree, "chore: the deploy repo")
    host = GitHost(tmp_path / "git")
    host.seed("platform-deploy", "deploy", deploy_tree)
    return str(host.path("platform-deploy"))


def test_an_overlay_that_does_not_render_is_refused_and_main_stays(
    remote: str, tmp_path: Path
) -> None:
    before = git(["rev-parse", "main"], Path(remote)).strip()
    refused = push_unrendered(
        remote, env="dev", service="frontend", drill_id="d1", clock=lambda: 1.0, workdir=tmp_path
    )
    assert refused.head_before == before
    assert refused.overlay == "overlays/dev/frontend"
    assert "overlays/dev/frontend: does not render" in refused.refusal, refused.refusal
    assert MISSING_FILE in refused.refusal
    assert git(["rev-parse", "main"], Path(remote)).strip() == before, "nothing landed"


def test_a_tag_never_built_is_promoted_the_gate_judges_form_only(remote: str) -> None:
    done = promote_unbuilt(remote, "dev", "frontend", "d1", lambda: 1.0)
    assert done.tag == never_built_tag("d1")
    assert git(["rev-parse", "main"], Path(remote)).strip() == done.sha
    assert done.subject == f"chore(deploy): promote frontend {done.tag[:7]} to dev"
    shown = git(["show", "main:overlays/dev/frontend/kustomization.yaml"], Path(remote))
    assert f'newTag: "{done.tag}"' in shown or f"newTag: {done.tag}" in shown
