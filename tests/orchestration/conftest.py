"""Fixtures for the orchestration tests: `kind` picks the client and its event loop."""

from __future__ import annotations

from typing import Any

import pytest

from tests.orchestration.harness import ClientKind
from tests.virtual_clock import virtual_time_backend


@pytest.fixture(params=["asyncio", "trio", "sync"])
def kind(request: pytest.FixtureRequest) -> ClientKind:
    value: ClientKind = request.param
    return value


@pytest.fixture
def anyio_backend(kind: ClientKind) -> tuple[str, dict[str, Any]]:
    """The sync client is driven from a trio test; the async one on its own backend."""
    return virtual_time_backend("asyncio" if kind == "asyncio" else "trio")
