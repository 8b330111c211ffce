"""The diff view's pure part: two sets of manifests as a unified diff per object (normalised,
sorted by kind, namespace and name), and which revisions a history line or a rollback compares."""

from __future__ import annotations

from typing import Any

import pytest

from console.fleet.history import Commit
from console.fleet.manifests import parse_manifests
from console.fleet.parse import MalformedError
from console.tui.appdetail import HistoryLine
from console.tui.diffview import Pair, diff_manifests, history_pair, normalise, rollback_pair


def deployment(tag: str, **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "backend", "namespace": "dev", **meta},
        "spec": {
            "replicas": 1,
            "template": {
                "spec": {"containers": [{"name": "backend", "image": f"r/backend:{tag}"}]}
            },
        },
    }


def service(port: int = 80) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "backend", "namespace": "dev"},
        "spec": {"ports": [{"port": port}]},
    }


def config(data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "backend-config", "namespace": "dev"},
        "data": {"app.conf": data},
    }


LIVE_NOISE = {
    "uid": "1",
    "resourceVersion": "42",
    "generation": 3,
    "creationTimestamp": "2026-08-01T00:00:00Z",
    "managedFields": [{"manager": "kubectl"}],
    "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"},
}


@pytest.mark.parametrize(
    ("old", "new", "changes", "lines"),
    [
        pytest.param([deployment("a"), service()], [service(), deployment("a")], [], [], id="same"),
        pytest.param(
            [deployment("a")],
            [{**deployment("a", **LIVE_NOISE), "status": {"replicas": 1}}],
            [],
            [],
            id="what nobody wrote is not a change",
        ),
        pytest.param(
            [deployment("a"), service()],
            [deployment("b"), service()],
            [("Deployment", "changed")],
            [
                "--- old apps/Deployment dev/backend",
                "+++ new apps/Deployment dev/backend",
                "@@ -8,5 +8,5 @@",
                "   template:",
                "     spec:",
                "       containers:",
                "-      - image: r/backend:a",
                "+      - image: r/backend:b",
                "         name: backend",
            ],
            id="changed",
        ),
        pytest.param(
            [deployment("a")],
            [deployment("a"), service(8080)],
            [("Service", "added")],
            [
                "--- old Service dev/backend",
                "+++ new Service dev/backend",
                "@@ -0,0 +1,8 @@",
                "+apiVersion: v1",
                "+kind: Service",
            ],
            id="added",
        ),
        pytest.param(
            [deployment("a"), service()],
            [deployment("a")],
            [("Service", "removed")],
            ["--- old Service dev/backend", "+++ new Service dev/backend", "@@ -1,8 +0,0 @@"],
            id="removed",
        ),
        pytest.param(
            [config("a = 1\nb = 2\n"), service(), deployment("a")],
            [config("a = 1\nb = 3\n"), service(81), deployment("a")],
            [("ConfigMap", "changed"), ("Service", "changed")],
            ["   app.conf: |", "     a = 1", "-    b = 2", "+    b = 3"],
            id="sorted by kind; a multi-line value diffs line by line",
        ),
    ],
)
def test_diff_manifests(
    old: list[dict[str, Any]],
    new: list[dict[str, Any]],
    changes: list[tuple[str, str]],
    lines: list[str],
) -> None:
    diff = diff_manifests(old, new, "old", "new")
    assert [(o.key[1], o.change) for o in diff.objects] == changes
    assert diff.empty == (not changes)
    text = diff.lines()
    for line in lines:
        assert line in text, (line, text)
    found = [text.index(line) for line in lines]
    assert found == sorted(found)  # in this order


def test_changed_lines_are_the_changed_values() -> None:
    diff = diff_manifests([deployment("a")], [deployment("b")], "1111111", "2222222")
    changed = [ln for ln in diff.lines() if ln[:1] in "+-" and ln[:3] not in ("+++", "---")]
    assert changed == ["-      - image: r/backend:a", "+      - image: r/backend:b"]
    assert diff.summary() == "1 changed, 0 added, 0 removed; 0 unchanged"


def test_normalise_keeps_what_was_written() -> None:
    written = deployment("a", labels={"app": "backend"}, annotations={"team": "core"})
    assert normalise({**written, "status": {}}) == written
    noisy = normalise(deployment("a", **LIVE_NOISE))
    assert noisy["metadata"] == {"name": "backend", "namespace": "dev"}


# --- which revisions ---------------------------------------------------------------------------

C1, C2, C3, C4 = (d * 40 for d in "1234")


def commit(sha: str, parents: tuple[str, ...] = (), **trailers: str) -> Commit:
    return Commit(sha, "s", "a <a@x>", 0, tuple(trailers.items()), parents)


def line(hid: int, rev: str, c: Commit | None = None) -> HistoryLine:
    return HistoryLine(hid, rev, None, None, "auto", c, None, False)


LINES = [
    line(4, C4, commit(C4, (C3,), **{"Rollback-Of": C3, "Rollback-To": C2})),
    line(3, C3, commit(C3, (C2,))),
    line(2, C2),
    line(1, C1, commit(C1, ("0" * 40,))),
]


@pytest.mark.parametrize(
    ("chosen", "expected"),
    [
        pytest.param(
            LINES[0], (C3, C4, "what rollback 4444444 changed: its parent"), id="rollback"
        ),
        pytest.param(LINES[1], (C2, C3, "what deploy 3 changed: 2222222 (deploy 2)"), id="deploy"),
        pytest.param(LINES[3], ("0" * 40, C1, "what 1111111 changed: its parent"), id="oldest"),
    ],
)
def test_history_pair(chosen: HistoryLine, expected: tuple[str, str, str]) -> None:
    pair = history_pair(LINES, chosen)
    assert isinstance(pair, Pair)
    assert (pair.old, pair.new) == expected[:2]
    assert pair.what.startswith(expected[2])


def test_history_pair_says_why_not() -> None:
    only = [line(1, C1)]
    assert history_pair(only, only[0]) == "no revision before 1111111 is known to compare it with"
    # A sync of the same revision again compares with the last different one.
    again = [line(3, C2), line(2, C2), line(1, C1)]
    pair = history_pair(again, again[0])
    assert isinstance(pair, Pair)
    assert pair.old == C1


def test_rollback_pair_without_its_parent() -> None:
    pair = rollback_pair(C4, None, C3)
    assert (pair.old, pair.new) == (C3, C4)
    assert "its parent is not known" in pair.what
    bare = commit(C4, (), **{"Rollback-Of": C3})
    assert rollback_pair(C4, bare).old == C3


# --- Argo CD's answer ----------------------------------------------------------------------


def test_parse_manifests() -> None:
    body = {"manifests": ['{"kind":"Service"}'], "revision": C1, "sourceType": "Kustomize"}
    rendered = parse_manifests(body)
    assert (rendered.revision, rendered.objects) == (C1, ({"kind": "Service"},))
    assert parse_manifests({}).objects == ()
    for bad, where in (
        ([], "expected a repositoryManifestResponse"),
        ({"manifests": "x"}, "manifests: expected a list"),
        ({"manifests": ["[1]"]}, "manifests[0]: expected an object's JSON"),
        ({"manifests": ["{"]}, "manifests[0]"),
    ):
        with pytest.raises(MalformedError, match=where.replace("[", r"\[")):
            parse_manifests(bad)
