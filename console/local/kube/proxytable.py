"""The Service proxies of one data plane, reconciled from a routing table: which Services listen
on which port and which ready pods each one forwards to (kube-proxy's view of Services and
Endpoints). The data plane process (`dataplane`) runs one; so can a runtime in-process.

`await apply(table)` makes the proxies match the table: a Service new to it starts listening on
its route's port (0: any free one), a Service gone from it stops listening at once and drains its
in-flight requests in the background, and every Service's endpoints are replaced in one step.
`set_endpoints(table)` is the synchronous part of it, for endpoint changes only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from console.local.kube.proxy import Endpoint, ProxyError, ServiceProxy

log = logging.getLogger(__name__)

ServiceKey = tuple[str, str]  # (namespace, name)


@dataclass(frozen=True, slots=True)
class Route:
    """One Service's place in the data plane: its port (0 asks for any free one) and the ready
    pods it forwards to."""

    port: int
    endpoints: tuple[Endpoint, ...] = ()


Applied = dict[ServiceKey, "int | str"]
"""For each Service of an applied table: the port it listens on, or why it cannot listen."""


class ProxyTable:
    """The proxies of one data plane; see the module docstring."""

    def __init__(self, host: str = "127.0.0.1", drain_s: float = 10.0) -> None:
        self.host = host
        self.drain_s = drain_s
        self._proxies: dict[ServiceKey, ServiceProxy] = {}
        self._draining: set[asyncio.Task[None]] = set()

    def routes(self) -> dict[ServiceKey, Route]:
        """What the data plane routes now."""
        return {key: Route(p.port, p.endpoints) for key, p in sorted(self._proxies.items())}

    async def apply(self, table: Mapping[ServiceKey, Route]) -> Applied:
        """Make the proxies match `table`; see the module docstring. A Service that cannot
        listen (its port is taken) is left out, with the reason in the result."""
        for key in [k for k in self._proxies if k not in table]:
            self._drain(self._proxies.pop(key))
        applied: Applied = {}
        for key, route in table.items():
            proxy = self._proxies.get(key)
            if proxy is not None and route.port not in (0, proxy.port):
                self._drain(self._proxies.pop(key))  # moved: listen on the new port instead
                proxy = None
            if proxy is None:
                proxy = ServiceProxy(key[1], self.host, route.port)
                try:
                    await proxy.start()
                except ProxyError as exc:
                    applied[key] = str(exc)
                    continue
                self._proxies[key] = proxy
            proxy.set_endpoints(route.endpoints)
            applied[key] = proxy.port
        return applied

    def set_endpoints(self, table: Mapping[ServiceKey, Route]) -> None:
        """Replace the endpoints of the Services that listen; others in `table` are ignored."""
        for key, route in table.items():
            proxy = self._proxies.get(key)
            if proxy is not None:
                proxy.set_endpoints(route.endpoints)

    async def close(self, grace_s: float | None = None) -> None:
        """Stop every proxy, letting in-flight requests finish for up to `grace_s` (default: the
        table's drain time), and wait for the drains already under way."""
        grace = self.drain_s if grace_s is None else grace_s
        proxies, self._proxies = list(self._proxies.values()), {}
        await asyncio.gather(*(p.stop(grace) for p in proxies), return_exceptions=True)
        if self._draining:
            await asyncio.gather(*self._draining, return_exceptions=True)

    def _drain(self, proxy: ServiceProxy) -> None:
        """Stop listening now (the port is free again at once), drain in the background."""
        proxy.stop_accepting()
        task = asyncio.get_running_loop().create_task(self._stop(proxy))
        self._draining.add(task)
        task.add_done_callback(self._draining.discard)

    async def _stop(self, proxy: ServiceProxy) -> None:
        with contextlib.suppress(Exception):
            await proxy.stop(self.drain_s)
