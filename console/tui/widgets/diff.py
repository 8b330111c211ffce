"""The diff view (`d`): an app's rendered manifests of one revision against another, as a
unified diff with colour, object by object. It renders what a worker fetched and posted
(DiffFetched); until then it says what it is waiting for."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from console.tui.diffview import ManifestDiff, ObjectDiff, ref
from console.tui.messages import DiffFetched

MARK = {"changed": "~", "added": "+", "removed": "-"}


def line_style(line: str) -> str:
    if line.startswith(("+++", "---")):
        return "bold"
    if line.startswith("@@"):
        return "cyan"
    if line.startswith("+"):
        return "green"
    if line.startswith("-"):
        return "red"
    return ""


def object_text(obj: ObjectDiff) -> Text:
    """One object's diff under a heading, each line coloured as `git diff` colours it."""
    text = Text()
    text.append(f"{MARK[obj.change]} {ref(obj.key)} ({obj.change})\n", style="bold reverse")
    for line in obj.lines:
        text.append(line + "\n", style=line_style(line))
    text.rstrip()
    return text


def diff_texts(diff: ManifestDiff) -> list[Text]:
    """One text per object that differs; one line saying so when none does."""
    if diff.empty:
        return [Text(f"no difference: {diff.same} objects, the same at both", style="dim")]
    return [object_text(obj) for obj in diff.objects]


class DiffScreen(Screen[None]):
    DEFAULT_CSS = """
    DiffScreen #diff-head { padding: 0 1; height: auto; }
    DiffScreen #diff-body { height: 1fr; border-top: solid $primary-muted; }
    DiffScreen .diff-object { padding: 0 1; margin-bottom: 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("j", "scroll('down')", "Down", show=False),
        Binding("k", "scroll('up')", "Up", show=False),
        Binding("g", "scroll('home')", "Top", show=False),
        Binding("G", "scroll('end')", "Bottom", show=False),
        Binding("n", "jump(1)", "Next object"),
        Binding("N", "jump(-1)", "Previous object"),
    ]

    def __init__(self, title: str, what: str, old: str, new: str) -> None:
        super().__init__()
        self.heading, self.what, self.old, self.new = title, what, old, new
        self.diff: ManifestDiff | None = None
        self.error = ""
        self.at = 0  # the object `n` and `N` last jumped to

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(self._head("rendering both revisions…"), id="diff-head")
        yield VerticalScroll(id="diff-body")
        yield Footer()

    def on_mount(self) -> None:
        self.title = f"gitops console · diff · {self.heading}"
        self.query_one("#diff-body", VerticalScroll).focus()

    def _head(self, status: str, style: str = "dim") -> Text:
        text = Text.assemble((self.heading, "bold"), "  ")
        text.append("--- ", style="red")
        text.append(self.old)
        text.append("  +++ ", style="green")
        text.append(self.new)
        text.append(f"\n{self.what}\n")
        text.append(status, style=style)
        return text

    def action_scroll(self, where: str) -> None:
        body = self.query_one("#diff-body", VerticalScroll)
        {
            "down": body.scroll_down,
            "up": body.scroll_up,
            "home": body.scroll_home,
            "end": body.scroll_end,
        }[where](animate=False)

    def action_jump(self, step: int) -> None:
        objects = list(self.query(".diff-object"))
        if not objects:
            return
        self.at = (self.at + step) % len(objects)
        self.query_one("#diff-body", VerticalScroll).scroll_to_widget(
            objects[self.at], animate=False, top=True
        )

    async def on_diff_fetched(self, message: DiffFetched) -> None:
        head = self.query_one("#diff-head", Static)
        body = self.query_one("#diff-body", VerticalScroll)
        await body.remove_children()
        if message.diff is None:
            head.update(self._head(message.error, "bold red"))
            self.error = message.error
            return
        await body.mount_all(Static(t, classes="diff-object") for t in diff_texts(message.diff))
        self.at = -1  # the first `n` goes to the first object
        head.update(self._head(message.diff.summary()))
        self.diff = message.diff  # last: what tests wait for
