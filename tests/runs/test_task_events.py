"""`@task` reports task runs as Prefect 3's engine does: as events, recorded by the
server's task-run recorder; over HTTP by the setting, or when the server takes no events
(embedded server, real time, trio and asyncio)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest

from prefect_trio_client.events._client import EventsClient
from prefect_trio_client.orchestration.client import PrefectClient
from prefect_trio_client.runs import (
    _tree_events,
    concurrency,
    flow,
    get_run_logger,
    task,
    use_client,
)
from prefect_trio_client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect_trio_client.schemas.filters import TaskRunFilter, TaskRunFilterFlowRunId
from prefect_trio_client.schemas.objects import StateType, TaskRun
from prefect_trio_client.server import create_app
from prefect_trio_client.settings import ClientSettings
from prefect_trio_client.testing import EmbeddedAPI, embedded_api
from tests.events.helpers import App, Receive, RefuseWebsockets, Scope, Send
from tests.runs.helpers import WrappingTransport, logs, only_flow_run, state_names, task_runs

pytestmark = pytest.mark.anyio


class Recorder(WrappingTransport):
    """Keeps every HTTP request the client makes."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        super().__init__(inner)
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return await self.inner.handle_async_request(request)

    def paths(self) -> list[str]:
        return [f"{r.method} {r.url.path.removeprefix('/api')}" for r in self.requests]


class NoEvents:
    """An API without events: websocket upgrades refused, ``POST /events`` answers
    `status`; counts the HTTP requests by path."""

    def __init__(self, app: App, status: int = 404) -> None:
        self.app = RefuseWebsockets(app, status=403)
        self.status = status
        self.paths: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.paths.append(f"{scope['method']} {scope['path'].removeprefix('/api')}")
            if scope["path"].endswith("/events") and scope["method"] == "POST":
                await send({"type": "http.response.start", "status": self.status, "headers": []})
                await send({"type": "http.response.body", "body": b'{"detail": "Not Found"}'})
                return
        await self.app(scope, receive, send)


@pytest.fixture
async def api() -> AsyncIterator[EmbeddedAPI]:
    async with embedded_api() as api:
        yield api


def recorded_client(api: EmbeddedAPI, **settings: Any) -> tuple[PrefectClient, Recorder]:
    made: list[Recorder] = []

    def wrap(inner: httpx.AsyncBaseTransport) -> httpx.AsyncBaseTransport:
        made.append(Recorder(inner))
        return made[0]

    chosen = api.settings.model_copy(update=settings) if settings else api.settings
    return api.client(wrap_transport=wrap, settings=chosen), made[0]


class Boom(Exception):
    pass


def pipeline() -> Any:
    """A flow of three tasks: one tagged, one that retries once, one that fails."""
    attempts = 0

    @task(tags=["etl"])
    async def extract() -> list[int]:
        get_run_logger().info("extracting")
        return [1, 2, 3]

    @task(retries=1, retry_delay_seconds=0.05)
    async def transform(rows: list[int]) -> int:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise Boom("flaky")
        return sum(rows)

    @task
    async def load(total: int) -> None:
        raise Boom(f"cannot load {total}")

    @flow(name="pipeline")
    async def run() -> int:
        total = await transform(await extract())
        with contextlib.suppress(Boom):
            await load(total)
        return total

    return run


async def by_task(flow_run_id: Any) -> dict[str, TaskRun]:
    return {run.task_key.rsplit("-", 1)[0]: run for run in await task_runs(flow_run_id)}


async def check_pipeline_records() -> None:
    """What the pipeline leaves, whichever way its task runs were reported."""
    flow_run = await only_flow_run("pipeline")
    assert flow_run.state_type is StateType.COMPLETED
    runs = await by_task(flow_run.id)
    assert sorted(runs) == ["extract", "load", "transform"]
    assert await state_names(task_run_id=runs["extract"].id) == ["Pending", "Running", "Completed"]
    assert await state_names(task_run_id=runs["transform"].id) == [
        "Pending",
        "Running",
        "AwaitingRetry",
        "Retrying",
        "Completed",
    ]
    assert await state_names(task_run_id=runs["load"].id) == ["Pending", "Running", "Failed"]
    assert runs["load"].state is not None
    assert runs["load"].state.message == "Task run encountered an exception Boom: cannot load 6"
    assert (runs["extract"].name, runs["transform"].name) == ("extract-0", "transform-0")
    assert runs["extract"].tags == ["etl"]
    assert runs["transform"].run_count == 2
    for run in runs.values():
        assert run.flow_run_id == flow_run.id
        assert run.start_time is not None
        assert run.end_time is not None
        assert run.flow_run_run_count == 1
    [line] = [entry for entry in await logs(flow_run.id) if entry.message == "extracting"]
    assert line.task_run_id == runs["extract"].id  # logs name the task run, as before


async def test_task_runs_go_by_events_with_no_task_run_request(api: EmbeddedAPI) -> None:
    client, recorder = recorded_client(api)
    async with client:
        with use_client(client):
            assert await pipeline()() == 6
    await check_pipeline_records()
    assert not [path for path in recorder.paths() if "/task_runs" in path]
    assert not [path for path in recorder.paths() if "/events" in path]  # by websocket


async def test_the_http_setting_reports_task_runs_over_http(api: EmbeddedAPI) -> None:
    client, recorder = recorded_client(api, client_task_run_reporting="http")
    async with client:
        with use_client(client):
            assert await pipeline()() == 6
    await check_pipeline_records()
    assert recorder.paths().count("POST /task_runs/") == 3


async def test_requests_per_flow_run_of_two_tasks_and_a_log_line(api: EmbeddedAPI) -> None:
    @task
    async def one() -> int:
        return 1

    @task
    async def two() -> int:
        return 2

    @flow(name="small")
    async def small() -> int:
        get_run_logger().info("adding")
        return await one() + await two()

    counts = {}
    for mode in ("http", "events"):
        client, recorder = recorded_client(api, client_task_run_reporting=mode)
        async with client:
            with use_client(client):
                assert await small() == 3
        # the flow is created once per process and API: whichever mode ran first
        counts[mode] = [path for path in recorder.paths() if path != "POST /flows/"]
    # the flow run, Running, Completed, the logs; over HTTP each task run adds its
    # creation and two state proposals
    assert len(counts["events"]) == 4, counts["events"]
    assert len(counts["http"]) - len(counts["events"]) == 2 * 3
    assert not [path for path in counts["events"] if "/task_runs" in path]


async def test_a_server_without_events_gets_task_runs_over_http() -> None:
    app = create_app(":memory:")
    proxy = NoEvents(app, status=404)
    async with PrefectClient(app) as reader, PrefectClient(proxy) as client:
        with use_client(client):
            assert await pipeline()() == 6
        assert "POST /events" in proxy.paths  # asked once, answered 404
        assert proxy.paths.count("POST /task_runs/") == 3
        [flow_run] = await reader.read_flow_runs()
        recorded = await reader.read_task_runs(
            task_run_filter=TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=[flow_run.id]))
        )
        assert sorted(run.state_name or "" for run in recorded) == [
            "Completed",
            "Completed",
            "Failed",
        ]


async def test_refused_websockets_still_report_by_events_through_post() -> None:
    app = create_app(":memory:")
    proxy = RefuseWebsockets(app, status=403)
    recorder: list[str] = []

    async def counting(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            recorder.append(f"{scope['method']} {scope['path'].removeprefix('/api')}")
        await proxy(scope, receive, send)

    async with PrefectClient(app) as reader, PrefectClient(counting) as client:
        with use_client(client):
            assert await pipeline()() == 6
        assert proxy.refused == 1
        assert not [path for path in recorder if "/task_runs" in path]
        assert "POST /events" in recorder
        recorded = await reader.read_task_runs()
        assert sorted(run.state_name or "" for run in recorded) == [
            "Completed",
            "Completed",
            "Failed",
        ]
        histories = [await reader.read_task_run_states(run.id) for run in recorded]
        assert sorted(len(history) for history in histories) == [3, 3, 5]


async def test_events_that_cannot_be_delivered_do_not_stop_the_flow(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_tree_events, "FLUSH_TIMEOUT", 0.5)  # real time: the server is real
    app = create_app(":memory:")
    proxy = NoEvents(app, status=503)  # no websockets, and POST /events keeps failing
    # one attempt per request, so the events client sees the outage at once
    settings = ClientSettings(client_max_retries=0, client_retry_timeout=0.2)

    @task
    async def step() -> str:
        return "done"

    @flow(name="offline-events")
    async def offline() -> str:
        return await step()

    caplog.set_level(logging.WARNING, logger="prefect_trio_client.events")
    async with PrefectClient(app) as reader, PrefectClient(proxy, settings=settings) as client:
        with use_client(client):
            assert await offline() == "done"
        [flow_run] = await reader.read_flow_runs()
        assert flow_run.state_type is StateType.COMPLETED
        assert await reader.read_task_runs() == []
    drops = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert len(drops) == 1
    assert drops[0].startswith("dropped 3 event(s)")  # Pending, Running, Completed


async def test_tag_limits_hold_task_runs_reported_by_events(api: EmbeddedAPI) -> None:
    async with api.client() as client:
        await client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(name="tag:db", limit=1)
        )
    running = 0
    most = 0

    @task(tags=["db"])
    async def query() -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await anyio.sleep(0.05)
        running -= 1

    @flow(name="limited")
    async def limited() -> None:
        async with anyio.create_task_group() as group:
            for _ in range(3):
                group.start_soon(query)

    await limited()
    assert most == 1
    flow_run = await only_flow_run("limited")
    assert [run.state_type for run in await task_runs(flow_run.id)] == [StateType.COMPLETED] * 3


class Refusals(Recorder):
    """Sets `refused` once the server has answered a slot request with 423 (limit full)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        super().__init__(inner)
        self.refused = anyio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        if response.status_code == 423:
            self.refused.set()
        return response


async def test_a_task_run_cancelled_while_waiting_for_tag_slots_is_cancelled(
    api: EmbeddedAPI,
) -> None:
    made: list[Refusals] = []

    def wrap(inner: httpx.AsyncBaseTransport) -> httpx.AsyncBaseTransport:
        made.append(Refusals(inner))
        return made[0]

    @task(tags=["busy"])
    async def never() -> None:
        raise AssertionError("ran without its slot")

    @flow(name="waits")
    async def waits() -> None:
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as group:
                group.start_soon(never)
                await made[0].refused.wait()
                scope.cancel()

    async with api.client(wrap_transport=wrap) as client:
        await client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(name="tag:busy", limit=1)
        )
        with use_client(client):
            async with concurrency("tag:busy"):  # the only slot is taken
                await waits()
    [run] = await task_runs((await only_flow_run("waits")).id)
    assert await state_names(task_run_id=run.id) == ["Pending", "Cancelled"]


async def test_concurrent_flow_runs_share_one_events_client(
    api: EmbeddedAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[EventsClient] = []
    enter = EventsClient.__aenter__

    async def counting_enter(self: EventsClient) -> EventsClient:
        opened.append(self)
        return await enter(self)

    monkeypatch.setattr(EventsClient, "__aenter__", counting_enter)

    @task
    async def square(x: int) -> int:
        return x * x

    @flow(name="fan")
    async def fan(x: int) -> int:
        return await square(x)

    client, _ = recorded_client(api)
    async with client:
        with use_client(client):
            async with anyio.create_task_group() as group:
                for index in range(20):
                    group.start_soon(fan, index)
            assert len(opened) == 1  # one websocket for all twenty, as Prefect's engine
            # the last run out flushed it: every task run is recorded
            assert len(await client.read_task_runs()) == 20
            # in-process, it does not linger: a later run opens it again
            assert _tree_events.events_app_of(client) is None
            assert await fan(5) == 25
            assert len(opened) == 2
