"""Applications from Argo CD's REST API (a real Argo CD or the embedded platform's), with httpx.

    GET /api/v1/applications                list
    GET /api/v1/applications/{name}         get (`?refresh=normal|hard`, `?appNamespace=`)
    GET /api/v1/stream/applications         the watch: NDJSON frames
                                            {"result": {"type", "application"}} or {"error"}
    POST /api/v1/applications/{name}/sync   sync (the console's `s`)
    GET /api/v1/applications/{name}/manifests  rendered manifests at a revision (the console's `d`)
    GET /api/v1/applications/{name}/logs    pods' log lines, NDJSON (console.fleet.logs)
Events follow `console.fleet.follow`: list, then the stream from the list's resourceVersion
(the embedded platform replays what changed since; Argo CD skips its initial ADDED burst and
streams from now on), reconnects with backoff, polling when the stream keeps failing, and at
once when the server has no stream (404, 405, 501: an older Argo CD or a proxy).

The token goes in the Authorization header only: it is never logged, never in a message, never
in repr(). Streams have no read timeout (a quiet fleet sends nothing); TCP keepalive detects a
dead peer instead.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import socket
import ssl
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from console.fleet.follow import NO_WATCH_STATUSES, NoWatchError, Pacing, WatchType, follow
from console.fleet.logs import End, LogLine, LogQuery, parse_frame
from console.fleet.manifests import Rendered, parse_manifests
from console.fleet.model import App
from console.fleet.parse import (
    MalformedError,
    application_from,
    application_list_from,
    parse_application,
)
from console.fleet.reasons import display_url, os_reason, tls_reason
from console.fleet.source import Event, SourceError, check_refresh, split_key
from console.fleet.tree import ResourceRef

WHAT = "Argo CD"
LIST_PATH = "/api/v1/applications"
STREAM_PATH = "/api/v1/stream/applications"
REFRESH_TIMEOUT_S = 60.0  # a refreshing get waits for Argo CD to compare the app again
_WATCH_TYPES: frozenset[str] = frozenset({"ADDED", "MODIFIED", "DELETED"})


def _keepalive_options() -> list[tuple[int, int, int]]:
    """Probe an idle connection after 30 s, every 10 s, 3 times: a dead server is noticed
    within a minute even on a stream that carries nothing."""
    options = [(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)]
    for name, value in (("TCP_KEEPIDLE", 30), ("TCP_KEEPINTVL", 10), ("TCP_KEEPCNT", 3)):
        if hasattr(socket, name):
            options.append((socket.IPPROTO_TCP, getattr(socket, name), value))
    return options


def _error_message(response: httpx.Response) -> str:
    """The message of an error answer: Argo CD's (grpc-gateway's) JSON `message`, else the
    first line of the body."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, Mapping) and isinstance(body.get("message"), str):
        return str(body["message"])
    text = response.text.strip().splitlines()
    return text[0][:200] if text else response.reason_phrase


class ArgoCDSource:
    """Applications of one Argo CD (REST API, bearer token). `verify`: True (system CAs),
    False (no verification: `--insecure`) or a CA bundle's path. `name` (default: the URL's
    host) is what `App.instance` and messages carry."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        name: str | None = None,
        verify: bool | str = True,
        timeout: float = 10.0,
        pacing: Pacing | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"Argo CD URL {url!r} is not http(s)://HOST[:PORT]")
        if not token or any(c in token for c in "\r\n"):
            raise ValueError("the Argo CD token is empty or spans lines")  # never quoted
        self.url = display_url(url)
        self.name = name or parts.netloc.rpartition("@")[2]
        self.pacing = pacing or Pacing()  # reconnects and polling; tests inject sleep and rng
        self._timeout = timeout
        transport = httpx.AsyncHTTPTransport(
            verify=_ssl_context(verify), socket_options=_keepalive_options()
        )
        self._client = httpx.AsyncClient(
            base_url=url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"ArgoCDSource({self.url!r}, name={self.name!r})"

    # -- AppSource --

    async def list(self) -> list[App]:
        apps, _ = await self.snapshot()
        return apps

    async def get(self, name: str, *, refresh: str | None = None) -> App:
        check_refresh(refresh)
        namespace, bare = split_key(name, "")
        params = {"refresh": refresh} if refresh else {}
        if namespace:
            params["appNamespace"] = namespace
        timeout = max(self._timeout, REFRESH_TIMEOUT_S) if refresh else self._timeout
        body = await self._get_json(
            f"{LIST_PATH}/{quote(bare, safe='')}", params, timeout, app=name
        )
        return application_from(body, self.url, self.name)

    async def resource_tree(self, name: str) -> dict[str, Any]:
        """The app's `v1alpha1ApplicationTree` (its live objects down to the pods)."""
        namespace, bare = split_key(name, "")
        params = {"appNamespace": namespace} if namespace else {}
        body = await self._get_json(
            f"{LIST_PATH}/{quote(bare, safe='')}/resource-tree", params, self._timeout, app=name
        )
        if not isinstance(body, dict):
            raise SourceError.malformed(self.url, "resource-tree: expected an object")
        return body

    async def live_resource(self, name: str, ref: ResourceRef) -> dict[str, Any]:
        """One live object of the app as the cluster has it (`GET .../resource`, whose
        `manifest` is the object's JSON): a Pod's address, say."""
        app_namespace, bare = split_key(name, "")
        params = {
            "namespace": ref.namespace,
            "resourceName": ref.name,
            "version": ref.version,
            "group": ref.group,
            "kind": ref.kind,
        }
        if app_namespace:
            params["appNamespace"] = app_namespace
        body = await self._get_json(
            f"{LIST_PATH}/{quote(bare, safe='')}/resource", params, self._timeout, app=name
        )
        manifest = body.get("manifest") if isinstance(body, dict) else None
        try:
            live = json.loads(manifest) if isinstance(manifest, str) else None
        except ValueError:
            live = None
        if not isinstance(live, dict):
            raise SourceError.malformed(self.url, "resource: expected a manifest of an object")
        return live

    async def manifests(self, name: str, revision: str) -> Rendered:
        """What the app's source renders to at `revision` (Argo CD's repo server renders it:
        GetManifests). Raises SourceError."""
        namespace, bare = split_key(name, "")
        params = {"revision": revision}
        if namespace:
            params["appNamespace"] = namespace
        body = await self._get_json(
            f"{LIST_PATH}/{quote(bare, safe='')}/manifests", params, self._timeout, app=name
        )
        try:
            return parse_manifests(body)
        except MalformedError as exc:
            raise SourceError.malformed(self.url, f"manifests: {exc}") from None

    async def sync(self, name: str, *, prune: bool = False) -> App:
        """Ask Argo CD to sync the app to its target now (`POST .../sync`, the body
        `sync_body` returns); the app comes back with the requested operation set. Raises
        SourceError: kind "auth" for a token that may not sync, "http" for a refused sync (an
        operation already running, ...)."""
        namespace, bare = split_key(name, "")
        try:
            async with asyncio.timeout(self._timeout):  # the whole answer, not each read
                response = await self._client.post(
                    f"{LIST_PATH}/{quote(bare, safe='')}/sync",
                    json=sync_body(namespace, prune=prune),
                )
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from None
        except TimeoutError:
            raise SourceError.deadline(WHAT, self.url, self._timeout) from None
        if response.status_code != 200:
            raise self._status_error(response, app=name)
        try:
            return parse_application(response.json(), self.name)
        except (ValueError, MalformedError) as exc:
            raise SourceError.malformed(self.url, str(exc)) from None

    async def logs(self, name: str, query: LogQuery) -> AsyncGenerator[LogLine, None]:
        """The pods' log lines (console.fleet.logs), oldest first. Connecting has a deadline
        (the answer's headers within the timeout); a followed stream then has no read timeout
        (a quiet pod writes nothing; TCP keepalive notices a dead server). Raises SourceError."""
        namespace, bare = split_key(name, "")
        read = None if query.follow else self._timeout
        request = self._client.build_request(
            "GET",
            query.path(bare),
            params=query.params(namespace),
            timeout=httpx.Timeout(self._timeout, read=read),
        )
        try:
            async with asyncio.timeout(self._timeout):
                response = await self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from None
        except TimeoutError:
            raise SourceError.deadline(WHAT, self.url, self._timeout) from None
        try:
            if response.status_code != 200:
                await response.aread()
                # A 404 names the pod as often as the app: say the server's own words.
                app = "" if query.pod and response.status_code == 404 else name
                raise self._status_error(response, app=app)
            async for line in response.aiter_lines():
                item = parse_frame(line, self.url)
                if isinstance(item, End):
                    return
                if item is not None:
                    yield item
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from None
        finally:
            await response.aclose()

    def events(self, stop: asyncio.Event) -> AsyncIterator[Event]:
        return follow(self, stop, self.pacing)

    async def aclose(self) -> None:
        await self._client.aclose()

    # -- follow.Feed --

    async def snapshot(self) -> tuple[builtins.list[App], str]:
        body = await self._get_json(LIST_PATH, {}, self._timeout)
        return application_list_from(body, self.url, self.name)

    async def watch(self, resource_version: str) -> AsyncGenerator[tuple[WatchType, App], None]:
        params = {"resourceVersion": resource_version} if resource_version else {}
        # No read timeout: a stream is quiet while nothing changes.
        timeout = httpx.Timeout(self._timeout, read=None)
        try:
            async with self._client.stream(
                "GET", STREAM_PATH, params=params, timeout=timeout
            ) as response:
                if response.status_code != 200:
                    await response.aread()
                    error = self._status_error(response)
                    if response.status_code in NO_WATCH_STATUSES:
                        raise NoWatchError(str(error), error.kind)
                    raise error
                async for line in response.aiter_lines():
                    if line.strip():
                        event = self._frame(line)
                        if event is not None:
                            yield event
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from None
        raise SourceError(f"{WHAT} at {self.url} ended the application stream", "unreachable")

    # -- internals --

    async def _get_json(
        self, path: str, params: Mapping[str, str], timeout: float, *, app: str = ""
    ) -> Any:
        try:
            # httpx's timeout bounds each read; this bounds the whole answer (a server that
            # trickles a byte at a time would otherwise hold the caller forever).
            async with asyncio.timeout(timeout):
                response = await self._client.get(path, params=params, timeout=timeout)
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from None
        except TimeoutError:
            raise SourceError.deadline(WHAT, self.url, timeout) from None
        if response.status_code != 200:
            raise self._status_error(response, app=app)
        try:
            return response.json()
        except ValueError:
            kind = response.headers.get("content-type", "no content type")
            raise SourceError.malformed(self.url, f"not JSON ({kind})") from None

    def _frame(self, line: str) -> tuple[WatchType, App] | None:
        try:
            frame = json.loads(line)
        except ValueError:
            raise SourceError.malformed(self.url, "a stream frame is not JSON") from None
        if not isinstance(frame, Mapping):
            raise SourceError.malformed(self.url, "a stream frame is not an object")
        error = frame.get("error")
        if isinstance(error, Mapping):  # grpc-gateway's runtimeStreamError ends the stream
            code = error.get("http_code")
            status = code if isinstance(code, int) else 500
            if status in (401, 403):
                raise SourceError.auth(WHAT, self.url)
            raise SourceError.status(WHAT, self.url, status, str(error.get("message") or ""))
        result = frame.get("result")
        if not isinstance(result, Mapping):
            raise SourceError.malformed(self.url, "result: expected an object")
        kind, application = result.get("type"), result.get("application")
        if kind not in _WATCH_TYPES:
            return None  # a type this client does not know: nothing to tell
        app = application_from(application, self.url, self.name, path="result.application")
        watch_type: WatchType = kind
        return watch_type, app

    def _status_error(self, response: httpx.Response, *, app: str = "") -> SourceError:
        status = response.status_code
        if status in (401, 403):
            return SourceError.auth(WHAT, self.url)
        if status == 404 and app:
            return SourceError.not_found(WHAT, self.url, app)
        return SourceError.status(WHAT, self.url, status, _error_message(response))

    def _transport_error(self, exc: httpx.HTTPError) -> SourceError:
        tls = tls_reason(exc)
        if tls is not None:
            return SourceError.tls(WHAT, self.url, tls)
        if isinstance(exc, httpx.TimeoutException):
            return SourceError.unreachable(WHAT, self.url, f"no answer within {self._timeout:g}s")
        if isinstance(exc, httpx.RemoteProtocolError):
            return SourceError.unreachable(WHAT, self.url, "the connection was closed")
        reason = os_reason(exc) or str(exc).strip() or type(exc).__name__
        return SourceError.unreachable(WHAT, self.url, reason)


def sync_body(namespace: str = "", *, prune: bool = False) -> dict[str, Any]:
    """The `ApplicationSyncRequest` ArgoCDSource.sync sends: the app's target revision (no
    `revision`: auto-sync would refuse any other), no dry run."""
    body: dict[str, Any] = {"prune": prune, "dryRun": False}
    if namespace:
        body["appNamespace"] = namespace
    return body


def _ssl_context(verify: bool | str) -> ssl.SSLContext | bool:
    """httpx's verify: a context for a CA bundle (httpx deprecates passing a path)."""
    if not isinstance(verify, str):
        return verify
    try:
        return ssl.create_default_context(cafile=verify)
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise SourceError(f"cannot load the CA bundle {verify}: {reason}", "config") from None
