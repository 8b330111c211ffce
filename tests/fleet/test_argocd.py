"""ArgoCDSource against the embedded platform's Argo-CD-compatible API (real HTTP on 127.0.0.1,
`console.local.argo.api` over an InMemorySource): list, get, refresh, the application stream with
its Snapshot / Changed / Deleted / Down events, reconnects after a server restart on the same
port, polling when a proxy refuses streams, and the one-line errors."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from console.fleet.argocd import ArgoCDSource
from console.fleet.follow import Pacing
from console.fleet.model import Health
from console.fleet.source import (
    Changed,
    Deleted,
    Down,
    Event,
    Polling,
    Snapshot,
    SourceError,
)
from console.local.argo.inmemory import InMemorySource
from console.local.argo.requests import RefreshRequest
from console.local.kube.pods import free_port
from tests.fleet.support import (
    Answer,
    FakeSleep,
    Pump,
    Server,
    record,
    trickling_server,
    with_health,
)

TOKEN = "fleet-test-token-0123456789"  # noqa: S105 - a test token, served only on 127.0.0.1
STREAM = "/api/v1/stream/applications"


@pytest.fixture
def fleet() -> InMemorySource:
    return InMemorySource([record("backend-dev"), record("frontend-dev")])


@pytest.fixture
def server(fleet: InMemorySource) -> Iterator[Server]:
    running = Server(fleet, TOKEN).start()
    yield running
    running.stop()


def _names(event: Event) -> list[str]:
    assert isinstance(event, Snapshot), event
    return sorted(app.name for app in event.apps)


def _nth_snapshot(n: int) -> Callable[[Event], bool]:
    count = 0

    def done(event: Event) -> bool:
        nonlocal count
        count += isinstance(event, Snapshot)
        return count == n

    return done


def _source(url: str, sleep: FakeSleep | None = None, **kwargs: Any) -> ArgoCDSource:
    # rng fixed at 0.5: the jitter factor is 1, so backoff delays are exact.
    pacing = Pacing(sleep=sleep or FakeSleep(), rng=lambda: 0.5, **kwargs)
    return ArgoCDSource(url, TOKEN, name="local", pacing=pacing)


def test_list_and_get(server: Server, fleet: InMemorySource) -> None:
    async def scenario() -> None:
        source = _source(server.url)
        try:
            apps = await source.list()
            assert sorted(a.name for a in apps) == ["backend-dev", "frontend-dev"]
            app = next(a for a in apps if a.name == "backend-dev")
            assert (app.instance, app.namespace, app.service, app.env) == (
                "local",
                "argocd",
                "backend",
                "dev",
            )
            assert app.health == Health.HEALTHY
            assert app.history[0].revision == "a" * 40
            assert app.resource_version == str(fleet.get("backend-dev").resource_version)

            got = await source.get("frontend-dev")
            assert got.name == "frontend-dev"
            assert (await source.get("argocd/frontend-dev")).name == "frontend-dev"
            assert fleet.take_requests() == []
            await source.get("backend-dev", refresh="normal")
            await source.get("backend-dev", refresh="hard")
            assert fleet.take_requests() == [
                RefreshRequest("backend-dev", False),
                RefreshRequest("backend-dev", True),
            ]
            with pytest.raises(ValueError, match="refresh 'soft'"):
                await source.get("backend-dev", refresh="soft")
            with pytest.raises(SourceError) as missing:
                await source.get("nope")
            assert str(missing.value) == f'application "nope" not found in Argo CD at {server.url}'
            assert missing.value.kind == "not_found"
        finally:
            await source.aclose()

    asyncio.run(scenario())


def test_wrong_token_is_one_clear_line(server: Server, caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        source = ArgoCDSource(server.url, "not-the-token")
        try:
            with pytest.raises(SourceError) as denied:
                await source.list()
            assert str(denied.value) == f"token rejected by Argo CD at {server.url}"
            assert denied.value.kind == "auth"
            with pytest.raises(SourceError, match=r"^token rejected by Argo CD at "):
                await source.get("backend-dev")
            # A token that never worked is a configuration error: the events end with it.
            with pytest.raises(SourceError, match=r"^token rejected by Argo CD at "):
                await anext(source.events(asyncio.Event()))
        finally:
            await source.aclose()

    with caplog.at_level(logging.DEBUG):
        asyncio.run(scenario())
    source = _source(server.url)
    assert TOKEN not in repr(source)
    assert "not-the-token" not in caplog.text
    assert TOKEN not in caplog.text


def test_unreachable_and_bad_urls() -> None:
    url = f"http://127.0.0.1:{free_port()}"

    async def scenario() -> None:
        source = _source(url + "/")
        try:
            with pytest.raises(SourceError) as refused:
                await source.list()
            assert str(refused.value) == f"cannot reach Argo CD at {url}: Connection refused"
            assert refused.value.kind == "unreachable"
        finally:
            await source.aclose()

    asyncio.run(scenario())
    with pytest.raises(ValueError, match="is not http"):
        ArgoCDSource("ftp://example.com", TOKEN)
    with pytest.raises(ValueError, match="token is empty or spans lines") as bad_token:
        ArgoCDSource("https://example.com", TOKEN + "\n")
    assert TOKEN not in str(bad_token.value)
    with pytest.raises(SourceError, match=r"^cannot load the CA bundle /nonexistent/ca\.pem: "):
        ArgoCDSource("https://example.com", TOKEN, verify="/nonexistent/ca.pem")


def test_tls_error_is_one_clear_line() -> None:
    """Speaking TLS to a plain-HTTP server (a wrong scheme) fails the handshake."""
    server = Server(InMemorySource(), TOKEN).start()
    try:

        async def scenario() -> None:
            url = server.url.replace("http://", "https://")
            source = _source(url)
            try:
                with pytest.raises(SourceError) as caught:
                    await source.list()
                assert str(caught.value).startswith(f"TLS error talking to Argo CD at {url}: ")
                assert caught.value.kind == "tls"
            finally:
                await source.aclose()

        asyncio.run(scenario())
    finally:
        server.stop()


def test_events_snapshot_changed_deleted(server: Server, fleet: InMemorySource) -> None:
    async def scenario() -> None:
        source = _source(server.url)
        stop = asyncio.Event()
        pump = Pump(source.events(stop))
        try:
            assert _names(await pump.next()) == ["backend-dev", "frontend-dev"]

            fleet.update("backend-dev", with_health("Degraded", "pods not ready"))
            changed = await pump.next()
            assert isinstance(changed, Changed)
            assert (changed.app.name, changed.app.health) == ("backend-dev", Health.DEGRADED)
            assert changed.app.health_message == "pods not ready"
            assert changed.at.tzinfo is not None

            fleet.put(record("payments-dev"))
            added = await pump.next()
            assert isinstance(added, Changed)
            assert added.app.name == "payments-dev"

            fleet.delete("frontend-dev")
            deleted = await pump.next()
            assert isinstance(deleted, Deleted)
            assert deleted.app.name == "frontend-dev"

            # Stop ends the events promptly, even while the stream is quiet.
            stop.set()
            async with asyncio.timeout(5):
                await pump.task
            assert pump.queue.empty()
        finally:
            await pump.close()
            await source.aclose()

    asyncio.run(scenario())


def test_stream_resumes_from_the_lists_resource_version(
    server: Server, fleet: InMemorySource
) -> None:
    """Changes between the list and the stream's start are not lost: the stream starts at the
    list's resourceVersion, and the server replays what changed since, not the whole fleet."""

    async def scenario() -> None:
        source = _source(server.url)
        try:
            _, version = await source.snapshot()
            assert version == str(fleet.version())
            fleet.update("frontend-dev", with_health("Progressing"))
            watch = source.watch(version)
            async with asyncio.timeout(10):
                kind, app = await anext(watch)
            await watch.aclose()
            assert (kind, app.name, app.health) == ("MODIFIED", "frontend-dev", Health.PROGRESSING)
        finally:
            await source.aclose()

    asyncio.run(scenario())


def test_down_then_snapshot_after_a_restart(server: Server, fleet: InMemorySource) -> None:
    """The server goes away: one Down (data is stale from now on), reconnects with growing
    jittered backoff; the server comes back on the same port: a fresh Snapshot that includes
    what changed meanwhile (a deletion included)."""
    sleep = FakeSleep()

    async def scenario() -> None:
        source = _source(server.url, sleep)
        stop = asyncio.Event()
        pump = Pump(source.events(stop))
        try:
            await pump.until(lambda e: isinstance(e, Snapshot))
            fleet.update("frontend-dev", with_health("Progressing"))
            await pump.until(lambda e: isinstance(e, Changed))  # the stream is up
            await asyncio.to_thread(server.stop)
            down = await pump.next()
            assert isinstance(down, Down)
            assert down.error == f"Argo CD at {server.url} ended the application stream"
            assert down.attempt == 1

            # While it is down: reconnect attempts back off (0.5 s doubling, capped at 30 s).
            async with asyncio.timeout(10):
                while len(sleep.asked) < 5:
                    await asyncio.sleep(0.01)
            fleet.delete("frontend-dev")
            fleet.update("backend-dev", with_health("Degraded"))
            await asyncio.to_thread(server.start)

            seen = [down, *await pump.until(lambda e: isinstance(e, Snapshot))]
            downs = [e for e in seen if isinstance(e, Down)]
            assert all(d.since == down.since for d in downs)
            # Once per outage and reason, not once per attempt.
            assert len({d.error for d in downs}) == len(downs) == 2
            assert downs[1].error == f"cannot reach Argo CD at {server.url}: Connection refused"
            assert downs[1].attempt == 2
            assert not any(isinstance(e, Changed | Deleted) for e in seen)
            snapshot = seen[-1]
            assert isinstance(snapshot, Snapshot)
            assert _names(snapshot) == ["backend-dev"]
            assert snapshot.apps[0].health == Health.DEGRADED

            # And the stream runs again.
            fleet.update("backend-dev", with_health("Healthy"))
            back = await pump.next()
            assert isinstance(back, Changed)
            assert back.app.health == Health.HEALTHY
        finally:
            stop.set()
            await pump.close()
            await source.aclose()

    asyncio.run(scenario())
    assert sleep.asked[:5] == [0.5, 1.0, 2.0, 4.0, 8.0]


def test_polling_when_a_proxy_refuses_streams(fleet: InMemorySource) -> None:
    """A proxy in front of Argo CD answers the stream with 503 while lists work: after three
    failed streams the source polls the list, says so once (Polling; changes arrive as
    Changed / Deleted, no Down while polling works) and tries the stream again; once streams
    work again, it uses them."""
    streams = {"refused": 0, "served": 0, "allow": False}

    def proxy(scope: dict[str, Any]) -> Answer:
        if scope["path"] == STREAM:
            if not streams["allow"]:
                streams["refused"] += 1
                return 503, b"upstream does not stream", "text/plain"
            streams["served"] += 1
        return None

    server = Server(fleet, TOKEN, proxy).start()
    sleep = FakeSleep()

    async def scenario() -> None:
        source = _source(server.url, sleep, poll_s=7.0, stream_retry_s=0.0)
        stop = asyncio.Event()
        pump = Pump(source.events(stop))
        try:
            seen = await pump.until(lambda e: isinstance(e, Polling))  # the switch, said once
            kinds = [type(e).__name__ for e in seen]
            assert kinds == ["Snapshot", "Down", "Snapshot", "Down", "Snapshot", "Polling"]
            assert str(seen[1]).count("HTTP 503: upstream does not stream") == 1
            assert "the watch failed 3 times" in str(seen[-1])

            # Polling now: changes arrive from the list's differences.
            fleet.update("backend-dev", with_health("Suspended"))
            seen = await pump.until(lambda e: isinstance(e, Changed))
            assert [type(e) for e in seen] == [Changed]
            assert seen[0].app.health == Health.SUSPENDED  # type: ignore[union-attr]
            assert 7.0 in sleep.asked  # the poll interval

            fleet.delete("frontend-dev")
            seen = await pump.until(lambda e: isinstance(e, Deleted))
            assert not any(isinstance(e, Down | Snapshot | Polling) for e in seen)
            assert seen[-1].app.name == "frontend-dev"  # type: ignore[union-attr]
            assert streams["refused"] > 3  # retried while polling

            streams["allow"] = True
            fleet.put(record("payments-dev"))
            await pump.until(lambda e: isinstance(e, Changed) and e.app.name == "payments-dev")
            fleet.update("payments-dev", with_health("Missing"))
            await pump.until(lambda e: isinstance(e, Changed) and e.app.health == Health.MISSING)
            assert streams["served"] >= 1
            polls = sleep.asked.count(7.0)
            fleet.update("payments-dev", with_health("Healthy"))
            await pump.until(lambda e: isinstance(e, Changed) and e.app.health == Health.HEALTHY)
            assert sleep.asked.count(7.0) == polls  # from the stream, not from a poll
        finally:
            stop.set()
            await pump.close()
            await source.aclose()

    try:
        asyncio.run(scenario())
    finally:
        server.stop()


@pytest.mark.parametrize("status", [404, 405, 501])
def test_a_server_without_a_stream_is_polled_at_once_and_said_once(
    fleet: InMemorySource, status: int
) -> None:
    """An older or proxied Argo CD that lists but answers the stream with 404 (405, 501): the
    stream is not there, so the source polls at once, with exactly one Polling event that says
    why, and no Down (the data is fresh); the stream is tried again now and then (here at
    every poll: stream_retry_s=0), silently while it is still missing. A real HTTP server on
    127.0.0.1 whose stream path answers `status`."""
    refused = {"n": 0}

    def proxy(scope: dict[str, Any]) -> Answer:
        if scope["path"] == STREAM:
            refused["n"] += 1
            return status, b"404 page not found", "text/plain"
        return None

    server = Server(fleet, TOKEN, proxy).start()
    sleep = FakeSleep()

    async def scenario() -> None:
        source = _source(server.url, sleep, poll_s=7.0, stream_retry_s=0.0)
        stop = asyncio.Event()
        pump = Pump(source.events(stop))
        try:
            seen = await pump.until(lambda e: isinstance(e, Polling))
            assert [type(e) for e in seen] == [Snapshot, Polling]
            polling = seen[1]
            assert isinstance(polling, Polling)
            assert polling.every_s == 7.0
            assert f"HTTP {status}" in polling.reason
            assert refused["n"] == 1  # one refusal is enough to know

            fleet.update("backend-dev", with_health("Suspended"))
            seen = await pump.until(lambda e: isinstance(e, Changed))
            fleet.delete("frontend-dev")
            seen += await pump.until(lambda e: isinstance(e, Deleted))
            async with asyncio.timeout(10):  # a few more polls, each retrying the stream
                while refused["n"] < 4:
                    await asyncio.sleep(0.01)
            assert [type(e) for e in seen] == [Changed, Deleted]
            assert pump.queue.empty()  # no Down, no second Polling, no Snapshot
            assert set(sleep.asked) == {7.0}  # polls only: no backoff of an outage
        finally:
            stop.set()
            await pump.close()
            await source.aclose()

    try:
        asyncio.run(scenario())
    finally:
        server.stop()


def test_malformed_answers_name_the_field(fleet: InMemorySource) -> None:
    """What the embedded API never sends: an item without a name, an HTML page, a broken
    stream frame. Each is one line naming what is wrong."""
    bodies: dict[str, tuple[int, bytes, str]] = {
        "/api/v1/applications": (
            200,
            json.dumps({"items": [{"metadata": {"name": "a"}}, {"metadata": {}}]}).encode(),
            "application/json",
        ),
        "/api/v1/applications/a": (200, b"<html>login</html>", "text/html"),
        "/api/v1/applications/b": (500, b'{"message": "boom", "code": 2}', "application/json"),
        STREAM: (
            200,
            b'{"result": {"type": "ADDED", "application": {"metadata": {"name": 3}}}}\n',
            "application/json",
        ),
    }
    server = Server(fleet, TOKEN, lambda scope: bodies.get(scope["path"])).start()

    async def scenario() -> None:
        source = _source(server.url)
        try:
            with pytest.raises(SourceError) as listed:
                await source.list()
            assert str(listed.value) == (
                f"malformed answer from {server.url}: items[1].metadata.name: missing"
            )
            assert listed.value.kind == "malformed"
            with pytest.raises(SourceError) as html:
                await source.get("a")
            assert str(html.value) == f"malformed answer from {server.url}: not JSON (text/html)"
            with pytest.raises(SourceError) as failed:
                await source.get("b")
            assert str(failed.value) == f"Argo CD at {server.url} answered HTTP 500: boom"
            with pytest.raises(SourceError) as frame:
                await anext(source.watch(""))
            assert str(frame.value) == (
                f"malformed answer from {server.url}: "
                "result.application.metadata.name: expected a string"
            )
        finally:
            await source.aclose()

    try:
        asyncio.run(scenario())
    finally:
        server.stop()


def test_stream_error_frames_and_unknown_types(fleet: InMemorySource) -> None:
    frames = [
        {"result": {"type": "BOOKMARK", "application": {"metadata": {"name": "x"}}}},
        {"result": {"type": "ADDED", "application": {"metadata": {"name": "ok"}}}},
        {"error": {"grpc_code": 7, "http_code": 403, "message": "permission denied"}},
    ]
    body = b"".join(json.dumps(f).encode() + b"\n" for f in frames)
    server = Server(
        fleet, TOKEN, lambda s: (200, body, "application/json") if s["path"] == STREAM else None
    ).start()

    async def scenario() -> None:
        source = _source(server.url)
        watch = source.watch("")
        try:
            kind, app = await anext(watch)
            assert (kind, app.name) == ("ADDED", "ok")  # BOOKMARK skipped
            with pytest.raises(SourceError, match=r"^token rejected by Argo CD at "):
                await anext(watch)
        finally:
            await watch.aclose()
            await source.aclose()

    try:
        asyncio.run(scenario())
    finally:
        server.stop()


def test_a_server_that_trickles_its_answer_meets_a_total_deadline() -> None:
    """Each read arrives in time (httpx's timeout is per read), but the answer never ends: the
    call still ends at the deadline, in one line naming the server. A real TCP server on
    127.0.0.1 that sends one byte of a never-ending body every 0.2 s."""

    async def scenario() -> None:
        server, url = await trickling_server()
        source = ArgoCDSource(url, TOKEN, timeout=1.0)
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            with pytest.raises(SourceError) as slow:
                await source.list()
        finally:
            await source.aclose()
            server.close()
        assert loop.time() - started < 5
        assert str(slow.value) == f"cannot reach Argo CD at {url}: no complete answer within 1s"

    asyncio.run(scenario())
