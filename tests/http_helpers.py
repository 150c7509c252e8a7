"""Scripted servers for the HTTP client tests, built on `httpx.MockTransport`."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone

import anyio
import anyio.lowlevel
import httpx

Step = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


class Script:
    """Answers each request with the next step: a response, an exception to raise, or a
    callable. The last step repeats forever. Records every request it saw."""

    def __init__(self, steps: Iterable[Step]) -> None:
        self.steps = list(steps)
        self.requests: list[httpx.Request] = []
        # Copies, because a re-sent request is the same object with new headers.
        self.headers: list[httpx.Headers] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        index = min(len(self.requests), len(self.steps) - 1)
        self.requests.append(request)
        self.headers.append(httpx.Headers(request.headers))
        step = self.steps[index]
        if isinstance(step, Exception):
            raise step
        if isinstance(step, httpx.Response):
            # A fresh copy each time: a response object can only be streamed once.
            return httpx.Response(step.status_code, headers=step.headers, content=step.content)
        return step(request)

    @property
    def calls(self) -> int:
        return len(self.requests)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


def ok(json: object = None) -> httpx.Response:
    return httpx.Response(200, json={"ok": True} if json is None else json)


def status(code: int, **headers: str) -> httpx.Response:
    return httpx.Response(
        code, headers={k.replace("_", "-"): v for k, v in headers.items()}, json={"detail": "no"}
    )


class CsrfServer:
    """A Prefect-like server with CSRF protection that rotates a client's token on every
    fetch, so concurrent fetches for one client id invalidate each other's tokens."""

    def __init__(self, *, lifetime: float = 3600.0, fetch_checkpoints: int = 3) -> None:
        self.tokens: dict[str, str] = {}
        self.fetches = 0
        self.lifetime = lifetime
        self.fetch_checkpoints = fetch_checkpoints
        self.accepted: list[httpx.Request] = []
        self.rejected: list[httpx.Request] = []
        self.reject_all = False

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/csrf-token"):
            for _ in range(self.fetch_checkpoints):  # let other tasks run mid-fetch
                await anyio.lowlevel.checkpoint()
        return self.handle(request)

    def handle(self, request: httpx.Request) -> httpx.Response:
        """The synchronous core, for `httpx.Client` (``MockTransport(server.handle)``)."""
        if request.url.path.endswith("/csrf-token"):
            client = request.url.params["client"]
            self.fetches += 1
            token = uuid.uuid4().hex
            self.tokens[client] = token
            expiration = datetime.now(timezone.utc) + timedelta(seconds=self.lifetime)
            return httpx.Response(
                200,
                json={
                    "id": str(uuid.uuid4()),
                    "created": "2026-11-22T01:41:17.839619Z",
                    "updated": "2026-11-22T01:41:17.839691Z",
                    "token": token,
                    "client": client,
                    "expiration": expiration.isoformat().replace("+00:00", "Z"),
                },
            )
        if request.method in ("POST", "PUT", "PATCH", "DELETE"):
            token = request.headers.get("Prefect-Csrf-Token")
            client = request.headers.get("Prefect-Csrf-Client")
            if token is None or client is None:
                self.rejected.append(request)
                return httpx.Response(403, json={"detail": "Missing CSRF token."})
            if self.reject_all or self.tokens.get(client) != token:
                self.rejected.append(request)
                return httpx.Response(
                    403, json={"detail": "Invalid CSRF token or client identifier."}
                )
        self.accepted.append(request)
        return httpx.Response(200, json={"ok": True})

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    def sync_transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)


class FakeTimer:
    """The sync client's clock and sleep on virtual time: sleeping advances `now`."""

    def __init__(self) -> None:
        self.now_value = 0.0
        self.slept: list[float] = []

    def now(self) -> float:
        return self.now_value

    def wait(self, delay: float, interrupt: threading.Event) -> bool:
        if interrupt.is_set():
            return True
        self.slept.append(delay)
        self.now_value += delay
        return False
