from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from probe.logs import JsonFormatter, configure_logging


@pytest.fixture
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_one_json_object_per_line_with_extras(restore_root_logger: None) -> None:
    stream = io.StringIO()
    configure_logging("INFO", "orders-api", stream)
    log = logging.getLogger("probe.test")
    log.info("hello %s", "world", extra={"status": 200, "path": "/x"})
    log.debug("not shown")
    try:
        raise ValueError("multi\nline")
    except ValueError:
        log.exception("failed")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["message"] == "hello world"
    assert first["level"] == "info"
    assert first["logger"] == "probe.test"
    assert first["service"] == "orders-api"
    assert (first["status"], first["path"]) == (200, "/x")
    assert first["ts"].endswith("+00:00")
    assert second["level"] == "error"
    assert "ValueError: multi" in second["exception"]


def test_unserialisable_extras_do_not_break_the_line() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
    record.thing = object()
    assert json.loads(JsonFormatter().format(record))["thing"].startswith("<object")
