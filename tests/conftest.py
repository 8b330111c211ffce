"""Shared fixtures: the project root, answer sets, and a scratch git identity for commits."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import GIT_IDENTITY

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _git_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests commit in throwaway repos; never depend on (or touch) the machine's git config.
    for var, value in GIT_IDENTITY.items():
        monkeypatch.setenv(var, value)


@pytest.fixture(autouse=True)
def _state_home(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Path:
    # `gitops up` records its workspace under $XDG_STATE_HOME (console.local.last_workspace);
    # tests, and the `gitops up` processes they start, must not touch the machine's.
    state = tmp_path_factory.mktemp("xdg-state")
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    return state


@pytest.fixture
def root() -> Path:
    return ROOT
