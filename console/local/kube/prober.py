"""The kubelet's prober: performs a container's `httpGet` probes against its pod's port on
127.0.0.1, as kube-probe does (no proxy from the environment, certificates not verified, no
redirects followed, no connection kept), each probe a task the kubelet tracks and cancels.

What a result means (ready, restart) is `console.local.kube.probes`'s to say and the kubelet's to
act on; this module only asks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, Literal

import httpx

from console.local.kube.probes import ProbeSpec, http_ok

PROBE_USER_AGENT = "kube-probe/1.31"

ProbeKind = Literal["readiness", "liveness"]


class Prober:
    """The probes of one Deployment's pods: `open()` before the first, `close()` cancels those
    in flight and closes the client. Before `open()` and after `close()` every probe fails."""

    def __init__(self) -> None:
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def open(self) -> None:
        self._client = httpx.AsyncClient(
            trust_env=False,
            verify=False,  # noqa: S501 - the kubelet does not verify HTTPS probe certificates
            follow_redirects=False,
            limits=httpx.Limits(max_keepalive_connections=0),  # probes do not keep connections
            headers={"User-Agent": PROBE_USER_AGENT},
        )

    def spawn(self, probe: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run one probe on the loop, kept until it is done (or `close` cancels it)."""
        task = asyncio.get_running_loop().create_task(probe)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def http_get(self, port: int, spec: ProbeSpec) -> bool:
        """Whether the probe succeeds against 127.0.0.1:`port` now."""
        client = self._client
        if client is None:
            return False
        path = spec.path if spec.path.startswith("/") else "/" + spec.path
        url = f"{spec.scheme.lower()}://127.0.0.1:{port}{path}"
        try:
            response = await client.get(
                url, headers=dict(spec.headers), timeout=float(spec.timeout_s)
            )
        except (httpx.HTTPError, OSError):
            return False
        return http_ok(response.status_code)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None
