"""Events over real sockets: the embedded server served over HTTP (hypercorn, a process
of its own) behind the loopback fault proxy, whose websocket faults cut the stream
mid-frame or refuse the upgrade. The same scenarios run against a real Prefect server
in ``tests/interop/test_events_proxy.py``. Real time: real sockets and a server process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from prefect_trio_client.events import (
    Event,
    EventFilter,
    Resource,
    get_events_client,
    get_events_subscriber,
)
from prefect_trio_client.orchestration import PrefectClient
from prefect_trio_client.schemas.events import EventResourceFilter
from prefect_trio_client.settings import ClientSettings
from tests.fault_proxy import FaultProxy, embedded_server_over_http, run_fault_proxy

pytestmark = pytest.mark.anyio

BURST = 100


def api(proxy: FaultProxy) -> str:
    return f"{proxy.url}/api"


def burst(resource_id: str) -> list[Event]:
    return [
        Event(
            event="net.burst",
            resource=Resource({"prefect.resource.id": resource_id}),
            payload={"n": n, "padding": "x" * 200},
        )
        for n in range(BURST)
    ]


async def stored_ids(reader: PrefectClient, resource_id: str) -> list[str]:
    """The stored events of `resource_id`, once all of a burst are there (bounded: 30 s).

    Over a network the pong that confirms delivery comes from the ASGI server's protocol
    layer, as with Prefect's server: the app may still be storing the last events when
    the client has closed, so the read polls.
    """
    filter = EventFilter(resource=EventResourceFilter(id=[resource_id]))
    with anyio.fail_after(30):
        while True:
            page = await reader.read_events(filter=filter, limit=50)
            if page.total >= BURST:
                break
            await anyio.sleep(0.05)
    ids = [str(e.id) for e in page.events]
    following: Any = page
    while following.next_page is not None:
        following = await following.get_next_page(reader)
        ids.extend(str(e.id) for e in following.events)
    return ids


async def test_events_through_a_proxy_that_cuts_and_refuses_websockets(
    tmp_path: Path,
) -> None:
    async with embedded_server_over_http(str(tmp_path / "events.db")) as (host, port):
        reader = PrefectClient(f"http://{host}:{port}/api", settings=ClientSettings())
        async with reader:
            # cut mid-frame twice during a burst: every event stored once
            cut = burst("net.cut")
            async with run_fault_proxy(host, port, seed=1, ws_cut_after=[8_000] * 2) as proxy:
                emitter = get_events_client(api(proxy), checkpoint_every=20, backoff_initial=0.01)
                async with emitter:
                    assert all(emitter.emit_nowait(e) for e in cut)
            assert proxy.ws_cut == 2
            assert (emitter.transport, emitter.delivered, emitter.dropped) == (
                "websocket",
                BURST,
                0,
            )
            ids = await stored_ids(reader, "net.cut")
            assert sorted(ids) == sorted(str(e.id) for e in cut)

            # upgrades refused, ordinary HTTP forwarded: the events go by POST /events
            posted = burst("net.refused")
            async with run_fault_proxy(host, port, seed=1, refuse_upgrades=404) as proxy:
                emitter = get_events_client(api(proxy), http_batch_size=30)
                async with emitter:
                    assert all(emitter.emit_nowait(e) for e in posted)
            assert proxy.refused == 1
            assert (emitter.transport, emitter.delivered, emitter.dropped) == ("http", BURST, 0)
            ids = await stored_ids(reader, "net.refused")
            assert sorted(ids) == sorted(str(e.id) for e in posted)

            # a subscriber whose stream is cut twice mid-backfill sees each event once
            seen: list[str] = []
            of_cut = EventFilter(resource=EventResourceFilter(id=["net.cut"]))
            async with run_fault_proxy(host, port, seed=1, ws_cut_after=[10_000] * 2) as proxy:
                subscriber = get_events_subscriber(of_cut, api=api(proxy))
                async with subscriber:
                    with anyio.fail_after(30):
                        async for received in subscriber:
                            seen.append(str(received.id))
                            if len(seen) == BURST:
                                break
            assert proxy.ws_cut == 2
            assert subscriber.reconnects >= 2
            # a repeat would have taken the place of an event: the BURST seen are distinct
            assert sorted(seen) == sorted(str(e.id) for e in cut)
