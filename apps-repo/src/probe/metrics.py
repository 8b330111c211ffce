"""Prometheus metrics, kept in a registry per app so several apps can share a process."""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

from probe.config import Config

# Requests that matched no route share one label value, so scanners probing
# random paths cannot blow up the series count.
UNMATCHED_ROUTE = "<unmatched>"


class Metrics:
    def __init__(self, config: Config) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self.requests = Counter(
            "http_requests",
            "HTTP requests handled, by route template, method and status code.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time spent handling HTTP requests, by route template.",
            ["route"],
            registry=self.registry,
        )
        self.build_info = Gauge(
            "probe_build_info",
            "Build metadata of the running service; the value is always 1.",
            ["service", "kind", "version", "revision"],
            registry=self.registry,
        )
        self.build_info.labels(
            service=config.service_name,
            kind=config.kind.value,
            version=config.version,
            revision=config.revision,
        ).set(1)

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route=route, method=method, status=str(status)).inc()
        self.latency.labels(route=route).observe(seconds)

    def exposition(self) -> tuple[bytes, str]:
        """The text exposition and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
