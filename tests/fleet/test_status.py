"""The status read model and its table, from full-shape Argo CD answers (the same objects the
embedded platform's compatible API serves in test_status_cli.py): the row of every health and
sync value, a multi-source app, an app with no status; the JSON form; the table with a fixed
clock, compared whole."""

from __future__ import annotations

from datetime import timedelta

import pytest

from console.fleet.display import age, image_tag, images_label, render_table, short
from console.fleet.history import Rollback
from console.fleet.model import Health, Sync
from console.fleet.parse import parse_application
from console.fleet.status import StatusRow, build_rows, group_rollbacks, rows_json
from tests.fleet.status_data import SHA3, SHA_A, SHA_B, SHA_C, fleet
from tests.fleet.support import NOW

ROLLBACKS = [
    Rollback(sha="1" * 40, app="backend-prod", of=SHA_B, to=SHA_A, reason="r", timestamp=1),
    Rollback(sha="2" * 40, app="frontend-dev", of=SHA_C, to=SHA_A, reason="r", timestamp=2),
    Rollback(sha="3" * 40, app="backend-prod", of=SHA_C, to=SHA_A, reason="r", timestamp=3),
    Rollback(sha="4" * 40, app="gone-dev", of=SHA_C, to="", reason="", timestamp=4),
]
LIVE = {"backend-dev": SHA_A, "backend-staging": "0.1.0", "frontend-dev": None}


def _rows() -> list[StatusRow]:
    apps = [parse_application(doc, "local") for doc in fleet()]
    return build_rows(apps, LIVE, group_rollbacks(ROLLBACKS))


def test_rows_are_sorted_by_service_env_order_and_name() -> None:
    assert [(r.service, r.env, r.name) for r in _rows()] == [
        ("backend", "dev", "backend-dev"),
        ("backend", "staging", "backend-staging"),
        ("backend", "prod", "backend-prod"),
        ("frontend", "dev", "frontend-dev"),
        ("frontend", "prod", "frontend-prod"),
        ("payments", "prod", "payments-prod"),
        (None, None, "root"),  # no service label: last
    ]


def test_every_health_and_sync_value() -> None:
    rows = {r.name: r for r in _rows()}
    assert {r.health for r in rows.values()} == set(Health)
    assert {r.sync for r in rows.values()} == set(Sync)
    assert rows["payments-prod"].health is Health.UNKNOWN  # "Hibernating": not a value we know
    assert (rows["root"].sync, rows["root"].health) == (Sync.UNKNOWN, Health.UNKNOWN)


def test_json_form() -> None:
    """Exactly the documented shape: every key on every row, nulls where nothing is known."""
    doc = rows_json(_rows())
    assert list(doc) == ["apps"]
    assert [list(row) for row in doc["apps"]] == [
        [
            "name",
            "namespace",
            "project",
            "service",
            "env",
            "sync",
            "health",
            "revision",
            "images",
            "live_version",
            "deployed_at",
            "auto_sync",
            "rollbacks",
            "analysis",
            "placed_by",
        ]
    ] * 7
    by_name = {row["name"]: row for row in doc["apps"]}
    assert by_name["payments-prod"] == {
        "name": "payments-prod",
        "namespace": "argocd",
        "project": "payments",
        "service": "payments",
        "env": "prod",
        "sync": "OutOfSync",
        "health": "Unknown",
        # The Git source's revision, not the chart's version (sources[0] is a Helm chart).
        "revision": SHA3,
        "images": ["registry.example.com/payments@sha256:" + "d" * 64],
        "live_version": None,
        "deployed_at": "2026-08-01T11:58:00Z",  # history id 8, listed first
        "auto_sync": True,
        "rollbacks": 0,
        "analysis": None,
        "placed_by": "labels",
    }
    assert by_name["root"] == {
        "name": "root",
        "namespace": "argocd",
        "project": "acme-control",
        "service": None,
        "env": None,
        "sync": "Unknown",
        "health": "Unknown",
        "revision": None,
        "images": [],
        "live_version": None,
        "deployed_at": None,
        "auto_sync": False,
        "rollbacks": 0,
        "analysis": None,
        "placed_by": None,  # no labels, no environment in its name or namespace
    }
    assert {name: row["rollbacks"] for name, row in by_name.items()} == {
        "backend-dev": 0,
        "backend-staging": 0,
        "backend-prod": 2,
        "frontend-dev": 1,
        "frontend-prod": 0,
        "payments-prod": 0,
        "root": 0,
    }
    assert by_name["frontend-dev"]["auto_sync"] is False  # automated.enabled: false


def test_rollbacks_unknown_without_a_deploy_repo() -> None:
    apps = [parse_application(doc) for doc in fleet()]
    assert {row.rollbacks for row in build_rows(apps, {}, None)} == {None}


def test_table_with_a_fixed_clock() -> None:
    assert render_table(_rows(), NOW) == (
        "APP              ENV      SYNC         HEALTH         REVISION  IMAGE TAG  LIVE     "
        "DEPLOYED  AUTO-SYNC  ROLLBACKS\n"
        "backend-dev      dev      ✓ Synced     ✓ Healthy      aaaaaaa   aaaaaaa    aaaaaaa  "
        "3m        on         0\n"
        "backend-staging  staging  ⇡ OutOfSync  ↻ Progressing  bbbbbbb   aaaaaaa    0.1.0    "
        "2h        on         0\n"
        "backend-prod     prod     ✓ Synced     ✗ Degraded     ccccccc   ccccccc+1  -        "
        "3d        off        2\n"
        "frontend-dev     dev      ? Unknown    ◌ Suspended    aaaaaaa   aaaaaaa    -        "
        "45s       off        1\n"
        "frontend-prod    prod     ⇡ OutOfSync  ∅ Missing      ccccccc   -          -        "
        "-         on         0\n"
        "payments-prod    prod     ⇡ OutOfSync  ? Unknown      3333333   ddddddd    -        "
        "2m        on         0\n"
        "root             -        ? Unknown    ? Unknown      -         -          -        "
        "-         off        0"
    )


def test_table_without_a_deploy_repo_or_rows() -> None:
    apps = [parse_application(fleet()[2])]
    lines = render_table(build_rows(apps, {}, None), NOW).splitlines()
    assert lines[1].split()[-1] == "-"  # rollbacks not counted, not zero
    assert render_table([], NOW).split() == [
        "APP",
        "ENV",
        "SYNC",
        "HEALTH",
        "REVISION",
        "IMAGE",
        "TAG",
        "LIVE",
        "DEPLOYED",
        "AUTO-SYNC",
        "ROLLBACKS",
    ]


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(-30, "0s"), (0, "0s"), (59, "59s"), (60, "1m"), (3599, "59m"), (3600, "1h"), (90000, "1d")],
)
def test_age(seconds: int, shown: str) -> None:
    assert age(NOW - timedelta(seconds=seconds), NOW) == shown


def test_short_values_and_image_tags() -> None:
    assert short(SHA_A) == "aaaaaaa"
    assert short("sha256:" + "e" * 64) == "eeeeeee"
    assert short("7.3.4") == "7.3.4"  # a chart version is not cut
    assert short(None) == "-"
    assert image_tag("registry.local:5000/acme/backend:v1.2") == "v1.2"
    assert image_tag("registry.local:5000/acme/backend") == ""  # a port is not a tag
    assert image_tag("backend@sha256:" + "f" * 64) == "sha256:" + "f" * 64
    assert images_label(["a:1", "b:1"]) == "1"  # one distinct tag
    assert images_label(["a:1", "b:2", "c:3"]) == "1+2"
    assert images_label(["a"]) == "-"
