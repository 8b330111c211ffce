"""The embedded platform's API server, driven as its clients drive it: real HTTP on 127.0.0.1
(hypercorn in a background thread), httpx as Argo CD REST client, the official `kubernetes`
client through the kubeconfig the platform writes. The Applications are the deploy repo's own,
with realistic statuses; every Argo CD REST answer validates against Argo CD's swagger.json and
every Kubernetes object against the Application CRD (when ../shared is present)."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import json
import os
import re
import stat
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as hst
from kubernetes import client as kube_client
from kubernetes import config as kube_config
from kubernetes import watch as kube_watch
from kubernetes.client.exceptions import ApiException

from console.application import (
    HISTORY_LIMIT,
    ApplicationCondition,
    ApplicationStatus,
    ApplicationSummary,
    ComparedTo,
    HealthState,
    Operation,
    OperationInitiator,
    OperationState,
    ResourceResult,
    ResourceStatus,
    SyncOperation,
    SyncOperationResult,
    SyncStatus,
    add_history,
)
from console.local.argo.api import RunStore, create_api, parse_selector
from console.local.argo.appstate import ApplicationRecord, from_json, to_json
from console.local.argo.errors import InvalidArgumentError
from console.local.argo.inmemory import InMemorySource
from console.local.argo.kubeconfig import new_token, write_kubeconfig, write_token_file
from console.local.argo.requests import RefreshRequest, SyncRequest, WebhookDelivery
from console.local.state import State
from console.serving import PortInUseError, bind_socket, serve, socket_url

ROOT = Path(__file__).resolve().parents[2]
APPS = ROOT / "deploy-repo" / "argocd" / "apps"
ARGO = Path(__file__).resolve().parents[3] / "shared" / "reference" / "argo-cd"
NOW = datetime(2026, 8, 1, 12, 0, tzinfo=UTC)
VERSION = "v3.1.0+gitops-local"
APP_NAMES = ["backend-dev", "backend-prod", "frontend-dev", "frontend-prod", "gitops-guard"]
READ_TIMEOUT_S = 5.0  # every wait below is bounded by this per read

# --- schema validation ------------------------------------------------------------------------

_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
_FORMATS = jsonschema.FormatChecker(formats=())


@_FORMATS.checks("date-time")
def _rfc3339_utc(value: object) -> bool:
    # The exact form Kubernetes' metav1.Time marshals: whole seconds, UTC, "Z".
    return not isinstance(value, str) or bool(_TIME.match(value))


def _strict(schema: Any, definitions: dict[str, Any]) -> Any:
    """A copy of a swagger/OpenAPI schema where objects refuse unknown properties (the
    definitions never say so, but a field Argo CD does not have is a bug here), with swagger's
    `allOf` of object definitions merged into one object."""
    if isinstance(schema, list):
        return [_strict(s, definitions) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v, definitions) for k, v in schema.items()}
    if "allOf" in out:
        properties = dict(out.get("properties", {}))
        for part in out.pop("allOf"):
            ref = part.get("$ref", "")
            target = definitions[ref.rsplit("/", 1)[-1]] if ref else part
            properties.update(_strict(target.get("properties", {}), definitions))
        out["properties"] = properties
        out["type"] = "object"
    is_object = out.get("type") == "object" and isinstance(out.get("properties"), dict)
    if (
        is_object
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


class Schemas:
    """Argo CD's swagger definitions and the Application CRD's schema, as JSON schemas."""

    def __init__(self, root: Path) -> None:
        swagger = json.loads((root / "swagger.json").read_text())
        raw = swagger["definitions"]
        self.definitions = {name: _strict(d, raw) for name, d in raw.items()}
        crd = yaml.safe_load((root / "application-crd.yaml").read_text())
        version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1")
        self.crd = _strict(version["schema"]["openAPIV3Schema"], {})

    def check(self, instance: Any, definition: str) -> None:
        schema = {"definitions": self.definitions, "$ref": f"#/definitions/{definition}"}
        jsonschema.Draft4Validator(schema, format_checker=_FORMATS).validate(instance)

    def check_kube(self, instance: Any) -> None:
        jsonschema.Draft7Validator(self.crd, format_checker=_FORMATS).validate(instance)


class _NoSchemas(Schemas):
    def __init__(self) -> None:
        pass

    def check(self, instance: Any, definition: str) -> None:
        pass

    def check_kube(self, instance: Any) -> None:
        pass


SCHEMAS: Schemas = Schemas(ARGO) if (ARGO / "swagger.json").is_file() else _NoSchemas()


def test_reference_data_present() -> None:
    if isinstance(SCHEMAS, _NoSchemas):
        pytest.skip(
            f"{ARGO} is absent: answers are not validated against Argo CD's swagger.json "
            "and the Application CRD (../shared holds them)"
        )
    # The helper catches what it must: an unknown field and a wrongly typed one.
    good = {"metadata": {"name": "x"}, "status": {"sync": {"status": "Synced"}}}
    SCHEMAS.check(good, "v1alpha1Application")
    with pytest.raises(jsonschema.ValidationError):
        SCHEMAS.check({"metadata": {"name": "x", "nmae": "typo"}}, "v1alpha1Application")
    with pytest.raises(jsonschema.ValidationError):
        SCHEMAS.check({"status": {"history": [{"id": "1"}]}}, "v1alpha1Application")
    with pytest.raises(jsonschema.ValidationError):
        SCHEMAS.check({"status": {"reconciledAt": "2026-08-01 12:00"}}, "v1alpha1Application")


# --- the deploy repo's Applications with realistic statuses -----------------------------------


def _sha(*parts: object) -> str:
    return hashlib.sha1("/".join(map(str, parts)).encode()).hexdigest()  # noqa: S324


def manifests() -> list[dict[str, Any]]:
    return [yaml.safe_load(path.read_text()) for path in sorted(APPS.glob("*.yaml"))]


def _resource(
    group: str, kind: str, ns: str, name: str, health: HealthState | None
) -> ResourceStatus:
    return ResourceStatus(
        group=group,
        version="v1",
        kind=kind,
        namespace=ns,
        name=name,
        status="Synced",
        health_state=health,
    )


def status_for(manifest: dict[str, Any]) -> ApplicationStatus:
    name = manifest["metadata"]["name"]
    labels = manifest["metadata"].get("labels", {})
    spec = manifest["spec"]
    source, dest = spec["source"], spec["destination"]
    ns = dest["namespace"]
    service = labels.get("gitops.platform/service", "gitops-guard")
    revision = _sha(name, "head")
    image = f"{service}:sha-{revision[:7]}"
    resources = (
        _resource("", "ConfigMap", ns, f"{service}-config", None),
        _resource("", "Service", ns, service, HealthState(status="Healthy")),
        _resource("apps", "Deployment", ns, service, HealthState(status="Healthy")),
    )
    history: tuple[Any, ...] = ()
    for i in range(3):
        history = add_history(
            history,
            revision=_sha(name, i) if i < 2 else revision,
            deployed_at=NOW - timedelta(minutes=30 - 10 * i),
            deploy_started_at=NOW - timedelta(minutes=30 - 10 * i, seconds=20),
            source=source,
            initiated_by=OperationInitiator(automated=True),
        )
    operation = Operation(
        sync=SyncOperation(revision=revision, prune=True, sync_options=("CreateNamespace=true",)),
        initiated_by=OperationInitiator(automated=True),
        retry=spec["syncPolicy"]["retry"],
    )
    results = tuple(
        ResourceResult(
            group=r.group,
            version=r.version,
            kind=r.kind,
            namespace=r.namespace,
            name=r.name,
            status="Synced",
            message=f"{r.kind.lower()}/{r.name} configured",
            hook_phase="Running",
            sync_phase="Sync",
            images=(image,) if r.kind == "Deployment" else (),
        )
        for r in resources
    )
    op_state = OperationState(
        operation=operation,
        phase="Succeeded",
        started_at=NOW - timedelta(minutes=10, seconds=20),
        finished_at=NOW - timedelta(minutes=10),
        message="successfully synced (all tasks run)",
        sync_result=SyncOperationResult(revision=revision, resources=results, source=source),
    )
    status = ApplicationStatus(
        sync=SyncStatus(
            status="Synced",
            revision=revision,
            compared_to=ComparedTo(source=source, destination=dest),
        ),
        health=HealthState(status="Healthy", last_transition_time=NOW - timedelta(minutes=9)),
        history=history,
        operation_state=op_state,
        resources=resources,
        summary=ApplicationSummary(images=(image,)),
        reconciled_at=NOW - timedelta(seconds=30),
        observed_at=NOW - timedelta(seconds=30),
        source_type="Kustomize",
        controller_namespace="argocd",
    )
    if name == "frontend-prod":  # a rollout past its progress deadline, retries exhausted
        bad = f'Deployment "{service}" exceeded its progress deadline'
        degraded = resources[2].evolve(health_state=HealthState(status="Degraded", message=bad))
        a_minute_ago = NOW - timedelta(minutes=1)
        status = status.evolve(
            sync=status.sync.evolve(status="OutOfSync"),
            health=HealthState(status="Degraded", message=bad, last_transition_time=a_minute_ago),
            resources=(*resources[:2], degraded.evolve(status="OutOfSync")),
            operation_state=op_state.evolve(
                phase="Failed", message=bad, retry_count=2, sync_result=None
            ),
            conditions=(
                ApplicationCondition(
                    type="SyncError", message=bad, last_transition_time=a_minute_ago
                ),
            ),
        )
    elif name == "gitops-guard":  # a sync running while the last commit does not render
        status = status.evolve(
            sync=status.sync.evolve(status="Unknown"),
            health=HealthState(status="Progressing", message="Waiting for rollout to finish"),
            operation_state=op_state.evolve(phase="Running", finished_at=None, message=""),
            conditions=(
                ApplicationCondition(
                    type="ComparisonError",
                    message="Failed to load target state: kustomize build platform/guard failed",
                    last_transition_time=NOW,
                ),
            ),
        )
    return status


def records() -> list[ApplicationRecord]:
    return [ApplicationRecord(m, status_for(m)) for m in manifests()]


# --- the server ---------------------------------------------------------------------------------


@dataclass
class Platform:
    url: str
    token: str
    source: InMemorySource
    client: httpx.Client  # authenticated
    anon: httpx.Client
    stop: Callable[[], None]
    kubeconfig: Path
    token_file: Path


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    with _serve(tmp_path) as running:
        yield running


@contextlib.contextmanager
def _serve(tmp_path: Path, ci_runs: RunStore | None = None) -> Iterator[Platform]:
    """The API over the deploy repo's Applications, served on a free port in a thread."""
    source = InMemorySource(records(), clock=lambda: NOW)
    token = new_token()
    app = create_api(source, token, VERSION, keepalive_seconds=0.2, ci_runs=ci_runs)
    sock = bind_socket("127.0.0.1", 0)
    url = socket_url(sock)
    loop = asyncio.new_event_loop()
    shutdown = asyncio.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            loop.run_until_complete(serve(app, shutdown_event=shutdown, sock=sock))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, name="api-server", daemon=True)
    thread.start()
    stopped = threading.Event()

    def stop() -> None:
        if not stopped.is_set():
            stopped.set()
            loop.call_soon_threadsafe(shutdown.set)

    timeout = httpx.Timeout(READ_TIMEOUT_S)
    auth = {"Authorization": f"Bearer {token}"}
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", url, token)
    token_file = write_token_file(tmp_path / "token", token)
    with (
        httpx.Client(base_url=url, headers=auth, timeout=timeout) as authed,
        httpx.Client(base_url=url, timeout=timeout) as anon,
    ):
        yield Platform(url, token, source, authed, anon, stop, kubeconfig, token_file)
    stop()
    thread.join(timeout=15)
    assert not thread.is_alive(), "the API server did not stop"
    loop.close()
    assert not errors, errors


def _degrade(record: ApplicationRecord) -> ApplicationRecord:
    return replace(
        record,
        status=record.status.evolve(
            health=HealthState(status="Degraded", message="pods not ready")
        ),
    )


def _sse(response: httpx.Response) -> Iterator[dict[str, Any] | None]:
    """Server-sent events: each `data:` event parsed, None for a comment (keepalive)."""
    data: list[str] = []
    for line in response.iter_lines():
        if line.startswith(":"):
            yield None
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif line == "" and data:
            yield json.loads("\n".join(data))
            data = []


def _ndjson(response: httpx.Response) -> Iterator[dict[str, Any]]:
    for line in response.iter_lines():
        if line.strip():
            yield json.loads(line)


def _take(events: Iterator[dict[str, Any] | None], count: int) -> list[dict[str, Any]]:
    """The next `count` data events, skipping keepalives (each read bounded by the client's
    read timeout)."""
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + READ_TIMEOUT_S * 2
    while len(out) < count:
        assert time.monotonic() < deadline, f"only {len(out)} of {count} events arrived"
        event = next(events)
        if event is not None:
            out.append(event)
    return out


def _check_watch_event(frame: dict[str, Any]) -> tuple[str, str]:
    assert set(frame) == {"result"}
    SCHEMAS.check(frame["result"], "v1alpha1ApplicationWatchEvent")
    return frame["result"]["type"], frame["result"]["application"]["metadata"]["name"]


def _check_error(response: httpx.Response, status: int, code: int, message: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    SCHEMAS.check(body, "runtimeError")
    assert body["code"] == code
    assert body["message"] == message
    assert body["error"] == message


# --- Argo CD REST ---------------------------------------------------------------------------


def test_list_applications(platform: Platform) -> None:
    response = platform.client.get("/api/v1/applications")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    SCHEMAS.check(body, "v1alpha1ApplicationList")
    assert body["metadata"] == {"resourceVersion": str(platform.source.version())}
    assert [item["metadata"]["name"] for item in body["items"]] == APP_NAMES
    item = body["items"][0]
    assert "kind" not in item  # Argo CD's REST API leaves out TypeMeta
    meta = item["metadata"]
    assert meta["namespace"] == "argocd"
    assert meta["creationTimestamp"] == "2026-08-01T12:00:00Z"
    assert re.fullmatch(r"[0-9a-f-]{36}", meta["uid"])
    assert meta["resourceVersion"].isdigit()
    assert meta["labels"] == {"gitops.platform/service": "backend", "gitops.platform/env": "dev"}
    assert meta["finalizers"] == ["resources-finalizer.argocd.argoproj.io"]
    # The spec is the manifest from Git, untouched.
    assert item["spec"] == yaml.safe_load((APPS / "backend-dev.yaml").read_text())["spec"]
    status = item["status"]
    assert status["sync"]["status"] == "Synced"
    assert status["sync"]["comparedTo"]["destination"]["namespace"] == "dev"
    assert status["health"]["status"] == "Healthy"
    assert [h["id"] for h in status["history"]] == [0, 1, 2]
    assert status["history"][-1]["initiatedBy"] == {"automated": True}
    assert status["history"][-1]["deployedAt"] == "2026-08-01T11:50:00Z"
    assert status["operationState"]["phase"] == "Succeeded"
    assert status["operationState"]["syncResult"]["resources"][2]["kind"] == "Deployment"
    assert status["sourceType"] == "Kustomize"
    assert status["summary"]["images"] == [f"backend:sha-{status['sync']['revision'][:7]}"]
    assert "conditions" not in status  # omitempty
    degraded = body["items"][3]["status"]
    assert degraded["health"]["status"] == "Degraded"
    assert degraded["operationState"]["retryCount"] == 2
    assert degraded["conditions"][0]["type"] == "SyncError"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"name": "frontend-dev"}, ["frontend-dev"]),
        ({"name": "nope"}, []),
        ({"projects": "acme-control"}, ["gitops-guard"]),
        ([("projects", "acme-control"), ("projects", "acme-platform")], APP_NAMES),
        ({"project": "acme-platform"}, APP_NAMES[:4]),
        ({"selector": "gitops.platform/env=dev"}, ["backend-dev", "frontend-dev"]),
        (
            {"selector": "gitops.platform/env==prod,gitops.platform/service=frontend"},
            ["frontend-prod"],
        ),
        (
            {"selector": "gitops.platform/service!=backend"},
            ["frontend-dev", "frontend-prod", "gitops-guard"],
        ),
        ({"selector": "gitops.platform/env in (prod, staging)"}, ["backend-prod", "frontend-prod"]),
        (
            {"selector": "gitops.platform/env notin (prod)"},
            ["backend-dev", "frontend-dev", "gitops-guard"],
        ),
        ({"selector": "!gitops.platform/service"}, ["gitops-guard"]),
        ({"selector": "gitops.platform/component"}, ["gitops-guard"]),
        ({"repo": "git@github.com:acme/platform-deploy.git"}, APP_NAMES),
        ({"repo": "https://github.com/acme/other"}, []),
        ({"appNamespace": "argocd", "name": "backend-prod"}, ["backend-prod"]),
    ],
)
def test_list_filters(platform: Platform, params: Any, expected: list[str]) -> None:
    response = platform.client.get("/api/v1/applications", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    SCHEMAS.check(body, "v1alpha1ApplicationList")
    assert [item["metadata"]["name"] for item in body["items"]] == expected


def test_bad_selector(platform: Platform) -> None:
    response = platform.client.get("/api/v1/applications", params={"selector": "a in b"})
    _check_error(response, 400, 3, "unable to parse requirement: 'a in b'")
    with pytest.raises(InvalidArgumentError):
        parse_selector("=x")
    assert parse_selector("")({"a": "b"})


def test_get_application(platform: Platform) -> None:
    response = platform.client.get("/api/v1/applications/gitops-guard")
    assert response.status_code == 200
    body = response.json()
    SCHEMAS.check(body, "v1alpha1Application")
    assert body == to_json(platform.source.get("gitops-guard"))  # type: ignore[arg-type]
    assert body["status"]["operationState"]["phase"] == "Running"
    assert "finishedAt" not in body["status"]["operationState"]
    assert body["status"]["conditions"][0]["type"] == "ComparisonError"
    # Restricted to other projects, the application is not there.
    response = platform.client.get(
        "/api/v1/applications/gitops-guard", params={"projects": "acme-platform"}
    )
    _check_error(response, 404, 5, 'applications.argoproj.io "gitops-guard" not found')


def test_refresh_asks_the_source(platform: Platform) -> None:
    response = platform.client.get("/api/v1/applications/backend-dev", params={"refresh": "hard"})
    assert response.status_code == 200
    SCHEMAS.check(response.json(), "v1alpha1Application")
    response = platform.client.get(
        "/api/v1/applications", params={"refresh": "normal", "selector": "gitops.platform/env=prod"}
    )
    assert response.status_code == 200
    assert platform.source.take_requests() == [
        RefreshRequest("backend-dev", hard=True),
        RefreshRequest("backend-prod", hard=False),
        RefreshRequest("frontend-prod", hard=False),
    ]


def test_unknown_application_and_path(platform: Platform) -> None:
    for path in (
        "/api/v1/applications/nope",
        "/api/v1/applications/nope/resource-tree",
        "/api/v1/applications/nope/logs",
    ):
        _check_error(platform.client.get(path), 404, 5, 'applications.argoproj.io "nope" not found')
    response = platform.client.post("/api/v1/applications/nope/sync", json={})
    _check_error(response, 404, 5, 'applications.argoproj.io "nope" not found')
    _check_error(platform.client.get("/api/v1/nothing-here"), 404, 5, "Not Found")
    response = platform.client.delete("/api/v1/applications/backend-dev")
    _check_error(response, 405, 12, "Method Not Allowed")


def test_authentication(platform: Platform) -> None:
    _check_error(platform.anon.get("/api/v1/applications"), 401, 16, "no session information")
    wrong = {"Authorization": "Bearer not-the-token"}
    response = platform.anon.get("/api/v1/applications/backend-dev", headers=wrong)
    _check_error(response, 401, 16, "invalid session: unknown token")
    response = platform.anon.get("/api/v1/stream/applications", headers=wrong)
    _check_error(response, 401, 16, "invalid session: unknown token")
    _check_error(
        platform.anon.post("/api/v1/applications/backend-dev/sync"),
        401,
        16,
        "no session information",
    )
    # Argo CD's UI cookie works as well as the header.
    cookie = httpx.Client(
        base_url=platform.url, cookies={"argocd.token": platform.token}, timeout=READ_TIMEOUT_S
    )
    with cookie:
        assert cookie.get("/api/v1/applications/backend-dev").status_code == 200
    # /api/version answers anyone, with the details for a logged-in user only.
    anonymous = platform.anon.get("/api/version")
    assert anonymous.status_code == 200
    assert anonymous.json() == {"Version": VERSION}
    detailed = platform.client.get("/api/version").json()
    SCHEMAS.check(detailed, "versionVersionMessage")
    assert detailed["Version"] == VERSION
    assert {"BuildDate", "Platform", "Compiler"} <= set(detailed)


def test_sse_stream(platform: Platform) -> None:
    source = platform.source
    headers = {"Accept": "text/event-stream"}
    with platform.client.stream("GET", "/api/v1/stream/applications", headers=headers) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        events = _sse(r)
        initial = [_check_watch_event(e) for e in _take(events, 5)]
        assert initial == [("ADDED", name) for name in APP_NAMES]
        # One app changes; another is published again unchanged; then a last change, so that
        # whatever the stream sends in between is seen.
        changed = source.update("backend-dev", _degrade)
        unchanged = source.get("frontend-dev")
        assert unchanged is not None
        assert source.put(copy.deepcopy(unchanged)) is unchanged
        source.update("backend-dev", lambda record: record)  # no change either
        source.update("gitops-guard", _degrade)
        frames = _take(events, 2)
        assert [_check_watch_event(f) for f in frames] == [
            ("MODIFIED", "backend-dev"),
            ("MODIFIED", "gitops-guard"),
        ]
        app = frames[0]["result"]["application"]
        assert app["status"]["health"] == {"status": "Degraded", "message": "pods not ready"}
        assert app["metadata"]["resourceVersion"] == str(changed.resource_version)
        # Nothing else changed: what comes next is a keepalive comment (every 0.2 s here).
        assert next(events) is None


def test_ndjson_stream_filters_resume_and_delete(platform: Platform) -> None:
    source = platform.source
    with platform.client.stream(
        "GET", "/api/v1/stream/applications", params={"name": "backend-prod"}
    ) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/json")
        frames = _ndjson(r)
        assert _check_watch_event(next(frames)) == ("ADDED", "backend-prod")
        source.update("backend-dev", _degrade)  # filtered out
        source.update("backend-prod", _degrade)
        assert _check_watch_event(next(frames)) == ("MODIFIED", "backend-prod")

    # Resuming from a resourceVersion: no initial state, only what changed after it.
    version = source.version()
    source.update("frontend-dev", _degrade)
    deleted = source.delete("frontend-prod")
    assert deleted is not None
    with platform.client.stream(
        "GET", "/api/v1/stream/applications", params={"resourceVersion": str(version)}
    ) as r:
        frames = _ndjson(r)
        assert _check_watch_event(next(frames)) == ("MODIFIED", "frontend-dev")
        frame = next(frames)
        assert _check_watch_event(frame) == ("DELETED", "frontend-prod")
        assert frame["result"]["application"]["metadata"]["resourceVersion"] == str(
            deleted.resource_version
        )
        source.put(replace(deleted, status=ApplicationStatus()))
        assert _check_watch_event(next(frames)) == ("ADDED", "frontend-prod")

    response = platform.client.get("/api/v1/stream/applications", params={"resourceVersion": "x"})
    _check_error(response, 400, 3, "resourceVersion: 'x' is not an integer")


def test_stream_ends_when_the_server_stops(platform: Platform) -> None:
    with platform.client.stream("GET", "/api/v1/stream/applications") as r:
        frames = _ndjson(r)
        assert len([next(frames) for _ in APP_NAMES]) == 5
        platform.stop()
        assert list(frames) == []  # the stream ends instead of holding the shutdown


def test_sync(platform: Platform) -> None:
    body = {
        "revision": "main",
        "prune": True,
        "dryRun": False,
        "syncOptions": {"items": ["CreateNamespace=true"]},
        "strategy": {"apply": {"force": False}},
    }
    SCHEMAS.check(body, "applicationApplicationSyncRequest")
    response = platform.client.post("/api/v1/applications/backend-dev/sync", json=body)
    assert response.status_code == 200, response.text
    app = response.json()
    SCHEMAS.check(app, "v1alpha1Application")
    assert app["operation"] == {
        "sync": {"revision": "main", "prune": True, "syncOptions": ["CreateNamespace=true"]},
        "initiatedBy": {"username": "admin"},
        "retry": {"limit": 2, "backoff": {"duration": "5s", "factor": 2, "maxDuration": "3m"}},
    }
    assert platform.source.take_requests() == [
        SyncRequest("backend-dev", "main", True, False, "admin", ("CreateNamespace=true",))
    ]
    # The controller has not started it yet: a second sync is refused.
    response = platform.client.post("/api/v1/applications/backend-dev/sync", json={})
    _check_error(response, 400, 9, "another operation is already in progress")
    response = platform.client.post("/api/v1/applications/gitops-guard/sync", json={})
    _check_error(response, 400, 9, "another operation is already in progress")
    # Argo CD refuses another revision while automated sync is on (a dry run is allowed).
    response = platform.client.post(
        "/api/v1/applications/frontend-dev/sync", json={"revision": "abc123"}
    )
    _check_error(response, 400, 9, "Cannot sync to abc123: auto-sync currently set to main")
    response = platform.client.post(
        "/api/v1/applications/frontend-dev/sync", json={"revision": "abc123", "dryRun": True}
    )
    assert response.status_code == 200
    assert response.json()["operation"]["sync"] == {"revision": "abc123", "dryRun": True}
    response = platform.client.post(
        "/api/v1/applications/backend-prod/sync", json={"resources": [{"kind": "Service"}]}
    )
    _check_error(
        response, 400, 3, "sync with 'resources' is not supported by the embedded platform"
    )
    response = platform.client.post("/api/v1/applications/backend-prod/sync", content=b"[1]")
    _check_error(response, 400, 3, "the sync request body is not a JSON object")


def test_resource_tree(platform: Platform) -> None:
    response = platform.client.get("/api/v1/applications/backend-dev/resource-tree")
    assert response.status_code == 200
    tree = response.json()
    SCHEMAS.check(tree, "v1alpha1ApplicationTree")
    assert [(n.get("group", ""), n["kind"], n["name"]) for n in tree["nodes"]] == [
        ("", "ConfigMap", "backend-config"),
        ("", "Service", "backend"),
        ("apps", "Deployment", "backend"),
    ]
    pod = {
        "version": "v1",
        "kind": "Pod",
        "namespace": "dev",
        "name": "backend-5d8f7c9b4-x2x7q",
        "uid": "2b0d6c1e-0d0b-4c62-9c3c-2f0f2b9d1a11",
        "parentRefs": [
            {"group": "apps", "kind": "ReplicaSet", "namespace": "dev", "name": "backend-5d8f7c9b4"}
        ],
        "info": [{"name": "Status Reason", "value": "Running"}],
        "health": {"status": "Healthy"},
        "images": ["backend:sha-1234567"],
        "createdAt": "2026-08-01T11:59:00Z",
    }
    platform.source.set_resource_tree("backend-dev", {"nodes": [*tree["nodes"], pod]})
    tree = platform.client.get("/api/v1/applications/backend-dev/resource-tree").json()
    SCHEMAS.check(tree, "v1alpha1ApplicationTree")
    assert tree["nodes"][-1] == pod


def test_logs(platform: Platform) -> None:
    source = platform.source
    pod_a, pod_b = "backend-5d8f7c9b4-x2x7q", "backend-5d8f7c9b4-k9wq2"
    for i in range(5):
        source.append_log(
            "backend-dev",
            pod_a,
            f"GET /healthz 200 #{i}",
            container="backend",
            timestamp=NOW + timedelta(seconds=i),
        )
    source.append_log("backend-dev", pod_b, "listening on :8080", container="backend")

    def lines(path: str, **params: Any) -> list[dict[str, Any]]:
        response = platform.client.get(path, params=params)
        assert response.status_code == 200, response.text
        entries = [json.loads(line) for line in response.text.splitlines()]
        for entry in entries:
            assert set(entry) == {"result"}
            SCHEMAS.check(entry["result"], "applicationLogEntry")
        assert entries[-1]["result"]["last"] is True
        return [e["result"] for e in entries[:-1]]

    tail = lines("/api/v1/applications/backend-dev/logs", podName=pod_a, tailLines=2)
    assert [e["content"] for e in tail] == ["GET /healthz 200 #3", "GET /healthz 200 #4"]
    assert tail[0]["podName"] == pod_a
    assert tail[0]["timeStamp"] == "2026-08-01T12:00:03Z"
    other = lines(f"/api/v1/applications/backend-dev/pods/{pod_b}/logs", container="backend")
    assert [e["content"] for e in other] == ["listening on :8080"]
    everything = lines("/api/v1/applications/backend-dev/logs")
    assert len(everything) == 6
    assert [
        e["content"] for e in lines("/api/v1/applications/backend-dev/logs", filter="!healthz")
    ] == ["listening on :8080"]
    response = platform.client.get("/api/v1/applications/backend-dev/pods/nope/logs")
    _check_error(response, 404, 5, 'pods "nope" not found')

    params = {"podName": pod_a, "tailLines": "1", "follow": "true"}
    with platform.client.stream("GET", "/api/v1/applications/backend-dev/logs", params=params) as r:
        entries = _ndjson(r)
        assert next(entries)["result"]["content"] == "GET /healthz 200 #4"
        source.append_log("backend-dev", pod_a, "GET /api/orders 200", container="backend")
        assert next(entries)["result"]["content"] == "GET /api/orders 200"


# --- CI runs (the platform's own API) ------------------------------------------------------------

APPS_REPO = "platform-apps"  # as ci.repo_name records it
RUN_KEYS = {
    "id",
    "repo",
    "commit",
    "stage",
    "result",
    "startedAt",
    "durationSeconds",
    "logPath",
}


@dataclass
class CI:
    platform: Platform
    ids: dict[str, int]  # test, build (log file missing), promote (no log), other (running)
    test_log: Path
    first: str  # the commit of test, build and promote
    second: str


@pytest.fixture
def ci(tmp_path: Path) -> Iterator[CI]:
    state = State(tmp_path / "state.db")
    first, second = _sha("apps", 1), _sha("apps", 2)
    test_log = tmp_path / "ci" / first / "test.log"
    test_log.parent.mkdir(parents=True)
    test_log.write_text("$ uv run pytest\n3 passed in 0.42s\n", encoding="utf-8")
    minute = timedelta(minutes=1)
    ids = {
        "test": state.record_run(
            APPS_REPO,
            first,
            "test",
            "succeeded",
            started_at=NOW,
            duration_s=12.5,
            log_path=test_log,
        ).id,
        "build": state.record_run(
            APPS_REPO,
            first,
            "build",
            "failed",
            started_at=NOW + minute,
            duration_s=3.25,
            log_path=test_log.with_name("build.log"),
        ).id,
        "promote": state.record_run(
            APPS_REPO, first, "promote", "skipped", started_at=NOW + 2 * minute, duration_s=0.0
        ).id,
        "other": state.record_run("other-apps", second, "test", started_at=NOW).id,
    }
    try:
        with _serve(tmp_path, ci_runs=state) as running:
            yield CI(running, ids, test_log, first, second)
    finally:
        state.close()


def test_ci_runs(ci: CI) -> None:
    client = ci.platform.client

    def items(**params: Any) -> list[dict[str, Any]]:
        response = client.get("/api/ci/runs", params=params)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/json")
        body = response.json()
        assert set(body) == {"items"}
        for item in body["items"]:
            assert set(item) == RUN_KEYS
        return list(body["items"])

    everything = items()
    assert [i["id"] for i in everything] == [
        ci.ids["other"],
        ci.ids["promote"],
        ci.ids["build"],
        ci.ids["test"],
    ]
    assert everything[-1] == {
        "id": ci.ids["test"],
        "repo": APPS_REPO,
        "commit": ci.first,
        "stage": "test",
        "result": "succeeded",
        "startedAt": "2026-08-01T12:00:00Z",
        "durationSeconds": 12.5,
        "logPath": str(ci.test_log),
    }
    running = everything[0]
    assert (running["result"], running["durationSeconds"], running["logPath"]) == (
        "running",
        None,
        None,
    )
    assert [i["stage"] for i in items(repo=APPS_REPO)] == ["promote", "build", "test"]
    assert [i["id"] for i in items(commit=ci.second)] == [ci.ids["other"]]
    assert [i["stage"] for i in items(repo=APPS_REPO, commit=ci.first, limit=2)] == [
        "promote",
        "build",
    ]
    assert items(repo=APPS_REPO, commit=ci.second) == []
    _check_error(
        client.get("/api/ci/runs", params={"limit": 0}),
        400,
        3,
        "limit must be between 1 and 1000, got 0",
    )
    _check_error(
        client.get("/api/ci/runs", params={"limit": "ten"}),
        400,
        3,
        "limit: 'ten' is not an integer",
    )


def test_ci_run_log(ci: CI) -> None:
    client = ci.platform.client
    response = client.get(f"/api/ci/runs/{ci.ids['test']}/log")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == ci.test_log.read_text(encoding="utf-8")
    for stage in ("build", "promote"):  # a log file that is gone, and no log at all
        run_id = ci.ids[stage]
        _check_error(
            client.get(f"/api/ci/runs/{run_id}/log"), 404, 5, f"CI run {run_id} has no log"
        )
    _check_error(client.get("/api/ci/runs/999/log"), 404, 5, "CI run 999 not found")
    _check_error(client.get("/api/ci/runs/latest/log"), 404, 5, "Not Found")
    for path in ("/api/ci/runs", f"/api/ci/runs/{ci.ids['test']}/log"):
        _check_error(ci.platform.anon.get(path), 401, 16, "no session information")


def test_ci_runs_need_a_store(platform: Platform) -> None:
    for path in ("/api/ci/runs", "/api/ci/runs/1/log"):
        _check_error(platform.client.get(path), 501, 12, "CI runs are not recorded by this server")


def _fixture(name: str) -> bytes:
    path = ARGO / "testdata" / name
    if not path.is_file():
        pytest.skip(f"{path} is absent (../shared holds Argo CD's GitHub webhook fixtures)")
    return path.read_bytes()


def test_webhook(platform: Platform) -> None:
    body = _fixture("github-commit-event.json")
    headers = {"X-GitHub-Event": "push", "Content-Type": "application/json"}
    started = time.perf_counter()
    response = platform.anon.post("/api/webhook", content=body, headers=headers)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.text
    assert elapsed < 0.5  # queued, not processed: the Git host's hook has a 2 s budget
    (delivery,) = platform.source.take_requests()
    assert isinstance(delivery, WebhookDelivery)
    assert delivery.body == body
    assert delivery.header("x-github-event") == "push"

    ping = platform.anon.post(
        "/api/webhook",
        content=_fixture("github-ping-event.json"),
        headers={"X-GitHub-Event": "ping", "Content-Type": "application/json"},
    )
    assert ping.status_code == 200
    assert platform.source.take_requests() == []  # a ping needs no processing

    issue = platform.anon.post("/api/webhook", content=b"{}", headers={"X-GitHub-Event": "issues"})
    assert issue.status_code == 400
    assert "unsupported GitHub event 'issues'" in issue.text
    assert platform.anon.post("/api/webhook", content=b"{}").status_code == 400
    assert platform.source.take_requests() == []


def test_webhook_queue_full(platform: Platform) -> None:
    headers = {"X-GitHub-Event": "push", "Content-Type": "application/json"}
    body = _fixture("github-commit-event.json")
    platform.source._max_pending = 1
    assert platform.anon.post("/api/webhook", content=body, headers=headers).status_code == 200
    full = platform.anon.post("/api/webhook", content=body, headers=headers)
    assert full.status_code == 503
    assert full.text == "Queue is full, discarding webhook payload"


# --- the Kubernetes API, read with the official client --------------------------------------


def _kube(platform: Platform, kubeconfig: Path | None = None) -> kube_client.ApiClient:
    configuration = kube_client.Configuration()
    kube_config.load_kube_config(
        config_file=str(kubeconfig or platform.kubeconfig),
        context="gitops-local",
        client_configuration=configuration,
    )
    return kube_client.ApiClient(configuration)


GROUP, VERSION_, PLURAL = "argoproj.io", "v1alpha1", "applications"


def test_kubernetes_client_reads_the_applications(platform: Platform) -> None:
    with _kube(platform) as api_client:
        api = kube_client.CustomObjectsApi(api_client)
        listed = api.list_namespaced_custom_object(GROUP, VERSION_, "argocd", PLURAL)
        assert listed["kind"] == "ApplicationList"
        assert [item["metadata"]["name"] for item in listed["items"]] == APP_NAMES
        rest = platform.client.get("/api/v1/applications").json()["items"]
        for item, argo in zip(listed["items"], rest, strict=True):
            SCHEMAS.check_kube(item)
            assert item["apiVersion"] == "argoproj.io/v1alpha1"
            assert item["kind"] == "Application"
            # The same Application the Argo CD API serves.
            assert {k: v for k, v in item.items() if k not in ("apiVersion", "kind")} == argo

        app = api.get_namespaced_custom_object(GROUP, VERSION_, "argocd", PLURAL, "backend-dev")
        SCHEMAS.check_kube(app)
        assert app["status"]["sync"]["status"] == "Synced"

        every = api.list_cluster_custom_object(GROUP, VERSION_, PLURAL)
        assert len(every["items"]) == 5
        prod = api.list_namespaced_custom_object(
            GROUP, VERSION_, "argocd", PLURAL, label_selector="gitops.platform/env=prod"
        )
        assert [i["metadata"]["name"] for i in prod["items"]] == ["backend-prod", "frontend-prod"]
        one = api.list_namespaced_custom_object(
            GROUP, VERSION_, "argocd", PLURAL, field_selector="metadata.name=gitops-guard"
        )
        assert [i["metadata"]["name"] for i in one["items"]] == ["gitops-guard"]
        other_ns = api.list_namespaced_custom_object(GROUP, VERSION_, "default", PLURAL)
        assert other_ns["items"] == []

        with pytest.raises(ApiException) as missing:
            api.get_namespaced_custom_object(GROUP, VERSION_, "argocd", PLURAL, "nope")
        assert missing.value.status == 404
        status = json.loads(missing.value.body)
        assert status["kind"] == "Status"
        assert status["reason"] == "NotFound"
        assert status["message"] == 'applications.argoproj.io "nope" not found'
        assert status["details"] == {"name": "nope", "group": "argoproj.io", "kind": "applications"}

        # Discovery, as kubectl and the clients do it.
        groups = kube_client.ApisApi(api_client).get_api_versions()
        assert [g.name for g in groups.groups] == ["argoproj.io"]
        assert kube_client.CoreApi(api_client).get_api_versions().versions == ["v1"]
        resources = api.get_api_resources(GROUP, VERSION_)
        assert [(r.name, r.kind, r.namespaced) for r in resources.resources] == [
            ("applications", "Application", True)
        ]
        assert kube_client.VersionApi(api_client).get_code().major == "1"


def test_kubernetes_watch(platform: Platform) -> None:
    with _kube(platform) as api_client:
        api = kube_client.CustomObjectsApi(api_client)
        listed = api.list_namespaced_custom_object(GROUP, VERSION_, "argocd", PLURAL)
        since = listed["metadata"]["resourceVersion"]
        platform.source.update("frontend-prod", _degrade)
        w = kube_watch.Watch()
        events = w.stream(
            api.list_namespaced_custom_object,
            GROUP,
            VERSION_,
            "argocd",
            PLURAL,
            resource_version=since,
            timeout_seconds=10,
            _request_timeout=READ_TIMEOUT_S * 2,
        )
        event = next(events)
        w.stop()
        events.close()
        assert event["type"] == "MODIFIED"
        assert event["object"]["metadata"]["name"] == "frontend-prod"
        assert event["object"]["status"]["health"]["status"] == "Degraded"
        SCHEMAS.check_kube(event["object"])

        # Without a resourceVersion, a watch starts with the current state.
        w = kube_watch.Watch()
        events = w.stream(
            api.list_namespaced_custom_object,
            GROUP,
            VERSION_,
            "argocd",
            PLURAL,
            label_selector="gitops.platform/service=frontend",
            timeout_seconds=10,
            _request_timeout=READ_TIMEOUT_S * 2,
        )
        first = [next(events), next(events)]
        w.stop()
        events.close()
        assert [(e["type"], e["object"]["metadata"]["name"]) for e in first] == [
            ("ADDED", "frontend-dev"),
            ("ADDED", "frontend-prod"),
        ]

        # timeoutSeconds ends the watch on the server's side.
        started = time.monotonic()
        quiet = list(
            kube_watch.Watch().stream(
                api.list_namespaced_custom_object,
                GROUP,
                VERSION_,
                "argocd",
                PLURAL,
                resource_version=str(platform.source.version()),
                timeout_seconds=1,
                _request_timeout=READ_TIMEOUT_S,
            )
        )
        assert quiet == []
        assert time.monotonic() - started < READ_TIMEOUT_S


def test_kubernetes_unauthorized(platform: Platform, tmp_path: Path) -> None:
    wrong = write_kubeconfig(tmp_path / "wrong", platform.url, "not-the-token")
    with _kube(platform, wrong) as api_client:
        api = kube_client.CustomObjectsApi(api_client)
        with pytest.raises(ApiException) as denied:
            api.list_namespaced_custom_object(GROUP, VERSION_, "argocd", PLURAL)
    assert denied.value.status == 401
    status = json.loads(denied.value.body)
    assert (status["kind"], status["reason"], status["code"]) == ("Status", "Unauthorized", 401)
    response = platform.anon.get("/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/x")
    assert response.status_code == 401
    assert response.json()["reason"] == "Unauthorized"
    unknown = platform.client.get("/apis/apps/v1/deployments")
    assert unknown.status_code == 404
    assert unknown.json()["kind"] == "Status"


# --- credentials --------------------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_token_file_and_kubeconfig_are_private(platform: Platform, tmp_path: Path) -> None:
    assert _mode(platform.token_file) == 0o600
    assert platform.token_file.read_text().strip() == platform.token
    assert _mode(platform.kubeconfig) == 0o600
    with pytest.raises(FileExistsError):
        write_token_file(platform.token_file, new_token())
    old_umask = os.umask(0)
    try:
        path = write_token_file(tmp_path / "t2", new_token())
        config = write_kubeconfig(tmp_path / "k2", platform.url, new_token())
    finally:
        os.umask(old_umask)
    assert _mode(path) == 0o600
    assert _mode(config) == 0o600
    assert new_token() != new_token()
    assert len(new_token()) >= 43


def test_port_in_use_is_a_clear_error() -> None:
    holder = bind_socket("127.0.0.1", 0)
    try:
        port = holder.getsockname()[1]
        with pytest.raises(PortInUseError, match=f"127.0.0.1:{port}.*already in use"):
            bind_socket("127.0.0.1", port)
    finally:
        holder.close()


# --- the read model -----------------------------------------------------------------------------


def test_json_round_trip() -> None:
    source = InMemorySource(records(), clock=lambda: NOW)
    for record in source.list():
        rendered = to_json(record)
        SCHEMAS.check(rendered, "v1alpha1Application")
        assert from_json(rendered) == record
        assert from_json(to_json(record, type_meta=True)) == record
        assert json.loads(json.dumps(rendered)) == rendered
    naive = replace(
        source.list()[0],
        status=ApplicationStatus(reconciled_at=datetime(2026, 1, 1)),
    )
    with pytest.raises(ValueError, match="naive datetime"):
        to_json(naive)


@given(hst.lists(hst.booleans(), min_size=1, max_size=30))
def test_history_keeps_the_last_ten_syncs_with_increasing_ids(outcomes: list[bool]) -> None:
    """Only successful syncs make history (the controller adds one per success): any run of
    outcomes leaves the last ten, their ids increasing by one from the first sync's 0."""
    history: tuple[Any, ...] = ()
    for n, ok in enumerate(outcomes):
        if ok:
            history = add_history(history, revision=f"{n:040d}", deployed_at=NOW)
    assert len(history) == min(HISTORY_LIMIT, sum(outcomes))
    ids = [entry.id for entry in history]
    assert ids == list(range(sum(outcomes) - len(ids), sum(outcomes)))


def test_history_keeps_ten_entries_with_increasing_ids() -> None:
    history: tuple[Any, ...] = ()
    for i in range(12):
        history = add_history(history, revision=f"r{i}", deployed_at=NOW)
    assert len(history) == 10
    assert [h.id for h in history] == list(range(2, 12))
    assert history[-1].revision == "r11"


def test_source_versions_and_generations() -> None:
    source = InMemorySource(clock=lambda: NOW)
    (manifest, *_) = manifests()
    first = source.put(ApplicationRecord(manifest))
    assert (first.resource_version, first.generation, source.version()) == (1, 1, 1)
    assert first.uid
    assert source.put(ApplicationRecord(copy.deepcopy(manifest))) is first  # unchanged
    assert source.version() == 1
    relabelled = copy.deepcopy(manifest)
    relabelled["metadata"]["labels"]["team"] = "payments"
    second = source.put(ApplicationRecord(relabelled))
    assert (second.resource_version, second.generation, second.uid) == (2, 1, first.uid)
    third = source.update(first.name, _degrade)  # a status change: a new generation
    assert (third.resource_version, third.generation) == (3, 2)
    with pytest.raises(ValueError, match="kind"):
        ApplicationRecord({**manifest, "kind": "Deployment"})


def test_source_watch_coalesces_and_orders() -> None:
    async def scenario() -> list[tuple[str, str, int]]:
        source = InMemorySource(records(), clock=lambda: NOW)
        start = source.version()
        source.update("backend-dev", _degrade)
        gone = source.delete("frontend-dev")
        assert gone is not None
        source.put(replace(gone, status=ApplicationStatus()))  # back again
        source.update("backend-dev", lambda r: replace(r, status=ApplicationStatus()))
        seen: list[tuple[str, str, int]] = []
        watch = source.watch(start)
        async for kind, record in watch:
            seen.append((kind, record.name, record.resource_version))
            if len(seen) == 3:
                break
        await watch.aclose()
        # An app created after `since` is ADDED, whatever happened to it since.
        late = [(k, r.name) async for k, r in _first(source.watch(start + 1), 3)]
        assert late == [
            ("DELETED", "frontend-dev"),
            ("ADDED", "frontend-dev"),
            ("MODIFIED", "backend-dev"),
        ]
        return seen

    seen = asyncio.run(scenario())
    assert [(kind, name) for kind, name, _ in seen] == [
        ("DELETED", "frontend-dev"),
        ("ADDED", "frontend-dev"),
        ("MODIFIED", "backend-dev"),  # two changes, one event with the latest state
    ]
    assert [rv for _, _, rv in seen] == sorted(rv for _, _, rv in seen)


async def _first(events: Any, count: int) -> Any:
    taken = 0
    async for event in events:
        yield event
        taken += 1
        if taken == count:
            break
    await events.aclose()
