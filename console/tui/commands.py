"""The command palette (`:`), k9s style: each command has a name and aliases, so `:rb`,
`:rollbacks` and `:rollback` all open the timeline."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider


@dataclass(frozen=True)
class Command:
    name: str
    aliases: tuple[str, ...]
    action: str  # an app action, run with App.run_action
    help: str

    def words(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


COMMANDS = (
    Command("fleet", ("home", "apps", "app", "f"), "fleet", "the service x environment matrix"),
    Command("rollbacks", ("rollback", "rb", "timeline"), "rollbacks", "rollback timeline"),
    Command("events", ("event", "ev", "log"), "events", "all events"),
    Command("logs", ("pods", "l"), "logs", "the logs of the app's pods (its current ones)"),
    Command("tree", ("resources", "res", "t"), "tree", "the app's resource tree, down to its pods"),
    Command("help", ("?", "keys"), "help", "keys and marks"),
    Command("sort", ("order", "o"), "sort", "next sort order: name, health, last deployed"),
    Command("filter", ("/", "search"), "filter", "filter the fleet"),
    Command("quit", ("q", "exit"), "quit", "leave the console"),
)


def lookup(text: str) -> Command | None:
    """The command a typed word names exactly (a leading `:` is allowed)."""
    word = text.strip().lstrip(":").lower()
    return next((c for c in COMMANDS if word in c.words()), None)


class ConsoleCommands(Provider):
    async def discover(self) -> Hits:
        for command in COMMANDS:
            yield DiscoveryHit(
                f":{command.name}",
                partial(self.app.run_action, command.action),
                help=f"{command.help} (also: {', '.join(command.aliases)})",
            )

    async def search(self, query: str) -> Hits:
        exact = lookup(query)
        matcher = self.matcher(query.lstrip(":"))
        for command in COMMANDS:
            score = max(matcher.match(word) for word in command.words())
            if command is exact:
                score = 1.0  # an alias typed in full wins over fuzzy matches
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(f":{command.name}"),
                    partial(self.app.run_action, command.action),
                    help=f"{command.help} (also: {', '.join(command.aliases)})",
                )
