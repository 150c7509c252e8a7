"""Run-tracking tests talk to the embedded server, whose database works in a worker
thread: virtual clocks would jump while it works, so these run on real time with small
delays. The engine's timing rules are tested on virtual time in ``test_engine.py``."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    backend: str = request.param
    return backend
