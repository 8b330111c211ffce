"""Template versioning: a repo rendered at v1 updates to v2 by `copier update`, three-way merged."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.cli import main
from tests.helpers import commit_all, run_git, template_repo


@pytest.mark.slow
def test_update_round_trip_brings_template_changes_and_keeps_local_ones(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tpl = template_repo(tmp_path / "tpl", tag="v1")
    config = str(root / "repos.yaml")
    dest = tmp_path / "platform"
    assert (
        main(
            [
                "scaffold",
                "--config",
                config,
                "--dest",
                str(dest),
                "--template",
                str(tpl),
                "--vcs-ref",
                "v1",
            ]
        )
        == 0
    )
    apps = dest / "apps-repo"
    assert "_commit: v1" in (apps / ".copier-answers.yml").read_text()

    # A team edits its generated repo...
    readme = apps / "README.md"
    readme.write_text(readme.read_text() + "\n## Team notes\n\nOn call: platform.\n")
    commit_all(apps, "docs: team notes")

    # ...while the platform ships v2 of the templates.
    (tpl / "templates" / "app" / "CONTRIBUTING.md").write_text("# Contributing\n\nv2 adds this.\n")
    gitignore = tpl / "templates" / "app" / ".gitignore"
    gitignore.write_text(gitignore.read_text() + "# v2\n.tox/\n")
    commit_all(tpl, "feat: v2 of the app template", tag="v2")

    capsys.readouterr()
    assert main(["update", "--config", config, "--dest", str(dest)]) == 0
    out = capsys.readouterr().out
    assert "platform-apps" in out

    assert (apps / "CONTRIBUTING.md").read_text() == "# Contributing\n\nv2 adds this.\n"
    assert ".tox/" in (apps / ".gitignore").read_text()
    assert "On call: platform." in readme.read_text(), "local edits survive the update"
    assert "_commit: v2" in (apps / ".copier-answers.yml").read_text()
    assert not list(dest.rglob("*.rej")), "no conflicts"
    changed = run_git(apps, "status", "--porcelain").splitlines()
    assert any(line.endswith("CONTRIBUTING.md") for line in changed), (
        "left for review, not committed"
    )


@pytest.mark.slow
def test_update_refuses_a_dirty_work_tree(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tpl = template_repo(tmp_path / "tpl", tag="v1")
    config = str(root / "repos.yaml")
    dest = tmp_path / "platform"
    assert main(["scaffold", "--config", config, "--dest", str(dest), "--template", str(tpl)]) == 0
    (dest / "infra-repo" / "wip.tf").write_text("# unfinished\n")
    capsys.readouterr()
    assert main(["update", "--config", config, "--dest", str(dest)]) == 2
    err = capsys.readouterr().err
    assert "infra-repo: the work tree has uncommitted changes" in err
    assert (dest / "infra-repo" / "wip.tf").read_text() == "# unfinished\n"
