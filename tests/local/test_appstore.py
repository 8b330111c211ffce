"""The controller's saved apps: the document round trip, corrupt rows named, SQLite migration."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from console.application import (
    Operation,
    OperationInitiator,
    OperationState,
    SyncOperation,
    add_history,
)
from console.local.argo.appstore import (
    CorruptStateError,
    MemoryAppStore,
    SavedApp,
    SqliteAppStore,
    from_doc,
    to_doc,
)
from console.local.argo.sync import ObjectKey, Phase, SyncAttempt
from console.local.state import MIGRATIONS, SCHEMA_VERSION, State, StateError

T0 = datetime(2026, 11, 26, 8, 0, 0, tzinfo=UTC)
DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "frontend", "namespace": "dev"},
    "spec": {"replicas": 1},
}


def saved() -> SavedApp:
    return SavedApp(
        manifest={
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {"name": "frontend-dev"},
            "spec": {"source": {"path": "x"}},
        },
        history=add_history(
            (),
            revision="a" * 40,
            deployed_at=T0,
            deploy_started_at=T0,
            source={"repoURL": "https://git.example/deploy.git", "path": "x"},
            initiated_by=OperationInitiator(automated=True),
        ),
        operation_state=OperationState(
            operation=Operation(sync=SyncOperation(revision="a" * 40)),
            phase="Succeeded",
            started_at=T0,
            finished_at=T0,
            message="successfully synced (all tasks run)",
        ),
        last_op=SyncAttempt("a" * 40, Phase.SUCCEEDED, 0.0, message="ok", retry_count=1),
        applied=(DEPLOYMENT,),
        applied_children={ObjectKey("argoproj.io", "Application", "argocd", "frontend-dev"): "f"},
    )


def test_round_trip_through_sqlite(tmp_path: Path) -> None:
    state = State(tmp_path / "state.db")
    store = SqliteAppStore(state)
    store.save("frontend-dev", saved())
    store.save("frontend-dev", saved())  # a save replaces
    state.close()
    reopened = SqliteAppStore(State(tmp_path / "state.db"))
    assert reopened.load() == {"frontend-dev": saved()}
    reopened.delete("frontend-dev")
    assert reopened.load() == {}


def test_memory_store_round_trips_like_sqlite() -> None:
    store = MemoryAppStore()
    store.save("a", saved())
    assert store.load() == {"a": saved()}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": 99}, "format 99 is not 1"),
        ({"manifest": []}, "manifest is not an object"),
        ({"lastOperation": {"revision": "a", "phase": "Bogus"}}, "'Bogus' is not a valid Phase"),
        ({"history": [{"id": 1}]}, "deployedAt is missing"),
        ({"appliedChildren": [["only", "three", "items"]]}, "not enough values"),
    ],
)
def test_a_corrupt_document_names_the_app(change: dict[str, Any], message: str) -> None:
    doc = to_doc(saved()) | change
    with pytest.raises(CorruptStateError, match=message) as caught:
        from_doc("frontend-dev", doc)
    assert str(caught.value).startswith("application 'frontend-dev': ")


def test_a_row_that_is_not_json_is_a_state_error(tmp_path: Path) -> None:
    state = State(tmp_path / "state.db")
    with state.transaction() as conn:
        conn.execute(
            "INSERT INTO applications (name, doc, updated_at) VALUES ('x', '{oops', 'now')"
        )
    with pytest.raises(StateError, match="application 'x'"):
        state.applications()


def test_a_version_1_database_migrates_and_keeps_its_runs(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[0])
    conn.execute(
        "INSERT INTO runs (repo, commit_sha, stage, result, started_at) "
        "VALUES ('apps', 'abc', 'test', 'succeeded', '2026-11-26T08:00:00.000+00:00')"
    )
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    state = State(path)
    assert state.schema_version == SCHEMA_VERSION == 3
    assert [r.commit for r in state.runs()] == ["abc"]
    assert state.applications() == {}
