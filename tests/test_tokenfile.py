"""Token files: one reader for every command; one non-empty line; a one-line warning (naming the
file, never the token) when others may read it, as ssh warns of a key."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.cli import main
from console.tokenfile import TokenFileError, read_token

SECRET = "s3cr3t-token-value"  # noqa: S105 - a test value


def token_file(tmp_path: Path, mode: int, text: str = SECRET + "\n") -> Path:
    path = tmp_path / "token"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_an_owner_only_file_is_read_quietly(tmp_path: Path) -> None:
    said: list[str] = []
    assert read_token(token_file(tmp_path, 0o600), said.append) == SECRET
    assert said == []


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_a_file_others_may_read_is_read_with_one_warning(tmp_path: Path, mode: int) -> None:
    said: list[str] = []
    path = token_file(tmp_path, mode)
    assert read_token(path, said.append) == SECRET
    assert said == [
        f"gitops: warning: {path} holds a token and others may read it "
        f"(mode {mode:04o}); chmod 600 {path}"
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the token file must hold one non-empty line"),
        ("a\nb\n", "the token file must hold one non-empty line"),
        (None, "cannot read the token file: No such file or directory"),
    ],
)
def test_what_is_not_a_token_is_an_error_naming_the_file(
    tmp_path: Path, text: str | None, message: str
) -> None:
    path = token_file(tmp_path, 0o600, text) if text is not None else tmp_path / "missing"
    with pytest.raises(TokenFileError) as info:
        read_token(path)
    assert str(info.value) == f"{path}: {message}"


def test_gitops_status_warns_of_a_world_readable_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The warning as an operator sees it (the unreachable API afterwards is another error)."""
    path = token_file(tmp_path, 0o644)
    main(["status", "--argocd", "http://127.0.0.1:9", "--token-file", str(path)])
    err = capsys.readouterr().err
    assert f"gitops: warning: {path} holds a token and others may read it (mode 0644)" in err
    assert SECRET not in err
