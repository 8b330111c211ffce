"""The drill's load generator: a steady, open-loop rate of GETs through a Service's endpoint, every
answer counted. A request fails when it is answered with a status outside 2xx, when it times out,
or when it cannot be sent at all (a refused connection, a reset); nothing is retried, so a
dropped request shows up as one failure.

Open loop: request n is sent at `start + n / rate` whether or not earlier ones have been
answered, as users keep arriving while a service struggles; a request in flight for longer than
`timeout_s` is a failure. The counts are exact: every request sent is counted once, as ok or
failed, when the generator stops (it waits for the requests in flight).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from console.timestamps import rfc3339_ms

DEFAULT_RATE = 25.0  # requests per second
DEFAULT_TIMEOUT_S = 2.0
KEEP_FAILURES = 10  # the first failures kept with their reasons


@dataclass(frozen=True)
class Failure:
    at: datetime
    reason: str  # "HTTP 503", "timeout after 2s", "ConnectError: ..."


@dataclass(frozen=True)
class LoadStats:
    """What the generator counted. `served_by`: successful answers per `revision` field of the
    JSON body (the probe services' /version names the commit they were built from)."""

    url: str = ""
    rate: float = 0.0
    total: int = 0
    ok: int = 0
    failed: int = 0
    timeouts: int = 0
    first_failures: tuple[Failure, ...] = ()
    served_by: tuple[tuple[str, int], ...] = ()
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    max_latency_s: float = 0.0

    @property
    def in_flight(self) -> int:
        return self.total - self.ok - self.failed

    @property
    def failure_rate(self) -> float:
        return self.failed / self.total if self.total else 0.0

    def to_json(self) -> dict[str, object]:
        plain = ("url", "rate", "total", "ok", "failed", "timeouts")
        return {
            **{name: getattr(self, name) for name in plain},
            "first_failures": [
                {"at": rfc3339_ms(f.at), "reason": f.reason} for f in self.first_failures
            ],
            "served_by": dict(self.served_by),
            "started_at": rfc3339_ms(self.started_at) if self.started_at else None,
            "stopped_at": rfc3339_ms(self.stopped_at) if self.stopped_at else None,
            "max_latency_s": round(self.max_latency_s, 3),
        }


@dataclass
class _Counts:
    total: int = 0
    ok: int = 0
    failed: int = 0
    timeouts: int = 0
    failures: list[Failure] = field(default_factory=list)
    served_by: Counter[str] = field(default_factory=Counter)
    max_latency_s: float = 0.0


class LoadGenerator:
    """GET `url` at `rate` requests per second from `run()` until `stop()` (or `limit`
    requests). `stats()` may be read at any time."""

    def __init__(
        self,
        url: str,
        *,
        rate: float = DEFAULT_RATE,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate {rate}: must be > 0")
        self.url = url
        self.rate = rate
        self.timeout_s = timeout_s
        self._counts = _Counts()
        self._stop = asyncio.Event()
        self._started_at: datetime | None = None
        self._stopped_at: datetime | None = None
        self.first_ok = asyncio.Event()  # set by the first successful answer

    def stop(self) -> None:
        self._stop.set()

    def stats(self) -> LoadStats:
        c = self._counts
        return LoadStats(
            url=self.url,
            rate=self.rate,
            total=c.total,
            ok=c.ok,
            failed=c.failed,
            timeouts=c.timeouts,
            first_failures=tuple(c.failures),
            served_by=tuple(sorted(c.served_by.items())),
            started_at=self._started_at,
            stopped_at=self._stopped_at,
            max_latency_s=c.max_latency_s,
        )

    async def run(self, limit: int | None = None) -> LoadStats:
        """Send until stopped (or `limit` requests were sent), then wait for every request in
        flight; the final counts."""
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
        async with httpx.AsyncClient(
            timeout=httpx.Timeout(self.timeout_s), limits=limits, trust_env=False
        ) as client:
            tasks: set[asyncio.Task[None]] = set()
            self._started_at = datetime.now(UTC)
            start = time.monotonic()
            n = 0
            try:
                while not self._stop.is_set() and (limit is None or n < limit):
                    due = start + n / self.rate
                    delay = due - time.monotonic()
                    if delay > 0:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._stop.wait(), timeout=delay)
                        if self._stop.is_set():
                            break
                    self._counts.total += 1
                    n += 1
                    task = asyncio.create_task(self._one(client))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
            finally:
                # Every request sent gets its answer or its timeout: none is left uncounted.
                if tasks:
                    await asyncio.gather(*tasks, return_exceptions=True)
                self._stopped_at = datetime.now(UTC)
        return self.stats()

    async def _one(self, client: httpx.AsyncClient) -> None:
        started = time.monotonic()
        reason = ""
        revision = ""
        try:
            # The whole exchange within the timeout, not each socket operation.
            async with asyncio.timeout(self.timeout_s):
                response = await client.get(self.url)
            if 200 <= response.status_code < 300:
                revision = _revision(response)
            else:
                reason = f"HTTP {response.status_code}"
        except (TimeoutError, httpx.TimeoutException):
            reason = f"timeout after {self.timeout_s:g}s"
            self._counts.timeouts += 1
        except httpx.HTTPError as exc:
            reason = f"{type(exc).__name__}: {str(exc) or 'no detail'}"
        except asyncio.CancelledError:
            reason = "cancelled before an answer"
            self._fail(reason)
            raise
        latency = time.monotonic() - started
        self._counts.max_latency_s = max(self._counts.max_latency_s, latency)
        if reason:
            self._fail(reason)
        else:
            self._counts.ok += 1
            self._counts.served_by[revision] += 1
            self.first_ok.set()

    def _fail(self, reason: str) -> None:
        self._counts.failed += 1
        if len(self._counts.failures) < KEEP_FAILURES:
            self._counts.failures.append(Failure(datetime.now(UTC), reason))


def _revision(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    value = body.get("revision") if isinstance(body, dict) else None
    return value if isinstance(value, str) else ""


class BackgroundLoad:
    """A LoadGenerator on its own event loop in its own thread, so the drill's other work (its
    watching, git, parsing) can never delay a request or its timeout: a failure counted is the
    service's, not the drill's."""

    def __init__(self, generator: LoadGenerator) -> None:
        self.generator = generator
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = threading.Event()
        self._result: LoadStats | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="drill-load", daemon=True)

    def _main(self) -> None:
        async def main() -> LoadStats:
            self._loop = asyncio.get_running_loop()
            self._started.set()
            return await self.generator.run()

        try:
            self._result = asyncio.run(main())
        except BaseException as exc:  # handed to wait()
            self._error = exc
        finally:
            self._started.set()

    def start(self) -> None:
        self._thread.start()
        self._started.wait()

    @property
    def answered(self) -> bool:
        """True once a request succeeded."""
        return self.generator.first_ok.is_set()

    def stats(self) -> LoadStats:
        return self.generator.stats()

    def stop(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop ended meanwhile
                loop.call_soon_threadsafe(self.generator.stop)

    async def finish(self) -> LoadStats:
        """Stop, then the final counts."""
        self.stop()
        return await self.wait()

    async def wait(self) -> LoadStats:
        """The final counts, once the thread has sent its last request and counted it."""
        await asyncio.to_thread(self._thread.join)
        if self._error is not None:
            raise self._error
        return self._result if self._result is not None else self.generator.stats()
