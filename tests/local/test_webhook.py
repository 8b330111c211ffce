"""GitHub push events: GitHub's own bodies parse, and the bodies the local hook writes read back
with the JSON types GitHub uses (what Argo CD's webhook handler unmarshals)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from console.local.git.webhook import (
    ZERO_SHA,
    PushCommit,
    WebhookError,
    normalize_url,
    parse_push,
    push_event_for,
    signature,
    verify_signature,
)

SHARED = Path(__file__).resolve().parents[3] / "shared"
TESTDATA = SHARED / "reference" / "argo-cd" / "testdata"
PUSH = {"X-GitHub-Event": "push", "Content-Type": "application/json"}
A, B = "a" * 40, "b" * 40


def fixture(name: str) -> bytes:
    path = TESTDATA / name
    if not path.is_file():
        pytest.skip(f"{path} is absent (../shared holds Argo CD's GitHub webhook fixtures)")
    return path.read_bytes()


def test_github_commit_event() -> None:
    event = parse_push({"x-github-event": "push"}, fixture("github-commit-event.json"))
    assert event is not None
    assert event.ref == "refs/heads/master"
    assert event.branch == "master"
    assert event.tag is None
    assert event.before == "d5c1ffa8e294bc18c639bfb4e0df499251034414"
    assert event.after == "63738bb582c8b540af7bcfc18f87c575c3ed66e0"
    assert event.repo_url == "https://github.com/jessesuen/test-repo"
    for spelling in (
        "https://github.com/jessesuen/test-repo.git",
        "git@github.com:jessesuen/test-repo.git",
        "ssh://git@github.com/jessesuen/test-repo",
        "git://github.com/jessesuen/test-repo.git",
        "HTTPS://GitHub.com/JesseSuen/test-repo/",
    ):
        assert event.matches(spelling), spelling
    assert not event.matches("https://github.com/jessesuen/other-repo")
    assert event.changed_paths == (
        "ksapps/test-app/app.yaml",
        "ksapps/test-app/environments/staging-argocd-demo/main.jsonnet",
        "ksapps/test-app/environments/staging-argocd-demo/params.libsonnet",
    )
    assert event.commits[0].author_name == "Jesse Suen"


def test_github_ping_event_is_none() -> None:
    assert parse_push({"X-GitHub-Event": "ping"}, fixture("github-ping-event.json")) is None


def test_form_encoded_body() -> None:
    body = urlencode({"payload": fixture("github-commit-event.json").decode()}).encode()
    headers = {"X-GitHub-Event": "push", "Content-Type": "application/x-www-form-urlencoded"}
    event = parse_push(headers, body)
    assert event is not None
    assert event.after.startswith("63738bb")


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [
        (PUSH, b"{not json", "not valid JSON"),
        (PUSH, b"[]", "not a JSON object"),
        (PUSH, b'{"before": "x", "after": "y", "repository": {"html_url": "h"}}', "`ref`"),
        (PUSH, b'{"ref": "r", "before": "x", "after": "y"}', "`repository`"),
        (PUSH, b'{"ref": "r", "before": "x", "after": "y", "repository": {}}', "html_url"),
        ({}, b"{}", "no X-GitHub-Event header"),
        ({"X-GitHub-Event": "issues"}, b"{}", "unsupported GitHub event 'issues'"),
        (PUSH, b"\xff", "not UTF-8"),
    ],
)
def test_malformed_requests(headers: dict[str, str], body: bytes, expected: str) -> None:
    with pytest.raises(WebhookError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        parse_push(headers, body)


def test_bad_commit_entry() -> None:
    body = {
        "ref": "refs/heads/main",
        "before": A,
        "after": B,
        "repository": {"html_url": "https://example.com/o/r"},
        "commits": [{"id": B, "added": "not-a-list"}],
    }
    with pytest.raises(WebhookError, match=r"commits\[0\]\.added"):
        parse_push(PUSH, json.dumps(body).encode())


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("https://github.com/acme/platform-deploy.git", "https://github.com/acme/platform-deploy"),
        ("https://GitHub.com/acme/platform-deploy/", "https://github.com/acme/platform-deploy"),
        ("git@github.com:acme/platform-deploy.git", "https://github.com/acme/platform-deploy"),
        ("ssh://git@github.com:22/acme/platform-deploy", "https://github.com/acme/platform-deploy"),
        ("git://github.com/acme/platform-deploy.git", "https://github.com/acme/platform-deploy"),
        ("https://user:secret@github.com/acme/x.git", "https://github.com/acme/x"),
        ("http://127.0.0.1:3000/acme/x.git", "https://127.0.0.1:3000/acme/x"),
        ("/srv/ws/git/Deploy.git", "file:///srv/ws/git/Deploy"),
        ("file:///srv/ws/git/Deploy.git/", "file:///srv/ws/git/Deploy"),
    ],
)
def test_normalize_url(url: str, key: str) -> None:
    assert normalize_url(url) == key


def _types(value: Any) -> Any:
    """The JSON type skeleton of a value: what a typed decoder (Go's encoding/json) checks."""
    if isinstance(value, dict):
        return {k: _types(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_types(value[0])] if value else []
    return type(value).__name__


def _same_types(ours: Any, github: Any, where: str = "") -> list[str]:
    """Keys we send that GitHub sends too, whose JSON types differ (null is always fine)."""
    if isinstance(ours, dict) and isinstance(github, dict):
        return [p for k in ours.keys() & github.keys() for p in _same_types(ours[k], github[k], k)]
    if isinstance(ours, list) and isinstance(github, list):
        return _same_types(ours[0], github[0], where) if ours and github else []
    if "NoneType" in (ours, github) or ours == github:
        return []
    if {ours, github} <= {"int", "float"}:
        return []
    return [f"{where}: ours {ours}, GitHub's {github}"]


def test_push_event_for_reads_back_and_matches_githubs_types() -> None:
    commits = [
        PushCommit(
            id=B,
            message="feat: add x\n\nbody",
            timestamp="2026-01-01T00:00:00+00:00",
            author_name="A",
            author_email="a@example.invalid",
            added=("x.py",),
            modified=("README.md",),
            removed=("old.py",),
        )
    ]
    body = push_event_for(
        "https://github.com/acme/platform-apps.git", "refs/heads/main", A, B, commits
    )
    event = parse_push({"X-GitHub-Event": "push"}, body)
    assert event is not None
    assert (event.ref, event.before, event.after, event.branch) == ("refs/heads/main", A, B, "main")
    assert event.repo_url == "https://github.com/acme/platform-apps"
    assert event.matches("git@github.com:acme/platform-apps.git")
    assert event.default_branch == "main"
    assert event.changed_paths == ("README.md", "old.py", "x.py")
    assert event.commits == tuple(commits)
    data = json.loads(body)
    assert data["repository"]["clone_url"] == "https://github.com/acme/platform-apps.git"
    assert data["repository"]["ssh_url"] == "git@github.com:acme/platform-apps.git"
    assert data["head_commit"]["id"] == B
    github = json.loads(fixture("github-commit-event.json"))
    assert _same_types(_types(data), _types(github)) == []
    # Every top-level field Argo CD's handler reads is there.
    assert {"ref", "before", "after", "commits", "repository"} <= data.keys()


def test_push_event_for_local_repository() -> None:
    body = push_event_for("/srv/ws/git/deploy.git", "refs/heads/main", ZERO_SHA, B)
    event = parse_push({"X-GitHub-Event": "push"}, body)
    assert event is not None
    assert event.repo_url == "file:///srv/ws/git/deploy"
    assert event.matches("file:///srv/ws/git/deploy.git")
    assert event.created
    assert not event.deleted
    assert event.commits == ()


def test_signature_round_trip() -> None:
    body = b'{"zen": "x"}'
    headers = {"x-hub-signature-256": signature(b"s3cret", body)}
    assert verify_signature(b"s3cret", headers, body)
    assert not verify_signature(b"other", headers, body)
    assert not verify_signature(b"s3cret", {}, body)
