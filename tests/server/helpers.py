"""Helpers for the server tests: run an app's lifespan, a fake clock, sample shapes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import anyio
import httpx
from starlette.types import ASGIApp, Message

SAMPLES_FILE = Path(__file__).parent.parent / "data" / "prefect-api-samples.json"


def samples() -> dict[str, Any]:
    """Every captured exchange, endpoints and extra examples together."""
    data = json.loads(SAMPLES_FILE.read_text())
    return {**data["endpoints"], **data["extra_examples"]}


class LifespanFailed(RuntimeError):
    """The app answered ``lifespan.startup.failed``."""


@asynccontextmanager
async def lifespan(app: ASGIApp) -> AsyncIterator[None]:
    """Run `app`'s ASGI lifespan around the body: startup before, shutdown after.

    Raises:
        LifespanFailed: The app reported ``lifespan.startup.failed`` (an ASGI app may
            also raise after that message, as servers expect; that error is the cause).
    """
    to_app, app_inbox = anyio.create_memory_object_stream[Message](4)
    app_outbox, from_app = anyio.create_memory_object_stream[Message](4)
    crashed: list[Exception] = []

    async def receive() -> Message:
        return await app_inbox.receive()

    async def send(message: Message) -> None:
        await app_outbox.send(message)

    async def run_app() -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        try:
            await app(scope, receive, send)
        except Exception as exc:
            crashed.append(exc)
            await app_outbox.send({"type": "lifespan.crashed"})

    failure: str | None = None
    async with anyio.create_task_group() as group, to_app, from_app, app_inbox, app_outbox:
        group.start_soon(run_app)
        await to_app.send({"type": "lifespan.startup"})
        started = await from_app.receive()
        if started["type"] == "lifespan.startup.complete":
            try:
                yield
            finally:
                with anyio.CancelScope(shield=True):
                    await to_app.send({"type": "lifespan.shutdown"})
                    stopped = await from_app.receive()
                assert stopped["type"] == "lifespan.shutdown.complete", (stopped, crashed)
        else:
            failure = str(started.get("message", ""))
            group.cancel_scope.cancel()
    if failure is not None:
        raise LifespanFailed(failure) from (crashed[0] if crashed else None)


@asynccontextmanager
async def serve(app: ASGIApp, **headers: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the running `app`, through ``httpx.ASGITransport``, based at ``/api``."""
    async with (
        lifespan(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app), base_url="http://server/api", headers=headers
        ) as client,
    ):
        yield client


class FakeClock:
    """A wall clock that moves only when told to (the server reads it per transaction)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2030, 1, 1, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


FREE_FORM = frozenset(
    {
        "parameters",
        "context",
        "labels",
        "job_variables",
        "value",
        "data",
        "base_job_template",
        "parameter_openapi_schema",
        "task_inputs",
        "metadata_",
    }
)
"""Fields holding users' data, whose keys are not part of the API's shape."""


def assert_keys_like(ours: Any, theirs: Any, where: str = "body") -> None:
    """Every key of Prefect's response is in ours, recursively (lists: first items;
    users' data such as parameters is not compared)."""
    if isinstance(theirs, Mapping) and "__first_item__" in theirs:
        theirs = [theirs["__first_item__"]]
    if isinstance(theirs, Mapping):
        assert isinstance(ours, Mapping), f"{where}: {ours!r} is not an object"
        missing = set(theirs) - set(ours)
        assert not missing, f"{where}: missing {sorted(missing)}"
        for key, value in theirs.items():
            if key in FREE_FORM:
                continue
            if isinstance(value, (Mapping, list)) and ours[key] is not None and value:
                assert_keys_like(ours[key], value, f"{where}.{key}")
    elif isinstance(theirs, list) and theirs and isinstance(theirs[0], Mapping):
        assert isinstance(ours, list), f"{where}: {ours!r} is not a list"
        assert ours, f"{where}: empty, Prefect's has items"
        assert_keys_like(ours[0], theirs[0], f"{where}[0]")
