"""What the drill reads from the platform: pods in a resource tree, promotions and rollbacks by
their trailers in a real git repository, and how it waits."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from console.drill.watch import (
    DrillTimeoutError,
    halted,
    pods,
    promotion_of,
    rollbacks_of,
    wait_until,
)
from tests.helpers import run_git

GOOD, BAD = "1" * 40, "2" * 40


def pod(name: str, tag: str, reason: str, containers: str) -> dict[str, Any]:
    return {
        "kind": "Pod",
        "name": name,
        "images": [f"registry/frontend:{tag}"],
        "info": [
            {"name": "Status Reason", "value": reason},
            {"name": "Containers", "value": containers},
        ],
        "health": {"status": "Healthy" if containers == "1/1" else "Progressing"},
    }


def test_pods_and_a_halted_rollout() -> None:
    tree = {
        "nodes": [
            {"kind": "Deployment", "name": "frontend"},
            pod("frontend-new", BAD, "Running", "0/1"),
            pod("frontend-old", GOOD, "Running", "1/1"),
            {"kind": "Pod"},  # malformed: read as a pod of nothing
            "junk",
        ]
    }
    found = pods(tree)
    assert [(p.name, p.tag, p.ready) for p in found] == [
        ("frontend-new", BAD, False),
        ("frontend-old", GOOD, True),
        ("", "", False),
    ]
    assert halted(found, BAD, GOOD) == ("frontend-new Running 0/1; frontend-old ready and serving")


@pytest.mark.parametrize(
    "nodes",
    [
        [pod("frontend-new", BAD, "ContainerCreating", "0/1"), pod("o", GOOD, "Running", "1/1")],
        [pod("frontend-new", BAD, "Running", "0/1"), pod("o", GOOD, "Running", "0/1")],
        [pod("frontend-new", BAD, "Running", "1/1"), pod("o", GOOD, "Running", "1/1")],
        [pod("o", GOOD, "Running", "1/1")],
    ],
    ids=["new pod not running yet", "no old pod serving", "new pod ready", "no new pod"],
)
def test_not_halted(nodes: list[dict[str, Any]]) -> None:
    assert halted(pods({"nodes": nodes}), BAD, GOOD) == ""


def commit(repo: Path, message: str) -> str:
    run_git(repo, "commit", "--quiet", "--allow-empty", "--message", message)
    return run_git(repo, "rev-parse", "HEAD").strip()


def test_promotions_and_rollbacks_are_found_by_their_trailers(tmp_path: Path) -> None:
    repo = tmp_path / "deploy"
    repo.mkdir()
    run_git(repo, "init", "--quiet", "--initial-branch", "main")
    commit(repo, "chore: start")
    promo = commit(
        repo,
        "chore(deploy): promote backend, frontend 2222222 to dev\n\n"
        f"Promoted-Service: backend\nPromoted-Tag: {BAD}\nSource-Commit: {BAD}\n"
        f"Promoted-Service: frontend\nPromoted-Tag: {BAD}\nSource-Commit: {BAD}\n",
    )
    backend_only = commit(
        repo,
        f"chore(deploy): promote backend\n\nPromoted-Service: backend\nSource-Commit: {GOOD}\n",
    )
    rollback = commit(
        repo,
        f"revert(frontend-dev): roll back\n\nRollback-Of: {promo}\nRollback-To: {backend_only}\n"
        "Rollback-App: frontend-dev\nRollback-Reason: still Progressing\n",
    )
    found = promotion_of(str(repo), BAD, "frontend")
    assert found is not None
    assert (found.sha, found.trailer("promoted-tag")) == (promo, BAD)
    assert promotion_of(str(repo), GOOD, "frontend") is None, "that one promoted the backend"
    assert promotion_of(str(repo), "3" * 40, "frontend") is None
    rollbacks = rollbacks_of(str(repo), promo)
    assert [r.sha for r in rollbacks] == [rollback]
    assert rollbacks[0].trailer("Rollback-App") == "frontend-dev"
    assert rollbacks_of(str(repo), backend_only) == []


def test_a_wait_ends_with_the_value_or_names_what_did_not_happen() -> None:
    calls = []

    async def third_time() -> str | None:
        calls.append(1)
        return "done" if len(calls) == 3 else None

    assert asyncio.run(wait_until(third_time, "three calls", 5, every_s=0.01)) == "done"

    async def never() -> None:
        return None

    started = time.monotonic()
    with pytest.raises(
        DrillTimeoutError, match=r"^the rollback commit: did not happen within 0\.2s"
    ):
        asyncio.run(wait_until(never, "the rollback commit", 0.2, every_s=0.05))
    assert time.monotonic() - started < 2


def test_a_wait_ends_when_the_platform_is_gone() -> None:
    async def never() -> None:
        return None

    def gone() -> None:
        raise RuntimeError("gitops up exited with code 1")

    with pytest.raises(RuntimeError, match="exited"):
        asyncio.run(wait_until(never, "anything", 5, alive=gone))
