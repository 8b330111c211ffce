"""A Service without a selector reaches what its EndpointSlices name, as through kube-proxy: how
the embedded platform's pods reach its API server by `argocd-server.argocd`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from console.local.argo.health import live_health
from console.local.ci.images import ImageStore
from console.local.kube.endpointslices import slice_endpoints
from console.local.kube.processes import ProcessRuntime

SERVICE: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "argocd-server", "namespace": "argocd"},
    "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
}


def endpoint_slice(
    port: int, *, service: str = "argocd-server", name: str = "http", ready: bool = True
) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{service}-{port}",
            "namespace": "argocd",
            "labels": {"kubernetes.io/service-name": service},
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": ready}}],
        "ports": [{"name": name, "port": port, "protocol": "TCP"}],
    }


def test_endpoints_come_from_the_slices_of_the_service_and_its_port_names() -> None:
    slices = [
        endpoint_slice(1001),
        endpoint_slice(1002, service="other"),
        endpoint_slice(1003, name="metrics"),
        endpoint_slice(1004, ready=False),
        {**endpoint_slice(1005), "addressType": "FQDN"},
    ]
    assert slice_endpoints(SERVICE, slices) == [("127.0.0.1", 1001)]
    unnamed = {**SERVICE, "spec": {"ports": [{"port": 80}]}}
    assert slice_endpoints(unnamed, [endpoint_slice(1006, name="")]) == [("127.0.0.1", 1006)]


@contextlib.asynccontextmanager
async def server(answer: str) -> AsyncIterator[int]:
    """An HTTP server on a free port that answers every request with `answer`."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        body = answer.encode()
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
            % (len(body), body)
        )
        await writer.drain()
        writer.close()

    listening = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield listening.sockets[0].getsockname()[1]
    finally:
        listening.close()
        await listening.wait_closed()


@pytest.mark.slow
def test_a_service_without_selector_routes_to_its_slices(tmp_path: Path) -> None:
    async def main() -> None:
        runtime = ProcessRuntime(tmp_path / "runtime", ImageStore(tmp_path / "images"))
        async with server("first") as first, server("second") as second:
            try:
                results = await runtime.apply(
                    "(owner)", "argocd", [SERVICE, endpoint_slice(first)], True
                )
                assert all(r.ok for r in results), results
                health = {r.key.kind: live_health(r) for r in runtime.resources("(owner)")}
                assert health["EndpointSlice"] is None, "Argo CD has no health check for it"
                host, port = runtime.resolve_service("argocd", "argocd-server", 80) or ("", 0)
                url = f"http://{host}:{port}/"
                async with httpx.AsyncClient(trust_env=False, timeout=5) as client:
                    assert (await client.get(url)).text == "first"
                    # Applied again with another port (the API after a restart): the same
                    # Service port, the new backend.
                    await runtime.apply(
                        "(owner)", "argocd", [SERVICE, endpoint_slice(second)], True
                    )
                    assert runtime.resolve_service("argocd", "argocd-server", 80) == (host, port)
                    assert (await client.get(url)).text == "second"
                    await runtime.apply("(owner)", "argocd", [SERVICE], True)  # the slice pruned
                    assert (await client.get(url)).status_code == 503
            finally:
                await runtime.close()

    asyncio.run(main())
