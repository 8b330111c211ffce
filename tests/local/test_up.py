"""`gitops up` refuses a taken API port before any work. The platform's life (deploy, resume,
kill -9, the guard, the drill) is the ordered end-to-end story in tests/e2e/."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from tests.e2e.platform import up_command


@pytest.mark.slow
def test_a_taken_api_port_is_a_clear_error_before_any_work(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            up_command(workspace, "--port", str(port)),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 2, done.stderr
    assert f"127.0.0.1:{port}" in done.stderr
    assert "already in use" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (workspace / "remotes").exists() or not any((workspace / "remotes").iterdir())
