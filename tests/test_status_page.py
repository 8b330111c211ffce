"""The frontend's status page as a person sees it: headless Chromium (Debian's `chromium`, which
.ci/run installs) loads it from real frontend and backend processes run from the apps repo on
127.0.0.1, and the tests read what the browser rendered (its DOM after parsing, and a
screenshot): version, revision and health of both sides, the backend unreachable, and hostile
values shown as text. Chromium starts in about a second: one launch per case, servers shared by
the module."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from console.local.kube.pods import free_port
from tests.helpers import ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (.ci/run installs it)"),
    # The module's servers are shared: keep its tests on one xdist worker.
    pytest.mark.xdist_group("status-page"),
]

DEADLINE_S = 20.0
FRONTEND_SHA = "0123456789abcdef0123456789abcdef01234567"
BACKEND_SHA = "89abcdef0123456789abcdef0123456789abcdef"
# A value the page must show as text: were it markup, the script would run in the browser and
# retitle the page, and <b> would become an element. "&amp;" must stay those five characters.
HOSTILE = '<script>document.title="pwned"</script><b>{}</b> &amp; & "q"'
OK_GREEN, FAIL_RED = (0x17, 0x69, 0x2C), (0xB0, 0x00, 0x20)  # the page's --ok and --bad


@dataclass
class Service:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path


@dataclass
class Screen:
    """What the browser rendered: the title, the banner, each table's rows of cell texts."""

    title: str = ""
    banner_class: str = ""
    banner: str = ""
    tables: dict[str, list[list[str]]] = field(default_factory=dict)
    tags: set[str] = field(default_factory=set)

    def row(self, table: str, header: str) -> list[str]:
        rows = [row for row in self.tables[table] if row and row[0] == header]
        assert len(rows) == 1, f"one {header!r} row in #{table}: {self.tables[table]}"
        return rows[0]


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.screen = Screen()
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._in: list[str] = []  # open elements whose text we collect: title, header

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.screen.tags.add(tag)
        if tag == "table":
            self._table = a.get("id") or ""
            self.screen.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self.screen.tables[self._table].append([])
        elif tag in ("th", "td") and self._table is not None:
            self._cell = []
        elif tag == "header" and a.get("id") == "overall":
            self.screen.banner_class = a.get("class") or ""
            self._in.append("header")
        elif tag == "title":
            self._in.append("title")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("th", "td") and self._cell is not None and self._table is not None:
            self.screen.tables[self._table][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "table":
            self._table = None
        elif self._in and tag == self._in[-1]:
            self._in.pop()

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if "title" in self._in:
            self.screen.title += data
        if "header" in self._in:
            self.screen.banner += data


def read_screen(dom: str) -> Screen:
    reader = _Reader()
    reader.feed(dom)
    reader.close()
    reader.screen.banner = " ".join(reader.screen.banner.split())
    return reader.screen


def chromium(tmp_path: Path, url: str, *args: str) -> str:
    """One headless Chromium run; its own profile directory, no network but the page's."""
    assert CHROMIUM is not None
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",  # root in CI containers, where Chromium's sandbox cannot start
        "--disable-background-networking",
        "--disable-gpu",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        *args,
        url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, f"chromium exited {done.returncode}: {done.stderr[-2000:]}"
    return done.stdout


def rendered(tmp_path: Path, url: str) -> Screen:
    dom = chromium(tmp_path, url, "--dump-dom")
    assert "<html" in dom, f"chromium dumped no document for {url}: {dom[:500]!r}"
    return read_screen(dom)


def png_rows(path: Path, rows: int) -> tuple[int, int, list[bytes]]:
    """Width, height and the first ``rows`` rows of an 8-bit RGB(A) PNG, as RGB bytes."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos : pos + 4]), data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        header = body if kind == b"IHDR" else header
        idat += body if kind == b"IDAT" else b""
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert (depth, colour, interlace) in ((8, 6, 0), (8, 2, 0)), "8-bit RGB(A), not interlaced"
    bpp = 4 if colour == 6 else 3
    raw, stride, out = zlib.decompress(idat), width * bpp, []
    previous = bytearray(stride)
    for y in range(min(rows, height)):
        kind, line = (
            raw[y * (stride + 1)],
            bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]),
        )
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up, corner = previous[i], previous[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + pred) & 0xFF
        previous = line
        out.append(bytes(b for j, b in enumerate(line) if bpp == 3 or j % 4 != 3))
    return width, height, out


def count_colour(rows: list[bytes], rgb: tuple[int, int, int]) -> int:
    pixel = bytes(rgb)
    return sum(1 for row in rows for x in range(0, len(row), 3) if row[x : x + 3] == pixel)


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def start(log_dir: Path, name: str, **env: str) -> Service:
    port = free_port()
    # Only what a process needs to run: none of the host's variables can leak into probe's.
    base = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR") if k in os.environ}
    log = log_dir / f"{name}.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "probe"],
        env={
            **base,
            "PYTHONPATH": str(ROOT / "apps-repo" / "src"),
            "PYTHONDONTWRITEBYTECODE": "1",
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "GRACEFUL_TIMEOUT_S": "0.5",
            **env,
        },
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    return Service(f"http://127.0.0.1:{port}", proc, log)


def wait_ready(services: dict[str, Service]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    pending = dict(services)
    while pending:
        for name, service in list(pending.items()):
            if service.proc.poll() is not None:
                raise AssertionError(f"{name} exited: {service.log.read_text()[-2000:]}")
            if _answers(service.url):
                del pending[name]
        if pending and time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {sorted(pending)} to answer /healthz")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Service]]:
    """Three frontends: one with a ready backend, one whose backend is a closed port, one whose
    own values and whose backend's values are hostile. Started together, so their imports
    overlap."""
    logs = tmp_path_factory.mktemp("status-page")
    started: dict[str, Service] = {}
    try:
        backend = started["backend"] = start(
            logs,
            "backend",
            SERVICE_KIND="backend",
            SERVICE_NAME="orders-api",
            SERVICE_VERSION="1.2.3",
            GIT_SHA=BACKEND_SHA,
        )
        hostile_backend = started["hostile-backend"] = start(
            logs,
            "hostile-backend",
            SERVICE_KIND="backend",
            SERVICE_NAME=HOSTILE.format("backend-name"),
            SERVICE_VERSION=HOSTILE.format("backend-version"),
            GIT_SHA=HOSTILE.format("backend-sha"),
        )
        frontend = {"SERVICE_KIND": "frontend", "SERVICE_NAME": "shop-web", "ENVIRONMENT": "dev"}
        started["ready"] = start(
            logs,
            "ready",
            **frontend,
            SERVICE_VERSION="4.5.6",
            GIT_SHA=FRONTEND_SHA,
            BACKEND_URL=backend.url,
        )
        started["unreachable"] = start(
            logs,
            "unreachable",
            **frontend,
            SERVICE_VERSION="4.5.6",
            GIT_SHA=FRONTEND_SHA,
            BACKEND_URL=f"http://127.0.0.1:{free_port()}",  # nothing listens there
        )
        started["hostile"] = start(
            logs,
            "hostile",
            SERVICE_KIND="frontend",
            SERVICE_NAME=HOSTILE.format("name"),
            ENVIRONMENT=HOSTILE.format("environment"),
            SERVICE_VERSION=HOSTILE.format("version"),
            GIT_SHA=HOSTILE.format("sha"),
            BACKEND_URL=hostile_backend.url,
        )
        wait_ready(started)
        yield started
    finally:
        for service in started.values():
            service.proc.terminate()
        for service in started.values():
            try:
                service.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                service.proc.kill()
                service.proc.wait()


def test_both_sides_ready(services: dict[str, Service], tmp_path: Path) -> None:
    screen = rendered(tmp_path, services["ready"].url)
    assert screen.banner_class.split() == ["banner", "pass"]
    assert screen.banner == "shop-web dev All ready"
    assert screen.title == "shop-web (dev): All ready"
    assert screen.tables["versions"][0] == ["", "service", "version", "revision", "health"]
    assert screen.row("versions", "frontend") == [
        "frontend",
        "shop-web",
        "4.5.6",
        FRONTEND_SHA,
        "ready",
    ]
    assert screen.row("versions", "backend") == [
        "backend",
        "orders-api",
        "1.2.3",
        BACKEND_SHA,
        "ready",
    ]
    checks = {(row[0], row[1]): row[2:] for row in screen.tables["checks"][1:]}
    assert checks == {
        ("frontend", "lifecycle"): ["pass", "serving"],
        ("frontend", "config"): ["pass", f"BACKEND_URL={services['backend'].url}"],
        ("backend", "lifecycle"): ["pass", "serving"],
        ("backend", "config"): ["pass", "no required variables"],
    }
    assert screen.row("backend", "url") == ["url", services["backend"].url]
    assert screen.row("backend", "error") == ["error", "-"]
    # The page's rule: plain HTML, nothing the browser runs.
    assert "script" not in screen.tags


def test_backend_unreachable(services: dict[str, Service], tmp_path: Path) -> None:
    screen = rendered(tmp_path, services["unreachable"].url)
    assert screen.banner_class.split() == ["banner", "fail"]
    assert screen.banner.startswith("shop-web dev Not ready: backend unreachable: ConnectError")
    # The frontend still says who it is; the backend's side is empty, not stale.
    assert screen.row("versions", "frontend") == [
        "frontend",
        "shop-web",
        "4.5.6",
        FRONTEND_SHA,
        "ready",
    ]
    assert screen.row("versions", "backend") == ["backend", "-", "-", "-", "unreachable"]
    assert [row[0] for row in screen.tables["checks"][1:]] == ["frontend", "frontend"]
    error = screen.row("backend", "error")[1]
    assert error.startswith("unreachable: ConnectError"), error


def test_every_value_is_shown_as_text(services: dict[str, Service], tmp_path: Path) -> None:
    screen = rendered(tmp_path, services["hostile"].url)
    # Had any value been markup, the browser would have built these elements and run the script.
    assert not {"script", "b"} & screen.tags, screen.tags
    assert screen.title != "pwned"
    assert screen.title.startswith(HOSTILE.format("name") + " (" + HOSTILE.format("environment"))
    assert screen.banner.startswith(HOSTILE.format("name"))
    assert screen.row("versions", "frontend") == [
        "frontend",
        HOSTILE.format("name"),
        HOSTILE.format("version"),
        HOSTILE.format("sha"),
        "ready",
    ]
    # The backend's values arrive over the network: escaped the same.
    assert screen.row("versions", "backend") == [
        "backend",
        HOSTILE.format("backend-name"),
        HOSTILE.format("backend-version"),
        HOSTILE.format("backend-sha"),
        "ready",
    ]


def test_screenshot_at_phone_width(services: dict[str, Service], tmp_path: Path) -> None:
    """One screenshot, kept under the test's tmp dir: a phone-wide page whose banner shows the
    verdict in the status colour."""
    shot = tmp_path / "status-page.png"
    chromium(tmp_path, services["ready"].url, f"--screenshot={shot}", "--window-size=390,844")
    assert shot.is_file(), "chromium wrote no screenshot"
    assert shot.stat().st_size > 10_000, f"a near-empty screenshot: {shot.stat().st_size} bytes"
    width, height, top = png_rows(shot, 120)
    assert (width, height) == (390, 844)
    # The banner's border and badge are drawn in the page's green; nothing in its red.
    assert count_colour(top, OK_GREEN) > 200
    assert count_colour(top, FAIL_RED) == 0
