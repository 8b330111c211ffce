"""The embedded platform's Service proxy: one stable port per Kubernetes Service, forwarding each
HTTP/1.1 request to one of the Service's ready pods, round robin, on the platform's event loop.

The supervisor owns one `ServiceProxy` per Service: `await start()` binds the port (0 picks a free
one, read it back from `.port`; a port in use raises `ProxyError`), `set_endpoints(...)` replaces
the ready pods whenever readiness changes, and `await stop(grace_s)` drains on shutdown.

Behaviour, and why:

- **Ready pods only, round robin.** `set_endpoints` swaps the whole tuple in one assignment, so a
  request sees either the old set or the new one, never an empty set in between. No endpoints →
  `503` with `{"error": "no ready endpoints", "service": name}` and `Retry-After: 1`.
- **No request dropped while a pod still serves.** Each request opens a fresh upstream connection
  (sent with `Connection: close`), so none is ever written to a stale pooled connection to a pod
  that has gone. If connecting fails (refused, timed out: a pod that just died), the next endpoint
  is tried, up to every listed endpoint, whatever the method: not a byte was sent. An idempotent
  request without a body (GET, HEAD, OPTIONS, TRACE, PUT, DELETE) is also retried when the pod
  closed or reset the connection before a single byte of response (a pod killed with the request
  in its accept queue). Other failures answer `502`, a pod that stays silent `504` (for
  `read_timeout_s` before its response head; a body under way may pause for as long as it
  likes, as on a ClusterIP). A pod that refused a connection is tried last for one second, so a
  dead pod still listed costs one retry, not one per request.
- **Keep-alive to clients.** HTTP/1.1 clients keep their connection across sequential (and
  pipelined) requests; HTTP/1.0 clients get `Connection: close`. Responses framed by closing the
  connection are re-chunked for HTTP/1.1 clients and chunked ones de-chunked for HTTP/1.0 clients.
  Bodies are streamed both ways, never buffered; trailers are dropped. `Expect: 100-continue` is
  answered by the proxy once an upstream connection is open.
- **Draining.** `stop(grace_s)` closes the listening socket at once (new connections are refused),
  closes idle keep-alive connections, lets in-flight requests finish with `Connection: close` for
  up to `grace_s`, then aborts what is left. Stop the proxies before signalling the pods so that
  in-flight requests can complete.
- **Forwarding headers.** `X-Forwarded-For` gets the client address appended, `X-Forwarded-Proto`
  and `X-Forwarded-Host` are set when absent, `Via: 1.x gitops-proxy` is appended both ways; the
  hop-by-hop headers (and those named in `Connection`) are not forwarded. `Host` is kept.
- **Refused.** Heads over 64 KiB or 100 fields (`431`), malformed requests, ambiguous framing
  (`400`), transfer-codings other than `chunked` and `CONNECT` (`501`), HTTP versions other than
  1.0 and 1.1 (`505`). Upgrade (WebSocket) is not proxied: the `Upgrade` header is dropped.

Nothing is logged per request; `proxy.stats` counts requests, responses by status class, upstream
errors and retries for the API to expose (`stats.as_dict()`).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import re
import time
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from enum import Enum
from http import HTTPStatus
from types import TracebackType
from typing import Any, Literal
from urllib.parse import urlsplit

Endpoint = tuple[str, int]

VIA_PSEUDONYM = "gitops-proxy"
HEAD_LIMIT = 64 * 1024  # request/response line and header block, bytes
MAX_FIELDS = 100  # header fields in one head
_READ_SIZE = 64 * 1024
_MAX_ATTEMPTS = 16
_EJECT_S = 1.0  # a pod that refused a connection is tried last for this long
_CLIENT_CHECK_S = 0.25  # while a body is silent, how often to look whether its client left
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_REQUEST_LINE = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([^\s]+) HTTP/(\d)\.(\d)")
_STATUS_LINE = re.compile(rb"HTTP/1\.[01] ([1-9]\d\d)(?: ([^\r\n]*))?")
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")
_BAD_VALUE = re.compile(r"[\x00\r\n]")

_log = logging.getLogger(__name__)

Headers = list[tuple[str, str]]
BodyKind = Literal["none", "length", "chunked", "close"]


class ProxyError(RuntimeError):
    """The proxy cannot run (its port is in use, or it was started twice); the message names the
    service and the port."""


@dataclass(slots=True)
class ProxyStats:
    """Counters since the proxy was created.

    `total` counts requests received (including malformed ones answered 400); `by_class` counts
    responses sent by status class, so `total - sum(by_class)` requests got no response (the
    client left, or the upstream failed after its response had started). `upstream_errors` counts
    every failed attempt on a pod, including those a retry on another pod recovered; `retried`
    counts those retries; `no_endpoints` the 503s for want of a ready pod; `connections` client
    connections accepted.
    """

    total: int = 0
    by_class: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("1xx", "2xx", "3xx", "4xx", "5xx"), 0)
    )
    upstream_errors: int = 0
    retried: int = 0
    no_endpoints: int = 0
    connections: int = 0

    def count(self, status: int) -> None:
        key = f"{status // 100}xx"
        self.by_class[key] = self.by_class.get(key, 0) + 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "by_class": dict(self.by_class),
            "upstream_errors": self.upstream_errors,
            "retried": self.retried,
            "no_endpoints": self.no_endpoints,
            "connections": self.connections,
        }


@dataclass(frozen=True, slots=True)
class _Body:
    kind: BodyKind
    length: int = 0


@dataclass(slots=True)
class _Request:
    method: str
    target: str
    minor: int  # HTTP/1.<minor>
    headers: Headers
    body: _Body
    keep_alive: bool
    expect_continue: bool
    connection_tokens: frozenset[str]

    @property
    def has_body(self) -> bool:
        return self.body.kind != "none"

    @property
    def replayable(self) -> bool:
        """Safe to send again to another pod after a failed attempt."""
        return self.method in _IDEMPOTENT and not self.has_body


@dataclass(frozen=True, slots=True)
class _Response:
    status: int
    reason: str
    headers: Headers
    body: _Body
    connection_tokens: frozenset[str]


class _Retry(Enum):
    RETRY = "retry"


class _HeadError(Exception):
    """A head or body framing that is not valid HTTP/1.1; `status` is the answer to a client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _ClientGone(Exception):
    """The client closed or reset its connection, or stopped sending; nothing more to answer."""


class ServiceProxy:
    """An HTTP/1.1 reverse proxy for one Service; see the module docstring."""

    def __init__(
        self,
        name: str,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        connect_timeout_s: float = 1.0,
        read_timeout_s: float = 60.0,
        idle_timeout_s: float = 30.0,
    ) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.stats = ProxyStats()
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self.idle_timeout_s = idle_timeout_s
        self._endpoints: tuple[Endpoint, ...] = ()
        self._ejected: dict[Endpoint, float] = {}
        self._next = 0
        self._server: asyncio.Server | None = None
        self._closed: asyncio.Server | None = None  # stopped accepting, not yet drained
        self._draining = asyncio.Event()
        self._conns: set[asyncio.Task[Any]] = set()

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def serving(self) -> bool:
        return self._server is not None

    @property
    def endpoints(self) -> tuple[Endpoint, ...]:
        return self._endpoints

    async def start(self) -> None:
        """Listen on `host:port` (port 0: a free port, then kept in `.port` so a restart of this
        proxy gets the same one)."""
        if self._server is not None:
            raise ProxyError(f"service {self.name}: proxy already listening on port {self.port}")
        self._draining = asyncio.Event()
        try:
            server = await asyncio.start_server(
                self._on_connection, self.host, self.port, limit=HEAD_LIMIT
            )
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ProxyError(
                    f"service {self.name}: port {self.port} on {self.host} is already in use"
                ) from exc
            raise ProxyError(
                f"service {self.name}: cannot listen on {self.host}:{self.port}: "
                f"{exc.strerror or exc}"
            ) from exc
        self._server = server
        self.port = int(server.sockets[0].getsockname()[1])

    def set_endpoints(self, endpoints: Sequence[tuple[str, int]]) -> None:
        """Replace the ready pods, as `(host, port)` pairs, in one step (duplicates dropped, order
        kept). Requests already forwarded keep their connection to a pod no longer listed."""
        fresh: dict[Endpoint, None] = {}
        for host, port in endpoints:
            if not isinstance(host, str) or not host:
                raise ValueError(f"service {self.name}: endpoint host must be a name, got {host!r}")
            if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
                raise ValueError(f"service {self.name}: endpoint port out of range: {port!r}")
            fresh[(host, port)] = None
        self._ejected = {ep: t for ep, t in self._ejected.items() if ep in fresh}
        self._endpoints = tuple(fresh)

    def stop_accepting(self) -> None:
        """Close the listening socket now (the port is free at once); `stop` drains the rest."""
        if self._server is None:
            return
        self._closed, self._server = self._server, None
        self._draining.set()
        self._closed.close()

    async def stop(self, grace_s: float = 10.0) -> None:
        """Stop accepting, close idle connections, let in-flight requests finish for up to
        `grace_s` seconds, then abort the rest. Does nothing if the proxy is not listening."""
        server = self._server
        if server is None:
            server = self._closed
            if server is None:
                return
        self.stop_accepting()
        self._closed = None
        await asyncio.sleep(0)  # let connections accepted just before close register
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(grace_s, 0.0)
        while self._conns and (remaining := deadline - loop.time()) > 0:
            await asyncio.wait(set(self._conns), timeout=remaining)
        leftover = set(self._conns)
        for task in leftover:
            task.cancel()
        if leftover:
            await asyncio.gather(*leftover, return_exceptions=True)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                await server.wait_closed()

    async def __aenter__(self) -> ServiceProxy:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- client connections ------------------------------------------------------------------

    async def _on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._conns.add(task)
        self.stats.connections += 1
        peer = writer.get_extra_info("peername")
        client = str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"
        try:
            idle = False
            while True:
                try:
                    line = await self._next_line(reader, idle=idle)
                except _HeadError as exc:
                    self.stats.total += 1
                    await self._reply(writer, exc.status, exc.message, close=True)
                    break
                if line is None:
                    break
                if not await self._exchange(reader, writer, line, client):
                    break
                if self._draining.is_set():
                    break
                idle = True
        except asyncio.CancelledError:
            # stop() gave up on this connection after its grace period. Not re-raised: the task
            # ends here anyway, and asyncio 3.11 logs an error for a cancelled connection task.
            writer.transport.abort()
        except (_ClientGone, OSError, EOFError):
            writer.transport.abort()
        except Exception:
            _log.exception("service %s: proxy connection from %s failed", self.name, client)
            writer.transport.abort()
        finally:
            if task is not None:
                self._conns.discard(task)
            writer.close()

    async def _next_line(self, reader: asyncio.StreamReader, *, idle: bool) -> bytes | None:
        """The first line of the next request; None when the client closed, stayed idle too long,
        or (idle keep-alive connections only) the proxy is draining."""
        read = asyncio.ensure_future(reader.readuntil(b"\n"))
        waiters: set[asyncio.Future[Any]] = {read}
        if idle:
            waiters.add(asyncio.ensure_future(self._draining.wait()))
        try:
            done, _ = await asyncio.wait(
                waiters, timeout=self.idle_timeout_s, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for waiter in waiters:
                if not waiter.done():
                    waiter.cancel()
        if read not in done:
            return None
        try:
            return read.result()
        except asyncio.LimitOverrunError as exc:
            raise _HeadError(431, "request line too long") from exc
        except (asyncio.IncompleteReadError, OSError):
            return None

    async def _exchange(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        first_line: bytes,
        client: str,
    ) -> bool:
        """Serve one request; True to keep the client connection for another."""
        self.stats.total += 1
        try:
            async with asyncio.timeout(self.idle_timeout_s):
                request = _parse_request(await _read_head(reader, first_line, 400))
        except _HeadError as exc:
            return await self._reply(writer, exc.status, exc.message, close=True)
        except (TimeoutError, asyncio.IncompleteReadError, OSError):
            return False
        if not self._endpoints:
            self.stats.no_endpoints += 1
            return await self._reply(
                writer,
                503,
                "no ready endpoints",
                close=request.has_body or not request.keep_alive,
                extra=[("Retry-After", "1")],
            )
        try:
            return await self._forward(_Flow(request, reader, writer, client))
        except _HeadError as exc:  # a malformed request body, after forwarding began
            return await self._reply(writer, exc.status, exc.message, close=True)

    async def _reply(
        self,
        writer: asyncio.StreamWriter,
        status: int,
        error: str,
        *,
        close: bool,
        detail: str | None = None,
        extra: Headers | None = None,
    ) -> bool:
        """Answer from the proxy itself with a small JSON body; True if the connection stays."""
        payload: dict[str, str] = {"error": error, "service": self.name}
        if detail:
            payload["detail"] = detail
        body = json.dumps(payload).encode()
        close = close or self._draining.is_set()
        headers: Headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            *(extra or []),
        ]
        if close:
            headers.append(("Connection", "close"))
        self.stats.count(status)
        try:
            writer.write(_status_head(status, HTTPStatus(status).phrase, headers) + body)
            await writer.drain()
        except OSError:
            return False
        return not close

    # -- upstream ------------------------------------------------------------------------------

    def _pick(self, tried: set[Endpoint]) -> Endpoint | None:
        untried = [ep for ep in self._endpoints if ep not in tried]
        if not untried:
            return None
        now = time.monotonic()
        healthy = [ep for ep in untried if self._ejected.get(ep, 0.0) <= now] or untried
        endpoint = healthy[self._next % len(healthy)]
        self._next += 1
        return endpoint

    async def _forward(self, flow: _Flow) -> bool:
        """Forward to the next endpoint, trying the others while nothing was committed."""
        tried: set[Endpoint] = set()
        failure = "no ready endpoints"
        for attempt in range(_MAX_ATTEMPTS):
            endpoint = self._pick(tried)
            if endpoint is None:
                break
            tried.add(endpoint)
            if attempt:
                self.stats.retried += 1
            try:
                async with asyncio.timeout(self.connect_timeout_s):
                    up_reader, up_writer = await asyncio.open_connection(
                        endpoint[0], endpoint[1], limit=HEAD_LIMIT
                    )
            except (OSError, TimeoutError) as exc:
                self.stats.upstream_errors += 1
                self._ejected[endpoint] = time.monotonic() + _EJECT_S
                failure = f"connecting to {_where(endpoint)}: {_describe(exc)}"
                continue
            try:
                outcome = await self._exchange_upstream(flow, endpoint, up_reader, up_writer)
            finally:
                up_writer.transport.abort()
            if outcome is _Retry.RETRY:
                failure = f"{_where(endpoint)} closed the connection without a response"
                continue
            return outcome
        if not tried:  # the endpoints went away since the request arrived
            self.stats.no_endpoints += 1
            return await self._reply(
                flow.writer, 503, "no ready endpoints", close=True, extra=[("Retry-After", "1")]
            )
        close = flow.request.has_body or not flow.request.keep_alive
        return await self._reply(flow.writer, 502, "bad gateway", close=close, detail=failure)

    async def _exchange_upstream(
        self,
        flow: _Flow,
        endpoint: Endpoint,
        up_reader: asyncio.StreamReader,
        up_writer: asyncio.StreamWriter,
    ) -> bool | _Retry:
        """One attempt on one pod: True/False as `_exchange`, or RETRY when another pod may
        take the request."""
        failed = await self._send_upstream(flow, endpoint, up_writer)
        if failed is not None:
            return failed
        request, where = flow.request, _where(endpoint)
        try:
            async with asyncio.timeout(self.read_timeout_s):
                response = await _read_response(up_reader, request.method)
        except TimeoutError:
            self.stats.upstream_errors += 1
            detail = f"{where} sent no response within {self.read_timeout_s:g}s"
            return await self._reply(
                flow.writer, 504, "upstream timed out", close=not request.keep_alive, detail=detail
            )
        except _NoResponse:
            self.stats.upstream_errors += 1
            if request.replayable:
                return _Retry.RETRY
            detail = f"{where} closed the connection without a response"
        except (_HeadError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError) as exc:
            self.stats.upstream_errors += 1
            detail = f"invalid response from {where}: {_describe(exc)}"
        else:
            return await self._relay_response(flow, response, up_reader)
        return await self._reply(
            flow.writer, 502, "bad gateway", close=not request.keep_alive, detail=detail
        )

    async def _send_upstream(
        self, flow: _Flow, endpoint: Endpoint, up_writer: asyncio.StreamWriter
    ) -> bool | _Retry | None:
        """Send the request; None when it went out, else the outcome of the attempt."""
        request = flow.request
        try:
            up_writer.write(_upstream_head(request, endpoint, flow.client))
            await up_writer.drain()
        except OSError as exc:
            self.stats.upstream_errors += 1
            if request.replayable:
                return _Retry.RETRY
            detail = f"sending to {_where(endpoint)}: {_describe(exc)}"
            return await self._reply(
                flow.writer, 502, "bad gateway", close=request.has_body, detail=detail
            )
        if not request.has_body:
            return None
        if request.expect_continue and request.minor == 1:
            await _client_write(flow.writer, b"HTTP/1.1 100 Continue\r\n\r\n")
        chunked = request.body.kind == "chunked"
        try:
            async with contextlib.aclosing(
                _client_body(flow.reader, request.body, self.idle_timeout_s)
            ) as chunks:
                async for data in chunks:
                    up_writer.write(_encode_chunk(data) if chunked else data)
                    await up_writer.drain()
            if chunked:
                up_writer.write(b"0\r\n\r\n")
                await up_writer.drain()
        except OSError as exc:
            self.stats.upstream_errors += 1
            detail = f"sending to {_where(endpoint)}: {_describe(exc)}"
            return await self._reply(flow.writer, 502, "bad gateway", close=True, detail=detail)
        return None

    async def _relay_response(
        self, flow: _Flow, response: _Response, up_reader: asyncio.StreamReader
    ) -> bool:
        request, writer = flow.request, flow.writer
        kind = response.body.kind
        close = not request.keep_alive or self._draining.is_set()  # always for HTTP/1.0
        skip = _HOP_BY_HOP | response.connection_tokens
        headers: Headers = []
        vias: list[str] = []
        for name, value in response.headers:
            lower = name.lower()
            if lower in skip or (lower == "content-length" and kind != "none"):
                continue
            if lower == "via":
                vias.append(value)
                continue
            headers.append((name, value))
        vias.append(f"1.1 {VIA_PSEUDONYM}")
        headers.append(("Via", ", ".join(vias)))
        if kind == "length":
            headers.append(("Content-Length", str(response.body.length)))
        # HTTP/1.0 clients cannot read chunked bodies: they read to the close.
        rechunk = kind in ("chunked", "close") and request.minor == 1
        if rechunk:
            headers.append(("Transfer-Encoding", "chunked"))
        if close:
            headers.append(("Connection", "close"))
        self.stats.count(response.status)
        await _client_write(writer, _status_head(response.status, response.reason, headers))
        if kind == "none":
            return not close
        # No timeout once the response has started: a stream may stay silent for as long as it
        # likes (a ClusterIP never cuts an established connection); draining bounds it on stop.
        # Only a stream (chunked, or framed by the close) may stay silent for long: a task per
        # chunk to watch its client is paid there, not on every sized body.
        streamed = kind in ("chunked", "close")
        async with contextlib.aclosing(_iter_body(up_reader, response.body, None)) as chunks:
            while True:
                try:
                    data = await (
                        _next_or_client_gone(chunks, flow.reader, writer)
                        if streamed
                        else anext(chunks)
                    )
                except StopAsyncIteration:
                    break
                except _ClientGone:
                    return False  # nobody reads the rest: the upstream connection is closed
                except (_HeadError, TimeoutError, EOFError, OSError):
                    # The status is out already: cut the connection so the client sees the
                    # body is incomplete.
                    self.stats.upstream_errors += 1
                    writer.transport.abort()
                    return False
                await _client_write(writer, _encode_chunk(data) if rechunk else data)
        if rechunk:
            await _client_write(writer, b"0\r\n\r\n")
        return not close


async def _next_or_client_gone(
    chunks: AsyncGenerator[bytes, None],
    client: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
) -> bytes:
    """The body's next chunk; `_ClientGone` when, while the upstream is silent, the client
    closes its side (checked every `_CLIENT_CHECK_S`, only during silences)."""
    pending = asyncio.ensure_future(anext(chunks))
    try:
        while True:
            done, _ = await asyncio.wait({pending}, timeout=_CLIENT_CHECK_S)
            if done:
                return pending.result()
            if client.at_eof() or writer.transport.is_closing():
                raise _ClientGone
    finally:
        if not pending.done():
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending


@dataclass(frozen=True, slots=True)
class _Flow:
    """One request in flight and the client connection it came on."""

    request: _Request
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    client: str


async def _client_body(
    reader: asyncio.StreamReader, body: _Body, timeout_s: float
) -> AsyncGenerator[bytes, None]:
    """`_iter_body` on the client's connection: a client that stops sending or leaves is
    `_ClientGone` (malformed framing stays `_HeadError`), so its failures never pass for the
    pod's."""
    async with contextlib.aclosing(_iter_body(reader, body, timeout_s)) as chunks:
        while True:
            try:
                data = await anext(chunks)
            except StopAsyncIteration:
                return
            except (TimeoutError, EOFError, OSError) as exc:
                raise _ClientGone from exc
            yield data


def _where(endpoint: Endpoint) -> str:
    return f"{endpoint[0]}:{endpoint[1]}"


class _NoResponse(Exception):
    """The pod closed or reset the connection before sending a byte of its response."""


# -- HTTP/1.1 wire format ------------------------------------------------------------------------


async def _read_head(reader: asyncio.StreamReader, first: bytes, status: int) -> list[bytes]:
    """The lines of a head (start line first, CRLF or LF endings stripped), from its first line
    on. Over-long heads raise `_HeadError(431)`; blank lines before the start line are skipped."""
    lines: list[bytes] = []
    size = 0
    blanks = 0
    line: bytes | None = first
    while True:
        if line is None:
            try:
                line = await reader.readuntil(b"\n")
            except asyncio.LimitOverrunError as exc:
                raise _HeadError(431 if status == 400 else 502, "header too large") from exc
        size += len(line)
        if size > HEAD_LIMIT or len(lines) > MAX_FIELDS:
            raise _HeadError(431 if status == 400 else 502, "header too large")
        stripped = line[:-2] if line.endswith(b"\r\n") else line.rstrip(b"\n")
        line = None
        if not stripped:
            if lines:
                return lines
            blanks += 1
            if blanks > 4:
                raise _HeadError(status, "empty request")
            continue
        lines.append(stripped)


def _parse_fields(lines: list[bytes], status: int) -> Headers:
    headers: Headers = []
    for raw in lines:
        if raw[:1] in (b" ", b"\t"):
            raise _HeadError(status, "obsolete header line folding")
        name, sep, value = raw.partition(b":")
        if not sep or not _TOKEN.fullmatch(name):
            raise _HeadError(status, f"malformed header line {raw[:60]!r}")
        text = value.strip(b" \t").decode("latin-1")
        if _BAD_VALUE.search(text):
            raise _HeadError(status, f"invalid character in header {name.decode()!r}")
        headers.append((name.decode("ascii"), text))
    return headers


def _values(headers: Headers, name: str) -> list[str]:
    return [value for key, value in headers if key.lower() == name]


def _tokens(headers: Headers, name: str) -> list[str]:
    return [
        token.strip().lower()
        for value in _values(headers, name)
        for token in value.split(",")
        if token.strip()
    ]


def _framing(headers: Headers, status: int) -> _Body | None:
    """The body framing the headers declare; None when there is neither Content-Length nor
    Transfer-Encoding."""
    codings = _tokens(headers, "transfer-encoding")
    lengths = _values(headers, "content-length")
    if codings:
        if lengths:
            raise _HeadError(status, "both Transfer-Encoding and Content-Length")
        if codings != ["chunked"]:
            code = 501 if status == 400 else status
            raise _HeadError(code, f"unsupported transfer-coding {', '.join(codings)}")
        return _Body("chunked")
    if lengths:
        values = {part.strip() for value in lengths for part in value.split(",")}
        if len(values) != 1 or not (value := values.pop()).isdigit() or len(value) > 18:
            raise _HeadError(status, "invalid Content-Length")
        return _Body("length", int(value))
    return None


def _parse_request(lines: list[bytes]) -> _Request:
    match = _REQUEST_LINE.fullmatch(lines[0])
    if match is None:
        raise _HeadError(400, "malformed request line")
    method = match[1].decode("ascii")
    target = match[2].decode("latin-1")
    if match[3] != b"1" or match[4] not in (b"0", b"1"):
        raise _HeadError(505, "only HTTP/1.0 and HTTP/1.1 are supported")
    minor = int(match[4])
    headers = _parse_fields(lines[1:], 400)
    if method == "CONNECT":
        raise _HeadError(501, "CONNECT is not supported")
    if target.lower().startswith(("http://", "https://")):  # absolute form
        parts = urlsplit(target)
        if not parts.netloc:
            raise _HeadError(400, "malformed request target")
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = [(k, v) for k, v in headers if k.lower() != "host"] + [("Host", parts.netloc)]
    elif not (target.startswith("/") or (target == "*" and method == "OPTIONS")):
        raise _HeadError(400, "malformed request target")
    hosts = _values(headers, "host")
    if len(hosts) > 1 or (minor == 1 and not hosts):
        raise _HeadError(400, "a request needs exactly one Host header")
    body = _framing(headers, 400) or _Body("none")
    if body.kind == "length" and body.length == 0:
        body = _Body("none")
    connection = frozenset(_tokens(headers, "connection"))
    return _Request(
        method=method,
        target=target,
        minor=minor,
        headers=headers,
        body=body,
        keep_alive=minor == 1 and "close" not in connection,
        expect_continue="100-continue" in _tokens(headers, "expect"),
        connection_tokens=connection,
    )


async def _read_response(reader: asyncio.StreamReader, method: str) -> _Response:
    """The final response head (1xx interim responses are read and dropped)."""
    first = True
    while True:
        try:
            line = await reader.readuntil(b"\n")
        except asyncio.IncompleteReadError as exc:
            if first and not exc.partial:
                raise _NoResponse from exc
            raise
        except ConnectionError as exc:
            if first:
                raise _NoResponse from exc
            raise
        first = False
        lines = await _read_head(reader, line, 502)
        match = _STATUS_LINE.fullmatch(lines[0])
        if match is None:
            raise _HeadError(502, f"malformed status line {lines[0][:60]!r}")
        status = int(match[1])
        headers = _parse_fields(lines[1:], 502)
        if status == 101:
            raise _HeadError(502, "101 Switching Protocols without an upgrade request")
        if status < 200:
            continue
        reason = (match[2] or b"").decode("latin-1").strip()
        try:
            reason = reason or HTTPStatus(status).phrase
        except ValueError:
            reason = reason or "Unknown"
        if method == "HEAD" or status in (204, 304):
            body = _Body("none")
        else:
            body = _framing(headers, 502) or _Body("close")
        return _Response(
            status=status,
            reason=reason,
            headers=headers,
            body=body,
            connection_tokens=frozenset(_tokens(headers, "connection")),
        )


def _upstream_head(request: _Request, endpoint: Endpoint, client: str) -> bytes:
    skip = _HOP_BY_HOP | request.connection_tokens | {"content-length", "expect"}
    headers: Headers = []
    forwarded_for: list[str] = []
    vias: list[str] = []
    for name, value in request.headers:
        lower = name.lower()
        if lower in skip:
            continue
        if lower == "x-forwarded-for":
            forwarded_for.append(value)
        elif lower == "via":
            vias.append(value)
        else:
            headers.append((name, value))
    present = {name.lower() for name, _ in headers}
    if "host" not in present:
        headers.append(("Host", f"{endpoint[0]}:{endpoint[1]}"))
    elif "x-forwarded-host" not in present:
        headers.append(("X-Forwarded-Host", _values(request.headers, "host")[0]))
    if "x-forwarded-proto" not in present:
        headers.append(("X-Forwarded-Proto", "http"))
    headers.append(("X-Forwarded-For", ", ".join([*forwarded_for, client])))
    headers.append(("Via", ", ".join([*vias, f"1.{request.minor} {VIA_PSEUDONYM}"])))
    if request.body.kind == "length":
        headers.append(("Content-Length", str(request.body.length)))
    elif request.body.kind == "chunked":
        headers.append(("Transfer-Encoding", "chunked"))
    headers.append(("Connection", "close"))
    start = f"{request.method} {request.target} HTTP/1.1\r\n"
    return (start + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n").encode("latin-1")


def _status_head(status: int, reason: str, headers: Headers) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}\r\n", *(f"{k}: {v}\r\n" for k, v in headers), "\r\n"]
    return "".join(lines).encode("latin-1")


def _iter_body(
    reader: asyncio.StreamReader, body: _Body, timeout_s: float | None
) -> AsyncGenerator[bytes, None]:
    """The body's bytes as they arrive (chunked framing decoded, trailers dropped). A body cut
    short raises `IncompleteReadError`, bad chunk framing `_HeadError(400)`, a read idle for
    `timeout_s` `TimeoutError`."""
    if body.kind == "chunked":
        return _iter_chunked(reader, timeout_s)
    if body.kind == "close":
        return _iter_to_close(reader, timeout_s)
    return _iter_length(reader, body.length if body.kind == "length" else 0, timeout_s)


async def _iter_length(
    reader: asyncio.StreamReader, remaining: int, timeout_s: float | None
) -> AsyncGenerator[bytes, None]:
    while remaining:
        async with asyncio.timeout(timeout_s):
            data = await reader.read(min(remaining, _READ_SIZE))
        if not data:
            raise asyncio.IncompleteReadError(b"", remaining)
        remaining -= len(data)
        yield data


async def _iter_to_close(
    reader: asyncio.StreamReader, timeout_s: float | None
) -> AsyncGenerator[bytes, None]:
    while True:
        async with asyncio.timeout(timeout_s):
            data = await reader.read(_READ_SIZE)
        if not data:
            return
        yield data


async def _iter_chunked(
    reader: asyncio.StreamReader, timeout_s: float | None
) -> AsyncGenerator[bytes, None]:
    while True:
        async with asyncio.timeout(timeout_s):
            line = await _read_line(reader)
        size_text = line.rstrip(b"\r\n").split(b";", 1)[0].strip(b" \t")
        if not _CHUNK_SIZE.fullmatch(size_text):
            raise _HeadError(400, "malformed chunk size")
        size = int(size_text, 16)
        if size == 0:
            for _ in range(MAX_FIELDS + 1):  # trailer fields, then the blank line
                async with asyncio.timeout(timeout_s):
                    if not (await _read_line(reader)).strip():
                        return
            raise _HeadError(400, "too many trailer fields")
        while size:
            async with asyncio.timeout(timeout_s):
                data = await reader.read(min(size, _READ_SIZE))
            if not data:
                raise asyncio.IncompleteReadError(b"", size)
            size -= len(data)
            yield data
        async with asyncio.timeout(timeout_s):
            if (await _read_line(reader)).strip():
                raise _HeadError(400, "chunk data longer than its size")


async def _read_line(reader: asyncio.StreamReader) -> bytes:
    try:
        return await reader.readuntil(b"\n")
    except asyncio.LimitOverrunError as exc:
        raise _HeadError(400, "chunk line too long") from exc


def _encode_chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


async def _client_write(writer: asyncio.StreamWriter, data: bytes) -> None:
    try:
        writer.write(data)
        await writer.drain()
    except OSError as exc:
        raise _ClientGone from exc


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
