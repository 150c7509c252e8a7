"""`emit_event` and `get_events_client`: Prefect's names and parameters."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from uuid import UUID

from prefect_trio_client.events._client import EventsClient, current_events_client
from prefect_trio_client.events._subscriber import EventSubscriber
from prefect_trio_client.events._target import events_target
from prefect_trio_client.exceptions import EventTooLarge
from prefect_trio_client.lifespan import ASGIApp
from prefect_trio_client.schemas.events import Event, EventFilter, RelatedResource
from prefect_trio_client.settings import ClientSettings

__all__ = [
    "MAXIMUM_EVENT_SIZE_BYTES",
    "TIGHT_TIMING",
    "emit_event",
    "get_events_client",
    "get_events_subscriber",
]

TIGHT_TIMING = timedelta(minutes=5)
"""`follows` is only set when the earlier event is this close (Prefect's rule)."""
MAXIMUM_EVENT_SIZE_BYTES = 1_500_000
"""Prefect's ``PREFECT_SERVER_EVENTS_MAXIMUM_SIZE_BYTES`` default."""


def get_events_client(
    api: str | ASGIApp | None = None,
    *,
    checkpoint_every: int = 700,
    checkpoint_interval: float = 30.0,
    settings: ClientSettings | None = None,
    httpx_settings: dict[str, Any] | None = None,
    **options: Any,
) -> EventsClient:
    """An events client for the API the ``PREFECT_*`` settings describe (or `api`), not
    yet opened: use it as ``async with get_events_client() as client:``. Inside the
    block, `emit_event` sends through it.

    Args:
        api: A URL or an in-process ASGI app instead of the settings' API.
        checkpoint_every: Confirm delivery after this many events.
        checkpoint_interval: Confirm delivery at least this often (seconds).
        settings: Settings to use instead of reading the environment.
        httpx_settings: Extra keyword arguments for the HTTP clients.
        **options: The other `EventsClient` options (buffer size, timeouts, backoff).

    Raises:
        SettingsError: No API is configured and ephemeral mode is off.
    """
    target = events_target(api, settings=settings, httpx_settings=httpx_settings)
    return EventsClient(
        target,
        checkpoint_every=checkpoint_every,
        checkpoint_interval=checkpoint_interval,
        **options,
    )


def get_events_subscriber(
    filter: EventFilter | None = None,
    reconnection_attempts: int = 10,
    reconnect_on_clean_close: bool = False,
    *,
    api: str | ASGIApp | None = None,
    settings: ClientSettings | None = None,
    httpx_settings: dict[str, Any] | None = None,
    **options: Any,
) -> EventSubscriber:
    """A subscription to the events matching `filter` (Prefect's parameters), not yet
    opened: ``async with get_events_subscriber(filter) as events: async for event in
    events: ...``.

    Args:
        filter: Which events (default: all).
        reconnection_attempts: Failed connections in a row before the iterator raises
            `EventStreamError`.
        reconnect_on_clean_close: Reconnect after a normal close instead of ending.
        api: A URL or an in-process ASGI app instead of the settings' API.
        settings: Settings to use instead of reading the environment.
        httpx_settings: Extra keyword arguments for the HTTP client.
        **options: The other `EventSubscriber` options (queue size, backoff).

    Raises:
        SettingsError: No API is configured and ephemeral mode is off.
    """
    target = events_target(api, settings=settings, httpx_settings=httpx_settings)
    return EventSubscriber(
        target,
        filter,
        reconnection_attempts=reconnection_attempts,
        reconnect_on_clean_close=reconnect_on_clean_close,
        **options,
    )


def emit_event(
    event: str,
    resource: dict[str, str],
    occurred: datetime | None = None,
    related: list[dict[str, str]] | list[RelatedResource] | None = None,
    payload: dict[str, Any] | None = None,
    id: UUID | None = None,
    follows: Event | None = None,
    **kwargs: Any,
) -> Event | None:
    """Send an event to Prefect, as ``prefect.events.emit_event`` does; never waits.

    It goes through the events client open here (``async with get_events_client():``).

    Args:
        event: The name of what happened.
        resource: The resource it happened to (``prefect.resource.id`` and labels).
        occurred: When it happened (default: now, UTC).
        related: Other resources involved, each with a ``prefect.resource.role``.
        payload: Anything else about it (JSON).
        id: The event's id (default: a new time-ordered UUID).
        follows: An earlier event this one is known to follow; used only when it
            occurred within five minutes of this one.
        **kwargs: Further `Event` fields.

    Returns:
        The event, or None when the client's buffer was full and it was dropped.

    Raises:
        RuntimeError: No events client is open here; the message says what to open.
        EventTooLarge: The event's JSON is larger than a Prefect server accepts.
        pydantic.ValidationError: A resource without an id, a related resource without
            a role, or another malformed field.
    """
    client = current_events_client()
    if client is None:
        raise RuntimeError(
            "emit_event() needs an open events client: wrap the code that emits in"
            " `async with get_events_client():` (from prefect_trio_client.events)"
        )
    fields: dict[str, Any] = {"event": event, "resource": resource, **kwargs}
    when = occurred if occurred is not None else datetime.now(timezone.utc)
    fields["occurred"] = when
    if related is not None:
        fields["related"] = related
    if payload is not None:
        fields["payload"] = payload
    if id is not None:
        fields["id"] = id
    if follows is not None and -TIGHT_TIMING < when - follows.occurred < TIGHT_TIMING:
        fields["follows"] = follows.id
    built = Event.model_validate(fields)
    size = len(built.model_dump_json().encode())
    if size > MAXIMUM_EVENT_SIZE_BYTES:
        raise EventTooLarge(size, MAXIMUM_EVENT_SIZE_BYTES)
    return built if client.emit_nowait(built) else None
