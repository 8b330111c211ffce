"""The embedded platform's API server: Argo CD's REST API and the Kubernetes API for
`argoproj.io/v1alpha1` Applications, on 127.0.0.1, over an `ApplicationSource`.

As Argo CD's API server, it only reads state and takes requests; the controller owns the state
(see `appstate`). One Quart blueprint per API below (`argocd`, `ci`, `kube`); `common` holds what
they share, `selectors` which applications a request asks for. Everything but `/api/version`,
`/api/webhook`, `/version` and `/healthz` needs `Authorization: Bearer <token>` (or Argo CD's
`argocd.token` cookie).

Argo CD REST (conforming to Argo CD's swagger.json):
    GET  /api/v1/applications                     v1alpha1ApplicationList
    GET  /api/v1/applications/{name}              v1alpha1Application
    GET  /api/v1/stream/applications              SSE (Accept: text/event-stream) or NDJSON
    POST /api/v1/applications/{name}/sync         v1alpha1Application
    GET  /api/v1/applications/{name}/resource-tree  v1alpha1ApplicationTree
    GET  /api/v1/applications/{name}/manifests    repositoryManifestResponse (`?revision=`)
    GET  /api/v1/applications/{name}/logs         NDJSON of applicationLogEntry
    GET  /api/v1/applications/{name}/pods/{pod}/logs
    GET  /api/version                             versionVersionMessage
    POST /api/webhook                             GitHub push (and ping) events
Errors are Argo CD's (grpc-gateway's) JSON: {"error", "code" (gRPC code), "message", "details"}.

The platform's CI runs (no Argo CD counterpart; when `create_api` is given `ci_runs`, e.g. the
workspace's `state.State`; otherwise these answer 501 Unimplemented):
    GET  /api/ci/runs?repo=&commit=&limit=        {"items": [{"id", "repo", "commit", "stage",
                                                  "result", "startedAt", "durationSeconds",
                                                  "logPath"}]}, newest first; every query
                                                  parameter optional (limit: 50, at most 1000)
    GET  /api/ci/runs/{id}/log                    the run's log, text/plain; 404 when the run or
                                                  its log does not exist
`stage` is test, build or promote; `result` running, succeeded, failed or skipped;
`durationSeconds` and `logPath` are null while unknown.

Kubernetes API (what the official `kubernetes` client and kubectl call):
    GET /api, /api/v1, /apis, /apis/argoproj.io, /apis/argoproj.io/v1alpha1, /version
    GET /apis/argoproj.io/v1alpha1/applications                       (list, watch)
    GET /apis/argoproj.io/v1alpha1/namespaces/{ns}/applications       (list, watch)
    GET /apis/argoproj.io/v1alpha1/namespaces/{ns}/applications/{name}
Errors are Kubernetes `Status` objects.
"""

from __future__ import annotations

import logging

from quart import Quart, Response, request
from werkzeug.exceptions import HTTPException

from console.local.argo.api import argocd, ci, kube
from console.local.argo.api.common import (
    DEFAULT_KEEPALIVE_S,
    EXTENSION,
    GRPC_FOR_HTTP,
    INTERNAL,
    PUBLIC,
    TOKEN_COOKIE,
    UNAUTHENTICATED,
    RunStore,
    Settings,
    argo_error,
    authenticated,
    error_response,
    is_kube_path,
    kube_status,
    settings_of,
)
from console.local.argo.api.selectors import parse_field_selector, parse_selector
from console.local.argo.appstate import ApplicationSource
from console.local.argo.errors import ApiError
from console.serving import CLOSING

log = logging.getLogger(__name__)


def create_api(
    source: ApplicationSource,
    token: str,
    version: str,
    *,
    username: str = "admin",
    keepalive_seconds: float = DEFAULT_KEEPALIVE_S,
    webhook_secret: bytes | None = None,
    ci_runs: RunStore | None = None,
) -> Quart:
    """The API server as a Quart app. `token` is the only accepted bearer token (compared in
    constant time); `version` is what `/api/version` reports (e.g. "v3.1.0+gitops-local");
    `username` is who user-initiated syncs are recorded as; `webhook_secret`, when set, is
    required as GitHub's `X-Hub-Signature-256` on webhooks; `ci_runs` serves `/api/ci/runs`."""
    if not token:
        raise ValueError("the API needs a non-empty token")
    app = Quart(__name__)
    # Kubernetes clients ask for `/apis/`, `/version/`...: a trailing slash names the same path.
    app.url_map.strict_slashes = False
    app.config["MAX_CONTENT_LENGTH"] = 50 * 1024 * 1024  # Argo CD's webhook.maxPayloadSizeMB
    settings = Settings(
        source, token, version, username, keepalive_seconds, webhook_secret, ci_runs
    )
    app.extensions[EXTENSION] = settings
    app.extensions[CLOSING] = settings.closing  # console.serving ends the streams on stop
    _hooks(app)
    for blueprint in (argocd.blueprint, ci.blueprint, kube.blueprint):
        app.register_blueprint(blueprint)
    return app


def _hooks(app: Quart) -> None:
    """Authentication before every route, and errors as the path's API words them."""
    settings = settings_of(app)

    @app.before_request
    async def _auth() -> Response | None:
        if request.path.rstrip("/") in PUBLIC or authenticated(settings):
            return None
        has_credentials = bool(request.headers.get("Authorization")) or bool(
            request.cookies.get(TOKEN_COOKIE)
        )
        if is_kube_path(request.path):
            return kube_status(401, "Unauthorized")
        message = "invalid session: unknown token" if has_credentials else "no session information"
        return argo_error(message, UNAUTHENTICATED, 401)

    @app.errorhandler(ApiError)
    async def _api_error(exc: ApiError) -> Response:
        return error_response(exc)

    @app.errorhandler(HTTPException)
    async def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        message = exc.name if status != 404 else "Not Found"
        if is_kube_path(request.path):
            if status == 404:
                message = "the server could not find the requested resource"
            return kube_status(status, message)
        return argo_error(message, GRPC_FOR_HTTP.get(status, INTERNAL), status)

    @app.errorhandler(Exception)
    async def _internal(exc: Exception) -> Response:
        log.exception("API request %s %s failed", request.method, request.path)
        if is_kube_path(request.path):
            return kube_status(500, f"internal error: {exc}")
        return argo_error(f"internal error: {exc}", INTERNAL, 500)


__all__ = [
    "DEFAULT_KEEPALIVE_S",
    "RunStore",
    "create_api",
    "parse_field_selector",
    "parse_selector",
]
