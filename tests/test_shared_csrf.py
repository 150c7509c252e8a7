"""Client contexts on one connection share the CSRF token of their credentials (issue 15,
item 7): a program that opens a context per flow run fetches one token per connection,
and asks a server without CSRF protection once. Network transports are replaced by a fake
(virtual time, nothing listens on a port)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import anyio
import httpx
import pytest

from prefect_trio_client.orchestration import get_client

pytestmark = pytest.mark.anyio


class CsrfServer:
    """Answers ``/csrf-token`` (or says CSRF is off) and records the change requests."""

    def __init__(self) -> None:
        self.protected = True
        self.fetches = 0
        self.changes: list[httpx.Request] = []

    def answer(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/csrf-token"):
            self.fetches += 1
            if not self.protected:
                return httpx.Response(422, json={"detail": "CSRF protection is disabled."})
            now = datetime.now(timezone.utc)
            return httpx.Response(
                200,
                json={
                    "token": f"token-{self.fetches}",
                    "client": request.url.params["client"],
                    "created": now.isoformat(),
                    "expiration": (now + timedelta(hours=1)).isoformat(),
                },
            )
        if request.url.path.endswith("/admin/version"):
            return httpx.Response(200, json="3.9.1")
        self.changes.append(request)
        return httpx.Response(200, json=True)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> CsrfServer:
    seen = CsrfServer()

    class FakeAsyncTransport(httpx.AsyncBaseTransport):
        def __init__(self, **options: Any) -> None:
            self.options = options

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            await anyio.sleep(0.01)  # a round trip takes time (virtual)
            return seen.answer(request)

    monkeypatch.setattr(httpx, "AsyncHTTPTransport", FakeAsyncTransport)
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    return seen


async def post_from_contexts(count: int) -> None:
    """`count` concurrent contexts, one POST each, inside one outer context (so the
    connection stays open, as concurrent flow runs keep it)."""

    async def one() -> None:
        async with get_client() as client:
            await client.request("POST", "/flows/filter", json={})

    async with get_client(), anyio.create_task_group() as group:
        for _ in range(count):
            group.start_soon(one)


async def test_contexts_on_one_connection_fetch_one_token(server: CsrfServer) -> None:
    await post_from_contexts(5)
    assert server.fetches == 1
    tokens = {request.headers["Prefect-Csrf-Token"] for request in server.changes}
    clients = {request.headers["Prefect-Csrf-Client"] for request in server.changes}
    assert (tokens, len(clients)) == ({"token-1"}, 1)


async def test_a_server_without_csrf_is_asked_once(server: CsrfServer) -> None:
    server.protected = False
    await post_from_contexts(5)
    assert server.fetches == 1
    assert all("Prefect-Csrf-Token" not in request.headers for request in server.changes)


async def test_other_credentials_get_their_own_token(
    server: CsrfServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFECT_API_KEY", "key-one")
    one = get_client()
    monkeypatch.setenv("PREFECT_API_KEY", "key-two")
    two = get_client()
    async with one, two:
        assert one._lease is two._lease  # one connection, two tokens
        await one.request("POST", "/flows/filter", json={})
        await two.request("POST", "/flows/filter", json={})
    assert server.fetches == 2
    assert [r.headers["Prefect-Csrf-Token"] for r in server.changes] == ["token-1", "token-2"]
