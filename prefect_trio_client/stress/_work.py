"""One nesting level's requests, written once for the async and the sync client.

A level's work is a generator of `Call`s (which client method, with which arguments);
`drive_async` and `drive_sync` perform each call on their client and send the answer
back in (or throw the error in), as the orchestration client's own plans do. The work
decides everything else: retrying what injected faults broke, and checking what it
reads back.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from prefect_trio_client import states
from prefect_trio_client._send_loop import Done
from prefect_trio_client.exceptions import (
    OutcomeUnknownError,
    PrefectHTTPStatusError,
    ResponseDecodeError,
)
from prefect_trio_client.orchestration import PrefectClient, SyncPrefectClient
from prefect_trio_client.schemas.objects import State, StateType
from prefect_trio_client.schemas.responses import SetStateStatus

__all__ = [
    "RECOVERABLE",
    "BadAnswer",
    "Call",
    "GiveUp",
    "Work",
    "attempt",
    "drive_async",
    "drive_sync",
    "ensure_state",
]

T = TypeVar("T")

#: What an injected fault can leave to the caller after the client's own retries.
RECOVERABLE = (OutcomeUnknownError, ResponseDecodeError, PrefectHTTPStatusError, httpx.HTTPError)


class GiveUp(Exception):
    """A step still failed after every try the run allows (only with injected faults)."""


class BadAnswer(Exception):
    """The server answered something a correct run never gets (a violation)."""


@dataclass(frozen=True)
class Call:
    """One client method call: ``await client.<method>(**kwargs)``."""

    method: str
    kwargs: dict[str, Any]


Work = Generator[Call, Any, T]


def _resume(work: Work[T], answer: Any, error: Exception | None) -> Call | Done[T]:
    """Hand `work` the last call's answer (or its error): its next call, or `Done`."""
    try:
        return work.send(answer) if error is None else work.throw(error)
    except StopIteration as stop:
        return Done(stop.value)


async def drive_async(client: PrefectClient, work: Work[T]) -> T:
    """Run `work`'s calls on an async client; return what it returns."""
    step = _resume(work, None, None)
    while not isinstance(step, Done):
        try:
            answer, error = await getattr(client, step.method)(**step.kwargs), None
        except Exception as exc:  # handed to the work, which decides
            answer, error = None, exc
        step = _resume(work, answer, error)
    return step.value


def drive_sync(client: SyncPrefectClient, work: Work[T]) -> T:
    """`drive_async` for a sync client."""
    step = _resume(work, None, None)
    while not isinstance(step, Done):
        try:
            answer, error = getattr(client, step.method)(**step.kwargs), None
        except Exception as exc:  # handed to the work, which decides
            answer, error = None, exc
        step = _resume(work, answer, error)
    return step.value


def attempt(call: Call, tries: int) -> Work[Any]:
    """`call`, made again (up to `tries` times in all) while it fails recoverably.

    Only for calls that are safe to make again: reads and creations with an idempotency
    key.
    """
    for number in range(1, tries + 1):
        try:
            return (yield call)
        except RECOVERABLE as exc:
            if number == tries:
                if tries == 1:
                    raise
                raise GiveUp(f"{call.method}: {exc!r} after {tries} tries") from exc
    raise AssertionError("unreachable")  # pragma: no cover


_STATES = {StateType.RUNNING: states.Running, StateType.COMPLETED: states.Completed}


def ensure_state(run_id: Any, target: StateType, tries: int) -> Work[None]:
    """Bring a flow run to `target`. A proposal whose outcome a fault hid is checked by
    reading the run back, and proposed again only if the run is not there."""
    for number in range(1, tries + 1):
        try:
            state: State = _STATES[target]()
            result = yield Call("set_flow_run_state", {"flow_run_id": run_id, "state": state})
        except RECOVERABLE as exc:
            if number == tries:
                if tries == 1:
                    raise
                raise GiveUp(f"set_flow_run_state: {exc!r} after {tries} tries") from exc
            run = yield from attempt(Call("read_flow_run", {"flow_run_id": run_id}), tries)
            if run.state is not None and run.state.type is target:
                return
            continue
        if result.status is SetStateStatus.ACCEPT:
            return
        if result.state is not None and result.state.type is target:
            return  # a re-sent proposal the server recognised (its transition_id)
        raise BadAnswer(f"the server answered {result.status.value} to {target.value}")
