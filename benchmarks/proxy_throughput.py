"""Throughput and latency of the embedded platform's Service proxy, measured from outside: a pod
and the proxy each run in a process of their own (as in the data plane), a raw-socket client
drives them from this one. One line per scenario; the last line is name=value pairs.

    uv run python benchmarks/proxy_throughput.py [--root DIR] [--requests 4000] [--rounds 3]

Scenarios (each also measured straight against the pod, `direct`, to show the proxy's share):

- `small`: GET of a 2-byte body, `--concurrency` keep-alive connections: requests/s, p50, p99.
- `serial`: the same on one connection, one request at a time (`--requests` / 4): the latency
  of a request through the proxy without queueing.
- `large`: GET of a 1 MiB sized body, one connection: MiB/s.
- `chunked`: GET of a 1 MiB chunked body (16 KiB chunks), one connection: MiB/s.
- `upload`: POST of a 1 MiB sized body, one connection: MiB/s.

`--root` is the checkout whose `console` package is imported for the proxy (default: this one);
given twice or more, each gets a proxy of its own and the rounds alternate between them, so two
versions are compared under the same load. Each figure is the best of `--rounds` rounds (the one
least disturbed by other load on the machine; every round is printed too); `cpu` is the proxy
process's own CPU time (user+system) per request or per MiB.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024

# The pod: a minimal asyncio HTTP/1.1 server, cheap per request, so the proxy dominates.
POD_PROGRAM = r"""
import asyncio, sys
BIG = b"x" * (1024 * 1024)
CHUNK = b"y" * 16384
async def serve(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            line, _, rest = head.partition(b"\r\n")
            target = line.split(b" ")[1]
            length = 0
            for field in rest.split(b"\r\n"):
                name, _, value = field.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            while length:
                length -= len(await reader.read(min(length, 65536)))
            if target == b"/large":
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(BIG) + BIG)
            elif target == b"/chunked":
                writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                for _ in range(64):
                    writer.write(b"4000\r\n" + CHUNK + b"\r\n")
                writer.write(b"0\r\n\r\n")
            else:
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()
async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""

PROXY_PROGRAM = r"""
import asyncio, sys
from console.local.kube.proxy import ServiceProxy
async def main():
    proxy = ServiceProxy("bench")
    await proxy.start()
    proxy.set_endpoints([("127.0.0.1", int(sys.argv[1]))])
    print(proxy.port, flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


async def spawn(program: str, *args: str, root: Path) -> tuple[asyncio.subprocess.Process, int]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", program, *args, stdout=asyncio.subprocess.PIPE, env=env, cwd=root
    )
    assert process.stdout is not None
    return process, int(await process.stdout.readline())


async def read_response(reader: asyncio.StreamReader) -> int:
    """Read one response (sized or chunked); the number of body bytes."""
    head = await reader.readuntil(b"\r\n\r\n")
    lower = head.lower()
    if b"transfer-encoding: chunked" in lower:
        total = 0
        while size := int((await reader.readline()).split(b";")[0], 16):
            await reader.readexactly(size + 2)
            total += size
        await reader.readline()
        return total
    start = lower.index(b"content-length:") + len(b"content-length:")
    length = int(lower[start : lower.index(b"\r\n", start)])
    await reader.readexactly(length)
    return length


def cpu_s(pid: int | None) -> float:
    """User+system CPU seconds of process `pid` so far (0 for None): the proxy's own cost, which
    other load on the machine disturbs far less than wall-clock figures."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def small(port: int, pid: int | None, requests: int, concurrency: int) -> str:
    latencies: list[float] = []
    todo = iter(range(requests))

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for _ in todo:
                started = time.perf_counter()
                writer.write(b"GET /small HTTP/1.1\r\nHost: bench\r\n\r\n")
                await read_response(reader)
                latencies.append(time.perf_counter() - started)
        finally:
            writer.close()

    cpu = cpu_s(pid)
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    cpu = cpu_s(pid) - cpu
    cuts = statistics.quantiles(latencies, n=100)
    text = f"{requests / elapsed:.0f} req/s p50={cuts[49] * 1e3:.2f}ms p99={cuts[98] * 1e3:.2f}ms"
    return text + (f" cpu={cpu / requests * 1e6:.0f}us/req" if pid else "")


async def bulk(port: int, pid: int | None, what: str, count: int) -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    body = b"z" * MIB
    total = 0
    cpu = cpu_s(pid)
    started = time.perf_counter()
    try:
        for _ in range(count):
            if what == "upload":
                head = b"POST /upload HTTP/1.1\r\nHost: bench\r\nContent-Length: %d\r\n\r\n"
                writer.write(head % MIB + body)
                await read_response(reader)
                total += MIB
            else:
                writer.write(b"GET /%s HTTP/1.1\r\nHost: bench\r\n\r\n" % what.encode())
                total += await read_response(reader)
    finally:
        writer.close()
    elapsed = time.perf_counter() - started
    cpu = cpu_s(pid) - cpu
    text = f"{total / MIB / elapsed:.0f} MiB/s"
    return text + (f" cpu={cpu / (total / MIB) * 1e3:.1f}ms/MiB" if pid else "")


def figure(text: str) -> float:
    return float(text.split(maxsplit=1)[0])


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, action="append", help="repeatable; default: here")
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--bulk", type=int, default=60, help="1 MiB bodies per bulk scenario")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--only", default="small,serial,large,chunked,upload", help="scenarios, comma-separated"
    )
    args = parser.parse_args()
    roots: list[Path] = args.root or [ROOT]
    pod, pod_port = await spawn(POD_PROGRAM, root=roots[0])
    processes = [pod]
    targets: list[tuple[str, int, int | None]] = [("direct", pod_port, None)]
    results: dict[str, list[str]] = {}
    try:
        for root in roots:
            proxy, proxy_port = await spawn(PROXY_PROGRAM, str(pod_port), root=root)
            processes.append(proxy)
            label = "proxy" if len(roots) == 1 else f"proxy:{root.name}"
            targets.append((label, proxy_port, proxy.pid))
        for _ in range(args.rounds):  # rounds interleave the targets, so drifts in load even out
            for via, port, pid in targets:
                for what in args.only.split(","):
                    if what == "small":
                        figures = await small(port, pid, args.requests, args.concurrency)
                    elif what == "serial":
                        figures = await small(port, pid, args.requests // 4, 1)
                    else:
                        figures = await bulk(port, pid, what, args.bulk)
                    results.setdefault(f"{what}/{via}", []).append(figures)
    finally:
        for process in processes:
            process.kill()
            await process.wait()
    summary: list[str] = []
    for name, rounds in results.items():
        best = max(rounds, key=figure)
        print(f"{name:24} {best}   (rounds: {' | '.join(rounds)})")
        if "/proxy" in name:
            key = name.replace("/proxy", "").replace(":", "@")
            parts = best.split()
            summary.append(f"{key}={parts[0]}{parts[1].replace('/', '_per_')}")
            summary += [f"{key}_{part}" for part in parts[2:]]
    print(" ".join(summary))


if __name__ == "__main__":
    asyncio.run(main())
