"""The embedded platform's Service proxy: one stable port per Kubernetes Service, forwarding each
HTTP/1.1 request to one of the Service's ready pods, round robin, on the platform's event loop.
This module is the routing policy (which pod, failover, draining, the proxy's own answers); the
wire is `proxywire.py` (the client's side: h11) and `proxyupstream.py` (the pod's side).

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
  pipelined) requests; HTTP/1.0 clients get `Connection: close`. Bodies are streamed both ways,
  never buffered. `Expect: 100-continue` is answered by the proxy once an upstream connection is
  open. A client that leaves while a streamed body is silent ends the relay at once.
- **Draining.** `stop(grace_s)` closes the listening socket at once (new connections are refused),
  closes idle keep-alive connections, lets in-flight requests finish with `Connection: close` for
  up to `grace_s`, then aborts what is left. Stop the proxies before signalling the pods so that
  in-flight requests can complete.
- **Refused** (see `proxywire`): malformed requests and ambiguous framing (`400`), heads over
  64 KiB or 100 fields (`431`), transfer-codings other than `chunked` and `CONNECT` (`501`), HTTP
  versions other than 1.0 and 1.1 (`505`). Upgrade (WebSocket) is not proxied.

Nothing is logged per request; `proxy.stats` counts requests, responses by status class, upstream
errors and retries for the API to expose (`stats.as_dict()`).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from console.lifecycle import Started
from console.local.kube.proxyupstream import UpstreamSide, upstream_headers
from console.local.kube.proxywire import (
    HEAD_LIMIT,
    ClientGone,
    ClientSide,
    HeadError,
    Headers,
    NoResponse,
    Request,
    Response,
    next_or_client_gone,
)

Endpoint = tuple[str, int]

_MAX_ATTEMPTS = 16
_EJECT_S = 1.0  # a pod that refused a connection is tried last for this long
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})

_log = logging.getLogger(__name__)


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


class _Retry(Enum):
    RETRY = "retry"


@dataclass(frozen=True, slots=True)
class _Flow:
    """One request in flight and the client connection it came on."""

    request: Request
    client: ClientSide
    address: str  # the client's, for X-Forwarded-For

    @property
    def replayable(self) -> bool:
        """Safe to send again to another pod after a failed attempt."""
        return self.request.method in _IDEMPOTENT and not self.request.has_body


class ServiceProxy(Started):
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

    # -- client connections ------------------------------------------------------------------

    async def _on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._conns.add(task)
        self.stats.connections += 1
        peer = writer.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"
        client = ClientSide(reader, writer)
        try:
            idle = False
            while await self._exchange(client, address, idle=idle):
                if self._draining.is_set() or not client.next_cycle():
                    break
                idle = True
        except asyncio.CancelledError:
            # stop() gave up on this connection after its grace period. Not re-raised: the task
            # ends here anyway, and asyncio 3.11 logs an error for a cancelled connection task.
            writer.transport.abort()
        except (ClientGone, OSError, EOFError):
            writer.transport.abort()
        except Exception:
            _log.exception("service %s: proxy connection from %s failed", self.name, address)
            writer.transport.abort()
        finally:
            if task is not None:
                self._conns.discard(task)
            writer.close()

    async def _exchange(self, client: ClientSide, address: str, *, idle: bool) -> bool:
        """Serve one request; True to keep the client connection for another. Idle keep-alive
        connections stop waiting for their next request when the proxy drains."""
        try:
            request = await client.next_request(
                timeout_s=self.idle_timeout_s, draining=self._draining if idle else None
            )
        except HeadError as exc:
            self.stats.total += 1
            return await self._reply(client, exc.status, exc.message, close=True)
        except ClientGone:  # a head cut short, or too slow
            self.stats.total += 1
            return False
        if request is None:
            return False
        self.stats.total += 1
        if not self._endpoints:
            self.stats.no_endpoints += 1
            return await self._reply(
                client,
                503,
                "no ready endpoints",
                close=request.has_body or not request.keep_alive,
                extra=[(b"Retry-After", b"1")],
            )
        try:
            return await self._forward(_Flow(request, client, address))
        except HeadError as exc:  # a malformed request body, after forwarding began
            return await self._reply(client, exc.status, exc.message, close=True)

    async def _reply(
        self,
        client: ClientSide,
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
            (b"Content-Type", b"application/json"),
            (b"Content-Length", b"%d" % len(body)),
            *(extra or []),
        ]
        if close:
            headers.append((b"Connection", b"close"))
        self.stats.count(status)
        return await client.reply(status, headers, body) and not close

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
                upstream = UpstreamSide(up_reader, up_writer)
                outcome = await self._exchange_upstream(flow, endpoint, upstream)
            finally:
                up_writer.transport.abort()
            if outcome is _Retry.RETRY:
                failure = f"{_where(endpoint)} closed the connection without a response"
                continue
            return outcome
        if not tried:  # the endpoints went away since the request arrived
            self.stats.no_endpoints += 1
            return await self._reply(
                flow.client, 503, "no ready endpoints", close=True, extra=[(b"Retry-After", b"1")]
            )
        close = flow.request.has_body or not flow.request.keep_alive
        return await self._reply(flow.client, 502, "bad gateway", close=close, detail=failure)

    async def _exchange_upstream(
        self, flow: _Flow, endpoint: Endpoint, upstream: UpstreamSide
    ) -> bool | _Retry:
        """One attempt on one pod: True/False as `_exchange`, or RETRY when another pod may
        take the request."""
        failed = await self._send_upstream(flow, endpoint, upstream)
        if failed is not None:
            return failed
        request, where = flow.request, _where(endpoint)
        try:
            async with asyncio.timeout(self.read_timeout_s):
                response = await upstream.read_response()
        except TimeoutError:
            self.stats.upstream_errors += 1
            detail = f"{where} sent no response within {self.read_timeout_s:g}s"
            return await self._reply(
                flow.client, 504, "upstream timed out", close=not request.keep_alive, detail=detail
            )
        except NoResponse:
            self.stats.upstream_errors += 1
            if flow.replayable:
                return _Retry.RETRY
            detail = f"{where} closed the connection without a response"
        except (HeadError, OSError) as exc:
            self.stats.upstream_errors += 1
            detail = f"invalid response from {where}: {_describe(exc)}"
        else:
            return await self._relay_response(flow, response, upstream)
        return await self._reply(
            flow.client, 502, "bad gateway", close=not request.keep_alive, detail=detail
        )

    async def _send_upstream(
        self, flow: _Flow, endpoint: Endpoint, upstream: UpstreamSide
    ) -> bool | _Retry | None:
        """Send the request; None when it went out, else the outcome of the attempt."""
        request = flow.request
        try:
            headers = upstream_headers(request, endpoint, flow.address)
            await upstream.send_head(request, headers)
        except OSError as exc:
            self.stats.upstream_errors += 1
            if flow.replayable:
                return _Retry.RETRY
            detail = f"sending to {_where(endpoint)}: {_describe(exc)}"
            return await self._reply(
                flow.client, 502, "bad gateway", close=request.has_body, detail=detail
            )
        if not request.has_body:
            return None
        await flow.client.send_continue()
        try:
            async with contextlib.aclosing(flow.client.body(self.idle_timeout_s)) as chunks:
                async for data in chunks:
                    await upstream.send_data(data)
            await upstream.send_end()
        except OSError as exc:
            self.stats.upstream_errors += 1
            detail = f"sending to {_where(endpoint)}: {_describe(exc)}"
            return await self._reply(flow.client, 502, "bad gateway", close=True, detail=detail)
        return None

    async def _relay_response(
        self, flow: _Flow, response: Response, upstream: UpstreamSide
    ) -> bool:
        client = flow.client
        close = not flow.request.keep_alive or self._draining.is_set()  # always for HTTP/1.0
        self.stats.count(response.status)
        await client.send_head(response, close=close, minor=flow.request.minor)
        if response.body == "none":
            return not close
        # No timeout once the response has started: a stream may stay silent for as long as it
        # likes (a ClusterIP never cuts an established connection); draining bounds it on stop.
        # Only a stream (chunked, or framed by the close) may stay silent for long: a task per
        # chunk to watch its client is paid there, not on every sized body.
        streamed = response.body in ("chunked", "close")
        async with contextlib.aclosing(upstream.body()) as chunks:
            while True:
                try:
                    data = await (
                        next_or_client_gone(chunks, client) if streamed else anext(chunks)
                    )
                except StopAsyncIteration:
                    break
                except ClientGone:
                    return False  # nobody reads the rest: the upstream connection is closed
                except (HeadError, EOFError, OSError):
                    # The status is out already: cut the connection so the client sees the
                    # body is incomplete.
                    self.stats.upstream_errors += 1
                    client.writer.transport.abort()
                    return False
                await client.send_data(data)
        await client.send_end()
        return not close


def _where(endpoint: Endpoint) -> str:
    return f"{endpoint[0]}:{endpoint[1]}"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
