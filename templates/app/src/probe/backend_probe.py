"""The frontend's view of its backend: one bounded look at /version and /readyz."""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
import time
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

log = logging.getLogger("probe.backend_probe")


@dataclass(frozen=True, slots=True)
class BackendStatus:
    url: str
    reachable: bool
    version: dict[str, Any] | None = None
    ready: bool | None = None
    readiness: dict[str, Any] | None = None
    error: str | None = None
    latency_ms: float | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def summary(self) -> str:
        """One word or phrase for humans: ready, not ready, or what went wrong."""
        if not self.reachable:
            return self.error or "unreachable"
        if self.ready is None:
            return self.error or "unknown"
        return "ready" if self.ready else "not ready"


def backend_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be used as BACKEND_URL, or None if it can."""
    if not url:
        return "BACKEND_URL is not set"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        return f"BACKEND_URL is not a valid URL: {exc}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"BACKEND_URL must be an absolute http(s) URL, got {url!r}"
    return None


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """httpx's default TLS settings, built once per process: each build loads the CA bundle,
    tens of milliseconds of CPU."""
    return httpx.create_ssl_context(trust_env=False)


class BackendProbe:
    """Owns the one shared HTTP client; start() and close() follow the app's lifespan."""

    def __init__(self, base_url: str, timeout_s: float) -> None:
        self.base_url = base_url
        self.timeout_s = timeout_s
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        # trust_env=False: configuration comes from our own variables only, and a
        # proxy picked up from the environment must not sit between us and the backend.
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(self.timeout_s),
            trust_env=False,
            follow_redirects=False,
            verify=_tls_context(),
        )

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def check(self) -> BackendStatus:
        """Never raises: every failure becomes a status the page can show."""
        problem = backend_url_problem(self.base_url)
        if problem is not None:
            return BackendStatus(url=self.base_url, reachable=False, error=problem)
        if self._client is None:
            return BackendStatus(url=self.base_url, reachable=False, error="client not started")
        started = time.perf_counter()
        try:
            status = await self._fetch(self._client)
        except Exception as exc:  # the status surface must outlive any backend failure
            error = _describe(exc, self)
            # A down backend is an expected state, not a bug: no traceback unless unexpected.
            expected = isinstance(exc, TimeoutError | httpx.TransportError)
            log.warning(
                "backend probe failed: %s",
                error,
                extra={"backend_url": self.base_url},
                exc_info=not expected,
            )
            status = BackendStatus(url=self.base_url, reachable=False, error=error)
        latency_ms = round((time.perf_counter() - started) * 1000, 1)
        return BackendStatus(**{**asdict(status), "latency_ms": latency_ms})

    async def _fetch(self, client: httpx.AsyncClient) -> BackendStatus:
        base = self.base_url.rstrip("/")
        # One deadline for both requests: httpx's timeouts are per operation, so
        # a backend that trickles bytes could otherwise hold the page for longer.
        try:
            async with asyncio.timeout(self.timeout_s), asyncio.TaskGroup() as group:
                version_task = group.create_task(client.get(f"{base}/version"))
                ready_task = group.create_task(client.get(f"{base}/readyz"))
        except ExceptionGroup as failures:
            # The group has already cancelled the other request; report the first cause.
            raise failures.exceptions[0] from None
        version_resp, ready_resp = version_task.result(), ready_task.result()
        errors: list[str] = []
        version = _json_object(version_resp) if version_resp.status_code == 200 else None
        if version is None:
            errors.append(f"HTTP {version_resp.status_code} from /version")
        readiness = _json_object(ready_resp)
        ready: bool | None = {200: True, 503: False}.get(ready_resp.status_code)
        if ready is None:
            errors.append(f"HTTP {ready_resp.status_code} from /readyz")
        return BackendStatus(
            url=self.base_url,
            reachable=True,
            version=version,
            ready=ready,
            readiness=readiness,
            error="; ".join(errors) or None,
        )


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _describe(exc: Exception, probe: BackendProbe) -> str:
    if isinstance(exc, TimeoutError | httpx.TimeoutException):  # ours, or one httpx phase
        return f"timeout: no answer within {probe.timeout_s:g}s"
    if isinstance(exc, httpx.TransportError):
        return f"unreachable: {type(exc).__name__}: {str(exc) or 'connection failed'}"
    return f"probe failed: {type(exc).__name__}: {exc}"
