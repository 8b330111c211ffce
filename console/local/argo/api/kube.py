"""The Kubernetes API for `argoproj.io/v1alpha1` Applications (what the official `kubernetes`
client and kubectl call): discovery, list, watch and get."""

from __future__ import annotations

import platform
import sys
import time
from collections.abc import AsyncIterator

from quart import Blueprint, Response, request

from console.application import API_VERSION, format_time
from console.local.argo.api.common import (
    GROUP,
    GROUP_VERSION,
    PLURAL,
    current_settings,
    int_arg,
    json_response,
    json_text_response,
    list_text,
    stream_response,
    ticking,
)
from console.local.argo.api.selectors import parse_field_selector, parse_selector, sorted_records
from console.local.argo.appstate import ApplicationRecord, dumps, json_text
from console.local.argo.errors import ApplicationNotFoundError, InvalidArgumentError

blueprint = Blueprint("kube", __name__)


@blueprint.get("/version")
async def kube_version() -> Response:
    settings = current_settings()
    # Kubernetes' version.Info (every field is required by the official clients' models).
    return json_response(
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


@blueprint.get("/api")
async def kube_core_versions() -> Response:
    host = request.headers.get("Host", "127.0.0.1")
    return json_response(
        {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}],
        }
    )


@blueprint.get("/api/v1")
async def kube_core_resources() -> Response:
    return json_response({"kind": "APIResourceList", "groupVersion": "v1", "resources": []})


_GROUP_VERSION = {"groupVersion": API_VERSION, "version": GROUP_VERSION}
_GROUP = {
    "name": GROUP,
    "versions": [_GROUP_VERSION],
    "preferredVersion": _GROUP_VERSION,
}


@blueprint.get("/apis")
async def kube_groups() -> Response:
    return json_response({"kind": "APIGroupList", "apiVersion": "v1", "groups": [_GROUP]})


@blueprint.get("/apis/argoproj.io")
async def kube_group() -> Response:
    return json_response({"kind": "APIGroup", "apiVersion": "v1", **_GROUP})


@blueprint.get("/apis/argoproj.io/v1alpha1")
async def kube_resources() -> Response:
    return json_response(
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


@blueprint.get("/apis/argoproj.io/v1alpha1/applications")
async def kube_list_all() -> Response:
    return await _kube_list(None)


@blueprint.get("/apis/argoproj.io/v1alpha1/namespaces/<namespace>/applications")
async def kube_list(namespace: str) -> Response:
    return await _kube_list(namespace)


@blueprint.get("/apis/argoproj.io/v1alpha1/namespaces/<namespace>/applications/<name>")
async def kube_get(namespace: str, name: str) -> Response:
    settings = current_settings()
    source = settings.source
    record = source.get(name)
    if record is None or record.namespace != namespace:
        raise ApplicationNotFoundError(name)
    return json_text_response(json_text(record, type_meta=True))


async def _kube_list(namespace: str | None) -> Response:
    settings = current_settings()
    source = settings.source
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
    items = sorted_records(r for r in source.list() if matches(r))
    if request.args.get("watch", "").lower() not in ("true", "1"):
        head = {
            "apiVersion": API_VERSION,
            "kind": "ApplicationList",
            "metadata": {"resourceVersion": str(version)},
        }
        return json_text_response(list_text(head, items, type_meta=True))
    rv = request.args.get("resourceVersion", "")
    if rv and not rv.isdigit():
        raise InvalidArgumentError(f"invalid resourceVersion {rv!r}")
    # Kubernetes: no resourceVersion (or "0") starts with the current state as ADDED.
    initial = items if rv in ("", "0") else []
    since = version if rv in ("", "0") else int(rv)
    timeout_s = int_arg("timeoutSeconds")
    deadline = time.monotonic() + timeout_s if timeout_s else None
    events = source.watch(since)

    def frame(kind: str, record: ApplicationRecord) -> bytes:
        obj = json_text(record, type_meta=True)
        return f'{{"type":{dumps(kind)},"object":{obj}}}\n'.encode()

    async def body() -> AsyncIterator[bytes]:
        for record in initial:
            yield frame("ADDED", record)
        async for item in ticking(events, settings.closing, None, deadline):
            if item is not None and matches(item[1]):
                yield frame(*item)

    return stream_response(body(), "application/json")
