"""A pod's /metrics as the probe services export them (the real prometheus_client exposition,
served over real HTTP on 127.0.0.1) read into an analysis Sample."""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    generate_latest,
)

from console.guard.scrape import ScrapeError, sample_of, scrape


def exposition() -> bytes:
    """What a probe service exports after some traffic: the same metric names and labels as
    templates/app/src/probe/metrics.py."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    requests = Counter("http_requests", "", ["route", "method", "status"], registry=registry)
    latency = Histogram("http_request_duration_seconds", "", ["route"], registry=registry)
    for route, status, seconds, count in [
        ("/version", "200", 0.02, 90),
        ("/version", "500", 0.3, 10),
        ("/", "200", 0.7, 5),
        ("/readyz", "503", 0.001, 1000),  # the kubelet's, not a user's
        ("/metrics", "200", 0.001, 50),
    ]:
        for _ in range(count):
            requests.labels(route=route, method="GET", status=status).inc()
            latency.labels(route=route).observe(seconds)
    return generate_latest(registry)


def test_users_requests_errors_and_latency_are_read_probes_left_out() -> None:
    sample = sample_of(exposition().decode(), "frontend-abc", 12.5)
    assert (sample.source, sample.at) == ("frontend-abc", 12.5)
    assert (sample.requests, sample.errors) == (105, 10)
    bounds = dict(sample.buckets)
    assert bounds[0.025] == 90
    assert bounds[math.inf] == 105
    assert bounds[0.5] == 100
    assert sample.started > 0, "process_start_time_seconds tells a restart"


def test_text_that_is_not_an_exposition_is_refused() -> None:
    with pytest.raises(ScrapeError, match="pod-1: not a Prometheus exposition"):
        sample_of("<html>oops {</html>", "pod-1", 0.0)


@pytest.fixture
def metrics_server() -> Iterator[str]:
    body = exposition()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status = 200 if self.path == "/metrics" else 404
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.end_headers()
            self.wfile.write(body if status == 200 else b"no")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_pod_is_scraped_over_http_and_a_wrong_answer_names_the_url(metrics_server: str) -> None:
    async def scenario() -> None:
        async with httpx.AsyncClient(trust_env=False) as client:
            sample = await scrape(client, f"{metrics_server}/metrics", "p", 1.0)
            assert sample.requests == 105
            with pytest.raises(ScrapeError, match=r"/nope: HTTP 404"):
                await scrape(client, f"{metrics_server}/nope", "p", 1.0)
            with pytest.raises(ScrapeError, match=r"127\.0\.0\.1:1/metrics: ConnectError"):
                await scrape(client, "http://127.0.0.1:1/metrics", "p", 1.0)

    asyncio.run(scenario())
