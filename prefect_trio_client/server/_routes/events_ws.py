"""The event websockets, with Prefect 3.9's protocol.

- Both sockets accept the ``prefect`` subprotocol; with it, the first message must be
  ``{"type": "auth", "token": ...}``, answered ``{"type": "auth_success"}`` (this server
  has no auth string, so any token is accepted, as Prefect's server without one does).
  A client without the subprotocol is served without the handshake (Prefect's legacy mode).
- ``/events/in``: each text message is one event; it is stored (an id already stored is
  skipped) before the next message is read. Delivery is confirmed by websocket pings,
  which the protocol layer answers (the ASGI server, or the in-process transport, which
  answers a ping only once the app has asked for the message after it).
- ``/events/out``: after the handshake, ``{"type": "filter", "filter": ..., "backfill":
  true}``; then the stored events that match (at most 15 minutes back, oldest first),
  then each new match as it is stored, as ``{"type": "event", "event": ...}``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import anyio
from pydantic import ValidationError
from starlette.routing import BaseRoute, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from prefect_trio_client.schemas.events import EventFilter, EventOccurredFilter, EventOrder
from prefect_trio_client.server._db import DatabaseNotOpen, Doc
from prefect_trio_client.server._events import live_predicate, matching, store_events
from prefect_trio_client.server._http import api_of
from prefect_trio_client.server._routes.events import PostedEvent

__all__ = ["ROUTES"]

MAXIMUM_BACKFILL = timedelta(minutes=15)
"""Prefect's ``PREFECT_SERVER_EVENTS_MAXIMUM_WEBSOCKET_BACKFILL`` default."""
_PROTOCOL_ERROR = 1002
_POLICY_VIOLATION = 1008
_INVALID_DATA = 1007
_TRY_AGAIN_LATER = 1013


async def accept_prefect_socket(websocket: WebSocket) -> bool:
    """Accept, and run the auth handshake when the client speaks the ``prefect``
    subprotocol; False when the socket was closed instead."""
    if "prefect" not in websocket.scope.get("subprotocols", []):
        await websocket.accept()
        return True
    await websocket.accept(subprotocol="prefect")
    message = await websocket.receive_json()
    if not isinstance(message, dict) or message.get("type") != "auth":
        await websocket.close(_POLICY_VIOLATION, reason="Expected 'auth' message")
        return False
    await websocket.send_json({"type": "auth_success"})
    return True


async def events_in(websocket: WebSocket) -> None:
    api = api_of(websocket)
    try:
        if not await accept_prefect_socket(websocket):
            return
        while True:  # (not iter_text: an async generator left early warns under trio)
            text = await websocket.receive_text()
            try:
                doc = PostedEvent.model_validate_json(text).model_dump(mode="json")
            except ValidationError as exc:
                reason = f"Invalid event: {exc.errors()[0]['msg']}"[:120]
                await websocket.close(_INVALID_DATA, reason=reason)
                return
            await api.transact(lambda tx, doc=doc: store_events(tx, [doc]))  # type: ignore[misc]
    except WebSocketDisconnect:
        pass  # the client left, normally or not
    except DatabaseNotOpen:
        await websocket.close(_TRY_AGAIN_LATER, reason="the API's database is not open")


def _subscription_filter(message: Any, now: Any) -> EventFilter:
    """The filter of a ``filter`` message, oldest first, its start clamped to the
    backfill limit."""
    model = EventFilter.model_validate(message["filter"])
    given = model.occurred.model_fields_set
    earliest = now - MAXIMUM_BACKFILL
    bounds: dict[str, Any] = {"since": max(model.occurred.since, earliest)}
    if "until" in given:
        bounds["until"] = model.occurred.until
    return model.model_copy(
        update={"occurred": EventOccurredFilter(**bounds), "order": EventOrder.ASC}
    )


async def events_out(websocket: WebSocket) -> None:
    api = api_of(websocket)
    try:
        if not await accept_prefect_socket(websocket):
            return
        message = await websocket.receive_json()
        if not isinstance(message, dict) or message.get("type") != "filter":
            await websocket.close(_PROTOCOL_ERROR, reason="Expected 'filter' message")
            return
        try:
            model = _subscription_filter(message, api.clock())
        except (ValidationError, KeyError, TypeError) as exc:
            await websocket.close(_PROTOCOL_ERROR, reason=f"Invalid filter: {exc}"[:120])
            return
        # subscribe first, then backfill, so no event falls between the two
        with api.events.subscribe() as live:
            backfilled: set[str] = set()
            if message.get("backfill", True):
                for doc in await api.database.read(lambda tx: matching(tx, model)):
                    backfilled.add(doc["id"])
                    await _send_event(websocket, doc)
            matches = live_predicate(model)
            gone = anyio.Event()
            async with anyio.create_task_group() as tg:
                tg.start_soon(_cancel_on_disconnect, websocket, tg.cancel_scope, gone)
                async for doc in live:
                    if doc["id"] in backfilled:
                        backfilled.discard(doc["id"])
                    elif matches(doc):
                        await _send_event(websocket, doc)
                tg.cancel_scope.cancel()
        if not gone.is_set():  # the stream ended: this subscriber fell too far behind
            await websocket.close(_TRY_AGAIN_LATER, reason="subscriber too slow")
    except WebSocketDisconnect:
        pass
    except DatabaseNotOpen:
        await websocket.close(_TRY_AGAIN_LATER, reason="the API's database is not open")


async def _send_event(websocket: WebSocket, doc: Doc) -> None:
    await websocket.send_json({"type": "event", "event": doc})


async def _cancel_on_disconnect(
    websocket: WebSocket, scope: anyio.CancelScope, gone: anyio.Event
) -> None:
    """Stop streaming once the client is gone (it sends nothing after the filter)."""
    try:
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass
    except (WebSocketDisconnect, RuntimeError):
        pass
    gone.set()
    scope.cancel()


ROUTES: list[BaseRoute] = [
    WebSocketRoute("/events/in", events_in),
    WebSocketRoute("/events/out", events_out),
]
