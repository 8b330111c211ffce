"""The embedded platform's persisted state: one SQLite file in the workspace (WAL mode, one
connection per thread), so `gitops up` resumes where it stopped.

The schema is versioned with `PRAGMA user_version`: MIGRATIONS[i] takes the schema from version
i to i + 1. To add a table, append a migration (never edit a released one) and accessors that
return frozen dataclasses.

Tables:
    runs          one row per CI stage: id, repo, commit_sha (`commit` is an SQL keyword),
                  stage (test|build|promote), result (running|succeeded|failed|skipped),
                  started_at (ISO 8601 UTC), duration_s (NULL while running), log_path (NULL
                  when the stage wrote no log), interrupted (1: left running by a platform
                  that died, then marked failed).
    applications  one row per Application the controller runs: name, doc (JSON written by
                  console.local.argo.appstore: manifest, history, operation state, applied objects),
                  updated_at. The platform's etcd, in short.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, cast, get_args

Stage = Literal["test", "build", "promote"]
Result = Literal["running", "succeeded", "failed", "skipped"]
STAGES: tuple[Stage, ...] = get_args(Stage)
RESULTS: tuple[Result, ...] = get_args(Result)

MIGRATIONS: tuple[str, ...] = (
    # 0 -> 1: CI runs.
    """
    CREATE TABLE runs (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        repo        TEXT NOT NULL,
        commit_sha  TEXT NOT NULL,
        stage       TEXT NOT NULL CHECK (stage IN ('test', 'build', 'promote')),
        result      TEXT NOT NULL
                    CHECK (result IN ('running', 'succeeded', 'failed', 'skipped')),
        started_at  TEXT NOT NULL,
        duration_s  REAL,
        log_path    TEXT
    );
    CREATE INDEX runs_repo_commit ON runs (repo, commit_sha);
    """,
    # 1 -> 2: what the controller knows of each Application (history, operation state, what it
    # applied), so a restarted platform resumes instead of deploying everything again.
    """
    CREATE TABLE applications (
        name        TEXT PRIMARY KEY,
        doc         TEXT NOT NULL,
        updated_at  TEXT NOT NULL
    );
    """,
    # 2 -> 3: a run a platform crash cut short is told apart from one that failed, so its commit
    # is run again on resume.
    """
    ALTER TABLE runs ADD COLUMN interrupted INTEGER NOT NULL DEFAULT 0;
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)


class StateError(RuntimeError):
    """The state file cannot be used (written by a newer version, the disk full); the message
    names the file."""


@dataclass(frozen=True)
class Run:
    id: int
    repo: str
    commit: str
    stage: Stage
    result: Result
    started_at: datetime
    duration_s: float | None
    log_path: Path | None
    interrupted: bool = False  # cut short by a platform crash, not failed by its own doing


def _statements(script: str) -> list[str]:
    """`script` split into complete SQL statements (executescript would commit midway)."""
    out: list[str] = []
    buf = ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    if buf.strip():
        raise StateError(f"incomplete SQL statement in a migration: {buf.strip()[:60]!r}")
    return out


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def _run(row: sqlite3.Row) -> Run:
    return Run(
        id=row["id"],
        repo=row["repo"],
        commit=row["commit_sha"],
        stage=cast("Stage", row["stage"]),
        result=cast("Result", row["result"]),
        started_at=datetime.fromisoformat(row["started_at"]),
        duration_s=row["duration_s"],
        log_path=Path(row["log_path"]) if row["log_path"] is not None else None,
        interrupted=bool(row["interrupted"]),
    )


class State:
    """The workspace's SQLite store. Safe to share between threads (a connection each)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._migrate()

    # ---- plumbing --------------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            # Each thread uses only its own connection; check_same_thread=False is what lets
            # close() (on the main thread) close the ones worker threads opened.
            conn = sqlite3.connect(
                self.path, timeout=30.0, isolation_level=None, check_same_thread=False
            )
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """An immediate (write-locking) transaction on this thread's connection. SQLite's own
        errors (a full disk, an I/O error) come out as StateError naming the file; the
        transaction is rolled back, so the file keeps what it had."""
        try:
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StateError(f"{self.path}: {exc}") from None
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                with suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise StateError(f"{self.path}: {exc}") from None
            raise

    def _migrate(self) -> None:
        with self.transaction() as conn:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                raise StateError(
                    f"{self.path}: schema version {version} is newer than this platform's "
                    f"({SCHEMA_VERSION}); upgrade gitops-platform"
                )
            for i in range(version, SCHEMA_VERSION):
                for statement in _statements(MIGRATIONS[i]):
                    conn.execute(statement)
            if version != SCHEMA_VERSION:
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION:d}")

    @property
    def schema_version(self) -> int:
        return int(self._conn().execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        """Close every thread's connection (call once, when the platform stops)."""
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()

    # ---- runs ------------------------------------------------------------------------------

    def record_run(
        self,
        repo: str,
        commit: str,
        stage: Stage,
        result: Result = "running",
        *,
        started_at: datetime | None = None,
        duration_s: float | None = None,
        log_path: Path | None = None,
    ) -> Run:
        """Insert a stage run (by default one that is starting now) and return it."""
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r} (one of {', '.join(STAGES)})")
        if result not in RESULTS:
            raise ValueError(f"unknown result {result!r} (one of {', '.join(RESULTS)})")
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO runs (repo, commit_sha, stage, result, started_at, duration_s, "
                "log_path) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    repo,
                    commit,
                    stage,
                    result,
                    _iso(started_at or _now()),
                    duration_s,
                    str(log_path) if log_path is not None else None,
                ),
            )
            run_id = cur.lastrowid
        assert run_id is not None  # noqa: S101 - sqlite always sets it after an INSERT
        found = self.run(run_id)
        assert found is not None  # noqa: S101
        return found

    def finish_run(
        self,
        run_id: int,
        result: Result,
        *,
        duration_s: float | None = None,
        log_path: Path | None = None,
    ) -> Run:
        """Set a run's outcome; the duration defaults to the time since it started."""
        if result not in RESULTS or result == "running":
            raise ValueError(f"a run finishes as succeeded, failed or skipped, not {result!r}")
        current = self.run(run_id)
        if current is None:
            raise KeyError(f"no run with id {run_id}")
        if duration_s is None:
            duration_s = max(0.0, (_now() - current.started_at).total_seconds())
        with self.transaction() as conn:
            conn.execute(
                "UPDATE runs SET result = ?, duration_s = ?, log_path = COALESCE(?, log_path) "
                "WHERE id = ?",
                (result, duration_s, str(log_path) if log_path is not None else None, run_id),
            )
        found = self.run(run_id)
        assert found is not None  # noqa: S101
        return found

    def run(self, run_id: int) -> Run | None:
        row = self._conn().execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        return _run(row) if row is not None else None

    def runs(
        self, repo: str | None = None, limit: int = 50, *, commit: str | None = None
    ) -> list[Run]:
        """The newest runs first, optionally of one repo and/or commit."""
        where, params = [], []
        if repo is not None:
            where.append("repo = ?")
            params.append(repo)
        if commit is not None:
            where.append("commit_sha = ?")
            params.append(commit)
        sql = "SELECT * FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        rows = self._conn().execute(sql, (*params, int(limit))).fetchall()
        return [_run(r) for r in rows]

    def fail_running(self) -> int:
        """Mark runs left `running` by a platform that died as failed; returns how many. Call on
        start-up, before any new run begins."""
        with self.transaction() as conn:
            cur = conn.execute(
                "UPDATE runs SET result = 'failed', interrupted = 1 WHERE result = 'running'"
            )
            return cur.rowcount

    # ---- applications ----------------------------------------------------------------------

    def save_application(self, name: str, doc: dict[str, Any]) -> None:
        """Store (replace) what the controller knows of one Application."""
        text = json.dumps(doc, separators=(",", ":"), sort_keys=True)
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO applications (name, doc, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET doc = excluded.doc, "
                "updated_at = excluded.updated_at",
                (name, text, _iso(_now())),
            )

    def delete_application(self, name: str) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM applications WHERE name = ?", (name,))

    def applications(self) -> dict[str, dict[str, Any]]:
        """Every stored Application document by name. A row that is not valid JSON (written by
        hand, or a disk fault) raises StateError naming it rather than being skipped."""
        out: dict[str, dict[str, Any]] = {}
        for row in self._conn().execute("SELECT name, doc FROM applications ORDER BY name"):
            try:
                doc = json.loads(row["doc"])
            except ValueError as exc:
                raise StateError(f"{self.path}: application {row['name']!r}: {exc}") from None
            if not isinstance(doc, dict):
                raise StateError(f"{self.path}: application {row['name']!r}: not an object")
            out[str(row["name"])] = doc
        return out
