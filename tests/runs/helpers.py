"""Reading back what runs left on the embedded server."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx

from prefect_trio_client.orchestration import get_client
from prefect_trio_client.schemas.filters import (
    FlowFilter,
    FlowFilterName,
    LogFilter,
    LogFilterFlowRunId,
    TaskRunFilter,
    TaskRunFilterFlowRunId,
)
from prefect_trio_client.schemas.objects import FlowRun, Log, TaskRun


async def flow_runs(flow_name: str) -> list[FlowRun]:
    async with get_client() as client:
        return await client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name]))
        )


async def only_flow_run(flow_name: str) -> FlowRun:
    runs = await flow_runs(flow_name)
    assert len(runs) == 1, runs
    return runs[0]


async def state_names(
    *, flow_run_id: UUID | None = None, task_run_id: UUID | None = None
) -> list[str]:
    async with get_client() as client:
        if flow_run_id is not None:
            history = await client.read_flow_run_states(flow_run_id)
        else:
            assert task_run_id is not None
            history = await client.read_task_run_states(task_run_id)
    return [state.name or "" for state in history]


async def task_runs(flow_run_id: UUID | None = None) -> list[TaskRun]:
    async with get_client() as client:
        if flow_run_id is None:
            return await client.read_task_runs()
        return await client.read_task_runs(
            task_run_filter=TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=[flow_run_id]))
        )


async def logs(flow_run_id: UUID | None = None) -> list[Log]:
    async with get_client() as client:
        if flow_run_id is None:
            return await client.read_logs()
        return await client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
        )


class WrappingTransport(httpx.AsyncBaseTransport):
    """A transport around the embedded server's: opening and closing pass through."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.inner.handle_async_request(request)

    async def __aenter__(self) -> WrappingTransport:
        await self.inner.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.inner.__aexit__(*exc_info)

    async def aclose(self) -> None:
        # PrefectClient closes its HTTP client with aclose(): without this the inner
        # transport's lifespan lease would stay held until garbage collection.
        await self.inner.aclose()
