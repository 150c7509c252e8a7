"""CSRF support of the async client: headers, single-flight fetch, refresh, disable."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest

from prefect_trio_client.base import PrefectHttpxAsyncClient, RetryPolicy
from prefect_trio_client.exceptions import PrefectHTTPStatusError
from tests.http_helpers import CsrfServer, Script, ok

pytestmark = pytest.mark.anyio


def csrf_client(transport: httpx.AsyncBaseTransport, **kwargs: Any) -> PrefectHttpxAsyncClient:
    kwargs.setdefault("retry_policy", RetryPolicy(jitter_factor=0))
    return PrefectHttpxAsyncClient(
        transport=transport, base_url="http://prefect.test/api", enable_csrf_support=True, **kwargs
    )


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
async def test_change_requests_carry_the_token(method: str) -> None:
    server = CsrfServer()
    async with csrf_client(server.transport()) as client:
        response = await client.request(method, "/flows/")
    assert response.status_code == 200
    sent = server.accepted[0].headers
    assert sent["Prefect-Csrf-Client"] == str(client._csrf.client_id)
    assert sent["Prefect-Csrf-Token"] == server.tokens[str(client._csrf.client_id)]
    assert server.fetches == 1


async def test_reads_carry_no_token_and_fetch_nothing() -> None:
    server = CsrfServer()
    async with csrf_client(server.transport()) as client:
        await client.get("/flows/x")
    assert server.fetches == 0
    assert "Prefect-Csrf-Token" not in server.accepted[0].headers


async def test_token_request_names_the_client() -> None:
    script = Script(
        [
            httpx.Response(200, json={"token": "t1", "expiration": "2999-01-01T00:00:00Z"}),
            ok(),
        ]
    )
    async with csrf_client(script.transport()) as client:
        await client.post("/flows/", json={"name": "f"})
    fetch = script.requests[0]
    assert fetch.method == "GET"
    assert fetch.url.path == "/api/csrf-token"
    assert fetch.url.params["client"] == str(client._csrf.client_id)
    assert script.requests[1].headers["Prefect-Csrf-Token"] == "t1"


async def test_one_fetch_for_twenty_concurrent_posts_against_a_rotating_server() -> None:
    server = CsrfServer()
    async with csrf_client(server.transport()) as client:

        async def create(i: int) -> None:
            await client.post("/flows/", json={"name": f"f{i}"})

        async with anyio.create_task_group() as tg:
            for i in range(20):
                tg.start_soon(create, i)
    assert server.fetches == 1
    assert len(server.accepted) == 20
    assert server.rejected == []


async def test_token_is_refreshed_before_it_expires() -> None:
    server = CsrfServer(lifetime=60.0)
    async with csrf_client(server.transport()) as client:
        await client.post("/flows/")
        await anyio.sleep(50)
        await client.post("/flows/")
        assert server.fetches == 1
        await anyio.sleep(5)  # within the refresh margin (a tenth of the lifetime)
        await client.post("/flows/")
        assert server.fetches == 2
    assert server.rejected == []


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(404, json={"detail": "Not Found"}),
        httpx.Response(422, json={"detail": "CSRF protection is disabled."}),
    ],
    ids=["404-old-server", "422-disabled"],
)
async def test_csrf_turns_off_when_the_server_does_not_use_it(answer: httpx.Response) -> None:
    script = Script([answer, ok()])
    async with csrf_client(script.transport()) as client:
        await client.post("/flows/")
        await client.delete("/flows/x")
        assert client.enable_csrf_support is False
    assert [r.url.path for r in script.requests] == [
        "/api/csrf-token",
        "/api/flows/",
        "/api/flows/x",
    ]
    assert all("Prefect-Csrf-Token" not in r.headers for r in script.requests[1:])


async def test_other_422_from_the_token_endpoint_is_an_error() -> None:
    script = Script([httpx.Response(422, json={"detail": "something else"})])
    async with csrf_client(script.transport()) as client:
        with pytest.raises(PrefectHTTPStatusError) as info:
            await client.post("/flows/")
        assert client.enable_csrf_support is True
    assert info.value.status_code == 422
    assert script.calls == 1


async def test_rejected_token_is_refreshed_and_resent_at_once_uncounted() -> None:
    server = CsrfServer()
    events: list[object] = []
    async with csrf_client(
        server.transport(), retry_policy=RetryPolicy(max_retries=0), on_retry=events.append
    ) as client:
        await client.post("/flows/")
        server.tokens[str(client._csrf.client_id)] = "rotated-by-someone-else"
        start = anyio.current_time()
        response = await client.post("/flows/")
        assert anyio.current_time() == start
    assert response.status_code == 200
    assert response.attempts == 1  # the CSRF re-send is not a counted attempt
    assert server.fetches == 2
    assert len(server.rejected) == 1
    assert events == []


async def test_missing_token_rejection_also_refreshes() -> None:
    responses = iter(
        [
            httpx.Response(200, json={"token": "t1", "expiration": "2999-01-01T00:00:00Z"}),
            httpx.Response(403, json={"detail": "Missing CSRF token."}),
            httpx.Response(200, json={"token": "t2", "expiration": "2999-01-01T00:00:00Z"}),
            ok(),
        ]
    )
    script = Script([lambda r: next(responses)])
    async with csrf_client(script.transport()) as client:
        assert (await client.post("/flows/")).status_code == 200
    assert [h.get("Prefect-Csrf-Token") for h in script.headers] == [
        None,
        "t1",
        None,
        "t2",
    ]


async def test_concurrent_rejections_of_one_stale_token_cause_one_refresh() -> None:
    server = CsrfServer()
    async with csrf_client(server.transport()) as client:
        await client.post("/flows/")
        server.tokens[str(client._csrf.client_id)] = "rotated"
        async with anyio.create_task_group() as tg:
            for _ in range(20):
                tg.start_soon(client.post, "/flows/")
    assert server.fetches == 2
    assert len(server.accepted) == 21


async def test_a_server_that_rejects_every_token_gets_its_403_back() -> None:
    server = CsrfServer()
    server.reject_all = True
    async with csrf_client(server.transport()) as client:
        with pytest.raises(PrefectHTTPStatusError) as info:
            await client.post("/flows/")
    assert info.value.status_code == 403
    assert "Invalid CSRF token" in str(info.value)
    assert server.fetches == 3  # the first fetch and two refreshes, then give up


async def test_a_403_without_csrf_detail_is_not_retried() -> None:
    script = Script(
        [
            httpx.Response(200, json={"token": "t1", "expiration": "2999-01-01T00:00:00Z"}),
            httpx.Response(403, json={"detail": "Forbidden: not your workspace"}),
        ]
    )
    async with csrf_client(script.transport()) as client:
        with pytest.raises(PrefectHTTPStatusError, match="not your workspace"):
            await client.post("/flows/")
    assert script.calls == 2


async def test_csrf_off_by_default() -> None:
    server = CsrfServer()
    async with PrefectHttpxAsyncClient(
        transport=server.transport(), base_url="http://prefect.test/api"
    ) as client:
        with pytest.raises(PrefectHTTPStatusError, match="Missing CSRF token"):
            await client.post("/flows/")
    assert server.fetches == 0
