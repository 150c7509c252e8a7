"""Prefect's HTTP-layer names on both clients: the CSRF attributes and the attribution
headers (asyncio, trio and the sync client)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

import anyio
import httpx
import pytest

from prefect_trio_client._attribution import run_attribution
from prefect_trio_client.base import PrefectHttpxAsyncClient, PrefectHttpxSyncClient, RetryPolicy
from tests.http_helpers import CsrfServer, Script, ok

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "trio", "sync"])
def kind(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture
def anyio_backend(kind: str) -> str:
    return "asyncio" if kind == "asyncio" else "trio"


class Either:
    """One of the two clients, driven with awaits either way."""

    def __init__(self, client: PrefectHttpxAsyncClient | PrefectHttpxSyncClient) -> None:
        self.client = client

    async def post(self, path: str) -> httpx.Response:
        client = self.client
        if isinstance(client, PrefectHttpxSyncClient):
            return await anyio.to_thread.run_sync(lambda: client.post(path))
        return await client.post(path)


@asynccontextmanager
async def client_of(kind: str, handler: Any, **kwargs: Any) -> AsyncIterator[Either]:
    kwargs.setdefault("retry_policy", RetryPolicy(jitter_factor=0))
    base = "http://prefect.test/api"
    if kind == "sync":
        transport = httpx.MockTransport(getattr(handler, "handle", handler))
        with PrefectHttpxSyncClient(transport=transport, base_url=base, **kwargs) as client:
            yield Either(client)
    else:
        async with PrefectHttpxAsyncClient(
            transport=httpx.MockTransport(handler), base_url=base, **kwargs
        ) as client:
            yield Either(client)


async def test_a_token_set_by_the_program_is_sent_without_a_fetch(kind: str) -> None:
    server = CsrfServer()
    async with client_of(kind, server, enable_csrf_support=True) as either:
        client = either.client
        token = server.tokens[str(client.csrf_client_id)] = "given-by-the-program"
        client.csrf_token = token
        client.csrf_token_expiration = datetime.now(timezone.utc) + timedelta(hours=1)
        await either.post("/flows/")
    assert server.fetches == 0
    assert server.accepted[0].headers["Prefect-Csrf-Token"] == token
    assert server.accepted[0].headers["Prefect-Csrf-Client"] == str(client.csrf_client_id)


async def test_an_expired_token_set_by_the_program_is_fetched_again(kind: str) -> None:
    server = CsrfServer()
    async with client_of(kind, server, enable_csrf_support=True) as either:
        client = either.client
        client.csrf_token = "old"
        client.csrf_token_expiration = datetime.now(timezone.utc) - timedelta(seconds=1)
        await either.post("/flows/")
        assert client.csrf_token != "old"
        assert client.csrf_token_expiration is not None
    assert server.fetches == 1


async def test_the_servers_expiration_is_readable(kind: str) -> None:
    expiration = "2999-01-01T00:00:00Z"
    script = Script([httpx.Response(200, json={"token": "t1", "expiration": expiration}), ok()])
    async with client_of(kind, script, enable_csrf_support=True) as either:
        assert either.client.csrf_token is None
        await either.post("/flows/")
        assert str(either.client.csrf_token) == "t1"  # (mypy narrowed it to None above)
        assert either.client.csrf_token_expiration == datetime(2999, 1, 1, tzinfo=timezone.utc)


async def test_attribution_headers_come_from_the_workers_variables(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFECT__WORKER_ID", " w-1 ")
    monkeypatch.setenv("PREFECT__WORKER_NAME", "bad\r\nvalue")
    monkeypatch.setenv("PREFECT__FLOW_ID", "f-1")
    monkeypatch.setenv("PREFECT__DEPLOYMENT_NAME", "nightly")
    script = Script([ok()])
    async with client_of(kind, script) as either:
        await either.post("/flows/")
    sent = script.requests[0].headers
    assert sent["X-Prefect-Worker-Id"] == "w-1"  # blanks stripped
    assert "X-Prefect-Worker-Name" not in sent  # control characters: left out
    assert sent["X-Prefect-Flow-Id"] == "f-1"
    assert sent["X-Prefect-Deployment-Name"] == "nightly"


async def test_a_runs_attribution_replaces_the_variables(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFECT__FLOW_ID", "from-env")
    monkeypatch.setenv("PREFECT__DEPLOYMENT_NAME", "nightly")
    script = Script([ok()])
    async with client_of(kind, script) as either:
        with run_attribution({"X-Prefect-Flow-Id": "from-run", "X-Prefect-Flow-Name": "etl"}):
            if isinstance(either.client, PrefectHttpxSyncClient):
                either.client.post("/flows/")  # in this thread, so in this context
            else:
                await either.post("/flows/")
    sent = script.requests[0].headers
    assert sent["X-Prefect-Flow-Id"] == "from-run"
    assert sent["X-Prefect-Flow-Name"] == "etl"
    assert sent["X-Prefect-Deployment-Name"] == "nightly"


async def test_no_attribution_without_a_worker_or_run(kind: str) -> None:
    script = Script([ok()])
    async with client_of(kind, script) as either:
        await either.post("/flows/")
    assert not [name for name in script.requests[0].headers if name.startswith("x-prefect-")]
