"""`@task`: an async function whose calls are task runs, reported as events (as Prefect
3's engine reports them) or, by the setting or for a server without events, over HTTP."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Coroutine, Iterable, Sequence
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, overload
from uuid import uuid4

import httpx

from prefect_trio_client import states
from prefect_trio_client.exceptions import PrefectHTTPStatusError
from prefect_trio_client.runs._concurrency import task_tag_slots
from prefect_trio_client.runs._context import (
    FlowRunContext,
    RunTree,
    TaskRunContext,
    current_run,
    flow_run_context,
)
from prefect_trio_client.runs._decorated import Decorated
from prefect_trio_client.runs._engine import RunOutcome, execute, report_interrupted
from prefect_trio_client.runs._errors import TaskRunTimeoutError
from prefect_trio_client.runs._event_reporter import EventReporter, local_task_run
from prefect_trio_client.runs._prints import prints_to_run_logs
from prefect_trio_client.runs._reporter import OrchestrationReporter
from prefect_trio_client.runs._tree import unreachable

if TYPE_CHECKING:
    from prefect_trio_client.schemas.objects import TaskRun

__all__ = ["Task", "task"]

P = ParamSpec("P")
R = TypeVar("R")

TaskRunName = str | Callable[[dict[str, Any]], str]


class Task(Decorated[P, R]):
    """An async function whose every call is a task run (see `task`)."""

    kind = "task"

    def __init__(
        self,
        fn: Callable[P, Coroutine[Any, Any, R]],
        *,
        task_run_name: TaskRunName | None = None,
        log_prints: bool | None = None,
        **options: Any,
    ) -> None:
        super().__init__(fn, log_prints=bool(log_prints), **options)
        self._given = {**options, "task_run_name": task_run_name, "log_prints": log_prints}
        self.task_run_name = task_run_name
        self._inherit_log_prints = log_prints is None

    async def _run(self, tree: RunTree, parameters: dict[str, Any], return_state: bool) -> Any:
        flow = flow_run_context()
        if self.validate_parameters:
            parameters = self.signature.validate(parameters)
        events = await tree.events.client()
        reporter: EventReporter | OrchestrationReporter
        if events is not None:  # as Prefect 3's engine: built here, reported by events
            event_reporter = EventReporter(events, self._local_run(flow, parameters), flow)
            task_run = event_reporter.task_run
            reporter = event_reporter
        else:
            task_run = await self._create_run(tree, flow, parameters)
            reporter = OrchestrationReporter(tree.client, "task", task_run)
        log_prints = self.options.log_prints
        if self._inherit_log_prints:
            log_prints = flow.log_prints if flow is not None else False
        context = TaskRunContext(tree, task_run, self.name, flow, log_prints)
        token = current_run.set(context)
        try:
            logger = context.logger()
            body = self._body(parameters)
            with prints_to_run_logs() if log_prints else contextlib.nullcontext():
                if events is None:
                    outcome = await execute(
                        reporter, body, self.options, logger, TaskRunTimeoutError
                    )
                else:
                    event_reporter.report_pending()
                    outcome = await self._execute_in_tag_slots(event_reporter, body, logger)
        finally:
            current_run.reset(token)
        return outcome.result(return_state)

    async def _execute_in_tag_slots(
        self,
        reporter: EventReporter,
        body: Callable[[], Coroutine[Any, Any, R]],
        logger: logging.LoggerAdapter[Any],
    ) -> RunOutcome:
        """`execute` holding a slot of each tag's limit, as Prefect's engine does for the
        task runs it reports by events (the server limits only runs it orchestrates). A
        run interrupted while it waits for the slots is reported as `execute` reports it."""
        started = False
        try:
            async with task_tag_slots(reporter.task_run.tags):
                started = True
                return await execute(
                    reporter,
                    _keeping_result(body, reporter),
                    self.options,
                    logger,
                    TaskRunTimeoutError,
                )
        except BaseException as exc:
            if not started and not isinstance(exc, Exception):
                await report_interrupted(reporter, exc, logger)
            raise

    def _names(self, flow: FlowRunContext | None) -> tuple[str, str]:
        """(dynamic key, default run name) of the next call, as Prefect makes them."""
        if flow is not None:
            dynamic_key = flow.next_dynamic_key(self.key)
            return dynamic_key, f"{self.name}-{dynamic_key}"
        return f"{self.key}-{uuid4().hex}", self.name  # a task run of no flow run

    def _local_run(self, flow: FlowRunContext | None, parameters: dict[str, Any]) -> TaskRun:
        dynamic_key, default_name = self._names(flow)
        delays = self.options.retry_delay_seconds
        return local_task_run(
            flow=flow,
            task_key=self.key,
            dynamic_key=dynamic_key,
            name=self._run_name(parameters, default_name),
            version=self.version,
            tags=self.tags,
            parameters=list(parameters),
            retries=self.options.retries,
            retry_delay=_seconds(delays) if isinstance(delays, (int, float)) else list(delays),
        )

    async def _create_run(
        self, tree: RunTree, flow: FlowRunContext | None, parameters: dict[str, Any]
    ) -> TaskRun:
        dynamic_key, default_name = self._names(flow)
        name = self._run_name(parameters, default_name)
        try:
            return await tree.client.create_task_run(
                flow_run_id=flow.flow_run.id if flow is not None else None,
                task_key=self.key,
                dynamic_key=dynamic_key,
                name=name,
                state=states.Pending(),
                task_inputs={parameter: [] for parameter in parameters},
                tags=self.tags,
            )
        except (httpx.TransportError, PrefectHTTPStatusError) as exc:
            raise unreachable(f"task {self.name!r}", exc) from exc

    def _run_name(self, parameters: dict[str, Any], default: str) -> str:
        if self.task_run_name is None:
            return default
        if callable(self.task_run_name):
            return str(self.task_run_name(parameters))
        try:
            return self.task_run_name.format(**parameters)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                f"task_run_name {self.task_run_name!r} of task {self.name!r} does not format"
                f" with the call's parameters {sorted(parameters)}: {exc!r}"
            ) from None


def _seconds(value: float) -> float:
    """A delay as Prefect's task keeps it: whole seconds as an int (its default is 0)."""
    return int(value) if float(value).is_integer() else float(value)


def _keeping_result(
    body: Callable[[], Coroutine[Any, Any, Any]], reporter: EventReporter
) -> Callable[[], Coroutine[Any, Any, Any]]:
    """`body`, telling `reporter` what it returned (Prefect marks some results)."""

    async def call() -> Any:
        reporter.result = await body()
        return reporter.result

    return call


@overload
def task(__fn: Callable[P, Coroutine[Any, Any, R]]) -> Task[P, R]: ...


@overload
def task(
    *,
    name: str | None = None,
    version: str | None = None,
    description: str | None = None,
    tags: Iterable[str] | None = None,
    retries: int = 0,
    retry_delay_seconds: float | Sequence[float] = 0.0,
    timeout_seconds: float | None = None,
    log_prints: bool | None = None,
    validate_parameters: bool = False,
    task_run_name: TaskRunName | None = None,
) -> Callable[[Callable[P, Coroutine[Any, Any, R]]], Task[P, R]]: ...


def task(
    __fn: Callable[P, Coroutine[Any, Any, R]] | None = None,
    *,
    name: str | None = None,
    version: str | None = None,
    description: str | None = None,
    tags: Iterable[str] | None = None,
    retries: int = 0,
    retry_delay_seconds: float | Sequence[float] = 0.0,
    timeout_seconds: float | None = None,
    log_prints: bool | None = None,
    validate_parameters: bool = False,
    task_run_name: TaskRunName | None = None,
) -> Task[P, R] | Callable[[Callable[P, Coroutine[Any, Any, R]]], Task[P, R]]:
    """Make an async function a task: each call is a task run of the current flow run
    (or, outside any flow, a task run of its own), with the same states, retries,
    timeout and cancellation rules as a flow run. Calls run in the caller's own task:
    start them in your nursery or task group to run them concurrently.

    Args:
        name: The task's name (the function's name by default).
        version: Kept on the task.
        description: The function's docstring by default.
        tags: Given to every task run.
        retries: How many times a run that raised is run again.
        retry_delay_seconds: Seconds before each retry (a list gives one per retry).
        timeout_seconds: A run that takes longer is cancelled and fails as TimedOut
            (`TaskRunTimeoutError`).
        log_prints: ``print()`` in the run also goes to its logs (by default, as its flow).
        validate_parameters: Check and coerce arguments by their annotations first.
        task_run_name: A format string over the parameters (``"load-{table}"``) or a
            function of the parameters; ``"<name>-<dynamic key>"`` by default.
    """

    def decorate(fn: Callable[P, Coroutine[Any, Any, R]]) -> Task[P, R]:
        return Task(
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
            task_run_name=task_run_name,
        )

    if __fn is not None:
        return decorate(__fn)
    return decorate
