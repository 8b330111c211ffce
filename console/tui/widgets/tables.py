"""What the console's tables of keyed rows share: the key under the cursor, and a refill that
costs nothing when the rows read the same and keeps the cursor on its row when they do not."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist


def cursor_key(table: DataTable[Any]) -> str | None:
    """The key of the row under the cursor; None for an empty table."""
    if not table.row_count:
        return None
    try:
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
    except CellDoesNotExist:
        return None
    return None if key is None else str(key)


class KeyedRows:
    """One table's rows as last filled, by what they read."""

    def __init__(self) -> None:
        self._shown: tuple[tuple[str, ...], ...] | None = None

    def fill(self, table: DataTable[Any], rows: Sequence[tuple[str, Sequence[Text]]]) -> bool:
        """Replace the table's rows with `rows` (key, cells) unless they read as before; the
        cursor stays on the row it was on when that row is still there. True when refilled."""
        plain = tuple((key, *(cell.plain for cell in cells)) for key, cells in rows)
        if plain == self._shown:
            return False
        self._shown = plain
        keep = cursor_key(table)
        table.clear()
        for key, cells in rows:
            table.add_row(*cells, key=key)
        keys = [key for key, _ in rows]
        if keep is not None and keep in keys:
            table.move_cursor(row=keys.index(keep), animate=False)
        return True
