"""The guard's own HTTP endpoint (the `metrics` port of its Deployment): `/metrics` for
Prometheus, `/healthz` (the process runs), `/readyz` (the fleet was read and the source
answers), and `/events` (the newest events as JSON; `?app=` and `?limit=` filter)."""

from __future__ import annotations

import json

from quart import Quart, Response, request

from console.guard.controller import Guard

CONTENT_TYPE_LATEST = "text/plain; version=0.0.4; charset=utf-8"


def create_guard_api(guard: Guard) -> Quart:
    app = Quart("gitops-guard")

    @app.get("/healthz")
    async def healthz() -> Response:
        return Response("ok\n", mimetype="text/plain")

    @app.get("/readyz")
    async def readyz() -> Response:
        if guard.ready:
            return Response("ready\n", mimetype="text/plain")
        return Response("not ready: the fleet is not read or the source is down\n", 503)

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(guard.metrics.exposition(), content_type=CONTENT_TYPE_LATEST)

    @app.get("/events")
    async def events() -> Response:
        try:
            limit = int(request.args.get("limit", "100"))
        except ValueError:
            return Response('{"error": "limit: not an integer"}', 400, mimetype="application/json")
        items = guard.events.recent(max(1, min(limit, 1000)), request.args.get("app"))
        return Response(
            _dumps({"items": [e.to_json() for e in items]}), mimetype="application/json"
        )

    return app


def _dumps(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"))
