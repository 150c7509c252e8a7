"""Run one test body against `PrefectClient` (asyncio and trio) and `SyncPrefectClient`."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Literal

import httpx

from prefect_trio_client.orchestration import PrefectClient, SyncPrefectClient
from prefect_trio_client.settings import ClientSettings
from tests.http_helpers import FakeTimer

ClientKind = Literal["asyncio", "trio", "sync"]
API_URL = "http://127.0.0.1:4210/api"


@asynccontextmanager
async def make_client(
    kind: ClientKind,
    handler: Callable[[httpx.Request], httpx.Response],
    **kwargs: Any,
) -> AsyncIterator[PrefectClient | SyncPrefectClient]:
    """An open client of `kind` whose requests `handler` answers."""
    kwargs.setdefault("settings", ClientSettings(client_csrf_support_enabled=False))
    kwargs.setdefault("check_server_version", False)
    transport = httpx.MockTransport(handler)
    if kind == "sync":
        sync = SyncPrefectClient(API_URL, httpx_settings={"transport": transport}, **kwargs)
        sync.httpx_client._timer = FakeTimer()  # retry and WAIT sleeps on virtual time
        with sync:
            yield sync
    else:
        async with PrefectClient(
            API_URL, httpx_settings={"transport": transport}, **kwargs
        ) as client:
            yield client


async def call(
    client: PrefectClient | SyncPrefectClient, method: str, *args: Any, **kwargs: Any
) -> Any:
    """Call a method of either client; await it when it is a coroutine."""
    result = getattr(client, method)(*args, **kwargs)
    if inspect.isawaitable(result):
        result = await result
    return result
