"""Applications from the Kubernetes API (`applications.argoproj.io/v1alpha1` custom objects),
with the official `kubernetes` client: a real cluster or the embedded platform's API, through a
kubeconfig context (or the pod's service account when no kubeconfig is found).

The client blocks, so calls run in worker threads; the watch (`kubernetes.watch.Watch`) runs in
its own daemon thread and hands events to the event loop. It resumes from the last
resourceVersion when the server ends a watch (every WATCH_S), and an expired resourceVersion
(410 Gone) re-lists (a fresh Snapshot). Events follow `console.fleet.follow`.

`get(refresh=...)` does not refresh: Argo CD takes refresh requests over the Kubernetes API as
the `argocd.argoproj.io/refresh` annotation, which needs PATCH, and the embedded platform's
Kubernetes API serves get, list and watch only. The app is read as it is; use the Argo CD API
(ArgoCDSource) where a refresh matters.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import urllib3
from kubernetes import client as kube_client
from kubernetes import config as _kube_config
from kubernetes import watch as _kube_watch
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from console.fleet.follow import ExpiredError, Pacing, WatchType, follow
from console.fleet.model import App
from console.fleet.parse import (
    application_from,
    application_list_from,
)
from console.fleet.reasons import display_url, os_reason, tls_reason
from console.fleet.source import Event, SourceError, check_refresh, split_key

log = logging.getLogger(__name__)

# The client's config loaders and Watch carry no annotations: typed as Any on purpose.
kube_config: Any = _kube_config
kube_watch: Any = _kube_watch

WHAT = "the Kubernetes API"
GROUP, VERSION, PLURAL = "argoproj.io", "v1alpha1", "applications"
DEFAULT_NAMESPACE = "argocd"  # where Argo CD keeps Applications unless told otherwise
WATCH_S = 300  # the server ends each watch after this long; it is resumed at once
MIN_WATCH_S = 1.0  # a watch that ends sooner with nothing to say counts as failed
_WATCH_TYPES: frozenset[str] = frozenset({"ADDED", "MODIFIED", "DELETED"})
_SA_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def _load(kubeconfig: Path | None, context: str | None) -> tuple[kube_client.ApiClient, str]:
    """An API client for the context, and the context's namespace ("" when it names none)."""
    configuration = kube_client.Configuration()
    try:
        kube_config.load_kube_config(
            config_file=str(kubeconfig) if kubeconfig is not None else None,
            context=context,
            client_configuration=configuration,
            persist_config=False,  # never write refreshed credentials back to the user's file
        )
        contexts, current = kube_config.list_kube_config_contexts(
            str(kubeconfig) if kubeconfig is not None else None
        )
        chosen = next((c for c in contexts if c.get("name") == context), None) or current
        namespace = str(((chosen or {}).get("context") or {}).get("namespace") or "")
    except Exception as exc:  # the loader raises many kinds for a broken file: word them once
        if (
            kubeconfig is not None
            or context is not None
            or "KUBERNETES_SERVICE_HOST" not in os.environ
        ):
            where = str(kubeconfig) if kubeconfig is not None else "the default kubeconfig"
            ctx = f" (context {context})" if context else ""
            raise SourceError(
                f"cannot load {where}{ctx}: {_config_problem(exc)}", "config"
            ) from None
        # In a pod without a kubeconfig: its service account.
        try:
            kube_config.load_incluster_config(client_configuration=configuration)
        except ConfigException as incluster:
            raise SourceError(f"cannot load the in-cluster config: {incluster}", "config") from None
        namespace = _SA_NAMESPACE.read_text().strip() if _SA_NAMESPACE.is_file() else ""
    return kube_client.ApiClient(configuration), namespace


def _config_problem(exc: BaseException) -> str:
    """What is wrong with a kubeconfig, without quoting its lines (they may hold a token)."""
    mark = getattr(exc, "problem_mark", None)  # a YAML syntax error
    if mark is not None:
        return f"not valid YAML ({getattr(exc, 'problem', '')} at line {mark.line + 1})"
    return str(exc) or type(exc).__name__


class KubeSource:
    """Applications of one cluster through a kubeconfig context. `namespace`: None reads every
    namespace (needs cluster-wide list/watch rights); a name reads that one only. `get` of a
    bare name looks in `namespace`, else the context's namespace, else "argocd"."""

    def __init__(
        self,
        kubeconfig: Path | None,
        context: str | None,
        namespace: str | None = None,
        name: str | None = None,
        *,
        timeout: float = 10.0,
        pacing: Pacing | None = None,
    ) -> None:
        self._api_client, context_namespace = _load(kubeconfig, context)
        self._api = kube_client.CustomObjectsApi(self._api_client)
        self.namespace = namespace
        self.default_namespace = namespace or context_namespace or DEFAULT_NAMESPACE
        self.url = display_url(str(self._api_client.configuration.host))
        self.name = name or context or (urlsplit(self.url).netloc or "kubernetes")
        self.pacing = pacing or Pacing()  # reconnects and polling; tests inject sleep and rng
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"KubeSource({self.url!r}, name={self.name!r}, namespace={self.namespace!r})"

    # -- AppSource --

    async def list(self) -> builtins.list[App]:
        apps, _ = await self.snapshot()
        return apps

    async def resource_tree(self, name: str) -> dict[str, Any]:
        """Not served: the tree is Argo CD's view, computed by its API server."""
        raise SourceError(
            f"{self.name}: resource trees are read from Argo CD's API, not the Kubernetes API",
            "config",
        )

    async def get(self, name: str, *, refresh: str | None = None) -> App:
        check_refresh(refresh)
        if refresh is not None:
            log.debug(
                "%s: refresh over the Kubernetes API is not supported; reading %s", self.name, name
            )
        namespace, bare = split_key(name, self.default_namespace)
        body = await self._call(
            self._api.get_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            bare,
            app=name,
        )
        return application_from(body, self.url, self.name)

    def events(self, stop: asyncio.Event) -> AsyncIterator[Event]:
        return follow(self, stop, self.pacing)

    async def aclose(self) -> None:
        await asyncio.to_thread(self._api_client.close)

    # -- follow.Feed --

    async def snapshot(self) -> tuple[builtins.list[App], str]:
        func, args = self._lister()
        body = await self._call(func, *args)
        return application_list_from(body, self.url, self.name)

    async def watch(self, resource_version: str) -> AsyncGenerator[tuple[WatchType, App], None]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        watcher: Any = kube_watch.Watch()
        done = threading.Event()

        def hand_over(item: tuple[str, Any]) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop is closed: nobody listens any more
                done.set()

        thread = threading.Thread(
            target=self._watch_thread,
            args=(watcher, resource_version, done, hand_over),
            name=f"kube-watch-{self.name}",
            daemon=True,  # a blocked read never holds up the interpreter's exit
        )
        thread.start()
        try:
            while True:
                kind, payload = await queue.get()
                if kind == "error":
                    raise self._error(payload)
                if kind == "end":
                    return
                event = self._event(payload)
                if event is not None:
                    yield event
        finally:
            done.set()
            watcher.stop()  # shuts the socket down: the thread's blocked read returns

    # -- internals --

    def _lister(self) -> tuple[Callable[..., Any], tuple[str, ...]]:
        if self.namespace is None:
            return self._api.list_cluster_custom_object, (GROUP, VERSION, PLURAL)
        return self._api.list_namespaced_custom_object, (GROUP, VERSION, self.namespace, PLURAL)

    async def _call(self, func: Callable[..., Any], *args: str, app: str = "") -> Any:
        try:
            # The client's timeout bounds each read; this bounds the whole answer.
            async with asyncio.timeout(self._timeout):
                return await _in_daemon_thread(func, *args, _request_timeout=self._timeout)
        except TimeoutError:
            raise SourceError.deadline(WHAT, self.url, self._timeout) from None
        except Exception as exc:  # every client failure becomes one clear line
            raise self._error(exc, app=app) from None

    def _watch_thread(
        self,
        watcher: Any,
        resource_version: str,
        done: threading.Event,
        hand_over: Callable[[tuple[str, Any]], None],
    ) -> None:
        func, args = self._lister()
        version = resource_version
        try:
            while not done.is_set():
                started, seen = time.monotonic(), False
                for event in watcher.stream(
                    func,
                    *args,
                    resource_version=version or None,
                    timeout_seconds=WATCH_S,
                    # A read timeout past the server's own end: a dead peer is noticed.
                    _request_timeout=(self._timeout, WATCH_S + self._timeout),
                ):
                    seen = True
                    hand_over(("event", event))
                    if done.is_set():
                        return
                version = str(watcher.resource_version or version)
                if not seen and time.monotonic() - started < MIN_WATCH_S and not done.is_set():
                    hand_over(("error", ConnectionError("the watch ended at once")))
                    return
        except Exception as exc:  # handed to the event loop, which words it
            if not done.is_set():
                hand_over(("error", exc))
            return
        hand_over(("end", None))

    def _event(self, event: object) -> tuple[WatchType, App] | None:
        if not isinstance(event, Mapping):
            raise SourceError.malformed(self.url, "a watch event is not an object")
        kind, obj = event.get("type"), event.get("raw_object")
        if kind not in _WATCH_TYPES:
            return None  # BOOKMARK and kinds this client does not know
        app = application_from(obj, self.url, self.name, path="object")
        watch_type: WatchType = kind
        return watch_type, app

    def _error(self, exc: BaseException, *, app: str = "") -> Exception:
        """One clear SourceError for a client failure (ExpiredError for 410 Gone)."""
        if isinstance(exc, SourceError):
            return exc
        if isinstance(exc, ApiException):
            return self._status_error(exc, app)
        if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
            exc = exc.reason
        tls = tls_reason(exc)
        if tls is not None or isinstance(exc, urllib3.exceptions.SSLError):
            return SourceError.tls(WHAT, self.url, tls or str(exc))
        if isinstance(exc, ValueError):  # a body that is not JSON
            return SourceError.malformed(self.url, str(exc))
        return SourceError.unreachable(WHAT, self.url, _reason(exc))

    def _status_error(self, exc: ApiException, app: str) -> Exception:
        status = int(exc.status or 0)
        if status == 410:
            return ExpiredError(str(exc.reason or "Gone"))
        if status in (401, 403):
            return SourceError.auth(WHAT, self.url)
        if status == 404 and app:
            return SourceError.not_found(WHAT, self.url, app)
        return SourceError.status(WHAT, self.url, status, _status_message(exc))


def _status_message(exc: ApiException) -> str:
    """A Kubernetes `Status` body's message, else the HTTP reason."""
    try:
        body = json.loads(exc.body or "")
    except ValueError:
        body = None
    if isinstance(body, Mapping) and isinstance(body.get("message"), str):
        return str(body["message"])
    return str(exc.reason or "")


def _reason(exc: BaseException) -> str:
    """'Connection refused' out of urllib3's 'NewConnectionError(...: [Errno 111] ...)'."""
    known = os_reason(exc)
    if known is not None:
        return known
    if isinstance(exc, urllib3.exceptions.NewConnectionError):
        return "connection failed"
    if isinstance(exc, urllib3.exceptions.TimeoutError):
        return "no answer in time"
    if isinstance(exc, urllib3.exceptions.ProtocolError):
        return "the connection was closed"
    return str(exc).strip() or type(exc).__name__


async def _in_daemon_thread(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """`func(*args, **kwargs)` in a thread of its own that never holds the process up: a call
    given up at its deadline (a server trickling its answer) may read on, but `asyncio.run`
    and the interpreter do not wait for it as they wait for the default executor's threads."""
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[Any] = loop.create_future()

    def settle(ok: bool, value: Any) -> None:
        if not answer.done():
            if ok:
                answer.set_result(value)
            else:
                answer.set_exception(value)

    def work() -> None:
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits any more
                loop.call_soon_threadsafe(settle, False, exc)
        else:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(settle, True, result)

    threading.Thread(target=work, name="kube-call", daemon=True).start()
    return await answer
