"""The analysis' `pods` provider: the samples of the pods that run an app's current revision,
read from each pod's own /metrics; no Prometheus needed.

Which pods: the app's resource tree, pods of its newest templates only (a revision is judged by
its own pods, never by those a rollout replaces). Where they listen: each pod as the cluster has
it, read through Argo CD's live-resource API (status.podIP, the container's first port), so the
guard needs no Kubernetes credentials of its own. The embedded platform answers the same calls.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

import httpx

from console.fleet.source import SourceError
from console.fleet.tree import ResourceRef, current_pods
from console.guard.analysis import Sample
from console.guard.scrape import ScrapeError, scrape

log = logging.getLogger("gitops.guard")


class LiveReader(Protocol):
    """What the provider reads of Argo CD (console.fleet.argocd.ArgoCDSource offers it)."""

    async def resource_tree(self, name: str) -> dict[str, Any]: ...

    async def live_resource(self, name: str, ref: ResourceRef) -> dict[str, Any]: ...


def metrics_url(pod: Mapping[str, Any]) -> str | None:
    """http://<podIP>:<first container port>/metrics, or None for a pod without an address."""
    status = pod.get("status") or {}
    ip = status.get("podIP") if isinstance(status, Mapping) else None
    containers = (pod.get("spec") or {}).get("containers") or []
    ports = [
        p.get("containerPort")
        for c in containers
        if isinstance(c, Mapping)
        for p in c.get("ports") or []
        if isinstance(p, Mapping)
    ]
    port = next((p for p in ports if isinstance(p, int)), None)
    if not ip or port is None:
        return None
    host = f"[{ip}]" if ":" in str(ip) else ip
    return f"http://{host}:{port}/metrics"


class PodsProvider:
    def __init__(self, source: LiveReader, client: httpx.AsyncClient) -> None:
        self.source = source
        self.client = client
        # A pod's address is fixed for its life: read once per pod, not on every round.
        self._urls: dict[tuple[str, str, str], str] = {}

    async def samples(self, app: str, at: float) -> tuple[list[Sample], list[str]]:
        """The samples of `app`'s current pods now, and what could not be read (a pod that
        went away between the tree and the scrape, say: left out, never guessed)."""
        tree = await self.source.resource_tree(app)
        out: list[Sample] = []
        missed: list[str] = []
        pods = [(app, namespace, name) for namespace, name in current_pods(tree)]
        for key in [k for k in self._urls if k[0] == app and k not in pods]:
            del self._urls[key]  # gone: its name is never reused
        for key in pods:
            _, namespace, name = key
            url = self._urls.get(key)
            if url is None:
                try:
                    pod = await self.source.live_resource(app, ResourceRef("Pod", namespace, name))
                except SourceError as exc:
                    missed.append(f"{name}: {exc}")
                    continue
                url = metrics_url(pod)
                if url is None:
                    missed.append(f"{name}: no address yet")
                    continue
                self._urls[key] = url
            try:
                out.append(await scrape(self.client, url, name, at))
            except ScrapeError as exc:
                missed.append(str(exc))
                self._urls.pop(key, None)  # read its address again next round
        return out, missed
