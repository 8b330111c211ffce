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


@pytest.fixture
def root() -> Path:
    return ROOT
