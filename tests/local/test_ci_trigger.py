"""When `gitops up` starts the apps CI: on the push webhook, and by polling when a push went
unseen (the platform was down, a webhook was lost). Real bare repositories and a real state.db;
the pipeline itself is a stand-in that records its run, because what is under test is when it
starts: the real pipeline is tested in test_ci.py."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from console.config import load_config
from console.local.ci.runner import repo_name
from console.local.citrigger import CITrigger
from console.local.git.githost import GitHost
from console.local.git.webhook import PushEvent
from console.local.state import Run, State
from tests.helpers import ROOT, run_git


class RecordingCI:
    """Records a finished test stage for each commit it is asked to run, as CIRunner would."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.commits: list[str] = []

    def run(self, remote: str, commit: str) -> list[Run]:
        self.commits.append(commit)
        return [self.state.record_run(repo_name(remote), commit, "test", "succeeded")]


def commit_and_push(work: Path, bare: Path, message: str) -> str:
    (work / "file.txt").write_text(message)
    run_git(work, "add", "--all")
    run_git(work, "commit", "--quiet", "--message", message)
    run_git(work, "push", "--quiet", str(bare), "HEAD:main")
    return run_git(work, "rev-parse", "HEAD").strip()


@pytest.fixture
def setup(tmp_path: Path) -> tuple[CITrigger, RecordingCI, Path, Path]:
    config = load_config(ROOT / "repos.yaml")
    host = GitHost(tmp_path / "remotes")
    bare = host.create(config.repos.apps.name, "app")
    work = tmp_path / "work"
    work.mkdir()
    run_git(work, "init", "--quiet", "--initial-branch", "main")
    state = State(tmp_path / "state.db")
    ci = RecordingCI(state)
    trigger = CITrigger(config, host, ci, state, progress=lambda _: None)
    return trigger, ci, work, bare


def test_poll_runs_ci_once_for_a_head_it_never_saw(
    setup: tuple[CITrigger, RecordingCI, Path, Path],
) -> None:
    trigger, ci, work, bare = setup

    async def scenario() -> None:
        trigger.poll()  # an empty repository: nothing to run
        await trigger.idle()
        assert ci.commits == []
        first = commit_and_push(work, bare, "feat: one")
        trigger.poll()
        trigger.poll()  # the same head again while CI runs: started once
        await trigger.idle()
        assert ci.commits == [first]
        trigger.poll()  # CI recorded a run for it: nothing new
        await trigger.idle()
        assert ci.commits == [first]

    asyncio.run(scenario())


def test_a_head_ci_already_ran_is_left_alone_after_a_restart(
    setup: tuple[CITrigger, RecordingCI, Path, Path],
) -> None:
    trigger, ci, work, bare = setup
    sha = commit_and_push(work, bare, "feat: one")
    ci.state.record_run(repo_name(str(bare)), sha, "test", "failed")  # a run before the restart

    async def scenario() -> None:
        trigger.poll()
        # The bootstrap's own pushes reach the webhook late, once the API serves.
        trigger.on_push(
            PushEvent(
                repo_url=trigger.apps_url,
                urls=frozenset({trigger.apps_url}),
                ref="refs/heads/main",
                before="0" * 40,
                after=sha,
            )
        )
        await trigger.idle()

    asyncio.run(scenario())
    assert ci.commits == []


def test_webhook_and_poll_for_the_same_push_start_one_pipeline(
    setup: tuple[CITrigger, RecordingCI, Path, Path],
) -> None:
    trigger, ci, work, bare = setup
    sha = commit_and_push(work, bare, "feat: one")
    event = PushEvent(
        repo_url=trigger.apps_url,
        urls=frozenset({trigger.apps_url}),
        ref="refs/heads/main",
        before="0" * 40,
        after=sha,
    )
    other_branch = PushEvent(
        repo_url=trigger.apps_url,
        urls=frozenset({trigger.apps_url}),
        ref="refs/heads/feature",
        before="0" * 40,
        after="b" * 40,
    )

    async def scenario() -> None:
        trigger.on_push(other_branch)  # CI here runs for main only
        trigger.on_push(event)
        trigger.poll()
        await trigger.idle()

    asyncio.run(scenario())
    assert ci.commits == [sha]


def test_a_run_a_crash_interrupted_is_run_again_on_resume(
    setup: tuple[CITrigger, RecordingCI, Path, Path], tmp_path: Path
) -> None:
    """The platform died while CI ran the head: on resume the interrupted run is recorded
    failed (and interrupted), and the head is run again, once; a head whose run finished, even
    failed, is not."""
    trigger, ci, work, bare = setup
    state = trigger.state
    head = commit_and_push(work, bare, "feat: one")
    repo = repo_name(str(bare))
    state.record_run(repo, head, "test", "succeeded")
    state.record_run(repo, head, "build")  # running when the platform was killed
    assert state.fail_running() == 1
    [latest] = state.runs(repo, 1, commit=head)
    assert (latest.result, latest.interrupted) == ("failed", True)

    async def scenario() -> None:
        trigger.poll()
        trigger.poll()
        await trigger.idle()
        assert ci.commits == [head]
        trigger.poll()  # its run finished now: nothing more
        await trigger.idle()
        assert ci.commits == [head]

    asyncio.run(scenario())
    # A finished failure is a verdict, not an interruption: never re-run by polling.
    other = commit_and_push(work, bare, "feat: two")
    state.record_run(repo, other, "test", "failed")
    assert state.fail_running() == 0
    config = load_config(ROOT / "repos.yaml")
    again = CITrigger(config, trigger.host, ci, state, progress=lambda _: None)

    async def later() -> None:
        again.poll()
        await again.idle()

    asyncio.run(later())
    assert ci.commits == [head]
