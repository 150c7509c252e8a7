"""The shared events client of the run trees lingers (issue 15): held from each tree's
start, kept open `LINGER` seconds after the last tree out, then closed with a flush; the
loop's end closes it too. With a fake events client, on virtual time, both backends."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import anyio
import pytest

from prefect_trio_client.lifespan import open_lifespan_service
from prefect_trio_client.runs import _tree_events
from prefect_trio_client.runs._tree_events import (
    LINGER,
    TreeEvents,
    events_app_of,
    shared_events,
)

pytestmark = [pytest.mark.anyio, pytest.mark.virtual_time]

FLUSH = 0.25  # virtual seconds a confirmation takes


class FakeEvents:
    """An events client that records what it delivered and when it was opened/closed."""

    def __init__(self, opened: list[FakeEvents]) -> None:
        self._opened = opened
        self.pending: list[str] = []
        self.delivered: list[str] = []
        self.opened_at = self.closed_at = -1.0

    async def __aenter__(self) -> FakeEvents:
        self._opened.append(self)
        self.opened_at = anyio.current_time()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.flush()
        self.closed_at = anyio.current_time()

    async def events_endpoint(self) -> bool:
        return True

    def emit_nowait(self, event: str) -> None:
        assert self.closed_at < 0, "emitted after close"
        self.pending.append(event)

    async def flush(self) -> None:
        if self.pending:
            await anyio.sleep(FLUSH)
            self.delivered += self.pending
            self.pending = []


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[FakeEvents]:
    made: list[FakeEvents] = []

    def fake(target: Any, **options: Any) -> FakeEvents:
        return FakeEvents(made)

    monkeypatch.setattr("prefect_trio_client.events._client.EventsClient", fake)
    monkeypatch.setattr("prefect_trio_client.events._target.events_target_of", lambda c: None)
    return made


class Client:
    """What the run trees read of a client: its identity (the sharing key), whether it
    serves the API in-process, and the reporting setting."""

    def __init__(self, app: object = None) -> None:
        self._app = app
        self._settings = SimpleNamespace(client_task_run_reporting="events")


async def tree(client: Client, index: int, emitted: list[str]) -> None:
    async with shared_events(client) as events:  # type: ignore[arg-type]
        assert events is not None
        await anyio.sleep(index * 0.3)  # staggered task runs
        name = f"task {index}"
        events.emit_nowait(name)  # type: ignore[arg-type]
        emitted.append(name)
        await anyio.sleep(1)


async def test_staggered_runs_open_one_client_that_closes_a_linger_after_the_last(
    opened: list[FakeEvents],
) -> None:
    client, emitted = Client(), list[str]()
    async with anyio.create_task_group() as group:
        for index in range(20):
            group.start_soon(tree, client, index, emitted)
            await anyio.sleep(0.2)  # runs start one by one, and end one by one
    [events] = opened
    last_out = anyio.current_time()
    assert events.delivered == emitted  # the last out waited for the confirmation
    assert events.closed_at < 0  # but the client stays open
    app = events_app_of(client)  # type: ignore[arg-type]
    assert app is not None
    await app.closed.wait()
    assert events.closed_at == pytest.approx(last_out + LINGER)
    assert events_app_of(client) is None  # type: ignore[arg-type]


async def test_a_run_during_the_linger_reuses_the_client_and_its_events_are_delivered(
    opened: list[FakeEvents],
) -> None:
    client, emitted = Client(), list[str]()
    await tree(client, 0, emitted)
    await anyio.sleep(LINGER / 2)
    await tree(client, 1, emitted)  # joins the lingering client
    [events] = opened
    assert events.delivered == ["task 0", "task 1"]
    last_out = anyio.current_time()
    app = events_app_of(client)  # type: ignore[arg-type]
    assert app is not None
    await app.closed.wait()
    assert events.closed_at == pytest.approx(last_out + LINGER)  # the linger started again
    await tree(client, 2, emitted)  # after it: a new client
    assert len(opened) == 2


async def test_events_emitted_while_it_lingers_are_delivered_when_it_closes(
    opened: list[FakeEvents],
) -> None:
    client, emitted = Client(), list[str]()
    await tree(client, 0, emitted)
    [events] = opened
    events.emit_nowait("late")  # e.g. emit_event after the flow returned
    app = events_app_of(client)  # type: ignore[arg-type]
    assert app is not None
    await app.closed.wait()
    assert events.delivered == ["task 0", "late"]


async def test_cancelling_the_service_while_it_lingers_closes_it_with_a_flush(
    opened: list[FakeEvents],
) -> None:
    client, emitted = Client(), list[str]()
    with anyio.CancelScope() as scope:
        async with open_lifespan_service():
            await tree(client, 0, emitted)
            opened[0].emit_nowait("late")
            scope.cancel()
            await anyio.sleep(LINGER * 10)
    [events] = opened
    assert scope.cancelled_caught
    assert events.delivered == ["task 0", "late"]  # closed with a flush, not lost
    assert events.closed_at == pytest.approx(anyio.current_time())
    assert anyio.current_time() < LINGER + 2  # closed at once, not after the linger


async def test_a_run_cancelled_as_the_last_out_still_waits_for_its_events(
    opened: list[FakeEvents],
) -> None:
    client = Client()
    with anyio.CancelScope() as scope:
        async with shared_events(client) as events:  # type: ignore[arg-type]
            assert events is not None
            events.emit_nowait("task")  # type: ignore[arg-type]
            scope.cancel()
            await anyio.sleep(1)
    assert opened[0].delivered == ["task"]  # shielded flush
    assert anyio.current_time() == pytest.approx(FLUSH)


async def test_a_tree_holds_an_open_client_from_its_start_and_a_new_one_from_its_first_task(
    opened: list[FakeEvents],
) -> None:
    client = Client()
    async with anyio.create_task_group() as group:
        first = TreeEvents(client, group)  # type: ignore[arg-type]
        await anyio.wait_all_tasks_blocked()
        assert opened == []  # no task run yet: nothing loaded, nothing opened
        assert cast(object, await first.client()) is opened[0]
        first.close()
    app = events_app_of(client)  # type: ignore[arg-type]
    assert app is not None  # lingering
    async with anyio.create_task_group() as group:
        second = TreeEvents(client, group)  # type: ignore[arg-type]
        await anyio.wait_all_tasks_blocked()
        assert app.holders == 1  # held from the start, before any task run
        await anyio.sleep(LINGER * 2)  # e.g. waiting out 503s before its first task
        assert cast(object, await second.client()) is opened[0]
        second.close()
    assert len(opened) == 1


async def test_an_api_served_in_process_gets_no_linger(opened: list[FakeEvents]) -> None:
    client = Client(app=object())
    await tree(client, 0, [])
    [events] = opened
    assert events.closed_at == anyio.current_time()  # closed by the last run out
    assert events_app_of(client) is None  # type: ignore[arg-type]


async def test_the_linger_is_a_short_grace_period() -> None:
    assert 0 < _tree_events.LINGER <= _tree_events.FLUSH_TIMEOUT
