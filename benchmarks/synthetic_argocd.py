"""A synthetic Argo CD API for the console's benchmark: N full-shape Applications (services x
dev/staging/prod), served over real HTTP on 127.0.0.1 by a plain asyncio server, with update
frames sent on demand. Run it in a process of its own (benchmarks/console_scale.py does), so the
console measured does not share its event loop or its CPU time with it.

    uv run python benchmarks/synthetic_argocd.py --apps 1000 [--token T] [--port 0]

Routes, each behind `Authorization: Bearer <token>` (Argo CD's 401 JSON otherwise):
    GET /api/v1/applications          v1alpha1ApplicationList, with metadata.resourceVersion
    GET /api/v1/stream/applications   NDJSON frames {"result": {"type", "application"}}, held
                                      open; without `resourceVersion`, every app first as ADDED
                                      (as Argo CD), with one only what changes after it
Control, one command a line on stdin (EOF or `quit` stops the server):
    updates COUNT INTERVAL_S          COUNT MODIFIED frames at a steady rate, one every
                                      INTERVAL_S, each to every open stream; prints `sent COUNT`
Prints `ready URL` on stdout once it listens.

Apps are shaped like Argo CD's answers (every status part the console reads: sync with
comparedTo, health, operationState with its syncResult, ten history entries, summary.images,
resources, conditions, reconciledAt; see ../shared/reference/argo-cd/testdata/application.yaml
for the spec) and deterministic: `layout(n)` says what each one runs, so the benchmark can serve
the matching deploy-repo pins and /version answers from memory. An update flips one app's
health (Healthy <-> Progressing) and carries, as annotations, its sequence number and the wall
clock (time.time()) at which the frame was written to the socket.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import random
import sys
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

ENVS = ("dev", "staging", "prod")
NAMESPACE = "argocd"
PROJECT = "acme-platform"
DEPLOY_REPO = "https://github.com/acme/platform-deploy.git"
REGISTRY = "registry.acme.example/platform"
SENT_AT = "bench.gitops.platform/sent-at"  # time.time() when the frame was written
SEQ = "bench.gitops.platform/seq"  # the frame's sequence number, from 0
HISTORY = 10  # entries per app, Argo CD's default revisionHistoryLimit
NOW = datetime(2026, 8, 1, 12, 0, tzinfo=UTC)
LIST_PATH = "/api/v1/applications"
STREAM_PATH = "/api/v1/stream/applications"

Json = dict[str, Any]


def sha(*parts: object) -> str:
    return hashlib.sha1("/".join(map(str, parts)).encode()).hexdigest()  # noqa: S324


def rfc3339(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- what each app runs ------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """One synthetic app: where it is and what it runs. `revision` is the deploy-repo commit
    Argo CD synced; `tag` the image tag it runs (what the overlay pins at `revision`); `live`
    what its /version answers (differs from `tag` for drifting apps)."""

    index: int
    service: str
    env: str
    revision: str
    tag: str
    live: str
    health: str
    sync: str
    rollback: bool  # `revision` is a rollback commit of this app

    @property
    def name(self) -> str:
        return f"{self.service}-{self.env}"

    @property
    def path(self) -> str:
        return f"overlays/{self.env}/{self.service}"

    @property
    def revisions(self) -> list[str]:
        """Its history's revisions, oldest first; the last is `revision`."""
        return [sha("history", self.name, n) for n in range(HISTORY - 1)] + [self.revision]


def layout(apps: int) -> list[Spec]:
    """`apps` apps: ceil(apps/3) services, each in dev, staging and prod (the last service may
    have fewer). Mostly healthy and synced; a few degraded, progressing, out of sync, drifting
    or on a rollback, at fixed places (the same for every run)."""
    rng = random.Random(apps)  # noqa: S311 - synthetic data, not a secret
    out = []
    for i in range(apps):
        service, env = f"svc{i // len(ENVS):04d}", ENVS[i % len(ENVS)]
        revision = sha("deploy", service, env)
        tag = sha("build", service, ENVS.index(env))[:12]
        roll = rng.random()
        health = "Degraded" if roll < 0.02 else "Progressing" if roll < 0.04 else "Healthy"
        sync = "OutOfSync" if 0.04 <= roll < 0.06 else "Synced"
        live = sha("other-build", service)[:12] if 0.06 <= roll < 0.08 else tag
        rollback = 0.08 <= roll < 0.09
        out.append(Spec(i, service, env, revision, tag, live, health, sync, rollback))
    return out


# --- Applications as Argo CD answers them --------------------------------------------------------


def _source(spec: Spec) -> Json:
    return {"repoURL": DEPLOY_REPO, "path": spec.path, "targetRevision": "main"}


def _destination(spec: Spec) -> Json:
    return {"server": "https://kubernetes.default.svc", "namespace": spec.env}


def _resources(spec: Spec, health: str) -> list[Json]:
    ns, name = spec.env, spec.service
    deployment_health: Json = {"status": health}
    if health != "Healthy":
        deployment_health["message"] = f'Deployment "{name}" has 1 unavailable replica'
    return [
        {
            "version": "v1",
            "kind": "ConfigMap",
            "namespace": ns,
            "name": f"{name}-config",
            "status": spec.sync,
        },
        {
            "version": "v1",
            "kind": "Service",
            "namespace": ns,
            "name": name,
            "status": "Synced",
            "health": {"status": "Healthy"},
        },
        {
            "version": "v1",
            "kind": "ServiceAccount",
            "namespace": ns,
            "name": name,
            "status": "Synced",
        },
        {
            "group": "apps",
            "version": "v1",
            "kind": "Deployment",
            "namespace": ns,
            "name": name,
            "status": spec.sync,
            "health": deployment_health,
        },
        {
            "group": "autoscaling",
            "version": "v2",
            "kind": "HorizontalPodAutoscaler",
            "namespace": ns,
            "name": name,
            "status": "Synced",
            "health": {"status": "Healthy"},
        },
    ]


def application(spec: Spec, resource_version: int = 1) -> Json:
    """The `v1alpha1Application` Argo CD's API would answer for `spec`."""
    source, destination = _source(spec), _destination(spec)
    revisions = spec.revisions
    deployed = [
        NOW - timedelta(hours=2 * (HISTORY - n), minutes=spec.index % 60) for n in range(HISTORY)
    ]
    history = [
        {
            "id": n,
            "revision": rev,
            "deployStartedAt": rfc3339(at - timedelta(seconds=40)),
            "deployedAt": rfc3339(at),
            "source": source,
            "initiatedBy": {"automated": True} if n % 4 else {"username": "ada@acme.example"},
        }
        for n, (rev, at) in enumerate(zip(revisions, deployed, strict=True))
    ]
    finished = deployed[-1]
    phase, message = "Succeeded", "successfully synced (all tasks run)"
    if spec.health == "Degraded":
        phase, message = "Failed", "one or more synchronization tasks completed unsuccessfully"
    image = f"{REGISTRY}/{spec.service}:{spec.tag}"
    conditions: list[Json] = []
    if spec.sync == "OutOfSync":
        conditions.append(
            {
                "type": "SyncError",
                "message": "one or more objects failed to apply",
                "lastTransitionTime": rfc3339(finished),
            }
        )
    health: Json = {"status": spec.health, "lastTransitionTime": rfc3339(finished)}
    if spec.health != "Healthy":
        health["message"] = f'Deployment "{spec.service}" has 1 unavailable replica'
    return {
        "metadata": {
            "name": spec.name,
            "namespace": NAMESPACE,
            "uid": str(uuid.UUID(sha("uid", spec.name)[:32])),
            "resourceVersion": str(resource_version),
            "generation": HISTORY + 2,
            "creationTimestamp": rfc3339(NOW - timedelta(days=30)),
            "labels": {
                "gitops.platform/service": spec.service,
                "gitops.platform/env": spec.env,
                "app.kubernetes.io/part-of": PROJECT,
            },
            "annotations": {
                "gitops.platform/auto-rollback": "true",
                "gitops.platform/rollback-grace-seconds": "30",
                "gitops.platform/progress-deadline-seconds": "600",
                "notifications.argoproj.io/subscribe.on-sync-failed.slack": "deploys",
            },
            "finalizers": ["resources-finalizer.argocd.argoproj.io"],
        },
        "spec": {
            "project": PROJECT,
            "source": source,
            "destination": destination,
            "syncPolicy": {
                "automated": {"enabled": True, "prune": True, "selfHeal": True},
                "syncOptions": ["CreateNamespace=true", "ApplyOutOfSyncOnly=true"],
                "retry": {
                    "limit": 2,
                    "backoff": {"duration": "5s", "factor": 2, "maxDuration": "3m"},
                },
            },
            "revisionHistoryLimit": HISTORY,
            "info": [{"name": "owner", "value": f"team-{spec.index % 17}"}],
        },
        "status": {
            "sync": {
                "status": spec.sync,
                "revision": spec.revision,
                "comparedTo": {"source": source, "destination": destination},
            },
            "health": health,
            "operationState": {
                "operation": {
                    "sync": {
                        "revision": spec.revision,
                        "prune": True,
                        "syncOptions": ["CreateNamespace=true"],
                    },
                    "initiatedBy": {"automated": True},
                    "retry": {"limit": 2},
                },
                "phase": phase,
                "message": message,
                "syncResult": {
                    "revision": spec.revision,
                    "source": source,
                    "resources": [
                        {
                            "group": r.get("group", ""),
                            "version": r["version"],
                            "kind": r["kind"],
                            "namespace": r["namespace"],
                            "name": r["name"],
                            "status": "Synced",
                            "message": f"{r['kind'].lower()}/{r['name']} configured",
                            "hookPhase": "Succeeded",
                            "syncPhase": "Sync",
                        }
                        for r in _resources(spec, spec.health)
                    ],
                },
                "startedAt": rfc3339(finished - timedelta(seconds=40)),
                "finishedAt": rfc3339(finished),
            },
            "history": history,
            "summary": {
                "images": [image],
                "externalURLs": [f"https://{spec.service}.{spec.env}.acme.example"],
            },
            "resources": _resources(spec, spec.health),
            "conditions": conditions,
            "reconciledAt": rfc3339(NOW),
            "observedAt": rfc3339(NOW),
            "sourceType": "Kustomize",
            "controllerNamespace": NAMESPACE,
        },
    }


def application_list(apps: Iterable[Json], resource_version: int) -> Json:
    return {"metadata": {"resourceVersion": str(resource_version)}, "items": list(apps)}


# --- the server ----------------------------------------------------------------------------------


class Fleet:
    """The served state: every app's JSON, a resourceVersion counter, the open streams."""

    def __init__(self, apps: int, token: str) -> None:
        self.specs = layout(apps)
        self.token = token
        self.version = 1
        self.apps = [application(spec, self.version) for spec in self.specs]
        self._list: bytes | None = None
        self.list_body()  # ready before it listens: the first list is not slowed by this
        self.streams: set[asyncio.StreamWriter] = set()
        self.connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        self.order = random.Random(7).sample(range(apps), apps)  # noqa: S311 - which app next

    def list_body(self) -> bytes:
        if self._list is None:
            body = application_list(self.apps, self.version)
            self._list = json.dumps(body, separators=(",", ":")).encode()
        return self._list

    def frame(self, seq: int) -> bytes:
        """Flip the next app's health; its MODIFIED frame, stamped now."""
        index = self.order[seq % len(self.order)]
        self.version += 1
        self._list = None
        app = self.apps[index]
        status = app["status"]
        flipped = "Progressing" if status["health"]["status"] == "Healthy" else "Healthy"
        status["health"] = {"status": flipped, "lastTransitionTime": rfc3339(datetime.now(UTC))}
        if flipped != "Healthy":
            status["health"]["message"] = "Waiting for rollout to finish"
        app["metadata"]["resourceVersion"] = str(self.version)
        app["metadata"]["annotations"][SEQ] = str(seq)
        app["metadata"]["annotations"][SENT_AT] = repr(time.time())
        return (
            json.dumps(
                {"result": {"type": "MODIFIED", "application": app}}, separators=(",", ":")
            ).encode()
            + b"\n"
        )

    async def send_updates(self, count: int, interval: float) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        for seq in range(count):
            delay = start + seq * interval - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            frame = self.frame(seq)  # stamped just before the write
            for writer in list(self.streams):
                try:
                    writer.write(_chunk(frame))
                    await writer.drain()
                except (ConnectionError, RuntimeError):
                    self.streams.discard(writer)
        print(f"sent {count}", flush=True)


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _head(status: str, content_type: str, length: int | None) -> bytes:
    lines = [f"HTTP/1.1 {status}", f"Content-Type: {content_type}"]
    lines.append(
        f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    )
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _error(status: int, reason: str, code: int, message: str) -> bytes:
    body = json.dumps({"error": message, "code": code, "message": message}).encode()
    return _head(f"{status} {reason}", "application/json", len(body)) + body


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, dict[str, str]] | None:
    line = await reader.readline()
    if not line:
        return None
    method, target, _ = line.decode("latin-1").split(" ", 2)
    headers: dict[str, str] = {}
    while True:
        raw = await reader.readline()
        if raw in (b"\r\n", b"\n", b""):
            break
        key, _, value = raw.decode("latin-1").partition(":")
        headers[key.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0)
    if length:
        await reader.readexactly(length)
    return method, target, headers


async def handle(fleet: Fleet, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    task = asyncio.current_task()
    if task is not None:
        fleet.connections[task] = writer
    try:
        while (request := await _read_request(reader)) is not None:
            method, target, headers = request
            url = urlsplit(target)
            if headers.get("authorization") != f"Bearer {fleet.token}":
                writer.write(_error(401, "Unauthorized", 16, "invalid session"))
            elif method == "GET" and url.path == LIST_PATH:
                body = fleet.list_body()
                writer.write(_head("200 OK", "application/json", len(body)) + body)
            elif method == "GET" and url.path == STREAM_PATH:
                writer.write(_head("200 OK", "application/json", None))
                if "resourceVersion" not in parse_qs(url.query):
                    for app in fleet.apps:  # as Argo CD: the current state first
                        frame = {"result": {"type": "ADDED", "application": app}}
                        writer.write(_chunk(json.dumps(frame).encode() + b"\n"))
                await writer.drain()
                fleet.streams.add(writer)
                try:
                    await reader.read()  # held open until the client goes
                finally:
                    fleet.streams.discard(writer)
                return
            else:
                writer.write(_error(404, "Not Found", 5, f"no route {method} {url.path}"))
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError, ValueError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()
        if task is not None:
            fleet.connections.pop(task, None)


async def serve(apps: int, token: str, port: int) -> None:
    fleet = Fleet(apps, token)
    server = await asyncio.start_server(
        lambda r, w: handle(fleet, r, w), "127.0.0.1", port, limit=1 << 20
    )
    host, bound = server.sockets[0].getsockname()[:2]
    loop = asyncio.get_running_loop()
    commands: asyncio.Queue[str] = asyncio.Queue()

    def read_stdin() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(commands.put_nowait, line)
        loop.call_soon_threadsafe(commands.put_nowait, "quit")

    threading.Thread(target=read_stdin, daemon=True).start()
    print(f"ready http://{host}:{bound}", flush=True)
    async with server:
        sending: asyncio.Task[None] | None = None
        while True:
            words = (await commands.get()).split()
            if not words:
                continue
            if words[0] == "quit":
                break
            if words[0] == "updates" and len(words) == 3:
                if sending is not None:
                    await sending
                sending = asyncio.create_task(fleet.send_updates(int(words[1]), float(words[2])))
            else:
                print(f"unknown command {' '.join(words)!r}", file=sys.stderr, flush=True)
        if sending is not None:
            sending.cancel()
        # Close every connection and let its handler see the end, rather than have
        # asyncio.run cancel handlers still reading.
        handlers = list(fleet.connections)
        for writer in fleet.connections.values():
            writer.close()
        if handlers:
            await asyncio.wait(handlers, timeout=5)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--token", default="synthetic-argocd-token")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.apps, args.token, args.port))


if __name__ == "__main__":
    main()
