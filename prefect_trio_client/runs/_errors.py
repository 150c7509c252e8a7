"""The errors a flow or task call raises of its own (the body's own exceptions pass
through unchanged)."""

from __future__ import annotations

from prefect_trio_client.exceptions import PrefectException

__all__ = ["FlowRunTimeoutError", "RunTrackingError", "TaskRunTimeoutError"]


class RunTrackingError(PrefectException, RuntimeError):
    """The run could not be recorded before its body ran (the API is unreachable or
    refused it); the body did not run."""


class FlowRunTimeoutError(PrefectException, TimeoutError):
    """A flow run took longer than its ``timeout_seconds``."""


class TaskRunTimeoutError(PrefectException, TimeoutError):
    """A task run took longer than its ``timeout_seconds``."""
