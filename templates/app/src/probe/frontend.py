"""The frontend kind: a status surface showing itself and its backend."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from quart import Response

from probe.backend_probe import BackendProbe, backend_url_problem
from probe.config import Config
from probe.health import CheckResult, failed, passed
from probe.page import render_page

if TYPE_CHECKING:
    from probe.app import ProbeApp


def config_check(config: Config) -> CheckResult:
    # Deliberately not the backend's health: this status surface must stay routable
    # precisely when the backend is down, to show that it is.
    problem = backend_url_problem(config.backend_url)
    return failed(problem) if problem else passed(f"BACKEND_URL={config.backend_url}")


def register(app: ProbeApp) -> None:
    config = app.probe_config
    probe = BackendProbe(config.backend_url, config.backend_timeout_s)
    # One client for the process, so connections to the backend are pooled.
    app.before_serving(probe.start)
    app.after_serving(probe.close)

    @app.get("/api/status")
    async def api_status() -> dict[str, Any]:
        backend = await probe.check()
        return {"frontend": app.own_status(), "backend": backend.as_json()}

    @app.get("/")
    async def index() -> Response:
        backend = await probe.check()
        html = render_page(app.own_status(), backend)
        return Response(html, content_type="text/html; charset=utf-8")
