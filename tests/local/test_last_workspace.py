"""The workspace `gitops up` used last (`gitops status`'s default): where it is kept, that it is
replaced atomically, and that a missing or broken record, or an unwritable state directory,
never fails anyone."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from console.local.last_workspace import recall, remember, state_file


def test_remember_then_recall(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert recall() is None
    remember(tmp_path / "ws-1")
    assert state_file() == tmp_path / "state" / "gitops" / "last-workspace"
    assert state_file().read_text() == f"{tmp_path / 'ws-1'}\n"
    remember(tmp_path / "ws-2")
    assert recall() == tmp_path / "ws-2"
    # Replaced by a rename: no temporary file is left next to it.
    assert os.listdir(state_file().parent) == ["last-workspace"]


def test_relative_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_STATE_HOME", "relative/state")  # invalid per XDG: ignored
    remember(Path("ws"))
    assert state_file() == tmp_path / "home" / ".local" / "state" / "gitops" / "last-workspace"
    assert recall() == tmp_path / "ws"
    state_file().write_text("not/absolute\n")
    assert recall() is None


def test_an_unwritable_state_directory_is_only_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_STATE_HOME", str(blocker))  # a file where a directory must be
    remember(tmp_path / "ws")
    assert recall() is None
    assert "cannot record the last workspace" in caplog.text
