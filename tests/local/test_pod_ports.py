"""Pod ports are chosen below the kernel's ephemeral range, so a port handed to a pod cannot be
taken by another socket's bind(0) or outgoing connection before the pod binds it."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from console.local.kube import pods
from console.local.kube.pods import free_port, pod_port_range


def test_ports_come_from_below_the_ephemeral_range_and_are_free() -> None:
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = pod_port_range()
    assert ports.stop <= low
    for _ in range(20):
        port = free_port()
        assert port in ports
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))  # nobody holds it


def test_taken_and_listening_ports_are_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        listening = busy.getsockname()[1]
        # A range of three ports: one listened on, one handed out already, one free.
        monkeypatch.setattr(pods, "pod_port_range", lambda: range(listening, listening + 3))
        picks = {free_port(taken=[listening + 1]) for _ in range(30)}
    assert picks <= {listening + 2}


def test_an_unreadable_range_falls_back_to_linuxs_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(pods, "EPHEMERAL_RANGE_FILE", tmp_path / "missing")
    assert pod_port_range() == range(pods.POD_PORTS_FROM, 32768)
