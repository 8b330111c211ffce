"""`gitops promote` against real git: a bare "remote", clones, and a real concurrent push."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import console.promote.promote as promote_module
from console.cli import main
from console.fleet.history import log
from console.kustomize import build
from tests.helpers import run_git

OVERLAY = """\
# {env} overlay for {service}: CI pins the image below.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../../base/{service}
namespace: {env}
images:
  # newTag is the full commit SHA the apps CI built.
  - name: {service}
    newName: registry.example.com/{service}
    newTag: "unreleased"  # until the first promotion
"""
BIN = Path(sys.executable).parent
GOOD = "1111111111111111111111111111111111111111"
BAD = "2222222222222222222222222222222222222222"


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    """A bare deploy repo with overlays for backend and frontend in dev and prod."""
    seed = tmp_path / "seed"
    for env in ("dev", "prod"):
        for service in ("backend", "frontend"):
            path = seed / "overlays" / env / service / "kustomization.yaml"
            path.parent.mkdir(parents=True)
            path.write_text(OVERLAY.format(env=env, service=service))
    run_git(seed, "init", "--quiet", "--initial-branch", "main")
    run_git(seed, "add", "--all")
    run_git(seed, "commit", "--quiet", "-m", "chore: seed")
    bare = tmp_path / "deploy.git"
    run_git(tmp_path, "clone", "--quiet", "--bare", str(seed), str(bare))
    return bare


def clone(remote: Path, dest: Path) -> Path:
    run_git(remote.parent, "clone", "--quiet", str(remote), str(dest))
    return dest


def tag_in(remote: Path, env: str, service: str) -> str:
    text = run_git(remote, "show", f"main:overlays/{env}/{service}/kustomization.yaml")
    return text.split("newTag: ")[1].split()[0].strip('"')


def test_promote_pushes_one_commit_with_trailers_and_keeps_comments(
    remote: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "promote",
            "--deploy-repo",
            str(remote),
            "--env",
            "dev",
            "--service",
            "backend",
            "--tag",
            GOOD,
            "--push",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"promoted backend unreleased -> {GOOD} in dev" in out
    head = log(remote, "main")[0]
    assert head.subject == "chore(deploy): promote backend 1111111 to dev"
    assert head.trailer("Promoted-Service") == "backend"
    assert head.trailer("Promoted-Tag") == GOOD
    assert head.trailer("Source-Commit") == GOOD
    text = run_git(remote, "show", "main:overlays/dev/backend/kustomization.yaml")
    assert text == OVERLAY.format(env="dev", service="backend").replace(
        'newTag: "unreleased"  #', f'newTag: "{GOOD}" #'
    ), "only the tag changed: comments, order and quoting are kept"
    changed = run_git(remote, "show", "--name-only", "--format=", "main").split()
    assert changed == ["overlays/dev/backend/kustomization.yaml"]


def test_promoting_what_is_already_there_is_a_no_op(
    remote: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "promote",
        "--deploy-repo",
        str(remote),
        "--env",
        "dev",
        "--service",
        "backend",
        "--tag",
        GOOD,
        "--push",
    ]
    assert main(args) == 0
    before = run_git(remote, "rev-parse", "main")
    capsys.readouterr()
    assert main(args) == 0
    assert "backend in dev is already at" in capsys.readouterr().out
    assert run_git(remote, "rev-parse", "main") == before, "no empty commit"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--env", "staging", "--service", "backend", "--tag", GOOD],
            "unknown environment 'staging' (overlays: dev, prod)",
        ),
        (
            ["--env", "dev", "--service", "db", "--tag", GOOD],
            "unknown service 'db' in dev (services: backend, frontend)",
        ),
        (
            ["--env", "dev", "--service", "backend", "--tag", "bad tag!"],
            "'bad tag!' is not a valid image tag",
        ),
    ],
)
def test_bad_requests_exit_2_and_change_nothing(
    remote: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    before = run_git(remote, "rev-parse", "main")
    assert main(["promote", "--deploy-repo", str(remote), *args, "--push"]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
    assert run_git(remote, "rev-parse", "main") == before


def test_several_services_are_promoted_in_one_commit(
    remote: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--service` repeated: one commit (one push, one check by the remote) with a group of
    trailers per service; a service already at the tag is left out of it."""
    base = ["promote", "--deploy-repo", str(remote), "--env", "dev", "--push"]
    assert main([*base, "--service", "frontend", "--tag", BAD]) == 0
    before = run_git(remote, "rev-parse", "main").strip()
    capsys.readouterr()

    assert main([*base, "--service", "backend", "--service", "frontend", "--tag", GOOD]) == 0
    out = capsys.readouterr().out
    assert f"promoted backend unreleased -> {GOOD} in dev" in out
    assert f"promoted frontend {BAD} -> {GOOD} in dev" in out
    assert run_git(remote, "rev-parse", "main~1").strip() == before, "one commit"
    head = log(remote, "main")[0]
    assert head.subject == "chore(deploy): promote backend, frontend 1111111 to dev"
    assert head.trailers == (
        ("Promoted-Service", "backend"),
        ("Promoted-Tag", GOOD),
        ("Source-Commit", GOOD),
        ("Promoted-Service", "frontend"),
        ("Promoted-Tag", GOOD),
        ("Source-Commit", GOOD),
    )
    changed = run_git(remote, "show", "--name-only", "--format=", "main").split()
    assert changed == [
        "overlays/dev/backend/kustomization.yaml",
        "overlays/dev/frontend/kustomization.yaml",
    ]

    # backend is there already: the commit promotes frontend alone.
    assert main([*base, "--service", "frontend", "--tag", BAD]) == 0
    capsys.readouterr()
    assert main([*base, "--service", "backend", "--service", "frontend", "--tag", GOOD]) == 0
    out = capsys.readouterr().out
    assert f"backend in dev is already at {GOOD}: nothing to do" in out
    assert f"promoted frontend {BAD} -> {GOOD} in dev" in out
    head = log(remote, "main")[0]
    assert head.subject == "chore(deploy): promote frontend 1111111 to dev"
    assert [v for k, v in head.trailers if k == "Promoted-Service"] == ["frontend"]


def test_several_services_from_an_environment_name_each_tag(
    remote: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    work = clone(remote, tmp_path / "work")
    base = ["promote", "--deploy-repo", str(work)]
    assert main([*base, "--env", "dev", "--service", "backend", "--tag", GOOD]) == 0
    assert main([*base, "--env", "dev", "--service", "frontend", "--tag", BAD]) == 0
    both = ["--service", "backend", "--service", "frontend"]
    assert main([*base, "--env", "prod", *both, "--from-env", "dev"]) == 0
    head = log(work)[0]
    assert head.subject == "chore(deploy): promote backend 1111111, frontend 2222222 to prod"
    assert head.trailers == (
        ("Promoted-Service", "backend"),
        ("Promoted-Tag", GOOD),
        ("Promoted-From", "dev"),
        ("Source-Commit", GOOD),
        ("Promoted-Service", "frontend"),
        ("Promoted-Tag", BAD),
        ("Promoted-From", "dev"),
        ("Source-Commit", BAD),
    )
    assert (
        tag_in(work / ".git", "prod", "backend"),
        tag_in(work / ".git", "prod", "frontend"),
    ) == (
        GOOD,
        BAD,
    )


@pytest.mark.parametrize(
    ("services", "message"),
    [
        (["backend", "db"], "unknown service 'db' in dev"),
        (["backend", "backend"], "service 'backend' is named more than once"),
    ],
)
def test_a_bad_service_among_several_changes_nothing(
    remote: Path, capsys: pytest.CaptureFixture[str], services: list[str], message: str
) -> None:
    before = run_git(remote, "rev-parse", "main")
    args = [arg for service in services for arg in ("--service", service)]
    cmd = ["promote", "--deploy-repo", str(remote), "--env", "dev", *args, "--tag", GOOD]
    assert main([*cmd, "--push"]) == 2
    assert message in capsys.readouterr().err
    assert run_git(remote, "rev-parse", "main") == before
    assert tag_in(remote, "dev", "backend") == "unreleased"


def test_from_env_promotes_what_the_previous_environment_runs(
    remote: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    work = clone(remote, tmp_path / "work")
    base = ["promote", "--deploy-repo", str(work), "--service", "frontend"]
    assert main([*base, "--env", "dev", "--tag", GOOD]) == 0
    assert main([*base, "--env", "prod", "--from-env", "dev"]) == 0
    head = log(work)[0]
    assert head.subject == "chore(deploy): promote frontend 1111111 to prod"
    assert head.trailer("Promoted-From") == "dev"
    assert "committed locally" in capsys.readouterr().out
    assert tag_in(remote, "prod", "frontend") == "unreleased", "without --push nothing is pushed"


def test_a_concurrent_push_is_absorbed_by_fetch_rebase_retry(
    remote: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Another writer pushes between our fetch and our push (a real push to the same bare repo);
    our push is rejected, we fetch, re-apply on the new tip and push again."""
    other = clone(remote, tmp_path / "other")
    real_plan = promote_module.plan
    raced = []

    def plan_with_a_rival(repo: Path, req: promote_module.PromoteRequest):  # type: ignore[no-untyped-def]
        if not raced:
            raced.append(True)
            assert (
                main(
                    [
                        "promote",
                        "--deploy-repo",
                        str(other),
                        "--env",
                        "dev",
                        "--service",
                        "frontend",
                        "--tag",
                        BAD,
                        "--push",
                    ]
                )
                == 0
            )
        return real_plan(repo, req)

    monkeypatch.setattr(promote_module, "plan", plan_with_a_rival)
    delays: list[float] = []
    outcome = promote_module.promote(
        str(remote),
        promote_module.PromoteRequest(service="backend", env="dev", tag=GOOD),
        push=True,
        sleep=delays.append,
    )
    assert outcome.attempts == 2
    assert len(delays) == 1, "one backoff"
    assert 0.1 <= delays[0] <= 0.3, "jittered around 0.2 s"
    subjects = [c.subject for c in log(remote, "main")]
    assert subjects[:2] == [
        "chore(deploy): promote backend 1111111 to dev",
        "chore(deploy): promote frontend 2222222 to dev",
    ], "both promotions landed, linear"
    assert tag_in(remote, "dev", "frontend") == BAD
    assert tag_in(remote, "dev", "backend") == GOOD


def test_a_tag_marked_bad_by_a_rollback_is_refused_unless_forced(
    remote: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    work = clone(remote, tmp_path / "work")
    promote_args = ["promote", "--deploy-repo", str(work), "--env", "dev", "--service", "backend"]
    assert main([*promote_args, "--tag", GOOD]) == 0
    good_commit = run_git(work, "rev-parse", "HEAD").strip()
    assert main([*promote_args, "--tag", BAD]) == 0
    bad_commit = run_git(work, "rev-parse", "HEAD").strip()
    # The rollback a guard (or an operator) writes: restore the path, record why.
    run_git(work, "checkout", good_commit, "--", "overlays/dev/backend")
    run_git(
        work,
        "commit",
        "--quiet",
        "-m",
        f"revert(backend-dev): roll back {bad_commit[:7]} to {good_commit[:7]}\n\n"
        f"Rollback-Of: {bad_commit}\nRollback-To: {good_commit}\nRollback-App: backend-dev\n"
        "Rollback-Reason: Degraded: readiness probe failed for 30s",
    )
    capsys.readouterr()
    assert main([*promote_args, "--tag", BAD]) == 2
    err = capsys.readouterr().err
    assert f"backend:{BAD} was rolled back by" in err
    assert "Degraded: readiness probe failed for 30s" in err
    assert "--force" in err
    # The same tag in another environment's app is refused too: the image is what is bad.
    assert (
        main(
            [
                "promote",
                "--deploy-repo",
                str(work),
                "--env",
                "prod",
                "--service",
                "backend",
                "--tag",
                BAD,
            ]
        )
        == 2
    )
    assert main([*promote_args, "--tag", BAD, "--force"]) == 0
    assert tag_in(work / ".git", "dev", "backend") == BAD


def test_a_url_needs_push_and_credentials_are_never_printed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = "https://ci:s3cr3t-token@127.0.0.1:9/acme/deploy.git"
    assert (
        main(["promote", "--deploy-repo", url, "--env", "dev", "--service", "b", "--tag", GOOD])
        == 2
    )
    err = capsys.readouterr().err
    assert "is not a local work tree; add --push" in err
    assert (
        main(
            [
                "promote",
                "--deploy-repo",
                url,
                "--env",
                "dev",
                "--service",
                "b",
                "--tag",
                GOOD,
                "--push",
            ]
        )
        == 2
    )
    err += capsys.readouterr().err
    assert "cannot clone https://***@127.0.0.1:9/acme/deploy.git" in err
    assert "s3cr3t" not in err


@pytest.mark.slow
def test_promotion_in_a_generated_deploy_repo_renders_and_stays_lint_clean(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real generated overlay: the edited file is still yamllint-clean and Kustomize renders
    the promoted image."""
    assert main(["scaffold", "--config", str(root / "repos.yaml"), "--dest", str(tmp_path)]) == 0
    deploy = tmp_path / "deploy-repo"
    assert (
        main(
            [
                "promote",
                "--deploy-repo",
                str(deploy),
                "--env",
                "dev",
                "--service",
                "backend",
                "--tag",
                GOOD,
            ]
        )
        == 0
    )
    overlay = "overlays/dev/backend/kustomization.yaml"
    diff = run_git(deploy, "show", "--format=", "-U0", "HEAD", "--", overlay)
    changed = [ln for ln in diff.splitlines() if ln[:1] in "+-" and ln[:3] not in ("+++", "---")]
    assert changed == ['-    newTag: "unreleased"', f'+    newTag: "{GOOD}"']
    lint = subprocess.run(
        [str(BIN / "yamllint"), "--strict", overlay],
        cwd=deploy,
        capture_output=True,
        text=True,
        check=False,
    )
    assert lint.returncode == 0, lint.stdout
    rendered = build(deploy / "overlays" / "dev" / "backend")
    assert f"image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/backend:{GOOD}" in rendered
