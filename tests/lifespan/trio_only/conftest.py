"""pytest-trio for this folder only: its async tests run under ``trio.run``.

``trio_mode`` is not set globally because it would silently run the anyio tests'
``[asyncio]`` cases on trio; marking this folder's coroutine tests is the local switch.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        function = getattr(item, "function", None)
        if HERE in item.path.parents and inspect.iscoroutinefunction(function):
            item.add_marker(pytest.mark.trio)
