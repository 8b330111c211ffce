"""platform.json through its one type: what `gitops up` writes is what every client reads, and
a missing or malformed file is one line naming it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from console.platforminfo import PlatformInfo, PlatformInfoError


def info(tmp_path: Path, **changes: object) -> PlatformInfo:
    fields: dict[str, object] = {
        "argocd_url": "http://127.0.0.1:8080",
        "token_file": tmp_path / "token",
        "kubeconfig": tmp_path / "kubeconfig",
        "remotes": {"deploy": "/ws/remotes/platform-deploy.git"},
        "services": {"frontend-dev": "http://127.0.0.1:30001"},
        "pid": 4242,
        "guard_url": "http://127.0.0.1:30002",
        "guard_events": str(tmp_path / "events.jsonl"),
    }
    return PlatformInfo(**{**fields, **changes})  # type: ignore[arg-type]


def test_what_is_written_is_what_is_read(tmp_path: Path) -> None:
    written = info(tmp_path)
    path = written.write(tmp_path)
    assert path == tmp_path / "platform.json"
    assert PlatformInfo.read(tmp_path) == written
    assert not list(tmp_path.glob(".*.tmp")), "no temp file left behind"


def test_without_a_guard_its_fields_are_left_out(tmp_path: Path) -> None:
    info(tmp_path, guard_url="", guard_events="").write(tmp_path)
    doc = json.loads((tmp_path / "platform.json").read_text())
    assert "guard_url" not in doc
    assert "guard_events" not in doc
    assert PlatformInfo.read(tmp_path).guard_events == ""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "platform.json: not found; is `gitops up --workspace"),
        ("{", "platform.json: not a platform.json (JSONDecodeError"),
        ('{"argocd_url": "x"}', "platform.json: not a platform.json (KeyError: 'token_file')"),
        ("[]", "platform.json: not a platform.json (TypeError"),
    ],
)
def test_a_missing_or_malformed_file_is_one_line_naming_it(
    tmp_path: Path, text: str | None, message: str
) -> None:
    if text is not None:
        (tmp_path / "platform.json").write_text(text)
    with pytest.raises(PlatformInfoError) as raised:
        PlatformInfo.read(tmp_path)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)
