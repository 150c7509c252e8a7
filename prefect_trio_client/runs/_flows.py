"""`@flow`: an async function whose calls are flow runs."""

from __future__ import annotations

import contextlib
import hashlib
import inspect
from collections.abc import Callable, Coroutine, Iterable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, overload
from uuid import uuid4

import httpx

from prefect_trio_client import states
from prefect_trio_client._attribution import run_attribution
from prefect_trio_client.exceptions import ObjectAlreadyExists, PrefectHTTPStatusError
from prefect_trio_client.orchestration.flow_runs import post_flow_run
from prefect_trio_client.runs import _flow_ids
from prefect_trio_client.runs._context import (
    FlowRunContext,
    RunTree,
    TaskRunContext,
    current_run,
    flow_run_context,
)
from prefect_trio_client.runs._decorated import Decorated
from prefect_trio_client.runs._engine import describe, execute
from prefect_trio_client.runs._errors import FlowRunTimeoutError
from prefect_trio_client.runs._parameters import ParameterValidationError
from prefect_trio_client.runs._prints import prints_to_run_logs
from prefect_trio_client.runs._reporter import OrchestrationReporter, create_tracking_task_run
from prefect_trio_client.runs._tree import unreachable
from prefect_trio_client.schemas.actions import FlowRunCreate
from prefect_trio_client.schemas.objects import FlowRunPolicy

if TYPE_CHECKING:
    from prefect_trio_client.schemas.objects import FlowRun, TaskRun

__all__ = ["Flow", "flow"]

P = ParamSpec("P")
R = TypeVar("R")


class Flow(Decorated[P, R]):
    """An async function whose every call is a flow run (see `flow`)."""

    kind = "flow"

    def __init__(self, fn: Callable[P, Coroutine[Any, Any, R]], **options: Any) -> None:
        super().__init__(fn, **options)
        self._given = options
        if options.get("name") is None:
            self.name = fn.__name__.replace("_", "-")  # as Prefect names flows

    async def _run(self, tree: RunTree, parameters: dict[str, Any], return_state: bool) -> Any:
        parent = flow_run_context()
        flow_run = await self._create_run(tree, parameters, parent)
        context = FlowRunContext(tree, flow_run, self.name, self.options.log_prints)
        token = current_run.set(context)
        try:
            logger = context.logger()
            reporter = OrchestrationReporter(tree.client, "flow", flow_run)
            arguments = parameters
            if self.validate_parameters:
                try:
                    arguments = self.signature.validate(parameters)
                except ParameterValidationError as exc:
                    message = f"Validation of flow parameters failed with error: {describe(exc)}"
                    failed = await reporter.propose(states.Failed(message=message))
                    if return_state:
                        return failed
                    raise
            kind = "subflow" if parent is not None else "flow"
            logger.info("Beginning %s run %r for flow %r", kind, flow_run.name, self.name)
            with (
                run_attribution(_attribution(flow_run, self.name)),
                prints_to_run_logs() if self.options.log_prints else contextlib.nullcontext(),
            ):
                outcome = await execute(
                    reporter, self._body(arguments), self.options, logger, FlowRunTimeoutError
                )
        finally:
            current_run.reset(token)
        return outcome.result(return_state)

    async def _create_run(
        self, tree: RunTree, parameters: dict[str, Any], parent: FlowRunContext | None
    ) -> FlowRun:
        client = tree.client
        try:
            flow_id, cached = await _flow_ids.flow_id(client, self.name)
            parent_task_run_id = None
            if parent is not None:
                parent_task_run_id = (
                    await self._create_tracking_task_run(tree, parent, parameters)
                ).id
            create = FlowRunCreate(
                flow_id=flow_id,
                flow_version=self.version or self._source_hash(),
                parameters=self._stored_parameters(parameters),
                context={},
                tags=self.tags,
                parent_task_run_id=parent_task_run_id,
                state=states.Pending().to_state_create(),
                empirical_policy=FlowRunPolicy(
                    retries=self.options.retries, retry_delay=int(self.options.retry_delay(1))
                ),
                idempotency_key=str(uuid4()),  # a re-send after a lost answer finds this run
            )
            try:
                return await client._run(post_flow_run(create))
            except ObjectAlreadyExists:
                if not cached:
                    raise
                # the flow was deleted on the server since its id was kept: create it again
                _flow_ids.forget(client, self.name)
                flow_id, _ = await _flow_ids.flow_id(client, self.name)
                return await client._run(
                    post_flow_run(create.model_copy(update={"flow_id": flow_id}))
                )
        except (httpx.TransportError, PrefectHTTPStatusError) as exc:
            raise unreachable(f"flow {self.name!r}", exc) from exc

    async def _create_tracking_task_run(
        self, tree: RunTree, parent: FlowRunContext, parameters: dict[str, Any]
    ) -> TaskRun:
        """The task run of the parent flow run that stands for this subflow run (the server
        copies the subflow run's states to it)."""
        inside_task = isinstance(current_run.get(), TaskRunContext)
        dynamic_key = str(uuid4()) if inside_task else parent.next_dynamic_key(self.key)
        return await create_tracking_task_run(
            tree.client,
            parent,
            task_key=self.key,
            dynamic_key=dynamic_key,
            version=self.version,
            parameters=parameters,
            name=f"{self.name}-{dynamic_key}",
        )

    def _source_hash(self) -> str | None:
        """Prefect's default ``flow_version``: the MD5 of the file that defines the flow."""
        try:
            source = inspect.getsourcefile(self.fn)
            if source is None:
                return None
            with open(source, "rb") as file:
                return hashlib.md5(file.read(), usedforsecurity=False).hexdigest()
        except (OSError, TypeError):
            return None


def _attribution(flow_run: FlowRun, flow_name: str) -> dict[str, str]:
    """The attribution headers of the requests made for this flow run (as Prefect's)."""
    headers = {"X-Prefect-Flow-Id": str(flow_run.flow_id), "X-Prefect-Flow-Name": flow_name}
    if flow_run.deployment_id is not None:
        headers["X-Prefect-Deployment-Id"] = str(flow_run.deployment_id)
    return headers


@overload
def flow(__fn: Callable[P, Coroutine[Any, Any, R]]) -> Flow[P, R]: ...


@overload
def flow(
    *,
    name: str | None = None,
    version: str | None = None,
    description: str | None = None,
    tags: Iterable[str] | None = None,
    retries: int = 0,
    retry_delay_seconds: float = 0.0,
    timeout_seconds: float | None = None,
    log_prints: bool = False,
    validate_parameters: bool = True,
) -> Callable[[Callable[P, Coroutine[Any, Any, R]]], Flow[P, R]]: ...


def flow(
    __fn: Callable[P, Coroutine[Any, Any, R]] | None = None,
    *,
    name: str | None = None,
    version: str | None = None,
    description: str | None = None,
    tags: Iterable[str] | None = None,
    retries: int = 0,
    retry_delay_seconds: float = 0.0,
    timeout_seconds: float | None = None,
    log_prints: bool = False,
    validate_parameters: bool = True,
) -> Flow[P, R] | Callable[[Callable[P, Coroutine[Any, Any, R]]], Flow[P, R]]:
    """Make an async function a flow: each call (awaited, under trio or asyncio) is a
    flow run, Pending, Running, then Completed or Failed, with its logs.

    Args:
        name: The flow's name (the function's name by default).
        version: Recorded as the flow run's ``flow_version``.
        description: The function's docstring by default.
        tags: Given to every flow run.
        retries: How many times a run that raised is run again.
        retry_delay_seconds: Seconds before each retry, whole seconds (the server
            schedules flow-run retries, and Prefect's API keeps this delay as an integer).
        timeout_seconds: A run that takes longer is cancelled and fails as TimedOut
            (`FlowRunTimeoutError`).
        log_prints: ``print()`` in the run also goes to the run's logs.
        validate_parameters: Check and coerce arguments by their annotations first.

    A call raises what the body raised, unchanged; ``return_state=True`` in a call
    returns the final state instead of the value (and does not raise).
    """

    def decorate(fn: Callable[P, Coroutine[Any, Any, R]]) -> Flow[P, R]:
        return Flow(
            fn,
            name=name,
            version=version,
            description=description,
            tags=tags,
            retries=retries,
            retry_delay_seconds=retry_delay_seconds,
            timeout_seconds=timeout_seconds,
            log_prints=log_prints,
            validate_parameters=validate_parameters,
        )

    if __fn is not None:
        return decorate(__fn)
    return decorate
