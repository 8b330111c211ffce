"""The game day: several scenarios in a row on one platform (`gitops demo --all`), one table.

The platform starts once; each scenario starts from the known-good version the one before left
(every scenario ends with it back in place, or the table says it did not), and writes its own
post-mortem under `<workspace>/drills/<game day id>/<scenario>/`. The index post-mortem
(`index.md` there) links them; `gameday.json` holds the table.

The table, the index, the JSON and the verdict are pure functions of the rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from console.drill.result import DrillResult
from console.drill.scenarios import Expect, Scenario

HEADER = ("scenario", "detect s", "recover s", "requests sent / failed", "rollback / refusal")


@dataclass(frozen=True)
class Row:
    scenario: Scenario
    outcome: DrillResult | None = None  # None: not run
    skipped: str = ""  # why it was not run

    @property
    def passed(self) -> bool:
        return self.outcome is not None and self.outcome.recovered

    @property
    def verdict(self) -> str:
        if self.outcome is None:
            return f"skipped: {self.skipped}" if self.skipped else "not run"
        if self.outcome.recovered:
            return "passed"
        return "FAILED: " + "; ".join(self.outcome.problems)

    def cells(self) -> tuple[str, ...]:
        o = self.outcome
        if o is None:
            return (self.scenario.name, "-", "-", "-", "-")
        f, d = o.facts, o.durations

        def secs(value: float | None) -> str:
            return f"{value:.3f}" if value is not None else "-"

        if self.scenario.expect is Expect.REFUSED:
            what = f"refused {f.refused_commit.sha[:7]}" if f.refusal and f.refused_commit else "-"
        else:
            what = f"rollback {f.rollback.sha[:7]}" if f.rollback is not None else "-"
            if f.rollback is None and f.restored_by:
                what = f"none (drill restored {f.restored_by[:7]})"
            if f.rollback_count > 1:
                what += f" (+{f.rollback_count - 1} more)"
        return (
            self.scenario.name,
            secs(d.detect_s),
            secs(d.recover_s),
            f"{f.load.total} / {f.load.failed}",
            what,
        )

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"scenario": self.scenario.name, "passed": self.passed}
        if self.outcome is None:
            doc["skipped"] = self.skipped or "not run"
            return doc
        f = self.outcome.facts
        doc.update(self.outcome.to_json())
        doc["refusal"] = f.refusal or None
        doc["problems"] = list(self.outcome.problems)
        return doc


@dataclass(frozen=True)
class GameDay:
    id: str
    workspace: Path
    started_at: datetime
    wall_s: float
    rows: tuple[Row, ...]
    index: Path | None = None

    @property
    def passed(self) -> bool:
        """Every scenario that ran met its row, and at least one ran."""
        ran = [r for r in self.rows if r.outcome is not None or not r.skipped]
        return bool(ran) and all(r.passed for r in ran)

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "wall_s": round(self.wall_s, 3),
            "scenarios": [r.to_json() for r in self.rows],
            "index": str(self.index) if self.index else None,
        }

    def json_line(self) -> str:
        return json.dumps(self.to_json(), separators=(", ", ": "))


def table(rows: tuple[Row, ...] | list[Row]) -> list[str]:
    """The game-day table, aligned, one line per scenario plus the header; the verdict last."""
    body = [(*r.cells(), r.verdict) for r in rows]
    head = (*HEADER, "result")
    widths = [max(len(line[i]) for line in [head[:-1], *[b[:-1] for b in body]]) for i in range(5)]

    def line(cells: tuple[str, ...]) -> str:
        left = cells[0].ljust(widths[0])
        nums = [cells[i].rjust(widths[i]) for i in (1, 2, 3)]
        return "  ".join([left, *nums, cells[4].ljust(widths[4]), cells[5]]).rstrip()

    return [line(head), *(line(b) for b in body)]


def _link(row: Row, base: Path) -> str:
    pm = row.outcome.postmortem if row.outcome is not None else None
    if pm is None:
        return "—"
    try:
        rel = pm.relative_to(base).as_posix()
    except ValueError:
        rel = str(pm)
    return f"[{row.scenario.name}]({rel})"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def index(day: GameDay, base: Path) -> str:
    """The index post-mortem (Markdown): the table, each scenario's row and a link to its
    post-mortem (relative to `base`, the directory the index is written to)."""
    verdict = "every scenario met its row" if day.passed else "not every scenario met its row"
    lines = [
        f"# Game day {day.id}: {verdict}",
        "",
        f"Workspace {day.workspace}; started {day.started_at:%Y-%m-%d %H:%M:%S} UTC; "
        f"{day.wall_s:.0f} s in all, one platform.",
        "",
        "| scenario | the change | expected | detect s | recover s | requests sent / failed "
        "| rollback / refusal | result | post-mortem |",
        "| --- | --- | --- | ---: | ---: | ---: | --- | --- | --- |",
    ]
    for row in day.rows:
        name, detect, recover, requests, what = row.cells()
        sc = row.scenario
        lines.append(
            f"| {name} | {_cell(sc.change)} | {_cell(sc.expected)} | {detect} | {recover} | "
            f"{requests} | {what} | {_cell(row.verdict)} | {_link(row, base)} |"
        )
    lines += [
        "",
        "detect: the bad revision's sync start to the rollback commit's push; recover: that "
        "push to Healthy and Synced on the rollback revision (docs/platform/drill.md).",
        "",
        f"_Written by `gitops demo --all` (game day {day.id})._",
    ]
    return "\n".join(lines) + "\n"


def write(day: GameDay, directory: Path) -> GameDay:
    """index.md and gameday.json under `directory`; the game day with its index's path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "index.md"
    done = GameDay(day.id, day.workspace, day.started_at, day.wall_s, day.rows, path)
    path.write_text(index(done, directory), encoding="utf-8")
    (directory / "gameday.json").write_text(
        json.dumps(done.to_json(), indent=2) + "\n", encoding="utf-8"
    )
    return done
