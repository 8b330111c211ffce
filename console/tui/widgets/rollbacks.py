"""The rollback timeline (`:rollbacks`, `b`): every rollback across the fleet, newest first;
`d` on one shows exactly what it changed."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from console.fleet.display import short
from console.tui.diffview import rollback_pair
from console.tui.messages import DiffWanted, ScreenReady
from console.tui.store import Store
from console.tui.timeline import RollbackEntry, duration, timeline
from console.tui.widgets.matrix import VimTable
from console.tui.widgets.tables import KeyedRows

COLUMNS = ("WHEN", "APP", "ENV", "FROM → TO", "DETECT", "RECOVER", "MTTR", "BY", "REASON")


def timeline_row(entry: RollbackEntry, now: datetime) -> tuple[Text, ...]:
    when = entry.when.astimezone(now.tzinfo).strftime("%m-%d %H:%M:%S")
    app = Text(entry.app, style="bold")
    if entry.live:
        app.append(" ●", style="bold magenta")  # it runs this rollback now
    return (
        Text(when),
        app,
        Text(entry.env or "-"),
        Text(f"{short(entry.of)} → {short(entry.to)}"),
        Text(duration(entry.detect_s)),
        Text(duration(entry.recover_s)),
        Text(duration(entry.mttr_s)),
        Text(entry.by, style="bold" if entry.by.startswith("operator") else ""),
        Text(reason_text(entry), overflow="ellipsis", no_wrap=True),
    )


def reason_text(entry: RollbackEntry) -> str:
    """The reason without the `operator <name>: ` prefix the BY column already shows."""
    head, sep, rest = entry.reason.partition(": ")
    return rest if sep and entry.by.startswith("operator") and head == entry.by else entry.reason


class RollbacksScreen(Screen[None]):
    ready = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("d", "diff", "Diff"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._table = KeyedRows()
        self._entries: list[RollbackEntry] = []
        self._store: Store | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="rollbacks-summary")
        yield VimTable(id="rollbacks", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.title = "gitops console · rollbacks"
        table = self.query_one("#rollbacks", DataTable)
        for label in COLUMNS:
            table.add_column(label, key=label)
        table.focus()
        self.ready = True  # its widgets exist: the app may render into them
        self.post_message(ScreenReady())

    def action_diff(self) -> None:
        table = self.query_one("#rollbacks", DataTable)
        if not self._entries or not table.row_count:
            self.notify("no rollback selected", severity="warning")
            return
        entry = self._entries[min(table.cursor_row, len(self._entries) - 1)]
        if not entry.sha:
            self.post_message(DiffWanted(entry.target, entry.app, None, "no rollback commit known"))
            return
        commit = None
        if self._store is not None:
            repo = self._store.repos.get(self._store.repo_of.get(entry.target, ""))
            commit = repo.by_sha.get(entry.sha) if repo is not None else None
        self.post_message(
            DiffWanted(entry.target, entry.app, rollback_pair(entry.sha, commit, entry.of))
        )

    def update_view(self, store: Store, now: datetime) -> None:
        self._store = store
        entries = timeline(store)
        self._entries = entries
        table = self.query_one("#rollbacks", DataTable)
        rows = [(e.sha or f"{e.app}@{e.of}", timeline_row(e, now)) for e in entries]
        if not self._table.fill(table, rows):
            return
        by_guard = sum(1 for e in entries if e.by == "guard")
        summary = (
            f"{len(entries)} rollbacks: {by_guard} by the guard, {len(entries) - by_guard} by "
            "hand · ● the app runs it now · ? explains detect and recover"
        )
        self.query_one("#rollbacks-summary", Static).update(
            Text(summary if entries else "no rollbacks known", style="dim")
        )
