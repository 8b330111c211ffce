"""Issue 13's fault matrix for bad releases, against a platform assembled from its real parts
without `gitops up` (whose cold start costs a minute): the deploy repo on the embedded Git host
behind the real pre-receive gate and the post-receive webhook, the repo server rendering with
Kustomize, the application controller, pods as processes behind a Service proxy
(ProcessRuntime), the runtime publisher (resource trees), the Argo CD-compatible API over HTTP,
and the guard as `gitops up` starts it (`console.guard.run.run_guard`: Argo CD client, rollback
writer, events file). Only backend-dev runs (the other Applications are left out of
argocd/apps), on the image the shared world built.

The steps share one platform and run in order; each leaves backend-dev Healthy and Synced for
the next. Each asserts what was lost (requests through the Service, commits, rollback commits)
and what the operator is told (the guard's events). Every wait is on a condition with a
deadline."""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from ruamel.yaml import YAML

from console.drill.load import BackgroundLoad, LoadGenerator, LoadStats
from console.fleet.history import log, rollbacks
from console.guard.events import Event, read_events
from console.guard.run import Target, run_guard
from console.local.argo.api import create_api
from console.local.argo.controller import Controller
from console.local.argo.inmemory import InMemorySource
from console.local.argo.kubeconfig import new_token
from console.local.argo.publish import publish_runtime
from console.local.argo.reposerver import RepoServer
from console.local.ci.images import ImageStore
from console.local.git.githost import GitHost
from console.local.kube.processes import ProcessRuntime
from console.promote.promote import PromoteRequest, promote
from console.serving import bind_socket, serve, socket_url
from tests.helpers import ROOT, get_application, run_git
from tests.world import World

pytestmark = [
    pytest.mark.slow,  # real pods, renders and gated pushes
    pytest.mark.xdist_group("guard-faults"),
]

APP = "backend-dev"
DEPLOY = "platform-deploy"
REPO_URL = "https://github.com/acme/platform-deploy.git"
OVERLAY = "overlays/dev/backend/kustomization.yaml"
WAIT_S = 60.0


@dataclass
class Platform:
    base: Path
    bare: Path
    api_url: str
    token: str
    service_url: str
    events_path: Path
    good_tag: str
    errors: list[BaseException] = field(default_factory=list)

    # -- reading what an operator reads --

    def app(self) -> dict[str, Any]:
        return get_application(self.api_url, self.token, APP)

    def events(self, since: int = 0) -> list[Event]:
        if not self.events_path.exists():
            return []
        return [e for e in read_events(self.events_path) if e.app == APP][since:]

    def tip(self) -> str:
        return run_git(self.bare, "rev-parse", "main").strip()

    def rollbacks_of(self, bad: str) -> list[str]:
        return [
            rb.sha for rb in rollbacks(log(self.bare, "main")) if rb.of == bad and rb.app == APP
        ]

    def contains(self, sha: str) -> bool:
        """`sha` is in main's history: no commit lost."""
        done = subprocess.run(
            ["git", "merge-base", "--is-ancestor", sha, "main"], cwd=self.bare, check=False
        )
        return done.returncode == 0

    def wait(self, condition: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if self.errors:
                raise AssertionError(f"the platform failed: {self.errors[0]!r}")
            if time.monotonic() > deadline:
                types = [e.type for e in self.events()]
                raise AssertionError(f"timed out waiting for {what}; guard events: {types}")
            time.sleep(0.1)  # polling a condition, with a deadline

    def on(self, revision: str, sync: str = "Synced", health: str = "Healthy") -> bool:
        status = self.app()["status"]
        op = status.get("operationState") or {}
        return bool(
            op.get("phase") == "Succeeded"
            and (op.get("syncResult") or {}).get("revision") == revision
            and status["sync"]["status"] == sync
            and status["health"]["status"] == health
        )

    def version(self) -> str:
        return str(httpx.get(f"{self.service_url}/version", timeout=5).json()["revision"])

    # -- changing what runs, as people do: commits --

    def clone(self, name: str) -> Path:
        dest = self.base / name
        shutil.rmtree(dest, ignore_errors=True)
        run_git(self.base, "clone", "--quiet", str(self.bare), str(dest))
        return dest

    def push_overlay(self, change: Callable[[str], str], message: str, *, gate: bool = True) -> str:
        """Commit `change` of backend-dev's overlay on main's tip and push it: through the gate,
        or past it (`gate=False`: the post-receive hook still tells the platform, as a host
        whose branch protection an admin bypassed would)."""
        work = self.clone("work")
        file = work / OVERLAY
        file.write_text(change(file.read_text()))
        run_git(work, "commit", "--quiet", "--all", "--message", message)
        if gate:
            run_git(work, "push", "--quiet", "origin", "HEAD:main")
        else:
            hooks = self.base / "hooks-without-gate"
            shutil.rmtree(hooks, ignore_errors=True)
            hooks.mkdir()
            shutil.copy2(self.bare / "hooks" / "post-receive", hooks / "post-receive")
            receive = f"git -c core.hooksPath={hooks} receive-pack"
            run_git(work, "push", "--quiet", f"--receive-pack={receive}", "origin", "HEAD:main")
        return run_git(work, "rev-parse", "HEAD").strip()


def _only_backend_dev(work: Path, tag: str) -> None:
    """The deploy repo as the tests need it: backend-dev alone, on the shared world's build."""
    for app in (work / "argocd" / "apps").glob("*.yaml"):
        if app.name != f"{APP}.yaml":
            app.unlink()
    overlay = work / OVERLAY
    overlay.write_text(overlay.read_text().replace('newTag: "unreleased"', f'newTag: "{tag}"'))
    # A short look at each release's requests, so the analysis is seen within a step.
    app = work / "argocd" / "apps" / f"{APP}.yaml"
    text = app.read_text()
    assert 'gitops.platform/analysis-seconds: "20"' in text
    app.write_text(text.replace('analysis-seconds: "20"', 'analysis-seconds: "3"'))


@dataclass
class _Parts:
    """What the platform thread runs on: made before it starts."""

    base: Path
    host: GitHost
    store: ImageStore
    sock: socket.socket
    api_url: str
    token: str
    events: Path


class _Background:
    """The platform's parts on an event loop of their own, in a thread: the tests' waits,
    pushes and HTTP calls are blocking, as an operator's are."""

    def __init__(self, parts: _Parts) -> None:
        self.parts = parts
        self.url = ""  # backend-dev's Service, once it exists
        self.errors: list[BaseException] = []
        self._started = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self.thread = threading.Thread(target=self._main, name="faults-platform", daemon=True)

    def start(self) -> None:
        self.thread.start()
        self._started.wait(WAIT_S * 2)

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop ended meanwhile
                self._loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(WAIT_S)

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as exc:  # handed to the waits and the fixture's teardown
            self.errors.append(exc)
        finally:
            self._started.set()

    async def _run(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        stop, parts = self._stop, self.parts
        api_url = parts.api_url
        source = InMemorySource()
        runtime = ProcessRuntime(parts.base / "runtime", parts.store)
        repos = RepoServer(parts.base / "cache")
        repos.register(REPO_URL, parts.host.path(DEPLOY))
        controller = Controller(repos, runtime, source, _root_application(parts.host), poll_s=3600)
        publisher = publish_runtime(runtime, source)
        api = create_api(source, parts.token, "v3.1.0+test", keepalive_seconds=0.2)
        api_stop = asyncio.Event()
        server = asyncio.create_task(serve(api, shutdown_event=api_stop, sock=parts.sock))
        await publisher.start()
        target = Target(
            api_url, parts.token, parts.host.url(DEPLOY), parts.base / "guard", parts.events
        )
        loops = [
            asyncio.create_task(controller.run(stop)),
            asyncio.create_task(run_guard(target, stop, progress=lambda _: None)),
        ]
        try:
            deadline = time.monotonic() + WAIT_S
            while (url := runtime.service_urls().get(("dev", "backend"))) is None:
                if time.monotonic() > deadline:
                    raise AssertionError("backend-dev's Service never appeared")
                await asyncio.sleep(0.05)  # polling a condition, with a deadline
            self.url = url
            self._started.set()
            await stop.wait()
        finally:
            stop.set()
            for task in loops:
                await task
            await runtime.close()
            await publisher.stop()
            api_stop.set()
            await server


def _root_application(host: GitHost) -> dict[str, Any]:
    text = run_git(host.path(DEPLOY), "show", "main:argocd/root.yaml")
    docs = YAML(typ="safe").load_all(text)
    return next(d for d in docs if isinstance(d, dict) and d.get("kind") == "Application")


def _parts(shared_world: World, base: Path) -> _Parts:
    """The deploy repo (backend-dev alone, on the shared build) seeded through the gate of a
    Git host whose hooks tell the API about to listen on `sock`."""
    work = shared_world.renderings_copy(base / "repos") / "deploy-repo"
    _only_backend_dev(work, shared_world.commit)
    run_git(work, "commit", "--quiet", "--all", "--message", "chore(deploy): backend in dev only")
    sock = bind_socket("127.0.0.1", 0)
    token = new_token()
    token_file = base / "token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    host = GitHost(base / "remotes", socket_url(sock), token_file)
    host.create(DEPLOY, "deploy", REPO_URL)
    host.seed(DEPLOY, "deploy", work)
    return _Parts(
        base, host, shared_world.store, sock, socket_url(sock), token, base / "guard-events.jsonl"
    )


@pytest.fixture(scope="module")
def platform(shared_world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    parts = _parts(shared_world, tmp_path_factory.mktemp("faults"))
    background = _Background(parts)
    background.start()
    try:
        assert background.url, f"the platform did not start: {background.errors!r}"
        p = Platform(
            parts.base,
            parts.host.path(DEPLOY),
            parts.api_url,
            parts.token,
            background.url,
            parts.events,
            shared_world.commit,
            background.errors,
        )
        p.wait(lambda: p.on(p.tip()), "backend-dev Healthy and Synced")
        yield p
    finally:
        background.stop()
    assert not background.thread.is_alive(), "the platform stopped"
    assert not background.errors, background.errors


class Load:
    """GETs of the Service's /version at 20 per second, on a thread of their own."""

    def __init__(self, url: str) -> None:
        self.bg = BackgroundLoad(LoadGenerator(f"{url}/version", rate=20))

    def __enter__(self) -> Load:
        self.bg.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bg.stop()

    def result(self) -> LoadStats:
        self.bg.stop()
        return asyncio.run(self.bg.wait())


def told(p: Platform, since: int, kind: str) -> list[Event]:
    return [e for e in p.events(since) if e.type == kind]


# ---- an image that was never built, with a push racing the rollback ----------------------------


def push_right_after_the_rollback(p: Platform, tag: str) -> Path:
    """Make the Git host land another team's promotion (into prod, through the gate, by
    `gitops promote`) right after the guard's rollback commit is received and before the
    platform hears of the rollback: the rival's push runs from the post-receive hook, ahead of
    the webhook. Returns the file whose existence says it ran."""
    hook = p.bare / "hooks" / "post-receive"
    original = hook.with_name("post-receive.platform")
    shutil.copy2(hook, original)
    mark = p.base / "rival-pushed"
    promote_cmd = shlex.join(
        [
            sys.executable,
            "-m",
            "console.cli",
            "promote",
            "--deploy-repo",
            str(p.bare),
            "--env",
            "prod",
            "--service",
            "backend",
            "--tag",
            tag,
            "--push",
        ]
    )
    hook.write_text(
        "#!/bin/sh\n"
        "input=$(cat)\n"
        f"if [ ! -e {shlex.quote(str(mark))} ] && "
        f"git log -1 --format=%s main | grep -q '^revert({APP})'; then\n"
        f"  : > {shlex.quote(str(mark))}\n"
        f"  (unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE; cd {shlex.quote(str(ROOT))} && "
        f"{promote_cmd}) >&2\n"
        "fi\n"
        f'printf "%s\\n" "$input" | exec {shlex.quote(str(original))}\n'
    )
    return mark


def test_an_unbuilt_image_is_rolled_back_once_and_a_push_racing_the_rollback_is_kept(
    platform: Platform,
) -> None:
    """A tag CI never built is promoted into dev (the gate accepts it: the overlay renders).
    Its pod cannot pull; maxUnavailable 0 keeps the old pod serving; the guard sees the failing
    pod in the resource tree and writes one rollback commit. Another team's promotion lands on
    top of the rollback before the platform syncs it, so what deploys is that commit, which
    contains the rollback. Lost: no request, no commit; told: Rollback (naming the pull
    failure), then Recovered."""
    p = platform
    since = len(p.events())
    good = p.tip()
    never_built = "f" * 40
    mark = push_right_after_the_rollback(p, "e" * 40)
    with Load(p.service_url) as load:
        p.wait(lambda: load.bg.answered, "the first answer through the Service")
        bad = promote(str(p.bare), PromoteRequest("backend", "dev", tag=never_built), push=True).sha
        assert bad is not None
        p.wait(lambda: bool(p.rollbacks_of(bad)), "the rollback commit")
        [rollback] = p.rollbacks_of(bad)
        p.wait(lambda: p.tip() != rollback, "the rival's push")
        assert mark.exists()
        [rival] = run_git(p.bare, "rev-list", f"{rollback}..main").split()
        p.wait(lambda: p.on(rival), "backend-dev Healthy and Synced on the rival's commit")
        p.wait(lambda: bool(told(p, since, "Recovered")), "the guard telling Recovered")
        assert p.version() == p.good_tag
        stats = load.result()

    assert stats.total > 20, stats
    assert stats.failed == 0, stats
    assert p.rollbacks_of(bad) == [rollback], "one rollback commit for the bad revision"
    assert run_git(p.bare, "rev-list", "--first-parent", f"{good}..main").split() == [
        rival,
        rollback,
        bad,
    ], "every commit kept, the rival's on top"
    [event] = told(p, since, "Rollback")
    assert (event.fields["commit"], event.fields["bad"]) == (rollback, bad)
    assert event.fields["good"] == good
    assert event.fields["kind"] == "pods-failing"
    assert "ImagePull" in event.message, event.message
    [recovered] = told(p, since, "Recovered")
    assert recovered.fields["commit"] == rollback
    assert not told(p, since, "RollbackFailed")
    images = p.app()["status"]["summary"]["images"]
    assert images == [f"123456789012.dkr.ecr.eu-west-1.amazonaws.com/backend:{p.good_tag}"]


# ---- a crash-looping release -------------------------------------------------------------------

CONTAINER = "              - name: backend\n"


def crash_on_start(text: str) -> str:
    """backend-dev's container exits at once: the kubelet restarts it with back-off."""
    assert CONTAINER in text
    command = '                command: ["python", "-c", "raise SystemExit(3)"]\n'
    return text.replace(CONTAINER, CONTAINER + command)


def test_a_crash_looping_release_is_rolled_back_once_and_no_request_fails(
    platform: Platform,
) -> None:
    """A release whose container exits at once: CrashLoopBackOff on the new pod, the old pod
    keeps serving (maxUnavailable 0), the guard reads the failing pod from the resource tree
    and writes one rollback commit. Lost: no request, no commit; told: Rollback naming the
    crash loop, then Recovered on the rollback."""
    p = platform
    since = len(p.events())
    before = p.tip()
    with Load(p.service_url) as load:
        p.wait(lambda: load.bg.answered, "the first answer through the Service")
        bad = p.push_overlay(crash_on_start, "fix(dev): start backend differently")
        p.wait(lambda: bool(p.rollbacks_of(bad)), "the rollback commit")
        [rollback] = p.rollbacks_of(bad)
        p.wait(lambda: p.on(rollback), "backend-dev Healthy and Synced on the rollback")
        p.wait(lambda: bool(told(p, since, "Recovered")), "the guard telling Recovered")
        assert p.version() == p.good_tag
        stats = load.result()

    assert stats.total > 20, stats
    assert stats.failed == 0, stats
    assert run_git(p.bare, "rev-list", f"{before}..main").split() == [rollback, bad]
    [event] = told(p, since, "Rollback")
    assert (event.fields["commit"], event.fields["bad"]) == (rollback, bad)
    assert event.fields["good"] == before
    assert event.fields["kind"] == "pods-failing"
    assert "CrashLoopBackOff" in event.message, event.message
    [recovered] = told(p, since, "Recovered")
    assert recovered.fields["commit"] == rollback
    assert "revision" not in recovered.fields
    assert not told(p, since, "RollbackFailed")


# ---- a release that serves well: its requests read from its own pods --------------------------


def with_env(text: str) -> str:
    """A harmless release: one more variable in the Deployment (a new template, a rollout)."""
    marker = "                  - name: ENVIRONMENT\n                    value: dev\n"
    assert marker in text
    extra = "                  - name: RELEASE_NOTE\n                    value: analysed\n"
    return text.replace(marker, marker + extra, 1)


def test_a_release_that_serves_well_is_analysed_from_its_own_pods_and_stays(
    platform: Platform,
) -> None:
    """Healthy after its rollout, the release's requests are read from its new pods' /metrics
    (the tree names them, Argo CD's live-resource API gives their address, as on a cluster):
    the load's requests are counted, none failed, the analysis passes, nothing is rolled back."""
    p = platform
    since = len(p.events())
    with Load(p.service_url) as load:
        p.wait(lambda: load.bg.answered, "the first answer through the Service")
        release = p.push_overlay(with_env, "feat(dev): tell the backend its release note")
        p.wait(lambda: bool(told(p, since, "AnalysisPassed")), "the analysis passing")
        stats = load.result()
    [passed] = told(p, since, "AnalysisPassed")
    assert passed.fields["revision"] == release
    assert passed.fields["requests"] >= 20, passed.message
    assert passed.fields["error_ratio"] == 0.0
    assert stats.failed == 0, stats
    assert not p.rollbacks_of(release)
    assert p.on(release)


# ---- a commit that does not render -------------------------------------------------------------


def missing_base(text: str) -> str:
    assert "../../../base/backend" in text
    return text.replace("../../../base/backend", "../../../base/nope")


def test_a_commit_that_does_not_render_is_refused_at_the_gate_with_the_render_error(
    platform: Platform,
) -> None:
    """The deploy repo's gate renders what is pushed: a Kustomize error is refused with
    Kustomize's own words, the remote keeps its tip, the pusher keeps the commit to fix it."""
    p = platform
    before = p.tip()
    work, said = push_refused(p, "refused", missing_base, "fix(dev): move the backend base")
    mine = run_git(work, "rev-parse", "HEAD").strip()
    assert "base/nope" in said
    assert p.tip() == before
    assert run_git(work, "rev-parse", "HEAD").strip() == mine, "the pusher keeps the commit"


def push_refused(
    p: Platform, name: str, edit: Callable[[str], str], message: str
) -> tuple[Path, str]:
    """Commit `edit` of the overlay in a fresh clone and push it: the gate must refuse it as
    not rendering. The clone and what the pusher was told."""
    work = p.clone(name)
    file = work / OVERLAY
    file.write_text(edit(file.read_text()))
    run_git(work, "commit", "--quiet", "--all", "--message", message)
    pushed = subprocess.run(
        ["git", "push", "origin", "HEAD:main"],
        cwd=work,
        capture_output=True,
        text=True,
        check=False,
    )
    assert pushed.returncode != 0
    assert "rejected: overlays/dev/backend: does not render" in pushed.stderr, pushed.stderr
    return work, pushed.stderr


def test_a_commit_pushed_past_the_gate_that_does_not_render_keeps_the_old_version_serving(
    platform: Platform,
) -> None:
    """The same commit pushed past the gate (an admin bypassing branch protection): the
    controller cannot render it (ComparisonError, sync Unknown), what runs keeps serving, the
    guard says so and writes no rollback (nothing of that commit was deployed). Lost: no
    request, no commit, no rollback; told: ComparisonError naming the revision and the render
    error. The fix that follows, through the gate, deploys."""
    p = platform
    since = len(p.events())
    before = p.tip()

    def comparison_error() -> str:
        status = p.app()["status"]
        messages = [
            c["message"] for c in status.get("conditions") or [] if c["type"] == "ComparisonError"
        ]
        return messages[0] if messages else ""

    with Load(p.service_url) as load:
        p.wait(lambda: load.bg.answered, "the first answer through the Service")
        broken = p.push_overlay(missing_base, "fix(dev): move the backend base", gate=False)
        p.wait(lambda: bool(comparison_error()), "a ComparisonError on backend-dev")
        status = p.app()["status"]
        assert status["sync"]["status"] == "Unknown"
        assert status["sync"]["revision"] == broken
        assert status["health"]["status"] == "Healthy"
        assert "base/nope" in comparison_error()
        p.wait(lambda: bool(told(p, since, "ComparisonError")), "the guard telling it")
        assert p.version() == p.good_tag
        fixed = p.push_overlay(
            lambda text: text.replace("../../../base/nope", "../../../base/backend"),
            "fix(dev): put the backend base back",
        )
        p.wait(lambda: p.tip() == fixed and not comparison_error(), "the fix compared")
        p.wait(lambda: p.app()["status"]["sync"]["status"] == "Synced", "Synced on the fix")
        stats = load.result()

    assert stats.total > 20, stats
    assert stats.failed == 0, stats
    assert run_git(p.bare, "rev-list", f"{before}..main").split() == [fixed, broken]
    assert p.rollbacks_of(broken) == []
    [event] = told(p, since, "ComparisonError")
    assert event.fields["revision"] == broken
    assert broken[:7] in event.message
    assert "base/nope" in event.message
    assert "keeps running" in event.message
    assert not told(p, since, "Rollback")


def malformed_yaml(text: str) -> str:
    """An unclosed flow sequence: the kustomization is not YAML any more."""
    assert "\nnamespace: dev\n" in text
    return text.replace("\nnamespace: dev\n", "\nnamespace: [dev\n")


def test_malformed_yaml_in_a_deploy_commit_is_refused_at_the_gate_naming_the_file(
    platform: Platform,
) -> None:
    """Malformed YAML in an overlay: the gate refuses the push with the file and the parse
    error; the remote keeps its tip and nothing reaches the platform (no sync, no event)."""
    p = platform
    since = len(p.events())
    before = p.tip()
    history = len(p.app()["status"]["history"])
    _, said = push_refused(p, "malformed", malformed_yaml, "chore(dev): tune the deadline")
    assert "invalid Kustomization: yaml: line 4: did not find expected" in said
    assert p.tip() == before
    assert len(p.app()["status"]["history"]) == history
    assert p.events(since) == []
