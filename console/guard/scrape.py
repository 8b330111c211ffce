"""The `pods` provider's reading of one pod: its Prometheus text exposition (`/metrics`, as the
probe services export it) turned into an analysis Sample.

Users' requests only: the kubelet's probes and the scrapes themselves (`/healthz`, `/readyz`,
`/metrics`) answer on every pod all the time and say nothing of what users see, so their
routes are left out. 5xx answers are errors; latency is `http_request_duration_seconds`' buckets
summed over the same routes; `process_start_time_seconds` tells a restarted process.
"""

from __future__ import annotations

import math

import httpx
from prometheus_client.parser import text_string_to_metric_families

from console.guard.analysis import Sample

REQUESTS = "http_requests"  # a counter: its samples are named http_requests_total
LATENCY = "http_request_duration_seconds"
STARTED = "process_start_time_seconds"
NOT_USERS = frozenset({"/healthz", "/readyz", "/livez", "/metrics"})
SCRAPE_TIMEOUT_S = 2.0
MAX_BYTES = 4 * 1024 * 1024  # an exposition larger than this is not a probe service's


class ScrapeError(RuntimeError):
    """A pod's metrics could not be read; the message names the URL."""


def sample_of(text: str, source: str, at: float) -> Sample:
    """The Sample one exposition says. Raises ScrapeError when it is not Prometheus text."""
    requests = errors = 0.0
    buckets: dict[float, float] = {}
    started = 0.0
    try:
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                route = s.labels.get("route", "")
                if family.name == STARTED:
                    started = s.value
                elif route in NOT_USERS:
                    continue
                elif family.name == REQUESTS and s.name == f"{REQUESTS}_total":
                    requests += s.value
                    if s.labels.get("status", "").startswith("5"):
                        errors += s.value
                elif family.name == LATENCY and s.name == f"{LATENCY}_bucket":
                    bound = float(s.labels.get("le", "+Inf"))
                    buckets[bound] = buckets.get(bound, 0.0) + s.value
    except ValueError as exc:
        raise ScrapeError(f"{source}: not a Prometheus exposition: {exc}") from None
    if math.inf not in buckets and buckets:
        buckets[math.inf] = max(buckets.values())
    return Sample(at, source, requests, errors, tuple(sorted(buckets.items())), started)


async def scrape(client: httpx.AsyncClient, url: str, source: str, at: float) -> Sample:
    """GET `url` (a pod's /metrics) and read it. Raises ScrapeError."""
    try:
        response = await client.get(url, timeout=SCRAPE_TIMEOUT_S)
    except httpx.HTTPError as exc:
        raise ScrapeError(f"{url}: {exc.__class__.__name__}: {exc}") from None
    if response.status_code != 200:
        raise ScrapeError(f"{url}: HTTP {response.status_code}")
    if len(response.content) > MAX_BYTES:
        raise ScrapeError(f"{url}: {len(response.content)} bytes, more than a probe exports")
    return sample_of(response.text, source, at)
