"""Where the runtime's Services are routed (kube-proxy's job): a `ProxyTable` on the runtime's own
event loop (`InProcessRoutes`), or the proxies of a `dataplane` process that outlives it
(`console.local.kube.dataplane_client.DataPlane`). Both take the whole table of Service routes;
the runtime does not care which runs them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from console.local.kube.proxytable import Applied, ProxyTable, Route, ServiceKey

HOST = "127.0.0.1"
# How long a stopping proxy lets in-flight requests finish (prune, remove, close).
PROXY_DRAIN_S = 10.0


class Routes(Protocol):
    """Where Services are routed: a `ProxyTable` in-process, or a `DataPlane` process."""

    @property
    def adopted(self) -> Mapping[ServiceKey, Route]:
        """What it routed before this runtime."""

    async def apply(self, table: Mapping[ServiceKey, Route]) -> Applied: ...

    def publish(self, table: Mapping[ServiceKey, Route]) -> None: ...

    async def close(self, grace_s: float) -> None: ...


class InProcessRoutes:
    """Service proxies on the runtime's own event loop: they stop with it."""

    adopted: Mapping[ServiceKey, Route] = {}

    def __init__(self) -> None:
        self._table = ProxyTable(HOST, PROXY_DRAIN_S)

    async def apply(self, table: Mapping[ServiceKey, Route]) -> Applied:
        return await self._table.apply(table)

    def publish(self, table: Mapping[ServiceKey, Route]) -> None:
        self._table.set_endpoints(table)

    async def close(self, grace_s: float) -> None:
        await self._table.close(grace_s)
