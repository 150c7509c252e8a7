"""The embedded server's event websockets refuse what Prefect's refuses."""

from __future__ import annotations

import httpx
import pytest
from httpx_ws import AsyncWebSocketSession, WebSocketDisconnect, aconnect_ws

from prefect_trio_client.events._inprocess import InProcessTransport
from prefect_trio_client.server import create_app

pytestmark = pytest.mark.anyio


async def closed_with(path: str, *messages: object) -> tuple[int, str]:
    """Send `messages` (after the subprotocol handshake) and return the close code."""
    transport = InProcessTransport(create_app(":memory:"))
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://test/api") as http,
        aconnect_ws(
            f"ws://test/api{path}",
            http,
            subprotocols=["prefect"],
            session_class=AsyncWebSocketSession,
        ) as ws,
    ):
        assert ws.subprotocol == "prefect"
        for message in messages:
            await ws.send_json(message)
        while True:
            try:
                await ws.receive_json()  # auth_success, if it came
            except WebSocketDisconnect as closed:
                return closed.code, closed.reason


async def test_the_first_message_must_be_auth() -> None:
    assert await closed_with("/events/in", {"type": "hello"}) == (
        1008,
        "Expected 'auth' message",
    )


async def test_events_out_wants_a_filter_after_auth() -> None:
    code, reason = await closed_with("/events/out", {"type": "auth", "token": None}, {"x": 1})
    assert (code, reason) == (1002, "Expected 'filter' message")


async def test_an_invalid_event_closes_the_socket() -> None:
    code, reason = await closed_with(
        "/events/in", {"type": "auth", "token": None}, {"event": "no resource"}
    )
    assert code == 1007
    assert reason.startswith("Invalid event")
