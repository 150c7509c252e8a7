"""Waiting for a flow run to end: on its state events, or by polling when there are none.

`wait_for_flow_run` subscribes to the run's ``prefect.flow-run.*`` events on
``/events/out`` (as Prefect 3's does), then reads the run once: a run that ended before the
subscription took hold is seen by that read, and one that ends later by its event (the
subscription is also backfilled from a minute before it opened). When the subscription
cannot be opened (a server or proxy without websockets) or drops, it polls the run every
`poll_interval` seconds instead, so waiting never depends on websockets. Everything runs
under the one cancel scope of the wait's timeout.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from uuid import UUID

import anyio

from prefect_trio_client.exceptions import PrefectException
from prefect_trio_client.runs._tree import current_client
from prefect_trio_client.schemas.objects import TERMINAL_STATES

if TYPE_CHECKING:
    from prefect_trio_client.orchestration.client import PrefectClient
    from prefect_trio_client.schemas.objects import FlowRun

__all__ = ["FlowRunWaitTimeout", "poll_until_final", "wait_for_flow_run"]

logger = logging.getLogger("prefect_trio_client.runs")

#: After a final state event, the first delay before reading the run again (doubling up
#: to the poll interval), in case the event arrived before the state could be read.
_FIRST_REREAD = 0.1


class FlowRunWaitTimeout(PrefectException, TimeoutError):
    """A flow run did not reach a final state within the wait's timeout."""


async def wait_for_flow_run(
    flow_run_id: UUID,
    *,
    timeout: float | None = 10800,
    poll_interval: float = 5,
    log_states: bool = False,
) -> FlowRun:
    """Wait for a flow run to reach a final state; return it then.

    Args:
        flow_run_id: The run to wait for.
        timeout: Seconds to wait at most (None: no limit; three hours by default, as
            Prefect's).
        poll_interval: Seconds between reads of the run, when its events cannot be
            followed (the server or a proxy refuses websockets, or the stream drops).
        log_states: Log each state the run enters while waiting (Prefect's option).

    Raises:
        FlowRunWaitTimeout: The run was not final within `timeout`.
        ObjectNotFound: No such flow run.
    """
    if poll_interval <= 0:
        raise ValueError(
            f"wait_for_flow_run() poll_interval must be more than 0, got {poll_interval}"
        )
    async with current_client() as client:
        with anyio.move_on_after(float("inf") if timeout is None else timeout):
            return await _wait(client, flow_run_id, poll_interval, log_states)
    raise FlowRunWaitTimeout(
        f"Flow run with ID {flow_run_id} exceeded watch timeout of {timeout} seconds"
    )


async def _wait(
    client: PrefectClient, flow_run_id: UUID, poll_interval: float, log_states: bool
) -> FlowRun:
    watched = await _watch_events(client, flow_run_id, log_states)
    if not isinstance(watched, bool):
        return watched  # final at the first read
    if watched:  # a final state event: the run reads as final at once, or very soon
        return await poll_until_final(
            client, await client.read_flow_run(flow_run_id), poll_interval, _FIRST_REREAD
        )
    return await poll_until_final(client, await client.read_flow_run(flow_run_id), poll_interval)


async def _watch_events(
    client: PrefectClient, flow_run_id: UUID, log_states: bool
) -> FlowRun | bool:
    """The run if it is final when first read; else True once a final state event came,
    False when the event stream failed or ended first."""
    # imported here: `runs` does not load the websocket stack until a wait needs it
    from prefect_trio_client.events._subscriber import EventSubscriber  # noqa: PLC0415
    from prefect_trio_client.events._target import events_target_of  # noqa: PLC0415
    from prefect_trio_client.exceptions import EventStreamError  # noqa: PLC0415
    from prefect_trio_client.schemas.events import (  # noqa: PLC0415
        EventFilter,
        EventNameFilter,
        EventResourceFilter,
    )

    watched = EventFilter(
        event=EventNameFilter(prefix=["prefect.flow-run."]),
        resource=EventResourceFilter(id=[f"prefect.flow-run.{flow_run_id}"]),
    )
    # no reconnecting: a dropped stream is replaced by polling, which cannot miss the end
    async with EventSubscriber(
        events_target_of(client), watched, reconnection_attempts=0
    ) as events:
        flow_run = await client.read_flow_run(flow_run_id)
        if flow_run.state is not None and flow_run.state.is_final():
            _log_state(log_states, flow_run.state.name)
            return flow_run
        try:
            async for event in events:
                state_type = event.resource.get("prefect.state-type")
                if state_type is None:
                    continue
                _log_state(log_states, event.resource.get("prefect.state-name", state_type))
                if state_type in _TERMINAL_TYPES:
                    return True
        except EventStreamError as exc:
            logger.debug("flow run %s: %s; polling instead", flow_run_id, exc)
            return False
    logger.debug("flow run %s: the event stream ended; polling instead", flow_run_id)
    return False


_TERMINAL_TYPES = frozenset(state.value for state in TERMINAL_STATES)


def _log_state(enabled: bool, name: str | None) -> None:
    if enabled:
        logger.info("Flow run is in state %r", name)


async def poll_until_final(
    client: PrefectClient, flow_run: FlowRun, interval: float, first: float | None = None
) -> FlowRun:
    """Read the run every `interval` seconds until it is final (the first delay `first`,
    doubling up to `interval`, when given)."""
    delay = interval if first is None else min(first, interval)
    while flow_run.state is None or not flow_run.state.is_final():
        await anyio.sleep(delay)
        delay = min(delay * 2, interval)
        flow_run = await client.read_flow_run(flow_run.id)
    return flow_run
