"""How runs are recorded over HTTP orchestration: their states (``set_state``), and the
task runs that stand for a subflow or a triggered deployment in the parent flow run."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal

from prefect_trio_client import states
from prefect_trio_client.orchestration.task_runs import post_task_run
from prefect_trio_client.runs._engine import describe
from prefect_trio_client.schemas.actions import TaskRunCreate

if TYPE_CHECKING:
    from prefect_trio_client.orchestration.client import PrefectClient
    from prefect_trio_client.runs._context import FlowRunContext
    from prefect_trio_client.schemas.objects import FlowRun, State, TaskRun

__all__ = ["OrchestrationReporter", "create_tracking_task_run"]


class OrchestrationReporter:
    """Proposes a run's states to the API (see `Reporter` in `_engine`).

    Flow runs and task runs differ in three ways only, all Prefect's: which id the
    proposal names, the Failed message (a task's has no colon), and who retries (the
    server answers a flow run's Failed with AwaitingRetry; a task run retries itself).
    """

    def __init__(
        self, client: PrefectClient, kind: Literal["flow", "task"], run: FlowRun | TaskRun
    ) -> None:
        self._client = client
        self._kind = kind
        self._run = run
        self.run_id = run.id
        self.run_name = run.name
        self.label = "Flow run" if kind == "flow" else "Task run"
        self.client_side_retries = kind == "task"

    async def propose(self, state: State, *, force: bool = False, max_wait: float = 300.0) -> State:
        if self._kind == "flow":
            accepted = await self._client.propose_state(
                state, flow_run_id=self.run_id, force=force, max_wait=max_wait
            )
            if accepted.is_running():  # as the server counts it; task runs copy it
                self._run.run_count += 1
            return accepted
        return await self._client.propose_state(
            state, task_run_id=self.run_id, force=force, max_wait=max_wait
        )

    def failed_message(self, error: BaseException) -> str:
        separator = ":" if self._kind == "flow" else ""  # sic: Prefect's task text has none
        return f"{self.label} encountered an exception{separator} {describe(error)}"


async def create_tracking_task_run(
    client: PrefectClient,
    parent: FlowRunContext,
    *,
    task_key: str,
    dynamic_key: str,
    version: str | None,
    parameters: Iterable[str],
    name: str | None = None,
) -> TaskRun:
    """A Pending task run of `parent` standing for a child flow run (the server copies the
    child's states to it), as Prefect creates one: one empty input list per parameter."""
    create = TaskRunCreate(
        flow_run_id=parent.flow_run.id,
        task_key=task_key,
        dynamic_key=dynamic_key,
        name=name,
        task_version=version,
        state=states.Pending().to_state_create(),
        task_inputs={parameter: [] for parameter in parameters},
    )
    return await client._run(post_task_run(create))
