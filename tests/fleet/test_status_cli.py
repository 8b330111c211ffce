"""`gitops status` as a user runs it (`console.cli.main`), against the embedded platform's
Argo-CD-compatible API (real HTTP on 127.0.0.1, `console.local.argo.api` over an InMemorySource
holding full-shape Applications), real `/version` servers and a real deploy repo: the exact
JSON, the table, the three kinds of target, and every error as one line with exit 2."""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from console.cli import main
from console.local.argo.inmemory import InMemorySource
from console.local.argo.kubeconfig import write_kubeconfig, write_token_file
from console.local.kube.pods import free_port
from console.local.last_workspace import remember
from tests.fleet import byo_data
from tests.fleet.status_data import (
    SHA3,
    SHA_A,
    SHA_B,
    SHA_C,
    VersionServer,
    deploy_repo,
    fleet,
    list_answer,
    records,
    serving,
)
from tests.fleet.support import Answer, Server
from tests.local.test_api import SCHEMAS

TOKEN = "status-test-token-0123456789"  # noqa: S105 - a test token, served only on 127.0.0.1
LIST = "/api/v1/applications"
IMG = "registry.local:5000/acme"


def _row(name: str, **fields: Any) -> dict[str, Any]:
    service, _, env = name.partition("-")
    return {
        "name": name,
        "namespace": "argocd",
        "project": "acme-platform",
        "service": service,
        "env": env,
        **fields,
        "analysis": None,  # no guard's events in this workspace
        "placed_by": "labels",
    }


# What `gitops status --workspace WS --json` prints for the fleet of status_data, in order.
EXPECTED: dict[str, Any] = {
    "apps": [
        _row(
            "backend-dev",
            sync="Synced",
            health="Healthy",
            revision=SHA_A,
            images=[f"{IMG}/backend:{SHA_A}"],
            live_version=SHA_A,  # its /version's revision
            deployed_at="2026-08-01T11:57:00Z",
            auto_sync=True,
            rollbacks=0,
        ),
        _row(
            "backend-staging",
            sync="OutOfSync",
            health="Progressing",
            revision=SHA_B,
            images=[f"{IMG}/backend:{SHA_A}"],
            live_version="0.1.0",  # revision "unknown": its version instead
            deployed_at="2026-08-01T10:00:00Z",
            auto_sync=True,
            rollbacks=0,
        ),
        _row(
            "backend-prod",
            sync="Synced",
            health="Degraded",
            revision=SHA_C,
            images=[f"{IMG}/backend:{SHA_C}", f"{IMG}/sidecar:1.4.2"],
            live_version=None,  # no Service URL for it in platform.json
            deployed_at="2026-07-29T12:00:00Z",
            auto_sync=False,
            rollbacks=2,
        ),
        _row(
            "frontend-dev",
            sync="Unknown",
            health="Suspended",
            revision=SHA_A,
            images=[f"{IMG}/frontend:{SHA_A}"],
            live_version=None,  # its Service refuses connections
            deployed_at="2026-08-01T11:59:15Z",
            auto_sync=False,
            rollbacks=1,
        ),
        _row(
            "frontend-prod",
            sync="OutOfSync",
            health="Missing",
            revision=SHA_C,
            images=[],
            live_version=None,
            deployed_at=None,
            auto_sync=True,
            rollbacks=0,
        ),
        _row(
            "payments-prod",
            project="payments",
            sync="OutOfSync",
            health="Unknown",
            # The embedded API keeps one sync revision; Argo CD's `revisions` are read in
            # test_any_argo_cd_answer_with_flags.
            revision=None,
            images=["registry.example.com/payments@sha256:" + "d" * 64],
            live_version=None,
            deployed_at="2026-08-01T11:58:00Z",
            auto_sync=True,
            rollbacks=0,
        ),
        {
            "name": "root",
            "namespace": "argocd",
            "project": "acme-control",
            "service": None,
            "env": None,
            "sync": "Unknown",
            "health": "Unknown",
            "revision": None,
            "images": [],
            "live_version": None,
            "deployed_at": None,
            "auto_sync": False,
            "rollbacks": 0,
            "analysis": None,
            "placed_by": None,
        },
    ]
}


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["status", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _fails(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """The one line a failing `gitops status` prints (exit 2, nothing on stdout)."""
    code, out, err = _run(capsys, *argv)
    assert (code, out) == (2, ""), err
    assert err.endswith("\n")
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    return err.removesuffix("\n")


@pytest.fixture(autouse=True)
def _quiet_api_server() -> Iterator[None]:
    """The embedded API runs in this process and logs its start to the stderr under test: let
    only its warnings through (a filter on the logger outlives hypercorn's own setup)."""
    logger = logging.getLogger("hypercorn.error")

    def warnings_only(record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING

    logger.addFilter(warnings_only)
    yield
    logger.removeFilter(warnings_only)


@pytest.fixture
def api() -> Iterator[Server]:
    server = Server(InMemorySource(records()), TOKEN).start()
    yield server
    server.stop()


@pytest.fixture
def services() -> Iterator[dict[str, VersionServer]]:
    """The Services that answer `/version`: backend-dev fully, backend-staging without its
    build revision (unset build metadata reads "unknown")."""
    dev = {
        "service": "backend",
        "kind": "backend",
        "version": "0.1.0",
        "revision": SHA_A,
        "image": f"{IMG}/backend:{SHA_A}",
        "built_at": "2026-08-01T11:50:00Z",
        "environment": "dev",
    }
    staging = {"service": "backend", "version": "0.1.0", "revision": "unknown"}
    with (
        serving(VersionServer((200, dev))) as dev_server,
        serving(VersionServer((200, staging))) as staging_server,
    ):
        yield {"backend-dev": dev_server, "backend-staging": staging_server}


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    return write_token_file(tmp_path / "token", TOKEN)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return deploy_repo(tmp_path / "deploy")


def _platform_json(
    ws: Path, api_url: str, token_file: Path, deploy: Path, services: dict[str, str]
) -> None:
    ws.mkdir(exist_ok=True)
    doc = {
        "argocd_url": api_url,
        "token_file": str(token_file),
        "kubeconfig": str(ws / "kubeconfig"),
        "remotes": {"infra": "/nowhere/infra", "apps": "/nowhere/apps", "deploy": str(deploy)},
        "services": services,
        "pid": 1,
    }
    (ws / "platform.json").write_text(json.dumps(doc), encoding="utf-8")


@pytest.fixture
def workspace(
    tmp_path: Path,
    api: Server,
    token_file: Path,
    repo: Path,
    services: dict[str, VersionServer],
) -> Path:
    """A workspace as `gitops up` leaves it: platform.json names the API, the token, the
    deploy remote and the Services (keyed `<service>-<namespace>`)."""
    urls = {name: server.url for name, server in services.items()}
    urls["frontend-dev"] = f"http://127.0.0.1:{free_port()}"  # refuses connections
    _platform_json(tmp_path / "ws", api.url, token_file, repo, urls)
    return tmp_path / "ws"


# --- reading the fleet -----------------------------------------------------------------------


def test_json_from_the_embedded_platform(
    capsys: pytest.CaptureFixture[str], workspace: Path, services: dict[str, VersionServer]
) -> None:
    code, out, err = _run(capsys, "--workspace", str(workspace), "--json")
    assert (code, err) == (0, "")
    assert json.loads(out) == EXPECTED
    assert [s.paths for s in services.values()] == [["/version"], ["/version"]]


def test_table_from_the_embedded_platform(
    capsys: pytest.CaptureFixture[str], workspace: Path
) -> None:
    code, out, err = _run(capsys, "--workspace", str(workspace))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split("  ")[0] == "APP"
    assert " ".join(lines[0].split()) == (
        "APP ENV SYNC HEALTH REVISION IMAGE TAG LIVE DEPLOYED AUTO-SYNC ROLLBACKS"
    )
    # Columns start where their header does.
    live = lines[0].index("LIVE")
    assert [(line.split()[0], line[live:].split()[0]) for line in lines[1:]] == [
        ("backend-dev", "aaaaaaa"),
        ("backend-staging", "0.1.0"),
        ("backend-prod", "-"),
        ("frontend-dev", "-"),
        ("frontend-prod", "-"),
        ("payments-prod", "-"),
        ("root", "-"),
    ]
    assert "✗ Degraded" in lines[3]


def test_default_is_the_workspace_up_used_last(
    capsys: pytest.CaptureFixture[str], workspace: Path
) -> None:
    assert _fails(capsys) == (
        "gitops: error: no workspace known: run `gitops up --workspace DIR`, "
        "or pass --workspace, --argocd or --context"
    )
    remember(workspace)
    code, out, _ = _run(capsys, "--json")
    assert code == 0
    assert json.loads(out) == EXPECTED


def test_any_argo_cd_answer_with_flags(
    capsys: pytest.CaptureFixture[str], token_file: Path, repo: Path
) -> None:
    """An Argo CD's own answer, as it is: `sources`/`revisions`, an app without a status.
    No Service URLs outside a workspace: no live versions. The deploy repo by URL."""

    def argo_cd(scope: dict[str, Any]) -> Answer:
        return (200, list_answer(fleet()), "application/json") if scope["path"] == LIST else None

    server = Server(InMemorySource(), TOKEN, argo_cd).start()
    try:
        code, out, err = _run(
            capsys,
            *("--argocd", server.url, "--token-file", str(token_file)),
            *("--deploy-repo", repo.as_uri(), "--json"),
        )
    finally:
        server.stop()
    assert (code, err) == (0, "")
    expected = copy.deepcopy(EXPECTED)
    for row in expected["apps"]:
        row["live_version"] = None
        if row["name"] == "payments-prod":
            row["revision"] = SHA3  # the Git source's, not the chart's "7.3.4"
    assert json.loads(out) == expected


def test_an_argo_cd_without_the_platforms_labels(
    capsys: pytest.CaptureFixture[str], token_file: Path, tmp_path: Path
) -> None:
    """Bring your own Argo CD: its full-shape answer (swagger-valid Applications without the
    platform's labels) read by `gitops status`, service and env derived as the console's
    matrix derives them (console.fleet.placement); `--map-env prd=prod` says what `prd`
    means; Argo CD itself and the add-ons keep no environment."""
    for doc in [*byo_data.us(), *byo_data.eu()]:
        SCHEMAS.check(doc, "v1alpha1Application")
    answers = {"us": byo_data.us(), "eu": byo_data.eu()}
    expected = {"us": byo_data.EXPECTED_US, "eu": byo_data.EXPECTED_EU}
    for region, docs in answers.items():

        def argo_cd(scope: dict[str, Any], docs: list[dict[str, Any]] = docs) -> Answer:
            return (200, list_answer(docs), "application/json") if scope["path"] == LIST else None

        server = Server(InMemorySource(), TOKEN, argo_cd).start()
        try:
            argo = ("--argocd", server.url, "--token-file", str(token_file))
            code, out, err = _run(capsys, *argo, "--map-env", "prd=prod", "--json")
            table = _run(capsys, *argo, "--map-env", "prd=prod")[1]
            unmapped = json.loads(_run(capsys, *argo, "--json")[1])["apps"]
        finally:
            server.stop()
        assert (code, err) == (0, "")
        rows = json.loads(out)["apps"]
        placed = {r["name"]: (r["service"], r["env"]) if r["service"] else None for r in rows}
        assert placed == expected[region]
        assert {r["placed_by"] for r in rows if r["service"]} <= {"name", "namespace", "map"}
        assert {r["placed_by"] for r in rows if not r["service"]} == {None}
        # Sorted as the platform's rows: by service, environment in promotion order; the
        # apps without one last.
        assert [r["name"] for r in rows][-1] == max(
            n for n, where in expected[region].items() if where is None
        )
        assert len(table.splitlines()) == len(rows) + 1
        if region == "us":  # without the mapping, `prd` is no environment
            by_name = {r["name"]: (r["service"], r["env"]) for r in unmapped}
            assert by_name["billing-prd"] == by_name["invoices"] == (None, None)
            assert by_name["ledger"] == ("ledger", "prod")


def test_placement_flags_that_are_wrong_are_one_line(
    capsys: pytest.CaptureFixture[str], token_file: Path, tmp_path: Path
) -> None:
    argo = ("--argocd", "http://127.0.0.1:9", "--token-file", str(token_file))
    assert _fails(capsys, *argo, "--map-env", "prd") == (
        "gitops: error: --map-env 'prd': expected NAMESPACE=ENV (or SUFFIX=ENV)"
    )
    bad = tmp_path / "map.yaml"
    bad.write_text("apps: {old: {service: billing}}\n")
    assert _fails(capsys, *argo, "--app-map", str(bad)) == (
        f"gitops: error: {bad}: apps.old.env: expected a name"
    )


def test_a_kubeconfig_context(
    capsys: pytest.CaptureFixture[str], api: Server, tmp_path: Path
) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", api.url, TOKEN, context="local")
    code, out, err = _run(capsys, "--context", "local", "--kubeconfig", str(kubeconfig), "--json")
    assert (code, err) == (0, "")
    rows = json.loads(out)["apps"]
    assert [row["name"] for row in rows] == [row["name"] for row in EXPECTED["apps"]]
    assert {row["rollbacks"] for row in rows} == {None}  # no deploy repo named


def test_an_empty_fleet(capsys: pytest.CaptureFixture[str], token_file: Path) -> None:
    server = Server(InMemorySource(), TOKEN).start()
    try:
        argo = ("--argocd", server.url, "--token-file", str(token_file))
        assert _run(capsys, *argo) == (0, "no applications\n", "")
        assert _run(capsys, *argo, "--json") == (0, '{\n  "apps": []\n}\n', "")
    finally:
        server.stop()


# --- errors: one line, exit 2 ----------------------------------------------------------------


def test_a_rejected_token(
    capsys: pytest.CaptureFixture[str], api: Server, tmp_path: Path, workspace: Path
) -> None:
    wrong = write_token_file(tmp_path / "wrong", "not-the-token")
    line = f"gitops: error: token rejected by Argo CD at {api.url}"
    assert _fails(capsys, "--argocd", api.url, "--token-file", str(wrong)) == line
    token_file = Path(json.loads((workspace / "platform.json").read_text())["token_file"])
    token_file.unlink()
    write_token_file(token_file, "stale-token-of-an-earlier-run")
    assert _fails(capsys, "--workspace", str(workspace)) == line


def test_forbidden_reads_as_a_rejected_token(
    capsys: pytest.CaptureFixture[str], token_file: Path
) -> None:
    def forbid(scope: dict[str, Any]) -> Answer:
        return (403, b'{"message": "permission denied", "code": 7}', "application/json")

    server = Server(InMemorySource(), TOKEN, forbid).start()
    try:
        assert _fails(capsys, "--argocd", server.url, "--token-file", str(token_file)) == (
            f"gitops: error: token rejected by Argo CD at {server.url}"
        )
    finally:
        server.stop()


def test_unreachable_and_tls(
    capsys: pytest.CaptureFixture[str], api: Server, token_file: Path
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert _fails(capsys, "--argocd", url, "--token-file", str(token_file)) == (
        f"gitops: error: cannot reach Argo CD at {url}: Connection refused"
    )
    https = api.url.replace("http://", "https://")  # TLS to a plain-HTTP server
    assert _fails(capsys, "--argocd", https, "--token-file", str(token_file)).startswith(
        f"gitops: error: TLS error talking to Argo CD at {https}: "
    )
    assert _fails(
        capsys, "--argocd", https, "--token-file", str(token_file), "--ca", "/nonexistent.pem"
    ) == ("gitops: error: cannot load the CA bundle /nonexistent.pem: No such file or directory")


@pytest.mark.parametrize(
    ("body", "content_type", "problem"),
    [
        (
            json.dumps({"items": [{"metadata": {"name": "a"}}, {"metadata": {}}]}).encode(),
            "application/json",
            "items[1].metadata.name: missing",
        ),
        (b"<html>login</html>", "text/html", "not JSON (text/html)"),
        (
            json.dumps(
                {"items": [{"metadata": {"name": "a"}, "status": {"history": {}}}]}
            ).encode(),
            "application/json",
            "items[0].status.history: expected a list",
        ),
    ],
)
def test_a_malformed_answer(
    capsys: pytest.CaptureFixture[str],
    token_file: Path,
    body: bytes,
    content_type: str,
    problem: str,
) -> None:
    def broken(scope: dict[str, Any]) -> Answer:
        return (200, body, content_type) if scope["path"] == LIST else None

    server = Server(InMemorySource(), TOKEN, broken).start()
    try:
        assert _fails(capsys, "--argocd", server.url, "--token-file", str(token_file)) == (
            f"gitops: error: malformed answer from {server.url}: {problem}"
        )
    finally:
        server.stop()


def test_workspace_problems(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, api: Server, token_file: Path
) -> None:
    missing = tmp_path / "missing"
    assert _fails(capsys, "--workspace", str(missing)) == (
        f"gitops: error: {missing}: no such workspace directory"
    )
    stopped = tmp_path / "stopped"
    stopped.mkdir()
    assert _fails(capsys, "--workspace", str(stopped)) == (
        f"gitops: error: {stopped}/platform.json: not found; "
        f"is `gitops up --workspace {stopped}` running?"
    )
    (stopped / "platform.json").write_text('{"argocd_url": "http://x"}')
    assert _fails(capsys, "--workspace", str(stopped)) == (
        f"gitops: error: {stopped}/platform.json: not a platform.json (KeyError: 'token_file')"
    )
    _platform_json(stopped, "garbage", token_file, tmp_path / "deploy", {})
    assert _fails(capsys, "--workspace", str(stopped)) == (
        f"gitops: error: {stopped}/platform.json: argocd_url garbage: "
        "not an http(s)://HOST[:PORT] URL"
    )
    _platform_json(stopped, api.url, tmp_path / "no-token", tmp_path / "deploy", {})
    assert _fails(capsys, "--workspace", str(stopped)) == (
        f"gitops: error: {tmp_path}/no-token: cannot read the token file: No such file or directory"
    )
    _platform_json(stopped, api.url, token_file, tmp_path / "no-deploy", {})
    assert _fails(capsys, "--workspace", str(stopped)) == (
        f"gitops: error: cannot read the deploy repo {tmp_path}/no-deploy: "
        f"repository '{tmp_path}/no-deploy' does not exist"
    )
    plain = tmp_path / "plain"
    plain.mkdir()
    assert _fails(capsys, "--workspace", str(stopped), "--deploy-repo", str(plain)) == (
        f"gitops: error: cannot read the deploy repo {plain}: not a git repository"
    )


def test_flag_problems(capsys: pytest.CaptureFixture[str], token_file: Path) -> None:
    assert _fails(capsys, "--argocd", "http://127.0.0.1:1") == (
        "gitops: error: --token-file is required with --argocd"
    )
    assert _fails(capsys, "--argocd", "ftp://host", "--token-file", str(token_file)) == (
        "gitops: error: --argocd ftp://host: not an http(s)://HOST[:PORT] URL"
    )
    assert _fails(capsys, "--workspace", "/w", "--insecure") == (
        "gitops: error: --ca and --insecure go with --argocd"
    )
    assert _fails(capsys, "--workspace", "/w", "--kubeconfig", "k") == (
        "gitops: error: --kubeconfig and --namespace go with --context"
    )
    assert _fails(
        capsys, "--context", "nope", "--kubeconfig", "/nonexistent/kubeconfig"
    ).startswith("gitops: error: cannot load /nonexistent/kubeconfig (context nope): ")
    with pytest.raises(SystemExit) as both:
        main(["status", "--workspace", "/w", "--argocd", "http://x"])
    assert both.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--argocd", "--context", "--workspace", "--token-file"])
def test_a_target_flag_given_twice_is_refused_not_half_read(
    capsys: pytest.CaptureFixture[str], flag: str
) -> None:
    """`gitops status` reads one target: a repeated flag used to read only the last one,
    silently. It is a usage error now (the console reads several targets)."""
    code, out, err = _run(capsys, flag, "one", flag, "two")
    assert (code, out) == (2, "")
    assert f"{flag} was given twice: `gitops status` reads one target" in err
    assert "Traceback" not in err
