"""Global concurrency limits and their leases: slots, 423 when full, expiry, renewal."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from prefect_trio_client.schemas.objects import (
    ConcurrencyLimitWithLeaseResponse,
    GlobalConcurrencyLimit,
)
from tests.server.helpers import FakeClock, assert_keys_like, samples

pytestmark = pytest.mark.anyio
SAMPLES = samples()


async def _limit(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {"name": "gcl", "limit": 2, **fields}
    response = await client.post("/v2/concurrency_limits/", json=body)
    assert response.status_code == 201, response.text
    limit: dict[str, Any] = response.json()
    return limit


async def _take(client: httpx.AsyncClient, slots: int = 1, **fields: Any) -> httpx.Response:
    body = {"names": ["gcl"], "slots": slots, "mode": "concurrency", "lease_duration": 60, **fields}
    return await client.post("/v2/concurrency_limits/increment-with-lease", json=body)


async def _active(client: httpx.AsyncClient) -> int:
    limit = GlobalConcurrencyLimit.model_validate(
        (await client.get("/v2/concurrency_limits/gcl")).json()
    )
    return limit.active_slots


async def test_create_read_update_delete(client: httpx.AsyncClient) -> None:
    created = await _limit(client)
    assert_keys_like(created, SAMPLES["POST /v2/concurrency_limits/"]["response_body"])
    by_name = await client.get("/v2/concurrency_limits/gcl")
    by_id = await client.get(f"/v2/concurrency_limits/{created['id']}")
    assert by_name.json() == by_id.json()
    assert set(by_name.json()) == set(
        SAMPLES["GET /v2/concurrency_limits/{id_or_name}"]["response_body"]
    )
    assert (
        await client.post("/v2/concurrency_limits/", json={"name": "gcl", "limit": 1})
    ).status_code == 409
    assert (await client.patch("/v2/concurrency_limits/gcl", json={"limit": 5})).status_code == 204
    assert (await client.get("/v2/concurrency_limits/gcl")).json()["limit"] == 5
    listed = await client.post("/v2/concurrency_limits/filter", json={})
    assert [x["name"] for x in listed.json()] == ["gcl"]
    assert (await client.delete("/v2/concurrency_limits/gcl")).status_code == 204
    missing = await client.get("/v2/concurrency_limits/gcl")
    assert (missing.status_code, missing.json()) == (404, {"detail": "Concurrency Limit not found"})


async def test_slots_are_taken_and_given_back(client: httpx.AsyncClient) -> None:
    await _limit(client)
    holder = {"type": "flow_run", "id": str(uuid.uuid4())}
    first = await _take(client, holder=holder)
    assert first.status_code == 200
    lease = ConcurrencyLimitWithLeaseResponse.model_validate(first.json())
    assert [x.name for x in lease.limits] == ["gcl"]
    assert_keys_like(
        first.json(), SAMPLES["POST /v2/concurrency_limits/increment-with-lease"]["response_body"]
    )
    assert await _active(client) == 1
    assert (await _take(client)).status_code == 200
    full = await _take(client)
    assert full.status_code == 423
    assert float(full.headers["Retry-After"]) > 0
    assert await _active(client) == 2
    released = await client.post(
        "/v2/concurrency_limits/decrement-with-lease", json={"lease_id": str(lease.lease_id)}
    )
    assert released.status_code == 204
    assert await _active(client) == 1
    again = await client.post(
        "/v2/concurrency_limits/decrement-with-lease", json={"lease_id": str(lease.lease_id)}
    )
    assert again.status_code == 204  # releasing twice is harmless
    assert await _active(client) == 1


async def test_leases_expire_and_free_their_slots(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await _limit(client, limit=1)
    lease = (await _take(client)).json()
    clock.advance(30)
    renewed = await client.post(
        f"/v2/concurrency_limits/leases/{lease['lease_id']}/renew", json={"lease_duration": 60}
    )
    assert renewed.status_code == 204
    clock.advance(45)  # 75 s after taking it, 45 s after renewing: still held
    assert (await _take(client)).status_code == 423
    clock.advance(16)  # past the renewed expiry
    assert await _active(client) == 0
    gone = await client.post(
        f"/v2/concurrency_limits/leases/{lease['lease_id']}/renew", json={"lease_duration": 60}
    )
    assert gone.status_code == 410
    assert (await _take(client)).status_code == 200


async def test_bad_requests(client: httpx.AsyncClient) -> None:
    await _limit(client)
    too_many = await _take(client, slots=3)
    assert (too_many.status_code, too_many.json()) == (
        422,
        {"detail": "Slots requested is greater than the limit"},
    )
    short = await _take(client, lease_duration=5)
    assert short.status_code == 422
    assert short.json()["exception_detail"][0]["loc"] == ["body", "lease_duration"]
    rate = await _take(client, mode="rate_limit")
    assert rate.status_code == 422
    assert "slot decay" in rate.json()["detail"]
    not_an_id = await client.post("/v2/concurrency_limits/leases/nope/renew", json={})
    assert not_an_id.status_code == 422
    assert not_an_id.json()["exception_detail"][0]["loc"] == ["path", "lease_id"]
    unknown = await client.post(
        "/v2/concurrency_limits/increment-with-lease", json={"names": ["nope"], "slots": 1}
    )
    assert (unknown.status_code, unknown.json()["limits"]) == (200, [])


async def test_rate_limits_decay(client: httpx.AsyncClient, clock: FakeClock) -> None:
    await _limit(client, limit=2, slot_decay_per_second=1.0)
    assert (await _take(client, slots=2, mode="rate_limit")).status_code == 200
    limited = await _take(client, mode="rate_limit")
    assert limited.status_code == 423
    assert float(limited.headers["Retry-After"]) == 1.0
    clock.advance(1)
    assert await _active(client) == 1
    assert (await _take(client, mode="rate_limit")).status_code == 200
