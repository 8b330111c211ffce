"""The Service proxy's HTTP/1.1 wire codec, the client's side: h11 parses what a client sends
(request heads, chunked bodies, pipelined requests; a sized body's bytes are only counted), and
the proxy writes its responses itself. Also the types both sides share and the response head
a reverse proxy rewrites. The pod's side of the wire is `proxyupstream.py`; which pod, failover
and draining are `proxy.py`'s.

What this layer adds to h11, and why:

- **One h11 connection per exchange**, handed the bytes read past the last request: blank lines
  before a request line are skipped there (RFC 9112 2.2), which h11 refuses.
- **Refused requests.** h11 answers malformed heads (`400`), heads still incomplete past
  `HEAD_LIMIT` (`431`) and transfer-codings other than `chunked` (`501`); on top of it: heads
  over `HEAD_LIMIT` that arrived whole or over `MAX_FIELDS` fields (`431`), `Content-Length`
  with `Transfer-Encoding` (`400`: h11 lets chunked win, a request-smuggling vector through a
  proxy), `CONNECT` (`501`), HTTP versions other than 1.0 and 1.1 (`505`). Obsolete line folding
  is unfolded by h11 (RFC 9112 5.2 lets a proxy replace it by spaces).
- **Responses are written here, not through h11.** Their fields come from a pod's parsed head
  (or from the proxy), so writing them needs no second validation, and h11's per-event
  machinery on the way out cost a quarter more CPU per small request
  (`benchmarks/proxy_throughput.py`). A body without a length is chunked for HTTP/1.1 clients;
  HTTP/1.0 ones cannot read chunks and read it to the close. Keep-alive is the proxy's call.
- **A sized request body is counted here**, not fed through h11 (which copies each byte three
  times and makes an event of every read: uploads ran at half the speed); h11 has validated its
  `Content-Length`.
- **Bodies are streamed** as they arrive, never buffered; trailers are dropped. A client's head
  and body reads are bounded by the caller's timeout; `next_or_client_gone` notices a client
  that left while a streamed response body is silent.
- **Forwarding headers.** `Via: 1.1 gitops-proxy` is appended to responses; the hop-by-hop
  headers (and those named in `Connection`) are not forwarded (requests: `proxyupstream`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Literal
from urllib.parse import urlsplit

import h11

VIA_PSEUDONYM = b"gitops-proxy"
HEAD_LIMIT = 64 * 1024  # request/response line and header block, bytes
MAX_FIELDS = 100  # header fields in one head
READ_SIZE = 64 * 1024
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)

_MAX_BLANK_LINES = 4  # before a request line
_CLIENT_CHECK_S = 0.25  # while a body is silent, how often to look whether its client left

Headers = list[tuple[bytes, bytes]]  # names as the peer spelled them
BodyKind = Literal["none", "length", "chunked", "close"]


class HeadError(Exception):
    """A head or body framing that is not valid HTTP/1.1; `status` is the answer to a client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ClientGone(Exception):
    """The client closed or reset its connection, or stopped sending; nothing more to answer."""


class NoResponse(Exception):
    """The pod closed or reset the connection before sending a byte of its response."""


@dataclass(slots=True)
class Request:
    method: str
    target: bytes
    minor: int  # HTTP/1.<minor>
    headers: Headers
    body: BodyKind  # "none", "length" or "chunked"
    length: int  # of a "length" body
    keep_alive: bool
    connection_tokens: frozenset[bytes]

    @property
    def has_body(self) -> bool:
        return self.body != "none"


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    reason: bytes
    headers: Headers
    body: BodyKind
    length: int  # of a "length" body
    connection_tokens: frozenset[bytes]


class BodySender:
    """A body written as it comes: chunk-framed when `_chunked`, else as is. Both sides of the
    proxy send one (the client's response, the pod's request)."""

    _chunked = False

    async def send_data(self, data: bytes) -> None:
        if data:
            await self._write(b"%x\r\n%b\r\n" % (len(data), data) if self._chunked else data)

    async def send_end(self) -> None:
        if self._chunked:
            await self._write(b"0\r\n\r\n")

    async def _write(self, data: bytes) -> None:
        raise NotImplementedError


class ClientSide(BodySender):
    """The client's connection: requests in (h11 as the server), responses out."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self._h11 = _server()
        self._buffered = b""  # read past the last request: the start of the next one
        self._chunked = False  # the response under way is chunked by the proxy
        self._complete = False  # the request under way was read whole
        self._past: bytes | None = None  # read past a sized body the proxy counted itself
        self._sized = 0  # the length of the request body under way, when sized

    def next_cycle(self) -> bool:
        """After an exchange the proxy would keep the connection for: True when the request was
        read whole, with a fresh parser holding what was read past it."""
        if not self._complete:
            return False
        self._buffered = self._read_past()
        self._h11 = _server()
        self._complete = False
        self._past = None
        return True

    def _read_past(self) -> bytes:
        return self._h11.trailing_data[0] if self._past is None else self._past

    async def next_request(
        self, *, timeout_s: float, draining: asyncio.Event | None
    ) -> Request | None:
        """The next request's head (its body is `body()`); None when the client closed, stayed
        idle for `timeout_s`, or `draining` was set before a byte came. A head cut short or
        slower than `timeout_s` is `ClientGone`, an invalid one `HeadError`."""
        data, self._buffered = self._buffered, b""
        blanks = 0
        while True:
            if not data:
                data = await self._first_read(timeout_s, draining if not blanks else None)
                if not data:
                    return None
            stripped = data.lstrip(b"\r\n")
            blanks += data.count(b"\n", 0, len(data) - len(stripped))
            if blanks > _MAX_BLANK_LINES:
                raise HeadError(400, "empty request")
            if stripped:
                break
            data = b""
        conn = self._h11
        conn.receive_data(stripped)
        try:
            async with asyncio.timeout(timeout_s):
                event = await self._event()
                request = _request(event)
                self._sized = request.length if request.body == "length" else 0
                if not request.has_body:
                    await self._event()  # its EndOfMessage
                    self._complete = True
        except TimeoutError as exc:
            raise ClientGone from exc
        return request

    async def _first_read(self, timeout_s: float, draining: asyncio.Event | None) -> bytes:
        if draining is None:  # a connection's first request: no task to watch draining
            try:
                async with asyncio.timeout(timeout_s):
                    return await self.reader.read(READ_SIZE)
            except (TimeoutError, OSError):
                return b""
        read = asyncio.ensure_future(self.reader.read(READ_SIZE))
        waiters: set[asyncio.Future[Any]] = {read}
        waiters.add(asyncio.ensure_future(draining.wait()))
        try:
            done, _ = await asyncio.wait(
                waiters, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for waiter in waiters:
                if not waiter.done():
                    waiter.cancel()
        if read not in done:
            return b""
        try:
            return read.result()
        except OSError:
            return b""

    async def _event(self) -> h11.Event:
        conn = self._h11
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                raise HeadError(exc.error_status_hint, str(exc)) from exc
            if isinstance(event, h11.Event):
                return event  # else NEED_DATA: PAUSED never comes, nothing is read past an end
            try:
                data = await self.reader.read(READ_SIZE)
            except OSError as exc:
                raise ClientGone from exc
            if not data:
                raise ClientGone
            conn.receive_data(data)

    async def body(self, timeout_s: float) -> AsyncGenerator[bytes, None]:
        """The request body as it arrives, chunked framing decoded, trailers dropped. A client
        that stops sending for `timeout_s` or leaves is `ClientGone`, bad framing `HeadError`."""
        if self._sized:
            async with contextlib.aclosing(self._sized_body(timeout_s)) as pieces:
                async for data in pieces:
                    yield data
            return
        while True:
            try:
                async with asyncio.timeout(timeout_s):
                    event = await self._event()
            except TimeoutError as exc:
                raise ClientGone from exc
            if isinstance(event, h11.Data):
                yield event.data
            else:
                self._complete = True
                return

    async def _sized_body(self, timeout_s: float) -> AsyncGenerator[bytes, None]:
        # Counted, not fed through h11 (see the module docstring). What h11 read past the head
        # is the body's start; what lies past the body, the next request's.
        remaining = self._sized
        past = self._h11.trailing_data[0]
        self._past = past[remaining:]
        if past := past[:remaining]:
            remaining -= len(past)
            yield past
        while remaining:
            try:
                async with asyncio.timeout(timeout_s):
                    data = await self.reader.read(min(remaining, READ_SIZE))
            except (TimeoutError, OSError) as exc:
                raise ClientGone from exc
            if not data:
                raise ClientGone
            remaining -= len(data)
            yield data
        self._complete = True

    # Responses: written here, not through h11 (see the module docstring).

    async def send_continue(self) -> None:
        """`100 Continue`, if the client still waits for it (HTTP/1.1, `Expect: 100-continue`,
        not a byte of body sent yet)."""
        if self._h11.they_are_waiting_for_100_continue:
            await self._write(b"HTTP/1.1 100 Continue\r\n\r\n")

    async def reply(self, status: int, headers: Headers, body: bytes) -> bool:
        """A whole response from the proxy itself (`headers` frame `body`); False if the client
        is gone."""
        try:
            await self._write(_head(status, HTTPStatus(status).phrase.encode(), headers) + body)
        except ClientGone:
            return False
        return True

    async def send_head(self, response: Response, *, close: bool, minor: int) -> None:
        """The head of a relayed response (see `client_headers`). A body without a length is
        chunked for HTTP/1.1 clients; HTTP/1.0 ones cannot read chunks, and read to the close."""
        self._chunked = response.body in ("chunked", "close") and minor == 1
        headers = client_headers(response, close=close, chunked=self._chunked)
        await self._write(_head(response.status, response.reason, headers))

    def gone(self) -> bool:
        """The client closed its side with nothing more to read, or its transport is closing."""
        if self.writer.transport.is_closing():
            return True
        return self.reader.at_eof() and not self._read_past()

    async def _write(self, data: bytes) -> None:
        try:
            self.writer.write(data)
            await self.writer.drain()
        except OSError as exc:
            raise ClientGone from exc


async def next_or_client_gone(chunks: AsyncGenerator[bytes, None], client: ClientSide) -> bytes:
    """The body's next chunk; `ClientGone` when, while the upstream is silent, the client
    closes its side (checked every `_CLIENT_CHECK_S`, only during silences)."""
    pending = asyncio.ensure_future(anext(chunks))
    try:
        while True:
            done, _ = await asyncio.wait({pending}, timeout=_CLIENT_CHECK_S)
            if done:
                return pending.result()
            if client.gone():
                raise ClientGone
    finally:
        if not pending.done():
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending


def _head(status: int, reason: bytes, headers: Headers) -> bytes:
    lines = [b"HTTP/1.1 %d %s\r\n" % (status, reason)]
    lines += [b"%s: %s\r\n" % field for field in headers]
    lines.append(b"\r\n")
    return b"".join(lines)


def _server() -> h11.Connection:
    return h11.Connection(h11.SERVER, max_incomplete_event_size=HEAD_LIMIT)


def _request(event: h11.Event) -> Request:
    """The request in h11's `event`, checked for what h11 lets through but a proxy must not."""
    if not isinstance(event, h11.Request):
        raise HeadError(400, "malformed request")
    if event.http_version not in (b"1.0", b"1.1"):
        raise HeadError(505, "only HTTP/1.0 and HTTP/1.1 are supported")
    method = event.method.decode("ascii")
    headers = event.headers.raw_items()
    if len(headers) > MAX_FIELDS or _head_size(headers, event.target) > HEAD_LIMIT:
        raise HeadError(431, "header too large")
    if method == "CONNECT":
        raise HeadError(501, "CONNECT is not supported")
    target = event.target
    if target[:7].lower() == b"http://" or target[:8].lower() == b"https://":  # absolute form
        parts = urlsplit(target)
        if not parts.netloc:
            raise HeadError(400, "malformed request target")
        target = (parts.path or b"/") + (b"?" + parts.query if parts.query else b"")
        headers = [(k, v) for k, v in headers if k.lower() != b"host"] + [(b"Host", parts.netloc)]
    elif not (target.startswith(b"/") or (target == b"*" and method == "OPTIONS")):
        raise HeadError(400, "malformed request target")
    body, length = _framing(event.headers)
    connection = _tokens(event.headers, b"connection")
    return Request(
        method=method,
        target=target,
        minor=1 if event.http_version == b"1.1" else 0,
        headers=headers,
        body=body,
        length=length,
        keep_alive=event.http_version == b"1.1" and b"close" not in connection,
        connection_tokens=connection,
    )


def _head_size(headers: Headers, start: bytes) -> int:
    # h11 bounds only a head still incomplete in its buffer (`max_incomplete_event_size`): one
    # that arrived whole in a read is measured here, CRLFs and ": " counted.
    return len(start) + 16 + sum(len(name) + len(value) + 4 for name, value in headers)


def _framing(headers: Iterable[tuple[bytes, bytes]]) -> tuple[BodyKind, int]:
    """The request body's framing (h11 has validated each header on its own, not the pair)."""
    chunked = length = None
    for name, value in headers:
        if name == b"transfer-encoding":
            chunked = value
        elif name == b"content-length":
            length = int(value)
    if chunked is not None:
        if length is not None:
            raise HeadError(400, "both Transfer-Encoding and Content-Length")
        return "chunked", 0
    return ("length", length) if length else ("none", 0)


def _tokens(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> frozenset[bytes]:
    return frozenset(
        token.strip().lower()
        for key, value in headers
        if key == name
        for token in value.split(b",")
        if token.strip()
    )


def client_headers(response: Response, *, close: bool, chunked: bool) -> Headers:
    """The response's headers as sent to the client: hop-by-hop ones out, `Via` appended, the
    framing the proxy sends the body with."""
    skip = HOP_BY_HOP | response.connection_tokens
    headers: Headers = []
    vias: list[bytes] = []
    for name, value in response.headers:
        lower = name.lower()
        if lower in skip or (lower == b"content-length" and response.body != "none"):
            continue
        if lower == b"via":
            vias.append(value)
            continue
        headers.append((name, value))
    vias.append(b"1.1 " + VIA_PSEUDONYM)
    headers.append((b"Via", b", ".join(vias)))
    if response.body == "length":
        headers.append((b"Content-Length", b"%d" % response.length))
    elif chunked:
        headers.append((b"Transfer-Encoding", b"chunked"))
    if close:
        headers.append((b"Connection", b"close"))
    return headers
