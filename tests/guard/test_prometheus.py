"""The analysis' `prometheus` provider against a real Prometheus server (Debian's `prometheus`,
which .ci/run installs; started here on 127.0.0.1) scraping two real probe-service processes
run from the apps repo: the counters the verdict reads are what the pods counted, summed per
pod, the kubelet's probes left out. The app's resource tree (which pods run the revision) is
Argo CD's and tested with the embedded platform elsewhere; here it names the two pods."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from console.guard.analysis import AnalysisPolicy, Outcome, verdict, window
from console.guard.prometheus import PrometheusError, PrometheusProvider
from console.local.kube.pods import free_port
from tests.helpers import ROOT

PROMETHEUS = shutil.which("prometheus")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(PROMETHEUS is None, reason="no prometheus on PATH (.ci/run installs it)"),
]
PODS = ("backend-7d9f-a", "backend-7d9f-b")
DEADLINE_S = 30.0


def wait_for(condition: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code < 500
    except httpx.HTTPError:
        return False


@pytest.fixture
def pods(tmp_path: Path) -> Iterator[dict[str, str]]:
    """Two probe services (pod name -> base URL), as the pods of one revision."""
    procs, urls = [], {}
    for name in PODS:
        port = free_port()
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT / "apps-repo" / "src"),
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "SERVICE_KIND": "backend",
        }
        log = (tmp_path / f"{name}.log").open("w")
        procs.append(
            subprocess.Popen([sys.executable, "-m", "probe"], env=env, stdout=log, stderr=log)
        )
        urls[name] = f"http://127.0.0.1:{port}"
    try:
        for url in urls.values():
            wait_for(lambda url=url: answers(f"{url}/healthz"), f"{url} to answer")
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)


@pytest.fixture
def prometheus(tmp_path: Path, pods: dict[str, str]) -> Iterator[str]:
    port = free_port()
    targets = "\n".join(
        f"      - targets: ['{url.removeprefix('http://')}']\n"
        f"        labels: {{namespace: dev, pod: {name}}}"
        for name, url in pods.items()
    )
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n  - job_name: pods\n    static_configs:\n" + targets + "\n"
    )
    log = (tmp_path / "prometheus.log").open("w")
    assert PROMETHEUS is not None
    proc = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=log,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: answers(f"{url}/-/ready"), "Prometheus to be ready")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


class Tree:
    """The app's resource tree: one Deployment's newest ReplicaSet and its two pods."""

    async def resource_tree(self, name: str) -> dict[str, Any]:
        rs = {"kind": "ReplicaSet", "name": "backend-7d9f", "namespace": "dev"}
        pods = [
            {
                "kind": "Pod",
                "name": pod,
                "namespace": "dev",
                "parentRefs": [{"kind": "ReplicaSet", "name": "backend-7d9f"}],
            }
            for pod in PODS
        ]
        return {"nodes": [rs, *pods]}

    async def live_resource(self, name: str, ref: object) -> dict[str, Any]:
        raise AssertionError("the prometheus provider reads no pod")


def test_the_pods_requests_are_read_from_prometheus(pods: dict[str, str], prometheus: str) -> None:
    a, b = (pods[name] for name in PODS)
    for url in (a, b):  # a counter has no series before its first request
        httpx.get(f"{url}/version", timeout=2)

    async def read(client: httpx.AsyncClient) -> list[Any]:
        samples, _ = await PrometheusProvider(prometheus, Tree(), client).samples("backend-dev", 0)
        return samples

    async def scenario() -> None:
        async with httpx.AsyncClient(trust_env=False) as client:

            async def counted(total: float, what: str) -> list[Any]:
                """Both pods' samples once Prometheus has scraped `total` requests of them."""
                deadline = time.monotonic() + DEADLINE_S
                while True:
                    got = await read(client)
                    if len(got) == 2 and sum(s.requests for s in got) == total:
                        return got
                    if time.monotonic() > deadline:
                        raise AssertionError(f"timed out waiting for {what}: {got}")
                    await asyncio.sleep(0.2)  # the next scrape: Prometheus pulls every second

            before = await counted(2, "both pods' first request in Prometheus")
            for _ in range(20):
                httpx.get(f"{a}/version", timeout=2)
            for _ in range(10):
                httpx.get(f"{b}/version", timeout=2)
            for _ in range(15):
                httpx.get(f"{a}/readyz", timeout=2)  # the kubelet's: not a user's request
            after = [replace(s, at=1.0) for s in await counted(32, "the 30 requests")]
            w = window([*before, *after], 0.0)
            assert (w.requests, w.errors) == (30, 0)
            assert all(s.started > 0 for s in after), "process start times tell restarts"
            policy = AnalysisPolicy(
                seconds=1, max_error_ratio=0.05, max_p95_ms=500, min_requests=20
            )
            result = verdict(policy, [*before, *after], 0.0, 1.0)
            assert result.outcome is Outcome.PASSED, result.reason
            assert result.p95_ms is not None
            assert result.p95_ms < 500

            broken = PrometheusProvider("http://127.0.0.1:1", Tree(), client)
            unreachable = r"cannot reach Prometheus at http://127\.0\.0\.1:1/api/v1/query"
            with pytest.raises(PrometheusError, match=unreachable):
                await broken.samples("backend-dev", 0)

    asyncio.run(scenario())
