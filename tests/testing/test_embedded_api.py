"""`embedded_api()`: a temporary home, no API URL, an app that stops with the block.

Real time: the embedded server's database works in a worker thread (virtual clocks
jump while a thread works).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from prefect_trio_client.base import ServerType
from prefect_trio_client.orchestration import (
    PrefectClient,
    SyncPrefectClient,
    _ephemeral,
    get_client,
)
from prefect_trio_client.testing import embedded_api

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    backend: str = request.param
    return backend


async def test_a_temporary_home_and_get_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    monkeypatch.setenv("PREFECT_SERVER_ALLOW_EPHEMERAL_MODE", "false")
    before = os.environ["PREFECT_HOME"]
    async with embedded_api() as api:
        assert os.environ["PREFECT_HOME"] == str(api.home) != before
        assert "PREFECT_API_URL" not in os.environ
        assert api.settings.api_url is None
        assert api.service is not None
        async with get_client() as client:
            assert client.server_type is ServerType.EPHEMERAL
            flow_id = await client.create_flow_from_name("in-a-temporary-home")
            assert api.service.refcount(api.app) == 1
        async with api.client() as own:
            assert (await own.read_flow(flow_id)).name == "in-a-temporary-home"
        assert api.database.is_file()
        home, key = api.home, str(api.database)
    assert not home.exists()
    assert key not in _ephemeral._apps
    assert os.environ["PREFECT_HOME"] == before
    assert os.environ["PREFECT_API_URL"] == "http://127.0.0.1:9/api"
    assert os.environ["PREFECT_SERVER_ALLOW_EPHEMERAL_MODE"] == "false"


async def test_the_app_stops_with_the_block_even_if_a_client_is_open() -> None:
    async with embedded_api() as api:
        service = api.service
        assert service is not None
        client = api.client()
        await client.__aenter__()
        await client.create_flow_from_name("left-open")
        assert service.refcount(api.app) == 1
        app = api.app
    assert service.closed
    assert service.refcount(app) == 0
    await client.aclose()  # a late exit is a no-op


async def test_a_given_home_is_kept(tmp_path: Path) -> None:
    home = tmp_path / "kept"
    async with embedded_api(home) as api:
        assert api.home == home
        async with api.client() as client:
            flow_id = await client.create_flow_from_name("kept")
    assert (home / _ephemeral.DATABASE_FILE_NAME).is_file()
    async with embedded_api(home) as api, api.client() as client:
        assert (await client.read_flow(flow_id)).name == "kept"


async def test_outside_the_block_there_is_nothing() -> None:
    api = embedded_api()
    with pytest.raises(RuntimeError, match="enter the embedded API first"):
        _ = api.app
    async with api:
        with pytest.raises(RuntimeError, match="already open"):
            await api.__aenter__()


def test_the_sync_form() -> None:
    with embedded_api() as api:
        assert api.service is None
        with get_client(sync_client=True) as client:
            assert isinstance(client, SyncPrefectClient)
            flow_id = client.create_flow_from_name("sync")
        with api.sync_client() as own:
            assert own.read_flow(flow_id).name == "sync"
        home = api.home
    assert not home.exists()


async def test_a_client_with_a_wrapped_transport() -> None:
    wrapped: list[object] = []

    def wrap(inner: object) -> object:
        wrapped.append(inner)
        return inner

    async with embedded_api() as api:
        client = api.client(wrap_transport=wrap)  # type: ignore[arg-type]
        assert isinstance(client, PrefectClient)
        assert not client.shares_connection
        async with client:
            await client.create_flow_from_name("wrapped")
    assert isinstance(wrapped[0], _ephemeral.LeasedASGITransport)
