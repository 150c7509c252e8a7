"""The event reads (issue 11) against a real Prefect server: trio, asyncio and the sync
client. A flow run's state changes are read back as Prefect's server wrote them; events
posted to ``POST /events`` are read in pages.

Prefect's server stores events through its services (the event persister), a moment after
they happen, so this needs a server started with them: `nox -s interop` runs this module
against one (``PREFECT_TRIO_CLIENT_INTEROP_SERVICES=1``); elsewhere it is skipped. The
same scenario runs against the embedded server in ``tests/server/test_events.py``.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import anyio
import pytest

from prefect_trio_client import states
from prefect_trio_client.orchestration import SyncPrefectClient, get_client
from prefect_trio_client.schemas.events import (
    Event,
    EventFilter,
    EventNameFilter,
    EventOrder,
    EventPage,
    EventRelatedFilter,
    EventResourceFilter,
    RelatedResource,
    Resource,
)
from tests.interop.test_lifecycle import Blocking

SERVICES = os.environ.get("PREFECT_TRIO_CLIENT_INTEROP_SERVICES") == "1"
needs_services = pytest.mark.skipif(
    not SERVICES, reason="needs a Prefect server with its services (nox -s interop runs it)"
)


async def until_total(read: Callable[[], Awaitable[EventPage]], total: int) -> EventPage:
    """Read until `total` events match: a real server stores events a moment after they
    happen (bounded: 60 s); the embedded server has them at once, so one read does."""
    with anyio.fail_after(60):
        while True:
            page = await read()
            if page.total >= total:
                return page
            await anyio.sleep(0.5)


async def events_scenario(client: Any, unique: str) -> None:
    # a flow run's state changes, as the server records them
    flow_id = await client.create_flow_from_name(f"ev-flow-{unique}")
    run = await client.create_flow_run(flow_id, name=f"ev-run-{unique}", tags=[f"ev-{unique}"])
    await client.set_flow_run_state(run.id, states.Running())
    await client.set_flow_run_state(run.id, states.Completed(message="done"))
    run_resource = f"prefect.flow-run.{run.id}"
    of_run = EventFilter(resource=EventResourceFilter(id=[run_resource]))
    page = await until_total(lambda: client.read_events(filter=of_run, limit=10), 3)
    assert [e.event for e in page.events] == [
        "prefect.flow-run.Completed",
        "prefect.flow-run.Running",
        "prefect.flow-run.Pending",
    ]
    history = await client.read_flow_run_states(run.id)
    assert [e.id for e in reversed(page.events)] == [s.id for s in history]
    assert [e.occurred for e in reversed(page.events)] == [s.timestamp for s in history]
    completed, running, pending = page.events
    assert (completed.follows, running.follows, pending.follows) == (running.id, pending.id, None)
    assert dict(completed.resource.items()) == {
        "prefect.resource.id": run_resource,
        "prefect.resource.name": f"ev-run-{unique}",
        "prefect.run-count": "1",
        "prefect.state-message": "done",
        "prefect.state-name": "Completed",
        "prefect.state-timestamp": history[-1].timestamp.isoformat(),
        "prefect.state-type": "COMPLETED",
    }
    assert [(r.role, r.id) for r in completed.related] == [
        ("flow", f"prefect.flow.{flow_id}"),
        ("tag", f"prefect.tag.ev-{unique}"),
    ]
    assert completed.payload == {
        "intended": {"from": "RUNNING", "to": "COMPLETED"},
        "initial_state": {"type": "RUNNING", "name": "Running"},
        "validated_state": {"type": "COMPLETED", "name": "Completed", "message": "done"},
    }

    # events a client posts, read a page at a time
    now = datetime.now(timezone.utc)
    posted = [
        Event(
            occurred=now - timedelta(seconds=10 - i),
            event=f"ev.{unique}.thing-{i}",
            resource=Resource({"prefect.resource.id": f"ev.thing.{unique}.{i}"}),
            related=[
                RelatedResource(
                    {"prefect.resource.id": run_resource, "prefect.resource.role": "flow-run"}
                )
            ],
            payload={"n": i},
        )
        for i in range(5)
    ]
    await client.request("POST", "/events", json=[e.model_dump(mode="json") for e in posted])
    mine = EventFilter(event=EventNameFilter(prefix=[f"ev.{unique}."]))
    pages = [await until_total(lambda: client.read_events(filter=mine, limit=2), 5)]
    while pages[-1].next_page is not None:
        following = await pages[-1].get_next_page(client)
        assert following is not None
        pages.append(following)
    assert [(len(p.events), p.total) for p in pages] == [(2, 5), (2, 5), (1, 5)]
    assert [e.payload["n"] for p in pages for e in p.events] == [4, 3, 2, 1, 0]
    assert [e.id for p in pages for e in p.events] == [e.id for e in reversed(posted)]

    # the same events, found through the flow run they relate to, oldest first
    related = EventFilter(
        related=EventRelatedFilter(role=["flow-run"], id=[run_resource]), order=EventOrder.ASC
    )
    by_run = await client.read_events(filter=related, limit=10)
    assert [e.payload["n"] for e in by_run.events] == [0, 1, 2, 3, 4]


@needs_services
@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_events_async(api_url: str, unique: str, anyio_backend: str) -> None:
    async with get_client() as client:
        await events_scenario(client, unique)


@needs_services
def test_events_sync(api_url: str, unique: str) -> None:
    with get_client(sync_client=True) as client:
        assert isinstance(client, SyncPrefectClient)
        anyio.run(events_scenario, Blocking(client), unique)


# --------------------------------------------------------------------------- issue 15: emitting


async def emitted_scenario(unique: str) -> None:
    from prefect_trio_client.events import emit_event, get_events_client

    async with get_events_client(checkpoint_every=3) as emitter:
        sent = [
            emit_event(
                f"ws.{unique}.thing",
                resource={"prefect.resource.id": f"ws.thing.{unique}.{i}"},
                payload={"n": i},
            )
            for i in range(7)
        ]
    assert emitter.transport == "websocket"
    assert (emitter.delivered, emitter.dropped) == (7, 0)
    async with get_client() as client:
        mine = EventFilter(event=EventNameFilter(prefix=[f"ws.{unique}."]), order=EventOrder.ASC)
        page = await until_total(lambda: client.read_events(filter=mine, limit=10), 7)
    assert page.total == 7
    assert {e.id for e in page.events} == {e.id for e in sent if e is not None}
    assert sorted(e.payload["n"] for e in page.events) == list(range(7))


@needs_services
@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_events_emitted_over_the_websocket(
    api_url: str, unique: str, anyio_backend: str
) -> None:
    await emitted_scenario(unique)


async def subscribed_scenario(unique: str) -> None:
    """Events emitted through our websocket reach our subscriber."""
    from tests.interop.events_read import subscribed

    assert await subscribed(f"sub.{unique}.", emit_to=None, subscribe_to=None) == ["0", "1", "2"]


@needs_services
@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_events_subscribed_over_the_websocket(
    api_url: str, unique: str, anyio_backend: str
) -> None:
    await subscribed_scenario(unique)
