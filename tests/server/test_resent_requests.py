"""A request declared safe to re-send really is: sent twice, the embedded server acts once.

For each POST the plans mark ``idempotent=True`` that changes something, the very same
request (same body: same generated idempotency key, same ``transition_id``) is sent twice
to the embedded app, as the send loop does after a lost answer; the server must end up as
after one send. (``tests/orchestration/test_idempotency.py`` holds the decisions.)
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx
import pytest

from prefect_trio_client import states
from prefect_trio_client.orchestration import (
    concurrency,
    deployments,
    flow_runs,
    flows,
    run_states,
    task_runs,
    work_pools,
)
from prefect_trio_client.orchestration._plan import Plan, Request

pytestmark = pytest.mark.anyio


def request_of(plan: Plan[Any]) -> Request:
    """The plan's first request, built once (so both sends carry the same body)."""
    try:
        step = next(plan)
    finally:
        plan.close()
    assert isinstance(step, Request)
    assert step.safe_to_resend
    return step


async def send_twice(client: httpx.AsyncClient, request: Request) -> list[httpx.Response]:
    answers = []
    for _ in range(2):
        path = request.path.lstrip("/")
        if request.content is None:
            response = await client.request(request.method, path, json=request.json)
        else:  # a body the plan serialized itself
            json_type = {"Content-Type": "application/json"}
            response = await client.request(
                request.method, path, content=request.content, headers=json_type
            )
        assert response.is_success, response.text
        answers.append(response)
    return answers


async def count(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> int:
    response = await client.post(path, json=body)
    assert response.is_success, response.text
    result = response.json()
    return result if isinstance(result, int) else len(result)


async def new_flow(client: httpx.AsyncClient) -> str:
    flow_id: str = (await client.post("flows/", json={"name": "resent"})).json()["id"]
    return flow_id


async def test_a_resent_flow_creation_finds_the_first_flow(client: httpx.AsyncClient) -> None:
    first, again = await send_twice(client, request_of(flows.create_flow_from_name("resent")))
    assert first.json()["id"] == again.json()["id"]
    assert await count(client, "flows/count", {}) == 1


async def test_a_resent_flow_run_creation_finds_the_first_run(client: httpx.AsyncClient) -> None:
    flow_id = await new_flow(client)
    request = request_of(flow_runs.create_flow_run(UUID(flow_id)))  # no key given
    first, again = await send_twice(client, request)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert await count(client, "flow_runs/count", {}) == 1


async def test_a_resent_run_from_a_deployment_finds_the_first_run(
    client: httpx.AsyncClient,
) -> None:
    flow_id = await new_flow(client)
    deployment = request_of(deployments.create_deployment(UUID(flow_id), "d"))
    first, again = await send_twice(client, deployment)
    assert first.json()["id"] == again.json()["id"]
    assert await count(client, "deployments/count", {}) == 1
    run = request_of(deployments.create_flow_run_from_deployment(UUID(first.json()["id"])))
    first_run, run_again = await send_twice(client, run)
    assert first_run.json()["id"] == run_again.json()["id"]
    assert await count(client, "flow_runs/count", {}) == 1


async def test_a_resent_task_run_creation_finds_the_first_task_run(
    client: httpx.AsyncClient,
) -> None:
    flow_id = await new_flow(client)
    run_id = (await client.post("flow_runs/", json={"flow_id": flow_id})).json()["id"]
    plan = task_runs.create_task_run(flow_run_id=UUID(run_id), task_key="t", dynamic_key="0")
    first, again = await send_twice(client, request_of(plan))
    assert first.json()["id"] == again.json()["id"]
    assert await count(client, "task_runs/count", {}) == 1


async def test_a_resent_flow_run_transition_is_applied_once(client: httpx.AsyncClient) -> None:
    flow_id = await new_flow(client)
    run_id = (await client.post("flow_runs/", json={"flow_id": flow_id})).json()["id"]
    plan = run_states.set_flow_run_state(UUID(run_id), states.Running())
    first, again = await send_twice(client, request_of(plan))
    assert first.json()["status"] == "ACCEPT"
    assert again.json()["status"] == "REJECT"  # already made: the first send's state
    assert again.json()["state"]["id"] == first.json()["state"]["id"]
    history = (await client.get("flow_run_states/", params={"flow_run_id": run_id})).json()
    assert [s["type"] for s in history] == ["PENDING", "RUNNING"]
    assert (await client.get(f"flow_runs/{run_id}")).json()["run_count"] == 1


async def test_a_resent_heartbeat_keeps_one_worker(client: httpx.AsyncClient) -> None:
    await client.post("work_pools/", json={"name": "pool"})
    plan = work_pools.send_worker_heartbeat("pool", "worker", get_worker_id=True)
    first, again = await send_twice(client, request_of(plan))
    assert first.json() == again.json()
    assert await count(client, "work_pools/pool/workers/filter", {}) == 1


async def test_a_resent_lease_renewal_and_release_act_once(client: httpx.AsyncClient) -> None:
    await client.post("v2/concurrency_limits/", json={"name": "gcl", "limit": 2})
    take = {"names": ["gcl"], "slots": 1, "mode": "concurrency", "lease_duration": 60}
    leases = [
        UUID(
            (await client.post("v2/concurrency_limits/increment-with-lease", json=take)).json()[
                "lease_id"
            ]
        )
        for _ in range(2)
    ]
    await send_twice(client, request_of(concurrency.renew_concurrency_lease(leases[0], 120)))
    await send_twice(
        client, request_of(concurrency.release_concurrency_slots_with_lease(leases[0]))
    )
    limit = (await client.get("v2/concurrency_limits/gcl")).json()
    assert limit["active_slots"] == 1  # the other lease's slot: released once, not twice
