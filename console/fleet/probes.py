"""The live version of each service: its `/version` answer (docs/services/health-contract.md),
asked concurrently, bounded, each under a deadline. A service that does not answer, or answers
something else, reads as None: a slow or broken pod must never stall or fail `gitops status`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import httpx

UNSET = "unknown"  # what the probe services report for build metadata nobody set


def live_version(answer: object) -> str | None:
    """The version a `/version` answer reports: its `revision` (the git sha the image was built
    from, comparable with the image tag and the deploy repo's pins), else its `version`;
    None when neither is set."""
    if not isinstance(answer, Mapping):
        return None
    body: Mapping[str, Any] = answer
    for key in ("revision", "version"):
        value = body.get(key)
        if isinstance(value, str) and value.strip() and value.strip() != UNSET:
            return value.strip()
    return None


async def _probe(
    client: httpx.AsyncClient, url: str, timeout: float, gate: asyncio.Semaphore
) -> str | None:
    async with gate:
        try:
            # httpx's timeout bounds each read; this one bounds the whole answer (a server
            # that trickles bytes).
            async with asyncio.timeout(timeout):
                response = await client.get(f"{url.rstrip('/')}/version")
            if response.status_code != 200:
                return None
            return live_version(response.json())
        except (httpx.HTTPError, httpx.InvalidURL, TimeoutError, ValueError):
            return None


async def fetch_versions(
    urls: Mapping[str, str], *, timeout: float = 2.0, concurrency: int = 8
) -> dict[str, str | None]:
    """`{key: live version or None}` for `{key: service base URL}`; never raises for a probe
    that fails."""
    if timeout <= 0 or concurrency < 1:
        raise ValueError("timeout must be positive and concurrency at least 1")
    if not urls:
        return {}
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency)
    # trust_env=False: these are the platform's own service URLs; a proxy from the environment
    # would only stand between them and us.
    async with httpx.AsyncClient(timeout=timeout, limits=limits, trust_env=False) as client:
        keys = list(urls)
        answers = await asyncio.gather(*(_probe(client, urls[k], timeout, gate) for k in keys))
    return dict(zip(keys, answers, strict=True))
