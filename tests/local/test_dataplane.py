"""The data plane process with real processes, sockets and HTTP: a control plane in a child
process routes a Service to a real HTTP server, is killed with SIGKILL, and a second control
plane adopts the data plane; requests sent all along must all succeed. No mocks; every wait is
on a condition with a deadline."""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from console.local.kube.dataplane import RECORD
from console.local.kube.dataplane_client import DataPlane, socket_path
from console.local.kube.processes import ProcessRuntime
from console.local.kube.proxytable import Route
from console.procs import process_state

KEY = ("dev", "web")


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"hello"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def upstream() -> Iterator[int]:
    """A real HTTP server standing in for a ready pod; its port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


CONTROL_PLANE = """
import asyncio, sys
from pathlib import Path
from console.local.kube.dataplane_client import DataPlane
from console.local.kube.proxytable import Route

async def main():
    plane = await DataPlane.attach(Path(sys.argv[1]))
    applied = await plane.apply({("dev", "web"): Route(0, (("127.0.0.1", int(sys.argv[2])),))})
    print(applied[("dev", "web")], plane.pid, flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


def killed_control_plane(directory: Path, upstream: int) -> tuple[int, int]:
    """A control plane in a real process that starts the data plane, routes `web` to
    `upstream`, and is then killed with SIGKILL; the Service's port and the data plane's pid."""
    child = subprocess.Popen(
        [sys.executable, "-c", CONTROL_PLANE, str(directory), str(upstream)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert child.stdout is not None
        ready, _, _ = select.select([child.stdout], [], [], 30)
        line = child.stdout.readline() if ready else ""
        assert line, "the control plane never routed the Service"
        port, pid = (int(word) for word in line.split())
    finally:
        child.kill()
        child.wait()
    return port, pid


class Load:
    """GET requests through the Service, one after another, in a thread, counting failures."""

    def __init__(self, url: str) -> None:
        self.url, self.sent, self.failed = url, 0, []  # type: ignore[var-annotated]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(trust_env=False, timeout=5) as client:
            while not self._stop.is_set():
                self.sent += 1
                try:
                    response = client.get(self.url)
                    if response.status_code != 200:
                        self.failed.append(response.status_code)
                except httpx.HTTPError as exc:
                    self.failed.append(repr(exc))

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


def wait_for(condition, what: str, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_routes_outlive_a_killed_control_plane_and_are_adopted(
    tmp_path: Path, upstream: int
) -> None:
    """kube-proxy's promise: the control plane that set up the route is killed with SIGKILL,
    the Service keeps answering, and the next control plane adopts the same data plane (same
    pid, same port, same endpoints) instead of starting a second one. Not one request fails
    from before the kill to after the adoption. Closing drains and stops it."""
    directory = tmp_path / "dataplane"
    port, pid = killed_control_plane(directory, upstream)
    url = f"http://127.0.0.1:{port}/"
    with Load(url) as load:
        wait_for(lambda: load.sent > 20, "requests through the orphaned data plane")

        async def adopt() -> None:
            plane = await DataPlane.attach(directory)
            try:
                assert plane.pid == pid
                assert plane.adopted == {KEY: Route(port, (("127.0.0.1", upstream),))}
                sent = load.sent
                await asyncio.to_thread(
                    wait_for, lambda: load.sent > sent + 20, "requests after adoption"
                )
                load.stop()
            finally:
                await plane.close(1.0)

        asyncio.run(adopt())
    assert load.failed == []
    assert process_state(pid) in (None, "Z"), "close stops the data plane"
    with pytest.raises(httpx.ConnectError):
        httpx.get(url, timeout=2)


def test_a_record_that_does_not_prove_its_process_is_not_trusted(tmp_path: Path) -> None:
    """A record naming a live process that is not the data plane (here: this test's own pid,
    with another start time) is stale: a new data plane starts, and the live process is left
    alone."""
    directory = tmp_path / "dataplane"
    directory.mkdir()
    (directory / RECORD).write_text(
        json.dumps({"pid": os.getpid(), "process_start": "1", "socket": str(tmp_path / "x")})
    )

    async def scenario() -> None:
        plane = await DataPlane.attach(directory)
        try:
            assert plane.pid != os.getpid()
            assert plane.adopted == {}
            record = json.loads((directory / RECORD).read_text())
            assert record["pid"] == plane.pid
        finally:
            await plane.close(1.0)

    asyncio.run(scenario())


def test_a_taken_port_is_a_failed_service_not_a_dead_data_plane(tmp_path: Path) -> None:
    """A Service whose recorded port another program took fails to apply with a message naming
    the port, through the runtime as ProxyError; the data plane keeps running the others."""
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]

    async def scenario() -> None:
        plane = await DataPlane.attach(tmp_path / "dataplane")
        try:
            applied = await plane.apply({KEY: Route(port), ("dev", "other"): Route(0)})
            assert f"port {port} on 127.0.0.1 is already in use" in str(applied[KEY])
            assert isinstance(applied[("dev", "other")], int)
        finally:
            await plane.close(1.0)

    try:
        asyncio.run(scenario())
    finally:
        taken.close()


def test_a_runtime_keeps_inherited_routes_until_it_settles(tmp_path: Path, upstream: int) -> None:
    """A runtime on an adopted data plane keeps a Service routing to the endpoints it had while
    the apps are restored (here: none is applied again), and drops it once told that every app
    was restored (`reap_unclaimed`)."""
    directory = tmp_path / "dataplane"
    port, _ = killed_control_plane(directory, upstream)
    url = f"http://127.0.0.1:{port}/"

    async def scenario() -> None:
        plane = await DataPlane.attach(directory)
        runtime = ProcessRuntime(tmp_path / "run", images=None, routes=plane)  # type: ignore[arg-type]
        try:
            assert runtime.service_ports() == {KEY: port}
            async with httpx.AsyncClient(trust_env=False) as client:
                assert (await client.get(url, timeout=5)).text == "hello"
            runtime.reap_unclaimed()
            await plane.apply({})  # a barrier: the publish before it was handled
            # A new connection (the first client's keep-alive one may still be draining, as a
            # dropped Service lets requests in flight finish): nothing listens any more.
            async with httpx.AsyncClient(trust_env=False) as client:
                with pytest.raises(httpx.ConnectError):
                    await client.get(url, timeout=2)
        finally:
            await runtime.close()

    asyncio.run(scenario())


def test_the_control_socket_fits_a_unix_socket_address(tmp_path: Path) -> None:
    """A workspace path too long for a Unix socket address (108 bytes) gets its socket in a
    private directory (0700) under the temp dir instead, one per workspace."""
    deep = tmp_path / ("d" * 120)
    path = socket_path(deep)
    assert len(os.fsencode(path)) <= 100
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert socket_path(deep) == path != socket_path(tmp_path / ("e" * 120))
    assert socket_path(tmp_path) == tmp_path / "dataplane.sock"


def test_sigterm_drains_and_stops_the_data_plane(tmp_path: Path) -> None:
    """SIGTERM (a shutdown of the machine, an operator's kill) drains and exits, removing the
    socket."""

    async def scenario() -> int:
        plane = await DataPlane.attach(tmp_path / "dataplane")
        plane.detach()
        return plane.pid

    pid = asyncio.run(scenario())
    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: process_state(pid) in (None, "Z"), "the data plane to exit")
    assert not socket_path(tmp_path / "dataplane").exists()


def test_a_killed_data_plane_is_started_again_on_the_same_ports(
    tmp_path: Path, upstream: int
) -> None:
    """kill -9 of the data plane itself (kube-proxy crashing): the control plane notices its
    control connection close, starts another at once and gives it the last table, so the
    Service answers again on the same port within a few seconds."""

    async def scenario() -> None:
        plane = await DataPlane.attach(tmp_path / "dataplane")
        try:
            applied = await plane.apply({KEY: Route(0, (("127.0.0.1", upstream),))})
            port, first = applied[KEY], plane.pid
            url = f"http://127.0.0.1:{port}/"
            os.kill(first, signal.SIGKILL)

            def answers() -> bool:
                try:
                    return httpx.get(url, timeout=1).text == "hello"
                except httpx.HTTPError:
                    return False

            await asyncio.to_thread(wait_for, lambda: plane.pid != first, "a new data plane")
            await asyncio.to_thread(wait_for, answers, "the Service on its port again")
            assert plane.restarts == 1
            assert process_state(first) in (None, "Z")
        finally:
            await plane.close(1.0)

    asyncio.run(scenario())
