"""Run-tracking tests talk to the embedded server, whose database works in a worker
thread: virtual clocks would jump while it works, so these run on real time with small
delays. Tests of timing rules with fakes instead (the engine, the log shipper, lease
renewal) are marked ``virtual_time`` and run on virtual time."""

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
