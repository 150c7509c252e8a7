"""Trio-native flows and tasks: `@flow` / `@task` report runs to the Prefect API.

A flow or task called with no run around it is the *outermost* run: it opens a client
(`get_client()`, or the one given with `use_client`) and a log shipper in a nursery of its
own, and every flow and task called inside it shares both, found through context
variables. See the README's "Flows and tasks" for every rule.
"""

from prefect_trio_client.runs._concurrency import (
    AcquireConcurrencySlotTimeoutError as AcquireConcurrencySlotTimeoutError,
)
from prefect_trio_client.runs._concurrency import (
    ConcurrencySlotAcquisitionError as ConcurrencySlotAcquisitionError,
)
from prefect_trio_client.runs._concurrency import concurrency as concurrency
from prefect_trio_client.runs._context import get_run_logger as get_run_logger
from prefect_trio_client.runs._context import use_client as use_client
from prefect_trio_client.runs._deployments import run_deployment as run_deployment
from prefect_trio_client.runs._errors import FlowRunTimeoutError as FlowRunTimeoutError
from prefect_trio_client.runs._errors import RunTrackingError as RunTrackingError
from prefect_trio_client.runs._errors import TaskRunTimeoutError as TaskRunTimeoutError
from prefect_trio_client.runs._flows import Flow as Flow
from prefect_trio_client.runs._flows import flow as flow
from prefect_trio_client.runs._logs import RunLogger as RunLogger
from prefect_trio_client.runs._parameters import ParameterBindError as ParameterBindError
from prefect_trio_client.runs._parameters import (
    ParameterSerializationWarning as ParameterSerializationWarning,
)
from prefect_trio_client.runs._parameters import (
    ParameterValidationError as ParameterValidationError,
)
from prefect_trio_client.runs._tasks import Task as Task
from prefect_trio_client.runs._tasks import task as task
from prefect_trio_client.runs._waiting import FlowRunWaitTimeout as FlowRunWaitTimeout
from prefect_trio_client.runs._waiting import wait_for_flow_run as wait_for_flow_run

__all__ = [
    "AcquireConcurrencySlotTimeoutError",
    "ConcurrencySlotAcquisitionError",
    "Flow",
    "FlowRunTimeoutError",
    "FlowRunWaitTimeout",
    "ParameterBindError",
    "ParameterSerializationWarning",
    "ParameterValidationError",
    "RunLogger",
    "RunTrackingError",
    "Task",
    "TaskRunTimeoutError",
    "concurrency",
    "flow",
    "get_run_logger",
    "run_deployment",
    "task",
    "use_client",
    "wait_for_flow_run",
]
