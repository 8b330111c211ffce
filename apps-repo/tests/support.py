"""Real servers and processes for the tests: no mocks, every wait has a deadline."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

import httpx

from probe.app import ProbeApp, create_app
from probe.config import Config, load_config
from probe.server import serve

# Variables probe reads; stripped from inherited environments so the host cannot leak in.
PROBE_VARS = frozenset(
    {
        "SERVICE_NAME",
        "SERVICE_KIND",
        "PORT",
        "HOST",
        "ENVIRONMENT",
        "SERVICE_VERSION",
        "GIT_SHA",
        "IMAGE",
        "BUILT_AT",
        "LOG_LEVEL",
        "GRACEFUL_TIMEOUT_S",
        "BACKEND_URL",
        "BACKEND_TIMEOUT_S",
        "REQUIRED_CONFIG",
    }
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def closed_port_url() -> str:
    """A loopback URL where nothing listens: connecting is refused at once."""
    return f"http://127.0.0.1:{free_port()}"


def make_config(**env: str) -> Config:
    return load_config(env)


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        pause.wait(0.02)


# Every httpx client builds a TLS context, loading the CA bundle (tens of milliseconds of CPU):
# the polls below share one, though they only ever speak plain HTTP to loopback servers.
TLS = ssl.create_default_context()


def answers_healthz(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/healthz", timeout=0.5, verify=TLS).status_code == 200
    except httpx.TransportError:
        return False


class AppServer:
    """A probe app served by Hypercorn on a free loopback port, in a thread of its own."""

    def __init__(self, **env: str) -> None:
        self.port = free_port()
        self.app: ProbeApp = create_app(
            make_config(HOST="127.0.0.1", PORT=str(self.port), GRACEFUL_TIMEOUT_S="2", **env)
        )
        self.url = f"http://127.0.0.1:{self.port}"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"app-{self.port}", daemon=True)

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            await serve(self.app, self._stop)

        try:
            asyncio.run(main())
        except BaseException as exc:  # surfaced by __enter__/__exit__
            self._error = exc

    def __enter__(self) -> Self:
        self._thread.start()
        wait_until(
            lambda: not self._thread.is_alive() or answers_healthz(self.url),
            10,
            f"{self.url}/healthz",
        )
        if self._error is not None:
            raise RuntimeError(f"server on {self.url} failed") from self._error
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
        assert not self._thread.is_alive(), "server thread did not stop"
        if self._error is not None:
            raise RuntimeError(f"server on {self.url} failed") from self._error


@dataclass
class StubBackend:
    """A tiny threaded HTTP server posing as a backend: can be slow or answer errors.

    ``received`` is set when a request arrives; each request is then held for
    ``hold_s`` seconds, or until ``release`` is set (which closing the stub does).
    """

    hold_s: float = 0.0
    status: int = 200
    received: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                stub.received.set()
                stub.release.wait(stub.hold_s)
                body: dict[str, Any] = (
                    {"service": "stub", "version": "7.7.7", "revision": "stubsha"}
                    if self.path.endswith("/version")
                    else {"status": "pass", "checks": {}}
                )
                data = json.dumps(body).encode()
                try:
                    self.send_response(stub.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the caller gave up (timed out) and closed the connection

            def log_message(self, format: str, *args: Any) -> None:
                return  # keep test output quiet

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def probe_env(**env: str) -> dict[str, str]:
    """The test process's environment without probe's variables, plus ``env``."""
    base = {k: v for k, v in os.environ.items() if k not in PROBE_VARS}
    return {**base, "PYTHONDONTWRITEBYTECODE": "1", **env}


def run_probe(env: Mapping[str, str], timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "probe"],
        env=probe_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class ProbeProcess:
    """``python -m probe`` as a real process on a free loopback port."""

    def __init__(self, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = probe_env(HOST="127.0.0.1", PORT=str(self.port), **env)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "probe"],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stdout = ""
        self.stderr = ""

    def wait_healthy(self, timeout: float = 15) -> None:
        wait_until(
            lambda: self.proc.poll() is not None or answers_healthz(self.url),
            timeout,
            f"{self.url}/healthz",
        )
        if self.proc.poll() is not None:
            self.stdout, self.stderr = self.proc.communicate()
            raise AssertionError(f"probe exited early ({self.proc.returncode}): {self.stderr}")

    def send_signal(self, signum: signal.Signals) -> None:
        self.proc.send_signal(signum)

    def wait(self, timeout: float = 15) -> int:
        """Wait for the exit, collecting the output; returns the exit code."""
        self.stdout, self.stderr = self.proc.communicate(timeout=timeout)
        return self.proc.returncode

    def stop(self, signum: signal.Signals = signal.SIGTERM, timeout: float = 15) -> int:
        """Send ``signum`` and wait for the exit; returns the exit code."""
        self.send_signal(signum)
        return self.wait(timeout)

    def listening(self) -> bool:
        """Whether the server still accepts connections (it stops as soon as shutdown begins)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()

    def log_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]
