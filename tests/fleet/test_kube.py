"""KubeSource against the embedded platform's Kubernetes-compatible API (real HTTP on
127.0.0.1, `console.local.argo.api` over an InMemorySource), through the kubeconfig the platform
writes and the official `kubernetes` client: list, get, the watch with Snapshot / Changed /
Deleted / Down, a restart on the same port, an expired resourceVersion (410 Gone), and the
one-line errors."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from console.fleet.follow import Pacing
from console.fleet.kube import KubeSource
from console.fleet.model import Health
from console.fleet.source import Changed, Deleted, Down, Event, Snapshot, SourceError
from console.local.argo.inmemory import InMemorySource
from console.local.argo.kubeconfig import write_kubeconfig
from tests.fleet.support import (
    Answer,
    FakeSleep,
    Pump,
    Server,
    record,
    trickling_server,
    with_health,
)

TOKEN = "fleet-kube-token-0123456789"  # noqa: S105 - a test token, served only on 127.0.0.1
CONTEXT = "gitops-local"
WATCH_PATH = "/apis/argoproj.io/v1alpha1/applications"


@pytest.fixture
def fleet() -> InMemorySource:
    return InMemorySource([record("backend-dev"), record("frontend-dev")])


@pytest.fixture
def server(fleet: InMemorySource) -> Iterator[Server]:
    running = Server(fleet, TOKEN).start()
    yield running
    running.stop()


@pytest.fixture
def kubeconfig(server: Server, tmp_path: Path) -> Path:
    return write_kubeconfig(tmp_path / "kubeconfig", server.url, TOKEN, context=CONTEXT)


def _names(event: Event) -> list[str]:
    assert isinstance(event, Snapshot), event
    return sorted(app.name for app in event.apps)


def test_list_and_get(server: Server, fleet: InMemorySource, kubeconfig: Path) -> None:
    async def scenario() -> None:
        source = KubeSource(kubeconfig, CONTEXT)
        try:
            assert source.name == CONTEXT
            apps = await source.list()
            assert sorted(a.name for a in apps) == ["backend-dev", "frontend-dev"]
            assert {(a.instance, a.namespace, a.health) for a in apps} == {
                (CONTEXT, "argocd", Health.HEALTHY)
            }
            app = await source.get("backend-dev")
            assert (app.service, app.env, app.history[0].revision) == ("backend", "dev", "a" * 40)
            assert (await source.get("argocd/frontend-dev")).name == "frontend-dev"
            # No refresh over the Kubernetes API (it takes PATCH): the app is read as it is.
            assert (await source.get("backend-dev", refresh="hard")).name == "backend-dev"
            assert fleet.take_requests() == []
            with pytest.raises(SourceError) as missing:
                await source.get("nope")
            assert str(missing.value) == (
                f'application "nope" not found in the Kubernetes API at {server.url}'
            )
            assert missing.value.kind == "not_found"
        finally:
            await source.aclose()

        namespaced = KubeSource(kubeconfig, CONTEXT, namespace="argocd", name="dev")
        other = KubeSource(kubeconfig, None, namespace="elsewhere")
        try:
            assert [a.instance for a in await namespaced.list()] == ["dev", "dev"]
            assert await other.list() == []
        finally:
            await namespaced.aclose()
            await other.aclose()

    asyncio.run(scenario())


def test_errors_are_one_clear_line(server: Server, tmp_path: Path) -> None:
    wrong = write_kubeconfig(tmp_path / "wrong", server.url, "not-the-token")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    dead = write_kubeconfig(tmp_path / "dead", closed, TOKEN)

    async def scenario() -> None:
        source = KubeSource(wrong, None)
        try:
            with pytest.raises(SourceError) as denied:
                await source.list()
            assert str(denied.value) == f"token rejected by the Kubernetes API at {server.url}"
            assert denied.value.kind == "auth"
            assert "not-the-token" not in repr(source)
            with pytest.raises(SourceError, match=r"^token rejected by the Kubernetes API"):
                await anext(source.events(asyncio.Event()))
        finally:
            await source.aclose()
        unreachable = KubeSource(dead, None)
        try:
            with pytest.raises(SourceError) as refused:
                await unreachable.list()
            assert str(refused.value) == (
                f"cannot reach the Kubernetes API at {closed}: Connection refused"
            )
        finally:
            await unreachable.aclose()

    asyncio.run(scenario())
    with pytest.raises(SourceError, match=r"^cannot load .*missing") as no_file:
        KubeSource(tmp_path / "missing", None)
    assert no_file.value.kind == "config"
    with pytest.raises(SourceError, match=r"\(context nope\)"):
        KubeSource(wrong, "nope")
    # A broken kubeconfig is reported by line, never quoted: its lines may hold a token.
    broken = tmp_path / "broken"
    broken.write_text(f'apiVersion: v1\nusers:\n- name: x\n  user: {{token: "{TOKEN}\n')
    with pytest.raises(SourceError, match=r"not valid YAML \(.* at line \d+\)$") as bad_yaml:
        KubeSource(broken, None)
    assert TOKEN not in str(bad_yaml.value)


def test_events_snapshot_changed_deleted(fleet: InMemorySource, kubeconfig: Path) -> None:
    async def scenario() -> None:
        source = KubeSource(kubeconfig, CONTEXT, pacing=Pacing(sleep=FakeSleep()))
        stop = asyncio.Event()
        pump = Pump(source.events(stop))
        try:
            assert _names(await pump.next()) == ["backend-dev", "frontend-dev"]
            fleet.update("frontend-dev", with_health("Degraded", "readiness probe failed"))
            changed = await pump.next()
            assert isinstance(changed, Changed)
            assert (changed.app.name, changed.app.health) == ("frontend-dev", Health.DEGRADED)
            fleet.put(record("payments-dev"))
            added = await pump.next()
            assert isinstance(added, Changed)
            assert added.app.name == "payments-dev"
            fleet.delete("backend-dev")
            deleted = await pump.next()
            assert isinstance(deleted, Deleted)
            assert deleted.app.name == "backend-dev"
            # Stop ends the events promptly: the watch thread's blocked read is shut down.
            stop.set()
            async with asyncio.timeout(5):
                await pump.task
        finally:
            await pump.close()
            await source.aclose()

    asyncio.run(scenario())


def test_down_then_snapshot_after_a_restart(
    server: Server, fleet: InMemorySource, kubeconfig: Path
) -> None:
    sleep = FakeSleep()

    async def scenario() -> None:
        source = KubeSource(kubeconfig, CONTEXT, pacing=Pacing(sleep=sleep))
        stop = asyncio.Event()
        pump = Pump(source.events(stop))
        try:
            await pump.until(lambda e: isinstance(e, Snapshot))
            fleet.update("backend-dev", with_health("Progressing"))
            await pump.until(lambda e: isinstance(e, Changed))  # the watch is up
            await asyncio.to_thread(server.stop)
            down = await pump.next()
            assert isinstance(down, Down)
            assert (
                down.error == f"cannot reach the Kubernetes API at {server.url}: Connection refused"
            )
            async with asyncio.timeout(10):
                while len(sleep.asked) < 3:
                    await asyncio.sleep(0.01)
            fleet.delete("frontend-dev")
            await asyncio.to_thread(server.start)
            seen = await pump.until(lambda e: isinstance(e, Snapshot))
            assert not any(isinstance(e, Changed | Deleted) for e in seen)
            assert _names(seen[-1]) == ["backend-dev"]
            fleet.update("backend-dev", with_health("Healthy"))
            back = await pump.next()
            assert isinstance(back, Changed)
            assert back.app.health == Health.HEALTHY
        finally:
            stop.set()
            await pump.close()
            await source.aclose()

    asyncio.run(scenario())


def test_expired_resource_version_relists(fleet: InMemorySource, tmp_path: Path) -> None:
    """A watch from a resourceVersion the server no longer has (410 Gone, as an ERROR event):
    the source lists again and sends a fresh Snapshot, without a Down (nothing is stale)."""
    expired = {"sent": 0}
    gone = {
        "type": "ERROR",
        "object": {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": "too old resource version: 1 (42)",
            "reason": "Expired",
            "code": 410,
        },
    }

    def etcd_compacted(scope: dict[str, Any]) -> Answer:
        query = scope["query_string"].decode()
        if scope["path"] == WATCH_PATH and "watch=true" in query and expired["sent"] == 0:
            expired["sent"] += 1
            return 200, json.dumps(gone).encode() + b"\n", "application/json"
        return None

    server = Server(fleet, TOKEN, etcd_compacted).start()
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", server.url, TOKEN, context=CONTEXT)

    async def scenario() -> None:
        source = KubeSource(kubeconfig, CONTEXT, pacing=Pacing(sleep=FakeSleep()))
        stop = asyncio.Event()
        pump = Pump(source.events(stop))
        try:
            first = await pump.next()
            assert isinstance(first, Snapshot)
            fleet.update("backend-dev", with_health("Missing"))
            seen = await pump.until(lambda e: isinstance(e, Snapshot))
            assert [type(e) for e in seen] == [Snapshot]
            assert expired["sent"] == 1
            # The Snapshot or the watch after it carries the change; then the watch runs.
            if seen[0].apps[0].health != Health.MISSING:  # type: ignore[union-attr]
                await pump.until(lambda e: isinstance(e, Changed))
            fleet.update("frontend-dev", with_health("Suspended"))
            changed = await pump.next()
            assert isinstance(changed, Changed)
            assert changed.app.health == Health.SUSPENDED
        finally:
            stop.set()
            await pump.close()
            await source.aclose()

    try:
        asyncio.run(scenario())
    finally:
        server.stop()


def test_an_api_server_that_trickles_its_answer_meets_a_total_deadline(tmp_path: Path) -> None:
    """The official client's timeout bounds each read; a server that sends a byte of a
    never-ending body every 0.2 s still ends the call at the deadline, in one line. A real TCP
    server on 127.0.0.1."""

    async def scenario() -> None:
        server, url = await trickling_server()
        config = write_kubeconfig(tmp_path / "kubeconfig", url, TOKEN, context=CONTEXT)
        source = KubeSource(config, CONTEXT, timeout=1.0)
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            with pytest.raises(SourceError) as slow:
                await source.list()
        finally:
            server.close()
        assert loop.time() - started < 5
        assert str(slow.value).endswith(f"{url}: no complete answer within 1s")

    asyncio.run(scenario())
