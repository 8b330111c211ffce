"""`gitops console`'s flags: targets in order, each option with the target before it, and every
mistake one line on stderr with exit 2, before any screen opens."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from console.cli import build_parser, main
from console.commands.console import targets
from console.commands.placing import from_args
from console.fleet.placement import Placing
from console.local.last_workspace import remember


@pytest.fixture
def token(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text("a-token-0123456789\n")
    path.chmod(0o600)  # as a token file should be: a wider one gets a warning line
    return path


@pytest.fixture
def workspace(tmp_path: Path, token: Path) -> Path:
    root = tmp_path / "ws"
    (root / "guard").mkdir(parents=True)
    doc = {
        "argocd_url": "http://127.0.0.1:1",
        "token_file": str(token),
        "remotes": {"deploy": str(tmp_path / "deploy.git")},
        "services": {"backend-dev": "http://127.0.0.1:2"},
        "guard_events": str(root / "guard" / "events.jsonl"),
    }
    (root / "platform.json").write_text(json.dumps(doc))
    return root


def fails(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["console", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err  # one line, no traceback
    return err.strip()


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        ([], "no workspace known: run `gitops up --workspace DIR`"),
        (["--workspace", "/nonexistent/ws"], "/nonexistent/ws: no such workspace directory"),
        (["--token-file", "F"], "--token-file goes after the --argocd it is for"),
        (["--context", "c", "--token-file", "F"], "--token-file goes after the --argocd"),
        (["--argocd", "https://argo.example"], "--argocd https://argo.example needs its"),
        (["--kubeconfig", "k"], "--kubeconfig goes after the --context it is for"),
    ],
)
def test_bad_flags(argv: list[str], line: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert line in fails(argv, capsys)


def test_bad_files(token: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope"
    assert "cannot read the token file" in fails(
        ["--argocd", "https://argo.example", "--token-file", str(missing)], capsys
    )
    assert "not an http(s)://HOST[:PORT] URL" in fails(
        ["--argocd", "argo.example", "--token-file", str(token)], capsys
    )
    assert f"cannot load the CA bundle {missing}" in fails(
        ["--argocd", "https://argo.example", "--token-file", str(token), "--ca", str(missing)],
        capsys,
    )
    assert "given twice" in fails(
        ["--argocd", "https://a.example", "--token-file", str(token), "--token-file", "x"],
        capsys,
    )


def test_several_targets_in_order(workspace: Path, token: Path) -> None:
    args = build_parser().parse_args(
        [
            "console",
            "--workspace",
            str(workspace),
            "--argocd",
            "https://argo.example:8443",
            "--token-file",
            str(token),
            "--insecure",
            "--deploy-repo",
            "https://git.example/deploy.git",
            "--argocd",
            "https://argo.example:8443",
            "--token-file",
            str(token),
        ]
    )
    found = targets(args)
    assert [(t.name, t.kind) for t in found] == [
        ("ws", "workspace"),
        ("argo.example:8443", "argocd"),
        ("argo.example:8443#2", "argocd"),
    ]
    ws, argo, _ = found
    assert ws.guard_events == workspace / "guard" / "events.jsonl"
    assert ws.services == {"backend-dev": "http://127.0.0.1:2"}
    assert argo.deploy_repo == "https://git.example/deploy.git"
    assert ws.why_no_sync is None


def test_the_last_workspace_is_the_default(workspace: Path) -> None:
    remember(workspace)
    args = build_parser().parse_args(["console", "--deploy-repo", "/srv/deploy.git"])
    (found,) = targets(args)
    assert (found.name, found.deploy_repo) == ("ws", "/srv/deploy.git")


def test_where_apps_without_labels_sit(
    workspace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--env`, `--map-env` and `--app-map` anywhere among the targets (they are the fleet's,
    not a target's); a wrong one is one line and exit 2, before any screen opens."""
    app_map = tmp_path / "apps.yaml"
    app_map.write_text("apps: {old-billing: {service: billing, env: prod}}\n")
    flags = ["--map-env", "prd=prod", "--env", "uat", "--app-map", str(app_map)]
    args = build_parser().parse_args(["console", "--workspace", str(workspace), *flags])
    assert [t.name for t in targets(args)] == ["ws"]
    assert from_args(args) == Placing(
        apps={"old-billing": ("billing", "prod")},
        envs={"prd": "prod"},
        names=frozenset({"uat"}),
    )
    ws = ["--workspace", str(workspace)]
    assert fails([*ws, "--map-env", "prd"], capsys) == (
        "gitops: error: --map-env 'prd': expected NAMESPACE=ENV (or SUFFIX=ENV)"
    )
    app_map.write_text("apps: {old-billing: billing}\n")
    assert fails([*ws, "--app-map", str(app_map)], capsys) == (
        f"gitops: error: {app_map}: apps.old-billing: expected a mapping"
    )
