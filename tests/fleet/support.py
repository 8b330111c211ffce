"""The embedded platform's API server for the fleet sources' tests: a real hypercorn server on
127.0.0.1 over an `InMemorySource`, in a background thread, that can be stopped and started
again on the same port (an Argo CD restart), optionally behind an ASGI wrapper that answers
some requests itself (what the embedded API never does: a proxy that refuses streams, an
expired watch)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from console.application import (
    ApplicationStatus,
    HealthState,
    OperationInitiator,
    SyncStatus,
    add_history,
)
from console.fleet.source import Event
from console.local.argo.api import create_api
from console.local.argo.appstate import ApplicationRecord
from console.local.argo.inmemory import InMemorySource
from console.serving import bind_socket, serve, socket_url

ARGO = Path(__file__).resolve().parents[3] / "shared" / "reference" / "argo-cd"
NOW = datetime(2026, 8, 1, 12, 0, tzinfo=UTC)
DEADLINE_S = 10.0  # every wait for an event is bounded by this

Asgi = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
# A request handler of an Intercept: (status, body, content type), or None to pass it on.
Answer = tuple[int, bytes, str] | None


def manifest(name: str, service: str = "backend", env: str = "dev") -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": name,
            "namespace": "argocd",
            "labels": {"gitops.platform/service": service, "gitops.platform/env": env},
            "annotations": {"gitops.platform/auto-rollback": "true"},
        },
        "spec": {
            "project": "default",
            "source": {
                "repoURL": "https://github.com/acme/platform-deploy.git",
                "targetRevision": "main",
                "path": f"overlays/{env}/{service}",
            },
            "destination": {"server": "https://kubernetes.default.svc", "namespace": env},
            "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
        },
    }


def record(name: str, health: str = "Healthy", revision: str = "a" * 40) -> ApplicationRecord:
    """An Application as the controller publishes it: synced to `revision`, with history."""
    history = add_history(
        (),
        revision=revision,
        deployed_at=NOW,
        deploy_started_at=NOW - timedelta(seconds=20),
        initiated_by=OperationInitiator(automated=True),
    )
    status = ApplicationStatus(
        sync=SyncStatus(status="Synced", revision=revision),
        health=HealthState(status=health),
        history=history,
        reconciled_at=NOW,
    )
    return ApplicationRecord(manifest(name), status)


def with_health(health: str, message: str = "") -> Callable[[ApplicationRecord], ApplicationRecord]:
    def change(old: ApplicationRecord) -> ApplicationRecord:
        return replace(
            old, status=old.status.evolve(health=HealthState(status=health, message=message))
        )

    return change


class Intercept:
    """An ASGI wrapper around the API: `handler(scope)` answers a request itself or passes it
    on (None). Forwards `extensions`, which `console.local.argo.api.serve` reads."""

    def __init__(self, app: Any, handler: Callable[[dict[str, Any]], Answer]) -> None:
        self.app = app
        self.extensions = app.extensions
        self.handler = handler

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        answer = self.handler(scope) if scope["type"] == "http" else None
        if answer is None:
            await self.app(scope, receive, send)
            return
        status, body, content_type = answer
        headers = [(b"content-type", content_type.encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class Server:
    """The embedded API over `source`, restartable on the same port."""

    def __init__(
        self,
        source: InMemorySource,
        token: str,
        handler: Callable[[dict[str, Any]], Answer] | None = None,
    ) -> None:
        self.source = source
        self.token = token
        self.handler = handler
        self.port = 0
        self.url = ""
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._shutdown: asyncio.Event | None = None
        self.errors: list[BaseException] = []

    def start(self) -> Server:
        app: Any = create_api(self.source, self.token, "v3.1.0+gitops-local")
        if self.handler is not None:
            app = Intercept(app, self.handler)
        sock = bind_socket("127.0.0.1", self.port)
        self.url = socket_url(sock)
        self.port = sock.getsockname()[1]
        loop = asyncio.new_event_loop()
        shutdown = asyncio.Event()

        def run() -> None:
            try:
                loop.run_until_complete(
                    serve(app, shutdown_event=shutdown, sock=sock, graceful_timeout_s=1.0)
                )
            except BaseException as exc:  # reported by stop()
                self.errors.append(exc)
            finally:
                loop.close()

        self._loop, self._shutdown = loop, shutdown
        self._thread = threading.Thread(target=run, name="fleet-api", daemon=True)
        self._thread.start()
        return self

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self._thread is None or self._loop is None or self._shutdown is None:
            return
        self._loop.call_soon_threadsafe(self._shutdown.set)
        self._thread.join(timeout=15)
        assert not self._thread.is_alive(), "the API server did not stop"
        self._thread = None
        assert not self.errors, self.errors


class FakeSleep:
    """The sources' backoff and poll sleep: records what was asked and waits only a moment,
    so tests see the schedule without spending it."""

    def __init__(self, most_s: float = 0.02) -> None:
        self.asked: list[float] = []
        self.most_s = most_s

    async def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        await asyncio.sleep(min(seconds, self.most_s))


class Pump:
    """Consumes a source's events in a task, as the guard and the console do (a source works
    only while someone reads its events), and lets a test wait for the ones it expects."""

    def __init__(self, events: AsyncIterator[Event]) -> None:
        self.events = events
        self.queue: asyncio.Queue[Event] = asyncio.Queue()
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for event in self.events:
            self.queue.put_nowait(event)

    async def until(
        self, done: Callable[[Event], bool], timeout: float = DEADLINE_S
    ) -> list[Event]:
        """The events up to and including the first one `done` accepts, within `timeout`."""
        seen: list[Event] = []
        async with asyncio.timeout(timeout):
            while True:
                getting = asyncio.ensure_future(self.queue.get())
                try:
                    await asyncio.wait({getting, self.task}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    if not getting.done():
                        getting.cancel()  # no get left behind to swallow a later event
                if getting.cancelled():
                    self.task.result()  # the events ended: raise what ended them
                    raise AssertionError(f"the events ended after {seen}")
                event = getting.result()
                seen.append(event)
                if done(event):
                    return seen

    async def next(self) -> Event:
        return (await self.until(lambda _: True))[0]

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def _trickle(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
    writer.write(b"Content-Length: 1000000\r\n\r\n{")
    with contextlib.suppress(ConnectionError):
        while True:
            await asyncio.sleep(0.2)  # the server's pace, not a wait on the test's side
            writer.write(b" ")
            await writer.drain()


async def trickling_server() -> tuple[asyncio.Server, str]:
    """A real HTTP server on 127.0.0.1 that answers 200 and then a body that never ends, one
    byte every 0.2 s: each read arrives in time, the answer never does. The server and its URL."""
    server = await asyncio.start_server(_trickle, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
