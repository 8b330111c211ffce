"""`gitops scaffold`: three git repos, all or nothing, from real Copier and real git."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from console.cli import main
from tests.helpers import ROOT, commit_all, run_git, template_repo


@pytest.mark.slow
def test_scaffold_creates_three_repos_each_with_one_conventional_commit(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "platform"
    assert main(["scaffold", "--config", str(root / "repos.yaml"), "--dest", str(dest)]) == 0
    out = capsys.readouterr()
    for name, repo in [
        ("platform-infra", "infra-repo"),
        ("platform-apps", "apps-repo"),
        ("platform-deploy", "deploy-repo"),
    ]:
        path = dest / repo
        log = run_git(path, "log", "--format=%s").splitlines()
        assert log == [f"chore: scaffold {name} from the {repo.split('-')[0].rstrip('s')} template"]
        assert run_git(path, "status", "--porcelain") == "", "everything rendered is committed"
        assert (path / ".copier-answers.yml").is_file()
        assert str(path) in out.out
    assert "[3/3] rendering platform-deploy" in out.err, "progress is shown"
    assert sorted(p.name for p in dest.iterdir()) == ["apps-repo", "deploy-repo", "infra-repo"]


def test_existing_destination_is_refused_and_left_untouched(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "platform"
    (dest / "apps-repo").mkdir(parents=True)
    keep = dest / "apps-repo" / "mine.txt"
    keep.write_text("precious")
    assert main(["scaffold", "--config", str(root / "repos.yaml"), "--dest", str(dest)]) == 2
    err = capsys.readouterr().err
    assert f"{dest / 'apps-repo'} already exists and is not empty" in err
    assert "gitops update" in err
    assert keep.read_text() == "precious"
    assert sorted(p.name for p in dest.iterdir()) == ["apps-repo"], "no other repo was written"


@pytest.mark.slow
def test_a_failing_render_leaves_nothing_behind(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tpl = template_repo(tmp_path / "tpl", tag=None)
    # The last repo to render is broken: the first two must not survive either.
    (tpl / "templates" / "deploy" / "broken.txt.jinja").write_text("{{ unclosed\n")
    commit_all(tpl, "fix: break it")
    dest = tmp_path / "platform"
    code = main(
        [
            "scaffold",
            "--config",
            str(root / "repos.yaml"),
            "--dest",
            str(dest),
            "--template",
            str(tpl),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "gitops: error: deploy template" in err
    assert "Traceback" not in err
    assert not dest.exists(), "the destination it created is removed again"


def test_unknown_template_source_is_a_usage_error(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere"
    missing.mkdir()
    code = main(
        [
            "scaffold",
            "--config",
            str(root / "repos.yaml"),
            "--dest",
            str(tmp_path / "d"),
            "--template",
            str(missing),
        ]
    )
    assert code == 2
    assert f"{missing}: no copier.yml here (--template)" in capsys.readouterr().err


def test_scaffold_without_dest_says_what_it_needs(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scaffold", "--config", str(root / "repos.yaml")]) == 2
    assert "scaffold needs --dest DIR" in capsys.readouterr().err


def test_usage_errors_exit_2() -> None:
    with pytest.raises(SystemExit) as info:
        main(["scaffold", "--no-such-flag"])
    assert info.value.code == 2


@pytest.mark.slow
def test_a_dirty_template_checkout_is_rendered_with_a_warning(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tpl = template_repo(tmp_path / "tpl")
    (tpl / "templates" / "app" / "DRAFT.md").write_text("not committed yet\n")
    dest = tmp_path / "platform"
    args = ["scaffold", "--config", str(root / "repos.yaml"), "--template", str(tpl)]
    assert main([*args, "--dest", str(dest)]) == 0
    err = capsys.readouterr().err
    assert f"gitops: warning: {tpl} has uncommitted changes" in err
    assert (dest / "apps-repo" / "DRAFT.md").is_file(), "HEAD means the work tree, as drift needs"

    commit_all(tpl, "docs: draft")
    assert main([*args, "--dest", str(tmp_path / "again")]) == 0
    assert "warning" not in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_termination_signal_mid_render_leaves_nothing_behind(
    tmp_path: Path, signum: signal.Signals
) -> None:
    """`kill` (SIGTERM), a closed terminal (SIGHUP) or Ctrl-C while Copier renders: the process
    exits 128+signal and the destination is as it was before (absent)."""
    dest = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "console.cli", "scaffold", "--config", str(ROOT / "repos.yaml"),
         "--dest", str(dest)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if "rendering" in line:  # Copier is at work: staging holds a half-written tree
            proc.send_signal(signum)
            break
    _, rest = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, "".join(seen) + rest
    assert "interrupted" in rest
    assert "Traceback" not in rest
    assert not dest.exists()
