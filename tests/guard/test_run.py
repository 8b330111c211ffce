"""Assembling a guard from flags and its environment: where it listens and where its events go,
as a pod of the embedded platform (PORT, HOST, GITOPS_GUARD_EVENTS) or of a cluster gets them."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.guard.run import default_listen, from_flags, parse_listen

ANY = "0.0.0.0"  # noqa: S104 - the default of a pod's metrics port, as the manifest has it


@pytest.mark.parametrize(
    ("environ", "listen"),
    [
        ({}, (ANY, 9090)),
        ({"PORT": "17060", "HOST": "127.0.0.1"}, ("127.0.0.1", 17060)),
        ({"PORT": "17060"}, (ANY, 17060)),
        # A shell's HOST (the machine's name) alone does not move the port or the address.
        ({"HOST": "workstation"}, (ANY, 9090)),
        ({"PORT": " "}, (ANY, 9090)),
    ],
)
def test_the_default_listen_address_honours_port_and_host(
    environ: dict[str, str], listen: tuple[str, int]
) -> None:
    assert parse_listen(default_listen(environ)) == listen


def test_events_go_to_the_file_given_else_only_to_memory(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("t0ken\n")
    token.chmod(0o600)
    common = {"workdir": str(tmp_path / "work")}
    target = from_flags(
        "http://argocd", str(token), "git@h:o/r.git", events=str(tmp_path / "e.jsonl"), **common
    )
    assert target.events_path == tmp_path / "e.jsonl"
    assert target.token == token.read_text().strip()
    assert from_flags("http://argocd", str(token), "git@h:o/r.git", **common).events_path is None
