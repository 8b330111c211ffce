"""Network failures in a few plain words, whatever HTTP library raised them (httpx, urllib3
under the kubernetes client): the cause at the bottom of an exception chain, without Python's
decoration, so a SourceError reads `cannot reach Argo CD at URL: Connection refused`."""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterator
from urllib.parse import urlsplit


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and what caused it: __cause__, __context__, and an exception wrapped as args[0]
    (urllib3 wraps that way)."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for nxt in (current.__cause__, current.__context__, *current.args[:1]):
            if isinstance(nxt, BaseException):
                todo.append(nxt)


def tls_reason(exc: BaseException) -> str | None:
    """The TLS failure behind `exc`, in words; None when TLS is not the cause."""
    for current in _chain(exc):
        if isinstance(current, ssl.SSLCertVerificationError):
            return f"certificate verify failed: {current.verify_message}"
    for current in _chain(exc):
        if isinstance(current, ssl.SSLError):
            return str(current.reason or current.strerror or "TLS handshake failed")
    return None


def os_reason(exc: BaseException) -> str | None:
    """The operating system's words for the errno behind `exc` ('Connection refused'), or
    the resolver's ('Name or service not known'); None when no such cause is known."""
    for current in _chain(exc):
        if not isinstance(current, OSError):
            continue
        errno = current.errno
        if isinstance(errno, int) and errno > 0:
            # asyncio words a refused connection "Connect call failed (addr)": say the errno.
            return os.strerror(errno)
        if current.strerror:
            return str(current.strerror)
    return None


def display_url(url: str) -> str:
    """The URL without credentials, query or trailing slash: what messages show."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path.rstrip('/')}"
