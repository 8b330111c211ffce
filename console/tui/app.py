"""`gitops console`: the operator console, a Textual app over the fleet's read side.

Data flows one way: the adapter's workers read (sources, probes, deploy repos, the guard's
events) and post messages; the handlers here apply them to the Store and ask for a flush; a
flush (coalesced: once per burst of messages, and once per tick for the ages) recomputes the
view models and lets each screen update what changed. Actions are drafted, confirmed in a
modal, and run in workers.

A flush costs what changed, not the fleet: facts are joined again only for the apps that
changed (fleetview.FactsCache), the last matrix is patched with them (fleetview.MatrixBuilder),
and the table renders only the cells that changed and repaints only for those in view
(widgets.matrix). Once started, the heap is frozen (`gc.freeze()`): the modules and
widgets alive by then live as long as the process, and keeping them out of the collector's
full passes keeps those pauses short while the fleet streams.
"""

from __future__ import annotations

import asyncio
import gc
import shutil
import tempfile
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.screen import Screen

from console.fleet.display import short
from console.fleet.model import App as FleetApp
from console.fleet.placement import Placing
from console.fleet.source import SourceError
from console.git import GitError
from console.gitpush import PushRejectedError, RetriesExhaustedError
from console.guard.rollback import RollbackError
from console.promote.overlay import OverlayError
from console.promote.promote import PromoteError
from console.tui import messages as msg
from console.tui.actions import (
    Draft,
    NotAllowed,
    Operator,
    draft_promote,
    draft_rollback,
    draft_sync,
    operator,
)
from console.tui.adapter import Adapter, Probe, RepoReader, Timing
from console.tui.commands import ConsoleCommands
from console.tui.deployrepo import DeployRepo
from console.tui.diffs import DiffError, DiffJob, Rendering, from_api, from_clone
from console.tui.diffview import diff_manifests
from console.tui.fleetview import (
    SORT_MODES,
    AppFacts,
    FactsCache,
    Matrix,
    MatrixBuilder,
    SortMode,
    facts_of,
    join,
)
from console.tui.podfeeds import NotReadable, read_logs, read_tree, reader_of
from console.tui.podmessages import LogEnded, LogsWanted, OpenLogs, TreeRead, TreeWanted
from console.tui.store import AppId, Store
from console.tui.targets import ConsoleTarget
from console.tui.widgets.confirm import ConfirmScreen
from console.tui.widgets.detail import DetailScreen
from console.tui.widgets.diff import DiffScreen
from console.tui.widgets.events import EventsScreen
from console.tui.widgets.fleet import FleetScreen
from console.tui.widgets.help import HelpScreen
from console.tui.widgets.logs import LogsScreen
from console.tui.widgets.rollbacks import RollbacksScreen
from console.tui.widgets.tree import TreeScreen

Clock = Callable[[], datetime]
ACTION_ERRORS = (
    SourceError,
    RollbackError,
    PromoteError,
    OverlayError,
    PushRejectedError,
    RetriesExhaustedError,
    GitError,
    OSError,
)


def local_now() -> datetime:
    return datetime.now().astimezone()


_heap_frozen = False


def freeze_startup_heap() -> None:
    """Move what is alive now (imported modules, the app's widgets: most of the heap) out of
    the garbage collector's view, once per process. It lives as long as the process anyway;
    left in, every full collection walks it again, and those pauses (150 ms and more for a
    console over 1,000 apps) stall the stream's updates. Objects frozen are still freed when
    their last reference goes."""
    global _heap_frozen  # noqa: PLW0603 - once per process, whatever the number of apps
    if not _heap_frozen:
        _heap_frozen = True
        gc.freeze()


class ConsoleApp(App[None]):
    TITLE = "gitops console"
    COMMANDS: ClassVar = {ConsoleCommands}
    COMMAND_PALETTE_BINDING = "colon"
    CSS = """
    #summary { padding: 0 1; height: 1; }
    #matrix { height: auto; max-height: 70%; }
    #others { height: auto; max-height: 7; border-top: solid $primary-muted; }
    #events { height: 1fr; min-height: 4; }
    #others, #events, #history, #resources, #app-events {
        border-title-color: $text-accent;
        border-title-style: bold;
    }
    #filter { dock: bottom; margin-bottom: 1; }
    #detail-head { padding: 0 1; height: auto; }
    #history { height: 1fr; border-top: solid $primary-muted; }
    #resources { height: auto; max-height: 8; border-top: solid $primary-muted; }
    #app-events { height: 5; }
    #rollbacks-summary { padding: 0 1; height: auto; }
    #rollbacks { height: 1fr; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help"),
        Binding("colon", "command_palette", "Command", show=False),
    ]

    def __init__(
        self,
        targets: Sequence[ConsoleTarget],
        *,
        clock: Clock = local_now,
        repo_reader: Callable[[str], RepoReader] | None = None,
        probe: Probe | None = None,
        timing: Timing | None = None,
        who: Operator | None = None,
        tick_s: float = 1.0,
        placing: Placing | None = None,
    ) -> None:
        super().__init__()
        self.targets = {t.name: t for t in targets}
        self.clock = clock
        repo_of = {t.name: t.deploy_repo for t in targets if t.deploy_repo}
        self.store = Store(self.targets, repo_of, placing)
        self._scratch = Path(tempfile.mkdtemp(prefix="gitops-console-"))
        self.adapter = Adapter(
            self,
            targets,
            clock=clock,
            repo_reader=repo_reader or self._deploy_repo,
            probe=probe,
            timing=timing,
        )
        self.who = who
        self.query_text = ""
        self.sort_mode: SortMode = "name"
        self.matrix: Matrix | None = None
        self._facts = FactsCache()  # the flush's join and build reuse what did not change
        self._builder = MatrixBuilder()
        self.flushes = 0
        self.last_refusal = ""
        self._pending = False
        self._tick_s = tick_s
        self.sub_title = " + ".join(self.targets)

    def _deploy_repo(self, location: str) -> RepoReader:
        index = list(dict.fromkeys(self.store.repo_of.values())).index(location)
        return DeployRepo(location, self._scratch / f"repo-{index}")

    def add_target(self, target: ConsoleTarget) -> None:
        """Show one more target in the fleet from now on."""
        self.targets[target.name] = target
        self.store.add_target(target.name, target.deploy_repo)
        self.adapter.add(target)
        self.sub_title = " + ".join(self.targets)
        self.dirty()

    def get_default_screen(self) -> Screen[None]:
        return FleetScreen()

    def on_mount(self) -> None:
        self.adapter.start()
        self.set_interval(self._tick_s, self.flush)  # ages move on even when nothing else does
        self.flush()
        freeze_startup_heap()

    def on_unmount(self) -> None:
        self.adapter.stop()
        shutil.rmtree(self._scratch, ignore_errors=True)

    # --- messages from the adapter ----------------------------------------------------------

    def on_apps_listed(self, message: msg.AppsListed) -> None:
        self.store.snapshot(message.target, message.apps, message.at)
        self.dirty()

    def on_app_changed(self, message: msg.AppChanged) -> None:
        self.store.changed(message.target, message.app, message.at)
        self.dirty()

    def on_app_deleted(self, message: msg.AppDeleted) -> None:
        self.store.deleted(message.target, message.app, message.at)
        self.dirty()

    def on_target_down(self, message: msg.TargetDown) -> None:
        self.store.down(message.target, message.down)
        self.dirty()

    def on_target_polling(self, message: msg.TargetPolling) -> None:
        self.store.polling(message.target, message.polling)
        self.dirty()

    def on_target_failed(self, message: msg.TargetFailed) -> None:
        self.store.failed(message.target, message.message, message.at)
        self.dirty()

    def on_worker_failed(self, message: msg.WorkerFailed) -> None:
        self.store.note(
            message.at,
            "WorkerFailed",
            "",
            f"{message.name}: {message.error}; starting it again in {message.retry_s:g}s",
        )
        self.dirty()

    def on_versions_probed(self, message: msg.VersionsProbed) -> None:
        self.store.set_versions(message.target, message.versions)
        self.dirty()

    def on_repo_read(self, message: msg.RepoRead) -> None:
        self.store.set_repo(message.location, message.facts)
        self.dirty()

    def on_repo_failed(self, message: msg.RepoFailed) -> None:
        self.store.repo_failed(message.location, message.message, message.at)
        self.dirty()

    def on_pins_read(self, message: msg.PinsRead) -> None:
        self.store.set_pins(message.pins)
        self.dirty()

    def on_guard_events_read(self, message: msg.GuardEventsRead) -> None:
        self.store.set_guard_events(message.events)
        self.dirty()

    def on_action_done(self, message: msg.ActionDone) -> None:
        kind = f"{message.kind.capitalize()}" if message.ok else "ActionFailed"
        self.store.note(self.clock(), kind, message.app, message.message, message.target)
        self.notify(message.message, severity="information" if message.ok else "error")
        self.dirty()

    # --- rendering --------------------------------------------------------------------------

    def dirty(self) -> None:
        """Ask for a flush after the messages already queued: a burst renders once."""
        if not self._pending:
            self._pending = True
            self.call_later(self.flush)

    def flush(self) -> None:
        self._pending = False
        self.flushes += 1
        now = self.clock()
        facts = self._facts.join(self.store)
        self.matrix = self._builder.build(self._facts, facts, self.query_text, self.sort_mode)
        fleet = self.fleet_screen
        if fleet is not None and fleet.ready:
            fleet.update_view(self.store, now, self.matrix, self.query_text, self.sort_mode)
        top = self.screen
        if isinstance(top, DetailScreen | RollbacksScreen | EventsScreen) and top.ready:
            top.update_view(self.store, now)
        # Pins are wanted by apps' revisions: only apps joined anew can want new ones.
        if self._facts.fresh:
            self.adapter.want_pins(self.store.missing_pins(f.id for f in self._facts.fresh))
        if isinstance(top, DetailScreen):
            self.adapter.want_pins(self.store.missing_history_pins(top.app_id))

    @property
    def fleet_screen(self) -> FleetScreen | None:
        stack = self.screen_stack
        return stack[0] if stack and isinstance(stack[0], FleetScreen) else None

    # --- navigation -------------------------------------------------------------------------

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_fleet(self) -> None:
        while len(self.screen_stack) > 1:
            self.pop_screen()

    def action_rollbacks(self) -> None:
        self._open(RollbacksScreen())

    def action_events(self) -> None:
        self._open(EventsScreen())

    def action_filter(self) -> None:
        self.action_fleet()
        fleet = self.fleet_screen
        if fleet is not None:
            fleet.action_filter()

    def action_sort(self) -> None:
        self.sort_mode = SORT_MODES[(SORT_MODES.index(self.sort_mode) + 1) % len(SORT_MODES)]
        self.dirty()

    def _open(self, screen: Screen[None]) -> None:
        self.action_fleet()
        self.push_screen(screen)

    @on(msg.ScreenReady)
    def _screen_ready(self, message: msg.ScreenReady) -> None:
        self.dirty()

    @on(msg.OpenApp)
    def _open_app(self, message: msg.OpenApp) -> None:
        self._open_detail(message.app_id)

    def _open_detail(self, app_id: AppId) -> None:
        self._open(DetailScreen(app_id, self.targets[app_id[0]]))

    @on(msg.FilterChanged)
    def _filter(self, message: msg.FilterChanged) -> None:
        self.query_text = message.query
        self.dirty()

    # --- actions ----------------------------------------------------------------------------

    def selected(self) -> AppFacts | None:
        screen = self.screen
        app_id: AppId | None = None
        if isinstance(screen, DetailScreen):
            app_id = screen.app_id
        elif isinstance(screen, FleetScreen):
            app_id = screen.selected()
        return facts_of(self.store, app_id) if app_id is not None else None

    def refuse(self, why: str) -> None:
        """The key does nothing here: say why instead."""
        self.last_refusal = why
        self.notify(why, title="not allowed", severity="warning")

    def action_sync(self) -> None:
        facts = self.selected()
        if facts is None:
            self.refuse("no app selected")
            return
        target = self.targets[facts.target]
        try:
            draft = draft_sync(
                facts,
                target,
                self.adapter.sources.get(target.name),
                self.store.read_only.get(target.name),
            )
        except NotAllowed as exc:
            self.refuse(str(exc))
            return
        self.confirm(draft)

    def action_rollback(self) -> None:
        """On the fleet: open the app, whose history holds the revisions to roll back to."""
        facts = self.selected()
        if facts is None:
            self.refuse("no app selected")
            return
        if not isinstance(self.screen, DetailScreen):
            self._open_detail(facts.id)
        self.notify("choose the revision to roll back to in the history, then press r")

    @on(msg.RollbackChosen)
    def _rollback_chosen(self, message: msg.RollbackChosen) -> None:
        facts = facts_of(self.store, message.app_id)
        if facts is None:
            self.refuse(f"{message.app_id[1]} is gone")
            return
        who = self.who or operator()
        try:
            draft = draft_rollback(
                facts, message.line, self.targets[facts.target], who, self._scratch / "rollback"
            )
        except NotAllowed as exc:
            self.refuse(str(exc))
            return
        self.confirm(draft)

    def action_promote(self) -> None:
        facts = self.selected()
        if facts is None:
            self.refuse("no app selected")
            return
        self._draft_promote(facts)

    @work(group="actions", exit_on_error=False)
    async def _draft_promote(self, facts: AppFacts) -> None:
        try:
            draft = await draft_promote(facts, join(self.store), self.targets[facts.target])
        except (NotAllowed, PromoteError, OverlayError) as exc:
            self.refuse(str(exc))
            return
        self.confirm(draft)

    def confirm(self, draft: Draft) -> None:
        def chosen(reason: str | None) -> None:
            if reason is None:
                self.notify(f"{draft.title}: cancelled, nothing written")
                return
            self._run(draft, reason)

        preview = draft.preview
        on_diff = (lambda: self.show_diff(preview)) if preview is not None else None
        screen = ConfirmScreen(draft.title, draft.describe, draft.reason_default, on_diff=on_diff)
        self.push_screen(screen, chosen)

    @work(group="actions", exit_on_error=False)
    async def _run(self, draft: Draft, reason: str) -> None:
        app, target = draft.facts.app.name, draft.facts.target
        try:
            outcome = await draft.run(reason)
        except ACTION_ERRORS as exc:
            if draft.kind == "sync" and isinstance(exc, SourceError) and exc.kind == "auth":
                self.store.read_only[target] = f"the token for {target} may not sync: {exc}"
            self.post_message(msg.ActionDone(draft.kind, app, target, False, str(exc)))
            return
        self.post_message(msg.ActionDone(draft.kind, app, target, True, outcome))

    # --- diffs ------------------------------------------------------------------------------

    @on(msg.DiffWanted)
    def _diff_wanted(self, message: msg.DiffWanted) -> None:
        pair = message.pair
        if pair is None:
            self.refuse(message.why)
            return
        app = self._app_named(message.target, message.app)
        if app is None:
            self.refuse(f"{message.app} is gone from {message.target}")
            return
        source = self.adapter.sources.get(message.target)
        location = self.targets[message.target].deploy_repo
        path = app.source.path if app.source is not None else ""
        if isinstance(source, Rendering):  # Argo CD's repo server renders both
            fetch = from_api(source, app.key, pair.old, pair.new)
        elif location is not None and path:
            fetch = from_clone(location, path, pair.old, pair.new)
        else:
            self.refuse(f"{message.target} renders no manifests and has no deploy repo known")
            return
        self.show_diff(DiffJob(app.name, pair.what, short(pair.old), short(pair.new), fetch))

    def _app_named(self, target: str, name: str) -> FleetApp | None:
        """The app of `target` whose key (else name) is `name`."""
        apps = [a for (t, _), a in self.store.apps.items() if t == target]
        return next((a for a in apps if a.key == name), None) or next(
            (a for a in apps if a.name == name), None
        )

    def show_diff(self, job: DiffJob) -> None:
        screen = DiffScreen(job.title, job.what, job.old, job.new)
        self.push_screen(screen)
        self._fetch_diff(screen, job)

    @work(group="diffs", exit_on_error=False)
    async def _fetch_diff(self, screen: DiffScreen, job: DiffJob) -> None:
        try:
            old, new = await job.fetch()
            diff = await asyncio.to_thread(diff_manifests, old, new, job.old, job.new)
        except (DiffError, SourceError, OSError, ValueError) as exc:
            screen.post_message(msg.DiffFetched(None, str(exc)))
            return
        screen.post_message(msg.DiffFetched(diff))

    # --- logs and the resource tree (reads run as workers of the screen that shows them) ----

    def _readable(self, app_id: AppId) -> bool:
        target = self.targets[app_id[0]]
        try:
            reader_of(target, self.adapter.sources.get(target.name))
        except NotReadable as exc:
            self.refuse(str(exc))
            return False
        return True

    def action_logs(self) -> None:
        facts = self.selected()
        if facts is None:
            self.refuse("no app selected")
        elif self._readable(facts.id):
            self.push_screen(LogsScreen(facts.id, tz=self.clock().tzinfo))

    def action_tree(self) -> None:
        facts = self.selected()
        if facts is None:
            self.refuse("no app selected")
        elif self._readable(facts.id):
            self.push_screen(TreeScreen(facts.id, clock=self.clock))

    @on(OpenLogs)
    def _open_logs(self, message: OpenLogs) -> None:
        if self._readable(message.app_id):
            screen = LogsScreen(
                message.app_id,
                pod=message.pod,
                namespace=message.pod_namespace,
                tz=self.clock().tzinfo,
            )
            self.push_screen(screen)

    @on(LogsWanted)
    def _logs_wanted(self, message: LogsWanted) -> None:
        target = self.targets[message.app_id[0]]
        screen = message.requester
        try:
            reader = reader_of(target, self.adapter.sources.get(target.name))
        except NotReadable as exc:
            screen.post_message(LogEnded(message.generation, str(exc)))
            return
        screen.run_worker(
            read_logs(reader, message),
            group="logs",
            exclusive=True,  # another container, follow off: the old stream ends
            exit_on_error=False,
        )

    @on(TreeWanted)
    def _tree_wanted(self, message: TreeWanted) -> None:
        target = self.targets[message.app_id[0]]
        screen = message.requester
        try:
            reader = reader_of(target, self.adapter.sources.get(target.name))
        except NotReadable as exc:
            screen.post_message(TreeRead([], str(exc)))
            return
        facts = facts_of(self.store, message.app_id)
        health = facts.app.health if facts is not None else None
        said = facts.app.health_message if facts is not None else ""
        screen.run_worker(
            read_tree(screen, reader, message.app_id[1], health, said),
            group="tree",
            exclusive=True,
            exit_on_error=False,
        )
