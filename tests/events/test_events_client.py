"""The events client against the embedded server in-process: emitted events are stored
once each, through cut websockets, refused upgrades and closing; and against a server
that is down (virtual time): the caller never waits, drops are counted, one warning."""

from __future__ import annotations

import itertools
import json
import logging
from typing import Any

import anyio
import httpx
import pytest

from prefect_trio_client.events import (
    EventFilter,
    emit_event,
    get_events_client,
)
from prefect_trio_client.orchestration import PrefectClient, get_client
from prefect_trio_client.schemas.events import EventNameFilter
from prefect_trio_client.server import create_app
from tests.events.helpers import App, CutWebsockets, RefuseWebsockets, event

pytestmark = pytest.mark.anyio


@pytest.fixture
def app() -> App:
    return create_app(":memory:")


async def stored_ids(reader: PrefectClient, prefix: str) -> list[str]:
    """Every stored event whose name starts with `prefix` (the ids, in order)."""
    filter = EventFilter(event=EventNameFilter(prefix=[prefix]))
    page: Any = await reader.read_events(filter=filter, limit=50)
    ids = [str(e.id) for e in page.events]
    while page.next_page is not None:
        page = await page.get_next_page(reader)
        ids.extend(str(e.id) for e in page.events)
    return ids


async def test_emitted_events_are_stored_and_read_back(app: App) -> None:
    async with PrefectClient(app) as reader:  # holds the in-memory database
        async with get_events_client(app, checkpoint_every=3) as client:
            emitted = [
                emit_event(
                    "test.emitted",
                    resource={"prefect.resource.id": f"test.thing.{i}"},
                    related=[{"prefect.resource.id": "test.parent", "prefect.resource.role": "p"}],
                    payload={"i": i},
                )
                for i in range(10)
            ]
        assert client.transport == "websocket"
        assert (client.emitted, client.delivered, client.dropped) == (10, 10, 0)
        ids = await stored_ids(reader, "test.emitted")
        assert sorted(ids) == sorted(str(e.id) for e in emitted if e is not None)
        page = await reader.read_events(filter=EventFilter(event=EventNameFilter(prefix=["test."])))
        assert {e.payload["i"] for e in page.events} == set(range(10))
        assert all(e.related[0].role == "p" for e in page.events)


async def test_emit_event_without_a_client_says_what_to_open() -> None:
    with pytest.raises(RuntimeError, match=r"async with get_events_client\(\)"):
        emit_event("test.nowhere", resource={"prefect.resource.id": "test.thing"})


async def test_the_default_client_uses_the_embedded_server() -> None:
    async with get_events_client() as client:
        sent = emit_event("test.default", resource={"prefect.resource.id": "test.thing"})
    assert sent is not None
    assert client.delivered == 1
    async with get_client() as reader:  # the same embedded server, from the same settings
        assert await stored_ids(reader, "test.default") == [str(sent.id)]


async def test_a_cut_websocket_loses_no_event_and_stores_none_twice(app: App) -> None:
    # 1 auth message + 7 events get through, then the proxy cuts the socket; the client
    # reconnects and re-sends every event it had not seen confirmed
    proxy = CutWebsockets(app, path="/events/in", direction="in", after=8)
    async with PrefectClient(app) as reader:
        async with get_events_client(proxy, checkpoint_every=5) as client:
            sent = [client.emit_nowait(event("test.cut", i)) for i in range(20)]
        assert all(sent)
        assert proxy.cut == 1
        assert client.reconnects >= 1
        assert (client.delivered, client.dropped) == (20, 0)
        ids = await stored_ids(reader, "test.cut")
        assert len(ids) == len(set(ids)) == 20


async def test_a_refused_upgrade_sends_the_events_by_post(app: App) -> None:
    proxy = RefuseWebsockets(app, status=403)
    async with PrefectClient(app) as reader:
        async with get_events_client(proxy, http_batch_size=4) as client:
            for i in range(10):
                client.emit_nowait(event("test.refused", i))
        assert proxy.refused == 1
        assert client.transport == "http"
        assert (client.delivered, client.dropped) == (10, 0)
        assert len(set(await stored_ids(reader, "test.refused"))) == 10


async def test_closing_flushes_what_is_buffered(app: App) -> None:
    async with PrefectClient(app) as reader:
        # no checkpoint is due before the close: the close confirms them all
        async with get_events_client(app, checkpoint_every=1000) as client:
            for i in range(50):
                client.emit_nowait(event("test.flushed", i))
            assert client.delivered == 0
        assert (client.delivered, client.pending) == (50, 0)
        assert len(await stored_ids(reader, "test.flushed")) == 50


async def test_flush_confirms_what_was_sent_and_keeps_the_client_open(app: App) -> None:
    async with PrefectClient(app) as reader:
        # no checkpoint is due: flush asks for one now
        async with get_events_client(app, checkpoint_every=1000) as client:
            for i in range(20):
                client.emit_nowait(event("test.flush", i))
            await client.flush()
            assert (client.delivered, client.pending) == (20, 0)
            assert len(await stored_ids(reader, "test.flush")) == 20
            client.emit_nowait(event("test.flush", 20))  # still open
            await client.flush()
            assert client.delivered == 21
            await client.flush()  # nothing waits: returns at once
        assert client.reconnects == 0


async def test_flush_by_post_when_websockets_are_refused(app: App) -> None:
    proxy = RefuseWebsockets(app, status=403)
    async with get_events_client(proxy, http_batch_size=4) as client:
        for i in range(10):
            client.emit_nowait(event("test.flush.post", i))
        await client.flush()
        assert (client.delivered, client.pending) == (10, 0)


@pytest.mark.virtual_time
async def test_flush_while_the_server_is_down_waits_until_the_events_are_dropped() -> None:
    down = get_events_client(
        "http://127.0.0.1:9/api", httpx_settings=_down(), unreachable_timeout=5, close_timeout=1
    )
    async with down as client:
        client.emit_nowait(event("test.down", 0))
        with anyio.fail_after(60):
            await client.flush()
        assert (client.delivered, client.dropped) == (0, 1)


def _down() -> dict[str, Any]:
    """A transport for a server that is down: every connection is refused."""

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    return {"transport": httpx.MockTransport(refuse)}


@pytest.mark.virtual_time
async def test_a_server_that_is_down_costs_the_caller_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="prefect_trio_client.events")
    down = get_events_client(
        "http://127.0.0.1:9/api", httpx_settings=_down(), unreachable_timeout=5, close_timeout=1
    )
    async with down as client:
        before = anyio.current_time()
        for i in range(3):
            assert client.emit_nowait(event("test.down", i))
        assert anyio.current_time() == before  # emitting never waits
        # virtual time: past the deadline plus the longest backoff
        await anyio.sleep(5 + 5 + 1)
        assert client.dropped == 3
        for i in range(2):
            client.emit_nowait(event("test.down.later", i))
        await anyio.sleep(5 + 5 + 1)
    assert (client.emitted, client.delivered, client.dropped) == (5, 0, 5)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "unreachable" in warnings[0].getMessage()


@pytest.mark.virtual_time
async def test_cancelled_while_the_buffer_is_full() -> None:
    client = get_events_client(
        "http://127.0.0.1:9/api",
        httpx_settings=_down(),
        buffer_size=5,
        unreachable_timeout=60,
        close_timeout=2,
    )
    start = anyio.current_time()
    with anyio.CancelScope() as scope:
        async with client:
            accepted = [client.emit_nowait(event("test.full", i)) for i in range(8)]
            scope.cancel()
            await anyio.sleep_forever()
    assert accepted == [True] * 5 + [False] * 3
    assert anyio.current_time() - start <= 2 + 1  # the close is bounded
    assert (client.delivered, client.dropped, client.pending) == (0, 8, 0)


class NoPostedEvents(RefuseWebsockets):
    """A server without events: upgrades refused, ``POST /events`` answered 404."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].endswith("/events"):
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b'{"detail": "Not Found"}'})
            return
        await super().__call__(scope, receive, send)


async def test_the_events_endpoint_is_known_after_the_first_attempt(app: App) -> None:
    async with PrefectClient(app):  # holds the in-memory database
        async with get_events_client(app) as client:
            assert await client.events_endpoint() is True
            assert client.transport == "websocket"
        async with get_events_client(RefuseWebsockets(app)) as client:
            assert await client.events_endpoint() is True  # POST /events takes them
            assert client.transport == "http"
        async with get_events_client(NoPostedEvents(app)) as client:
            assert await client.events_endpoint() is False


@pytest.mark.virtual_time
async def test_a_server_that_is_down_still_counts_as_having_events() -> None:
    down = get_events_client("http://127.0.0.1:9/api", httpx_settings=_down(), close_timeout=0)
    async with down as client:
        before = anyio.current_time()
        assert await client.events_endpoint() is True  # its events wait, and may be dropped
        assert anyio.current_time() == before
    with pytest.raises(RuntimeError, match="open the events client first"):
        await get_events_client().events_endpoint()


async def test_a_refused_websocket_is_tried_again_and_comes_back(app: App) -> None:
    proxy = RefuseWebsockets(app, status=404)
    async with PrefectClient(app) as reader:
        emitter = get_events_client(proxy, upgrade_retry_initial=0.01, upgrade_retry_max=0.04)
        async with emitter as client:
            sent = [client.emit_nowait(event("test.back", i)) for i in range(5)]
            with anyio.fail_after(10):
                await proxy.until(refused=3)  # tried again, and refused again
            transports = [client.transport]
            proxy.status = None  # the proxy is fixed
            with anyio.fail_after(10):
                await proxy.until(accepted=1)
            sent += [client.emit_nowait(event("test.back", i)) for i in range(5, 10)]
        assert all(sent)
        assert [*transports, client.transport] == ["http", "websocket"]
        assert proxy.accepted == 1  # kept open: the later events went over it
        assert (client.delivered, client.dropped) == (10, 0)
        ids = await stored_ids(reader, "test.back")
        assert len(ids) == len(set(ids)) == 10


@pytest.mark.virtual_time
async def test_the_websocket_is_tried_again_after_a_backoff_growing_to_a_minute() -> None:
    upgrades: list[float] = []
    posted: list[int] = []

    def refuse_upgrades(request: httpx.Request) -> httpx.Response:
        if request.headers.get("upgrade", "").lower() == "websocket":
            upgrades.append(anyio.current_time())
            return httpx.Response(404, text="no websockets here")
        if request.url.path.endswith("/csrf-token"):
            return httpx.Response(404)
        if request.url.path.endswith("/events"):
            posted.append(len(json.loads(request.content)))
        return httpx.Response(200, json=None)

    refusing = get_events_client(
        "http://127.0.0.1:9/api",
        httpx_settings={"transport": httpx.MockTransport(refuse_upgrades)},
        close_timeout=1,
    )
    async with refusing as client:
        await anyio.sleep(250)
        client.emit_nowait(event("test.posted"))
    assert client.transport == "http"
    gaps = [round(later - earlier) for earlier, later in itertools.pairwise(upgrades)]
    assert gaps == [5, 10, 20, 40, 60, 60]
    assert (client.delivered, client.dropped) == (1, 0)
    assert sum(posted) == 1
