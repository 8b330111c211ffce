"""The embedded platform's data plane: every Service proxy of a workspace, in a process of its
own, so that traffic keeps flowing while `gitops up` (the control plane) is down, crashed or
restarting, as kube-proxy's rules and the pods keep serving on a node whose kubelet died.

    python -m console.local.kube.dataplane --dir DIR

DIR holds `dataplane.json` (pid, process start time, control socket: how a restarted control plane
proves this process is the workspace's own before adopting it) and `dataplane.log`. The process
serves a control socket (a Unix socket, 0600) speaking JSON lines, one request per line, each
answered in order with the same `id`:

    {"id": 1, "op": "hello"}                  -> {"id": 1, "ok": true, "pid": ..., "protocol": 1,
                                                   "services": {"ns/name": {"port": p,
                                                   "endpoints": [[host, port], ...]}}}
    {"id": 2, "op": "apply", "services": {...}} -> {"id": 2, "ok": true,
                                                   "applied": {"ns/name": port | "why not"}}
    {"id": 3, "op": "stop", "grace_s": 10}    -> drains every proxy, answers, exits

`apply` takes the whole routing table (declarative, so a repeated or late message is harmless);
Services missing from it stop listening and drain. A control connection that closes changes
nothing: the table stays as it was until a control plane applies another one. SIGTERM or SIGINT
drain and exit, like `stop`. On start the process prints one line, `ready`, once its socket
listens, then never writes to stdout again.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from console.local.kube.proxytable import ProxyTable, Route, ServiceKey

PROTOCOL = 1
RECORD = "dataplane.json"
LOG = "dataplane.log"
_LINE_LIMIT = 16 * 1024 * 1024  # one routing table; thousands of Services fit

log = logging.getLogger(__name__)


def encode_table(table: Mapping[ServiceKey, Route]) -> dict[str, Any]:
    return {
        f"{ns}/{name}": {"port": route.port, "endpoints": [list(e) for e in route.endpoints]}
        for (ns, name), route in table.items()
    }


def decode_table(doc: Mapping[str, Any]) -> dict[ServiceKey, Route]:
    """The table a message carries; raises ValueError (or KeyError, TypeError) when malformed."""
    table: dict[ServiceKey, Route] = {}
    for key, value in doc.items():
        namespace, _, name = str(key).partition("/")
        if not namespace or not name:
            raise ValueError(f"service key {key!r}: expected namespace/name")
        endpoints = tuple((str(host), int(port)) for host, port in value["endpoints"])
        table[(namespace, name)] = Route(int(value["port"]), endpoints)
    return table


class _Server:
    def __init__(self, table: ProxyTable) -> None:
        self.table = table
        self.done = asyncio.Event()
        self._lock = asyncio.Lock()  # one table change at a time, whichever connection asks

    async def on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            while not self.done.is_set():
                line = await reader.readline()
                if not line:
                    return  # the control plane left; the routes stay
                reply = await self._handle(line)
                writer.write(json.dumps(reply, separators=(",", ":")).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            return  # a broken or oversized line: drop the connection, keep routing
        finally:
            writer.close()

    async def _handle(self, line: bytes) -> dict[str, Any]:
        try:
            request = json.loads(line)
            ident, op = request.get("id"), request.get("op")
        except (ValueError, AttributeError) as exc:
            return {"id": None, "ok": False, "error": f"not a JSON object: {exc}"}
        async with self._lock:
            try:
                if op == "hello":
                    return {
                        "id": ident,
                        "ok": True,
                        "pid": os.getpid(),
                        "protocol": PROTOCOL,
                        "services": encode_table(self.table.routes()),
                    }
                if op == "apply":
                    applied = await self.table.apply(decode_table(request["services"]))
                    out = {f"{ns}/{name}": v for (ns, name), v in applied.items()}
                    return {"id": ident, "ok": True, "applied": out}
                if op == "stop":
                    await self.table.close(float(request.get("grace_s", self.table.drain_s)))
                    self.done.set()
                    return {"id": ident, "ok": True}
            except (KeyError, TypeError, ValueError) as exc:
                return {"id": ident, "ok": False, "error": f"malformed {op} request: {exc}"}
        return {"id": ident, "ok": False, "error": f"unknown op {op!r}"}


async def serve(directory: Path, socket_path: Path, ready: Any = None) -> None:
    """Run the data plane until stopped; `ready()` is called once the socket listens."""
    from console.procs import process_start  # noqa: PLC0415 - keeps `-m` start-up lean

    table = ProxyTable()
    server = _Server(table)
    with contextlib.suppress(FileNotFoundError):
        socket_path.unlink()  # a dead data plane's; the client checked nobody answers on it
    listener = await asyncio.start_unix_server(
        server.on_connection, path=str(socket_path), limit=_LINE_LIMIT
    )
    os.chmod(socket_path, 0o600)  # who can connect can re-route every Service
    record = {
        "pid": os.getpid(),
        "process_start": process_start(os.getpid()),
        "socket": str(socket_path),
        "protocol": PROTOCOL,
    }
    tmp = directory / f".{RECORD}.tmp"
    tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    tmp.replace(directory / RECORD)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if ready is not None:
        ready()
    log.info("data plane %d listening on %s", os.getpid(), socket_path)
    waiters = [asyncio.ensure_future(server.done.wait()), asyncio.ensure_future(stop.wait())]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        listener.close()
        await table.close()
        with contextlib.suppress(FileNotFoundError):
            socket_path.unlink()
        log.info("data plane %d stopped", os.getpid())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m console.local.kube.dataplane")
    parser.add_argument("--dir", required=True, type=Path, help="the data plane's state directory")
    parser.add_argument("--socket", required=True, type=Path, help="the control socket's path")
    args = parser.parse_args(argv)
    directory: Path = args.dir
    logging.basicConfig(
        filename=directory / LOG,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )

    def ready() -> None:
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        # Never write to the pipe again: the control plane that started this process may be gone.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)

    asyncio.run(serve(directory, args.socket, ready))
    return 0


if __name__ == "__main__":
    sys.exit(main())
