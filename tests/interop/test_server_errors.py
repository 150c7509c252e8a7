"""Writes answered 500 by a real Prefect server (issue 16's PostgreSQL drill): the flow
run's create (its idempotency key) and state proposals (their transition_id) are sent
again as they are; a task run's state proposal and a log batch, which Prefect does not
dedupe, are read back and sent again only when the server did not store them. A proxy in the
client's transport turns one answer into a 500, after the server applied the request
(the answer was lost) or instead of sending it (nothing was applied)."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime, timezone

import httpx
import pytest

from prefect_trio_client import states
from prefect_trio_client.orchestration import PrefectClient
from prefect_trio_client.schemas.actions import LogCreate
from prefect_trio_client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterName,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect_trio_client.schemas.objects import StateType


class FailOnce(httpx.AsyncBaseTransport):
    """Answers the first request of each route in `routes` with a 500: after the server
    applied it when `applied`, else without sending it."""

    def __init__(self, routes: set[str], *, applied: bool) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.pending = set(routes)
        self.applied = applied
        self.sent: Counter[str] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path = _UUID.sub("{id}", request.url.path.split("/api", 1)[1])
        route = f"{request.method} {path}"
        fail = route in self.pending
        self.pending.discard(route)
        if not fail or self.applied:
            self.sent[route] += 1
            response = await self.inner.handle_async_request(request)
            if not fail:
                return response
            await response.aread()
            await response.aclose()
        return httpx.Response(500, json={"exception_message": "Internal Server Error"})

    async def aclose(self) -> None:
        await self.inner.aclose()


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
#: Deduped by the server: re-sent as they are.
DEDUPED = {"POST /flow_runs/", "POST /flow_runs/{id}/set_state"}
#: Not deduped: read back, sent again only when not stored.
READ_BACK = {"POST /task_runs/{id}/set_state", "POST /logs/"}


@pytest.mark.parametrize("anyio_backend", ["trio", "asyncio"])
@pytest.mark.parametrize("applied", [True, False], ids=["applied", "not-applied"])
async def test_a_500_to_a_task_state_or_logs_neither_loses_nor_duplicates(
    anyio_backend: str, api_url: str, unique: str, applied: bool
) -> None:
    transport = FailOnce(DEDUPED | READ_BACK, applied=applied)
    async with PrefectClient(api_url, httpx_settings={"transport": transport}) as client:
        flow_id = await client.create_flow_from_name(f"server-errors-{unique}")
        run = await client.create_flow_run(flow_id, name=f"r-{unique}")
        await client.set_flow_run_state(run.id, states.Running())
        task = await client.create_task_run(
            flow_run_id=run.id, task_key="t", dynamic_key="0", name="t"
        )
        result = await client.set_task_run_state(task.id, states.Running())
        at = datetime.now(timezone.utc)
        lines = [
            LogCreate(name="l", level=20, message=f"m{i}", timestamp=at, flow_run_id=run.id)
            for i in range(3)
        ]
        await client.create_logs(lines)

        assert result.status.value == "ACCEPT"
        assert result.state is not None
        assert result.state.type is StateType.RUNNING
        runs = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[f"r-{unique}"]))
        )
        run_history = await client.read_flow_run_states(run.id)
        history = await client.read_task_run_states(task.id)
        stored = await client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id])))
    assert [r.id for r in runs] == [run.id]
    assert [s.type for s in run_history].count(StateType.RUNNING) == 1
    assert [s.type for s in history].count(StateType.RUNNING) == 1
    assert sorted(log.message for log in stored) == ["m0", "m1", "m2"]
    # A deduped request is sent again; one that is not is sent again only when the
    # read-back did not find it (each one reached the server once here).
    assert {route: transport.sent[route] for route in DEDUPED} == dict.fromkeys(
        DEDUPED, 2 if applied else 1
    )
    assert {route: transport.sent[route] for route in READ_BACK} == dict.fromkeys(READ_BACK, 1)
