"""Live versions from the services' `/version` (docs/services/health-contract.md), against real
HTTP servers on 127.0.0.1 like the ones the embedded platform's Services answer on: one that
answers, one that never does (a timeout), broken answers, a refused port; bounded
concurrency. A failing probe reads as None and never raises."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from console.fleet.probes import fetch_versions, live_version
from tests.fleet.status_data import SHA_A, VersionServer, serving

VERSION = {
    "service": "backend",
    "kind": "backend",
    "version": "0.1.0",
    "revision": SHA_A,
    "image": f"registry.local:5000/acme/backend:{SHA_A}",
    "built_at": "2026-08-01T11:50:00Z",
    "environment": "dev",
}


@pytest.fixture
def answering() -> Iterator[VersionServer]:
    with serving(VersionServer((200, VERSION))) as server:
        yield server


@pytest.fixture
def hanging() -> Iterator[VersionServer]:
    with serving(VersionServer(hang=True)) as server:
        yield server


def _refused_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_an_answer_and_a_timeout(answering: VersionServer, hanging: VersionServer) -> None:
    started = time.monotonic()
    got = asyncio.run(
        fetch_versions({"backend-dev": answering.url, "slow-dev": hanging.url + "/"}, timeout=0.5)
    )
    assert got == {"backend-dev": SHA_A, "slow-dev": None}
    assert time.monotonic() - started < 5  # the deadline held, whatever the server did
    assert answering.paths == ["/version"]
    assert hanging.paths == ["/version"]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ((200, {"version": "0.1.0", "revision": "unknown"}), "0.1.0"),  # unset build metadata
        ((200, {"version": "unknown", "revision": ""}), None),
        ((200, {"revision": 42}), None),
        ((200, ["not", "an", "object"]), None),
        ((200, b"<html>hello</html>"), None),
        ((503, VERSION), None),
    ],
)
def test_answers_that_say_nothing(answer: tuple[int, Any], expected: str | None) -> None:
    with serving(VersionServer(answer)) as server:
        assert asyncio.run(fetch_versions({"x": server.url})) == {"x": expected}


def test_refused_and_invalid_urls() -> None:
    urls = {"refused": _refused_url(), "nonsense": "not a url", "bad-port": "http://[::1:99999"}
    assert asyncio.run(fetch_versions(urls, timeout=1.0)) == dict.fromkeys(urls)


def test_concurrency_is_bounded() -> None:
    """Requests are held until released: with a bound of 2, two arrive and no third follows
    while they are held (unbounded, all six would); released, all six are answered."""
    with serving(VersionServer((200, VERSION), hang=True)) as server:
        urls = {f"svc-{i}": server.url for i in range(6)}
        got: dict[str, str | None] = {}
        thread = threading.Thread(
            target=lambda: got.update(asyncio.run(fetch_versions(urls, concurrency=2)))
        )
        thread.start()
        with server.lock:
            assert server.lock.wait_for(lambda: server.inflight == 2, timeout=10)
            # A condition that must not come true: waited for with a deadline.
            assert not server.lock.wait_for(lambda: server.inflight > 2, timeout=0.3)
        server.released.set()
        thread.join(timeout=10)
        assert got == dict.fromkeys(urls, SHA_A)
        assert (len(server.paths), server.most) == (6, 2)


def test_nothing_to_probe_and_bad_arguments() -> None:
    assert asyncio.run(fetch_versions({})) == {}
    with pytest.raises(ValueError, match="concurrency"):
        asyncio.run(fetch_versions({"x": "http://127.0.0.1:1"}, concurrency=0))


def test_live_version_prefers_the_revision() -> None:
    assert live_version(VERSION) == SHA_A
    assert live_version({"version": " 1.2.3 "}) == "1.2.3"
    assert live_version(None) is None
