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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from console.check.model import Report, Result, Status
from console.check.runner import check_names, detect, run_matrix
from console.cli import main
from console.config import load_config
from tests.helpers import GIT_IDENTITY

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ANSWER_SETS = {
    "minimal": ROOT / "tests" / "fixtures" / "minimal.yaml",
    "repo": ROOT / "repos.yaml",
    "many": ROOT / "tests" / "fixtures" / "many.yaml",
}
REFERENCE = ROOT.parent / "shared" / "reference" / "argo-cd"
ROLES = ("infra", "apps", "deploy")
APP_TESTS_SET = "repo"  # the answer set whose apps repo runs its own test suite
APP_CODE = ("src", "tests", "pyproject.toml", "uv.lock", "Dockerfile", ".dockerignore")
SHA_PIN = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")


# Slow, and on one worker: it renders three answer sets and runs the offline matrix once.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("templates"),
]  # three answer sets rendered, the offline matrix run


@pytest.fixture(scope="module")
def scaffolded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Path]]:
    """Each answer set's three repos: answer set -> role -> path."""
    sets = {}
    for name, config_path in sorted(ANSWER_SETS.items()):
        dest = tmp_path_factory.mktemp(f"platform-{name}")
        with pytest.MonkeyPatch.context() as mp:
            for k, v in GIT_IDENTITY.items():
                mp.setenv(k, v)
            assert main(["scaffold", "--config", str(config_path), "--dest", str(dest)]) == 0
        config = load_config(config_path)
        paths = {role.value: dest / repo.destination for role, repo in config.repos.items()}
        paths["config"] = config_path
        sets[name] = paths
    return sets


@pytest.fixture(scope="module", params=sorted(ANSWER_SETS))
def platform(
    request: pytest.FixtureRequest, scaffolded: dict[str, dict[str, Path]]
) -> dict[str, Path]:
    """The three repos scaffolded from one answer set: role -> path."""
    return scaffolded[request.param]


@pytest.fixture(scope="module")
def matrix(scaffolded: dict[str, dict[str, Path]]) -> Report:
    """`gitops check`'s matrix over the nine repos in one run (so one checkov process), plus
    the generated apps repo's own tests once: its code and tests do not depend on the answers
    (test_the_apps_repo_code_is_the_same_for_every_answer_set keeps that true)."""
    repos = [detect(paths[role]) for paths in scaffolded.values() for role in ROLES]
    crd_dir = REFERENCE if REFERENCE.is_dir() else None
    checks = [name for name in check_names() if name != "app-tests"]
    with ThreadPoolExecutor(max_workers=2) as pool:
        everything = pool.submit(run_matrix, repos, crd_dir, only=checks)
        app_tests = pool.submit(
            run_matrix, [detect(scaffolded[APP_TESTS_SET]["apps"])], only=["app-tests"]
        )
        report = everything.result()
        tested = app_tests.result()
    report.results += tested.results
    return report


def _run(args: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {
        k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT"}
    }
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


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


@pytest.mark.slow
def test_gitops_check_passes_with_zero_findings(
    request: pytest.FixtureRequest, platform: dict[str, Path], matrix: Report
) -> None:
    """The whole offline matrix (gitops check) over the three repos, strictly: every tool ran and
    found nothing, including the generated apps repo's own tests and the Argo CD CRD schemas.
    terraform alone may be absent (an optional tool); checkov comes from .ci/run."""
    labels = {r.label: r.path for r in matrix.repos}
    mine = {platform[role].resolve() for role in ROLES}
    results = [r for r in matrix.results if labels[r.repo] in mine]
    crd_dir = REFERENCE if REFERENCE.is_dir() else None

    def allowed_skip(r: Result) -> bool:
        no_terraform = r.check == "terraform-fmt" and shutil.which("terraform") is None
        return no_terraform or (r.check == "argocd-crds" and crd_dir is None)

    problems = [
        f"{r.repo} / {r.check}: {r.status.value}: {r.findings or r.reason}"
        for r in results
        if r.status is Status.FAIL or (r.status is Status.SKIPPED and not allowed_skip(r))
    ]
    assert problems == []
    label = {path: name for name, path in labels.items()}
    ran = {(r.repo, r.check) for r in results}
    apps, deploy = label[platform["apps"].resolve()], label[platform["deploy"].resolve()]
    assert (deploy, "kubernetes-validate") in ran
    assert (deploy, "checkov") in ran
    if request.node.callspec.params["platform"] == APP_TESTS_SET:
        assert (apps, "app-tests") in ran


def test_the_apps_repo_code_is_the_same_for_every_answer_set(
    scaffolded: dict[str, dict[str, Path]],
) -> None:
    """Why the generated apps repo's own tests run for one answer set only: what they test
    (code, tests, lockfile, Dockerfile) is rendered the same whatever the answers."""

    def code(apps: Path) -> dict[str, bytes]:
        files = [
            p
            for part in APP_CODE
            for p in (
                [apps / part] if (apps / part).is_file() else sorted((apps / part).rglob("*"))
            )
        ]
        return {p.relative_to(apps).as_posix(): p.read_bytes() for p in files if p.is_file()}

    reference = code(scaffolded[APP_TESTS_SET]["apps"])
    assert "uv.lock" in reference
    assert any(k.startswith("tests/") for k in reference)
    for name, paths in scaffolded.items():
        assert code(paths["apps"]) == reference, name


@pytest.mark.parametrize("role", ["infra", "apps", "deploy"])
def test_pre_commit_configs_are_valid(platform: dict[str, Path], role: str) -> None:
    proc = _run(
        [str(BIN / "pre-commit"), "validate-config", ".pre-commit-config.yaml"], platform[role]
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_deploy_repo_has_one_application_per_service_and_environment(
    platform: dict[str, Path],
) -> None:
    config = load_config(platform["config"])
    deploy = platform["deploy"]
    yaml = YAML(typ="safe")
    apps = {p.stem: yaml.load(p.read_text()) for p in (deploy / "argocd" / "apps").glob("*.yaml")}
    expected = {
        f"{svc.name}-{env}"
        for svc in config.services
        for env in (svc.environments or config.environment_names)
    }
    assert expected <= set(apps), "an Application per service x environment"
    for position, env in enumerate(config.environments):
        for svc in config.services:
            name = f"{svc.name}-{env.name}"
            if name not in apps:
                continue
            app = apps[name]
            assert app["metadata"]["name"] == name
            assert app["spec"]["project"] != "default"
            assert app["spec"]["source"]["path"] == f"overlays/{env.name}/{svc.name}"
            assert app["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
            notes = app["metadata"]["annotations"]
            assert notes["gitops.platform/auto-rollback"] == "true"
            deadline = env.progress_deadline_s or (30 if position == 0 else 600)
            assert notes["gitops.platform/progress-deadline-seconds"] == str(deadline)
            overlay = yaml.load(
                (deploy / "overlays" / env.name / svc.name / "kustomization.yaml").read_text()
            )
            assert overlay["images"] == [
                {
                    "name": svc.name,
                    "newName": f"{config.registry}/{svc.name}",
                    "newTag": "unreleased",
                }
            ]
    for svc in config.services:
        for env in set(config.environment_names) - set(
            svc.environments or config.environment_names
        ):
            assert not (deploy / "overlays" / env / svc.name).exists(), "not deployed there"


def test_infra_ci_refuses_to_plan_or_apply_without_a_remote_backend(
    scaffolded: dict[str, dict[str, Path]], tmp_path: Path
) -> None:
    """`terraform init -backend-config=backend.hcl` with the `backend "s3"` block commented out
    silently uses local state: CI's init steps refuse that, run here by bash as the runner runs
    them, in a copy of the generated infra repo (as generated: no backend yet)."""
    infra = tmp_path / "infra"
    shutil.copytree(scaffolded[APP_TESTS_SET]["infra"], infra)
    workflow = YAML(typ="safe").load((infra / ".github" / "workflows" / "ci.yml").read_text())
    scripts = [
        step["run"]
        for job in workflow["jobs"].values()
        for step in job.get("steps", [])
        if "-backend-config=backend.hcl" in step.get("run", "")
    ]
    assert len(scripts) == 2, "plan and apply both init the remote backend"
    for script in scripts:
        done = subprocess.run(
            ["bash", "-e", "-c", script], cwd=infra, capture_output=True, text=True, check=False
        )
        assert done.returncode == 1, done.stdout + done.stderr
        assert "::error file=versions.tf::no remote backend configured" in done.stdout


def test_apps_ci_authenticates_by_client_id_and_may_record_attestations(
    platform: dict[str, Path],
) -> None:
    """create-github-app-token's `app-id` is deprecated for `client-id` (the App's client ID,
    a variable the infra repo sets beside the numeric ID its ruleset needs), and
    attest-build-provenance v4 records its storage with `artifact-metadata: write`."""
    workflow = YAML(typ="safe").load(
        (platform["apps"] / ".github" / "workflows" / "ci.yml").read_text()
    )
    steps = [(job, step) for job in workflow["jobs"].values() for step in job.get("steps", [])]
    [token] = [
        s for _, s in steps if s.get("uses", "").startswith("actions/create-github-app-token@")
    ]
    assert "app-id" not in token["with"]
    assert token["with"]["client-id"] == "${{ vars.DEPLOY_APP_CLIENT_ID }}"
    [attesting] = [
        j for j, s in steps if s.get("uses", "").startswith("actions/attest-build-provenance@")
    ]
    assert attesting["permissions"]["artifact-metadata"] == "write"
    github_tf = (platform["infra"] / "github.tf").read_text()
    assert 'variable_name = "DEPLOY_APP_CLIENT_ID"' in github_tf
    assert "DEPLOY_APP_ID" not in github_tf


def test_vulnerability_alerts_are_their_own_resource(platform: dict[str, Path]) -> None:
    """integrations/github 6.12 deprecates `github_repository.vulnerability_alerts` for the
    `github_repository_vulnerability_alerts` resource (read with python-hcl2, as `gitops check`
    reads the infra repo)."""
    import hcl2  # noqa: PLC0415 - from the optional `check` extra, as in gitops check

    with (platform["infra"] / "github.tf").open() as fh:
        github_tf = hcl2.load(fh)
    resources = {
        (kind.strip('"'), name.strip('"')): body
        for entry in github_tf["resource"]
        for kind, named in entry.items()
        for name, body in named.items()
    }
    assert "vulnerability_alerts" not in resources[("github_repository", "this")]
    alerts = resources[("github_repository_vulnerability_alerts", "this")]
    assert alerts["enabled"] is True
    assert alerts["for_each"] == "${local.repositories}"
    versions = (platform["infra"] / "versions.tf").read_text()
    assert 'version = "~> 6.12"' in versions
