"""State constructors named like Prefect's (``Running()``, ``Completed(message=...)``, ...).

Each returns a new :class:`~prefect_trio_client.schemas.objects.State` stamped with the
current UTC time; propose it with ``state.to_state_create()`` (or
``StateCreate.from_state(state)``). Nothing here does I/O.

The names double as the state's display name, as in Prefect: ``AwaitingRetry()`` is a
SCHEDULED state named "AwaitingRetry", ``Retrying()`` a RUNNING state named "Retrying",
``Late()`` a SCHEDULED state named "Late", ``Suspended()`` a PAUSED state that reschedules.
"""

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, TypeAlias

from prefect_trio_client.schemas.objects import State, StateDetails, StateType

__all__ = [
    "AwaitingConcurrencySlot",
    "AwaitingRetry",
    "Cancelled",
    "Cancelling",
    "Completed",
    "Crashed",
    "DetailsInput",
    "Failed",
    "Late",
    "Paused",
    "Pending",
    "Retrying",
    "Running",
    "Scheduled",
    "Suspended",
]

DetailsInput: TypeAlias = StateDetails | Mapping[str, Any] | None
"""State details as a model or a plain mapping of its fields; ``None`` means none."""


def _details(state_details: DetailsInput) -> StateDetails:
    """A private copy, so building a state never changes the caller's details."""
    if isinstance(state_details, StateDetails):
        return state_details.model_copy(deep=True)
    return StateDetails.model_validate(dict(state_details or {}))


def _state(
    state_type: StateType,
    *,
    name: str | None,
    message: str | None,
    data: Any,
    state_details: DetailsInput,
) -> State:
    return State(
        type=state_type,
        name=name,
        message=message,
        data=data,
        state_details=_details(state_details),
    )


def Scheduled(
    *,
    scheduled_time: datetime | None = None,
    message: str | None = None,
    name: str = "Scheduled",
    data: Any = None,
    state_details: DetailsInput = None,
) -> State:
    """A SCHEDULED state for ``scheduled_time`` (now when not given).

    Raises:
        ValueError: ``scheduled_time`` is given and ``state_details`` holds one too.
    """
    details = _details(state_details)
    if scheduled_time is not None and details.scheduled_time is not None:
        raise ValueError("An extra scheduled_time was provided in state_details")
    if scheduled_time is None:
        scheduled_time = details.scheduled_time or datetime.now(timezone.utc)
    details.scheduled_time = scheduled_time
    return _state(StateType.SCHEDULED, name=name, message=message, data=data, state_details=details)


def Pending(
    *,
    message: str | None = None,
    name: str | None = None,
    data: Any = None,
    state_details: DetailsInput = None,
) -> State:
    """A PENDING state: the run is about to start."""
    return _state(
        StateType.PENDING, name=name, message=message, data=data, state_details=state_details
    )


def Running(
    *,
    message: str | None = None,
    name: str | None = None,
    data: Any = None,
    state_details: DetailsInput = None,
) -> State:
    """A RUNNING state."""
    return _state(
        StateType.RUNNING, name=name, message=message, data=data, state_details=state_details
    )


def Completed(
    *,
    message: str | None = None,
    name: str | None = None,
    data: Any = None,
    state_details: DetailsInput = None,
) -> State:
    """A COMPLETED state; ``data`` may carry a result (it must be JSON-serialisable)."""
    return _state(
        StateType.COMPLETED, name=name, message=message, data=data, state_details=state_details
    )


def Failed(
    *,
    message: str | None = None,
    name: str | None = None,
    data: Any = None,
    state_details: DetailsInput = None,
) -> State:
    """A FAILED state: the run's own code raised."""
    return _state(
        StateType.FAILED, name=name, message=message, data=data, state_details=state_details
    )


def Crashed(
    *,
    message: str | None = None,
    name: str | None = None,
    data: Any = None,
    state_details: DetailsInput = None,
) -> State:
    """A CRASHED state: something outside the run's code (infrastructure, a signal) ended it."""
    return _state(
        StateType.CRASHED, name=name, message=message, data=data, state_details=state_details
    )


def Cancelled(
    *,
    message: str | None = None,
    name: str | None = None,
    data: Any = None,
    state_details: DetailsInput = None,
) -> State:
    """A CANCELLED state."""
    return _state(
        StateType.CANCELLED, name=name, message=message, data=data, state_details=state_details
    )


def Cancelling(
    *,
    message: str | None = None,
    name: str | None = None,
    data: Any = None,
    state_details: DetailsInput = None,
) -> State:
    """A CANCELLING state: cancellation was asked for and is under way."""
    return _state(
        StateType.CANCELLING,
        name=name,
        message=message,
        data=data,
        state_details=state_details,
    )


def Paused(
    *,
    timeout_seconds: float | None = None,
    pause_expiration_time: datetime | None = None,
    reschedule: bool = False,
    pause_key: str | None = None,
    message: str | None = None,
    name: str = "Paused",
    data: Any = None,
    state_details: DetailsInput = None,
) -> State:
    """A PAUSED state that expires after ``timeout_seconds`` or at ``pause_expiration_time``.

    Raises:
        ValueError: both expirations are given, or ``state_details`` already holds a
            ``pause_timeout``.
    """
    details = _details(state_details)
    if details.pause_timeout is not None:
        raise ValueError("An extra pause timeout was provided in state_details")
    if pause_expiration_time is not None and timeout_seconds is not None:
        raise ValueError("Cannot supply both a pause_expiration_time and timeout_seconds")
    if timeout_seconds is not None:
        pause_expiration_time = datetime.now(timezone.utc) + timedelta(seconds=timeout_seconds)
    details.pause_timeout = pause_expiration_time
    details.pause_reschedule = reschedule
    details.pause_key = pause_key
    return _state(StateType.PAUSED, name=name, message=message, data=data, state_details=details)


def Suspended(
    *,
    timeout_seconds: float | None = None,
    pause_expiration_time: datetime | None = None,
    pause_key: str | None = None,
    message: str | None = None,
    name: str = "Suspended",
    data: Any = None,
    state_details: DetailsInput = None,
) -> State:
    """A PAUSED state that gives its infrastructure back and is rescheduled on resume.

    Raises:
        ValueError: as for :func:`Paused`.
    """
    return Paused(
        timeout_seconds=timeout_seconds,
        pause_expiration_time=pause_expiration_time,
        reschedule=True,
        pause_key=pause_key,
        message=message,
        name=name,
        data=data,
        state_details=state_details,
    )


def AwaitingRetry(
    *,
    scheduled_time: datetime | None = None,
    message: str | None = None,
    name: str = "AwaitingRetry",
    data: Any = None,
    state_details: DetailsInput = None,
) -> State:
    """A SCHEDULED state named "AwaitingRetry": the run retries at ``scheduled_time``.

    Raises:
        ValueError: as for :func:`Scheduled`.
    """
    return Scheduled(
        scheduled_time=scheduled_time,
        message=message,
        name=name,
        data=data,
        state_details=state_details,
    )


def AwaitingConcurrencySlot(
    *,
    scheduled_time: datetime | None = None,
    message: str | None = None,
    name: str = "AwaitingConcurrencySlot",
    data: Any = None,
    state_details: DetailsInput = None,
) -> State:
    """A SCHEDULED state named "AwaitingConcurrencySlot": waiting for a free slot.

    Raises:
        ValueError: as for :func:`Scheduled`.
    """
    return Scheduled(
        scheduled_time=scheduled_time,
        message=message,
        name=name,
        data=data,
        state_details=state_details,
    )


def Late(
    *,
    scheduled_time: datetime | None = None,
    message: str | None = None,
    name: str = "Late",
    data: Any = None,
    state_details: DetailsInput = None,
) -> State:
    """A SCHEDULED state named "Late": its scheduled time has passed.

    Raises:
        ValueError: as for :func:`Scheduled`.
    """
    return Scheduled(
        scheduled_time=scheduled_time,
        message=message,
        name=name,
        data=data,
        state_details=state_details,
    )


def Retrying(
    *,
    message: str | None = None,
    name: str = "Retrying",
    data: Any = None,
    state_details: DetailsInput = None,
) -> State:
    """A RUNNING state named "Retrying": a retry attempt has started."""
    return _state(
        StateType.RUNNING, name=name, message=message, data=data, state_details=state_details
    )
