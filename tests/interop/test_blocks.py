"""Block types, schemas and documents against a real Prefect server: trio, asyncio, sync."""

from __future__ import annotations

import pytest

from prefect_trio_client.orchestration import PrefectClient, get_client
from tests.blocks_scenario import block_lifecycle
from tests.interop.test_lifecycle import Blocking

pytestmark = [pytest.mark.interop, pytest.mark.anyio]


@pytest.mark.parametrize("anyio_backend", ["trio", "asyncio"])
async def test_blocks_async(anyio_backend: str, api_url: str, unique: str) -> None:
    async with get_client() as client:
        assert isinstance(client, PrefectClient)
        await block_lifecycle(client, unique)


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_blocks_sync(anyio_backend: str, api_url: str, unique: str) -> None:
    with get_client(sync_client=True) as client:
        await block_lifecycle(Blocking(client), unique)
