"""The Service proxy, end to end: real sockets on 127.0.0.1, tiny asyncio HTTP servers standing in
for pods, httpx as the client. Async code runs under `asyncio.run` (no pytest-asyncio here)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from collections import Counter
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

import httpx
import pytest

from console.local.kube.proxy import ProxyError, ServiceProxy

T = TypeVar("T")
Endpoint = tuple[str, int]


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a scenario with a deadline, then close the pods it started."""

    async def bounded() -> T:
        try:
            async with asyncio.timeout(15):
                return await coro
        finally:
            while _LIVE:
                await _LIVE.pop().close()

    return asyncio.run(bounded())


async def until(predicate: Callable[[], bool], what: str, timeout_s: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.002)


class Backend:
    """A pod: `GET /` answers its name; `POST /echo` echoes the body; `GET /headers` answers the
    request headers as JSON; `GET /chunked` sends a chunk, waits for `gate`, sends two more;
    `GET /close` frames its body by closing; `GET /slow` waits for `gate`; `/nocontent` is 204."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.hits = 0
        self.waiting = 0
        self.gate = asyncio.Event()
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[Any]] = set()

    async def start(self) -> Backend:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        _LIVE.append(self)
        return self

    @property
    def endpoint(self) -> Endpoint:
        return ("127.0.0.1", self.port)

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        self.gate.set()
        for writer in list(self._writers):
            writer.transport.abort()
        if self._tasks:  # let handlers end by themselves: asyncio 3.11 logs cancelled ones
            await asyncio.wait(self._tasks, timeout=2)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    return
                request_line, *lines = head.decode("latin-1").split("\r\n")
                method, target, _ = request_line.split(" ")
                headers = dict(
                    (name.strip().lower(), value.strip())
                    for name, _, value in (line.partition(":") for line in lines if line)
                )
                body = await _read_body(reader, headers)
                self.hits += 1
                keep = await self._respond(method, target, headers, body, writer)
                if not keep or headers.get("connection", "").lower() == "close":
                    return
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass  # the proxy gave up on this request (a malformed body)
        finally:
            self._tasks.discard(task)
            self._writers.discard(writer)
            writer.close()

    async def _respond(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes,
        writer: asyncio.StreamWriter,
    ) -> bool:
        if target == "/chunked":
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nalpha-\r\n")
            await writer.drain()
            await self.gate.wait()
            writer.write(b"5\r\nbeta-\r\n5;ext=1\r\ngamma\r\n0\r\nX-Trailer: 1\r\n\r\n")
            await writer.drain()
            return True
        if target == "/close":
            writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b"framed by close" * 100)
            await writer.drain()
            return False
        if target == "/nocontent":
            writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
            return True
        if target == "/slow":
            self.waiting += 1
            await self.gate.wait()
            payload = b"slow done"
        elif target == "/echo":
            payload = body
        elif target == "/headers":
            payload = json.dumps(dict(headers)).encode()
        else:
            payload = self.name.encode()
        writer.write(
            f"HTTP/1.1 200 OK\r\nContent-Length: {len(payload)}\r\nX-Backend: {self.name}\r\n"
            "Via: 1.1 pod\r\nKeep-Alive: timeout=5\r\n\r\n".encode()
        )
        if method != "HEAD":
            writer.write(payload)
        await writer.drain()
        return True


async def _read_body(reader: asyncio.StreamReader, headers: Mapping[str, str]) -> bytes:
    if "content-length" in headers:
        return await reader.readexactly(int(headers["content-length"]))
    if headers.get("transfer-encoding") != "chunked":
        return b""
    body = bytearray()
    while size := int((await reader.readline()).split(b";")[0], 16):
        body += await reader.readexactly(size)
        await reader.readline()
    await reader.readline()
    return bytes(body)


# A pod that can be killed like one: its own process (stdlib http.server), SIGKILLed by the test,
# so the kernel closes its port and resets its connections. Each response is one write.
POD_PROGRAM = """
import http.server, sys
NAME = sys.argv[1].encode()
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        head = b"HTTP/1.1 200 OK\\r\\nContent-Length: %d\\r\\n\\r\\n" % len(NAME)
        self.wfile.write(head + NAME)
    def log_message(self, *args):
        pass
class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 128
server = Server(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


class ProcessPod:
    def __init__(self, name: str, process: asyncio.subprocess.Process, port: int) -> None:
        self.name = name
        self.process = process
        self.endpoint: Endpoint = ("127.0.0.1", port)

    @classmethod
    async def start(cls, name: str) -> ProcessPod:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-I", "-c", POD_PROGRAM, name, stdout=asyncio.subprocess.PIPE
        )
        assert process.stdout is not None
        pod = cls(name, process, int(await process.stdout.readline()))
        _LIVE.append(pod)
        return pod

    def kill(self) -> None:
        self.process.kill()

    async def close(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()


_LIVE: list[Backend | ProcessPod] = []


def client(proxy: ServiceProxy) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=proxy.url, trust_env=False, timeout=5.0)


async def backends(*names: str) -> list[Backend]:
    return [await Backend(name).start() for name in names]


async def load(
    http: httpx.AsyncClient,
    n: int,
    *,
    concurrency: int = 8,
    after_each: Callable[[int], None] | None = None,
) -> list[str]:
    """`n` GETs from `concurrency` workers: the body of each 200 (the pod's name), else the
    status or the error. `after_each(done)` runs after each answer, with the count so far."""
    results: list[str] = []
    todo = iter(range(n))

    async def worker() -> None:
        for _ in todo:
            try:
                response = await http.get("/")
                ok = response.status_code == 200
                results.append(response.text if ok else f"status {response.status_code}")
            except httpx.HTTPError as exc:
                results.append(repr(exc))
            if after_each is not None:
                after_each(len(results))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results


async def raw(port: int, data: bytes) -> bytes:
    """Send `data` on a fresh connection and read until the proxy closes it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        return await reader.read(-1)
    finally:
        writer.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_round_robin_across_two_backends_on_one_client_connection() -> None:
    async def scenario() -> tuple[list[str], ServiceProxy]:
        a, b = await backends("a", "b")
        async with ServiceProxy("web-dev") as proxy, client(proxy) as http:
            proxy.set_endpoints([a.endpoint, b.endpoint])
            names = [(await http.get("/")).text for _ in range(6)]
        return names, proxy

    names, proxy = run(scenario())
    assert names in (["a", "b"] * 3, ["b", "a"] * 3)
    assert proxy.stats.connections == 1  # httpx kept its connection: keep-alive works
    assert proxy.stats.as_dict() == {
        "total": 6,
        "by_class": {"1xx": 0, "2xx": 6, "3xx": 0, "4xx": 0, "5xx": 0},
        "upstream_errors": 0,
        "retried": 0,
        "no_endpoints": 0,
        "connections": 1,
    }


def test_no_ready_endpoint_answers_503_until_one_is_listed() -> None:
    async def scenario() -> None:
        (a,) = await backends("a")
        async with ServiceProxy("web-dev") as proxy, client(proxy) as http:
            empty = await http.get("/anything")
            assert empty.status_code == 503
            assert empty.json() == {"error": "no ready endpoints", "service": "web-dev"}
            assert empty.headers["retry-after"] == "1"
            assert empty.headers["content-type"] == "application/json"
            proxy.set_endpoints([a.endpoint])
            assert (await http.get("/")).text == "a"
            proxy.set_endpoints([])
            assert (await http.post("/echo", content=b"x" * 10)).status_code == 503
            assert (await http.get("/")).status_code == 503  # a new connection works too
            assert proxy.stats.no_endpoints == 3
            assert proxy.stats.by_class["5xx"] == 3

    run(scenario())


def test_endpoint_swaps_under_load_drop_no_request() -> None:
    # A rolling update as the supervisor drives it: a new pod turns ready and is listed, an old
    # one is unlisted and only then killed, over and over, while the load runs.
    async def scenario() -> list[str]:
        a, b, c = [await ProcessPod.start(name) for name in "abc"]
        async with ServiceProxy("web-dev") as proxy, client(proxy) as http:
            proxy.set_endpoints([a.endpoint])
            steps: dict[int, Callable[[], None]] = {
                40: lambda: proxy.set_endpoints([a.endpoint, b.endpoint]),
                80: lambda: proxy.set_endpoints([b.endpoint]),
                90: a.kill,
                130: lambda: proxy.set_endpoints([b.endpoint, c.endpoint]),
                170: lambda: proxy.set_endpoints([c.endpoint]),
                175: b.kill,
            }
            return await load(http, 240, after_each=lambda done: steps.get(done, _noop)())

    served = Counter(run(scenario()))
    assert set(served) == {"a", "b", "c"}, served
    assert served.total() == 240


def _noop() -> None:
    return None


def test_a_killed_backend_still_listed_fails_over_to_the_others() -> None:
    async def scenario() -> tuple[list[str], ServiceProxy]:
        a, b = [await ProcessPod.start(name) for name in "ab"]
        async with ServiceProxy("web-dev") as proxy, client(proxy) as http:
            proxy.set_endpoints([a.endpoint, b.endpoint])
            warmed_up = asyncio.Event()

            def after_each(done: int) -> None:
                if done == 30:
                    warmed_up.set()

            running = asyncio.create_task(load(http, 200, after_each=after_each))
            await warmed_up.wait()
            a.kill()  # still listed: as if the pod died between two readiness probes
            await a.process.wait()
            results = await running
            results += [(await http.get("/")).text for _ in range(4)]
        return results, proxy

    results, proxy = run(scenario())
    served = Counter(results)
    assert set(served) == {"a", "b"}, served
    assert results[-4:] == ["b"] * 4
    assert proxy.stats.retried >= 1
    assert proxy.stats.upstream_errors >= 1
    assert proxy.stats.by_class["2xx"] == 204
    assert proxy.stats.by_class["5xx"] == 0


def test_request_and_response_bodies_pass_through_intact() -> None:
    async def scenario() -> None:
        (a,) = await backends("a")
        async with ServiceProxy("web-dev") as proxy, client(proxy) as http:
            proxy.set_endpoints([a.endpoint])
            body = os.urandom(300_000)
            echoed = await http.post("/echo", content=body)
            assert echoed.status_code == 200
            assert echoed.content == body

            async def pieces() -> Any:
                for piece in (b"first,", b"", b"second,", b"third" * 5000):
                    yield piece

            chunked = await http.post("/echo", content=pieces())
            assert chunked.content == b"first,second," + b"third" * 5000

            # A chunked response is streamed: the first chunk arrives before the pod sends more.
            async with http.stream("GET", "/chunked") as streamed:
                assert streamed.headers["transfer-encoding"] == "chunked"
                parts = streamed.aiter_bytes()
                assert await anext(parts) == b"alpha-"
                a.gate.set()
                rest = b"".join([part async for part in parts])
            assert rest == b"beta-gamma"

            closed = await http.get("/close")  # re-chunked so the client connection stays
            assert closed.content == b"framed by close" * 100
            assert closed.headers["transfer-encoding"] == "chunked"

            head = await http.head("/")
            assert (head.status_code, head.content, head.headers["content-length"]) == (
                200,
                b"",
                "1",
            )
            assert (await http.get("/nocontent")).status_code == 204
            assert (await http.get("/")).text == "a"
            assert proxy.stats.connections == 1

    run(scenario())


def test_forwarding_and_hop_by_hop_headers() -> None:
    async def scenario() -> None:
        (a,) = await backends("a")
        async with ServiceProxy("web-dev") as proxy, client(proxy) as http:
            proxy.set_endpoints([a.endpoint])
            response = await http.get(
                "/headers",
                headers={
                    "X-Forwarded-For": "10.0.0.1",
                    "Connection": "keep-alive, X-Hop",
                    "X-Hop": "not forwarded",
                    "X-Custom": "kept",
                    "Via": "1.1 edge",
                },
            )
            seen = response.json()
            assert seen["x-forwarded-for"] == "10.0.0.1, 127.0.0.1"
            assert seen["via"] == "1.1 edge, 1.1 gitops-proxy"
            assert seen["x-forwarded-proto"] == "http"
            assert seen["x-forwarded-host"] == seen["host"] == f"127.0.0.1:{proxy.port}"
            assert seen["connection"] == "close"
            assert seen["x-custom"] == "kept"
            assert "x-hop" not in seen
            assert response.headers["via"] == "1.1 pod, 1.1 gitops-proxy"
            assert "keep-alive" not in response.headers
            assert response.headers["x-backend"] == "a"

    run(scenario())


def test_malformed_requests_are_refused_and_pipelining_works() -> None:
    async def scenario() -> None:
        (a,) = await backends("a")
        async with ServiceProxy("web-dev") as proxy:
            proxy.set_endpoints([a.endpoint])
            port = proxy.port
            cases = {
                b"NOT HTTP AT ALL\r\n\r\n": b"400",
                b"GET / HTTP/1.1\r\n\r\n": b"400",  # no Host
                b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n": b"400",
                b"GET / HTTP/2.0\r\nHost: x\r\n\r\n": b"505",
                b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n": b"400",
                b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n": b"501",
                b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"zz\r\n": b"400",
                b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n": b"431",
            }
            for request, status in cases.items():
                answer = await raw(port, request)
                assert answer.split(b" ", 2)[1] == status, (request[:60], answer[:200])
                assert b'"service": "web-dev"' in answer

            pipelined = await raw(
                port,
                b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
                b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody"
                b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            )
            assert pipelined.count(b"HTTP/1.1 200 OK") == 3
            assert pipelined.endswith(b"\r\n\r\na")
            assert b"\r\n\r\nbodyHTTP/1.1 200 OK" in pipelined

            a.gate.set()
            http10 = await raw(port, b"GET /chunked HTTP/1.0\r\n\r\n")  # de-chunked, then closed
            assert b"Connection: close" in http10
            assert b"Transfer-Encoding" not in http10
            assert http10.endswith(b"\r\n\r\nalpha-beta-gamma")
            assert proxy.stats.by_class["4xx"] == 6

    run(scenario())


def test_unreachable_and_silent_pods_answer_502_and_504() -> None:
    async def scenario() -> None:
        (a,) = await backends("a")
        async with ServiceProxy("web-dev", read_timeout_s=0.3) as proxy, client(proxy) as http:
            proxy.set_endpoints([("127.0.0.1", free_port())])
            refused = await http.get("/")
            assert refused.status_code == 502
            assert refused.json()["error"] == "bad gateway"
            assert "connecting to 127.0.0.1" in refused.json()["detail"]
            assert (await http.post("/echo", content=b"data")).status_code == 502
            proxy.set_endpoints([a.endpoint])
            silent = await http.get("/slow")
            assert silent.status_code == 504
            assert silent.json()["error"] == "upstream timed out"
            assert proxy.stats.upstream_errors == 3
            a.gate.set()

    run(scenario())


def test_stop_drains_in_flight_requests_and_refuses_new_connections() -> None:
    async def scenario() -> None:
        (a,) = await backends("a")
        proxy = ServiceProxy("web-dev")
        await proxy.start()
        proxy.set_endpoints([a.endpoint])
        async with client(proxy) as http:
            slow = asyncio.create_task(http.get("/slow"))
            await until(lambda: a.waiting == 1, "the slow request to reach the pod")
            idle_reader, idle_writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            idle_writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            await idle_reader.readuntil(b"\r\n\r\n")
            assert await idle_reader.readexactly(1) == b"a"

            stopping = asyncio.create_task(proxy.stop(grace_s=10))
            async with asyncio.timeout(5):  # the idle keep-alive connection is closed at once
                assert await idle_reader.read() == b""
            idle_writer.close()
            with pytest.raises(ConnectionRefusedError):
                await asyncio.open_connection("127.0.0.1", proxy.port)
            assert not stopping.done()
            assert not slow.done()

            a.gate.set()
            response = await slow
            assert (response.status_code, response.text) == (200, "slow done")
            assert response.headers["connection"] == "close"
            async with asyncio.timeout(5):
                await stopping
        assert not proxy.serving

    run(scenario())


def test_stop_aborts_requests_that_outlive_the_grace_period() -> None:
    async def scenario() -> None:
        (a,) = await backends("a")
        async with ServiceProxy("web-dev") as proxy, client(proxy) as http:
            proxy.set_endpoints([a.endpoint])
            slow = asyncio.create_task(http.get("/slow"))
            await until(lambda: a.waiting == 1, "the slow request to reach the pod")
            async with asyncio.timeout(3):
                await proxy.stop(grace_s=0.2)
            with pytest.raises(httpx.RemoteProtocolError):
                await slow
            a.gate.set()

    run(scenario())


def test_a_port_in_use_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ProxyError, match=rf"service web-dev: port {port} .*already in use"):
            run(ServiceProxy("web-dev", port=port).start())


def test_the_port_stays_stable_across_restarts() -> None:
    async def scenario() -> None:
        (a,) = await backends("a")
        proxy = ServiceProxy("web-dev")
        await proxy.start()
        with pytest.raises(ProxyError, match="already listening"):
            await proxy.start()
        proxy.set_endpoints([a.endpoint])
        port = proxy.port
        async with client(proxy) as http:
            assert (await http.get("/")).text == "a"
        await proxy.stop()
        await proxy.stop()  # idempotent
        await proxy.start()  # the same object rebinds the port it got
        assert proxy.port == port
        async with client(proxy) as http:
            assert (await http.get("/")).text == "a"
        await proxy.stop()
        async with ServiceProxy("web-dev", port=port) as again, client(again) as http:
            assert again.port == port
            assert (await http.get("/")).status_code == 503

    run(scenario())


@pytest.mark.parametrize("endpoint", [("127.0.0.1", 0), ("127.0.0.1", 70_000), ("", 80)])
def test_set_endpoints_rejects_impossible_endpoints(endpoint: Endpoint) -> None:
    proxy = ServiceProxy("web-dev")
    with pytest.raises(ValueError, match="web-dev"):
        proxy.set_endpoints([endpoint])
    proxy.set_endpoints([("127.0.0.1", 8080), ("127.0.0.1", 8080), ("127.0.0.1", 8081)])
    assert proxy.endpoints == (("127.0.0.1", 8080), ("127.0.0.1", 8081))


def test_a_streamed_body_may_stay_silent_longer_than_the_read_timeout() -> None:
    """The read timeout bounds the wait for a response's head (504), not the silences of a body
    already under way: a watch or event stream (the guard's Argo CD stream through the
    argocd-server Service) may say nothing for minutes, and a ClusterIP never cuts it."""

    async def scenario() -> None:
        (a,) = await backends("a")
        async with ServiceProxy("web-dev", read_timeout_s=0.2) as proxy, client(proxy) as http:
            proxy.set_endpoints([a.endpoint])
            async with http.stream("GET", "/chunked") as response:
                chunks = response.aiter_bytes()
                first = await anext(chunks)
                # The fault itself is a silence: five read timeouts without a byte.
                await asyncio.sleep(1.0)
                a.gate.set()
                rest = b"".join([chunk async for chunk in chunks])
            assert response.status_code == 200
            assert first + rest == b"alpha-beta-gamma"
            assert proxy.stats.upstream_errors == 0

    run(scenario())


def test_a_client_that_leaves_a_silent_stream_frees_its_connection() -> None:
    """A client that closes its connection while the pod's body is silent (a watch whose
    watcher stopped) is noticed without waiting for the pod to speak: the relay ends, so a
    draining stop does not wait out its grace for a request nobody reads any more."""

    async def scenario() -> None:
        (a,) = await backends("a")
        async with ServiceProxy("web-dev") as proxy:
            proxy.set_endpoints([a.endpoint])
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            writer.write(b"GET /chunked HTTP/1.1\r\nHost: web\r\n\r\n")
            await writer.drain()
            assert (await reader.readuntil(b"alpha-")).startswith(b"HTTP/1.1 200")
            writer.close()  # the watcher goes away; the pod says nothing more
            await writer.wait_closed()
            async with asyncio.timeout(3):  # far less than the grace
                await proxy.stop(grace_s=30)
            a.gate.set()

    run(scenario())


def test_expect_continue_blank_lines_absolute_targets_http10_and_upgrade() -> None:
    """Framing details a proxy must keep whatever parses its HTTP: `100 Continue` once an
    upstream connection is open, blank lines before a request line skipped (RFC 9112 2.2), an
    absolute-form target sent on in origin form with its authority as `Host`, HTTP/1.0 clients
    answered and closed, and `Upgrade` dropped without losing the keep-alive connection."""

    async def scenario() -> None:
        (a,) = await backends("a")
        async with ServiceProxy("web-dev") as proxy:
            proxy.set_endpoints([a.endpoint])
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            writer.write(
                b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                b"Expect: 100-continue\r\n\r\n"
            )
            assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
            writer.write(b"body")
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200 OK\r\n")
            assert await reader.readexactly(4) == b"body"
            # Upgrade is not proxied: dropped, and the connection stays for the next request.
            writer.write(
                b"GET /headers HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                b"Upgrade: websocket\r\n\r\n"
                b"\r\nGET http://example.test:81/headers HTTP/1.1\r\nHost: x\r\n"
                b"Connection: close\r\n\r\n"
            )
            answers = await reader.read(-1)
            writer.close()
            first, second = answers.split(b"HTTP/1.1 200 OK")[1:]
            seen = json.loads(first.split(b"\r\n\r\n", 1)[1])
            assert "upgrade" not in seen
            assert b"Connection: close" not in first
            seen = json.loads(second.split(b"\r\n\r\n", 1)[1])
            assert seen["host"] == "example.test:81"

            http10 = await raw(proxy.port, b"\r\nGET / HTTP/1.0\r\n\r\n")
            assert http10.startswith(b"HTTP/1.1 200 OK\r\n")
            assert b"Connection: close" in http10
            assert http10.endswith(b"\r\n\r\na")

    run(scenario())
