"""The load generator against a real local HTTP server that fails some requests on purpose: every
request is counted exactly once, as ok or failed, with the reason."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from console.drill.load import KEEP_FAILURES, BackgroundLoad, LoadGenerator, LoadStats


class Flaky:
    """Answers its k-th request (in arrival order) 503 when k % 5 == 0, holds it past the
    client's timeout when k % 7 == 0 (and not % 5), and 200 with a /version body otherwise."""

    def __init__(self, failing: bool = True) -> None:
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.answers: Counter[str] = Counter()
        flaky = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with flaky.lock:
                    k = sum(flaky.answers.values()) + 1
                    kind = "503" if k % 5 == 0 else "held" if k % 7 == 0 else "200"
                    kind = kind if failing else "200"
                    flaky.answers[kind] += 1
                if kind == "held":
                    flaky.release.wait(30)
                body = json.dumps({"revision": "r1", "version": "0.1.0"}).encode()
                try:
                    self.send_response(503 if kind == "503" else 200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up on a held request

            def log_message(self, format: str, *args: Any) -> None:
                return

        class Server(ThreadingHTTPServer):
            request_queue_size = 256  # a burst of connects must not wait in SYN retries
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/version"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )


def serve(server: Flaky) -> Iterator[Flaky]:
    server.thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.server.shutdown()
        server.server.server_close()
        server.thread.join(5)


@pytest.fixture
def flaky() -> Iterator[Flaky]:
    yield from serve(Flaky())


@pytest.fixture
def steady() -> Iterator[Flaky]:
    yield from serve(Flaky(failing=False))


@pytest.mark.slow
def test_counts_are_exact_against_a_server_that_fails_some(flaky: Flaky) -> None:
    # A timeout long enough for a busy machine's answers; held requests are held longer.
    load = LoadGenerator(flaky.url, rate=400.0, timeout_s=3.0)
    stats = asyncio.run(load.run(limit=70))
    # 70 requests: 14 answered 503 (k % 5), 8 held past the timeout (k % 7, not % 5), 48 ok.
    assert flaky.answers == {"200": 48, "503": 14, "held": 8}
    assert (stats.total, stats.ok, stats.failed, stats.timeouts) == (70, 48, 22, 8)
    assert stats.in_flight == 0
    assert stats.served_by == (("r1", 48),)
    reasons = Counter(f.reason for f in stats.first_failures)
    assert len(stats.first_failures) == KEEP_FAILURES
    assert set(reasons) <= {"HTTP 503", "timeout after 3s"}
    assert stats.started_at is not None
    assert stats.stopped_at is not None
    assert stats.max_latency_s >= 3.0
    assert stats.failure_rate == pytest.approx(22 / 70)
    doc = stats.to_json()
    assert (doc["total"], doc["failed"], doc["served_by"]) == (70, 22, {"r1": 48})


def test_a_refused_connection_is_a_failure() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again below: nothing listens there
    stats = asyncio.run(
        LoadGenerator(f"http://127.0.0.1:{port}/version", rate=200.0, timeout_s=1.0).run(limit=5)
    )
    assert (stats.total, stats.ok, stats.failed, stats.timeouts) == (5, 0, 5, 0)
    assert all(f.reason.startswith("ConnectError") for f in stats.first_failures)


def test_stop_waits_for_every_request_in_flight(flaky: Flaky) -> None:
    async def scenario() -> tuple[LoadStats, LoadStats]:
        load = LoadGenerator(flaky.url, rate=100.0, timeout_s=0.5)
        task = asyncio.create_task(load.run())
        deadline = time.monotonic() + 10
        while load.stats().total < 30:  # a condition with a deadline, not a fixed sleep
            assert time.monotonic() < deadline, "the generator did not send 30 requests"
            await asyncio.sleep(0.01)
        load.stop()
        return load.stats(), await task

    during, final = asyncio.run(scenario())
    assert final.total >= during.total >= 30
    assert final.ok + final.failed == final.total, "every request sent is counted once"
    assert final.total == sum(flaky.answers.values())


def test_the_rate_is_steady(steady: Flaky) -> None:
    started = time.monotonic()
    stats = asyncio.run(LoadGenerator(steady.url, rate=50.0, timeout_s=2.0).run(limit=26))
    elapsed = time.monotonic() - started
    assert stats.total == 26
    assert 0.45 <= elapsed < 3.0, "26 requests at 50/s take half a second (plus answers)"


def test_a_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="rate"):
        LoadGenerator("http://127.0.0.1:1/", rate=0)


@pytest.mark.slow
def test_in_its_own_thread_a_busy_caller_cannot_delay_a_request(steady: Flaky) -> None:

    async def scenario() -> tuple[LoadStats, bool]:
        load = BackgroundLoad(LoadGenerator(steady.url, rate=50.0, timeout_s=1.5))
        load.start()
        deadline = time.monotonic() + 10
        while not load.answered:
            assert time.monotonic() < deadline, "no answer"
            await asyncio.sleep(0.01)
        time.sleep(3.0)  # the caller's loop blocked for twice the timeout, on purpose
        load.stop()
        return await load.wait(), load.answered

    stats, answered = asyncio.run(scenario())
    assert answered
    assert stats.total >= 100, "the thread kept sending while the caller was blocked"
    assert (stats.failed, stats.timeouts) == (0, 0)
    assert stats.ok == stats.total == steady.answers["200"]
