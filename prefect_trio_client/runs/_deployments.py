"""Triggering deployments, in cancel scopes (waiting is in `_waiting`)."""

from __future__ import annotations

import contextlib
import re
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from uuid import UUID

import anyio

from prefect_trio_client import states
from prefect_trio_client.runs._context import flow_run_context
from prefect_trio_client.runs._reporter import create_tracking_task_run
from prefect_trio_client.runs._tree import current_client
from prefect_trio_client.runs._waiting import poll_until_final

if TYPE_CHECKING:
    from prefect_trio_client.orchestration.client import PrefectClient
    from prefect_trio_client.schemas.objects import Deployment, FlowRun

__all__ = ["run_deployment"]


async def run_deployment(
    name: str | UUID,
    *,
    parameters: dict[str, Any] | None = None,
    scheduled_time: datetime | None = None,
    flow_run_name: str | None = None,
    timeout: float | None = None,
    poll_interval: float = 5,
    tags: list[str] | None = None,
    idempotency_key: str | None = None,
    work_queue_name: str | None = None,
    as_subflow: bool = True,
    job_variables: dict[str, Any] | None = None,
) -> FlowRun:
    """Create a flow run of a deployment and, unless ``timeout=0``, wait for it to end.

    As Prefect's ``run_deployment``: the run is Scheduled (for now, or `scheduled_time`)
    for a worker to pick up; inside a flow it is a subflow of the current flow run (a
    task run stands for it) unless ``as_subflow=False``. The wait polls every
    `poll_interval` seconds in a cancel scope; at the `timeout` (None: no limit) the latest
    state of the run is returned, not an error, as Prefect does.

    Args:
        name: ``"<flow name>/<deployment name>"``, or the deployment's id.

    Raises:
        ValueError: A name that is neither, or a negative `timeout`.
        ObjectNotFound: No such deployment.
    """
    if timeout is not None and timeout < 0:
        raise ValueError("run_deployment() timeout cannot be negative")
    if poll_interval <= 0:
        raise ValueError(f"run_deployment() poll_interval must be more than 0, got {poll_interval}")
    async with current_client() as client:
        deployment = await _find_deployment(client, name)
        parent_task_run_id = None
        flow = flow_run_context()
        if as_subflow and flow is not None:
            key = f"prefect.deployments.flow_runs.run_deployment.{_slug(str(name))}"
            tracking = await create_tracking_task_run(
                client,
                flow,
                task_key=key,
                dynamic_key=flow.next_dynamic_key(key),
                version=deployment.version,
                parameters=parameters or {},
            )
            parent_task_run_id = tracking.id
        flow_run = await client.create_flow_run_from_deployment(
            deployment.id,
            parameters=parameters,
            state=states.Scheduled(scheduled_time=scheduled_time or datetime.now(timezone.utc)),
            name=flow_run_name,
            tags=tags,
            idempotency_key=idempotency_key,
            parent_task_run_id=parent_task_run_id,
            work_queue_name=work_queue_name,
            job_variables=job_variables,
        )
        if timeout == 0:
            return flow_run
        with anyio.move_on_after(float("inf") if timeout is None else timeout):
            flow_run = await poll_until_final(client, flow_run, poll_interval)
        return flow_run


async def _find_deployment(client: PrefectClient, name: str | UUID) -> Deployment:
    deployment_id: UUID | None = name if isinstance(name, UUID) else None
    if deployment_id is None:
        with contextlib.suppress(ValueError):
            deployment_id = UUID(str(name))
    if deployment_id is not None:
        return await client.read_deployment(deployment_id)
    if not isinstance(name, str) or name.count("/") != 1 or "" in name.split("/"):
        raise ValueError(
            f"Invalid deployment name format: {name}. Expected format:"
            " <FLOW_NAME>/<DEPLOYMENT_NAME>"
        )
    return await client.read_deployment_by_name(name)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
