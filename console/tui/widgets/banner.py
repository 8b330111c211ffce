"""The error banner: which targets or deploy repos cannot be read, since when, and how old the
data on screen is. Hidden while everything answers; the cells keep their values meanwhile."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from rich.text import Text
from textual.widgets import Static

from console.fleet.display import age
from console.tui.store import TargetState


def banner_text(
    targets: Sequence[TargetState], repo_errors: Mapping[str, str], now: datetime
) -> Text | None:
    """One line per problem; None when there is none."""
    lines: list[Text] = []
    for state in targets:
        data = f"data {age(state.read_at, now)} old" if state.read_at else "no data yet"
        if state.failed is not None:
            lines.append(
                Text.assemble(
                    ("✗ ", "bold"),
                    (f"{state.name}: ", "bold"),
                    f"{state.failed} ({data}; not retried)",
                )
            )
        elif state.down is not None:
            down = state.down
            lines.append(
                Text.assemble(
                    ("⚠ STALE ", "bold"),
                    (f"{state.name}: ", "bold"),
                    f"{down.error} — down {age(down.since, now)}, {data}, "
                    f"reconnecting (attempt {down.attempt})",
                )
            )
    for _, error in sorted(repo_errors.items()):
        lines.append(Text.assemble(("⚠ ", "bold"), error))
    if not lines:
        return None
    return Text("\n").join(lines)


class StaleBanner(Static):
    DEFAULT_CSS = """
    StaleBanner {
        background: $error-muted;
        color: $text;
        padding: 0 1;
        height: auto;
        display: none;
    }
    """

    def show(
        self, targets: Sequence[TargetState], repo_errors: Mapping[str, str], now: datetime
    ) -> None:
        text = banner_text(targets, repo_errors, now)
        self.display = text is not None
        if text is not None:
            self.update(text)
