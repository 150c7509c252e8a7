"""`wait_for_flow_run` follows the run's state events, and polls when it cannot (issue 15,
item 6).

Against a fake API on virtual time (its websocket sends what each test scripts, its
``GET /flow_runs/{id}`` answers from a script too), so the timings are exact; and against
the embedded server, whose flow-run state events end the wait (real time).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any
from uuid import UUID, uuid4

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from prefect_trio_client import states
from prefect_trio_client.orchestration import PrefectClient
from prefect_trio_client.runs import FlowRunWaitTimeout, use_client, wait_for_flow_run
from prefect_trio_client.schemas.objects import FlowRun, State, StateType
from prefect_trio_client.testing import EmbeddedAPI, embedded_api
from tests.runs.helpers import WrappingTransport

pytestmark = pytest.mark.anyio

RUN_ID = uuid4()


class FakeAPI:
    """The flow run `RUN_ID`, Running until `final_at` (virtual seconds after the first
    read), and an events websocket that behaves as `websocket` says:

    - ``"refuse"``: answers the upgrade with 403 (a proxy without websockets);
    - ``"drop"``: accepts, then ends the connection with an error code;
    - ``"events"``: sends the run's Running event, then its Completed event at `final_at`;
    - ``"silent"``: accepts and sends nothing.
    """

    def __init__(self, websocket: str, final_at: float = float("inf")) -> None:
        self.websocket = websocket
        self.final_at = final_at
        self.started: float | None = None
        self.reads = 0
        self.subscriptions = 0
        self.app = Starlette(
            routes=[
                Route("/api/flow_runs/{id}", self.read_flow_run),
                WebSocketRoute("/api/events/out", self.events_out),
            ]
        )

    def now(self) -> float:
        if self.started is None:
            self.started = anyio.current_time()
        return anyio.current_time() - self.started

    def is_final(self) -> bool:
        return self.now() >= self.final_at

    async def read_flow_run(self, request: Request) -> Response:
        self.reads += 1
        kind = StateType.COMPLETED if self.is_final() else StateType.RUNNING
        state = State(type=kind, name=kind.title())
        run = FlowRun(id=RUN_ID, flow_id=uuid4(), name="fake", state=state, state_type=kind)
        return JSONResponse(run.model_dump(mode="json"))

    async def events_out(self, websocket: WebSocket) -> None:
        if self.websocket == "refuse":
            await websocket.send_denial_response(Response("no websockets here", 403))
            return
        await websocket.accept(subprotocol="prefect")
        await websocket.receive_json()  # auth
        await websocket.send_json({"type": "auth_success"})
        await websocket.receive_json()  # the filter
        self.subscriptions += 1
        if self.websocket == "drop":
            await websocket.close(1011, reason="the server went away")
            return
        if self.websocket == "events":
            await websocket.send_json(event(StateType.RUNNING))
            await anyio.sleep(max(self.final_at - self.now(), 0))
            await websocket.send_json(event(StateType.COMPLETED))
        await anyio.sleep(float("inf"))


def event(kind: StateType) -> dict[str, Any]:
    return {
        "type": "event",
        "event": {
            "id": str(uuid4()),
            "occurred": datetime.now(timezone.utc).isoformat(),
            "received": datetime.now(timezone.utc).isoformat(),
            "event": f"prefect.flow-run.{kind.title()}",
            "resource": {
                "prefect.resource.id": f"prefect.flow-run.{RUN_ID}",
                "prefect.state-type": kind.value,
                "prefect.state-name": kind.title(),
            },
        },
    }


async def wait(fake: FakeAPI, **options: Any) -> tuple[FlowRun, float]:
    """Wait for `RUN_ID` on `fake`; the run and the virtual seconds it took."""
    async with PrefectClient(fake.app) as client:
        with use_client(client):
            started = anyio.current_time()
            run = await wait_for_flow_run(RUN_ID, **options)
            return run, anyio.current_time() - started


@pytest.mark.virtual_time
async def test_the_final_state_event_ends_the_wait_at_once() -> None:
    fake = FakeAPI("events", final_at=7)
    run, took = await wait(fake, poll_interval=5)
    assert run.state_type is StateType.COMPLETED
    assert took == pytest.approx(7, abs=0.01)  # not at a poll (5 s, 10 s)
    assert fake.reads == 2  # once after subscribing, once after the final event


@pytest.mark.virtual_time
async def test_a_run_final_before_the_wait_is_read_once() -> None:
    fake = FakeAPI("silent", final_at=0)
    run, took = await wait(fake)
    assert run.state_type is StateType.COMPLETED
    assert (took, fake.reads) == (0, 1)


@pytest.mark.virtual_time
@pytest.mark.parametrize("websocket", ["refuse", "drop"])
async def test_without_events_the_wait_polls(websocket: str) -> None:
    fake = FakeAPI(websocket, final_at=12)
    run, took = await wait(fake, poll_interval=5)
    assert run.state_type is StateType.COMPLETED
    assert took == pytest.approx(15, abs=0.01)  # the first poll after 12 s
    assert fake.subscriptions == (1 if websocket == "drop" else 0)
    assert fake.reads == 5  # after subscribing, when polling starts, at 5, 10 and 15 s


@pytest.mark.virtual_time
@pytest.mark.parametrize("websocket", ["silent", "refuse"])
async def test_the_timeout_ends_the_wait_with_a_clear_error(websocket: str) -> None:
    fake = FakeAPI(websocket)
    with pytest.raises(FlowRunWaitTimeout, match=f"{RUN_ID} exceeded watch timeout of 30"):
        await wait(fake, timeout=30, poll_interval=5)
    assert fake.now() == pytest.approx(30, abs=0.01)


@pytest.mark.virtual_time
async def test_an_outer_cancel_scope_ends_the_wait() -> None:
    fake = FakeAPI("events")
    with anyio.move_on_after(3) as scope:
        await wait(fake, timeout=None)
    assert scope.cancelled_caught


# --- the embedded server: its state events end the wait ------------------------------


class ReadCounter(WrappingTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport, run_id: list[UUID]) -> None:
        super().__init__(inner)
        self.run_id = run_id
        self.reads = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and self.run_id and str(self.run_id[0]) in request.url.path:
            self.reads += 1
        return await self.inner.handle_async_request(request)


@pytest.fixture
async def api() -> AsyncIterator[EmbeddedAPI]:
    async with embedded_api() as api:
        yield api


async def test_the_embedded_servers_state_events_end_the_wait(api: EmbeddedAPI) -> None:
    watched: list[UUID] = []
    counters: list[ReadCounter] = []

    def wrap(inner: httpx.AsyncBaseTransport) -> ReadCounter:
        counters.append(ReadCounter(inner, watched))
        return counters[0]

    async with api.client(wrap_transport=wrap) as client:
        flow_id = await client.create_flow_from_name("waited")
        run = await client.create_flow_run(flow_id, state=states.Pending())
        watched.append(run.id)

        async def play() -> None:
            for state in (states.Running(), states.Completed()):
                await client.set_flow_run_state(run.id, state)

        with use_client(client), anyio.fail_after(30):
            async with anyio.create_task_group() as group:
                group.start_soon(play)
                # an hour between polls: only the run's events can end this wait in time
                done = await wait_for_flow_run(run.id, poll_interval=3600)
    assert done.state_type is StateType.COMPLETED
    assert counters[0].reads <= 2  # after subscribing, and after the final event
