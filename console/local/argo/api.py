"""The embedded platform's API server: Argo CD's REST API and the Kubernetes API for
`argoproj.io/v1alpha1` Applications, on 127.0.0.1, over an `ApplicationSource`.

As Argo CD's API server, it only reads state and takes requests; the controller owns the state
(see `appstate`). Everything but `/api/version`, `/api/webhook`, `/version` and `/healthz`
needs `Authorization: Bearer <token>` (or Argo CD's `argocd.token` cookie).

Argo CD REST (conforming to Argo CD's swagger.json):
    GET  /api/v1/applications                     v1alpha1ApplicationList
    GET  /api/v1/applications/{name}              v1alpha1Application
    GET  /api/v1/stream/applications              SSE (Accept: text/event-stream) or NDJSON
    POST /api/v1/applications/{name}/sync         v1alpha1Application
    GET  /api/v1/applications/{name}/resource-tree  v1alpha1ApplicationTree
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

import asyncio
import builtins
import contextlib
import hmac
import json
import logging
import platform
import re
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, TypeVar

from quart import Quart, Response, request
from werkzeug.exceptions import HTTPException

from console.application import API_VERSION, Json, format_time, format_time_nano
from console.local.argo.appstate import (
    ApplicationRecord,
    ApplicationSource,
    EventType,
    dumps,
    json_text,
)
from console.local.argo.errors import (
    ApiError,
    ApplicationNotFoundError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    UnavailableError,
)
from console.local.git.webhook import WebhookError, normalize_url, parse_push, verify_signature
from console.local.state import Run
from console.serving import CLOSING

log = logging.getLogger(__name__)

GROUP = "argoproj.io"
GROUP_VERSION = "v1alpha1"
PLURAL = "applications"
TOKEN_COOKIE = "argocd.token"  # noqa: S105 - a cookie name, not a secret
DEFAULT_KEEPALIVE_S = 15.0
DEFAULT_RUNS = 50  # CI runs listed when no `limit` is asked
MAX_RUNS = 1000
_EXTENSION = "gitops_api"

# gRPC codes and the HTTP status grpc-gateway maps each to.
UNAUTHENTICATED = 16
NOT_FOUND = 5
INVALID_ARGUMENT = 3
UNIMPLEMENTED = 12
INTERNAL = 13
_GRPC_FOR_HTTP = {400: INVALID_ARGUMENT, 401: UNAUTHENTICATED, 404: NOT_FOUND, 405: UNIMPLEMENTED}
_KUBE_REASON = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Expired",
    413: "RequestEntityTooLarge",
    500: "InternalError",
    503: "ServiceUnavailable",
}

T = TypeVar("T")


class RunStore(Protocol):
    """Where CI runs are recorded (`console.local.state.State` is one). Called from a worker
    thread, never on the event loop."""

    def runs(
        self, repo: str | None = None, limit: int = 50, *, commit: str | None = None
    ) -> builtins.list[Run]:
        """The newest runs first, optionally of one repo and/or commit."""
        ...

    def run(self, run_id: int) -> Run | None: ...


@dataclass
class _Settings:
    source: ApplicationSource
    token: str
    version: str
    username: str
    keepalive_s: float
    webhook_secret: bytes | None
    ci_runs: RunStore | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    closing: asyncio.Event = field(default_factory=asyncio.Event)


def _settings(app: Quart) -> _Settings:
    settings = app.extensions[_EXTENSION]
    if not isinstance(settings, _Settings):
        raise TypeError("not an app made by create_api")
    return settings


# --- responses --------------------------------------------------------------------------------


_dumps = dumps


def _json(obj: object, status: int = 200) -> Response:
    return _json_text(_dumps(obj), status)


def _json_text(text: str, status: int = 200) -> Response:
    return Response(text, status=status, mimetype="application/json")


def _list_text(head: Json, records: Iterable[ApplicationRecord], type_meta: bool = False) -> str:
    """`head` plus `"items"`: the records' JSON, each written once however often it is sent."""
    items = ",".join(json_text(r, type_meta=type_meta) for r in records)
    return f'{_dumps(head)[:-1]},"items":[{items}]}}'


def _argo_error(message: str, code: int, status: int) -> Response:
    """grpc-gateway's error body, as Argo CD answers it (runtimeError)."""
    return _json({"error": message, "code": code, "message": message, "details": []}, status)


def _kube_status(
    status: int, message: str, reason: str | None = None, details: Json | None = None
) -> Response:
    body: Json = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason or _KUBE_REASON.get(status, "Unknown"),
    }
    if details:
        body["details"] = details
    body["code"] = status
    return _json(body, status)


def _is_kube_path(path: str) -> bool:
    path = path.rstrip("/") or "/"
    return (
        path in ("/api", "/api/v1", "/version")
        or path == "/apis"
        or path.startswith("/apis/")
        or path.startswith("/api/v1/namespaces")
    )


def _error(exc: ApiError) -> Response:
    if _is_kube_path(request.path):
        details: Json | None = None
        if isinstance(exc, ApplicationNotFoundError):
            details = {"name": exc.name, "group": GROUP, "kind": PLURAL}
        return _kube_status(exc.http_status, exc.message, exc.reason, details)
    return _argo_error(exc.message, exc.grpc_code, exc.http_status)


def _stream(body: AsyncIterator[bytes], mimetype: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.timeout = None  # a stream lasts as long as the client listens
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"
    return response


# --- filters ----------------------------------------------------------------------------------

_SET_REQ = re.compile(r"^\s*([A-Za-z0-9./_-]+)\s+(in|notin)\s*\(([^)]*)\)\s*$")
_EQ_REQ = re.compile(r"^\s*([A-Za-z0-9./_-]+)\s*(==|=|!=)\s*([A-Za-z0-9._-]*)\s*$")
_EXISTS_REQ = re.compile(r"^\s*(!?)\s*([A-Za-z0-9./_-]+)\s*$")

Matcher = Callable[[Mapping[str, str]], bool]


def _split_requirements(selector: str) -> builtins.list[str]:
    parts: builtins.list[str] = []
    current: builtins.list[str] = []
    depth = 0
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p for p in parts if p.strip()]


def _requirement(text: str) -> Matcher:
    if m := _SET_REQ.match(text):
        key, op = m[1], m[2]
        values = {v.strip() for v in m[3].split(",") if v.strip()}
        if op == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    if m := _EQ_REQ.match(text):
        key, op, value = m[1], m[2], m[3]
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    if m := _EXISTS_REQ.match(text):
        negate, key = m[1] == "!", m[2]
        return lambda labels: (key in labels) != negate
    raise InvalidArgumentError(f"unable to parse requirement: {text.strip()!r}")


def parse_selector(selector: str) -> Matcher:
    """A Kubernetes label selector (`k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`,
    `!k`, comma-separated, all must hold) as a predicate on labels. Raises InvalidArgumentError
    for a malformed selector."""
    requirements = [_requirement(part) for part in _split_requirements(selector)]
    return lambda labels: all(req(labels) for req in requirements)


def parse_field_selector(selector: str) -> Callable[[ApplicationRecord], bool]:
    """A Kubernetes field selector over `metadata.name` and `metadata.namespace` (`=`, `==`,
    `!=`); other fields are refused, as the API server refuses unsupported field labels."""
    checks: builtins.list[Callable[[ApplicationRecord], bool]] = []
    for part in _split_requirements(selector):
        m = _EQ_REQ.match(part)
        if m is None or m[1] not in ("metadata.name", "metadata.namespace"):
            raise InvalidArgumentError(f'field label not supported: "{part.strip()}"')
        key, negate, value = m[1], m[2] == "!=", m[3]

        def check(
            record: ApplicationRecord, key: str = key, negate: bool = negate, value: str = value
        ) -> bool:
            actual = record.name if key == "metadata.name" else record.namespace
            return (actual == value) != negate

        checks.append(check)
    return lambda record: all(check(record) for check in checks)


@dataclass(frozen=True)
class _Query:
    """The application filters of Argo CD's ApplicationQuery."""

    name: str = ""
    projects: frozenset[str] = frozenset()
    selector: Matcher | None = None
    repo: str = ""
    namespace: str = ""

    @classmethod
    def from_request(cls) -> _Query:
        args = request.args
        selector = args.get("selector", "")
        projects = [*args.getlist("projects"), *args.getlist("project")]
        return cls(
            name=args.get("name", ""),
            projects=frozenset(p for p in projects if p),
            selector=parse_selector(selector) if selector else None,
            repo=args.get("repo", ""),
            namespace=args.get("appNamespace", ""),
        )

    def matches(self, record: ApplicationRecord) -> bool:
        if self.name and record.name != self.name:
            return False
        if self.projects and record.project not in self.projects:
            return False
        if self.namespace and record.namespace != self.namespace:
            return False
        if self.repo and normalize_url(str(record.source.get("repoURL", ""))) != normalize_url(
            self.repo
        ):
            return False
        return self.selector is None or self.selector(record.labels)


def _sorted(records: Iterable[ApplicationRecord]) -> builtins.list[ApplicationRecord]:
    return sorted(records, key=lambda r: (r.namespace, r.name))


def _refresh_type() -> bool | None:
    """None: no refresh asked; False: normal; True: hard (Argo CD: any value but "hard" is a
    normal refresh)."""
    value = request.args.get("refresh", "")
    return None if not value else value == "hard"


def _int_arg(name: str) -> int | None:
    value = request.args.get(name, "")
    if value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise InvalidArgumentError(f"{name}: {value!r} is not an integer") from None


def _bool_arg(name: str) -> bool:
    value = request.args.get(name, "").lower()
    if value in ("", "false", "0"):
        return False
    if value in ("true", "1"):
        return True
    raise InvalidArgumentError(f"{name}: {value!r} is not a boolean")


# --- streams ----------------------------------------------------------------------------------


async def _next(iterator: AsyncIterator[T]) -> T:
    return await anext(iterator)


async def _ticking(
    items: AsyncIterator[T],
    closing: asyncio.Event,
    keepalive_s: float | None = None,
    deadline: float | None = None,
) -> AsyncIterator[T | None]:
    """`items`, with None every `keepalive_s` seconds of silence; ends when `items` does, when
    the server is closing, or at `deadline` (time.monotonic())."""
    closed = asyncio.ensure_future(closing.wait())
    pending: asyncio.Task[T] | None = None
    try:
        while True:
            pending = asyncio.ensure_future(_next(items))
            while True:
                timeout = keepalive_s
                if deadline is not None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return
                    timeout = left if timeout is None else min(timeout, left)
                done, _ = await asyncio.wait(
                    {pending, closed}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                )
                if pending in done:
                    break
                if closed in done:
                    return
                if keepalive_s is not None and (
                    deadline is None or deadline - time.monotonic() > 0
                ):
                    yield None
            try:
                item = pending.result()
            except StopAsyncIteration:
                return
            pending = None
            yield item
    finally:
        closed.cancel()
        if pending is not None and not pending.done():
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await pending
        aclose = getattr(items, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()


# --- the app ----------------------------------------------------------------------------------


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
    settings = _Settings(
        source, token, version, username, keepalive_seconds, webhook_secret, ci_runs
    )
    app.extensions[_EXTENSION] = settings
    app.extensions[CLOSING] = settings.closing  # console.serving ends the streams on stop
    _routes(app)
    return app


def _authenticated(settings: _Settings) -> bool:
    given: str | None = None
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        given = value.strip()
    elif cookie := request.cookies.get(TOKEN_COOKIE):
        given = cookie
    return given is not None and hmac.compare_digest(given.encode(), settings.token.encode())


_PUBLIC = frozenset({"/api/version", "/api/webhook", "/version", "/healthz"})


def _routes(app: Quart) -> None:  # noqa: PLR0915 - one place lists every route
    settings = _settings(app)
    source = settings.source

    @app.before_request
    async def _auth() -> Response | None:
        if request.path.rstrip("/") in _PUBLIC or _authenticated(settings):
            return None
        has_credentials = bool(request.headers.get("Authorization")) or bool(
            request.cookies.get(TOKEN_COOKIE)
        )
        if _is_kube_path(request.path):
            return _kube_status(401, "Unauthorized")
        message = "invalid session: unknown token" if has_credentials else "no session information"
        return _argo_error(message, UNAUTHENTICATED, 401)

    @app.errorhandler(ApiError)
    async def _api_error(exc: ApiError) -> Response:
        return _error(exc)

    @app.errorhandler(HTTPException)
    async def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        message = exc.name if status != 404 else "Not Found"
        if _is_kube_path(request.path):
            if status == 404:
                message = "the server could not find the requested resource"
            return _kube_status(status, message)
        return _argo_error(message, _GRPC_FOR_HTTP.get(status, INTERNAL), status)

    @app.errorhandler(Exception)
    async def _internal(exc: Exception) -> Response:
        log.exception("API request %s %s failed", request.method, request.path)
        if _is_kube_path(request.path):
            return _kube_status(500, f"internal error: {exc}")
        return _argo_error(f"internal error: {exc}", INTERNAL, 500)

    def _app_or_404(name: str) -> ApplicationRecord:
        record = source.get(name)
        if record is None:
            raise ApplicationNotFoundError(name)
        return record

    # -- Argo CD REST --

    @app.get("/api/v1/applications")
    async def list_applications() -> Response:
        query = _Query.from_request()
        hard = _refresh_type()
        if hard is not None:
            for record in source.list():
                if query.matches(record):
                    await source.refresh(record.name, hard)
        version = source.version()
        items = _sorted(r for r in source.list() if query.matches(r))
        return _json_text(_list_text({"metadata": {"resourceVersion": str(version)}}, items))

    @app.get("/api/v1/applications/<name>")
    async def get_application(name: str) -> Response:
        query = _Query.from_request()
        record = _app_or_404(name)
        if query.projects and record.project not in query.projects:
            raise ApplicationNotFoundError(name)
        hard = _refresh_type()
        if hard is not None:
            await source.refresh(name, hard)
            record = _app_or_404(name)
        return _json_text(json_text(record))

    @app.get("/api/v1/stream/applications")
    async def watch_applications() -> Response:
        query = _Query.from_request()
        since_arg = _int_arg("resourceVersion")
        sse = "text/event-stream" in request.headers.get("Accept", "")
        hard = _refresh_type()
        if hard is not None:
            for record in source.list():
                if query.matches(record):
                    await source.refresh(record.name, hard)
        version = source.version()
        snapshot = _sorted(r for r in source.list() if query.matches(r))
        # As Argo CD: the current state as ADDED unless resuming from a resourceVersion (a
        # watch of one named application always gets it).
        initial = snapshot if since_arg is None or query.name else []
        since = version if since_arg is None else since_arg
        events = source.watch(since)

        def frame(kind: EventType, record: ApplicationRecord) -> bytes:
            envelope = f'{{"result":{{"type":{_dumps(kind)},"application":{json_text(record)}}}}}'
            return (f"data: {envelope}\n\n" if sse else envelope + "\n").encode()

        async def body() -> AsyncIterator[bytes]:
            sent: dict[str, int] = {}
            for record in initial:
                sent[record.name] = record.resource_version
                yield frame("ADDED", record)
            keepalive = settings.keepalive_s if sse else None
            async for item in _ticking(events, settings.closing, keepalive):
                if item is None:
                    yield b": keepalive\n\n"
                    continue
                kind, record = item
                if not query.matches(record):
                    continue
                if kind != "DELETED" and sent.get(record.name, 0) >= record.resource_version:
                    continue  # already sent in the initial state
                sent[record.name] = record.resource_version
                yield frame(kind, record)

        return _stream(body(), "text/event-stream" if sse else "application/json")

    @app.post("/api/v1/applications/<name>/sync")
    async def sync_application(name: str) -> Response:
        raw = await request.get_data(True, False, False)
        try:
            body = json.loads(raw) if raw.strip() else {}
        except json.JSONDecodeError as exc:
            raise InvalidArgumentError(f"invalid sync request body: {exc}") from None
        if not isinstance(body, dict):
            raise InvalidArgumentError("the sync request body is not a JSON object")
        record = _app_or_404(name)
        for unsupported in ("manifests", "resources", "revisions", "sourcePositions"):
            if body.get(unsupported):
                raise InvalidArgumentError(
                    f"sync with {unsupported!r} is not supported by the embedded platform"
                )
        revision = body.get("revision") or ""
        prune = body.get("prune", False)
        dry_run = body.get("dryRun", False)
        options = (body.get("syncOptions") or {}).get("items") or []
        if not isinstance(revision, str):
            raise InvalidArgumentError("revision must be a string")
        if not isinstance(prune, bool) or not isinstance(dry_run, bool):
            raise InvalidArgumentError("prune and dryRun must be booleans")
        if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
            raise InvalidArgumentError("syncOptions.items must be a list of strings")
        if record.automated and not dry_run and revision and revision != record.target_revision:
            raise FailedPreconditionError(
                f"Cannot sync to {revision}: auto-sync currently set to "
                f"{record.source.get('targetRevision', '')}"
            )
        synced = await source.sync(
            name, revision or None, prune, dry_run, settings.username, sync_options=options
        )
        return _json_text(json_text(synced))

    @app.get("/api/v1/applications/<name>/resource-tree")
    async def resource_tree(name: str) -> Response:
        return _json(source.resource_tree(name))

    async def _logs(name: str, pod: str | None) -> Response:
        container = request.args.get("container") or None
        tail = _int_arg("tailLines")
        since_s = _int_arg("sinceSeconds")
        follow = _bool_arg("follow")
        needle = request.args.get("filter", "")
        match_case = _bool_arg("matchCase")
        negate = needle.startswith("!")
        needle = needle.removeprefix("!")
        entries = source.pod_logs(name, pod, container, tail, follow)
        cutoff = datetime.now(UTC).timestamp() - since_s if since_s else None

        def keep(content: str) -> bool:
            if not needle:
                return True
            found = needle in content if match_case else needle.lower() in content.lower()
            return found != negate

        async def body() -> AsyncIterator[bytes]:
            async for entry in _ticking(entries, settings.closing):
                if entry is None:
                    continue
                if cutoff is not None and entry.timestamp.timestamp() < cutoff:
                    continue
                if not keep(entry.content):
                    continue
                result = {
                    "content": entry.content,
                    "timeStamp": format_time(entry.timestamp),
                    "timeStampStr": format_time_nano(entry.timestamp),
                    "podName": entry.pod_name,
                }
                yield (_dumps({"result": result}) + "\n").encode()
            if not follow:
                now = datetime.now(UTC)
                last = {
                    "content": "",
                    "timeStamp": format_time(now),
                    "timeStampStr": format_time_nano(now),
                    "last": True,
                }
                yield (_dumps({"result": last}) + "\n").encode()

        return _stream(body(), "application/json")

    @app.get("/api/v1/applications/<name>/logs")
    async def application_logs(name: str) -> Response:
        return await _logs(name, request.args.get("podName") or None)

    @app.get("/api/v1/applications/<name>/pods/<pod>/logs")
    async def pod_logs(name: str, pod: str) -> Response:
        return await _logs(name, pod)

    # -- CI runs (the platform's own; Argo CD has no such API) --

    def _run_store() -> RunStore:
        if settings.ci_runs is None:
            raise _Unimplemented("CI runs are not recorded by this server")
        return settings.ci_runs

    @app.get("/api/ci/runs")
    async def ci_runs() -> Response:
        store = _run_store()
        repo = request.args.get("repo") or None
        commit = request.args.get("commit") or None
        limit = _int_arg("limit")
        if limit is not None and not 1 <= limit <= MAX_RUNS:
            raise InvalidArgumentError(f"limit must be between 1 and {MAX_RUNS}, got {limit}")
        # SQLite off the event loop: a CI stage may be writing.
        runs = await asyncio.to_thread(store.runs, repo, limit or DEFAULT_RUNS, commit=commit)
        return _json({"items": [_run_json(r) for r in runs]})

    @app.get("/api/ci/runs/<int:run_id>/log")
    async def ci_run_log(run_id: int) -> Response:
        store = _run_store()
        run = await asyncio.to_thread(store.run, run_id)
        if run is None:
            raise NotFoundError(f"CI run {run_id} not found")
        text = None if run.log_path is None else await asyncio.to_thread(_read_log, run.log_path)
        if text is None:
            raise NotFoundError(f"CI run {run_id} has no log")
        return Response(text, status=200, mimetype="text/plain")

    @app.get("/api/version")
    async def argocd_version() -> Response:
        message: Json = {"Version": settings.version}
        if _authenticated(settings):  # as Argo CD: details for a logged-in user only
            message.update(
                {
                    "BuildDate": format_time(settings.started_at),
                    "Compiler": sys.implementation.name,
                    "Platform": f"{sys.platform}/{platform.machine().lower()}",
                    "ExtraBuildInfo": "gitops-local embedded platform",
                }
            )
        return _json(message)

    @app.post("/api/webhook")
    async def webhook() -> Response:
        body = await request.get_data(True, False, False)
        headers = {key: value for key, value in request.headers.items()}
        if settings.webhook_secret is not None and not verify_signature(
            settings.webhook_secret, headers, body
        ):
            return _text("Webhook processing failed: HMAC verification failed", 400)
        try:
            event = parse_push(headers, body)
        except WebhookError as exc:
            return _text(f"Webhook processing failed: {exc}", 400)
        if event is not None:  # a ping needs no processing
            try:
                await source.webhook(body, headers)
            except UnavailableError as exc:
                return _text(exc.message, 503)
        return _text("", 200)

    @app.get("/healthz")
    async def healthz() -> Response:
        return _text("ok", 200)

    # -- Kubernetes API --

    @app.get("/version")
    async def kube_version() -> Response:
        # Kubernetes' version.Info (every field is required by the official clients' models).
        return _json(
            {
                "major": "1",
                "minor": "33",
                "gitVersion": "v1.33.0+gitops-local",
                "gitCommit": settings.version,
                "gitTreeState": "clean",
                "buildDate": format_time(settings.started_at),
                "goVersion": f"{sys.implementation.name}{platform.python_version()}",
                "compiler": sys.implementation.name,
                "platform": f"{sys.platform}/{platform.machine().lower()}",
            }
        )

    @app.get("/api")
    async def kube_core_versions() -> Response:
        host = request.headers.get("Host", "127.0.0.1")
        return _json(
            {
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}],
            }
        )

    @app.get("/api/v1")
    async def kube_core_resources() -> Response:
        return _json({"kind": "APIResourceList", "groupVersion": "v1", "resources": []})

    group_version = {"groupVersion": API_VERSION, "version": GROUP_VERSION}
    group = {
        "name": GROUP,
        "versions": [group_version],
        "preferredVersion": group_version,
    }

    @app.get("/apis")
    async def kube_groups() -> Response:
        return _json({"kind": "APIGroupList", "apiVersion": "v1", "groups": [group]})

    @app.get("/apis/argoproj.io")
    async def kube_group() -> Response:
        return _json({"kind": "APIGroup", "apiVersion": "v1", **group})

    @app.get("/apis/argoproj.io/v1alpha1")
    async def kube_resources() -> Response:
        return _json(
            {
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": API_VERSION,
                "resources": [
                    {
                        "name": PLURAL,
                        "singularName": "application",
                        "namespaced": True,
                        "kind": "Application",
                        "verbs": ["get", "list", "watch"],
                        "shortNames": ["app", "apps"],
                        "categories": ["argoproj"],
                    }
                ],
            }
        )

    @app.get("/apis/argoproj.io/v1alpha1/applications")
    async def kube_list_all() -> Response:
        return await _kube_list(None)

    @app.get("/apis/argoproj.io/v1alpha1/namespaces/<namespace>/applications")
    async def kube_list(namespace: str) -> Response:
        return await _kube_list(namespace)

    @app.get("/apis/argoproj.io/v1alpha1/namespaces/<namespace>/applications/<name>")
    async def kube_get(namespace: str, name: str) -> Response:
        record = source.get(name)
        if record is None or record.namespace != namespace:
            raise ApplicationNotFoundError(name)
        return _json_text(json_text(record, type_meta=True))

    async def _kube_list(namespace: str | None) -> Response:
        labels = request.args.get("labelSelector", "")
        fields = request.args.get("fieldSelector", "")
        label_match = parse_selector(labels) if labels else None
        field_match = parse_field_selector(fields) if fields else None

        def matches(record: ApplicationRecord) -> bool:
            return (
                (namespace is None or record.namespace == namespace)
                and (label_match is None or label_match(record.labels))
                and (field_match is None or field_match(record))
            )

        version = source.version()
        items = _sorted(r for r in source.list() if matches(r))
        if request.args.get("watch", "").lower() not in ("true", "1"):
            head = {
                "apiVersion": API_VERSION,
                "kind": "ApplicationList",
                "metadata": {"resourceVersion": str(version)},
            }
            return _json_text(_list_text(head, items, type_meta=True))
        rv = request.args.get("resourceVersion", "")
        if rv and not rv.isdigit():
            raise InvalidArgumentError(f"invalid resourceVersion {rv!r}")
        # Kubernetes: no resourceVersion (or "0") starts with the current state as ADDED.
        initial = items if rv in ("", "0") else []
        since = version if rv in ("", "0") else int(rv)
        timeout_s = _int_arg("timeoutSeconds")
        deadline = time.monotonic() + timeout_s if timeout_s else None
        events = source.watch(since)

        def frame(kind: str, record: ApplicationRecord) -> bytes:
            obj = json_text(record, type_meta=True)
            return f'{{"type":{_dumps(kind)},"object":{obj}}}\n'.encode()

        async def body() -> AsyncIterator[bytes]:
            for record in initial:
                yield frame("ADDED", record)
            async for item in _ticking(events, settings.closing, None, deadline):
                if item is not None and matches(item[1]):
                    yield frame(*item)

        return _stream(body(), "application/json")


def _text(text: str, status: int) -> Response:
    return Response(text, status=status, mimetype="text/plain")


class _Unimplemented(ApiError):
    grpc_code = UNIMPLEMENTED
    http_status = 501
    reason = "NotImplemented"


def _run_json(run: Run) -> Json:
    return {
        "id": run.id,
        "repo": run.repo,
        "commit": run.commit,
        "stage": run.stage,
        "result": run.result,
        "startedAt": format_time(run.started_at),
        "durationSeconds": run.duration_s,
        "logPath": None if run.log_path is None else str(run.log_path),
    }


def _read_log(path: Path) -> bytes | None:
    """A CI log's bytes, None when it is not there (never written, or removed)."""
    try:
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


__all__ = [
    "DEFAULT_KEEPALIVE_S",
    "RunStore",
    "create_api",
    "parse_field_selector",
    "parse_selector",
]
