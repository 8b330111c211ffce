"""Argo CD's REST API (conforming to Argo CD's swagger.json) over the app's
`ApplicationSource`: applications (list, get, stream, sync, resource tree, manifests, logs), the
version,
Git hosts' push webhooks, and the platform's health check."""

from __future__ import annotations

import json
import platform
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from quart import Blueprint, Response, request

from console.application import Json, format_time, format_time_nano
from console.fleet.logs import LogQuery
from console.local.argo.api.common import (
    authenticated,
    bool_arg,
    current_settings,
    int_arg,
    json_response,
    json_text_response,
    list_text,
    refresh_type,
    stream_response,
    text_response,
    ticking,
)
from console.local.argo.api.selectors import Query, sorted_records
from console.local.argo.appstate import (
    ApplicationRecord,
    ApplicationSource,
    EventType,
    dumps,
    json_text,
)
from console.local.argo.errors import (
    ApplicationNotFoundError,
    FailedPreconditionError,
    InvalidArgumentError,
    UnavailableError,
)
from console.local.argo.requests import SyncRequest
from console.local.git.webhook import WebhookError, parse_push, verify_signature

blueprint = Blueprint("argocd", __name__)


def _app_or_404(name: str) -> ApplicationRecord:
    record = current_settings().source.get(name)
    if record is None:
        raise ApplicationNotFoundError(name)
    return record


async def _listed(source: ApplicationSource, query: Query) -> tuple[int, list[ApplicationRecord]]:
    """The store's version and the records `query` selects, in Argo CD's order; every one of
    them asked to refresh first when the request says `?refresh=`."""
    hard = refresh_type()
    if hard is not None:
        for record in source.list():
            if query.matches(record):
                await source.refresh(record.name, hard)
    return source.version(), sorted_records(r for r in source.list() if query.matches(r))


@blueprint.get("/api/v1/applications")
async def list_applications() -> Response:
    settings = current_settings()
    source = settings.source
    query = Query.from_request()
    version, items = await _listed(source, query)
    return json_text_response(list_text({"metadata": {"resourceVersion": str(version)}}, items))


@blueprint.get("/api/v1/applications/<name>")
async def get_application(name: str) -> Response:
    settings = current_settings()
    source = settings.source
    query = Query.from_request()
    record = _app_or_404(name)
    if query.projects and record.project not in query.projects:
        raise ApplicationNotFoundError(name)
    hard = refresh_type()
    if hard is not None:
        await source.refresh(name, hard)
        record = _app_or_404(name)
    return json_text_response(json_text(record))


@blueprint.get("/api/v1/stream/applications")
async def watch_applications() -> Response:
    settings = current_settings()
    source = settings.source
    query = Query.from_request()
    since_arg = int_arg("resourceVersion")
    sse = "text/event-stream" in request.headers.get("Accept", "")
    version, snapshot = await _listed(source, query)
    # As Argo CD: the current state as ADDED unless resuming from a resourceVersion (a
    # watch of one named application always gets it).
    initial = snapshot if since_arg is None or query.name else []
    since = version if since_arg is None else since_arg
    events = source.watch(since)

    def frame(kind: EventType, record: ApplicationRecord) -> bytes:
        envelope = f'{{"result":{{"type":{dumps(kind)},"application":{json_text(record)}}}}}'
        return (f"data: {envelope}\n\n" if sse else envelope + "\n").encode()

    async def body() -> AsyncIterator[bytes]:
        sent: dict[str, int] = {}
        for record in initial:
            sent[record.name] = record.resource_version
            yield frame("ADDED", record)
        keepalive = settings.keepalive_s if sse else None
        async for item in ticking(events, settings.closing, keepalive):
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

    return stream_response(body(), "text/event-stream" if sse else "application/json")


@blueprint.post("/api/v1/applications/<name>/sync")
async def sync_application(name: str) -> Response:
    settings = current_settings()
    source = settings.source
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
    wanted = SyncRequest(name, revision or None, prune, dry_run, settings.username, tuple(options))
    synced = await source.sync(wanted)
    return json_text_response(json_text(synced))


@blueprint.get("/api/v1/applications/<name>/resource-tree")
async def resource_tree(name: str) -> Response:
    settings = current_settings()
    source = settings.source
    return json_response(source.resource_tree(name))


@blueprint.get("/api/v1/applications/<name>/resource")
async def live_resource(name: str) -> Response:
    """One live object of the app (Argo CD's ApplicationService.GetResource): `manifest` is
    its JSON as a string. Here: the app's pods."""
    source = current_settings().source
    kind = request.args.get("kind", "")
    resource_name = request.args.get("resourceName", "")
    if not kind or not resource_name:
        raise InvalidArgumentError("kind and resourceName are required")
    live = source.live_object(name, kind, request.args.get("namespace", ""), resource_name)
    return json_response({"manifest": json.dumps(live, separators=(",", ":"))})


@blueprint.get("/api/v1/applications/<name>/manifests")
async def manifests(name: str) -> Response:
    """The objects the app's source renders to at `?revision=` (default: its target revision),
    as Argo CD's ApplicationService.GetManifests answers: a `repositoryManifestResponse` whose
    `manifests` are each object's JSON as a string (Go's encoding: keys sorted)."""
    source = current_settings().source
    query = Query.from_request()
    record = _app_or_404(name)
    if query.projects and record.project not in query.projects:
        raise ApplicationNotFoundError(name)
    rendered = await source.manifests(name, request.args.get("revision") or None)
    destination = record.spec.get("destination") or {}
    body: Json = {
        "manifests": [
            json.dumps(obj, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
            for obj in rendered.objects
        ],
        "namespace": str(destination.get("namespace") or ""),
        "server": str(destination.get("server") or ""),
        "revision": rendered.revision,
        "sourceType": rendered.source_type,
    }
    return json_response(body)


async def _logs(name: str, pod: str | None) -> Response:
    settings = current_settings()
    source = settings.source
    container = request.args.get("container") or None
    tail = int_arg("tailLines")
    since_s = int_arg("sinceSeconds")
    follow = bool_arg("follow")
    needle = request.args.get("filter", "")
    match_case = bool_arg("matchCase")
    negate = needle.startswith("!")
    needle = needle.removeprefix("!")
    query = LogQuery(pod, container=container, tail_lines=tail, follow=follow)
    entries = source.pod_logs(name, query)
    cutoff = datetime.now(UTC).timestamp() - since_s if since_s else None

    def keep(content: str) -> bool:
        if not needle:
            return True
        found = needle in content if match_case else needle.lower() in content.lower()
        return found != negate

    async def body() -> AsyncIterator[bytes]:
        async for entry in ticking(entries, settings.closing):
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
            yield (dumps({"result": result}) + "\n").encode()
        if not follow:
            now = datetime.now(UTC)
            last = {
                "content": "",
                "timeStamp": format_time(now),
                "timeStampStr": format_time_nano(now),
                "last": True,
            }
            yield (dumps({"result": last}) + "\n").encode()

    return stream_response(body(), "application/json")


@blueprint.get("/api/v1/applications/<name>/logs")
async def application_logs(name: str) -> Response:
    return await _logs(name, request.args.get("podName") or None)


@blueprint.get("/api/v1/applications/<name>/pods/<pod>/logs")
async def pod_logs(name: str, pod: str) -> Response:
    return await _logs(name, pod)


@blueprint.get("/api/version")
async def argocd_version() -> Response:
    settings = current_settings()
    message: Json = {"Version": settings.version}
    if authenticated(settings):  # as Argo CD: details for a logged-in user only
        message.update(
            {
                "BuildDate": format_time(settings.started_at),
                "Compiler": sys.implementation.name,
                "Platform": f"{sys.platform}/{platform.machine().lower()}",
                "ExtraBuildInfo": "gitops-local embedded platform",
            }
        )
    return json_response(message)


@blueprint.post("/api/webhook")
async def webhook() -> Response:
    settings = current_settings()
    source = settings.source
    body = await request.get_data(True, False, False)
    headers = {key: value for key, value in request.headers.items()}
    if settings.webhook_secret is not None and not verify_signature(
        settings.webhook_secret, headers, body
    ):
        return text_response("Webhook processing failed: HMAC verification failed", 400)
    try:
        event = parse_push(headers, body)
    except WebhookError as exc:
        return text_response(f"Webhook processing failed: {exc}", 400)
    if event is not None:  # a ping needs no processing
        try:
            await source.webhook(body, headers)
        except UnavailableError as exc:
            return text_response(exc.message, 503)
    return text_response("", 200)


@blueprint.get("/healthz")
async def healthz() -> Response:
    return text_response("ok", 200)
