"""Resource tree (`t`): Application → Deployment → ReplicaSet → Pod, as Argo CD's resource-tree
API has them, with each one's health, status reason and restarts; read again every few
seconds while shown. Enter (or `l`) on a pod opens its logs; `l` elsewhere, the app's."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from console.fleet.display import age
from console.tui.fleetview import health_text
from console.tui.podmessages import OpenLogs, TreeRead, TreeWanted
from console.tui.store import AppId
from console.tui.treeview import TreeRow
from console.tui.widgets.matrix import VimTable
from console.tui.widgets.tables import KeyedRows, cursor_key

# The short columns first: on 80 columns a long status message runs off the right edge alone.
COLUMNS = ("RESOURCE", "HEALTH", "READY", "RESTARTS", "AGE", "STATUS")


def tree_row(row: TreeRow, now: datetime) -> tuple[Text, ...]:
    kind = "app" if row.kind == "Application" else row.kind
    restarts = "" if row.restarts is None else str(row.restarts)
    return (
        Text.assemble((row.prefix, "dim"), (f"{kind} ", "dim"), (row.name, "bold")),
        health_text(row.health) if row.health is not None else Text("-", style="dim"),
        Text(row.ready),
        Text(restarts, style="bold red" if row.restarts else "", justify="right"),
        Text(age(row.created, now) if row.created is not None else ""),
        Text(row.status),
    )


class TreeScreen(Screen[None]):
    DEFAULT_CSS = """
    TreeScreen #tree-head { padding: 0 1; height: 1; }
    TreeScreen #tree { height: 1fr; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("l", "logs", "Logs", priority=True),  # the table's `l` moves right: not here
    ]

    def __init__(
        self,
        app_id: AppId,
        *,
        refresh_s: float = 5.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__()
        self.app_id = app_id
        self.rows: tuple[TreeRow, ...] = ()
        self.error = ""
        self.reads = 0
        self._refresh_s = refresh_s
        self._clock = clock or (lambda: datetime.now().astimezone())
        self._table = KeyedRows()
        self._asking = False  # a read asked for and not answered yet

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="tree-head")
        yield VimTable(id="tree", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        name = self.app_id[1].rpartition("/")[2]
        self.title = f"gitops console · tree · {name}"
        table = self.query_one("#tree", DataTable)
        for label in COLUMNS:
            table.add_column(label, key=label)
        table.focus()
        self._head()
        self.ask()
        self.set_interval(self._refresh_s, self.ask)

    def ask(self) -> None:
        if self._asking:
            return  # a slow server: the read under way is not cut short by the next one
        self._asking = True
        self.post_message(TreeWanted(self, self.app_id))

    @on(TreeRead)
    def _read(self, message: TreeRead) -> None:
        self._asking = False
        self.reads += 1
        self.error = message.error
        if not message.error:
            self._show(message.rows)
        self._head()

    def _show(self, rows: tuple[TreeRow, ...]) -> None:
        self.rows = rows
        now = self._clock()
        table = self.query_one("#tree", DataTable)
        self._table.fill(table, [(row.key, tree_row(row, now)) for row in rows])

    def _head(self) -> None:
        text = Text()
        if self.error:
            text.append(self.error, style="bold red")
        elif not self.reads:
            text.append("reading the resource tree…", style="dim")
        else:
            pods = [r for r in self.rows if r.is_pod]
            text.append(f"{len(pods)} pods", style="bold")
            restarts = sum(r.restarts or 0 for r in pods)
            if restarts:
                text.append(f", {restarts} restarts", style="bold red")
            text.append("   enter on a pod: its logs · l: logs", style="dim")
        self.query_one("#tree-head", Static).update(text)

    def selected(self) -> TreeRow | None:
        key = cursor_key(self.query_one("#tree", DataTable))
        return next((row for row in self.rows if row.key == key), None)

    @on(DataTable.RowSelected, "#tree")
    def _row_selected(self) -> None:
        self.action_open()

    def action_open(self) -> None:
        row = self.selected()
        if row is None or not row.is_pod:
            self.notify("enter opens a pod's logs: move to a pod", severity="warning")
            return
        self.post_message(OpenLogs(self.app_id, row.name, row.namespace))

    def action_logs(self) -> None:
        row = self.selected()
        if row is not None and row.is_pod:
            self.post_message(OpenLogs(self.app_id, row.name, row.namespace))
        else:
            self.post_message(OpenLogs(self.app_id))
