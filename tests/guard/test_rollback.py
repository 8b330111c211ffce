"""The rollback commit writer against real git: a bare deploy repository on the embedded Git host,
seeded with the committed deploy-repo rendering and guarded by the real pre-receive gate (every
push is checked for Conventional Commits and overlays that render), real promotions made with
console.promote, and the faults of issue 5 injected with git hooks and a real kill -9."""

from __future__ import annotations

import json
import shlex
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from console.fleet.history import log, rollbacks
from console.gitpush import PushRejectedError
from console.guard.facts import GitFacts
from console.guard.rollback import (
    RemoteUnreachableError,
    RollbackError,
    RollbackRequest,
    RollbackRequestError,
    RollbackWriter,
    message,
    sanitize_reason,
)
from console.promote.overlay import overlay_path, set_tag
from tests.guard.conftest import (
    BACKEND,
    DEADLINE,
    FRONTEND,
    ROOT,
    TAG_BAD,
    TAG_GOOD,
    TAG_LATER,
    Deploy,
    commit_and_push,
    run,
)

pytestmark = pytest.mark.slow  # real git: gated pushes, child writers killed and restarted


def writer(repo: Deploy, workdir: Path | None = None, **kwargs: object) -> RollbackWriter:
    return RollbackWriter(repo.url, workdir or repo.tmp / "guard", **kwargs)  # type: ignore[arg-type]


def rollbacks_of(repo: Deploy, app: str, bad: str) -> list[str]:
    return [rb.sha for rb in rollbacks(repo.commits()) if rb.app == app and rb.of == bad]


def install_hook(clone: Path, name: str, body: str) -> Path:
    hook = clone / ".git" / "hooks" / name
    hook.write_text("#!/bin/sh\n" + body)
    hook.chmod(0o755)
    return hook


def assert_restored(repo: Deploy, sha: str, path: str) -> None:
    """`sha` holds `path` exactly as it was at good, and changed nothing else."""
    assert run(repo.bare, "rev-parse", f"{sha}:{path}") == run(
        repo.bare, "rev-parse", f"{repo.good}:{path}"
    ), "the path's tree is the good one, byte for byte"
    changed = repo.changed(sha)
    assert changed
    assert all(p.startswith(f"{path}/") for p in changed), changed


# --- the rollback commit -------------------------------------------------------------------------


def test_the_rollback_restores_the_path_and_records_why(deploy: Deploy) -> None:
    before = deploy.tip()
    outcome = writer(deploy).write(deploy.request())
    assert outcome.sha is not None
    assert (outcome.already, outcome.attempts, outcome.unchanged) == (None, 1, False)
    assert deploy.tip() == outcome.sha
    assert run(deploy.bare, "rev-parse", f"{outcome.sha}^").strip() == before, "on top, linear"
    assert_restored(deploy, outcome.sha, BACKEND)
    assert sorted(deploy.changed(outcome.sha)) == [
        f"{BACKEND}/NOTES.md",  # removed since good: restored
        f"{BACKEND}/kustomization.yaml",
        f"{BACKEND}/patch.yaml",  # added since good: removed
    ]
    assert deploy.tag("main", "dev", "backend") == TAG_GOOD
    assert deploy.tag("main", "dev", "frontend") == TAG_BAD, "the other app is not touched"
    assert deploy.tag("main", "prod", "backend") == TAG_LATER, "later work is kept"

    head = deploy.commits()[0]
    assert head.subject == f"revert(backend-dev): roll back {deploy.bad[:7]} to {deploy.good[:7]}"
    assert head.author == "gitops-guard <gitops-guard@users.noreply.local>"
    assert head.trailers == (
        ("Rollback-Of", deploy.bad),
        ("Rollback-To", deploy.good),
        ("Rollback-App", "backend-dev"),
        ("Rollback-Reason", "Degraded for 30s: readiness probe failed (HTTP 503 on /readyz)"),
    )
    body = run(deploy.bare, "show", "--no-patch", "--format=%b", outcome.sha).split("\n\n")
    assert len([p for p in body if p.strip()]) == 2, "one paragraph, then the trailers"
    [rb] = rollbacks(deploy.commits())
    assert (rb.sha, rb.app, rb.of, rb.to) == (outcome.sha, "backend-dev", deploy.bad, deploy.good)


def test_a_bad_revision_that_touched_two_apps_is_undone_app_by_app(deploy: Deploy) -> None:
    guard = writer(deploy)
    before = deploy.tip()
    first = guard.write(deploy.request("backend-dev", BACKEND))
    second = guard.write(deploy.request("frontend-dev", FRONTEND + "/"))
    assert first.sha is not None
    assert second.sha is not None
    assert [c.sha for c in deploy.commits()[:3]] == [second.sha, first.sha, before]
    assert_restored(deploy, first.sha, BACKEND)
    assert_restored(deploy, second.sha, FRONTEND)
    # Nothing else changed: outside both paths, the tip is the tree before the rollbacks.
    outside = run(deploy.bare, "diff", "--name-only", before, "main").split()
    assert all(p.startswith((f"{BACKEND}/", f"{FRONTEND}/")) for p in outside), outside
    assert deploy.tag("main", "prod", "backend") == TAG_LATER
    assert rollbacks_of(deploy, "backend-dev", deploy.bad) == [first.sha]
    assert rollbacks_of(deploy, "frontend-dev", deploy.bad) == [second.sha]


def test_a_path_that_already_has_the_good_content_is_left_alone(deploy: Deploy) -> None:
    work = deploy.clone("operator")
    run(work, "checkout", deploy.good, "--", BACKEND)
    run(work, "rm", "--quiet", f"{BACKEND}/patch.yaml")
    commit_and_push(work, "fix(deploy): put backend back by hand")
    tip = deploy.tip()
    outcome = writer(deploy).write(deploy.request())
    assert (outcome.sha, outcome.already, outcome.unchanged) == (None, None, True)
    assert deploy.tip() == tip, "no empty commit"


# --- faults --------------------------------------------------------------------------------------

CHILD = """\
import json, os, sys
from pathlib import Path
from console.guard.rollback import RollbackRequest, RollbackWriter

# The pre-push hook reads whom to kill from here: this process, the controller.
os.environ["GUARD_PID"] = str(os.getpid())
spec = json.loads(sys.argv[1])
RollbackWriter(spec["remote"], Path(spec["workdir"])).write(RollbackRequest(**spec["request"]))
"""


def test_killed_between_commit_and_push_then_restarted_writes_exactly_one(deploy: Deploy) -> None:
    workdir = deploy.tmp / "guard"
    writer(deploy, workdir).fetch()  # makes the clone, so the hook can be installed in it
    clone = workdir / "deploy"
    # Dies like a controller whose pod is killed: the commit is made, the push has not happened.
    hook = install_hook(clone, "pre-push", 'kill -KILL "$GUARD_PID"\nexit 1\n')
    before = deploy.tip()
    req = deploy.request()
    spec = {"remote": deploy.url, "workdir": str(workdir), "request": req.__dict__}
    child = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(spec)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
    )
    assert child.returncode == -9, child.stderr
    assert deploy.tip() == before, "the push never happened"
    local = log(clone, "HEAD", ())[0]
    assert local.trailer("Rollback-Of") == deploy.bad, "the dead writer had committed"
    hook.unlink()

    restarted = writer(deploy, workdir)
    assert restarted.facts("backend-dev") == GitFacts(), "the remote knows of no rollback"
    outcome = restarted.write(req)
    assert outcome.sha is not None
    assert rollbacks_of(deploy, "backend-dev", deploy.bad) == [outcome.sha]
    assert run(deploy.bare, "rev-parse", f"{outcome.sha}^").strip() == before
    # And once more, as a controller restarted after the push would: nothing new.
    again = writer(deploy, workdir).write(req)
    assert (again.sha, again.already) == (None, outcome.sha)
    assert rollbacks_of(deploy, "backend-dev", deploy.bad) == [outcome.sha]


def test_leftovers_of_a_dead_writer_do_not_leak_into_the_commit(deploy: Deploy) -> None:
    workdir = deploy.tmp / "guard"
    writer(deploy, workdir).fetch()
    clone = workdir / "deploy"
    run(clone, "commit", "--quiet", "--allow-empty", "--message", "chore: never pushed")
    (clone / BACKEND / "half-written.yaml").write_text("kind: Oops\n")
    (clone / "overlays" / "dev" / "stray.txt").write_text("untracked\n")
    (clone / ".git" / "index.lock").write_text("")  # git was killed holding the index
    (workdir / ".deploy.tmp-4242").mkdir()  # a clone cut short
    outcome = writer(deploy, workdir).write(deploy.request())
    assert outcome.sha is not None
    assert_restored(deploy, outcome.sha, BACKEND)
    assert "chore: never pushed" not in [c.subject for c in deploy.commits()]
    assert not (workdir / ".deploy.tmp-4242").exists()


def test_a_concurrent_push_lands_below_the_rollback_and_is_kept(deploy: Deploy) -> None:
    rival = deploy.clone("rival")
    file = rival / overlay_path("prod", "frontend")
    file.write_text(set_tag(file.read_text(), "frontend", TAG_LATER))
    run(rival, "add", "--all")
    run(rival, "commit", "--quiet", "--message", "chore(deploy): promote frontend ccccccc to prod")
    rival_sha = run(rival, "rev-parse", "HEAD").strip()
    delays: list[float] = []
    guard = writer(deploy, sleep=delays.append)
    guard.fetch()
    # Between our fetch and our push the rival pushes (once): our push then loses the race.
    install_hook(
        guard.clone,
        "pre-push",
        f"cat >/dev/null\n[ -e {shlex.quote(str(deploy.tmp / 'raced'))} ] && exit 0\n"
        f": > {shlex.quote(str(deploy.tmp / 'raced'))}\n"
        "unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE\n"
        f"git -C {shlex.quote(str(rival))} push --quiet origin HEAD:refs/heads/main\n",
    )
    before = deploy.tip()
    outcome = guard.write(deploy.request())
    assert outcome.sha is not None
    assert outcome.attempts == 2
    assert len(delays) == 1, "one jittered backoff"
    assert [c.sha for c in deploy.commits()[:3]] == [outcome.sha, rival_sha, before]
    assert deploy.tag("main", "prod", "frontend") == TAG_LATER, "the rival's change is kept"
    assert_restored(deploy, outcome.sha, BACKEND)


def test_someone_already_rolled_back_nothing_is_written(deploy: Deploy) -> None:
    work = deploy.clone("operator")
    run(work, "checkout", deploy.good, "--", BACKEND)
    run(work, "rm", "--quiet", f"{BACKEND}/patch.yaml")
    manual = commit_and_push(
        work,
        "revert(backend-dev): roll back by hand\n\n"
        f"Rollback-Of: {deploy.bad}\nRollback-To: {deploy.good}\nRollback-App: backend-dev\n"
        "Rollback-Reason: operator saw 503s",
    )
    # Someone promotes after the manual rollback; the guard must still not act.
    deploy.promote("frontend", "prod", TAG_LATER)
    tip = deploy.tip()
    outcome = writer(deploy).write(deploy.request())
    assert (outcome.sha, outcome.already, outcome.unchanged) == (None, manual, False)
    assert deploy.tip() == tip


def test_a_rollback_pushed_during_ours_is_found_after_the_next_fetch(deploy: Deploy) -> None:
    guard = writer(deploy, sleep=lambda _: None)
    guard.fetch()
    # Another controller's rollback of the same (app, bad) lands between our fetch and our push.
    script = deploy.tmp / "other.py"
    script.write_text(
        "import sys\nfrom pathlib import Path\n"
        "from console.guard.rollback import RollbackRequest, RollbackWriter\n"
        f"req = RollbackRequest(**{deploy.request().__dict__!r})\n"
        f"workdir = Path({str(deploy.tmp / 'other-guard')!r})\n"
        f"out = RollbackWriter({deploy.url!r}, workdir).write(req)\n"
        "assert out.sha, out\n"
    )
    mark = shlex.quote(str(deploy.tmp / "raced"))
    install_hook(
        guard.clone,
        "pre-push",
        f"cat >/dev/null\n[ -e {mark} ] && exit 0\n: > {mark}\n"
        "unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE\n"
        f"cd {shlex.quote(str(ROOT))} && exec {shlex.quote(sys.executable)} "
        f"{shlex.quote(str(script))}\n",
    )
    outcome = guard.write(deploy.request())
    [theirs] = rollbacks_of(deploy, "backend-dev", deploy.bad)
    assert (outcome.sha, outcome.already, outcome.attempts) == (None, theirs, 2)
    assert deploy.tip() == theirs


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_an_unreachable_remote_is_one_redacted_line(tmp_path: Path) -> None:
    port = _closed_port()
    url = f"https://guard:s3cr3t-token@127.0.0.1:{port}/acme/platform-deploy.git"
    guard = RollbackWriter(url, tmp_path / "guard")
    req = RollbackRequest("backend-dev", BACKEND, "1" * 40, "2" * 40, "Degraded")
    for attempt in (lambda: guard.write(req), guard.fetch, lambda: guard.facts("backend-dev")):
        with pytest.raises(RemoteUnreachableError) as caught:
            attempt()
        text = str(caught.value)
        assert isinstance(caught.value, RollbackError)
        assert "s3cr3t" not in text
        assert "\n" not in text
        assert text.startswith(
            f"deploy repo https://***@127.0.0.1:{port}/acme/platform-deploy.git is unreachable: "
        )
        assert "127.0.0.1" in text.split("is unreachable: ", 1)[1], "git's own reason follows"
    assert not (tmp_path / "guard" / "deploy").exists(), "no half clone is left"


def test_a_remote_that_goes_away_and_comes_back(deploy: Deploy) -> None:
    guard = writer(deploy)
    guard.fetch()
    moved = deploy.bare.with_name("moved.git")
    deploy.bare.rename(moved)
    with pytest.raises(RemoteUnreachableError, match="is unreachable: "):
        guard.write(deploy.request())
    moved.rename(deploy.bare)
    outcome = guard.write(deploy.request())  # the caller's retry
    assert outcome.sha is not None
    assert rollbacks_of(deploy, "backend-dev", deploy.bad) == [outcome.sha]


def test_a_rollback_the_gate_refuses_surfaces_the_hooks_reason(deploy: Deploy) -> None:
    # After the good revision the base moved: restoring the old overlay no longer renders.
    work = deploy.clone("refactor")
    run(work, "mv", "base/backend", "base/api")
    for env in ("dev", "prod"):
        file = work / overlay_path(env, "backend")
        file.write_text(file.read_text().replace("base/backend", "base/api"))
    commit_and_push(work, "refactor(deploy): rename the backend base")
    tip = deploy.tip()
    with pytest.raises(PushRejectedError) as caught:
        writer(deploy).write(deploy.request())
    assert "rejected: overlays/dev/backend: does not render" in caught.value.stderr
    assert "pre-receive hook declined" in str(caught.value)
    assert deploy.tip() == tip


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: {"app": "backend dev"}, "is not an application name"),
        (lambda r: {"app": "x\nRollback-App: y"}, "is not an application name"),
        (lambda r: {"bad": r.bad[:7]}, "bad revision '"),
        (lambda r: {"good": "HEAD"}, "good revision 'HEAD' is not a full commit sha"),
        (lambda r: {"good": r.bad}, "bad and good are the same revision"),
        (lambda r: {"path": ""}, "is not an app source path"),
        (lambda r: {"path": "./"}, "is not an app source path"),
        (lambda r: {"path": "/overlays/dev/backend"}, "is not an app source path"),
        (lambda r: {"path": "overlays/../../etc"}, "is not an app source path"),
        (lambda r: {"path": "overlays/dev/back\nend"}, "is not an app source path"),
        (lambda r: {"good": "d" * 40}, "is not in the deploy repo's history"),
        (lambda r: {"path": "overlays/dev/new-app"}, "is not a directory at the known-good"),
        (lambda r: {"path": f"{BACKEND}/kustomization.yaml"}, "is not a directory at the known"),
    ],
)
def test_requests_that_cannot_be_carried_out_change_nothing(
    deploy: Deploy, change: Callable[[RollbackRequest], dict[str, str]], message: str
) -> None:
    req = deploy.request()
    bad = RollbackRequest(**{**req.__dict__, **change(req)})
    tip = deploy.tip()
    with pytest.raises(RollbackRequestError, match=message.replace("(", r"\(")):
        writer(deploy).write(bad)
    assert deploy.tip() == tip


# --- facts: what Git says, to any writer ---------------------------------------------------------


def test_facts_read_back_what_was_written_across_restarts(deploy: Deploy) -> None:
    guard = writer(deploy)
    assert guard.facts("backend-dev") == GitFacts()
    first = guard.write(deploy.request())
    assert first.sha is not None
    expected = GitFacts(frozenset({deploy.bad}), frozenset({first.sha}))
    assert guard.facts("backend-dev") == expected
    assert guard.facts("backend-dev", refresh=False) == expected
    assert guard.facts("frontend-dev") == GitFacts()
    restarted = writer(deploy)  # same workdir: the clone survives
    assert restarted.facts("backend-dev", refresh=False) == expected
    elsewhere = writer(deploy, deploy.tmp / "fresh")  # a new pod: Git alone
    assert elsewhere.facts("backend-dev") == expected
    facts = elsewhere.facts("backend-dev")
    assert facts.is_bad(deploy.bad)
    assert facts.is_rollback(first.sha)
    assert not facts.is_bad(deploy.good)
    # Another writer's rollback shows up after a fetch.
    second = elsewhere.write(deploy.request("frontend-dev", FRONTEND))
    assert second.sha is not None
    assert guard.facts("frontend-dev") == GitFacts(frozenset({deploy.bad}), frozenset({second.sha}))


def test_sanitize_reason_makes_one_trailer_line() -> None:
    assert sanitize_reason("Degraded:\n  pod crash\tloop\r\nexit 1") == (
        "Degraded: pod crash loop exit 1"
    )
    assert sanitize_reason("a\x00b\x1dc\u2028d") == "a b c d"
    assert sanitize_reason("   ") == "unspecified"
    long = sanitize_reason("x" * 2000)
    assert len(long) == 500
    assert long.endswith("…")


def test_the_message_says_who_asked_for_the_rollback() -> None:
    guard = RollbackRequest("backend-dev", BACKEND, "1" * 40, "2" * 40, "Degraded for 2s")
    person = RollbackRequest(
        "backend-dev", BACKEND, "1" * 40, "2" * 40, "operator ada: bad release", "operator ada"
    )
    by_guard, by_person = message(guard), message(person)
    assert by_guard.startswith("revert(backend-dev): roll back 1111111 to 2222222\n\n")
    assert "Written by the rollback controller (gitops guard)" in by_guard
    assert "as operator ada asked from the console" in by_person
    assert "rollback controller" not in by_person
    assert by_person.endswith("Rollback-Reason: operator ada: bad release")


def test_contains_answers_from_the_remotes_history(deploy: Deploy) -> None:
    """What the guard asks to tell Recovered when a commit landed on top of its rollback."""
    guard = writer(deploy)
    assert guard.contains(deploy.later, deploy.bad)
    assert guard.contains(deploy.bad, deploy.bad)
    assert not guard.contains(deploy.good, deploy.bad), "an ancestor does not contain"
    assert not guard.contains("d" * 40, deploy.good), "a revision the remote lacks"
    assert not guard.contains("HEAD", deploy.good), "full shas only"
    pushed = deploy.promote("frontend", "prod", TAG_BAD)  # after the writer's last fetch
    assert guard.contains(pushed, deploy.later)
