"""What every route of the API server shares: its settings, authentication, answers (Argo CD's
grpc-gateway JSON, Kubernetes' `Status`), query arguments and streams."""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import hmac
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol, TypeVar

from quart import Quart, Response, current_app, request

from console.application import Json
from console.local.argo.appstate import ApplicationRecord, ApplicationSource, dumps, json_text
from console.local.argo.errors import ApiError, ApplicationNotFoundError, InvalidArgumentError
from console.local.state import Run

GROUP = "argoproj.io"
GROUP_VERSION = "v1alpha1"
PLURAL = "applications"
TOKEN_COOKIE = "argocd.token"  # noqa: S105 - a cookie name, not a secret
DEFAULT_KEEPALIVE_S = 15.0
EXTENSION = "gitops_api"

# gRPC codes and the HTTP status grpc-gateway maps each to.
UNAUTHENTICATED = 16
NOT_FOUND = 5
INVALID_ARGUMENT = 3
UNIMPLEMENTED = 12
INTERNAL = 13
GRPC_FOR_HTTP = {400: INVALID_ARGUMENT, 401: UNAUTHENTICATED, 404: NOT_FOUND, 405: UNIMPLEMENTED}
KUBE_REASON = {
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
class Settings:
    source: ApplicationSource
    token: str
    version: str
    username: str
    keepalive_s: float
    webhook_secret: bytes | None
    ci_runs: RunStore | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    closing: asyncio.Event = field(default_factory=asyncio.Event)


def settings_of(app: Quart) -> Settings:
    settings = app.extensions[EXTENSION]
    if not isinstance(settings, Settings):
        raise TypeError("not an app made by create_api")
    return settings


def current_settings() -> Settings:
    """The settings of the app serving the request."""
    return settings_of(current_app)


# --- responses --------------------------------------------------------------------------------


def json_response(obj: object, status: int = 200) -> Response:
    return json_text_response(dumps(obj), status)


def json_text_response(text: str, status: int = 200) -> Response:
    return Response(text, status=status, mimetype="application/json")


def list_text(head: Json, records: Iterable[ApplicationRecord], type_meta: bool = False) -> str:
    """`head` plus `"items"`: the records' JSON, each written once however often it is sent."""
    items = ",".join(json_text(r, type_meta=type_meta) for r in records)
    return f'{dumps(head)[:-1]},"items":[{items}]}}'


def argo_error(message: str, code: int, status: int) -> Response:
    """grpc-gateway's error body, as Argo CD answers it (runtimeError)."""
    body = {"error": message, "code": code, "message": message, "details": []}
    return json_response(body, status)


def kube_status(
    status: int, message: str, reason: str | None = None, details: Json | None = None
) -> Response:
    body: Json = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason or KUBE_REASON.get(status, "Unknown"),
    }
    if details:
        body["details"] = details
    body["code"] = status
    return json_response(body, status)


def is_kube_path(path: str) -> bool:
    path = path.rstrip("/") or "/"
    return (
        path in ("/api", "/api/v1", "/version")
        or path == "/apis"
        or path.startswith("/apis/")
        or path.startswith("/api/v1/namespaces")
    )


def error_response(exc: ApiError) -> Response:
    if is_kube_path(request.path):
        details: Json | None = None
        if isinstance(exc, ApplicationNotFoundError):
            details = {"name": exc.name, "group": GROUP, "kind": PLURAL}
        return kube_status(exc.http_status, exc.message, exc.reason, details)
    return argo_error(exc.message, exc.grpc_code, exc.http_status)


def stream_response(body: AsyncIterator[bytes], mimetype: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.timeout = None  # a stream lasts as long as the client listens
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"
    return response


def refresh_type() -> bool | None:
    """None: no refresh asked; False: normal; True: hard (Argo CD: any value but "hard" is a
    normal refresh)."""
    value = request.args.get("refresh", "")
    return None if not value else value == "hard"


def int_arg(name: str) -> int | None:
    value = request.args.get(name, "")
    if value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise InvalidArgumentError(f"{name}: {value!r} is not an integer") from None


def bool_arg(name: str) -> bool:
    value = request.args.get(name, "").lower()
    if value in ("", "false", "0"):
        return False
    if value in ("true", "1"):
        return True
    raise InvalidArgumentError(f"{name}: {value!r} is not a boolean")


async def _next(iterator: AsyncIterator[T]) -> T:
    return await anext(iterator)


async def ticking(
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


def authenticated(settings: Settings) -> bool:
    given: str | None = None
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        given = value.strip()
    elif cookie := request.cookies.get(TOKEN_COOKIE):
        given = cookie
    return given is not None and hmac.compare_digest(given.encode(), settings.token.encode())


PUBLIC = frozenset({"/api/version", "/api/webhook", "/version", "/healthz"})


def text_response(text: str, status: int) -> Response:
    return Response(text, status=status, mimetype="text/plain")
