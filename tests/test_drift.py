"""The committed renderings (infra-repo/, apps-repo/, deploy-repo/) equal the templates' output."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from console.cli import main


@pytest.mark.slow
def test_committed_renderings_match_the_templates(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Fails CI when a template or repos.yaml changed without `gitops scaffold --refresh`."""
    code = main(["scaffold", "--check", "--config", str(root / "repos.yaml")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "no drift" in captured.out


@pytest.mark.slow
def test_drift_is_listed_file_by_file_and_exits_1(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy2(root / "repos.yaml", tmp_path / "repos.yaml")
    for name in ("infra-repo", "apps-repo", "deploy-repo"):
        shutil.copytree(root / name, tmp_path / name)
    (tmp_path / "apps-repo" / "README.md").write_text("edited by hand\n")
    (tmp_path / "deploy-repo" / ".gitignore").unlink()
    (tmp_path / "infra-repo" / "stray.tf").write_text("# not from the template\n")

    code = main(["scaffold", "--check", "--config", str(tmp_path / "repos.yaml")])
    err = capsys.readouterr().err
    assert code == 1
    lines = [line.strip() for line in err.splitlines()]
    assert "differs  apps-repo/README.md" in lines
    assert "missing  deploy-repo/.gitignore" in lines
    assert "extra    infra-repo/stray.tf" in lines
    assert "run `uv run gitops scaffold --refresh` and commit the result" in err


@pytest.mark.slow
def test_refresh_rewrites_the_committed_copies(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy2(root / "repos.yaml", tmp_path / "repos.yaml")
    (tmp_path / "apps-repo").mkdir()
    (tmp_path / "apps-repo" / "stale.txt").write_text("old")
    assert main(["scaffold", "--refresh", "--config", str(tmp_path / "repos.yaml")]) == 0
    assert not (tmp_path / "apps-repo" / "stale.txt").exists()
    answers = (tmp_path / "apps-repo" / ".copier-answers.yml").read_text()
    assert "_src_path: https://github.com/acme/gitops-platform.git" in answers
    assert "_commit" not in answers, "committed copies do not depend on the template commit"
    capsys.readouterr()
    assert main(["scaffold", "--check", "--config", str(tmp_path / "repos.yaml")]) == 0
