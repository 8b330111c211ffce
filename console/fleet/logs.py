"""Pods' log lines from Argo CD's logs API, as the console reads them.

    GET /api/v1/applications/{name}/logs              every pod of the app (or `podName`)
    GET /api/v1/applications/{name}/pods/{pod}/logs   one pod
Query: `container`, `tailLines`, `follow`, `namespace`, `appNamespace`. The answer is NDJSON:
one `{"result": applicationLogEntry}` frame per line (`content`, `podName`, `timeStamp`,
`timeStampStr`; `last: true` ends a stream that does not follow) or `{"error":
runtimeStreamError}`. Pure: the HTTP side is ArgoCDSource.logs.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote

from console.fleet.parse import MalformedError, parse_time
from console.fleet.source import SourceError
from console.fleet.tree import ResourceRef

DEFAULT_TAIL = 500  # lines of each pod read before following, as `kubectl logs --tail`


@dataclass(frozen=True)
class LogLine:
    """One line a pod wrote; `at` is None when the server sent no (readable) time."""

    pod: str
    content: str
    at: datetime | None = None


@dataclass(frozen=True)
class LogQuery:
    """Argo CD's PodLogs query, as the console asks it and the embedded API answers it: one
    pod's lines (`pod`) or every pod's of the app, one container's (None: the server's default;
    the embedded platform's is every container), the last `tail_lines` of each pod (None: all),
    then with `follow` every new line."""

    pod: str | None = None
    namespace: str = ""  # the pod's namespace, when known
    container: str | None = None
    tail_lines: int | None = DEFAULT_TAIL
    follow: bool = True

    def path(self, app: str) -> str:
        base = f"/api/v1/applications/{quote(app, safe='')}"
        return f"{base}/pods/{quote(self.pod, safe='')}/logs" if self.pod else f"{base}/logs"

    def params(self, app_namespace: str = "") -> dict[str, str]:
        params = {"follow": "true" if self.follow else "false"}
        if self.tail_lines is not None:
            params["tailLines"] = str(self.tail_lines)
        if self.container:
            params["container"] = self.container
        if self.namespace:
            params["namespace"] = self.namespace
        if app_namespace:
            params["appNamespace"] = app_namespace
        return params


class End:
    """The frame that ends a stream that does not follow (`last: true`)."""


END = End()


def parse_frame(line: str, url: str) -> LogLine | End | None:
    """One NDJSON frame: a line, the end, or None (a frame to skip: an empty line). Raises
    SourceError for an error frame or a malformed one."""
    if not line.strip():
        return None
    try:
        frame = json.loads(line)
    except ValueError:
        raise SourceError.malformed(url, "a log frame is not JSON") from None
    if not isinstance(frame, Mapping):
        raise SourceError.malformed(url, "a log frame is not an object")
    error = frame.get("error")
    if isinstance(error, Mapping):  # grpc-gateway's runtimeStreamError ends the stream
        code = error.get("http_code")
        status = code if isinstance(code, int) else 500
        if status in (401, 403):
            raise SourceError.auth("Argo CD", url)
        raise SourceError.status("Argo CD", url, status, str(error.get("message") or ""))
    result = frame.get("result")
    if not isinstance(result, Mapping):
        raise SourceError.malformed(url, "result: expected an applicationLogEntry")
    if result.get("last") is True:
        return END
    content = result.get("content")
    if not isinstance(content, str):
        raise SourceError.malformed(url, "result.content: expected a string")
    return LogLine(str(result.get("podName") or ""), content, _time(result))


def _time(result: Mapping[str, Any]) -> datetime | None:
    for key in ("timeStampStr", "timeStamp"):
        value = result.get(key)
        if isinstance(value, str) and value:
            try:
                return parse_time(value)
            except MalformedError:
                continue
    return None


def containers_of(pod: Mapping[str, Any]) -> tuple[str, ...]:
    """The names of a live Pod's containers (init containers not included), in spec order."""
    spec = pod.get("spec")
    containers = spec.get("containers") if isinstance(spec, Mapping) else None
    return tuple(
        str(c["name"])
        for c in containers or []
        if isinstance(c, Mapping) and isinstance(c.get("name"), str)
    )


@runtime_checkable
class LogReader(Protocol):
    """What the console's logs and tree views read (ArgoCDSource offers it; the Kubernetes API
    source does not)."""

    def logs(self, name: str, query: LogQuery) -> AsyncIterator[LogLine]:
        """The lines, oldest first; with `query.follow`, then each new one until the server
        ends the stream. Raises SourceError."""
        ...

    async def resource_tree(self, name: str) -> dict[str, Any]: ...

    async def live_resource(self, name: str, ref: ResourceRef) -> dict[str, Any]: ...
