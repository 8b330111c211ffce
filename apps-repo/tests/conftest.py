from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack

import pytest
from quart.typing import TestClientProtocol

from probe.app import create_app
from support import AppServer, ProbeProcess, make_config

ClientFactory = Callable[..., Awaitable[TestClientProtocol]]


@pytest.fixture
async def client_for() -> AsyncIterator[ClientFactory]:
    """Build a Quart test client for an app made from the given env, lifespan included."""
    async with AsyncExitStack() as stack:

        async def make(**env: str) -> TestClientProtocol:
            app = create_app(make_config(**env))
            test_app = app.test_app()
            await test_app.startup()  # runs before_serving, e.g. the frontend's HTTP client
            stack.push_async_callback(test_app.shutdown)
            return test_app.test_client()

        yield make


@pytest.fixture(scope="module")
def real_backend() -> Iterator[AppServer]:
    """A real backend app behind Hypercorn, shared by a module's tests."""
    with AppServer(
        SERVICE_KIND="backend",
        SERVICE_NAME="orders-api",
        SERVICE_VERSION="1.2.3",
        GIT_SHA="abc1234",
    ) as server:
        yield server


@pytest.fixture
def probe_process() -> Iterator[Callable[..., ProbeProcess]]:
    """Start ``python -m probe`` processes; any left running are killed at teardown."""
    started: list[ProbeProcess] = []

    def start(**env: str) -> ProbeProcess:
        process = ProbeProcess(**env)
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()
