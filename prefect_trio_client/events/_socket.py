"""Opening an events websocket: where it is, the handshake, and errors made plain.

httpx-ws runs each session in a task group of its own, so an error leaving a session
block arrives as an `ExceptionGroup`. `run_socket` runs the caller's work inside the
session, lets the session close, and raises one plain error: `UpgradeRefused` when the
server (or a proxy) answered the upgrade with an HTTP status, `AuthenticationRefused`
when the handshake failed, `ConnectionLost` for everything the network does.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
import anyio.abc
import httpx
import wsproto.utilities
from httpx_ws import (
    AsyncWebSocketSession,
    HTTPXWSException,
    WebSocketDisconnect,
    WebSocketUpgradeError,
    aconnect_ws,
)

__all__ = [
    "AuthenticationRefused",
    "ConnectionLost",
    "Socket",
    "UpgradeRefused",
    "run_socket",
    "websocket_url",
]

T = TypeVar("T")

MAX_MESSAGE_BYTES = 16 * 1024 * 1024
"""The largest message a subscriber accepts (Prefect's events are at most 1.5 MB)."""
_POLICY_VIOLATION = 1008


class ConnectionLost(Exception):
    """The websocket could not be opened, or closed, or stopped answering."""


class UpgradeRefused(Exception):
    """The server answered the websocket upgrade with an HTTP status: a proxy or a server
    that does not serve websockets here. Retrying the same upgrade will not help."""

    def __init__(self, status_code: int) -> None:
        super().__init__(f"the websocket upgrade was answered with HTTP {status_code}")
        self.status_code = status_code


class AuthenticationRefused(Exception):
    """The server refused the ``auth`` message (a wrong or missing auth string)."""


def websocket_url(api_url: str | httpx.URL, path: str) -> str:
    """``ws://`` / ``wss://`` for the API at `api_url`, as Prefect derives it."""
    url = str(api_url).rstrip("/")
    if url.startswith("https://"):
        url = "wss://" + url.removeprefix("https://")
    elif url.startswith("http://"):
        url = "ws://" + url.removeprefix("http://")
    return url + path


class Socket:
    """A websocket session with the few operations the events clients need."""

    def __init__(self, session: AsyncWebSocketSession) -> None:
        self._session = session

    async def send_json(self, data: Any) -> None:
        await self._session.send_text(json.dumps(data, separators=(",", ":")))

    async def send_text(self, text: str) -> None:
        await self._session.send_text(text)

    async def receive_json(self) -> Any:
        return json.loads(await self._session.receive_text())

    async def confirm(self, timeout: float) -> None:
        """Ping and wait for the pong: every message sent before has been received.

        The socket is read meanwhile: httpx-ws wakes no pong waiter when its stream
        breaks (a reset seen by its reader on asyncio), so without the read a cut
        connection would cost the whole `timeout`. For sockets the server sends nothing
        on after the handshake (``/events/in``): a message read here is dropped.

        Raises:
            ConnectionLost: The connection ended, or no pong within `timeout` seconds.
        """
        pong = await self._session.ping()
        ended: list[Exception] = []

        async def watch(tasks: anyio.abc.TaskGroup) -> None:
            try:
                while True:
                    await self._session.receive()
            except Exception as exc:  # the stream's end, as httpx-ws reports it
                ended.append(exc)
            tasks.cancel_scope.cancel()

        with anyio.move_on_after(timeout):
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(watch, tasks)
                await pong.wait()
                tasks.cancel_scope.cancel()
        if pong.is_set():
            return
        if ended:
            raise ConnectionLost(f"the websocket ended before a ping's answer: {ended[0]!r}")
        raise ConnectionLost(f"no answer to a ping within {timeout:g} s")

    async def authenticate(self, token: str | None) -> None:
        """Prefect's handshake: ``{"type": "auth", "token": ...}``, then ``auth_success``.

        Raises:
            AuthenticationRefused: Any other answer, or a close for a policy violation.
        """
        await self.send_json({"type": "auth", "token": token})
        try:
            answer = await self.receive_json()
        except WebSocketDisconnect as exc:
            if exc.code == _POLICY_VIOLATION:
                raise AuthenticationRefused(
                    f"the server refused the events websocket's auth message: {exc.reason}"
                ) from None
            raise
        if not isinstance(answer, dict) or answer.get("type") != "auth_success":
            reason = answer.get("reason", "") if isinstance(answer, dict) else ""
            raise AuthenticationRefused(
                f"the server refused the events websocket's auth message: {reason}"
            )


_NETWORK_ERRORS = (
    HTTPXWSException,
    httpx.TransportError,
    OSError,
    TimeoutError,
    wsproto.utilities.LocalProtocolError,
    json.JSONDecodeError,
)


def _plain(exc: BaseException) -> BaseException:
    """One plain error for whatever left a session (groups included)."""
    inner = getattr(exc, "exceptions", None)  # an ExceptionGroup, on 3.10 too
    if inner:
        plain = [_plain(e) for e in inner]
        for kind in (UpgradeRefused, AuthenticationRefused):
            found = [e for e in plain if isinstance(e, kind)]
            if found:
                return found[0]
        others = [e for e in plain if not isinstance(e, ConnectionLost)]
        return others[0] if others else plain[0]
    if isinstance(exc, WebSocketUpgradeError):
        return UpgradeRefused(exc.response.status_code)
    if isinstance(exc, WebSocketDisconnect):
        return ConnectionLost(f"the server closed the websocket ({exc.code} {exc.reason})".strip())
    if isinstance(exc, _NETWORK_ERRORS):
        return ConnectionLost(f"{type(exc).__name__}: {exc}".rstrip(": "))
    return exc


async def run_socket(
    http: httpx.AsyncClient,
    url: str,
    work: Callable[[Socket], Awaitable[T]],
    *,
    token: str | None,
    handshake: bool = True,
) -> T:
    """Open the websocket at `url`, authenticate, run `work` on it, close it.

    Raises:
        UpgradeRefused: The upgrade was answered with an HTTP status.
        AuthenticationRefused: The handshake failed.
        ConnectionLost: The network failed, before or during `work`.
        Exception: Whatever else `work` raised, as it raised it.
    """
    failure: BaseException | None = None
    result: Any = None
    try:
        async with aconnect_ws(
            url,
            http,
            subprotocols=["prefect"],
            keepalive_ping_interval_seconds=None,
            max_message_size_bytes=MAX_MESSAGE_BYTES,
            session_class=AsyncWebSocketSession,
        ) as session:
            try:
                socket = Socket(session)
                if handshake:
                    await socket.authenticate(token)
                result = await work(socket)
            except Exception as exc:  # raised plain once the session has closed
                failure = exc
    except anyio.get_cancelled_exc_class():
        raise
    except BaseException as exc:
        plain = _plain(exc)
        if not isinstance(plain, Exception):
            raise
        if failure is None:
            failure = plain
    if failure is not None:
        raise _plain(failure) from None
    return result  # type: ignore[no-any-return]
