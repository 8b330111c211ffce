"""The confirm modal in front of every action: the exact text that will be written (the commit
message, the API request), a reason for a rollback, and an explicit yes. Dismisses with the
reason ("" when none is asked) or None when cancelled. What an action writes, its default reason
included, is the action layer's to say: the modal only shows it. `d` (or the Diff button) shows
what the draft will change in the rendered manifests, when the action can say."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static


class ConfirmScreen(ModalScreen[str | None]):
    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical {
        width: 90%;
        max-width: 110;
        height: auto;
        max-height: 90%;
        border: thick $warning;
        background: $surface;
        padding: 0 1;
    }
    ConfirmScreen #preview-box { height: auto; max-height: 45vh; }
    ConfirmScreen #preview { background: $boost; padding: 0 1; }
    ConfirmScreen #buttons { height: auto; align-horizontal: right; margin-top: 1; }
    ConfirmScreen Button { margin-left: 2; }
    ConfirmScreen Input { margin-top: 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+y", "confirm", "Write it"),
        Binding("d", "diff", "Diff"),
    ]

    def __init__(
        self,
        title: str,
        describe: Callable[[str], str],
        reason_default: str | None = None,
        *,
        on_diff: Callable[[], None] | None = None,
    ) -> None:
        """`reason_default`: ask for a reason, written as this when left empty; None: ask none.
        `on_diff`: show the draft's diff (the app fetches it); None: no diff to show."""
        super().__init__()
        self.on_diff = on_diff
        self.heading = title
        self.describe = describe
        self.reason_default = reason_default
        self.asks_reason = reason_default is not None

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = self.heading
            yield Label("This will write exactly:")
            with VerticalScroll(id="preview-box"):
                yield Static(self.describe(""), id="preview", markup=False)
            if self.asks_reason:
                yield Input(placeholder=f"reason (default: {self.reason_default})", id="reason")
            with Horizontal(id="buttons"):
                if self.on_diff is not None:
                    yield Button("Diff (d)", id="diff")
                yield Button("Cancel (esc)", id="cancel")
                yield Button("Write it (ctrl+y)", id="confirm", variant="warning")

    def on_mount(self) -> None:
        if self.asks_reason:
            self.query_one("#reason", Input).focus()
        else:
            self.query_one("#cancel", Button).focus()  # a stray enter must not write

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_one("#preview", Static).update(self.describe(event.value))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()  # enter in the reason field does not confirm: ctrl+y or the button does

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "confirm":
            self.action_confirm()
        elif event.button.id == "diff":
            self.action_diff()
        else:
            self.action_cancel()

    def action_confirm(self) -> None:
        reason = self.query_one("#reason", Input).value if self.asks_reason else ""
        self.dismiss(reason)

    def action_diff(self) -> None:
        if self.on_diff is None:
            self.notify("no diff to show for this action", severity="warning")
            return
        self.on_diff()

    def action_cancel(self) -> None:
        self.dismiss(None)
