"""Shared fixtures: the project root, the git identity, a scratch state home, and the world most
platform tests start from (tests/world.py), built once per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import GIT_IDENTITY
from tests.local.deploy_history import DeployHistory
from tests.local.deploy_history import deploy_history as make_deploy_history
from tests.world import World, build_world

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def _git_identity() -> Iterator[None]:
    # Tests commit in throwaway repos; never depend on (or touch) the machine's git config.
    # Set once for the session, so session and module fixtures commit with it too.
    with pytest.MonkeyPatch.context() as mp:
        for var, value in GIT_IDENTITY.items():
            mp.setenv(var, value)
        yield


@pytest.fixture(autouse=True)
def _state_home(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Path:
    # `gitops up` records its workspace under $XDG_STATE_HOME (console.local.last_workspace);
    # tests, and the `gitops up` processes they start, must not touch the machine's.
    state = tmp_path_factory.mktemp("xdg-state")
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    return state


@pytest.fixture(scope="session")
def shared_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """The three repos of repos.yaml and both services built: see tests/world.py."""
    return build_world(tmp_path_factory.mktemp("world"))


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def deploy_history(tmp_path_factory: pytest.TempPathFactory) -> DeployHistory:
    """A deploy repo with two commits and a RepoServer over it (tests/local/deploy_history.py),
    shared so that each revision is rendered once per session; tests only read it."""
    return make_deploy_history(tmp_path_factory.mktemp("deploy-history"))
