"""The end-to-end story runs as ordered steps on one workspace (a cold bootstrap costs a minute,
so it is paid once): when a step fails, the steps after it are reported as xfailed instead of
each timing out on a platform that is not in the state they start from."""

from __future__ import annotations

import pytest


def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> None:
    if "incremental" in item.keywords and call.excinfo is not None and call.when == "call":
        item.parent._failed_step = item.name  # type: ignore[union-attr]


def pytest_runtest_setup(item: pytest.Item) -> None:
    if "incremental" in item.keywords:
        failed = getattr(item.parent, "_failed_step", None)
        if failed is not None:
            pytest.xfail(f"an earlier step failed: {failed}")
