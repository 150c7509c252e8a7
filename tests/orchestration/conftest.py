"""Fixtures for the orchestration tests: `kind` picks the client and its event loop."""

from __future__ import annotations

from typing import Any

import pytest
import trio.testing

from tests.orchestration.harness import ClientKind
from tests.virtual_clock import new_virtual_time_loop


@pytest.fixture(params=["asyncio", "trio", "sync"])
def kind(request: pytest.FixtureRequest) -> ClientKind:
    value: ClientKind = request.param
    return value


@pytest.fixture
def anyio_backend(kind: ClientKind) -> tuple[str, dict[str, Any]]:
    """The sync client is driven from a trio test; the async one on its own backend."""
    if kind == "asyncio":
        return ("asyncio", {"loop_factory": new_virtual_time_loop})
    return ("trio", {"clock": trio.testing.MockClock(autojump_threshold=0)})
