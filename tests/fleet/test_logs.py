"""ArgoCDSource.logs against the embedded platform's Argo-CD-compatible API (real HTTP on
127.0.0.1 over an InMemorySource): the tail of one pod or of every pod, one container, the end of
a stream that does not follow, a followed stream that stays open while the pod is quiet longer
than the timeout, the connect deadline against a server that never answers, and the frames'
parsing (console.fleet.logs), errors included, in one line each."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import pytest

from console.fleet.argocd import ArgoCDSource
from console.fleet.logs import END, LogLine, LogQuery, containers_of, parse_frame
from console.fleet.source import SourceError
from console.local.argo.inmemory import InMemorySource
from tests.fleet.support import NOW, Server, record

TOKEN = "logs-test-token-0123456789"  # noqa: S105 - a test token, served only on 127.0.0.1
POD_A, POD_B = "backend-5d8f7c9b4-x2x7q", "backend-5d8f7c9b4-k9wq2"


@pytest.fixture
def fleet() -> InMemorySource:
    source = InMemorySource([record("backend-dev")])
    for i in range(4):
        source.append_log("backend-dev", POD_A, f"GET /healthz #{i}", container="backend")
    source.append_log("backend-dev", POD_A, "envoy ready", container="proxy")
    source.append_log(
        "backend-dev", POD_B, "listening on :8080", container="backend", timestamp=NOW
    )
    return source


@pytest.fixture
def server(fleet: InMemorySource) -> Iterator[Server]:
    with Server(fleet, TOKEN) as running:
        yield running


async def _all(source: ArgoCDSource, query: LogQuery) -> list[LogLine]:
    return [line async for line in source.logs("backend-dev", query)]


@pytest.mark.asyncio
async def test_tail_pod_container_and_end(server: Server) -> None:
    source = ArgoCDSource(server.url, TOKEN, name="local")
    try:
        one = await _all(source, LogQuery(POD_A, "dev", "backend", tail_lines=2, follow=False))
        assert [line.content for line in one] == ["GET /healthz #2", "GET /healthz #3"]
        assert {line.pod for line in one} == {POD_A}
        proxy = await _all(source, LogQuery(POD_A, container="proxy", follow=False))
        assert [line.content for line in proxy] == ["envoy ready"]
        every = await _all(source, LogQuery(container="backend", tail_lines=None, follow=False))
        assert [(line.pod, line.content) for line in every][-1] == (POD_B, "listening on :8080")
        assert every[-1].at == NOW
        assert len(every) == 5
        with pytest.raises(SourceError) as missing:
            await _all(source, LogQuery("nope", follow=False))
        assert (
            str(missing.value)
            == f'Argo CD at {server.url} answered HTTP 404: pods "nope" not found'
        )
        with pytest.raises(SourceError) as no_app:
            await anext(aiter(source.logs("nope", LogQuery(follow=False))))
        assert no_app.value.kind == "not_found"
    finally:
        await source.aclose()
    denied = ArgoCDSource(server.url, "wrong-token-0123456789")
    try:
        with pytest.raises(SourceError) as rejected:
            await _all(denied, LogQuery(follow=False))
        assert rejected.value.kind == "auth"
        assert TOKEN not in str(rejected.value)
    finally:
        await denied.aclose()


@pytest.mark.asyncio
async def test_a_followed_stream_outlives_the_timeout(
    server: Server, fleet: InMemorySource
) -> None:
    """The connect deadline is 0.1 s; the pod then says nothing for three times that, and its
    next line still arrives on the same stream (a follow has no read timeout)."""
    source = ArgoCDSource(server.url, TOKEN, name="local", timeout=0.1)
    lines = source.logs("backend-dev", LogQuery(POD_B, tail_lines=1, follow=True))
    try:
        first = await asyncio.wait_for(anext(lines), 10)
        assert first.content == "listening on :8080"
        later = asyncio.ensure_future(anext(lines))
        await asyncio.sleep(0.3)  # the quiet spell itself is what is tested, not a wait
        assert not later.done()
        fleet.append_log("backend-dev", POD_B, "GET /api/orders 200", container="backend")
        assert (await asyncio.wait_for(later, 10)).content == "GET /api/orders 200"
    finally:
        await lines.aclose()
        await source.aclose()


@pytest.mark.asyncio
async def test_connect_deadline() -> None:
    """A server that accepts the connection and never answers: the stream fails at the
    deadline, in one line, instead of hanging the logs view."""
    accepted = asyncio.Event()
    held: list[asyncio.StreamWriter] = []

    async def mute(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        accepted.set()

    server = await asyncio.start_server(mute, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    source = ArgoCDSource(url, TOKEN, timeout=0.2)
    try:
        with pytest.raises(SourceError) as late:
            await asyncio.wait_for(_all(source, LogQuery(POD_A)), 10)
        assert accepted.is_set()
        assert str(late.value) == f"cannot reach Argo CD at {url}: no complete answer within 0.2s"
    finally:
        await source.aclose()
        for writer in held:
            writer.close()
        server.close()
        with contextlib.suppress(Exception):
            await server.wait_closed()


def test_frames() -> None:
    url = "https://argocd.example"
    line = parse_frame(
        '{"result":{"content":"hi","podName":"p","timeStamp":"2026-08-01T12:00:00Z",'
        '"timeStampStr":"2026-08-01T12:00:00.123456789Z"}}',
        url,
    )
    assert isinstance(line, LogLine)
    assert (line.pod, line.content) == ("p", "hi")
    assert line.at is not None
    assert line.at.microsecond == 123456
    assert parse_frame('{"result":{"content":"","last":true}}', url) is END
    assert parse_frame("  ", url) is None
    untimed = parse_frame('{"result":{"content":"x","timeStampStr":"soon"}}', url)
    assert isinstance(untimed, LogLine)
    assert untimed.at is None
    with pytest.raises(
        SourceError,
        match=r"^Argo CD at https://argocd.example answered HTTP 400: "
        r"a container name must be specified",
    ):
        parse_frame(
            '{"error":{"http_code":400,"message":"a container name must be specified"}}', url
        )
    with pytest.raises(SourceError) as denied:
        parse_frame('{"error":{"http_code":403,"message":"permission denied"}}', url)
    assert denied.value.kind == "auth"
    for bad, problem in (
        ("{", "a log frame is not JSON"),
        ("[]", "a log frame is not an object"),
        ('{"result":3}', "result: expected an applicationLogEntry"),
        ('{"result":{"content":3}}', "result.content: expected a string"),
    ):
        with pytest.raises(SourceError) as malformed:
            parse_frame(bad, url)
        assert str(malformed.value) == f"malformed answer from {url}: {problem}"


def test_containers_and_query() -> None:
    pod = {"spec": {"containers": [{"name": "backend"}, {"name": "proxy"}, {"image": "x"}]}}
    assert containers_of(pod) == ("backend", "proxy")
    assert containers_of({"spec": None}) == ()
    query = LogQuery("a b", "dev", "proxy", tail_lines=10, follow=True)
    assert query.path("backend/dev") == "/api/v1/applications/backend%2Fdev/pods/a%20b/logs"
    assert query.params("team") == {
        "follow": "true",
        "tailLines": "10",
        "container": "proxy",
        "namespace": "dev",
        "appNamespace": "team",
    }
    assert LogQuery(tail_lines=None, follow=False).params() == {"follow": "false"}
