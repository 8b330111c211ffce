"""The fleet matrix (services by environments) and the small table of the other apps.

Updates are incremental: rows are keyed by service and columns by environment, each cell
remembers the signature of what it shows, and only cells whose text changed are updated in
place (DataTable.update_cell). Rows come and go with the fleet and the filter; the whole table
is rebuilt only when the set of columns changes (a new environment or target).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, RowDoesNotExist

from console.tui.fleetview import (
    CELL_WIDTH,
    AppFacts,
    Matrix,
    Row,
    cell_signature,
    empty_cell,
    other_cells,
    render_cell,
)
from console.tui.store import AppId

SERVICE = "service"
ROW_HEIGHT = 3
VIM_KEYS: list[BindingType] = [
    Binding("j", "cursor_down", "Down", show=False),
    Binding("k", "cursor_up", "Up", show=False),
    Binding("h", "cursor_left", "Left", show=False),
    Binding("l", "cursor_right", "Right", show=False),
    Binding("g", "scroll_top", "Top", show=False),
    Binding("G", "scroll_bottom", "Bottom", show=False),
]


class VimTable(DataTable[Text]):
    """A DataTable that also moves with j/k/h/l and g/G."""

    BINDINGS: ClassVar[list[BindingType]] = VIM_KEYS


class FleetMatrix(VimTable):
    """Rows are services, columns environments (promotion order); a cell is one app."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(cursor_type="cell", zebra_stripes=True, id=id)
        self.fixed_columns = 1
        self._columns: tuple[str, ...] | None = None
        self._shown: dict[tuple[str, str], tuple[str, bool]] = {}
        self._apps: dict[tuple[str, str], AppId] = {}
        self.updates = 0  # cells updated in place, for tests and the benchmark
        self.rebuilds = 0  # whole-table rebuilds (the set of columns changed)

    def app_at_cursor(self) -> AppId | None:
        """The app under the cursor; on the service column, the row's first app."""
        if not self.row_count:
            return None
        try:
            row_key, column_key = self.coordinate_to_cell_key(self.cursor_coordinate)
        except CellDoesNotExist:
            return None
        row = str(row_key.value)
        if column_key.value == SERVICE:
            found = [self._apps[k] for k in self._apps if k[0] == row]
            return found[0] if found else None
        return self._apps.get((row, str(column_key.value)))

    def show(self, matrix: Matrix, now: datetime) -> None:
        columns = tuple(c.key for c in matrix.columns)
        keep = self._cursor_key()
        if columns != self._columns:
            self._rebuild(matrix, now)
        else:
            wanted = {row.key for row in matrix.rows}
            for key in [str(k.value) for k in self.rows if k.value not in wanted]:
                self.remove_row(key)
                self._forget(key)
            for row in matrix.rows:
                if row.key in self.rows:
                    self._update(row, columns, now)
                else:
                    self._add(row, columns, now)
            order = [row.key for row in matrix.rows]
            if [str(r.key.value) for r in self.ordered_rows] != order:
                rank = {key: i for i, key in enumerate(order)}
                self.sort(SERVICE, key=lambda cell: rank[cell.plain])
        self._restore_cursor(keep)

    def _rebuild(self, matrix: Matrix, now: datetime) -> None:
        self.rebuilds += 1
        self.clear(columns=True)
        self._shown.clear()
        self._apps.clear()
        self._columns = tuple(c.key for c in matrix.columns)
        width = max([len(SERVICE), *(len(r.key) for r in matrix.rows)]) + 1
        self.add_column(SERVICE.upper(), key=SERVICE, width=min(width, 24))
        for column in matrix.columns:
            self.add_column(column.label, key=column.key, width=CELL_WIDTH)
        for row in matrix.rows:
            self._add(row, self._columns, now)
        if self.cursor_column == 0 and matrix.columns:
            self.move_cursor(column=1, animate=False)  # start on an app, not on a name

    def _add(self, row: Row, columns: tuple[str, ...], now: datetime) -> None:
        values = [Text(row.key, style="bold")]
        for column in columns:
            values.append(self._cell(row, column, now))
        self.add_row(*values, key=row.key, height=ROW_HEIGHT)

    def _update(self, row: Row, columns: tuple[str, ...], now: datetime) -> None:
        for column in columns:
            before = self._shown.get((row.key, column))
            text = self._cell(row, column, now)
            if self._shown.get((row.key, column)) != before:
                self.update_cell(row.key, column, text)
                self.updates += 1

    def _cell(self, row: Row, column: str, now: datetime) -> Text:
        cell = row.cells.get(column)
        if cell is None:
            self._shown.pop((row.key, column), None)
            self._apps.pop((row.key, column), None)
            return empty_cell()
        text = render_cell(cell, now)
        self._shown[(row.key, column)] = cell_signature(cell, text)
        self._apps[(row.key, column)] = cell.facts.id
        return text

    def _forget(self, row: str) -> None:
        for key in [k for k in self._shown if k[0] == row]:
            del self._shown[key]
        for key in [k for k in self._apps if k[0] == row]:
            del self._apps[key]

    def _cursor_key(self) -> tuple[str, str] | None:
        if not self.row_count:
            return None
        try:
            row, column = self.coordinate_to_cell_key(self.cursor_coordinate)
        except CellDoesNotExist:
            return None
        return str(row.value), str(column.value)

    def _restore_cursor(self, key: tuple[str, str] | None) -> None:
        """Keep the cursor on the same app when rows move, appear or go."""
        if key is None:
            return
        try:
            row = self.get_row_index(key[0])
            column = self.get_column_index(key[1])
        except (RowDoesNotExist, KeyError, Exception):
            return
        if (row, column) != tuple(self.cursor_coordinate):
            self.move_cursor(row=row, column=column, animate=False, scroll=True)


class OtherApps(VimTable):
    """Apps without service and env labels (the root app, the guard): one line each."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(cursor_type="row", id=id)
        self._shown: dict[str, tuple[str, ...]] = {}
        self._ids: dict[str, AppId] = {}

    def on_mount(self) -> None:
        for label in ("OTHER APPS", "TARGET", "HEALTH", "SYNC", "REVISION", "DEPLOYED"):
            self.add_column(label, key=label)

    def app_at_cursor(self) -> AppId | None:
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return self._ids.get(str(key))

    def show(self, others: tuple[AppFacts, ...], now: datetime) -> None:
        wanted: Mapping[str, AppFacts] = {f"{f.target}/{f.app.key}": f for f in others}
        for key in [k for k in self._shown if k not in wanted]:
            self.remove_row(key)
            del self._shown[key]
            del self._ids[key]
        for key, facts in wanted.items():
            cells = other_cells(facts, now)
            plain = tuple(c.plain for c in cells)
            if key not in self._shown:
                self.add_row(*cells, key=key)
            elif self._shown[key] != plain:
                for label, cell in zip(self.columns, cells, strict=True):
                    self.update_cell(key, label, cell, update_width=True)
            self._shown[key] = plain
            self._ids[key] = facts.id
        self.display = bool(wanted)
