"""GET /api/v1/applications/{name}/manifests (Argo CD's ApplicationService.GetManifests) on the
embedded API: real HTTP on 127.0.0.1, a real RepoServer over a git deploy repo with two commits,
real Kustomize; every answer validated against Argo CD's swagger.json (when ../shared is
present)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.local.deploy_history import TAG, DeployHistory
from tests.local.test_api import SCHEMAS, Platform, _check_error, _serve

PATH = "/api/v1/applications/backend-dev/manifests"


@pytest.fixture
def history(deploy_history: DeployHistory) -> DeployHistory:
    return deploy_history


@pytest.fixture
def rendering(tmp_path: Path, history: DeployHistory) -> Iterator[Platform]:
    with _serve(tmp_path) as running:
        running.source.set_renderer(history.server.render)
        yield running


def _objects(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    objects = [json.loads(text) for text in body["manifests"]]
    return {obj["kind"]: obj for obj in objects}


def _image(objects: dict[str, dict[str, Any]]) -> str:
    return str(objects["Deployment"]["spec"]["template"]["spec"]["containers"][0]["image"])


def test_manifests_at_each_revision(rendering: Platform, history: DeployHistory) -> None:
    answers = {}
    for revision in (history.first, history.second, None):
        params = {"revision": revision} if revision else {}
        response = rendering.client.get(PATH, params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        SCHEMAS.check(body, "repositoryManifestResponse")
        answers[revision] = body
    first, second, default = answers[history.first], answers[history.second], answers[None]
    assert first["revision"] == history.first
    assert second["revision"] == history.second
    assert default["revision"] == history.second  # the target revision, main, resolved
    assert (first["namespace"], first["server"], first["sourceType"]) == (
        "dev",
        "https://kubernetes.default.svc",
        "Kustomize",
    )
    assert sorted(_objects(first)) == [
        "Deployment",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "Service",
        "ServiceAccount",
    ]
    assert _image(_objects(first)).endswith("/backend:unreleased")
    assert _image(_objects(second)).endswith(f"/backend:{TAG}")
    # Go's encoding/json: compact, keys sorted.
    text = second["manifests"][0]
    assert text == json.dumps(json.loads(text), separators=(",", ":"), sort_keys=True)


def test_manifests_errors(rendering: Platform, tmp_path: Path) -> None:
    bad = rendering.client.get(PATH, params={"revision": "no-such-branch"})
    assert bad.status_code == 500
    SCHEMAS.check(bad.json(), "runtimeError")
    assert bad.json()["code"] == 2
    assert "unable to resolve 'no-such-branch'" in bad.json()["message"]
    _check_error(
        rendering.client.get("/api/v1/applications/nope/manifests"),
        404,
        5,
        'applications.argoproj.io "nope" not found',
    )
    wrong_project = rendering.client.get(PATH, params={"project": "other"})
    assert wrong_project.status_code == 404
    assert rendering.anon.get(PATH).status_code == 401


def test_manifests_without_a_renderer(tmp_path: Path) -> None:
    with _serve(tmp_path) as platform:
        response = platform.client.get(PATH)
    _check_error(response, 501, 12, "manifests are not rendered by this platform")
