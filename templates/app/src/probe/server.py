"""Run an app under Hypercorn with a graceful shutdown on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal

from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config as HypercornConfig

from probe.app import ProbeApp

log = logging.getLogger("probe.server")


def hypercorn_config(host: str, port: int, graceful_timeout_s: float) -> HypercornConfig:
    hc = HypercornConfig()
    hc.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    hc.graceful_timeout = graceful_timeout_s
    # Access lines come from the app as JSON; Hypercorn's own messages go
    # through the root JSON handler instead of its plain-text stderr handler.
    hc.accesslog = None
    hc.errorlog = logging.getLogger("hypercorn.error")
    return hc


async def serve(app: ProbeApp, stop: asyncio.Event | None = None) -> None:
    """Serve until SIGTERM/SIGINT (or ``stop`` is set), then drain in-flight requests.

    Hypercorn stops accepting connections when the trigger returns and waits up to
    graceful_timeout for open requests before running the app's shutdown hooks.
    """
    config = app.probe_config
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(signum: signal.Signals) -> None:
        log.info("received %s, shutting down", signum.name, extra={"signal": signum.name})
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)

    async def shutdown_trigger() -> None:
        await stop.wait()
        # From here /healthz and /readyz say so, for requests on kept-alive connections.
        app.lifecycle.draining = True

    log.info(
        "starting",
        extra={"kind": config.kind.value, "host": config.host, "port": config.port},
    )
    try:
        await hypercorn_serve(
            app,
            hypercorn_config(config.host, config.port, config.graceful_timeout_s),
            shutdown_trigger=shutdown_trigger,
        )
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    log.info("stopped")
