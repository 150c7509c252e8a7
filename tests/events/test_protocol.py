"""What goes over the events websocket, seen by a recording server (pure async, so on
virtual time): Prefect's auth message and headers, events as JSON text, checkpoints
after K events or T seconds; and no secret in reprs or logs."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import anyio
import pytest

from prefect_trio_client.events import EventsClient
from prefect_trio_client.events._target import events_target
from tests.events.helpers import Message, Receive, Scope, Send, event

pytestmark = [pytest.mark.anyio, pytest.mark.virtual_time]


class RecordingServer:
    """Accepts ``/events/in`` with the prefect subprotocol, answers the auth message,
    and records everything it receives."""

    def __init__(self) -> None:
        self.headers: dict[str, str] = {}
        self.messages: list[Any] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            message: Message = await receive()
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        assert scope["type"] == "websocket"
        self.headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        await receive()  # websocket.connect
        await send({"type": "websocket.accept", "subprotocol": "prefect"})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            self.messages.append(json.loads(message["text"]))
            if len(self.messages) == 1:
                await send({"type": "websocket.send", "text": '{"type": "auth_success"}'})


async def test_the_auth_message_comes_first_and_secrets_stay_out_of_sight(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    server = RecordingServer()
    target = events_target(server, auth_string="user:s3cret-pass")
    async with EventsClient(target) as client:
        sent = event("test.auth")
        client.emit_nowait(sent)
    assert server.messages[0] == {"type": "auth", "token": "user:s3cret-pass"}
    assert server.messages[1]["id"] == str(sent.id)
    assert server.headers["sec-websocket-protocol"] == "prefect"
    basic = base64.b64encode(b"user:s3cret-pass").decode()
    assert server.headers["authorization"] == f"Basic {basic}"
    assert "s3cret" not in repr(client) + repr(target) + caplog.text


async def test_delivery_is_confirmed_after_k_events_or_t_seconds() -> None:
    server = RecordingServer()
    target = events_target(server)
    async with EventsClient(target, checkpoint_every=3, checkpoint_interval=30) as client:
        for i in range(4):
            client.emit_nowait(event("test.checkpoint", i))
        await anyio.sleep(1)
        assert (client.delivered, client.pending) == (3, 1)  # the 3rd event's ping
        await anyio.sleep(28)
        assert client.delivered == 3
        await anyio.sleep(2)
        assert (client.delivered, client.pending) == (4, 0)  # the interval's ping
    assert [m["payload"] for m in server.messages[1:]] == [{}] * 4
