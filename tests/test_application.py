"""The one Application model (`console.application`): what the embedded platform writes reads
back into the same model the read side uses, and validates against Argo CD's swagger.json;
reading is lenient where Argo CD versions differ; writing is Go's encoding/json."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from console.application import (
    Application,
    ApplicationStatus,
    HealthState,
    OperationPhase,
    OperationState,
    ResourceStatus,
    Sync,
    SyncStatus,
)
from console.fleet.model import App, Health
from console.local.argo.appstate import ApplicationRecord, to_json
from tests.local.test_api import SCHEMAS, records

NOW = datetime(2026, 8, 1, 12, 0, tzinfo=UTC)


def _records() -> list[ApplicationRecord]:
    return [replace(r, uid="u", created_at=NOW) for r in records()]


def test_full_embedded_applications_validate_and_read_back() -> None:
    """Every status part (history, operationState with its syncResult, resources, summary,
    conditions) is written as Argo CD's `v1alpha1Application` and read back unchanged."""
    records = _records()
    assert any(r.status.conditions for r in records)
    for record in records:
        doc = to_json(record)
        SCHEMAS.check(doc, "v1alpha1Application")
        app = Application.from_json(doc)
        assert app.status == record.status
        assert app.status.to_json() == doc["status"]
        assert (app.name, app.namespace, app.labels) == (
            record.name,
            record.namespace,
            record.labels,
        )


def test_app_is_the_model() -> None:
    assert App is Application


@pytest.mark.parametrize(
    ("status", "health", "sync", "phase"),
    [
        ({"health": {"status": "Exploding"}}, Health.UNKNOWN, Sync.UNKNOWN, None),
        (
            {"sync": {"status": "Drifting"}, "operationState": {"phase": "Paused"}},
            Health.UNKNOWN,
            Sync.UNKNOWN,
            OperationPhase.UNKNOWN,
        ),
        ({"health": None, "sync": None, "history": None}, Health.UNKNOWN, Sync.UNKNOWN, None),
        (
            {"health": {"status": "Degraded", "newField": 1}, "sync": {"status": "Synced"}},
            Health.DEGRADED,
            Sync.SYNCED,
            None,
        ),
    ],
)
def test_reading_is_lenient(
    status: dict[str, Any], health: Health, sync: Sync, phase: OperationPhase | None
) -> None:
    app = Application.from_json({"metadata": {"name": "a"}, "status": status, "x": 1})
    assert (app.health, app.sync) == (health, sync)
    assert (app.operation.phase if app.operation else None) == phase


def test_writing_omits_empty_fields_and_keeps_structs() -> None:
    empty = ApplicationStatus().to_json()
    assert empty == {
        "sync": {"status": "Unknown", "comparedTo": {"source": {"repoURL": ""}, "destination": {}}},
        "health": {},
        "summary": {},
        "sourceHydrator": {},
    }
    resource = ResourceStatus(kind="ConfigMap", name="c", status=Sync.SYNCED)
    assert resource.to_json() == {"kind": "ConfigMap", "name": "c", "status": "Synced"}
    with_health = resource.evolve(health_state=HealthState())
    assert with_health.to_json()["health"] == {}  # a pointer Go writes when set, even empty
    state = OperationState(phase="Running", started_at=NOW)
    assert state.to_json() == {
        "operation": {"initiatedBy": {}, "retry": {}},
        "phase": "Running",
        "startedAt": "2026-08-01T12:00:00Z",
    }


def test_evolve_validates() -> None:
    status = ApplicationStatus(sync=SyncStatus(status="Synced"))
    changed = status.evolve(sync=status.sync.evolve(status="OutOfSync"))
    assert changed.sync.status is Sync.OUT_OF_SYNC
    state = OperationState(phase="Running", started_at=NOW).evolve(phase="Failed")
    assert state.phase.failed
