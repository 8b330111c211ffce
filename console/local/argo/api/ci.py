"""The platform's CI runs (no Argo CD counterpart): served when `create_api` is given
`ci_runs`, e.g. the workspace's `state.State`; otherwise they answer 501 Unimplemented."""

from __future__ import annotations

import asyncio
from pathlib import Path

from quart import Blueprint, Response, request

from console.application import Json, format_time
from console.local.argo.api.common import (
    RunStore,
    current_settings,
    int_arg,
    json_response,
)
from console.local.argo.errors import InvalidArgumentError, NotFoundError, UnimplementedError
from console.local.state import Run

DEFAULT_RUNS = 50  # CI runs listed when no `limit` is asked
MAX_RUNS = 1000

blueprint = Blueprint("ci", __name__)


def _run_store() -> RunStore:
    settings = current_settings()
    if settings.ci_runs is None:
        raise UnimplementedError("CI runs are not recorded by this server")
    return settings.ci_runs


@blueprint.get("/api/ci/runs")
async def ci_runs() -> Response:
    store = _run_store()
    repo = request.args.get("repo") or None
    commit = request.args.get("commit") or None
    limit = int_arg("limit")
    if limit is not None and not 1 <= limit <= MAX_RUNS:
        raise InvalidArgumentError(f"limit must be between 1 and {MAX_RUNS}, got {limit}")
    # SQLite off the event loop: a CI stage may be writing.
    runs = await asyncio.to_thread(store.runs, repo, limit or DEFAULT_RUNS, commit=commit)
    return json_response({"items": [_run_json(r) for r in runs]})


@blueprint.get("/api/ci/runs/<int:run_id>/log")
async def ci_run_log(run_id: int) -> Response:
    store = _run_store()
    run = await asyncio.to_thread(store.run, run_id)
    if run is None:
        raise NotFoundError(f"CI run {run_id} not found")
    text = None if run.log_path is None else await asyncio.to_thread(_read_log, run.log_path)
    if text is None:
        raise NotFoundError(f"CI run {run_id} has no log")
    return Response(text, status=200, mimetype="text/plain")


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
