"""Fixtures of the console's tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tui import fakes


@pytest.fixture
def guard_file(tmp_path: Path) -> Path:
    return fakes.write_guard_events(tmp_path / "events.jsonl")
