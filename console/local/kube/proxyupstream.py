"""The Service proxy's side of the wire to a pod: one request out on a fresh connection (sent with
`Connection: close`), its response in, framed by hand rather than by h11 like the client's side
(`proxywire.py`).

Why by hand: h11 parses a response only on a connection that framed the request itself, a whole
client-role cycle of five events; on the proxy's hot path that cost a third more latency per
small request (`benchmarks/proxy_throughput.py`: p50 +33% with h11 on both sides, within a few
per cent of the hand-written codec with h11 on the client's side only). The bytes parsed here come
from the Service's own pods, and a malformed response costs only its own request (`502`, or a
cut connection once the status is out); what clients send, where request smuggling lives, goes
through h11.

Interim 1xx responses are read and dropped, bodies are streamed as they arrive (chunked framing
decoded, trailers dropped, a body framed by the close read to the close), and nothing here has a
timeout: the caller bounds the wait for the head, never the silences of a body.

Forwarding headers: `X-Forwarded-For` gets the client address appended, `X-Forwarded-Proto` and
`X-Forwarded-Host` are set when absent, `Via: 1.x gitops-proxy` is appended; the hop-by-hop
headers (and those named in `Connection`) are not forwarded, so neither is `Upgrade` (WebSocket
is not proxied). `Host` is kept.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator
from http import HTTPStatus

from console.local.kube.proxywire import (
    HEAD_LIMIT,
    HOP_BY_HOP,
    MAX_FIELDS,
    READ_SIZE,
    VIA_PSEUDONYM,
    BodyKind,
    BodySender,
    HeadError,
    Headers,
    NoResponse,
    Request,
    Response,
)

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_STATUS_LINE = re.compile(rb"HTTP/1\.[01] ([1-9]\d\d)(?: ([^\r\n]*))?")
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")
_BAD_VALUE = re.compile(rb"[\x00\r\n]")


class UpstreamSide(BodySender):
    """The connection to a pod: one request out, its response in."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader  # its limit bounds a head's lines: HEAD_LIMIT
        self.writer = writer
        self._method = "GET"
        self._chunked = False  # the request body is sent chunked
        self._body: tuple[BodyKind, int] = ("none", 0)

    async def send_head(self, request: Request, headers: Headers) -> None:
        """The request's head, `headers` from `upstream_headers`."""
        self._method = request.method
        self._chunked = request.body == "chunked"
        lines = [b"%s %s HTTP/1.1\r\n" % (request.method.encode("ascii"), request.target)]
        lines += [b"%s: %s\r\n" % field for field in headers]
        lines.append(b"\r\n")
        await self._write(b"".join(lines))

    async def _write(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def read_response(self) -> Response:
        """The final response head. `NoResponse` when the pod closed or reset the connection
        before a byte, `HeadError(502)` for an invalid or cut head."""
        first = True
        while True:
            lines = await self._read_head(await self._start_line(first=first))
            first = False
            match = _STATUS_LINE.fullmatch(lines[0])
            if match is None:
                raise HeadError(502, f"malformed status line {lines[0][:60]!r}")
            status = int(match[1])
            headers = _parse_fields(lines[1:])
            if status == 101:
                raise HeadError(502, "101 Switching Protocols without an upgrade request")
            if status >= 200:
                break
        reason = (match[2] or b"").strip()
        if not reason:
            try:
                reason = HTTPStatus(status).phrase.encode()
            except ValueError:
                reason = b"Unknown"
        if self._method == "HEAD" or status in (204, 304):
            self._body = ("none", 0)
        else:
            self._body = _framing(headers)
        return Response(
            status=status,
            reason=reason,
            headers=headers,
            body=self._body[0],
            length=self._body[1],
            connection_tokens=_tokens(headers, b"connection"),
        )

    async def _start_line(self, *, first: bool) -> bytes:
        try:
            return await self.reader.readuntil(b"\n")
        except asyncio.IncompleteReadError as exc:
            if first and not exc.partial:
                raise NoResponse from exc
            raise HeadError(502, "the head was cut short") from exc
        except ConnectionError as exc:
            if first:
                raise NoResponse from exc
            raise
        except asyncio.LimitOverrunError as exc:
            raise HeadError(502, "header too large") from exc

    async def _read_head(self, first: bytes) -> list[bytes]:
        """The lines of a head (start line first, CRLF or LF endings stripped)."""
        lines: list[bytes] = []
        size = 0
        line: bytes | None = first
        while True:
            if line is None:
                try:
                    line = await self.reader.readuntil(b"\n")
                except asyncio.IncompleteReadError as exc:
                    raise HeadError(502, "the head was cut short") from exc
                except asyncio.LimitOverrunError as exc:
                    raise HeadError(502, "header too large") from exc
            size += len(line)
            if size > HEAD_LIMIT or len(lines) > MAX_FIELDS:
                raise HeadError(502, "header too large")
            stripped = line[:-2] if line.endswith(b"\r\n") else line.rstrip(b"\n")
            line = None
            if not stripped:
                if lines:
                    return lines
                continue
            lines.append(stripped)

    def body(self) -> AsyncGenerator[bytes, None]:
        """The response body as it arrives. A body cut short raises `IncompleteReadError`, bad
        chunk framing `HeadError`."""
        kind, length = self._body
        if kind == "chunked":
            return self._chunked_body()
        if kind == "close":
            return self._body_to_close()
        return self._sized_body(length if kind == "length" else 0)

    async def _sized_body(self, remaining: int) -> AsyncGenerator[bytes, None]:
        """`remaining` bytes as they arrive; fewer before the close raise `IncompleteReadError`."""
        while remaining:
            data = await self.reader.read(min(remaining, READ_SIZE))
            if not data:
                raise asyncio.IncompleteReadError(b"", remaining)
            remaining -= len(data)
            yield data

    async def _body_to_close(self) -> AsyncGenerator[bytes, None]:
        while data := await self.reader.read(READ_SIZE):
            yield data

    async def _chunked_body(self) -> AsyncGenerator[bytes, None]:
        while True:
            line = await self._read_line()
            size_text = line.rstrip(b"\r\n").split(b";", 1)[0].strip(b" \t")
            if not _CHUNK_SIZE.fullmatch(size_text):
                raise HeadError(502, "malformed chunk size")
            size = int(size_text, 16)
            if size == 0:
                for _ in range(MAX_FIELDS + 1):  # trailer fields, then the blank line
                    if not (await self._read_line()).strip():
                        return
                raise HeadError(502, "too many trailer fields")
            async for data in self._sized_body(size):
                yield data
            if (await self._read_line()).strip():
                raise HeadError(502, "chunk data longer than its size")

    async def _read_line(self) -> bytes:
        try:
            return await self.reader.readuntil(b"\n")
        except asyncio.LimitOverrunError as exc:
            raise HeadError(502, "chunk line too long") from exc


def upstream_headers(request: Request, endpoint: tuple[str, int], client: str) -> Headers:
    """The request's headers as sent to a pod: forwarding headers added, hop-by-hop ones out,
    the body's framing and `Connection: close` (a fresh connection per request) in."""
    skip = HOP_BY_HOP | request.connection_tokens | {b"content-length", b"expect"}
    headers: Headers = []
    forwarded_for: list[bytes] = []
    vias: list[bytes] = []
    host: bytes | None = None
    for name, value in request.headers:
        lower = name.lower()
        if lower in skip:
            continue
        if lower == b"x-forwarded-for":
            forwarded_for.append(value)
        elif lower == b"via":
            vias.append(value)
        else:
            if lower == b"host":
                host = value
            headers.append((name, value))
    present = {name.lower() for name, _ in headers}
    if host is None:
        headers.append((b"Host", f"{endpoint[0]}:{endpoint[1]}".encode()))
    elif b"x-forwarded-host" not in present:
        headers.append((b"X-Forwarded-Host", host))
    if b"x-forwarded-proto" not in present:
        headers.append((b"X-Forwarded-Proto", b"http"))
    headers.append((b"X-Forwarded-For", b", ".join([*forwarded_for, client.encode()])))
    headers.append((b"Via", b", ".join([*vias, b"1.%d %s" % (request.minor, VIA_PSEUDONYM)])))
    if request.body == "length":
        headers.append((b"Content-Length", b"%d" % request.length))
    elif request.body == "chunked":
        headers.append((b"Transfer-Encoding", b"chunked"))
    headers.append((b"Connection", b"close"))
    return headers


def _parse_fields(lines: list[bytes]) -> Headers:
    headers: Headers = []
    for raw in lines:
        if raw[:1] in (b" ", b"\t"):
            raise HeadError(502, "obsolete header line folding")
        name, sep, value = raw.partition(b":")
        if not sep or not _TOKEN.fullmatch(name):
            raise HeadError(502, f"malformed header line {raw[:60]!r}")
        value = value.strip(b" \t")
        if _BAD_VALUE.search(value):
            raise HeadError(502, f"invalid character in header {name.decode()!r}")
        headers.append((name, value))
    return headers


def _token_list(headers: Headers, name: bytes) -> list[bytes]:
    return [
        token.strip().lower()
        for key, value in headers
        if key.lower() == name
        for token in value.split(b",")
        if token.strip()
    ]


def _tokens(headers: Headers, name: bytes) -> frozenset[bytes]:
    return frozenset(_token_list(headers, name))


def _framing(headers: Headers) -> tuple[BodyKind, int]:
    """The body framing the headers declare; "close" with neither Content-Length nor
    Transfer-Encoding."""
    codings = _token_list(headers, b"transfer-encoding")
    lengths = [value for key, value in headers if key.lower() == b"content-length"]
    if codings:
        if lengths:
            raise HeadError(502, "both Transfer-Encoding and Content-Length")
        if codings != [b"chunked"]:
            raise HeadError(502, f"unsupported transfer-coding {b', '.join(codings).decode()}")
        return "chunked", 0
    if lengths:
        values = {part.strip() for value in lengths for part in value.split(b",")}
        if len(values) != 1 or not (value := values.pop()).isdigit() or len(value) > 18:
            raise HeadError(502, "invalid Content-Length")
        return "length", int(value)
    return "close", 0
