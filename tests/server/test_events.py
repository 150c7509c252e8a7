"""Events on the embedded server (issue 11): the state-change events it writes with each
run state, posted events, Prefect's filters and paging. Shapes and errors are compared
with Prefect 3.9.1's answers (``tests/data/captures/events.json``); the end-to-end
scenario is the one the interop suite runs against a real server."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import anyio
import httpx
import pytest

from prefect_trio_client import states
from prefect_trio_client.orchestration import PrefectClient, SyncPrefectClient
from prefect_trio_client.schemas.actions import WorkPoolCreate
from prefect_trio_client.schemas.events import EventFilter, EventResourceFilter
from prefect_trio_client.server import create_app
from tests.captures.loaded import load_captures
from tests.interop.test_events import events_scenario
from tests.interop.test_lifecycle import Blocking
from tests.server.helpers import FakeClock, assert_keys_like
from tests.server.test_names_in_paths import SETTINGS, embedded

pytestmark = pytest.mark.anyio

CAPTURES = load_captures("events")


def prefect_answer(key: str) -> Any:
    return CAPTURES[key]["response_body"]


@pytest.fixture
async def prefect() -> AsyncIterator[PrefectClient]:
    async with embedded() as client:
        yield client


# --------------------------------------------------------------------------- end to end


async def test_the_interop_scenario(prefect: PrefectClient) -> None:
    await events_scenario(prefect, "embedded")


def test_the_interop_scenario_with_the_sync_client() -> None:
    with SyncPrefectClient(create_app(":memory:"), settings=SETTINGS) as client:
        anyio.run(events_scenario, Blocking(client), "embedded")


# --------------------------------------------------------------------------- state changes


async def run_events(prefect: PrefectClient, resource_id: str) -> list[dict[str, Any]]:
    response = await prefect.httpx_client.post(
        "/events/filter",
        json={"filter": {"resource": {"id": [resource_id]}, "order": "ASC"}, "limit": 50},
    )
    assert response.status_code == 200
    events: list[dict[str, Any]] = response.json()["events"]
    return events


async def test_a_flow_run_event_has_prefects_shape(prefect: PrefectClient) -> None:
    await prefect.create_work_pool(WorkPoolCreate(name="ev-pool", type="process"))
    flow_id = await prefect.create_flow_from_name("ev-flow")
    run = await prefect.create_flow_run(flow_id, work_pool_name="ev-pool", tags=["ev-tag"])
    (pending,) = await run_events(prefect, f"prefect.flow-run.{run.id}")
    theirs = prefect_answer("POST /events/filter (read_events of the pooled run)")["events"][0]
    assert_keys_like(pending, theirs)
    assert set(pending["resource"]) == set(theirs["resource"])
    assert pending["payload"] == theirs["payload"]
    assert [r["prefect.resource.role"] for r in pending["related"]] == [
        "flow",
        "work-queue",
        "work-pool",
        "tag",
    ]
    pool = pending["related"][2]
    assert (pool["prefect.resource.name"], pool["prefect.work-pool.type"]) == ("ev-pool", "process")
    assert pending["id"] == str(run.state.id if run.state else None)


async def test_only_states_written_are_events(prefect: PrefectClient) -> None:
    """The event is written with the state, in its transaction: a refused or aborted
    proposal writes neither."""
    run = await prefect.create_flow_run(await prefect.create_flow_from_name("f"))
    await prefect.set_flow_run_state(run.id, states.Running())
    aborted = await prefect.set_flow_run_state(run.id, states.Pending())
    assert aborted.status.value == "ABORT"
    events = await run_events(prefect, f"prefect.flow-run.{run.id}")
    history = await prefect.read_flow_run_states(run.id)
    assert [e["id"] for e in events] == [str(s.id) for s in history]
    assert [e["event"] for e in events] == ["prefect.flow-run.Pending", "prefect.flow-run.Running"]


async def test_task_run_state_changes_are_events(prefect: PrefectClient) -> None:
    """Prefect's engine sends these from the client; this server orchestrates task runs,
    so it writes them in the same shape as a flow run's."""
    run = await prefect.create_flow_run(await prefect.create_flow_from_name("f"), tags=["a"])
    await prefect.set_flow_run_state(run.id, states.Running())
    task = await prefect.create_task_run(
        flow_run_id=run.id, task_key="k", dynamic_key="0", name="t", tags=["b"]
    )
    await prefect.set_task_run_state(task.id, states.Running())
    await prefect.set_task_run_state(task.id, states.Completed())
    events = await run_events(prefect, f"prefect.task-run.{task.id}")
    assert [e["event"] for e in events] == [
        "prefect.task-run.Pending",
        "prefect.task-run.Running",
        "prefect.task-run.Completed",
    ]
    last = events[-1]
    assert last["resource"]["prefect.run-count"] == "1"
    assert [(r["prefect.resource.role"], r["prefect.resource.id"]) for r in last["related"]] == [
        ("flow-run", f"prefect.flow-run.{run.id}"),
        ("flow", f"prefect.flow.{run.flow_id}"),
        ("tag", "prefect.tag.a"),
        ("tag", "prefect.tag.b"),
    ]
    assert last["follows"] == events[1]["id"]


async def test_a_subflow_relates_to_its_parent_task_run(prefect: PrefectClient) -> None:
    flow_id = await prefect.create_flow_from_name("f")
    parent = await prefect.create_flow_run(flow_id)
    await prefect.set_flow_run_state(parent.id, states.Running())
    stand_in = await prefect.create_task_run(flow_run_id=parent.id, task_key="sub", dynamic_key="0")
    child = await prefect.create_flow_run(flow_id, parent_task_run_id=stand_in.id)
    (event,) = await run_events(prefect, f"prefect.flow-run.{child.id}")
    roles = {r["prefect.resource.role"]: r["prefect.resource.id"] for r in event["related"]}
    assert roles["task-run"] == f"prefect.task-run.{stand_in.id}"
    # the stand-in task run takes the child's state too, and that is an event of its own
    mirrored = await run_events(prefect, f"prefect.task-run.{stand_in.id}")
    assert [e["event"] for e in mirrored] == ["prefect.task-run.Pending"] * 2


# --------------------------------------------------------------------------- posting


def event(name: str, at: datetime, **extra: Any) -> dict[str, Any]:
    resource = {"prefect.resource.id": f"thing.{name}", **extra.pop("labels", {})}
    return {
        "occurred": at.isoformat(),
        "event": name,
        "resource": resource,
        "id": str(extra.pop("id", uuid4())),
        **extra,
    }


async def post(client: httpx.AsyncClient, *events: dict[str, Any]) -> None:
    response = await client.post("/events", json=list(events))
    assert (response.status_code, response.content) == (204, b"")


async def names(client: httpx.AsyncClient, model: dict[str, Any], **body: Any) -> list[str]:
    response = await client.post("/events/filter", json={"filter": model, **body})
    assert response.status_code == 200, response.text
    return [e["event"] for e in response.json()["events"]]


async def test_posted_events_are_read_back_as_received(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    posted = event("a.b", clock.now - timedelta(seconds=5), payload={"x": [1]})
    await post(client, posted)
    clock.advance(1)
    await post(client, {**posted, "event": "a.again"})  # the same id: skipped
    page = (await client.post("/events/filter", json={})).json()
    assert page == {
        "events": [
            {
                **posted,
                "occurred": "2029-12-31T23:59:55.000000Z",
                "related": [],
                "follows": None,
                "received": "2030-01-01T00:00:00.000000Z",
            }
        ],
        "total": 1,
        "next_page": None,
    }


async def test_a_posted_event_needs_an_id_and_a_time(client: httpx.AsyncClient) -> None:
    key = "POST /events (post_events without id and occurred)"
    response = await client.post("/events", json=CAPTURES[key]["request_body"])
    assert response.status_code == 422
    theirs = prefect_answer(key)
    ours = response.json()
    assert [(e["loc"], e["type"]) for e in ours["exception_detail"]] == [
        (e["loc"], e["type"]) for e in theirs["exception_detail"]
    ]
    assert ours["request_body"] == theirs["request_body"]


@pytest.mark.parametrize(
    "bad",
    [
        {"resource": {}},
        {"resource": {"prefect.resource.id": ""}},
        {"related": [{"prefect.resource.id": "x"}]},
        {"event": "x" * 1025},
    ],
)
async def test_malformed_events_are_refused(
    client: httpx.AsyncClient, clock: FakeClock, bad: dict[str, Any]
) -> None:
    response = await client.post("/events", json=[{**event("e", clock.now), **bad}])
    assert response.status_code == 422


# --------------------------------------------------------------------------- filters


@pytest.fixture
async def stored(client: httpx.AsyncClient, clock: FakeClock) -> httpx.AsyncClient:
    """Five events, a second apart (oldest first), with labels and related resources."""
    start = clock.now - timedelta(seconds=10)
    await post(
        client,
        event(
            "app.build.started",
            start,
            labels={"colour": "red", "size": "S"},
            related=[
                {"prefect.resource.id": "prefect.flow-run.1", "prefect.resource.role": "flow-run"}
            ],
        ),
        event(
            "app.build.done",
            start + timedelta(seconds=1),
            labels={"colour": "blue"},
            related=[
                {"prefect.resource.id": "prefect.flow-run.1", "prefect.resource.role": "flow-run"},
                {"prefect.resource.id": "prefect.tag.x", "prefect.resource.role": "tag"},
            ],
            payload={"note": "Connection Timeout here"},
        ),
        event("app.deploy.started", start + timedelta(seconds=2), labels={"colour": "blue-ish"}),
        event(
            "other.thing",
            start + timedelta(seconds=3),
            related=[
                {"prefect.resource.id": "app.build.started-ish", "prefect.resource.role": "x"}
            ],
        ),
        {
            **event("app.build.done", start + timedelta(seconds=4), labels={"colour": "green"}),
            "resource": {"prefect.resource.id": "thing.app.build.started", "colour": "green"},
        },
    )
    return client


# The names of the stored events, and all of them newest first.
DONE, STARTED, DEPLOY, OTHER = (
    "app.build.done",
    "app.build.started",
    "app.deploy.started",
    "other.thing",
)
EVERY = [DONE, OTHER, DEPLOY, DONE, STARTED]


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ({}, EVERY),
        ({"order": "ASC", "event": {"prefix": ["app.build."]}}, [STARTED, DONE, DONE]),
        ({"event": {"prefix": ["app."], "exclude_prefix": ["app.build"]}}, [DEPLOY]),
        ({"event": {"name": [OTHER, "nope"]}}, [OTHER]),
        ({"event": {"exclude_name": [DONE], "prefix": ["app"]}}, [DEPLOY, STARTED]),
        ({"resource": {"id": ["thing.other.thing"]}}, [OTHER]),
        ({"resource": {"id_prefix": ["thing.app.deploy", "thing.other"]}}, [OTHER, DEPLOY]),
        ({"resource": {"labels": {"colour": "blue*"}}}, [DEPLOY, DONE]),
        ({"resource": {"labels": {"colour": ["red", "gre?n"]}}}, [DONE, STARTED]),
        ({"resource": {"labels": {"colour": "!blue*"}}}, [DONE, STARTED]),
        ({"resource": {"labels": {"colour": []}}}, []),
        ({"resource": {"labels": {"colour": "red", "size": "S"}}}, [STARTED]),
        ({"resource": {"labels": {"prefect.resource.id": "thing.app.build.*"}}}, [DONE, DONE, STARTED]),  # noqa: E501
        ({"resource": {"id_prefix": ["thing.app.build."], "distinct": True}}, [DONE, DONE]),
        ({"related": {"role": ["tag"]}}, [DONE]),
        ({"related": {"id": ["prefect.flow-run.1"]}}, [DONE, STARTED]),
        ({"related": {"id": ["thing.other.thing"]}}, []),  # own resources are not related ones
        ({"related": {"resources_in_roles": [["prefect.tag.x", "tag"], ["prefect.flow-run.1", "x"]]}}, [DONE]),  # noqa: E501
        ({"related": {"labels": {"prefect.resource.id": "prefect.flow-run.*", "prefect.resource.role": "flow-run"}}}, [DONE, STARTED]),  # noqa: E501
        ({"related": [{"role": ["flow-run"]}, {"role": ["tag"]}]}, [DONE]),
        ({"related": {}}, EVERY),
        ({"any_resource": {"id_prefix": ["app.build"]}}, [OTHER]),
        ({"any_resource": {"id": ["prefect.tag.x", "thing.other.thing"]}}, [OTHER, DONE]),
        ({"any_resource": [{"id_prefix": ["prefect.flow-run."]}, {"labels": {"colour": "red"}}]}, [STARTED]),  # noqa: E501
        ({"any_resource": {"labels": {"prefect.resource.role": "x"}}}, [OTHER]),
        ({"text": {"query": "connection"}}, [DONE]),
        ({"text": {"query": '"connection timeout"'}}, [DONE]),
        ({"text": {"query": "blue -ish"}}, [DONE]),
        ({"text": {"query": "BLUE !ish"}}, [DONE]),
        ({"text": {"query": "app +deploy"}}, [DEPLOY]),
        ({"text": {"query": "  "}}, EVERY),
    ],
)  # fmt: skip
async def test_filters_select_as_prefects_do(
    stored: httpx.AsyncClient, model: dict[str, Any], expected: list[str]
) -> None:
    assert await names(stored, model) == expected


async def test_events_by_id(client: httpx.AsyncClient, clock: FakeClock) -> None:
    first, second = event("one", clock.now), event("two", clock.now - timedelta(seconds=1))
    await post(client, first, second)
    assert await names(client, {"id": {"id": [second["id"]]}}) == ["two"]
    assert await names(client, {"id": {"id": []}}) == ["one", "two"]  # Prefect's client's default


async def test_the_default_window_is_180_days_to_now(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    """Unset bounds come from the server's clock: since the start of the day 180 days
    back, until now (an event stamped in the future is not shown yet)."""
    today = clock.now.replace(hour=0, minute=0, second=0, microsecond=0)
    await post(
        client,
        event("too-old", today - timedelta(days=180, microseconds=1)),
        event("oldest", today - timedelta(days=180)),
        event("now", clock.now),
        event("future", clock.now + timedelta(seconds=1)),
    )
    assert await names(client, {}) == ["now", "oldest"]
    assert await names(client, {"occurred": {}}) == ["now", "oldest"]
    clock.advance(1)
    assert await names(client, {}) == ["future", "now", "oldest"]
    window = {"since": clock.now.isoformat(), "until": (clock.now + timedelta(days=1)).isoformat()}
    assert await names(client, {"occurred": window}) == ["future"]
    old = {"since": "2000-01-01T00:00:00Z"}
    assert await names(client, {"occurred": old, "order": "ASC"}) == [
        "too-old",
        "oldest",
        "now",
        "future",
    ]


# --------------------------------------------------------------------------- paging


async def test_pages_follow_prefects_tokens(client: httpx.AsyncClient, clock: FakeClock) -> None:
    """The count and the time window are those of the first page (Prefect's tokens carry
    them): an event that occurs after the first page was read does not move the pages."""
    posted = [event(f"e{i}", clock.now - timedelta(seconds=10 - i)) for i in range(5)]
    await post(client, *posted)
    first = (await client.post("/events/filter", json={"limit": 2})).json()
    assert ([e["event"] for e in first["events"]], first["total"]) == (["e4", "e3"], 5)
    link = httpx.URL(first["next_page"])
    assert link.path == "/api/events/filter/next"
    token = json.loads(base64.b64decode(base64.b64decode(link.params["page-token"])))
    assert (token["count"], token["page_size"], token["offset"]) == (5, 2, 2)
    assert set(token["filter"]["occurred"]) == {"since", "until"}

    clock.advance(1)
    await post(client, event("late", clock.now))
    seen = []
    next_link: httpx.URL | None = link
    while next_link is not None:
        response = await client.get(str(next_link))
        assert response.status_code == 200
        page = response.json()
        assert page["total"] == 5
        seen += [e["event"] for e in page["events"]]
        next_link = httpx.URL(page["next_page"]) if page["next_page"] else None
    assert seen == ["e2", "e1", "e0"]


async def test_a_next_page_link_survives_a_plus_sent_unencoded(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    """Prefect's links carry raw base64; a ``+`` of it reads as a space in a query."""
    await post(client, *(event(f"e{i}", clock.now) for i in range(3)))
    first = (await client.post("/events/filter", json={"limit": 1})).json()
    token = httpx.URL(first["next_page"]).params["page-token"]
    response = await client.get(
        "/events/filter/next", params={"page-token": token.replace("+", " ")}
    )
    assert response.status_code == 200


async def test_the_page_size_is_prefects(client: httpx.AsyncClient, clock: FakeClock) -> None:
    await post(client, *(event(f"e{i}", clock.now) for i in range(51)))
    page = (await client.post("/events/filter", json={"filter": None})).json()
    assert (len(page["events"]), page["total"]) == (50, 51)
    key = "POST /events/filter (read_events default limit)"
    response = await client.post("/events/filter", json=CAPTURES[key]["request_body"])
    assert (response.status_code, response.json()) == (422, prefect_answer(key))
    assert (await client.post("/events/filter", json={"limit": -1})).status_code == 422
    empty = (await client.post("/events/filter", json={"limit": 0})).json()
    assert (empty["events"], empty["total"]) == ([], 51)


@pytest.mark.parametrize(
    "token",
    [
        "bm90LWpzb24=",  # Prefect's capture: base64 of something that is not a token
        "!!!",
        "",
        base64.b64encode(base64.b64encode(b'{"filter": {}, "count": 1}')).decode(),
        base64.b64encode(
            base64.b64encode(b'{"filter": {"x": 1}, "count": 1, "page_size": 1, "offset": 1}')
        ).decode(),
    ],
)  # fmt: skip
async def test_a_bad_page_token_is_forbidden(client: httpx.AsyncClient, token: str) -> None:
    response = await client.get("/events/filter/next", params={"page-token": token})
    theirs = prefect_answer("GET /events/filter/next (read_events_page of a bad token)")
    assert (response.status_code, response.json()) == (403, theirs)


async def test_a_missing_page_token_is_invalid(client: httpx.AsyncClient) -> None:
    response = await client.get("/events/filter/next")
    assert response.status_code == 422
    assert response.json()["exception_detail"][0]["loc"] == ["query", "page-token"]


async def test_our_client_reads_every_page(prefect: PrefectClient) -> None:
    flow_id = await prefect.create_flow_from_name("f")
    run_ids: list[UUID] = []
    for _ in range(26):  # 26 Pending events, then 26 Running: 52 in all
        run_ids.append((await prefect.create_flow_run(flow_id)).id)
    for run_id in run_ids:
        await prefect.set_flow_run_state(run_id, states.Running())
    page = await prefect.read_events()  # Prefect's default of 100, sent as 50
    assert (len(page.events), page.total) == (50, 52)
    following = await prefect.read_events_page(str(page.next_page))
    assert len(following.events) == 2
    assert following.next_page is None
    everything = [e.id for e in page.events + following.events]
    assert len(set(everything)) == 52
    of_one = EventFilter(resource=EventResourceFilter(id=[f"prefect.flow-run.{run_ids[0]}"]))
    assert (await prefect.read_events(of_one)).total == 2
