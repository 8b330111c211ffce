"""The app factory: endpoints shared by both kinds, plus the kind's own routes."""

from __future__ import annotations

import logging
import time
from functools import partial
from typing import Any

from quart import Quart, Response, g, request

from probe import backend, frontend
from probe.config import Config, Kind
from probe.health import Check, Lifecycle, Report, liveness, readiness
from probe.metrics import UNMATCHED_ROUTE, Metrics

access_log = logging.getLogger("probe.access")


class ProbeApp(Quart):
    """A Quart app that carries its config, metrics, lifecycle and readiness checks."""

    def __init__(self, config: Config) -> None:
        super().__init__("probe")
        self.probe_config = config
        self.metrics = Metrics(config)
        self.lifecycle = Lifecycle()
        self.readiness_checks: dict[str, Check] = {"lifecycle": self.lifecycle.check}

    def version_info(self) -> dict[str, str]:
        c = self.probe_config
        return {
            "service": c.service_name,
            "kind": c.kind.value,
            "version": c.version,
            "revision": c.revision,
            "image": c.image,
            "built_at": c.built_at,
            "environment": c.environment,
        }

    def readiness_report(self) -> tuple[Report, int]:
        return readiness(self.readiness_checks)

    def own_status(self) -> dict[str, Any]:
        return {**self.version_info(), "health": self.readiness_report()[0]}


def create_app(config: Config) -> ProbeApp:
    app = ProbeApp(config)
    _instrument(app)

    @app.get("/healthz")
    async def healthz() -> tuple[Report, int]:
        return liveness(app.lifecycle)

    @app.get("/readyz")
    async def readyz() -> tuple[Report, int]:
        return app.readiness_report()

    @app.get("/version")
    async def version() -> dict[str, str]:
        return app.version_info()

    @app.get("/metrics")
    async def metrics() -> Response:
        body, content_type = app.metrics.exposition()
        return Response(body, content_type=content_type)

    if config.kind is Kind.BACKEND:
        app.readiness_checks["config"] = partial(backend.config_check, config)
    else:
        app.readiness_checks["config"] = partial(frontend.config_check, config)
        frontend.register(app)
    return app


def _instrument(app: ProbeApp) -> None:
    """Count, time and log every request, including 404s and errors."""

    @app.before_request
    async def start_timer() -> None:
        g.probe_started = time.perf_counter()

    @app.after_request
    async def record(response: Response) -> Response:
        started: float = g.get("probe_started", time.perf_counter())
        duration = time.perf_counter() - started
        # The URL rule, not the raw path, keeps the label set bounded.
        route = request.url_rule.rule if request.url_rule is not None else UNMATCHED_ROUTE
        app.metrics.observe(route, request.method, response.status_code, duration)
        access_log.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status_code,
            extra={
                "method": request.method,
                "path": request.path,
                "route": route,
                "status": response.status_code,
                "duration_ms": round(duration * 1000, 3),
                "remote_addr": request.remote_addr,
            },
        )
        return response
