"""The guard at scale: 1,000 Applications streaming changes through the Argo CD-compatible API
(real HTTP on 127.0.0.1) into one guard; decision latency (observe + decide per change) and the
guard's CPU.

    uv run python benchmarks/guard_scale.py [--apps 1000] [--changes 10000]

The API server runs in its own thread and event loop; the guard's CPU is its own thread's CPU
time (stream parsing included). Apps flap between Healthy and Progressing within their deadline,
so every change is decided and none is acted on. Target: p99 decision <= 5 ms.
Last line: name=value pairs.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from console.contract import DEADLINE, ENABLED, GRACE  # noqa: E402
from console.fleet.argocd import ArgoCDSource  # noqa: E402
from console.guard.controller import Guard  # noqa: E402
from console.guard.facts import GitFacts  # noqa: E402
from console.guard.rollback import RollbackOutcome, RollbackRequest  # noqa: E402
from console.local.argo.api import create_api  # noqa: E402
from console.local.argo.appstate import ApplicationRecord, from_json  # noqa: E402
from console.local.argo.inmemory import InMemorySource  # noqa: E402
from console.local.argo.kubeconfig import new_token  # noqa: E402
from console.serving import bind_socket, serve, socket_url  # noqa: E402

GOOD, BAD = "a" * 40, "b" * 40
# The bad revision's sync started just now: Progressing is within its deadline all along.
STARTED = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class NoWrites:
    """The deploy repo: never reached, since nothing fails long enough."""

    def facts(self, app: str, *, refresh: bool = True) -> GitFacts:
        return GitFacts()

    def write(self, req: RollbackRequest) -> RollbackOutcome:
        raise AssertionError(f"unexpected rollback of {req.app}")

    def contains(self, revision: str, commit: str) -> bool:
        return revision == commit


def record(i: int, health: str) -> ApplicationRecord:
    source = {"repoURL": "https://github.com/acme/platform-deploy.git", "path": f"apps/{i}"}
    doc: dict[str, Any] = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": f"app-{i:04d}",
            "namespace": "argocd",
            "annotations": {ENABLED: "true", GRACE: "30", DEADLINE: "600"},
            "labels": {"gitops.platform/service": f"svc-{i}", "gitops.platform/env": "dev"},
        },
        "spec": {"project": "default", "source": source, "destination": {"namespace": "dev"}},
        "status": {
            "sync": {"status": "Synced", "revision": BAD},
            "health": {"status": health},
            "history": [
                {"id": 0, "revision": GOOD, "deployedAt": "2026-11-26T08:00:00Z", "source": source},
                {"id": 1, "revision": BAD, "deployedAt": "2026-11-26T08:01:00Z", "source": source},
            ],
            "operationState": {
                "operation": {"sync": {"revision": BAD}},
                "phase": "Succeeded",
                "startedAt": STARTED,
                "syncResult": {"revision": BAD},
            },
            "summary": {"images": [f"registry/svc-{i}:{BAD}"]},
        },
    }
    return from_json(doc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--changes", type=int, default=10_000)
    args = parser.parse_args()
    store = InMemorySource([record(i, "Healthy") for i in range(args.apps)])
    token = new_token()
    api = create_api(store, token, "bench")
    sock = bind_socket("127.0.0.1", 0)
    url = socket_url(sock)
    server_loop = asyncio.new_event_loop()
    server_stop = asyncio.Event()
    server = threading.Thread(
        target=lambda: server_loop.run_until_complete(
            serve(api, shutdown_event=server_stop, sock=sock)
        ),
        daemon=True,
    )
    server.start()

    async def bench() -> tuple[float, float, int, float]:
        source = ArgoCDSource(url, token, name="bench")
        guard = Guard(source, NoWrites())
        stop = asyncio.Event()
        task = asyncio.create_task(guard.run(stop))
        while len(guard.decision_samples) < args.apps:  # the first Snapshot
            await asyncio.sleep(0.01)
        guard.decision_samples.clear()
        rng = random.Random(7)  # noqa: S311 - picks which app changes, not a secret
        cpu0, wall0 = time.thread_time(), time.perf_counter()

        def publish() -> None:
            for n in range(args.changes):
                health = "Progressing" if n % 2 == 0 else "Healthy"
                store.put(record(rng.randrange(args.apps), health))

        publisher = threading.Thread(target=publish)
        publisher.start()
        deadline = time.monotonic() + 300
        # Coalesced streams may merge changes of one app: wait until the stream is drained.
        while time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            if not publisher.is_alive():
                seen = len(guard.decision_samples)
                await asyncio.sleep(1.0)
                if len(guard.decision_samples) == seen:
                    break
        cpu, wall = time.thread_time() - cpu0, time.perf_counter() - wall0 - 1.0
        stop.set()
        await task
        await source.aclose()
        samples = sorted(guard.decision_samples)
        p50 = statistics.median(samples) * 1000
        p99 = samples[int(len(samples) * 0.99) - 1] * 1000
        print(f"decisions: {len(samples)} in {wall:.1f}s; guard cpu {cpu:.1f}s", flush=True)
        return p50, p99, len(samples), cpu / wall * 100

    p50, p99, count, cpu_pct = asyncio.run(bench())
    server_loop.call_soon_threadsafe(server_stop.set)
    server.join(timeout=10)
    print(
        f"apps={args.apps} changes={args.changes} decisions={count} "
        f"decision_p50_ms={p50:.3f} decision_p99_ms={p99:.3f} guard_cpu_pct={cpu_pct:.0f}"
    )


if __name__ == "__main__":
    main()
