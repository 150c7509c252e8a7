"""Record Prefect's client for the events group: ``read_events`` and ``read_events_page``,
with the state-change events a real server writes for a flow run and events posted to
``POST /events``.

The server must run WITH its services (their event persister writes the events), so
start it without ``--no-services``; then (see ``recorder.py``)::

    PREFECT_API_URL=http://127.0.0.1:4341/api PYTHONPATH=. \
        /work/main/.nox/interop/bin/python tests/captures/capture_events.py \
        http://127.0.0.1:4341/api

Events reach the store a moment after they are sent, so the script reads until they are
there (bounded) and keeps the last exchange.
"""

from __future__ import annotations

import contextlib
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import anyio

from tests.captures.recorder import recording

OUT = Path(__file__).parents[1] / "data" / "captures" / "events.json"


async def until(count: int, read: Any) -> Any:
    """Read until the page counts `count` events (60 s at most)."""
    with anyio.fail_after(60):
        while True:
            page = await read()
            if page.total >= count:
                return page
            await anyio.sleep(0.5)


async def main(api_url: str) -> None:
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.events.filters import (
        EventAnyResourceFilter,
        EventFilter,
        EventIDFilter,
        EventNameFilter,
        EventOccurredFilter,
        EventOrder,
        EventRelatedFilter,
        EventResourceFilter,
        EventTextFilter,
    )
    from prefect.states import Completed, Running

    suffix = uuid.uuid4().hex[:8]
    async with recording(api_url) as (client, record):
        record.method = "_setup"
        pool = f"ev-pool-{suffix}"
        await client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
        run = await client.create_flow_run(
            _flow(f"ev-flow-{suffix}"), name=f"ev-run-{suffix}", tags=["ev-tag"]
        )
        await client.set_flow_run_state(run.id, Running())
        await client.set_flow_run_state(run.id, Completed())
        pooled = await client.create_flow_run(
            _flow(f"ev-flow-{suffix}"), name=f"ev-pooled-{suffix}", work_pool_name=pool
        )

        # events sent by a client, as Prefect's emitter posts them without a websocket
        now = datetime.now(timezone.utc)
        posted = [
            {
                "occurred": (now - timedelta(seconds=3 - i)).isoformat(),
                "event": f"capture.{suffix}.thing-{i}",
                "resource": {
                    "prefect.resource.id": f"capture.thing.{suffix}.{i}",
                    "prefect.resource.name": f"thing {i}",
                    "capture.colour": "blue" if i % 2 else "red",
                },
                "related": [
                    {
                        "prefect.resource.id": f"prefect.flow-run.{run.id}",
                        "prefect.resource.role": "flow-run",
                    }
                ],
                "payload": {"n": i, "words": f"searchable-{suffix}-{i}"},
                "id": str(uuid.uuid4()),
            }
            for i in range(3)
        ]
        record.method = "post_events"
        await client.request("POST", "/events", json=posted)
        record.method = "post_events without id and occurred"
        with contextlib.suppress(Exception):
            await client.request(
                "POST", "/events", json=[{"event": "x", "resource": {"prefect.resource.id": "x"}}]
            )

        mine = EventFilter(event=EventNameFilter(prefix=[f"capture.{suffix}."]))
        of_run = EventFilter(
            event=EventNameFilter(prefix=["prefect.flow-run."]),
            resource=EventResourceFilter(id=[f"prefect.flow-run.{run.id}"]),
        )
        record.method = "read_events of a flow run"
        await until(3, lambda: client.read_events(filter=of_run, limit=10))
        record.method = "read_events of the pooled run"
        pooled_filter = EventFilter(
            resource=EventResourceFilter(id=[f"prefect.flow-run.{pooled.id}"])
        )
        await until(1, lambda: client.read_events(filter=pooled_filter, limit=10))

        record.method = "read_events paged"
        page = await until(3, lambda: client.read_events(filter=mine, limit=2))
        record.method = "read_events_page"
        await client.read_events_page(page.next_page)
        record.method = "read_events_page of a bad token"
        with contextlib.suppress(Exception):
            await client.read_events_page(f"{api_url}/events/filter/next?page-token=bm90LWpzb24=")

        record.method = "read_events default limit"
        with contextlib.suppress(Exception):
            await client.read_events()
        record.method = "read_events no filter"
        await client.read_events(limit=1)

        record.method = "read_events related"
        await client.read_events(
            filter=EventFilter(
                related=EventRelatedFilter(role=["flow-run"], id=[f"prefect.flow-run.{run.id}"]),
                order=EventOrder.ASC,
            ),
            limit=10,
        )
        record.method = "read_events any resource labels"
        await client.read_events(
            filter=EventFilter(
                any_resource=EventAnyResourceFilter(
                    id_prefix=[f"capture.thing.{suffix}."], labels={"capture.colour": "blue"}
                ),
            ),
            limit=10,
        )
        record.method = "read_events text"
        # Prefect 3.9.1 on SQLite answers 500 (no concat() in its SQLite)
        with contextlib.suppress(Exception):
            await client.read_events(
                filter=EventFilter(text=EventTextFilter(query=f"searchable-{suffix}-2")), limit=10
            )
        record.method = "read_events id and occurred"
        await client.read_events(
            filter=EventFilter(
                id=EventIDFilter(id=[uuid.UUID(str(posted[0]["id"]))]),
                occurred=EventOccurredFilter(since=now - timedelta(minutes=5), until=now),
            ),
            limit=10,
        )
        record.method = "read_events resource labels"
        await client.read_events(
            filter=EventFilter(
                event=EventNameFilter(
                    prefix=[f"capture.{suffix}."], exclude_name=[f"capture.{suffix}.thing-0"]
                ),
                resource=EventResourceFilter(labels={"capture.colour": ["red", "blu*"]}),
            ),
            limit=10,
        )
        record.method = "count_events by event"
        await client.request(
            "POST", "/events/count-by/event", json={"filter": mine.model_dump(mode="json")}
        )

    exchanges: dict[str, Any] = {
        key: value
        for key, value in record.exchanges.items()
        if not value["client_method"].startswith("_")
    }
    record.exchanges = exchanges
    record.save(OUT)


def _flow(name: str) -> Any:
    from prefect import flow

    @flow(name=name)  # type: ignore[untyped-decorator]
    def ev_flow() -> None:
        pass

    return ev_flow


if __name__ == "__main__":
    anyio.run(main, sys.argv[1])
