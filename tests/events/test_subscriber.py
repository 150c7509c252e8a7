"""The subscriber against the embedded server in-process: it sees emitted events, and
across a cut connection it sees none twice."""

from __future__ import annotations

import anyio
import pytest

from prefect_trio_client.events import (
    EventFilter,
    EventStreamError,
    EventSubscriber,
    ReceivedEvent,
    get_events_client,
    get_events_subscriber,
)
from prefect_trio_client.orchestration import PrefectClient, SyncPrefectClient
from prefect_trio_client.schemas.events import EventNameFilter
from prefect_trio_client.server import create_app
from tests.events.helpers import App, CutWebsockets, RefuseWebsockets, event

pytestmark = pytest.mark.anyio


@pytest.fixture
def app() -> App:
    return create_app(":memory:")


def named(prefix: str) -> EventFilter:
    return EventFilter(event=EventNameFilter(prefix=[prefix]))


async def take(subscriber: EventSubscriber, count: int) -> list[ReceivedEvent]:
    events = []
    with anyio.fail_after(10):
        async for received in subscriber:
            events.append(received)
            if len(events) == count:
                break
    return events


async def test_the_subscriber_receives_emitted_events(app: App) -> None:
    async with (
        PrefectClient(app),
        get_events_subscriber(named("test.live"), api=app) as subscriber,
        get_events_client(app) as client,
    ):
        sent = [event("test.live", i) for i in range(5)]
        for e in sent:
            client.emit_nowait(e)
        client.emit_nowait(event("other.name"))  # filtered out
        received = await take(subscriber, 5)
    assert [e.id for e in received] == [e.id for e in sent]
    assert all(e.received is not None for e in received)


async def test_a_reconnecting_subscriber_sees_no_event_twice(app: App) -> None:
    # auth_success + 3 events reach the subscriber, then the proxy cuts the socket; the
    # reconnect's backfill repeats those three, which the subscriber skips
    proxy = CutWebsockets(app, path="/events/out", direction="out", after=4)
    async with PrefectClient(app):
        async with get_events_client(app) as client:
            first = [event("test.again", i) for i in range(6)]
            for e in first:
                client.emit_nowait(e)
        async with get_events_subscriber(named("test.again"), api=proxy) as subscriber:
            received = await take(subscriber, 6)
            async with get_events_client(app) as client:
                later = [event("test.again", i) for i in range(6, 8)]
                for e in later:
                    client.emit_nowait(e)
            received += await take(subscriber, 2)
            assert proxy.cut == 1
            assert subscriber.reconnects == 1
    ids = [e.id for e in received]
    assert len(ids) == len(set(ids))
    assert set(ids) == {e.id for e in first + later}


async def test_a_subscriber_that_cannot_connect_raises_one_clear_error(app: App) -> None:
    async with PrefectClient(app):
        subscriber = get_events_subscriber(api=RefuseWebsockets(app, status=404))
        async with subscriber:
            with pytest.raises(EventStreamError, match="HTTP 404"):
                await take(subscriber, 1)


async def test_events_committed_on_another_event_loop_reach_the_subscriber(app: App) -> None:
    # the sync client serves the app from its own event loop in a thread: events it
    # stores are handed to this loop's subscriber without blocking either loop
    async with (
        PrefectClient(app),
        get_events_subscriber(named("test.loops"), api=app) as subscriber,
    ):
        async with get_events_client(app) as client:
            first = event("test.loops", 0)
            client.emit_nowait(first)
        assert [e.id for e in await take(subscriber, 1)] == [first.id]  # live from here on
        posted = [event("test.loops", i) for i in range(1, 4)]

        def post() -> None:
            with SyncPrefectClient(app) as sync:
                sync.request("POST", "/events", json=[e.model_dump(mode="json") for e in posted])

        await anyio.to_thread.run_sync(post)
        received = await take(subscriber, 3)
    assert [e.id for e in received] == [e.id for e in posted]
