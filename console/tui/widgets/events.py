"""The events pane: the guard's events and the console's own (targets down and back, health and
sync changes, actions), newest at the bottom. Append-only: only new events are written."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, tzinfo
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, Header, RichLog

from console.tui.messages import ScreenReady
from console.tui.store import ConsoleEvent, Store


def event_line(event: ConsoleEvent, tz: tzinfo | None) -> Text:
    """`12:03:04 ! Degraded  backend-dev  Healthy → Degraded`: time, a mark (`!` for a
    warning), the kind, the app and the message."""
    at = event.at.astimezone(tz).strftime("%H:%M:%S")
    mark = "!" if event.warning else "·"
    style = "bold red" if event.warning else ""
    who = event.app or event.target or "fleet"
    origin = " [guard]" if event.origin == "guard" else ""
    return Text.assemble(
        (f"{at} ", "dim"),
        (f"{mark} {event.kind:<10}", style),
        (f" {who}", "bold"),
        (origin, "dim"),
        f"  {event.message}",
    )


class EventsPane(RichLog):
    DEFAULT_CSS = """
    EventsPane {
        height: 7;
        border-top: solid $primary-muted;
        scrollbar-size-vertical: 1;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(max_lines=500, wrap=False, markup=False, id=id)
        self.border_title = "events"
        self._written = 0
        self._replaced: tuple[ConsoleEvent, ...] = ()

    def show(self, events: Iterable[ConsoleEvent], total: int, now: datetime) -> None:
        """Write the events not written yet; `total` counts every event ever stored (the
        store keeps only the newest)."""
        new = total - self._written
        if new <= 0:
            return
        pending = list(events)[-new:]
        for event in pending:
            self.write(event_line(event, now.tzinfo))
        self._written = total

    def replace(self, events: Iterable[ConsoleEvent], now: datetime) -> None:
        """Show exactly `events` (a filtered view, such as one app's), rewriting only when
        they changed."""
        wanted = tuple(events)
        if wanted == self._replaced:
            return
        self._replaced = wanted
        self.clear()
        for event in wanted:
            self.write(event_line(event, now.tzinfo))


class EventsScreen(Screen[None]):
    ready = False
    """`:events`, `e`: every event kept, full height."""

    DEFAULT_CSS = """
    EventsScreen EventsPane { height: 1fr; border-top: none; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "app.pop_screen", "Back")]

    def compose(self) -> ComposeResult:
        yield Header()
        yield EventsPane(id="all-events")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "gitops console · events"
        self.ready = True  # its widgets exist: the app may render into them
        self.post_message(ScreenReady())

    def update_view(self, store: Store, now: datetime) -> None:
        self.query_one("#all-events", EventsPane).show(store.events, store.total_events, now)
