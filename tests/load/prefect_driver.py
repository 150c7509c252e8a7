"""The workload's driver for Prefect's own client (asyncio), a standalone script.

It runs in a virtualenv that has Prefect and not our package (`nox -s load` builds it),
imports only Prefect, the standard library, httpx and the workload module beside it, and
writes the row's counts as JSON to ``--out``::

    PREFECT_API_URL=http://127.0.0.1:4200/api python tests/load/prefect_driver.py \\
        --runs 200 --concurrency 16 --tag prefect-c16 --out row.json

One client from `prefect.client.orchestration.get_client()` is shared by every worker.
Prefect's `create_flow_run` takes a flow object, sends ``POST /flows/`` first and has no
idempotency key, so the workload's ``create_flow_run`` sends ``POST /flow_runs/`` with the
key through the same client's `request` (the call Prefect's `create_flow_run` ends with,
through the same retrying HTTP client).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any
from uuid import UUID

from prefect import Task
from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.actions import FlowRunCreate, LogCreate
from prefect.client.schemas.objects import FlowRun, FlowRunPolicy
from prefect.states import Completed, Pending, Running, to_state_create

# Run as a script, this file's folder is on sys.path: the workload module is beside it.
from workload import TASK_KEY, Recorder, now, parse_parts, run_workload

_STATES = {"RUNNING": Running, "COMPLETED": Completed}


def _load_task() -> None:
    """The task whose runs the workload reports (never called)."""


class PrefectLoadClient:
    """Each method is one call of Prefect's `PrefectClient`."""

    def __init__(self, client: PrefectClient) -> None:
        self._client = client
        # create_task_run wants a Task: a minimal one, with the workload's task key so
        # both clients send the same body.
        self._task: Task[[], None] = Task(fn=_load_task, name=TASK_KEY)
        self._task.task_key = TASK_KEY

    async def create_flow_from_name(self, name: str) -> str:
        return str(await self._client.create_flow_from_name(name))

    async def create_flow_run(
        self, flow_id: str, *, name: str, tags: list[str], idempotency_key: str
    ) -> str:
        create = FlowRunCreate(
            flow_id=UUID(flow_id),
            name=name,
            parameters={},
            context={},
            tags=tags,
            state=to_state_create(Pending()),
            idempotency_key=idempotency_key,
            empirical_policy=FlowRunPolicy(retries=0, retry_delay=0),
        )
        response = await self._client.request(
            "POST", "/flow_runs/", json=create.model_dump(mode="json", exclude_unset=True)
        )
        return str(FlowRun.model_validate(response.json()).id)

    async def set_flow_run_state(self, flow_run_id: str, state: str) -> str:
        result = await self._client.set_flow_run_state(UUID(flow_run_id), _STATES[state]())
        return str(result.status.value)

    async def create_task_run(
        self, *, flow_run_id: str, task_key: str, dynamic_key: str, name: str
    ) -> str:
        assert task_key == self._task.task_key
        task_run = await self._client.create_task_run(
            task=self._task, flow_run_id=UUID(flow_run_id), dynamic_key=dynamic_key, name=name
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
    *, runs: int, concurrency: int, tag: str, server_pid: int | None, parts: dict[str, int]
) -> dict[str, Any]:
    recorder = Recorder()
    async with get_client(httpx_settings={"event_hooks": recorder.hooks()}) as client:
        result: dict[str, Any] = await run_workload(
            PrefectLoadClient(client),
            recorder,
            runs=runs,
            concurrency=concurrency,
            tag=tag,
            server_pid=server_pid,
            parts=parts,
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--tag", required=True)
    parser.add_argument("--server-pid", type=int, default=None)
    parser.add_argument("--part", action="append", default=[], help="NAME=PID: its CPU too")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if importlib.util.find_spec("prefect_trio_client") is not None:
        sys.exit("prefect_driver.py must run where prefect_trio_client is not installed")
    result = asyncio.run(
        drive(
            runs=args.runs,
            concurrency=args.concurrency,
            tag=args.tag,
            server_pid=args.server_pid,
            parts=parse_parts(args.part),
        )
    )
    result["client_version"] = f"prefect {__import__('prefect').__version__}"
    args.out.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
