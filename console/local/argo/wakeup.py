"""Waking async waiters from any thread: the publishing side (the controller's threads) tells the
reading side (watch streams and log followers, on any event loop) that something changed."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable

_Waiter = tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]


class Wakeup:
    """Futures to resolve on the next change. `register` and `take` are called with the owner's
    lock held; `wake` without it (it only schedules callbacks on the waiters' loops)."""

    def __init__(self) -> None:
        self._waiters: list[_Waiter] = []

    def register(self) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._waiters.append((loop, future))
        return future

    def discard(self, future: asyncio.Future[None]) -> None:
        self._waiters = [(lp, f) for lp, f in self._waiters if f is not future]

    def take(self) -> list[_Waiter]:
        waiters, self._waiters = self._waiters, []
        return waiters

    @staticmethod
    def wake(waiters: Iterable[_Waiter]) -> None:
        for loop, future in waiters:
            if not loop.is_closed():
                loop.call_soon_threadsafe(_resolve, future)

    async def wait(self, waiter: asyncio.Future[None], lock: threading.Lock) -> None:
        """Await `waiter`; a waiter given up on (cancelled) is unregistered under `lock`."""
        try:
            await waiter
        finally:
            if not waiter.done():
                with lock:
                    self.discard(waiter)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
