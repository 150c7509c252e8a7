"""What a running flow or task knows about itself, found through context variables.

trio and asyncio copy the context into every task they start, so a task started in the
caller's own nursery or task group finds the flow run it belongs to. The mutable parts
(the dynamic-key counters) are shared objects, not context values, so concurrent tasks of
one flow run count together.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import Counter
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from uuid import UUID

from prefect_trio_client.runs._logs import (
    FLOW_RUN_LOGGER,
    TASK_RUN_LOGGER,
    LogShipper,
    RunLogger,
)

if TYPE_CHECKING:
    from prefect_trio_client.orchestration.client import PrefectClient
    from prefect_trio_client.runs._tree_events import TreeEvents
    from prefect_trio_client.schemas.objects import FlowRun, TaskRun

__all__ = [
    "FlowRunContext",
    "RunTree",
    "TaskRunContext",
    "current_run",
    "get_run_logger",
    "given_client",
    "use_client",
]


@dataclass
class RunTree:
    """What every run under one outermost run shares: its client, its log shipper and
    the events client its task runs report through."""

    client: PrefectClient
    shipper: LogShipper
    events: TreeEvents


@dataclass
class FlowRunContext:
    """The flow run being executed, and what its tasks need from it."""

    tree: RunTree
    flow_run: FlowRun
    flow_name: str
    log_prints: bool
    _dynamic_keys: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def next_dynamic_key(self, task_key: str) -> str:
        """The next call number of a task in this flow run: "0", "1", ... (as Prefect)."""
        with self._lock:
            number = self._dynamic_keys[task_key]
            self._dynamic_keys[task_key] += 1
        return str(number)

    def logger(self) -> RunLogger:
        return RunLogger(
            logging.getLogger(FLOW_RUN_LOGGER),
            self.tree.shipper,
            flow_run_id=self.flow_run.id,
            extra={"flow_run_name": self.flow_run.name, "flow_name": self.flow_name},
        )


@dataclass
class TaskRunContext:
    """The task run being executed; `flow` is None for a task called outside any flow."""

    tree: RunTree
    task_run: TaskRun
    task_name: str
    flow: FlowRunContext | None
    log_prints: bool

    def logger(self) -> RunLogger:
        flow_run_id = self.flow.flow_run.id if self.flow is not None else None
        extra = {"task_run_name": self.task_run.name, "task_name": self.task_name}
        if self.flow is not None:
            extra |= {"flow_run_name": self.flow.flow_run.name, "flow_name": self.flow.flow_name}
        return RunLogger(
            logging.getLogger(TASK_RUN_LOGGER),
            self.tree.shipper,
            flow_run_id=flow_run_id,
            task_run_id=self.task_run.id,
            extra=extra,
        )


current_run: ContextVar[FlowRunContext | TaskRunContext | None] = ContextVar(
    "prefect_trio_client_current_run", default=None
)
_given_client: ContextVar[PrefectClient | None] = ContextVar(
    "prefect_trio_client_given_client", default=None
)


def given_client() -> PrefectClient | None:
    """The client `use_client` gave, if any."""
    return _given_client.get()


@contextlib.contextmanager
def use_client(client: PrefectClient) -> Iterator[PrefectClient]:
    """Run the outermost flows and tasks called inside this block with `client`.

    Without it, the outermost run opens ``get_client()`` (the settings decide which API)
    and closes it when the run ends. The client must already be open::

        async with PrefectClient("http://127.0.0.1:4200/api") as client:
            with use_client(client):
                await etl()
    """
    token = _given_client.set(client)
    try:
        yield client
    finally:
        _given_client.reset(token)


def get_run_logger() -> RunLogger:
    """A logger whose records are shipped to the current flow or task run.

    Raises:
        RuntimeError: Called outside a flow or task run.
    """
    run = current_run.get()
    if run is None:
        raise RuntimeError(
            "get_run_logger() was called outside a flow or task run: call it from inside a"
            " function decorated with @flow or @task (or use logging.getLogger elsewhere)"
        )
    return run.logger()


def flow_run_context() -> FlowRunContext | None:
    """The flow run the current code belongs to (through a task, if inside one)."""
    run = current_run.get()
    if isinstance(run, TaskRunContext):
        return run.flow
    return run


def run_ids() -> tuple[UUID | None, UUID | None]:
    """(flow run id, task run id) of the current run, for log records and events."""
    run = current_run.get()
    if run is None:
        return None, None
    if isinstance(run, TaskRunContext):
        return (run.flow.flow_run.id if run.flow else None), run.task_run.id
    return run.flow_run.id, None
