"""The checks guarding main: Conventional Commit headers, and a deploy tree that renders."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

from console import kustomize
from console.local.git.gate import conventional, judge_deploy_tree

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(__file__).resolve().parents[3] / "shared"


def _has_renderer() -> bool:
    try:
        kustomize.renderer()
    except kustomize.KustomizeError:
        return False
    return True


needs_renderer = pytest.mark.skipif(
    not _has_renderer(), reason="neither kustomize nor kubectl is on PATH"
)


@pytest.mark.parametrize(
    "message",
    [
        "feat: add the thing",
        "fix(api): handle an empty body\n\nLonger explanation.\n\nRefs: #12",
        "feat(api)!: drop v1",
        "chore!: drop Python 3.10",
        "chore(deploy): promote backend 1a2b3c4 to dev\n\nPromoted-Service: backend",
        "revert: feat: add the thing",
        "bump: version 0.1.0 → 0.2.0",
        "ci(github-actions): pin actions",
        "\nfeat: leading blank line",
        # git's own headers (see gate.py): `git merge` / `git pull` and `git revert`.
        "Merge branch 'feature'",
        "Merge pull request #12 from acme/feature",
        'Revert "feat: add the thing"\n\nThis reverts commit abc.',
    ],
)
def test_conventional_accepts(message: str) -> None:
    assert conventional(message) is None


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("update stuff", '"update stuff" is not a Conventional Commit'),
        ("Feat: add", "unknown type `Feat` (types are lowercase)"),
        ("feature: add", "unknown type `feature`; use one of build"),
        ("fix(): x", "empty scope"),
        ("fix( api ): x", "spaces around its scope"),
        ("fix:x", 'needs a space after the ":"'),
        ("fix:   x", "one space, not several"),
        ("fix: ", "no description"),
        ("fix", "is not a Conventional Commit"),
        ("fixup! feat: add", "autosquash"),
        ("squash! feat: add", "autosquash"),
        ("", "empty commit message"),
        ("Revert feat: add", "is not a Conventional Commit"),
        ("Merged things", "is not a Conventional Commit"),
    ],
)
def test_conventional_rejects_with_the_reason(message: str, expected: str) -> None:
    problem = conventional(message)
    assert problem is not None
    assert expected in problem
    if message.strip():
        assert f'"{message.strip()}"' in problem  # the header is quoted


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    dest = tmp_path / "deploy"
    shutil.copytree(ROOT / "deploy-repo", dest)
    return dest


@needs_renderer
def test_rendered_deploy_repo_passes(tree: Path) -> None:
    assert judge_deploy_tree(tree) == []


@needs_renderer
def test_missing_base_names_the_overlay(tree: Path) -> None:
    overlay = tree / "overlays" / "dev" / "backend" / "kustomization.yaml"
    overlay.write_text(overlay.read_text().replace("base/backend", "base/missing"))
    findings = judge_deploy_tree(tree)
    assert len(findings) == 1
    assert findings[0].startswith("overlays/dev/backend: does not render:")
    assert "base/missing" in findings[0]
    assert str(tree) not in findings[0]  # paths relative to the repository


@needs_renderer
def test_unnamed_objects_argocd_yaml_and_source_paths(tree: Path) -> None:
    guard = tree / "platform" / "guard"
    (guard / "extra.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n")
    kustomization = guard / "kustomization.yaml"
    kustomization.write_text(
        kustomization.read_text().replace("resources:\n", "resources:\n  - extra.yaml\n", 1)
    )
    app = tree / "argocd" / "apps" / "backend-prod.yaml"
    app.write_text(app.read_text().replace("path: overlays/prod/backend", "path: overlays/x/y"))
    (tree / "argocd" / "broken.yaml").write_text("a: [unclosed\n")
    escape = tree / "argocd" / "apps" / "frontend-dev.yaml"
    escape.write_text(escape.read_text().replace("path: overlays/dev/frontend", "path: ../.."))
    findings = judge_deploy_tree(tree)
    assert len(findings) == 4, findings
    assert any(f.startswith("platform/guard:") and "metadata.name" in f for f in findings)
    assert any(
        f.startswith("argocd/apps/backend-prod.yaml: Application backend-prod")
        and "'overlays/x/y'" in f
        for f in findings
    )
    assert any(f.startswith("argocd/broken.yaml: not valid YAML") for f in findings)
    assert any("frontend-dev" in f and "'../..'" in f for f in findings)


def test_without_a_renderer(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> list[str]:
        raise kustomize.KustomizeError("neither `kustomize` nor `kubectl` is on PATH")

    monkeypatch.setattr(kustomize, "renderer", missing)
    assert judge_deploy_tree(tree) == [
        "cannot render the overlays: neither `kustomize` nor `kubectl` is on PATH"
    ]


@needs_renderer
def test_applications_against_the_crds(tree: Path) -> None:
    crd_dir = SHARED / "reference" / "argo-cd"
    if not (crd_dir / "application-crd.yaml").is_file():
        pytest.skip(f"{crd_dir} is absent (Argo CD's CRDs)")
    if importlib.util.find_spec("jsonschema") is None:
        pytest.skip("jsonschema (the `check` extra) is not installed")
    app = tree / "argocd" / "apps" / "backend-dev.yaml"
    app.write_text(app.read_text().replace("  syncPolicy:\n", "  syncPolicyy: {}\n  syncPolicy:\n"))
    findings = judge_deploy_tree(tree, crd_dir)  # the other Applications and AppProjects pass
    assert len(findings) == 1, findings
    assert findings[0].startswith("argocd/apps/backend-dev.yaml: Application/backend-dev")
    assert "syncPolicyy" in findings[0]


@needs_renderer
def test_an_overlay_that_renders_nothing_is_refused_naming_it(tree: Path) -> None:
    """The kustomization renamed away: the path becomes a directory source with nothing in it,
    and automated sync (allowEmpty false) would prune the app to nothing."""
    overlay = tree / "overlays" / "dev" / "frontend"
    (overlay / "kustomization.yaml").rename(overlay / "kustomization.yaml.off")
    findings = judge_deploy_tree(tree)
    assert findings == [
        "argocd/apps/frontend-dev.yaml: Application frontend-dev: spec.source.path "
        "'overlays/dev/frontend' renders no objects: its automated sync would prune everything "
        "the app runs (syncPolicy.automated.allowEmpty is false; is a kustomization missing?)"
    ]


@needs_renderer
def test_an_app_that_allows_empty_may_render_nothing(tree: Path) -> None:
    overlay = tree / "overlays" / "dev" / "frontend"
    (overlay / "kustomization.yaml").rename(overlay / "kustomization.yaml.off")
    app = tree / "argocd" / "apps" / "frontend-dev.yaml"
    text = app.read_text()
    assert "    automated:\n" in text
    app.write_text(text.replace("    automated:\n", "    automated:\n      allowEmpty: true\n"))
    assert judge_deploy_tree(tree) == []


@needs_renderer
def test_an_overlay_without_a_workload_is_refused(tree: Path) -> None:
    overlay = tree / "overlays" / "dev" / "backend"
    (overlay / "kustomization.yaml").unlink()
    (overlay / "settings.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: dev}\n"
    )
    findings = judge_deploy_tree(tree)
    assert len(findings) == 1, findings
    assert findings[0].startswith(
        "argocd/apps/backend-dev.yaml: Application backend-dev: spec.source.path "
        "'overlays/dev/backend' renders no workload"
    )
    assert "it renders ConfigMap" in findings[0]


@needs_renderer
def test_a_directory_source_with_a_malformed_manifest_is_refused(tree: Path) -> None:
    """Every source an Application points at must render, not only kustomizations."""
    overlay = tree / "overlays" / "dev" / "backend"
    (overlay / "kustomization.yaml").unlink()
    (overlay / "broken.yaml").write_text("kind: Deployment\nmetadata: [unclosed\n")
    findings = judge_deploy_tree(tree)
    assert len(findings) == 1, findings
    assert findings[0].startswith(
        "argocd/apps/backend-dev.yaml: Application backend-dev: spec.source.path "
        "'overlays/dev/backend': does not render: overlays/dev/backend/broken.yaml:"
    )


def _break_the_guard_platform(tree: Path) -> None:
    kustomization = tree / "platform" / "guard" / "kustomization.yaml"
    kustomization.write_text(
        kustomization.read_text().replace("resources:\n", "resources:\n  - gone.yaml\n", 1)
    )


@needs_renderer
def test_a_push_that_changes_overlays_only_renders_those_overlays(tree: Path) -> None:
    """main only moves through the gate, so what a push did not change was judged already: a
    promotion renders the overlays it touched (seconds less of holding main), anything else
    renders the whole tree."""
    _break_the_guard_platform(tree)  # stands for a part of the tree this push did not touch
    promoted = "overlays/dev/backend/kustomization.yaml"
    assert judge_deploy_tree(tree, changed=[promoted]) == []
    overlay = tree / promoted
    overlay.write_text(overlay.read_text().replace("base/backend", "base/missing"))
    [finding] = judge_deploy_tree(tree, changed=[promoted])
    assert finding.startswith("overlays/dev/backend: does not render:")
    # A change beyond the overlays (a base here) renders everything.
    everything = judge_deploy_tree(tree, changed=[promoted, "base/backend/deployment.yaml"])
    assert any(f.startswith("platform/guard: does not render") for f in everything), everything
    assert any(f.startswith("overlays/dev/backend: does not render") for f in everything)
    assert len(judge_deploy_tree(tree)) == 2, "no change list: the whole tree"


@needs_renderer
def test_an_overlay_whose_kustomization_a_push_renamed_is_judged_as_a_directory(
    tree: Path,
) -> None:
    overlay = tree / "overlays" / "dev" / "frontend"
    (overlay / "kustomization.yaml").rename(overlay / "kustomization.yaml.off")
    changed = [
        "overlays/dev/frontend/kustomization.yaml",
        "overlays/dev/frontend/kustomization.yaml.off",
    ]
    [finding] = judge_deploy_tree(tree, changed=changed)
    assert "Application frontend-dev: spec.source.path 'overlays/dev/frontend' renders no" in (
        finding
    )
