"""Event tests talk to the embedded server (its database works in a worker thread), so
they run on real time; tests with fakes only (a server that is down) are marked
``virtual_time`` and run on virtual time."""

from __future__ import annotations

from typing import Any

import pytest

from tests.virtual_clock import virtual_time_backend


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str | tuple[str, dict[str, Any]]:
    backend: str = request.param
    if request.node.get_closest_marker("virtual_time") is not None:
        return virtual_time_backend(backend)
    return backend
