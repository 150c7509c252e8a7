"""Server tests run on real time: the database works in a worker thread, and virtual
clocks jump while a thread works. Time-dependent rules use the server's own fake clock
(`helpers.FakeClock`) instead."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from prefect_trio_client.server import create_app
from tests.server.helpers import FakeClock, serve


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    return request.param


@pytest.fixture(autouse=True)
def no_server_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fail a test whose requests made the server log an unhandled error (a 500)."""
    yield
    errors = [
        record
        for record in caplog.get_records("call")
        if record.name.startswith("prefect_trio_client.server") and record.levelno >= logging.ERROR
    ]
    assert not errors, [record.getMessage() for record in errors]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def client(clock: FakeClock) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a fresh in-memory server whose time is `clock`."""
    async with serve(create_app(":memory:", clock=clock)) as client:
        yield client
