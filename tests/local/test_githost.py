"""The local Git host end to end: real bare repositories, real `git push`, the real hooks (a
Python process each) and a real HTTP listener standing in for the platform's /api/webhook."""

from __future__ import annotations

import os
import queue
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from console import kustomize
from console.local.git.githost import GitHost, GitHostError, hook_script
from console.local.git.webhook import ZERO_SHA, PushEvent, parse_push, verify_signature
from tests.helpers import GIT_IDENTITY as IDENTITY

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "s3cret-token-never-printed"  # noqa: S105 - a test token
DEADLINE = 10.0

pytestmark = pytest.mark.slow  # real pushes through the hooks and the gate's renders


def git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **IDENTITY},
        capture_output=True,
        text=True,
        check=check,
    )


def commit(clone: Path, message: str, name: str = "file.txt", content: str | None = None) -> str:
    path = clone / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if content is not None else f"{message}\n{time.monotonic_ns()}\n")
    git(clone, "add", "--all")
    git(clone, "commit", "--quiet", "--message", message)
    return git(clone, "rev-parse", "HEAD").stdout.strip()


def push(clone: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return git(clone, "push", "origin", *(args or ("HEAD:refs/heads/main",)), check=False)


def head(bare: Path, ref: str = "refs/heads/main") -> str | None:
    out = git(bare, "rev-parse", "--verify", "--quiet", ref, check=False)
    return out.stdout.strip() or None


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Platform:
    """A stand-in for the platform's API: records every request it gets."""

    url: str
    token_file: Path
    requests: queue.Queue[Request] = field(default_factory=queue.Queue)

    def next(self) -> Request:
        try:
            return self.requests.get(timeout=DEADLINE)
        except queue.Empty:
            pytest.fail(f"no webhook arrived within {DEADLINE} s")

    def event(self) -> tuple[PushEvent, Request]:
        request = self.next()
        assert request.path == "/api/webhook"
        event = parse_push(request.headers, request.body)
        assert event is not None
        return event, request


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    received: queue.Queue[Request] = queue.Queue()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            received.put(Request(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield Platform(f"http://127.0.0.1:{server.server_address[1]}", token_file, received)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=DEADLINE)


@pytest.fixture
def host(tmp_path: Path, platform: Platform) -> GitHost:
    return GitHost(tmp_path / "git", platform.url, platform.token_file)


@pytest.fixture
def app(host: GitHost, tmp_path: Path) -> tuple[Path, Path]:
    """An app repository on the host and an empty clone of it: (bare, clone)."""
    bare = host.create("platform-apps", "app")
    git(tmp_path, "clone", "--quiet", host.url("platform-apps"), "apps")
    return bare, tmp_path / "apps"


def test_create_records_the_kind_and_installs_the_hooks(tmp_path: Path) -> None:
    host = GitHost(tmp_path / "git")
    bare = host.create("platform-deploy", "deploy")
    assert bare == tmp_path / "git" / "platform-deploy.git"
    assert git(bare, "config", "gitops.kind").stdout.strip() == "deploy"
    assert git(bare, "rev-parse", "--is-bare-repository").stdout.strip() == "true"
    assert git(bare, "symbolic-ref", "HEAD").stdout.strip() == "refs/heads/main"
    for stage in ("pre-receive", "post-receive"):
        script = bare / "hooks" / stage
        assert os.access(script, os.X_OK)
        assert script.read_text() == hook_script(stage)
        assert f"exec {shlex.quote(sys.executable)} -P -m console.local.git.hook {stage}\n" in (
            script.read_text()
        )
    assert host.create("platform-deploy", "deploy") == bare  # idempotent: a restart re-wires
    assert host.repos() == {"platform-deploy": "deploy"}
    assert host.head("platform-deploy") is None
    with pytest.raises(GitHostError, match="already exists as a deploy repository"):
        host.create("platform-deploy", "app")
    with pytest.raises(GitHostError, match="unknown kind"):
        host.create("x", "library")
    for bad in ("../escape", "a/b", "-x", "x.git", ""):
        with pytest.raises(GitHostError, match="not a repository name"):
            host.path(bad)


def test_hook_script_quotes_the_interpreter() -> None:
    script = hook_script("post-receive", "/opt/my python/bin/python3")
    assert "exec '/opt/my python/bin/python3' -P -m console.local.git.hook post-receive\n" in script


def test_a_good_push_is_accepted_and_the_platform_is_told(
    host: GitHost, app: tuple[Path, Path], platform: Platform
) -> None:
    bare, clone = app
    first = commit(clone, "feat: the first feature", "src/app.py")
    pushed = push(clone)
    assert pushed.returncode == 0, pushed.stderr
    assert head(bare) == first
    event, request = platform.event()
    assert (event.ref, event.before, event.after, event.branch) == (
        "refs/heads/main",
        ZERO_SHA,
        first,
        "main",
    )
    assert event.matches(host.url("platform-apps"))
    assert event.matches(bare.resolve().as_uri())
    assert event.changed_paths == ("src/app.py",)
    assert event.commits[0].message == "feat: the first feature"
    assert request.headers["x-github-event"] == "push"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert verify_signature(TOKEN.encode(), request.headers, request.body)

    second = commit(clone, "fix(app): the second change", "src/app.py")
    pushed = push(clone)
    assert pushed.returncode == 0, pushed.stderr
    event, _ = platform.event()
    assert (event.before, event.after) == (first, second)
    assert event.changed_paths == ("src/app.py",)
    assert [c.id for c in event.commits] == [second]
    assert TOKEN not in pushed.stderr + pushed.stdout
    assert host.head("platform-apps") == second


def test_a_non_conventional_commit_is_rejected(app: tuple[Path, Path], platform: Platform) -> None:
    bare, clone = app
    good = commit(clone, "feat: a start")
    assert push(clone).returncode == 0
    platform.next()
    bad = commit(clone, "updated some stuff")
    commit(clone, "fix: a good one on top")
    pushed = push(clone)
    assert pushed.returncode != 0
    assert (
        f'remote: rejected: commit {bad[:7]}: "updated some stuff" is not a Conventional Commit'
        in pushed.stderr
    )
    assert "pre-receive hook declined" in pushed.stderr
    assert head(bare) == good
    assert platform.requests.empty()


def test_force_pushes_and_deleting_main_are_rejected(
    app: tuple[Path, Path], platform: Platform
) -> None:
    bare, clone = app
    commit(clone, "feat: one")
    tip = commit(clone, "feat: two")
    assert push(clone).returncode == 0
    git(clone, "reset", "--quiet", "--hard", "HEAD~1")
    commit(clone, "feat: two, rewritten")
    forced = push(clone, "--force", "HEAD:refs/heads/main")
    assert forced.returncode != 0
    assert "remote: rejected: force push to main: " in forced.stderr
    assert f"does not contain the current main {tip[:7]}" in forced.stderr
    deleted = push(clone, "--delete", "main")
    assert deleted.returncode != 0
    assert "remote: rejected: deleting main is not allowed" in deleted.stderr
    assert head(bare) == tip


def test_merge_commits_are_rejected_main_is_linear(app: tuple[Path, Path]) -> None:
    bare, clone = app
    base = commit(clone, "feat: base")
    assert push(clone).returncode == 0
    git(clone, "checkout", "--quiet", "-b", "topic")
    commit(clone, "feat: on the topic", "topic.txt")
    git(clone, "checkout", "--quiet", "main")
    commit(clone, "fix: on main", "main.txt")
    git(clone, "merge", "--quiet", "--no-ff", "--no-edit", "topic")
    pushed = push(clone)
    assert pushed.returncode != 0
    assert "is a merge: main requires a linear history" in pushed.stderr
    assert head(bare) == base


def test_other_branches_are_not_protected(
    host: GitHost, tmp_path: Path, platform: Platform
) -> None:
    bare = host.create("platform-apps", "app", repo_url="https://github.com/acme/platform-apps.git")
    git(tmp_path, "clone", "--quiet", host.url("platform-apps"), "apps")
    clone = tmp_path / "apps"
    sha = commit(clone, "wip")
    pushed = push(clone, "HEAD:refs/heads/topic")
    assert pushed.returncode == 0, pushed.stderr
    assert head(bare, "refs/heads/topic") == sha
    event, _ = platform.event()
    assert event.branch == "topic"
    assert event.repo_url == "https://github.com/acme/platform-apps"
    assert event.matches("git@github.com:acme/platform-apps.git")
    assert event.default_branch == "main"


def test_seed_gates_the_first_commit_too(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "--quiet", "--initial-branch", "main")
    commit(work, "initial commit")
    host = GitHost(tmp_path / "git")
    with pytest.raises(GitHostError, match=r"is not a Conventional Commit"):
        host.seed("platform-apps", "app", work)
    with pytest.raises(GitHostError, match="no kind given"):
        host.seed("other", None, work)
    assert host.head("platform-apps") is None


def test_connect_rewires_every_repository(tmp_path: Path) -> None:
    host = GitHost(tmp_path / "git")
    bare = host.create("platform-infra", "infra")
    assert git(bare, "config", "gitops.api-url", check=False).returncode == 1
    host.connect("http://127.0.0.1:9/", tmp_path / "token")
    assert git(bare, "config", "gitops.api-url").stdout.strip() == "http://127.0.0.1:9"
    assert git(bare, "config", "gitops.token-file").stdout.strip() == str(tmp_path / "token")
    host.connect(None, None)
    assert git(bare, "config", "gitops.api-url", check=False).returncode == 1


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_a_push_succeeds_when_the_platform_is_down(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text(TOKEN)
    host = GitHost(tmp_path / "git", f"http://127.0.0.1:{_closed_port()}", token)
    bare = host.create("platform-apps", "app")
    git(tmp_path, "clone", "--quiet", host.url("platform-apps"), "apps")
    sha = commit(tmp_path / "apps", "feat: while the platform is down")
    pushed = push(tmp_path / "apps")
    assert pushed.returncode == 0, pushed.stderr
    assert head(bare) == sha
    notes = [line for line in pushed.stderr.splitlines() if "gitops:" in line]
    assert len(notes) == 1
    assert "did not answer" in notes[0]
    assert "next polls" in notes[0]
    assert TOKEN not in pushed.stderr


def test_a_push_succeeds_when_the_platform_hangs(tmp_path: Path) -> None:
    with socket.socket() as listener:  # accepts connections (the backlog) and never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        host = GitHost(tmp_path / "git", f"http://127.0.0.1:{listener.getsockname()[1]}")
        bare = host.create("platform-apps", "app")
        git(tmp_path, "clone", "--quiet", host.url("platform-apps"), "apps")
        sha = commit(tmp_path / "apps", "feat: while the platform hangs")
        started = time.monotonic()
        pushed = push(tmp_path / "apps")
        elapsed = time.monotonic() - started
    assert pushed.returncode == 0, pushed.stderr
    assert head(bare) == sha
    assert "did not answer" in pushed.stderr
    assert elapsed < 8, f"the push waited {elapsed:.1f} s for a platform that hangs"


# --- the deploy repository: the gate renders every overlay ------------------------------------


@pytest.fixture(scope="module")
def seeded_deploy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bare deploy repository seeded (through its hooks) from the rendered deploy-repo."""
    try:
        kustomize.renderer()
    except kustomize.KustomizeError as exc:
        pytest.skip(str(exc))
    tmp = tmp_path_factory.mktemp("seed")
    work = tmp / "deploy-work"
    shutil.copytree(ROOT / "deploy-repo", work)
    git(work, "init", "--quiet", "--initial-branch", "main")
    git(work, "add", "--all")
    git(work, "commit", "--quiet", "--message", "chore: scaffold platform-deploy")
    host = GitHost(tmp / "git")
    sha = host.seed("platform-deploy", None, work)  # the kind comes from .copier-answers.yml
    assert host.head("platform-deploy") == sha
    assert host.kind("platform-deploy") == "deploy"
    return host.path("platform-deploy")


@pytest.fixture
def deploy(seeded_deploy: Path, host: GitHost, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the seeded deploy repository wired to this test's platform: (bare, clone)."""
    shutil.copytree(seeded_deploy, host.path("platform-deploy"))
    bare = host.create("platform-deploy", "deploy")
    git(tmp_path, "clone", "--quiet", host.url("platform-deploy"), "deploy")
    return bare, tmp_path / "deploy"


def test_deploy_push_with_a_broken_overlay_is_rejected(
    deploy: tuple[Path, Path], platform: Platform
) -> None:
    bare, clone = deploy
    before = head(bare)
    rel = "overlays/prod/backend/kustomization.yaml"
    commit(
        clone, "fix(deploy): a typo", rel, (clone / rel).read_text().replace("/backend", "/backnd")
    )
    pushed = push(clone)
    assert pushed.returncode != 0
    assert "remote: rejected: overlays/prod/backend: does not render:" in pushed.stderr
    assert "base/backnd" in pushed.stderr
    assert "overlays/dev/backend" not in pushed.stderr
    assert head(bare) == before
    assert platform.requests.empty()


def test_deploy_push_promoting_a_tag_that_does_not_exist_is_accepted(
    deploy: tuple[Path, Path], platform: Platform
) -> None:
    bare, clone = deploy
    rel = "overlays/dev/frontend/kustomization.yaml"
    old = (clone / rel).read_text()
    new = old.replace('newTag: "unreleased"', 'newTag: "' + "0" * 39 + '1"')
    assert new != old
    sha = commit(clone, "chore(deploy): promote frontend 0000000 to dev", rel, new)
    pushed = push(clone)
    assert pushed.returncode == 0, pushed.stderr
    assert head(bare) == sha
    event, _ = platform.event()
    assert event.after == sha
    assert "overlays/dev/frontend/kustomization.yaml" in event.changed_paths
