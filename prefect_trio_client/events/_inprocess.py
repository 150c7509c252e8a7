"""Websockets to an in-process ASGI app (the embedded server in ephemeral mode).

`InProcessTransport` is an httpx transport: plain requests go to the app through the
same lifespan-leased `httpx.ASGITransport` the orchestration client uses; a websocket
upgrade runs the app's websocket handler as a task of the transport's own task group
and answers 101 with a network stream that speaks websocket frames (wsproto) to the
client side (httpx-ws) and ASGI messages to the app.

Pings are answered here, as an ASGI server's protocol layer answers them, with one
guarantee more: a ping is answered only when the app asks for the message after it, so
a pong means the app has handled every message sent before the ping (the events
websocket stores each event before it reads the next). That is what an events client's
checkpoint relies on.
"""

from __future__ import annotations

import logging
import math
from collections.abc import MutableMapping
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.abc
import httpcore
import httpx
import wsproto
import wsproto.connection
import wsproto.events

from prefect_trio_client.lifespan import ASGIApp
from prefect_trio_client.orchestration._ephemeral import LeasedASGITransport

__all__ = ["InProcessTransport"]

logger = logging.getLogger("prefect_trio_client.events")

Message = dict[str, Any]
_ABNORMAL_CLOSURE = 1006


@dataclass
class _Pong:
    """A ping's answer, waiting in line behind the messages sent before it."""

    data: bytes


class _AppStream(httpcore.AsyncNetworkStream):
    """One websocket between the client's frames and the app's ASGI messages."""

    def __init__(self) -> None:
        self._frames = wsproto.connection.Connection(wsproto.ConnectionType.SERVER)
        # to the app: received messages and pongs in order (0: a write waits for the app)
        self._to_app, self._app_inbox = anyio.create_memory_object_stream[Message | _Pong](0)
        # from the app: handshake and messages, never blocking the app
        self._app_outbox, self._from_app = anyio.create_memory_object_stream[Message | _Pong](
            math.inf
        )
        self._partial: list[str | bytes] = []
        self._connected = False
        self._abandoned = False

    # ------------------------------------------------------------------ the app's side

    async def run(self, app: ASGIApp, scope: Message) -> None:
        try:
            if not self._abandoned:
                await app(scope, self._app_receive, self._app_send)
        except Exception:
            logger.exception("the in-process websocket handler failed")
        finally:
            self.abandon()

    def abandon(self) -> None:
        """Close the app's ends: also when `run` never started (a task cancelled before
        its first step never runs its ``finally`` under asyncio)."""
        self._abandoned = True
        self._app_outbox.close()
        self._app_inbox.close()

    async def _app_receive(self) -> Message:
        if not self._connected:
            self._connected = True
            return {"type": "websocket.connect"}
        while True:
            try:
                item = await self._app_inbox.receive()
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                return {"type": "websocket.disconnect", "code": _ABNORMAL_CLOSURE}
            if isinstance(item, _Pong):
                self._out(item)  # every earlier message has been handled
                continue
            return item

    async def _app_send(self, message: MutableMapping[str, Any]) -> None:
        try:
            self._app_outbox.send_nowait(dict(message))
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            raise OSError("the websocket client is gone") from None

    def _out(self, item: Message | _Pong) -> None:
        with suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
            self._app_outbox.send_nowait(item)

    async def handshake(self) -> Message | None:
        """The app's first message (accept, close or a denial), None if it ended first."""
        try:
            first = await self._from_app.receive()
        except anyio.EndOfStream:
            return None
        assert isinstance(first, dict)
        return first

    async def denial_body(self) -> bytes:
        body = b""
        while True:
            try:
                message = await self._from_app.receive()
            except anyio.EndOfStream:
                return body
            assert isinstance(message, dict)
            body += bytes(message.get("body", b""))
            if not message.get("more_body", False):
                return body

    # ------------------------------------------------------------------ the client's side

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            item = await self._from_app.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            return b""
        if isinstance(item, _Pong):
            return item.data
        if item["type"] == "websocket.send":
            if self._frames.state is not wsproto.connection.ConnectionState.OPEN:
                return b""  # the client is closing: nothing more reaches it
            if item.get("text") is not None:
                return self._frames.send(wsproto.events.TextMessage(data=item["text"]))
            return self._frames.send(wsproto.events.BytesMessage(data=item.get("bytes") or b""))
        if item["type"] == "websocket.close":
            code, reason = item.get("code", 1000), item.get("reason") or ""
            if self._frames.state is wsproto.connection.ConnectionState.OPEN:
                return self._frames.send(wsproto.events.CloseConnection(code, reason))
            return b""
        return await self.read(max_bytes, timeout)  # nothing the client needs to see

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        try:
            self._frames.receive_data(buffer)
            for event in self._frames.events():
                await self._handle(event)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
            raise httpcore.WriteError("the in-process websocket is closed") from exc

    async def _handle(self, event: wsproto.events.Event) -> None:
        if isinstance(event, wsproto.events.Message):
            self._partial.append(event.data)
            if not event.message_finished:
                return
            parts, self._partial = self._partial, []
            if isinstance(event, wsproto.events.TextMessage):
                text = "".join(p for p in parts if isinstance(p, str))
                await self._to_app.send({"type": "websocket.receive", "text": text})
            else:
                data = b"".join(p for p in parts if isinstance(p, bytes))
                await self._to_app.send({"type": "websocket.receive", "bytes": data})
        elif isinstance(event, wsproto.events.Ping):
            await self._to_app.send(_Pong(self._frames.send(event.response())))
        elif isinstance(event, wsproto.events.CloseConnection):
            # never wait for an app that is not reading: it sees the end of the stream
            with suppress(anyio.WouldBlock):
                self._to_app.send_nowait({"type": "websocket.disconnect", "code": event.code})
            self._to_app.close()

    async def aclose(self) -> None:
        self._to_app.close()
        self._from_app.close()

    async def start_tls(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        raise RuntimeError("an in-process websocket has no TLS")

    def get_extra_info(self, info: str) -> Any:
        return None


class InProcessTransport(LeasedASGITransport):
    """The orchestration client's in-process transport (a lifespan lease while open),
    which also opens websockets: each one's handler runs in this transport's task group.

    Args:
        app: The ASGI app.
    """

    def __init__(self, app: ASGIApp) -> None:
        super().__init__(app)
        self._tasks: anyio.abc.TaskGroup | None = None

    async def __aenter__(self) -> InProcessTransport:
        await super().__aenter__()
        try:
            tasks = anyio.create_task_group()
            await tasks.__aenter__()
        except BaseException:
            await super().aclose()
            raise
        self._tasks = tasks
        return self

    async def aclose(self) -> None:
        tasks, self._tasks = self._tasks, None
        try:
            if tasks is not None:
                tasks.cancel_scope.cancel()  # handlers of sockets nobody reads any more
                await tasks.__aexit__(None, None, None)
        finally:
            await super().aclose()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("upgrade", "").lower() != "websocket":
            return await super().handle_async_request(request)
        if self._inner is None or self._tasks is None:
            raise RuntimeError("open the client first: the embedded server is not leased")
        stream = _AppStream()
        self._tasks.start_soon(stream.run, self._inner.app, _scope(request))
        try:
            first = await stream.handshake()
        except BaseException:  # cancelled while the app was still deciding
            stream.abandon()
            await stream.aclose()
            raise
        if first is None:
            return httpx.Response(500, request=request)
        if first["type"] == "websocket.accept":
            headers = [(k.decode(), v.decode()) for k, v in first.get("headers") or []]
            if first.get("subprotocol"):
                headers.append(("sec-websocket-protocol", first["subprotocol"]))
            return httpx.Response(
                101, headers=headers, request=request, extensions={"network_stream": stream}
            )
        try:
            if first["type"] == "websocket.http.response.start":
                headers = [(k.decode(), v.decode()) for k, v in first.get("headers") or []]
                body = await stream.denial_body()
                return httpx.Response(first["status"], headers=headers, content=body)
            return httpx.Response(403, request=request)  # closed before accepting (uvicorn's)
        finally:
            await stream.aclose()


def _scope(request: httpx.Request) -> Message:
    url = request.url
    subprotocols = [
        p.strip() for p in request.headers.get("sec-websocket-protocol", "").split(",") if p.strip()
    ]
    return {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "scheme": "wss" if url.scheme in ("https", "wss") else "ws",
        "path": url.path,
        "raw_path": url.raw_path.split(b"?", 1)[0],
        "root_path": "",
        "query_string": url.query,
        "headers": [(k.lower(), v) for k, v in request.headers.raw],
        "client": ("127.0.0.1", 123),
        "server": (url.host, url.port or (443 if url.scheme in ("https", "wss") else 80)),
        "subprotocols": subprotocols,
        "extensions": {"websocket.http.response": {}},
    }
