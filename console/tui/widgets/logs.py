"""Logs (`l`): a pod's log lines, or every pod's of an app, as Argo CD's logs API streams them.

The screen keeps the newest lines in a ring (console.tui.logview.LogRing, 10 000 by default)
however long it follows, and the view draws only the lines in sight (the Line API), so a long
follow costs neither memory nor time. Keys: `f` follow on/off (off ends the stream; on reads the
tail again), `space` pause (the stream goes on into the ring, the view holds still), `/` search
(only the lines that match, the match highlighted; esc clears), `c` the next container when the
pods have several. Lines come as messages from a worker (console.tui.podfeeds): this module
only renders.
"""

from __future__ import annotations

import zlib
from collections import deque
from collections.abc import Iterable
from dataclasses import replace
from datetime import tzinfo
from typing import ClassVar

from rich.cells import cell_len
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.screen import Screen
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Footer, Header, Input, Static

from console.fleet.logs import LogLine, LogQuery
from console.tui.logview import RING_LINES, LogRing, matches
from console.tui.podmessages import LogBatch, LogEnded, LogsResolved, LogsWanted
from console.tui.store import AppId

STOPPED = "not following (f: follow)"
POD_STYLES = ("cyan", "magenta", "green", "yellow", "blue", "bright_red")


def line_text(line: LogLine, needle: str, tz: tzinfo | None, pods: bool) -> Text:
    """`12:03:04 backend-5d8f7c9b4-x2x7q │ GET /healthz 200`: the time, the pod when the view
    shows several, the line with the search's matches highlighted."""
    text = Text(no_wrap=True, end="")
    if line.at is not None:
        text.append(line.at.astimezone(tz).strftime("%H:%M:%S "), style="dim")
    if pods:
        style = POD_STYLES[zlib.crc32(line.pod.encode()) % len(POD_STYLES)]
        text.append(line.pod, style=style)
        text.append(" │ ", style="dim")
    # One screen line per log line: a stray newline or carriage return would break the row.
    content = line.content.replace("\r", "").replace("\n", " ")
    body = Text.from_ansi(content, no_wrap=True, end="") if "\x1b" in content else Text(content)
    body.expand_tabs(4)  # after the colours are read: their codes take no columns
    if needle:
        body.highlight_words([needle], style="black on yellow", case_sensitive=False)
    text.append_text(body)
    return text


class LogView(ScrollView, can_focus=True):
    """The lines shown (those of the ring that match the search), drawn only where in sight."""

    DEFAULT_CSS = """
    LogView { height: 1fr; scrollbar-size-vertical: 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "scroll_down", "Down", show=False),
        Binding("k", "scroll_up", "Up", show=False),
        Binding("g", "scroll_home", "Top", show=False),
        Binding("G", "scroll_end", "Bottom", show=False),
    ]

    def __init__(self, *, limit: int = RING_LINES, id: str | None = None) -> None:
        super().__init__(id=id)
        self._lines: deque[LogLine] = deque(maxlen=limit)
        self._needle = ""
        self._pods = False
        self._width = 0
        self.tz: tzinfo | None = None

    @property
    def line_count(self) -> int:
        return len(self._lines)

    def plain_lines(self) -> list[str]:
        """What the view shows, as text (for tests)."""
        return [line_text(ln, "", self.tz, self._pods).plain for ln in self._lines]

    def show(self, lines: Iterable[LogLine], needle: str, pods: bool) -> None:
        """Show exactly `lines` (already filtered), with `needle`'s matches highlighted."""
        self._lines.clear()
        self._needle, self._pods, self._width = needle, pods, 0
        self._grow(lines)
        self._to_end()
        self.refresh()

    def add(self, lines: Iterable[LogLine], *, follow: bool) -> None:
        at_end = self.is_vertical_scroll_end
        self._grow(lines)
        if follow and at_end:
            self._to_end()
        self.refresh()

    def _to_end(self) -> None:
        # Forced: the scrollbar (and with it the right to scroll) appears only at the next
        # layout, so the first batch taller than the view would otherwise stay at its top.
        self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)

    def _grow(self, lines: Iterable[LogLine]) -> None:
        for line in lines:
            self._lines.append(line)
            self._width = max(self._width, cell_len(line.content) + len(line.pod) + 12)
        self.virtual_size = Size(self._width, len(self._lines))

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.size.width
        style = self.rich_style
        if index >= len(self._lines):
            return Strip.blank(width, style)
        text = line_text(self._lines[index], self._needle, self.tz, self._pods)
        strip = Strip(list(text.render(self.app.console)), text.cell_len).apply_style(style)
        return strip.crop_extend(scroll_x, scroll_x + width, style).apply_offsets(scroll_x, index)


class LogsScreen(Screen[None]):
    DEFAULT_CSS = """
    LogsScreen #logs-head { padding: 0 1; height: 2; }
    LogsScreen #log-search { dock: bottom; margin-bottom: 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("f", "follow", "Follow"),
        Binding("space", "pause", "Pause"),
        Binding("slash", "search", "Search"),
        Binding("c", "container", "Container"),
    ]

    def __init__(
        self,
        app_id: AppId,
        *,
        pod: str | None = None,
        namespace: str = "",
        limit: int = RING_LINES,
        tz: tzinfo | None = None,
    ) -> None:
        super().__init__()
        self.app_id = app_id
        self.pod, self.namespace = pod, namespace
        self.ring = LogRing(limit)
        self._limit = limit
        self._tz = tz
        self.query_sent: LogQuery | None = None  # what the stream reads, once resolved
        self.containers: tuple[str, ...] = ()
        self.generation = 0
        self.following = True
        self.paused = False
        self.held = 0  # lines received while paused
        self.needle = ""
        self.state = "connecting…"

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="logs-head")
        yield LogView(limit=self._limit, id="log-lines")
        yield Input(placeholder="search: lines that contain (esc: clear)", id="log-search")
        yield Footer()

    def on_mount(self) -> None:
        name = self.app_id[1].rpartition("/")[2]
        self.title = f"gitops console · logs · {name}"
        view = self.query_one(LogView)
        view.tz = self._tz
        self.query_one("#log-search", Input).display = False
        view.focus()
        self._ask(None)

    # --- the stream -------------------------------------------------------------------------

    def _ask(self, query: LogQuery | None) -> None:
        self.generation += 1
        self.ring.clear()
        self.held = 0
        self.state = "connecting…"
        self._show_all()
        self.post_message(
            LogsWanted(
                self,
                self.app_id,
                query,
                self.generation,
                pod=self.pod,
                namespace=self.namespace,
                container=self.query_sent.container if self.query_sent is not None else None,
            )
        )

    @on(LogsResolved)
    def _resolved(self, message: LogsResolved) -> None:
        if message.generation != self.generation:
            return
        self.query_sent, self.containers = message.query, message.containers
        self.state = "following" if self.following else STOPPED
        self._show_all()

    @on(LogBatch)
    def _batch(self, message: LogBatch) -> None:
        if message.generation != self.generation:
            return  # a stream since replaced
        self.ring.extend(message.lines)
        self.state = "following" if self.following else STOPPED
        if self.paused:
            self.held += len(message.lines)
        else:
            wanted = [ln for ln in message.lines if matches(ln, self.needle)]
            self.query_one(LogView).add(wanted, follow=self.following)
        self._head()

    @on(LogEnded)
    def _ended(self, message: LogEnded) -> None:
        if message.generation != self.generation:
            return
        if message.error:
            self.state = f"ended: {message.error} (f: try again)"
        else:
            self.state = "stream ended (f: follow again)" if self.following else STOPPED
        self.following = False  # nothing follows now: `f` starts a stream again
        self._head()

    # --- keys -------------------------------------------------------------------------------

    def action_follow(self) -> None:
        self.following = not self.following
        if self.following and (self.query_sent is None or self.pod is None):
            # Which pods (a rollout replaces them) and containers are read anew; the
            # container chosen last is kept when the pods still have it.
            self._ask(None)
        elif self.query_sent is not None:
            self._ask(replace(self.query_sent, follow=self.following))
        else:
            self._head()

    def action_pause(self) -> None:
        self.paused = not self.paused
        if not self.paused:
            self.held = 0
            self._show_all()
        self._head()

    def action_container(self) -> None:
        if len(self.containers) < 2 or self.query_sent is None:
            self.notify("no other container to read", severity="warning")
            return
        current = self.query_sent.container
        index = self.containers.index(current) if current in self.containers else -1
        chosen = self.containers[(index + 1) % len(self.containers)]
        self.query_sent = replace(self.query_sent, container=chosen, follow=self.following)
        self._ask(self.query_sent)

    def action_search(self) -> None:
        box = self.query_one("#log-search", Input)
        box.display = True
        box.focus()

    def action_back(self) -> None:
        box = self.query_one("#log-search", Input)
        if box.display or self.needle:
            box.value = ""
            box.display = False
            self.query_one(LogView).focus()
            return
        self.app.pop_screen()

    @on(Input.Changed, "#log-search")
    def _search(self, event: Input.Changed) -> None:
        self.needle = event.value
        self._show_all()

    @on(Input.Submitted, "#log-search")
    def _search_done(self, event: Input.Submitted) -> None:
        self.query_one("#log-search", Input).display = bool(event.value)
        self.query_one(LogView).focus()

    # --- rendering --------------------------------------------------------------------------

    def _show_all(self) -> None:
        pods = self.query_sent is not None and self.query_sent.pod is None
        self.query_one(LogView).show(self.ring.matching(self.needle), self.needle, pods)
        self._head()

    def _head(self) -> None:
        # Two lines high whatever it says (the CSS): no layout pass per batch of lines.
        self.query_one("#logs-head", Static).update(self.head_text(), layout=False)

    def head_text(self) -> Text:
        """Two lines: what is read (pod, container), then the stream's state and the counts."""
        query = self.query_sent
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        pod = query.pod if query is not None else self.pod
        text.append("pod ", style="dim")
        text.append(pod or "every current pod", style="bold")
        if self.containers:
            current = query.container if query is not None else None
            chosen = current or self.containers[0]
            text.append("  container ", style="dim")
            text.append(chosen, style="bold")
            if len(self.containers) > 1:
                at = self.containers.index(chosen) + 1 if chosen in self.containers else 1
                text.append(f" {at}/{len(self.containers)} (c: next)", style="dim")
        text.append("\n")
        if self.paused:
            text.append("⏸ paused", style="bold yellow")
            text.append(f" +{self.held} new (space: resume)  ", style="yellow")
        elif self.state.startswith("ended"):
            text.append(self.state + "  ", style="bold red")
        elif self.state.startswith("stream ended"):
            text.append(self.state + "  ", style="yellow")
        elif self.following and self.state == "following":
            text.append("● following  ", style="green")
        else:
            text.append(f"■ {self.state}  ", style="dim")
        text.append(f"{len(self.ring)} lines", style="dim")
        if self.ring.dropped:
            text.append(f" (the newest; {self.ring.dropped} older dropped)", style="dim")
        if self.needle:
            shown = self.query_one(LogView).line_count
            text.append("  search ", style="dim")
            text.append(self.needle, style="bold")
            text.append(f": {shown} matching", style="dim")
        return text
