"""The workload's driver for our client, on trio or asyncio.

One client from `prefect_trio_client.orchestration.get_client()` (with ``PREFECT_API_URL``
set) is shared by every worker of a row, as a real program shares it.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from prefect_trio_client import states
from prefect_trio_client.orchestration import PrefectClient, get_client
from prefect_trio_client.schemas.actions import LogCreate
from tests.load.workload import Recorder, now, run_workload

__all__ = ["OursLoadClient", "drive"]

_STATES = {"RUNNING": states.Running, "COMPLETED": states.Completed}


class OursLoadClient:
    """Each method is one call of our `PrefectClient`."""

    def __init__(self, client: PrefectClient) -> None:
        self._client = client

    async def create_flow_from_name(self, name: str) -> str:
        return str(await self._client.create_flow_from_name(name))

    async def create_flow_run(
        self, flow_id: str, *, name: str, tags: list[str], idempotency_key: str
    ) -> str:
        run = await self._client.create_flow_run(
            UUID(flow_id), name=name, tags=tags, idempotency_key=idempotency_key
        )
        return str(run.id)

    async def set_flow_run_state(self, flow_run_id: str, state: str) -> str:
        result = await self._client.set_flow_run_state(UUID(flow_run_id), _STATES[state]())
        return str(result.status.value)

    async def create_task_run(
        self, *, flow_run_id: str, task_key: str, dynamic_key: str, name: str
    ) -> str:
        task_run = await self._client.create_task_run(
            flow_run_id=UUID(flow_run_id), task_key=task_key, dynamic_key=dynamic_key, name=name
        )
        return str(task_run.id)

    async def set_task_run_state(self, task_run_id: str, state: str) -> str:
        result = await self._client.set_task_run_state(UUID(task_run_id), _STATES[state]())
        return str(result.status.value)

    async def create_logs(self, flow_run_id: str, messages: list[str]) -> None:
        timestamp = now()
        await self._client.create_logs(
            [
                LogCreate(
                    name="load",
                    level=20,
                    message=message,
                    timestamp=timestamp,
                    flow_run_id=UUID(flow_run_id),
                )
                for message in messages
            ]
        )


async def drive(
    *,
    runs: int,
    concurrency: int,
    tag: str,
    server_pid: int | None = None,
    parts: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """Run the workload with our client against the API ``PREFECT_API_URL`` names."""
    recorder = Recorder()
    async with get_client(httpx_settings={"event_hooks": recorder.hooks()}) as client:
        result = await run_workload(
            OursLoadClient(client),
            recorder,
            runs=runs,
            concurrency=concurrency,
            tag=tag,
            server_pid=server_pid,
            parts=parts,
        )
        limit = client.httpx_client.backpressure
        if limit is not None:
            snapshot = limit.snapshot()
            result["backpressure"] = {
                "limit": round(snapshot.limit, 2),
                "decreases": snapshot.decreases,
                "peak_in_flight": snapshot.peak_in_flight,
            }
            print(f"backpressure: {result['backpressure']}", file=sys.stderr)
        return result
