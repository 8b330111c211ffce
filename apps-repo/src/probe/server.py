"""Run an app under Hypercorn with a graceful shutdown on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal

from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config as HypercornConfig

from probe.app import ProbeApp

log = logging.getLogger("probe.server")

SHUTDOWN_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def hypercorn_config(host: str, port: int, graceful_timeout_s: float) -> HypercornConfig:
    hc = HypercornConfig()
    hc.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    hc.graceful_timeout = graceful_timeout_s
    # Access lines come from the app as JSON; Hypercorn's own messages go
    # through the root JSON handler instead of its plain-text stderr handler.
    hc.accesslog = None
    hc.errorlog = logging.getLogger("hypercorn.error")
    return hc


async def serve(app: ProbeApp, stop: asyncio.Event) -> None:
    """Serve until ``stop`` is set, then drain in-flight requests.

    Hypercorn stops accepting connections when the trigger returns, waits up to
    graceful_timeout for open requests, then runs the app's after_serving hooks.
    """
    config = app.probe_config

    async def shutdown_trigger() -> None:
        await stop.wait()
        # From here /healthz and /readyz fail, for requests on kept-alive connections.
        app.lifecycle.draining = True

    log.info("starting", extra={"kind": config.kind.value, "port": config.port})
    await hypercorn_serve(
        app,
        hypercorn_config(config.host, config.port, config.graceful_timeout_s),
        shutdown_trigger=shutdown_trigger,
    )
    log.info("stopped")


async def serve_until_signalled(app: ProbeApp) -> None:
    """Serve in the main thread; SIGTERM (Kubernetes, docker stop) or SIGINT stops it."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(signum: signal.Signals) -> None:
        log.info("received %s, shutting down", signum.name, extra={"signal": signum.name})
        stop.set()

    for signum in SHUTDOWN_SIGNALS:
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        await serve(app, stop)
    finally:
        for signum in SHUTDOWN_SIGNALS:
            loop.remove_signal_handler(signum)
