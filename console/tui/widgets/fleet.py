"""The home screen: the fleet matrix, the other apps, the events pane, the error banner and the
filter line."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static

from console.tui.fleetview import Matrix, SortMode, summary
from console.tui.messages import FilterChanged, OpenApp, ScreenReady
from console.tui.store import AppId, Store
from console.tui.widgets.banner import StaleBanner
from console.tui.widgets.events import EventsPane
from console.tui.widgets.matrix import FleetMatrix, OtherApps

SORT_LABELS: dict[SortMode, str] = {
    "name": "name",
    "health": "worst health",
    "recent": "last deployed",
}


class FleetScreen(Screen[None]):
    ready = False
    _summary: Text | None = None  # the summary line shown
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
        Binding("o", "app.sort", "Sort", show=False),  # in the help: the footer is full
        Binding("s", "app.sync", "Sync"),
        Binding("r", "app.rollback", "Rollback"),
        Binding("p", "app.promote", "Promote"),
        Binding("b", "app.rollbacks", "Rollbacks"),
        Binding("e", "app.events", "Events", show=False),
        Binding("L", "app.logs", "Logs", show=False),  # `l` moves the cursor right here
        Binding("t", "app.tree", "Tree", show=False),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        yield StaleBanner(id="banner")
        yield Static(id="summary")
        yield FleetMatrix(id="matrix")
        yield OtherApps(id="others")
        yield EventsPane(id="events")
        yield Input(placeholder="filter: name, env, health, sync, target revision", id="filter")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#filter", Input).display = False
        self.query_one("#matrix", FleetMatrix).focus()
        self.ready = True  # its widgets exist: the app may render into them
        self.post_message(ScreenReady())

    def selected(self) -> AppId | None:
        others = self.query_one("#others", OtherApps)
        if others.has_focus:
            return others.app_at_cursor()
        return self.query_one("#matrix", FleetMatrix).app_at_cursor()

    def update_view(
        self, store: Store, now: datetime, matrix: Matrix, query: str, sort: SortMode
    ) -> None:
        self.query_one("#banner", StaleBanner).show(
            list(store.targets.values()), store.repo_errors, now
        )
        line = Text(summary(matrix))
        line.append(f"   sort: {SORT_LABELS[sort]}", style="dim")
        if query:
            line.append("   filter: ", style="dim")
            line.append(query, style="bold")
        if line != self._summary:  # on every flush: repaint only what changed
            self._summary = line
            # One line high (the app's CSS): a new text never changes the screen's layout.
            self.query_one("#summary", Static).update(line, layout=False)
        self.query_one("#matrix", FleetMatrix).show(matrix, now)
        self.query_one("#others", OtherApps).show(matrix.others, now)
        self.query_one("#events", EventsPane).show(store.events, store.total_events, now)

    # --- filter -----------------------------------------------------------------------------

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        if box.value or box.display:
            box.value = ""
            box.display = False
            self.query_one("#matrix", FleetMatrix).focus()
            self.post_message(FilterChanged(""))

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.post_message(FilterChanged(event.value))

    @on(Input.Submitted, "#filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        box = self.query_one("#filter", Input)
        box.display = bool(event.value)
        self.query_one("#matrix", FleetMatrix).focus()

    # --- drill in ---------------------------------------------------------------------------

    @on(DataTable.CellSelected, "#matrix")
    def _cell_selected(self) -> None:
        app_id = self.query_one("#matrix", FleetMatrix).app_at_cursor()
        if app_id is not None:
            self.post_message(OpenApp(app_id))

    @on(DataTable.RowSelected, "#others")
    def _row_selected(self) -> None:
        app_id = self.query_one("#others", OtherApps).app_at_cursor()
        if app_id is not None:
            self.post_message(OpenApp(app_id))
