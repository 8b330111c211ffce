"""The real thing: ``python -m probe`` under Hypercorn, over real HTTP, stopped by signals."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Callable

import httpx
import pytest

from support import ProbeProcess, StubBackend, probe_env, wait_until

StartProbe = Callable[..., ProbeProcess]


def run_healthcheck(port: int) -> int:
    return subprocess.run(
        [sys.executable, "-m", "probe.healthcheck"],
        env=probe_env(PORT=str(port)),
        capture_output=True,
        timeout=10,
        check=False,
    ).returncode


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_backend_process_serves_and_stops_cleanly(
    probe_process: StartProbe, signum: signal.Signals
) -> None:
    proc = probe_process(
        SERVICE_KIND="backend",
        SERVICE_NAME="orders-api",
        SERVICE_VERSION="1.2.3",
        GIT_SHA="abc1234",
        REQUIRED_CONFIG="DB_URL",
        DB_URL="postgres://db",
    )
    proc.wait_healthy()

    with httpx.Client(base_url=proc.url, timeout=5) as http:
        assert http.get("/healthz").json() == {"status": "pass"}
        ready = http.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["checks"]["config"]["status"] == "pass"
        version = http.get("/version").json()
        assert (version["service"], version["version"], version["revision"]) == (
            "orders-api",
            "1.2.3",
            "abc1234",
        )
        metrics = http.get("/metrics").text
        assert 'http_requests_total{method="GET",route="/readyz",status="200"} 1.0' in metrics
        assert "http_request_duration_seconds_bucket" in metrics
        assert 'probe_build_info{kind="backend",revision="abc1234"' in metrics
    assert run_healthcheck(proc.port) == 0

    assert proc.stop(signum) == 0
    assert "Traceback" not in proc.stderr
    lines = proc.log_lines()  # raises if any stdout line is not JSON
    assert all({"ts", "level", "logger", "message"} <= line.keys() for line in lines)
    access = [line for line in lines if line["logger"] == "probe.access"]
    version_line = next(line for line in access if line["path"] == "/version")
    assert {"method": "GET", "route": "/version", "status": 200}.items() <= version_line.items()
    assert all(isinstance(line["duration_ms"], float) for line in access)
    assert any(line["message"] == f"received {signum.name}, shutting down" for line in lines)
    assert lines[-1]["message"] == "stopped"
    assert run_healthcheck(proc.port) == 1


def test_in_flight_request_finishes_during_graceful_shutdown(probe_process: StartProbe) -> None:
    # The stub holds the request until it is released below (10 s at most).
    with StubBackend(hold_s=10.0) as slow:
        proc = probe_process(SERVICE_KIND="frontend", BACKEND_URL=slow.url, BACKEND_TIMEOUT_S="5")
        proc.wait_healthy()
        answers: list[httpx.Response] = []
        caller = threading.Thread(
            target=lambda: answers.append(httpx.get(f"{proc.url}/api/status", timeout=10))
        )
        caller.start()
        assert slow.received.wait(5), "the frontend never called the backend"

        # The request is now in flight, held by the slow backend. Shutdown begins: the server
        # stops listening. Only then does the backend answer, so the request must be drained.
        proc.send_signal(signal.SIGTERM)
        wait_until(lambda: not proc.listening(), 5, "the server to stop listening")
        assert proc.proc.poll() is None, "exited with a request in flight"
        slow.release.set()
        assert proc.wait() == 0
        caller.join(5)

    assert len(answers) == 1
    assert answers[0].status_code == 200
    backend = answers[0].json()["backend"]
    assert (backend["reachable"], backend["ready"]) == (True, True)
    assert backend["version"]["version"] == "7.7.7"
    messages = [line["message"] for line in proc.log_lines()]
    # Shutdown began before the in-flight request was answered.
    assert messages.index("received SIGTERM, shutting down") < messages.index("GET /api/status 200")
