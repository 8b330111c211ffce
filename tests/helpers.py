"""Small helpers for tests that build throwaway template repositories."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]

# Tests commit in throwaway repos: never depend on (or touch) the machine's git config.
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def run_git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


def template_repo(dest: Path, tag: str | None = "v1") -> Path:
    """A standalone git repository holding this project's templates, as users would publish them."""
    dest.mkdir(parents=True)
    shutil.copy2(ROOT / "copier.yml", dest / "copier.yml")
    shutil.copytree(
        ROOT / "templates",
        dest / "templates",
        ignore=shutil.ignore_patterns(".venv", "__pycache__", ".*_cache"),
    )
    run_git(dest, "init", "--quiet", "--initial-branch", "main")
    run_git(dest, "add", "--all")
    run_git(dest, "commit", "--quiet", "--message", "feat: templates")
    if tag:
        run_git(dest, "tag", tag)
    return dest


def commit_all(repo: Path, message: str, tag: str | None = None) -> None:
    run_git(repo, "add", "--all")
    run_git(repo, "commit", "--quiet", "--message", message)
    if tag:
        run_git(repo, "tag", tag)


def get_application(api_url: str, token: str, name: str) -> dict[str, Any]:
    """One Application as the Argo CD API answers it, as an operator's client reads it."""
    answer = httpx.get(
        f"{api_url}/api/v1/applications/{name}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    answer.raise_for_status()
    app: dict[str, Any] = answer.json()
    return app
