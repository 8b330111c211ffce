"""Serving a Quart app on 127.0.0.1 with hypercorn, for every HTTP server of the platform (the
embedded Argo CD API, the guard's /metrics and /events): a socket bound early, so its URL is
known before the server runs, and a graceful stop that also ends the app's open streams."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config
from quart import Quart

# An app that keeps streams open puts an asyncio.Event here: `serve` sets it when stopping, so
# the streams end instead of holding the graceful stop for its whole timeout.
CLOSING = "gitops_closing"


class PortInUseError(OSError):
    """The port is taken; the message names it."""


def bind_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening TCP socket on host:port (0: any free port). Raises PortInUseError with a
    clear message when the port is taken. Bound early, so the URL is known (and connectable)
    before the server runs."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno in (98, 48, 10048):  # EADDRINUSE on Linux, macOS, Windows
            raise PortInUseError(
                exc.errno, f"cannot serve the API on {host}:{port}: the port is already in use"
            ) from None
        raise
    sock.listen(128)
    return sock


def socket_url(sock: socket.socket) -> str:
    """The http:// URL a bound socket serves."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def serve(
    app: Quart,
    host: str = "127.0.0.1",
    port: int = 0,
    shutdown_event: asyncio.Event | None = None,
    *,
    sock: socket.socket | None = None,
    graceful_timeout_s: float = 5.0,
) -> None:
    """Serve `app` with hypercorn until `shutdown_event` is set (then open streams end and
    in-flight requests get `graceful_timeout_s` to finish). Binds host:port unless an already
    bound `sock` (from `bind_socket`, which reports the port) is given; the socket is closed when
    serving ends."""
    if sock is None:
        sock = bind_socket(host, port)
    config = Config()
    config.bind = [f"fd://{sock.detach()}"]
    config.accesslog = None
    config.graceful_timeout = graceful_timeout_s
    config.include_server_header = False
    event = shutdown_event or asyncio.Event()
    closing = app.extensions.get(CLOSING)

    async def _shutdown() -> None:
        await event.wait()
        if isinstance(closing, asyncio.Event):
            closing.set()

    trigger: Callable[[], Awaitable[None]] = _shutdown
    await hypercorn_serve(app, config, shutdown_trigger=trigger, mode="asgi")
