"""The fleet matrix (services by environments) and the small table of the other apps.

Updates are incremental: rows are keyed by service and columns by environment, each cell
remembers the signature of what it shows, and only cells whose text changed are updated in
place (`put_cell`). A cell whose facts are the same object as last time (see
fleetview.FactsCache), with the same filter match, is not even rendered again until one of
its ages moves on: a stream event costs one cell, not the fleet. And a cell out of view is not
repainted: the table draws it anew when it scrolls into view. Rows come and go with the fleet
and the filter; the whole table is rebuilt only when the set of columns changes (a new
environment or target).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, ColumnKey, RowDoesNotExist, RowKey

from console.tui.fleetview import (
    CELL_WIDTH,
    AppFacts,
    Matrix,
    Row,
    cell_changes,
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
        # What each cell was rendered from (its facts, its filter match) and until when that
        # rendering holds (when an age it shows moves on; None: for ever).
        self._drawn: dict[tuple[str, str], tuple[AppFacts, bool, datetime | None]] = {}
        # Each row as last drawn, and until when that holds (its cells' earliest change).
        self._rows_drawn: dict[str, tuple[Row, datetime | None]] = {}
        self._order: list[str] = []  # the row keys, in the order shown
        self.updates = 0  # cells updated in place, for tests and the benchmark
        self.rebuilds = 0  # whole-table rebuilds (the set of columns changed)

    def app_at_cursor(self) -> AppId | None:
        """The app under the cursor; on the service column, the row's first app."""
        key = self._cursor_key()
        if key is None:
            return None
        row, column = key
        if column == SERVICE:
            found = [self._apps[k] for k in self._apps if k[0] == row]
            return found[0] if found else None
        return self._apps.get(key)

    def show(self, matrix: Matrix, now: datetime) -> None:
        columns = tuple(c.key for c in matrix.columns)
        keep = self._cursor_key()
        order = [row.key for row in matrix.rows]
        if columns != self._columns:
            self._rebuild(matrix, now)
        else:
            wanted = set(order)
            moved = False
            for key in [str(k.value) for k in self.rows if k.value not in wanted]:
                self.remove_row(key)
                self._forget(key)
                moved = True
            drawn = self._rows_drawn
            for row in matrix.rows:
                last = drawn.get(row.key)
                if last is not None and last[0] is row and (last[1] is None or now < last[1]):
                    continue  # the very Row drawn last time, and none of its ages moved on
                if row.key in self.rows:
                    self._update(row, columns, now)
                else:
                    self._add(row, columns, now)
                    moved = True
            if moved:
                self._order = [str(r.key.value) for r in self.ordered_rows]
            if self._order != order:
                rank = {key: i for i, key in enumerate(order)}
                self.sort(SERVICE, key=lambda cell: rank[cell.plain])
        self._order = order
        self._restore_cursor(keep)

    def _rebuild(self, matrix: Matrix, now: datetime) -> None:
        self.rebuilds += 1
        self.clear(columns=True)
        self._shown.clear()
        self._apps.clear()
        self._drawn.clear()
        self._rows_drawn.clear()
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
        self._row_drawn(row, columns)

    def _row_drawn(self, row: Row, columns: tuple[str, ...]) -> None:
        dues = [self._drawn[(row.key, c)][2] for c in columns if (row.key, c) in self._drawn]
        self._rows_drawn[row.key] = (row, min((d for d in dues if d is not None), default=None))

    def _update(self, row: Row, columns: tuple[str, ...], now: datetime) -> None:
        cells, drawn = row.cells, self._drawn
        for column in columns:
            cell = cells.get(column)
            key = (row.key, column)
            if cell is not None:
                last = drawn.get(key)
                if (
                    last is not None
                    and last[0] is cell.facts
                    and last[1] == cell.matched
                    and (last[2] is None or now < last[2])
                ):
                    continue  # drawn from these very facts, and no age has moved on since
            elif key not in self._shown:
                continue  # empty, and empty already
            before = self._shown.get(key)
            text = self._cell(row, column, now)
            if self._shown.get(key) != before:
                self.put_cell(row.key, column, text)
        self._row_drawn(row, columns)

    def put_cell(self, row: str, column: str, text: Text) -> None:
        """Show `text` in an existing cell (counted in `updates`). In view, that is
        DataTable.update_cell, which repaints the visible rows. Out of view it is
        update_cell without the repaint: a DataTable renders only the rows in view, and the
        new update count (which every one of its render caches is keyed by) has it render
        them anew when it scrolls or next repaints; so the fleet's changes off screen cost no
        repaint at all."""
        self.updates += 1
        if self._in_view(row):
            self.update_cell(row, column, text)
            return
        self._data[RowKey(row)][ColumnKey(column)] = text
        self._update_count += 1

    def _in_view(self, row: str) -> bool:
        """Some line of the row is (or is next to) the visible window. Rows are all
        ROW_HEIGHT high; the header does not scroll."""
        top = self.get_row_index(row) * ROW_HEIGHT
        window = self.scroll_offset.y
        height = self.size.height
        return top + ROW_HEIGHT >= window and top <= window + height

    def _cell(self, row: Row, column: str, now: datetime) -> Text:
        cell = row.cells.get(column)
        key = (row.key, column)
        if cell is None:
            self._shown.pop(key, None)
            self._apps.pop(key, None)
            self._drawn.pop(key, None)
            return empty_cell()
        text = render_cell(cell, now)
        self._shown[key] = cell_signature(cell, text)
        self._apps[key] = cell.facts.id
        self._drawn[key] = (cell.facts, cell.matched, cell_changes(cell.facts, now))
        return text

    def _forget(self, row: str) -> None:
        self._rows_drawn.pop(row, None)
        for column in self._columns or ():
            self._shown.pop((row, column), None)
            self._apps.pop((row, column), None)
            self._drawn.pop((row, column), None)

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
