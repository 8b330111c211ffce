"""`?`: the keys, the commands and what the marks mean."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS = (
    ("enter", "open the app under the cursor"),
    ("esc", "back; clear the filter"),
    ("/", "filter: name, env, health, sync, target revision (all words must match)"),
    (":", "command palette: fleet, rollbacks, events, logs, tree, help, sort, quit"),
    ("o", "sort: name → worst health → last deployed"),
    ("b", "rollback timeline"),
    ("e", "all events"),
    ("s", "sync the app (Argo CD sync API)"),
    ("r", "roll back: in the detail, to the history line under the cursor"),
    (
        "d",
        "diff of the rendered manifests: what a history line's deploy or a rollback changed; "
        "in a confirm, what the draft will change",
    ),
    ("p", "promote the app's tag to the next environment"),
    ("t", "resource tree: app → Deployment → ReplicaSet → Pod; enter on a pod: its logs"),
    ("l", "logs of the app's pods (on the fleet: L); in the tree, of the pod under the cursor"),
    ("  f space", "logs: follow on/off; pause (the stream goes on, the view holds still)"),
    ("  / c", "logs: search (only the lines that match; esc clears); the next container"),
    ("j k h l", "move; g / G: top / bottom"),
    ("?", "this help"),
    ("q", "quit"),
)
MARKS = (
    ("✓ ↻ ✗ ◌ ∅ ?", "Healthy, Progressing, Degraded, Suspended, Missing, Unknown"),
    ("✓ ⇡ ?", "Synced, OutOfSync, Unknown"),
    ("git / img", "the tag Git pins at the app's revision (img: only the image's is known)"),
    ("live", "what the service's /version answers"),
    ("≠ drift", "Git, the running image and /version disagree"),
    ("↺ rollback", "the app runs a rollback commit (Rollback-Of trailer)"),
    ("stale 2m", "the target is down: the data shown is that old"),
    ("detect", "rollbacks: the bad revision's deploy started → the rollback was decided"),
    ("recover", "rollbacks: the rollback written → healthy on it"),
    ("mttr", "rollbacks: the bad revision's deploy started → healthy on the rollback"),
)


def help_table() -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    table.add_row(Text("keys", style="bold underline"), "")
    for key, what in KEYS:
        table.add_row(key, what)
    table.add_row("", "")
    table.add_row(Text("marks", style="bold underline"), "")
    for mark, what in MARKS:
        table.add_row(mark, what)
    return table


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 100;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: round $primary;
        background: $surface;
        padding: 0 1;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Close"),
        Binding("question_mark", "dismiss", "Close"),
        Binding("q", "dismiss", "Close"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll() as box:
            box.border_title = "help"
            yield Static(help_table())

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
