"""What runs in the background and is started and stopped (a Service proxy, the runtime's
publisher), as one `async with` shape."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class Started:
    """`async with x:` starts `x` and stops it on the way out, whatever happened inside."""

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
