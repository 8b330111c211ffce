"""The messages of the logs and resource-tree views: what a screen asks the app to read (the app
starts a worker on the screen, console.tui.podfeeds) and what the worker tells the screen back.
A logs screen numbers its requests (`generation`): lines of a stream it has since replaced
(another container, follow turned off) are dropped."""

from __future__ import annotations

from collections.abc import Sequence

from textual.dom import DOMNode
from textual.message import Message

from console.fleet.logs import LogLine, LogQuery
from console.tui.store import AppId
from console.tui.treeview import TreeRow


class LogsWanted(Message):
    """A logs screen wants lines: `query` None asks to resolve which pods and containers first
    (the app's pods from its tree, the containers from the pods)."""

    def __init__(
        self,
        requester: DOMNode,
        app_id: AppId,
        query: LogQuery | None,
        generation: int,
        *,
        pod: str | None = None,
        namespace: str = "",
        container: str | None = None,
    ) -> None:
        super().__init__()
        self.requester, self.app_id, self.query = requester, app_id, query
        self.generation, self.pod, self.pod_namespace = generation, pod, namespace
        self.container = container  # the one to read when the pods have it (the last chosen)


class LogsResolved(Message):
    """What the stream reads (`query`) and the containers there are to choose from."""

    def __init__(self, generation: int, query: LogQuery, containers: Sequence[str]) -> None:
        super().__init__()
        self.generation, self.query, self.containers = generation, query, tuple(containers)


class LogBatch(Message):
    """The lines that arrived together (one render for a burst)."""

    def __init__(self, generation: int, lines: Sequence[LogLine]) -> None:
        super().__init__()
        self.generation, self.lines = generation, tuple(lines)


class LogEnded(Message):
    """The stream ended: `error` says why in one line, "" when the server just finished."""

    def __init__(self, generation: int, error: str = "") -> None:
        super().__init__()
        self.generation, self.error = generation, error


class TreeWanted(Message):
    def __init__(self, requester: DOMNode, app_id: AppId) -> None:
        super().__init__()
        self.requester, self.app_id = requester, app_id


class TreeRead(Message):
    """The app's tree as rows, or why it could not be read."""

    def __init__(self, rows: Sequence[TreeRow], error: str = "") -> None:
        super().__init__()
        self.rows, self.error = tuple(rows), error


class OpenLogs(Message):
    """Open the logs of an app (`pod` None: of its pods) from a tree or a key."""

    def __init__(self, app_id: AppId, pod: str | None = None, namespace: str = "") -> None:
        super().__init__()
        self.app_id, self.pod, self.pod_namespace = app_id, pod, namespace
