"""The drill's bad change, applied to the apps repo this checkout generates (apps-repo/): the
same edits every run, unique per drill, refused loudly when the repo is not as expected."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from console.drill.change import ChangeError, apply_change, message
from console.local.git.gate import conventional
from tests.helpers import ROOT

CHANGED = [
    "src/probe/config.py",
    "tests/support.py",
    "src/probe/frontend.py",
    "src/probe/backend_probe.py",
    "tests/test_frontend.py",
]


@pytest.fixture
def apps(tmp_path: Path) -> Path:
    dest = tmp_path / "apps"
    shutil.copytree(
        ROOT / "apps-repo", dest, ignore=shutil.ignore_patterns(".venv", "__pycache__", ".*_cache")
    )
    return dest


def test_the_change_makes_readiness_require_a_variable_the_tests_set(apps: Path) -> None:
    assert apply_change(apps, "d1") == CHANGED
    frontend = (apps / "src/probe/frontend.py").read_text()
    assert 'problem = "BACKEND_TOKEN is not set' in frontend
    assert 'backend_token=get("BACKEND_TOKEN", "")' in (apps / "src/probe/config.py").read_text()
    support = (apps / "tests/support.py").read_text()
    assert 'TEST_BACKEND_TOKEN = "test-token-d1"' in support
    assert '"BACKEND_TOKEN": TEST_BACKEND_TOKEN' in support
    assert (
        "test_readiness_fails_without_the_backend_token"
        in (apps / "tests/test_frontend.py").read_text()
    )
    deployment = (ROOT / "deploy-repo/base/frontend/deployment.yaml").read_text()
    assert "BACKEND_TOKEN" not in deployment, "no Deployment provides it: that is the point"


def test_the_change_is_the_same_every_run_and_unique_per_drill(apps: Path) -> None:
    assert apply_change(apps, "d1") == CHANGED
    first = {p: (apps / p).read_text() for p in CHANGED}
    assert apply_change(apps, "d1") == [], "applied already: nothing to change"
    # A later drill on the same workspace: main has the change; only the token differs.
    assert apply_change(apps, "d2") == ["tests/support.py"]
    second = {p: (apps / p).read_text() for p in CHANGED}
    assert {p for p in CHANGED if first[p] != second[p]} == {"tests/support.py"}
    assert second["tests/support.py"] == first["tests/support.py"].replace(
        "test-token-d1", "test-token-d2"
    )


def test_an_apps_repo_the_drill_does_not_know_is_refused(apps: Path) -> None:
    frontend = apps / "src/probe/frontend.py"
    frontend.write_text(frontend.read_text().replace("backend_url_problem(", "url_problem("))
    with pytest.raises(ChangeError, match=r"src/probe/frontend\.py is not as the drill expects"):
        apply_change(apps, "d1")
    assert "BACKEND_TOKEN" not in (apps / "src/probe/config.py").read_text(), "all or nothing"


@pytest.mark.parametrize("bad", ["", "a b", "../x", "x;y"])
def test_a_drill_id_is_a_plain_word(apps: Path, bad: str) -> None:
    with pytest.raises(ValueError, match="drill id"):
        apply_change(apps, bad)


def test_the_commit_message_passes_the_git_hosts_gate() -> None:
    text = message("20260801T120000Z-abcd")
    assert conventional(text) is None
    assert text.splitlines()[0].startswith("feat(frontend): ")
    assert text.rstrip().endswith("Drill-Id: 20260801T120000Z-abcd")
