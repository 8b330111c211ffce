"""App detail (`enter`): the app's state, its history joined with the deploy repo's commits,
its resources, the probe's answer and its recent events. `r` on a history line rolls back to
that revision; `d` shows what its deploy changed; `s` syncs; `p` promotes."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from console.fleet.display import age, short
from console.fleet.targets import probe_urls
from console.guard.events import analysis_of
from console.tui.appdetail import HistoryLine, auto_sync_label, history_lines
from console.tui.diffview import history_pair
from console.tui.fleetview import DRIFT, AppFacts, facts_of, health_text, sync_text
from console.tui.messages import DiffWanted, RollbackChosen, ScreenReady
from console.tui.store import AppId, Store
from console.tui.targets import ConsoleTarget
from console.tui.widgets.events import EventsPane
from console.tui.widgets.matrix import VimTable
from console.tui.widgets.tables import KeyedRows, cursor_key

HISTORY_COLUMNS = ("", "ID", "REVISION", "TAG", "DEPLOYED", "BY", "AUTHOR", "COMMIT")


def head_text(
    facts: AppFacts,
    target: ConsoleTarget,
    now: datetime,
    analysis: tuple[str, str] | None = None,
) -> Text:
    """The lines above the tables: what the app is, where it runs, what it runs, and the
    guard's analysis of its revision when one ran."""
    app = facts.app
    where = f"{target.name} · {app.key} · project {app.project or '-'}"
    text = Text.assemble((app.name, "bold"), ("  " + where, "dim"), "\n")
    text.append_text(health_text(app.health))
    if app.health_message:
        text.append(f": {app.health_message}")
    text.append("   ")
    text.append_text(sync_text(app.sync))
    if facts.stale_since is not None:
        text.append(f"   stale: data {age(facts.stale_since, now)} old", style="bold red")
    text.append("\n")
    source = app.source
    origin = f"{source.path} @ {source.target_revision or 'HEAD'}" if source else "no source"
    desired = short(facts.desired) if facts.desired_from == "git" else "-"
    text.append("git ", style="dim")
    text.append(f"{desired} ({origin}, revision {short(app.sync_revision)})  ")
    text.append("image ", style="dim")
    text.append(f"{short(facts.image)}  ")
    text.append("live ", style="dim")
    text.append(short(facts.live))
    if facts.drift:
        text.append(f"  {DRIFT}", style="bold yellow")
    text.append("\n")
    text.append("auto-sync ", style="dim")
    text.append(auto_sync_label(app))
    op = app.operation
    if op is not None:
        when = age(op.finished_at or op.started_at, now)
        text.append("   operation ", style="dim")
        text.append(f"{op.phase.value} {when} ago")
        if op.message:
            text.append(f": {op.message}")
    url = probe_urls([app], target.services).get(app.name)
    text.append("\n")
    text.append("probe ", style="dim")
    answer = short(facts.live) if facts.live else "no answer"
    text.append(f"{url}/version → {answer}" if url else "no service URL known")
    if analysis is not None:
        state, said = analysis
        style = {"failed": "bold red", "passed": "green", "running": "yellow"}.get(state, "")
        text.append("\n")
        text.append("analysis ", style="dim")
        text.append(state, style=style)
        text.append(f": {said}")
    return text


def history_row(line: HistoryLine, now: datetime) -> tuple[Text, ...]:
    commit = line.commit
    subject = commit.subject if commit is not None else "(commit not in the deploy repo read)"
    trailers = (
        "  ".join(f"{k}: {short(v) if len(v) >= 40 else v}" for k, v in commit.trailers)
        if (commit is not None)
        else ""
    )
    author = "-" if commit is None else (commit.author.rpartition(" <")[0] or commit.author)
    marks = ("● " if line.current else "  ") + ("↺" if line.rollback else " ")
    return (
        Text(marks, style="bold"),
        Text(str(line.id)),
        Text(short(line.revision)),
        Text(short(line.tag)),
        Text(age(line.deployed_at, now)),
        Text(line.initiated_by),
        Text(author),
        Text.assemble(subject, ("  " + trailers if trailers else "", "dim")),
    )


class DetailScreen(Screen[None]):
    ready = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("s", "app.sync", "Sync"),
        Binding("r", "rollback", "Roll back to line"),
        Binding("d", "diff", "Diff"),
        Binding("p", "app.promote", "Promote"),
        Binding("l", "app.logs", "Logs", priority=True),  # over the history table's `l`
        Binding("t", "app.tree", "Tree"),
    ]

    def __init__(self, app_id: AppId, target: ConsoleTarget) -> None:
        super().__init__()
        self.app_id = app_id
        self.target = target
        self._history: list[HistoryLine] = []
        self._table = KeyedRows()
        self._resources: tuple[tuple[str, ...], ...] = ()

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="detail"):
            yield Static(id="detail-head")
            history = VimTable(id="history", cursor_type="row", zebra_stripes=True)
            history.border_title = "history (Argo CD) joined with the deploy repo"
            yield history
            resources = DataTable[Text](id="resources", cursor_type="row")
            resources.border_title = "resources"
            yield resources
            yield EventsPane(id="app-events")
        yield Footer()

    def on_mount(self) -> None:
        history = self.query_one("#history", DataTable)
        for label in HISTORY_COLUMNS:
            history.add_column(label, key=label or "mark")
        resources = self.query_one("#resources", DataTable)
        for label in ("RESOURCE", "SYNC", "HEALTH", "MESSAGE"):
            resources.add_column(label, key=label)
        self.query_one("#app-events", EventsPane).border_title = "events of this app"
        history.focus()
        self.ready = True  # its widgets exist: the app may render into them
        self.post_message(ScreenReady())

    def selected_line(self) -> HistoryLine | None:
        key = cursor_key(self.query_one("#history", DataTable))
        return next((line for line in self._history if str(line.id) == key), None)

    def action_rollback(self) -> None:
        line = self.selected_line()
        if line is None:
            self.notify("no history line selected", severity="warning")
            return
        self.post_message(RollbackChosen(self.app_id, line))

    def action_diff(self) -> None:
        line = self.selected_line()
        if line is None:
            self.notify("no history line selected", severity="warning")
            return
        pair = history_pair(self._history, line)
        target, key = self.app_id
        if isinstance(pair, str):
            self.post_message(DiffWanted(target, key, None, pair))
        else:
            self.post_message(DiffWanted(target, key, pair))

    def update_view(self, store: Store, now: datetime) -> None:
        facts = facts_of(store, self.app_id)
        head = self.query_one("#detail-head", Static)
        if facts is None:
            head.update(Text(f"{self.app_id[1]} is gone from {self.app_id[0]}", style="bold"))
            return
        self.title = f"gitops console · {facts.app.name}"
        analysis = analysis_of(store.guard, facts.app.name, facts.app.sync_revision)
        head.update(head_text(facts, self.target, now, analysis))
        self._show_history(history_lines(facts, store), now)
        self._show_resources(facts)
        self.query_one("#app-events", EventsPane).replace(store.app_events(facts.app), now)

    def _show_history(self, lines: list[HistoryLine], now: datetime) -> None:
        self._history = lines
        table = self.query_one("#history", DataTable)
        self._table.fill(table, [(str(line.id), history_row(line, now)) for line in lines])

    def _show_resources(self, facts: AppFacts) -> None:
        rows = []
        for res in facts.app.resources:
            health = res.health
            rows.append(
                (
                    Text(res.ref),
                    sync_text(res.status),
                    health_text(health) if health is not None else Text("-", style="dim"),
                    Text(res.health_message),
                )
            )
        plain = tuple(tuple(cell.plain for cell in row) for row in rows)
        if plain == self._resources:
            return
        self._resources = plain
        table = self.query_one("#resources", DataTable)
        table.clear()
        for row in rows:
            table.add_row(*row)
