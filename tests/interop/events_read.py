"""Reading events back from a real Prefect server, for the interop tests: the ids of
what its persister stored, and what a live `/events/out` subscriber sees."""

from __future__ import annotations

from typing import Any

import anyio

from prefect_trio_client.events import (
    Event,
    EventsClient,
    Resource,
    get_events_client,
    get_events_subscriber,
)
from prefect_trio_client.orchestration import PrefectClient
from prefect_trio_client.schemas.events import EventFilter, EventNameFilter, EventOrder


def named(prefix: str) -> EventFilter:
    """Events whose name starts with ``prefix``, oldest first."""
    return EventFilter(event=EventNameFilter(prefix=[prefix]), order=EventOrder.ASC)


async def stored_ids(api: str, filter: EventFilter, expected: int) -> list[str]:
    """The ids of the stored events matching ``filter`` as ``api`` reads them, every
    page, once ``expected`` are stored (bounded: 60 s; the persister writes a moment
    after the events arrive)."""
    async with PrefectClient(api) as client:
        with anyio.fail_after(60):
            while True:
                page: Any = await client.read_events(filter=filter, limit=50)
                if page.total >= expected:
                    break
                await anyio.sleep(0.5)
        ids = [str(e.id) for e in page.events]
        while page.next_page is not None:
            page = await page.get_next_page(client)
            ids.extend(str(e.id) for e in page.events)
    return ids


async def subscribed(prefix: str, *, emit_to: str | None, subscribe_to: str | None) -> list[str]:
    """The resource ids, sorted, a subscriber on ``subscribe_to`` sees of three events
    named ``{prefix}thing`` emitted to ``emit_to`` (None: the configured API).

    Prefect's server streams live events only a moment after it took the filter, and
    backfills only what its persister wrote: an event emitted in between reaches no one.
    So a probe is emitted each second until the subscriber shows one, and the three
    events only then.
    """
    live = anyio.Event()
    seen: list[str] = []

    async def emit(emitter: EventsClient) -> None:
        while not live.is_set():
            probe = Event(event=f"{prefix}probe", resource=Resource({"prefect.resource.id": "p"}))
            emitter.emit_nowait(probe)
            with anyio.move_on_after(1):
                await live.wait()
        for n in range(3):
            resource = Resource({"prefect.resource.id": str(n)})
            assert emitter.emit_nowait(Event(event=f"{prefix}thing", resource=resource))

    subscriber = get_events_subscriber(named(prefix), api=subscribe_to)
    async with subscriber, get_events_client(emit_to) as emitter:
        with anyio.fail_after(90):
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(emit, emitter)
                async for received in subscriber:
                    if received.event.endswith(".probe"):
                        live.set()
                        continue
                    seen.append(received.resource.id)
                    if len(seen) == 3:
                        break
    return sorted(seen)
