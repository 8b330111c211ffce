"""The reads behind the logs and resource-tree views, run as workers of the screen that asked
(so they end with it) and told to it as messages (console.tui.podmessages); the screens only
render.

Logs: which pods (a pod the operator chose, or the app's current pods from its tree: one pod's
stream when it has one, every pod's otherwise), which containers (from the pods' live objects;
the first is read when there are several), then the stream, in batches: the lines that arrived
together reach the screen as one message, however fast the pod writes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from typing import TypeVar

from textual.dom import DOMNode

from console.fleet.logs import LogQuery, LogReader, containers_of
from console.fleet.model import Health
from console.fleet.source import AppSource, SourceError
from console.fleet.tree import ResourceRef, current_pods
from console.tui.podmessages import LogBatch, LogEnded, LogsResolved, LogsWanted, TreeRead
from console.tui.targets import ConsoleTarget
from console.tui.treeview import tree_rows

log = logging.getLogger(__name__)
T = TypeVar("T")

BATCH = 1_000  # lines per message at most; also how far the reader may run ahead
PODS_ASKED = 8  # live pods read for their containers (a Deployment's pods share a template)


class NotReadable(Exception):
    """Why a target's logs and trees cannot be read, in one line."""


def reader_of(target: ConsoleTarget, source: AppSource | None) -> LogReader:
    if target.kind == "context" or (source is not None and not isinstance(source, LogReader)):
        raise NotReadable(
            f"{target.name}: logs and resource trees are read from Argo CD's API, "
            "not the Kubernetes API (use --argocd for this cluster's Argo CD)"
        )
    if source is None:
        raise NotReadable(f"{target.name} is not connected yet")
    return source


async def batches(items: AsyncIterator[T], size: int = BATCH) -> AsyncIterator[list[T]]:
    """`items` in lists of what is there at once: a reader task runs ahead by up to `size`
    items, and each list takes everything it has read so far. Raises what `items` raises."""
    queue: asyncio.Queue[T] = asyncio.Queue(maxsize=size)

    async def pump() -> None:
        async for item in items:
            await queue.put(item)

    task = asyncio.create_task(pump())
    getter: asyncio.Future[T] | None = None
    try:
        while True:
            getter = asyncio.ensure_future(queue.get())
            await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
            batch: list[T] = []
            if getter.done():
                batch.append(getter.result())
            else:
                getter.cancel()  # the reader ended: what it left is drained below
            while not queue.empty() and len(batch) < size:
                batch.append(queue.get_nowait())
            if batch:
                yield batch
            elif task.done():
                task.result()  # the reader's error, if it failed
                return
    finally:
        task.cancel()
        if getter is not None:
            getter.cancel()
        # The reader closes its stream (the HTTP connection) before this returns.
        await asyncio.gather(task, return_exceptions=True)


async def _containers(reader: LogReader, app: str, pods: Sequence[tuple[str, str]]) -> list[str]:
    async def one(namespace: str, pod: str) -> tuple[str, ...]:
        try:
            live = await reader.live_resource(app, ResourceRef("Pod", namespace, pod))
        except SourceError:
            return ()  # the container stays unnamed: the server's default
        return containers_of(live)

    found = await asyncio.gather(*(one(ns, pod) for ns, pod in pods[:PODS_ASKED]))
    return list(dict.fromkeys(name for names in found for name in names))


async def resolve(
    reader: LogReader, app: str, pod: str | None, namespace: str, prefer: str | None = None
) -> tuple[LogQuery, list[str]]:
    """The query of the logs `l` opens, and the containers to choose from (the first is read,
    or `prefer` when the pods have it)."""
    if pod is not None:
        pods = [(namespace, pod)]
    else:
        pods = list(current_pods(await reader.resource_tree(app)))
    query = LogQuery(pod=pod, namespace=namespace)
    if pod is None and len(pods) == 1:
        query = LogQuery(pod=pods[0][1], namespace=pods[0][0])
    containers = await _containers(reader, app, pods)
    if len(containers) > 1:  # one container: the server picks it; several: it would refuse
        query = replace(query, container=prefer if prefer in containers else containers[0])
    return query, containers


async def read_logs(reader: LogReader, wanted: LogsWanted) -> None:
    """Resolve (when the query is not known yet), then stream to the screen that asked until
    the stream ends."""
    screen, app, query, generation = (
        wanted.requester,
        wanted.app_id[1],
        wanted.query,
        wanted.generation,
    )
    try:
        if query is None:
            query, containers = await resolve(
                reader, app, wanted.pod, wanted.pod_namespace, wanted.container
            )
            screen.post_message(LogsResolved(generation, query, containers))
        async for batch in batches(reader.logs(app, query)):
            screen.post_message(LogBatch(generation, batch))
    except SourceError as exc:
        screen.post_message(LogEnded(generation, str(exc)))
        return
    except Exception as exc:  # a bug or a library's surprise: said, not a dead view
        log.exception("reading the logs of %s failed", app)
        screen.post_message(LogEnded(generation, f"{type(exc).__name__}: {exc}"))
        return
    screen.post_message(LogEnded(generation))


async def read_tree(
    screen: DOMNode, reader: LogReader, app: str, health: Health | None, message: str
) -> None:
    """One read of the app's tree, told to `screen` as rows, or as why it could not be had."""
    name = app.rpartition("/")[2]
    try:
        rows = tree_rows(name, await reader.resource_tree(app), health, message)
    except SourceError as exc:
        screen.post_message(TreeRead([], str(exc)))
        return
    except Exception as exc:  # a bug or a library's surprise: said, and the next read goes on
        log.exception("reading the resource tree of %s failed", app)
        screen.post_message(TreeRead([], f"{type(exc).__name__}: {exc}"))
        return
    screen.post_message(TreeRead(rows))
