"""The generated repos, from three answer sets, pass their own tests and the offline checkers.

Everything here is real: Copier renders, git commits, `uv` runs the generated apps repo's own test
suite (real hypercorn processes on 127.0.0.1), and yamllint, actionlint, zizmor (offline),
check-jsonschema (built-in schemas), hadolint and `terraform fmt` judge what was generated.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from console.cli import main
from console.config import load_config

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ANSWER_SETS = {
    "minimal": ROOT / "tests" / "fixtures" / "minimal.yaml",
    "repo": ROOT / "repos.yaml",
    "many": ROOT / "tests" / "fixtures" / "many.yaml",
}
SHA_PIN = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")


@pytest.fixture(scope="module", params=sorted(ANSWER_SETS))
def platform(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """The three repos scaffolded from one answer set: role -> path."""
    config_path = ANSWER_SETS[request.param]
    dest = tmp_path_factory.mktemp(f"platform-{request.param}")
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@e.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@e.invalid",
    }
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        assert main(["scaffold", "--config", str(config_path), "--dest", str(dest)]) == 0
    config = load_config(config_path)
    paths = {role.value: dest / repo.destination for role, repo in config.repos.items()}
    paths["config"] = config_path
    return paths


def _run(args: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {
        k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT"}
    }
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.mark.slow
def test_generated_apps_repo_passes_its_own_tests_and_lint(platform: dict[str, Path]) -> None:
    apps = platform["apps"]
    uv = shutil.which("uv")
    assert uv, "uv is on PATH (installed by .ci/run)"
    proc = _run([uv, "run", "--locked", "pytest", "-q", "-p", "no:cacheprovider"], apps)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert re.search(r"\d+ passed", proc.stdout)
    lint = _run([uv, "run", "--locked", "ruff", "check", "--no-cache", "."], apps)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_services_yaml_and_readme_list_every_service(platform: dict[str, Path]) -> None:
    config = load_config(platform["config"])
    declared = YAML(typ="safe").load((platform["apps"] / "services.yaml").read_text())
    assert [(s["name"], s["kind"], s["port"]) for s in declared["services"]] == [
        (s.name, s.kind.value, s.port) for s in config.services
    ]
    for svc in declared["services"]:
        assert svc["image"] == f"{config.registry}/{svc['name']}"
    readme = (platform["apps"] / "README.md").read_text()
    for svc in config.services:
        assert f"| {svc.name} | {svc.kind.value} | {svc.port} |" in readme


@pytest.mark.parametrize("role", ["infra", "apps", "deploy"])
def test_every_repo_carries_the_governance_files(platform: dict[str, Path], role: str) -> None:
    repo = platform[role]
    config = load_config(platform["config"])
    for name in [
        "README.md",
        "mise.toml",
        ".pre-commit-config.yaml",
        ".cz.toml",
        ".gitignore",
        ".github/dependabot.yml",
        ".github/CODEOWNERS",
        ".github/workflows/ci.yml",
        ".copier-answers.yml",
        ".yamllint.yaml",
        ".editorconfig",
    ]:
        assert (repo / name).is_file(), f"{role} repo lacks {name}"
    assert f"*  {config.owners}" in (repo / ".github" / "CODEOWNERS").read_text()
    hooks = (repo / ".pre-commit-config.yaml").read_text()
    for hook in [
        "id: commitizen",
        "stages: [commit-msg]",
        "id: yamllint",
        "id: check-github-workflows",
        "id: zizmor",
        "id: gitleaks",
    ]:
        assert hook in hooks, f"{role}: {hook}"
    dependabot = YAML(typ="safe").load((repo / ".github" / "dependabot.yml").read_text())
    for update in dependabot["updates"]:
        assert update["cooldown"]["default-days"] >= 3, update
        assert update["groups"], update
    answers = YAML(typ="safe").load((repo / ".copier-answers.yml").read_text())
    assert answers["template"] == {"infra": "infra", "apps": "app", "deploy": "deploy"}[role]
    assert answers["_commit"], "Copier recorded the template commit, so `copier update` works"


@pytest.mark.parametrize("role", ["infra", "apps", "deploy"])
def test_workflows_pin_actions_by_sha_with_least_privilege(
    platform: dict[str, Path], role: str
) -> None:
    for path in (platform[role] / ".github" / "workflows").glob("*.yml"):
        workflow = YAML(typ="safe").load(path.read_text())
        assert workflow["permissions"] == {}, f"{path}: permissions at the top grant nothing"
        for name, job in workflow["jobs"].items():
            assert "permissions" in job, f"{path}: job {name} states its permissions"
            for step in job.get("steps", []):
                if "uses" in step:
                    assert SHA_PIN.match(step["uses"]), f"{path}: {step['uses']} is not SHA-pinned"
                if step.get("uses", "").startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False, f"{path}: {name}"


@pytest.mark.parametrize("role", ["infra", "apps", "deploy"])
def test_offline_checkers_accept_every_repo(platform: dict[str, Path], role: str) -> None:
    repo = platform[role]
    workflows = sorted(str(p) for p in (repo / ".github" / "workflows").glob("*.yml"))
    checks = [
        [str(BIN / "yamllint"), "--strict", "."],
        [str(BIN / "actionlint"), *workflows],
        [str(BIN / "zizmor"), "--offline", "--no-progress", ".github/workflows"],
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *workflows],
        [str(BIN / "pre-commit"), "validate-config", ".pre-commit-config.yaml"],
        [
            str(BIN / "check-jsonschema"),
            "--builtin-schema",
            "vendor.dependabot",
            ".github/dependabot.yml",
        ],
    ]
    if role == "apps":
        checks.append([str(BIN / "hadolint"), "Dockerfile"])
    if role == "infra":
        terraform = shutil.which("terraform")
        if terraform:
            checks.append([terraform, "fmt", "-check", "-recursive", "-diff"])
    for args in checks:
        proc = _run(args, repo, timeout=120)
        assert proc.returncode == 0, f"{' '.join(args)}\n{proc.stdout}\n{proc.stderr}"
