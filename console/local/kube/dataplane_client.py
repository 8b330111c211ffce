"""The control plane's handle on the workspace's data plane process (`dataplane`): attach to the
one that runs, after proving it is this workspace's own (its record's pid and process start time,
and the pid it answers with on its socket), or start one; then send it routing tables.

`apply` waits for the answer (a new Service's port, or why it cannot listen); `publish` does not
(endpoint changes, sent in order on the loop without waiting, as the proxies in-process took
them). `close` drains every proxy and stops the process: the platform is going down. A control
plane that is killed never calls it, and the data plane keeps routing. A data plane that dies
(killed, crashed) is started again at once with the last table, on the same ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import logging
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from console.local.kube.dataplane import LOG, PROTOCOL, RECORD, decode_table, encode_table
from console.local.kube.proxytable import Applied, Route, ServiceKey
from console.procs import process_start, process_state

log = logging.getLogger(__name__)

START_TIMEOUT_S = 20.0
REPLY_TIMEOUT_S = 10.0
_SUN_PATH_MAX = 100  # sockaddr_un.sun_path is 108 bytes on Linux, 104 on macOS


class DataPlaneError(RuntimeError):
    """The data plane cannot be started or reached; the message says where to look."""


def socket_path(directory: Path) -> Path:
    """Where the control socket of the data plane in `directory` lives: in it when the path fits
    a Unix socket address, else in a private directory under the system's temp dir."""
    inside = directory / "dataplane.sock"
    if len(os.fsencode(inside)) <= _SUN_PATH_MAX:
        return inside
    private = Path(tempfile.gettempdir()) / f"gitops-{os.getuid()}"
    private.mkdir(mode=0o700, exist_ok=True)
    digest = hashlib.sha256(os.fsencode(directory.resolve())).hexdigest()[:20]
    return private / f"{digest}.sock"


class DataPlane:
    """A connection to the data plane of one directory; see the module docstring."""

    def __init__(
        self,
        directory: Path,
        *,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        pid: int,
        adopted: dict[ServiceKey, Route],
        proc: subprocess.Popen[bytes] | None,
    ) -> None:
        self.directory = directory
        self.pid = pid
        # What it routed when this control plane attached: nothing for one it started.
        self.adopted = adopted
        self.restarts = 0  # data planes started again after one died
        self._table: dict[ServiceKey, Route] = dict(adopted)  # the last table given
        self._proc = proc
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._broken: str | None = None
        self._closing = False
        self._respawned: asyncio.Task[None] | None = None
        self._connect(reader, writer)

    @classmethod
    async def attach(cls, directory: Path) -> DataPlane:
        """The data plane of `directory`: the running one, when it proves to be it, else a new
        one (a stale or foreign one is never trusted: a dead record's socket is replaced)."""
        directory.mkdir(parents=True, exist_ok=True)
        found = await _running(directory)
        if found is not None:
            reader, writer, pid, services = found
            log.info("adopted the data plane %d (%d Services)", pid, len(services))
            return cls(
                directory, reader=reader, writer=writer, pid=pid, adopted=services, proc=None
            )
        proc, reader, writer = await _spawn(directory)
        return cls(directory, reader=reader, writer=writer, pid=proc.pid, adopted={}, proc=proc)

    async def apply(self, table: Mapping[ServiceKey, Route]) -> Applied:
        """Make the data plane route `table`; each Service's port or why it cannot listen."""
        self._table = dict(table)
        if self._respawned is not None and not self._respawned.done():
            await asyncio.shield(self._respawned)
        reply = await self._request({"op": "apply", "services": encode_table(table)})
        out: Applied = {}
        for key, value in reply["applied"].items():
            namespace, _, name = key.partition("/")
            out[(namespace, name)] = value if isinstance(value, str) else int(value)
        for key, port in out.items():  # a data plane started again binds the same ports
            route = self._table.get(key)
            if route is not None and isinstance(port, int):
                self._table[key] = Route(port, route.endpoints)
        return out

    def publish(self, table: Mapping[ServiceKey, Route]) -> None:
        """Send `table` without waiting for the answer (endpoint changes). While a dead data
        plane is being replaced, the table waits for the new one."""
        self._table = dict(table)
        if self._broken is None:
            self._send({"id": next(self._ids), "op": "apply", "services": encode_table(table)})

    async def close(self, grace_s: float) -> None:
        """Drain every proxy (up to `grace_s`), stop the data plane and wait for it to exit."""
        self._closing = True
        if self._respawned is not None:
            with contextlib.suppress(Exception):
                await self._respawned
        with contextlib.suppress(DataPlaneError):
            await self._request({"op": "stop", "grace_s": grace_s}, timeout=grace_s + 5)
        self._pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._pump
        self._writer.close()
        if self._proc is not None:
            try:
                await asyncio.to_thread(self._proc.wait, 5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                await asyncio.to_thread(self._proc.wait)
        else:
            await _gone(self.pid, 5)

    def detach(self) -> None:
        """Leave the data plane running (as a killed control plane would)."""
        self._closing = True
        self._pump.cancel()
        self._writer.close()
        if self._proc is not None:
            self._proc.returncode = 0  # not ours to wait for any more: it outlives us

    # ---- a data plane that died ---------------------------------------------------------------

    async def _respawn(self) -> None:
        """Start a data plane again and give it the last table, as a node restarts a crashed
        kube-proxy, which then programs the same rules again: the Services get their ports
        back. Retried with back-off until it works or the platform stops."""
        if self._proc is not None:
            with contextlib.suppress(OSError):
                self._proc.poll()  # reap the dead one
        for attempt in itertools.count():
            if self._closing:
                return
            try:
                proc, reader, writer = await _spawn(self.directory)
            except DataPlaneError as exc:
                log.error("data plane: cannot start it again: %s", exc)
                await asyncio.sleep(min(0.5 * 2**attempt, 10.0))  # back-off between attempts
                continue
            self._proc, self.pid = proc, proc.pid
            self._connect(reader, writer)
            self.restarts += 1
            try:
                applied = await self._request(
                    {"op": "apply", "services": encode_table(self._table)}
                )
            except DataPlaneError:
                return  # it died at once: its connection's reader starts another
            failed = {k: v for k, v in applied["applied"].items() if isinstance(v, str)}
            log.warning(
                "data plane started again (pid %d): %d Services routing%s",
                proc.pid,
                len(self._table) - len(failed),
                f"; cannot route {failed}" if failed else "",
            )
            return

    # ---- the wire ----------------------------------------------------------------------------

    def _connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer
        self._broken = None
        self._pump = asyncio.get_running_loop().create_task(self._read_replies())

    def _send(self, message: Mapping[str, Any]) -> None:
        self._writer.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")

    async def _request(
        self, message: Mapping[str, Any], timeout: float = REPLY_TIMEOUT_S
    ) -> dict[str, Any]:
        if self._broken is not None:
            raise DataPlaneError(f"data plane {self.pid}: {self._broken}")
        ident = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[ident] = future
        self._send({**message, "id": ident})
        try:
            reply = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise DataPlaneError(
                f"data plane {self.pid}: no answer to {message['op']} within {timeout:.0f} s"
            ) from None
        finally:
            self._waiting.pop(ident, None)
        if not reply.get("ok"):
            raise DataPlaneError(f"data plane {self.pid}: {reply.get('error')}")
        return reply

    async def _read_replies(self) -> None:
        try:
            while line := await self._reader.readline():
                reply = json.loads(line)
                future = self._waiting.pop(reply.get("id"), None)
                if future is not None and not future.done():
                    future.set_result(reply)
                elif not reply.get("ok"):
                    log.error("data plane %d: %s", self.pid, reply.get("error"))
            broken = "it closed the control connection"
        except (OSError, ValueError) as exc:
            broken = f"control connection failed: {exc}"
        self._broken = "stopped" if self._closing else broken
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(DataPlaneError(f"data plane {self.pid}: {self._broken}"))
        if self._closing:
            return  # as asked
        log.error("data plane %d: %s; starting it again", self.pid, broken)
        self._respawned = asyncio.get_running_loop().create_task(self._respawn())


async def _spawn(
    directory: Path,
) -> tuple[subprocess.Popen[bytes], asyncio.StreamReader, asyncio.StreamWriter]:
    """A new data plane on `directory`, connected."""
    proc = await asyncio.to_thread(_start, directory)
    try:
        reader, writer = await asyncio.open_unix_connection(
            str(socket_path(directory)), limit=1 << 24
        )
    except OSError as exc:
        proc.kill()
        await asyncio.to_thread(proc.wait)
        raise DataPlaneError(f"data plane in {directory}: cannot connect: {exc}") from None
    return proc, reader, writer


async def _running(
    directory: Path,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, int, dict[ServiceKey, Route]] | None:
    """The data plane the record names, when it is alive, is the process that wrote the record
    and answers on its socket with its own pid; None otherwise (a stale one that still runs
    without answering is killed: it would hold the Services' ports)."""
    try:
        record = json.loads((directory / RECORD).read_text(encoding="utf-8"))
        pid, started = int(record["pid"]), record["process_start"]
        path = Path(record["socket"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if started is None or process_start(pid) != started:
        return None  # gone, or the pid now belongs to someone else
    connection = None
    with contextlib.suppress(OSError):
        connection = await asyncio.open_unix_connection(str(path), limit=1 << 24)
    if connection is not None:
        reader, writer = connection
        try:
            writer.write(b'{"id":0,"op":"hello"}\n')
            reply = json.loads(await asyncio.wait_for(reader.readline(), REPLY_TIMEOUT_S))
            if reply.get("pid") == pid and reply.get("protocol") == PROTOCOL:
                return reader, writer, pid, decode_table(reply["services"])
            if reply.get("pid") == pid:  # ours, but an older protocol: replace it
                writer.write(b'{"id":1,"op":"stop","grace_s":5}\n')
                await asyncio.wait_for(reader.readline(), 10)
        except (OSError, ValueError, KeyError, TypeError, TimeoutError):
            pass
        writer.close()
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    await _gone(pid, 5)
    return None


def _start(directory: Path) -> subprocess.Popen[bytes]:
    """Start a data plane on `directory` and wait for its `ready` line."""
    path = socket_path(directory)
    command = [sys.executable, "-m", "console.local.kube.dataplane", "--dir", str(directory)]
    with (directory / LOG).open("ab") as errors:
        proc = subprocess.Popen(
            [*command, "--socket", str(path)],
            cwd=directory,  # `-m` puts the cwd first on sys.path: nothing there to shadow us
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=errors,
            start_new_session=True,  # not in the terminal's process group: Ctrl-C is ours
        )
    if proc.stdout is None:  # for the type checker: stdout=PIPE
        raise DataPlaneError("the data plane's stdout is not a pipe")
    deadline = time.monotonic() + START_TIMEOUT_S
    line = b""
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while not line.endswith(b"\n") and (left := deadline - time.monotonic()) > 0:
            if not selector.select(left):
                continue
            chunk = os.read(proc.stdout.fileno(), 64)
            if not chunk:
                break
            line += chunk
    proc.stdout.close()
    if line.strip() != b"ready":
        proc.kill()
        proc.wait()
        raise DataPlaneError(
            f"the data plane did not start within {START_TIMEOUT_S:.0f} s; see {directory / LOG}"
        )
    return proc


async def _gone(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while process_state(pid) not in (None, "Z") and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
