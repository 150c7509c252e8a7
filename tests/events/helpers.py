"""ASGI wrappers that misbehave the way proxies and networks do."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import anyio

from prefect_trio_client.schemas.events import Event, Resource

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


class _Dropped(Exception):
    """The wrapper cut the connection here."""


class RefuseWebsockets:
    """A proxy that answers every websocket upgrade with an HTTP status; set `status` to
    None to let them through again (a proxy fixed)."""

    def __init__(self, app: App, status: int | None = 403) -> None:
        self.app = app
        self.status = status
        self.refused = 0
        self.accepted = 0
        self._changed = anyio.Event()

    async def until(self, *, refused: int = 0, accepted: int = 0) -> None:
        """Wait until at least that many upgrades were refused and let through."""
        while self.refused < refused or self.accepted < accepted:
            await self._changed.wait()

    def _count(self, refused: bool) -> None:
        if refused:
            self.refused += 1
        else:
            self.accepted += 1
        self._changed.set()
        self._changed = anyio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        self._count(refused=self.status is not None)
        if self.status is None:
            await self.app(scope, receive, send)
            return
        await receive()  # websocket.connect
        await send({"type": "websocket.http.response.start", "status": self.status, "headers": []})
        await send({"type": "websocket.http.response.body", "body": b"no websockets here"})


class CutWebsockets:
    """A proxy that cuts the first `cuts` websockets at `path` after `after` messages in
    the given direction ("in": from the client, "out": to the client)."""

    def __init__(self, app: App, *, path: str, direction: str, after: int, cuts: int = 1) -> None:
        self.app = app
        self.path = path
        self.direction = direction
        self.after = after
        self.cuts_left = cuts
        self.cut = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket" or not scope["path"].endswith(self.path):
            await self.app(scope, receive, send)
            return
        if self.cuts_left <= 0:
            await self.app(scope, receive, send)
            return
        self.cuts_left -= 1
        seen = 0

        async def counted_receive() -> Message:
            nonlocal seen
            message = await receive()
            if self.direction == "in" and message["type"] == "websocket.receive":
                seen += 1
                if seen > self.after:
                    raise _Dropped
            return message

        async def counted_send(message: Message) -> None:
            nonlocal seen
            if self.direction == "out" and message["type"] == "websocket.send":
                seen += 1
                if seen > self.after:
                    raise _Dropped
            await send(message)

        try:
            await self.app(scope, counted_receive, counted_send)
        except _Dropped:
            self.cut += 1  # end the connection without a close frame


def event(name: str, i: int = 0) -> Event:
    return Event(event=name, resource=Resource({"prefect.resource.id": f"test.thing.{i}"}))
