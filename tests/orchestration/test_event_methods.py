"""The event methods against the captured Prefect 3.9.1 exchanges, on both clients.

The captures (``tests/data/captures/events.json``, made by
``tests/captures/capture_events.py`` against a server with its services) hold what
Prefect's own client sent and what a real server answered. Each case calls our method with
the same inputs; a mock transport answers with the captured response, and the request we
sent must match the captured one (method, path, query, body: every field we send is one
Prefect sent, with the same value).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

import httpx
import pytest

from prefect_trio_client.exceptions import PrefectHTTPStatusError
from prefect_trio_client.schemas.events import (
    EventAnyResourceFilter,
    EventFilter,
    EventIDFilter,
    EventNameFilter,
    EventOccurredFilter,
    EventOrder,
    EventPage,
    EventRelatedFilter,
    EventResourceFilter,
    ReceivedEvent,
)
from tests.captures.loaded import load_captures
from tests.orchestration.harness import API_URL, ClientKind, call, make_client
from tests.orchestration.test_methods import SampleServer
from tests.orchestration.test_methods_queues_misc import assert_sent

CAPTURES = load_captures("events")

OF_RUN = "POST /events/filter (read_events of a flow run)"
PAGED = "POST /events/filter (read_events paged)"
NEXT = "GET /events/filter/next (read_events_page)"
BAD_TOKEN = "GET /events/filter/next (read_events_page of a bad token)"
NO_FILTER = "POST /events/filter (read_events no filter)"
POOLED = "POST /events/filter (read_events of the pooled run)"


def response_for(key: str) -> httpx.Response:
    sample = CAPTURES[key]
    if sample["response_body"] is None:
        return httpx.Response(sample["status_code"])
    return httpx.Response(sample["status_code"], json=sample["response_body"])


def sent_filter(key: str) -> dict[str, Any]:
    """The filter Prefect's client sent in a captured request."""
    found: dict[str, Any] = CAPTURES[key]["request_body"]["filter"]
    return found


def answered(key: str) -> dict[str, Any]:
    found: dict[str, Any] = CAPTURES[key]["response_body"]
    return found


def same_filter(key: str) -> EventFilter:
    """Prefect's filter, every field of it given (its time window included)."""
    return EventFilter.model_validate(sent_filter(key))


def run_resource_id() -> str:
    resource_id: str = sent_filter(OF_RUN)["resource"]["id"][0]
    return resource_id


def page_of(*names: str, total: int, more: bool) -> Callable[[Any], bool]:
    def check(page: Any) -> bool:
        assert isinstance(page, EventPage)
        assert all(isinstance(event, ReceivedEvent) for event in page.events)
        assert (page.next_page is not None) is more
        return [e.event for e in page.events] == list(names) and page.total == total

    return check


def prefix(key: str) -> str:
    found: str = sent_filter(key)["event"]["prefix"][0]
    return found


# method, the captured exchanges it makes, its arguments, the check of its result
CASES: dict[str, tuple[str, list[str], Callable[[], tuple[Any, ...]], Callable[[Any], Any]]] = {
    "read_events of a flow run": (
        "read_events",
        [OF_RUN],
        lambda: (
            EventFilter(
                event=EventNameFilter(prefix=["prefect.flow-run."]),
                resource=EventResourceFilter(id=[run_resource_id()]),
            ),
            10,
        ),
        page_of(
            "prefect.flow-run.Completed",
            "prefect.flow-run.Running",
            "prefect.flow-run.Pending",
            total=3,
            more=False,
        ),
    ),
    "read_events of the pooled run": (
        "read_events",
        [POOLED],
        lambda: (
            EventFilter(resource=EventResourceFilter(id=sent_filter(POOLED)["resource"]["id"])),
            10,
        ),
        lambda page: (
            [r.role for r in page.events[0].related] == ["flow", "work-queue", "work-pool"]
        ),
    ),
    "read_events paged": (
        "read_events",
        [PAGED],
        lambda: (EventFilter(event=EventNameFilter(prefix=[prefix(PAGED)])), 2),
        page_of(f"{prefix(PAGED)}thing-2", f"{prefix(PAGED)}thing-1", total=3, more=True),
    ),
    "read_events_page": (
        "read_events_page",
        [NEXT],
        lambda: (answered(PAGED)["next_page"],),
        page_of(f"{prefix(PAGED)}thing-0", total=3, more=False),
    ),
    "read_events no filter": (
        "read_events",
        [NO_FILTER],
        lambda: (None, 1),
        lambda page: len(page.events) == 1 and page.total > 1 and page.next_page is not None,
    ),
    "read_events related": (
        "read_events",
        ["POST /events/filter (read_events related)"],
        lambda: (
            EventFilter(
                related=EventRelatedFilter(role=["flow-run"], id=[run_resource_id()]),
                order=EventOrder.ASC,
            ),
            10,
        ),
        lambda page: [e.payload["n"] for e in page.events] == [0, 1, 2],
    ),
    "read_events any resource labels": (
        "read_events",
        ["POST /events/filter (read_events any resource labels)"],
        lambda: (
            same_filter("POST /events/filter (read_events any resource labels)"),
            10,
        ),
        lambda page: [e.resource["capture.colour"] for e in page.events] == ["blue"],
    ),
    "read_events id and occurred": (
        "read_events",
        ["POST /events/filter (read_events id and occurred)"],
        lambda: (
            EventFilter(
                id=EventIDFilter(
                    id=[
                        UUID(
                            sent_filter("POST /events/filter (read_events id and occurred)")["id"][
                                "id"
                            ][0]
                        )
                    ]
                ),
                occurred=EventOccurredFilter.model_validate(
                    sent_filter("POST /events/filter (read_events id and occurred)")["occurred"]
                ),
            ),
            10,
        ),
        lambda page: [e.payload["n"] for e in page.events] == [0],
    ),
    "read_events resource labels": (
        "read_events",
        ["POST /events/filter (read_events resource labels)"],
        lambda: (same_filter("POST /events/filter (read_events resource labels)"), 10),
        lambda page: [e.payload["n"] for e in page.events] == [2, 1],
    ),
}


@pytest.mark.anyio
@pytest.mark.parametrize("name", sorted(CASES))
async def test_method_matches_the_captured_exchange(kind: ClientKind, name: str) -> None:
    method, keys, args, check = CASES[name]
    server = SampleServer(keys, respond=response_for)
    async with make_client(kind, server) as client:
        result = await call(client, method, *args())
    assert check(result) in (None, True), f"{name} returned {result!r}"
    assert len(server.requests) == len(keys)
    for request, key in zip(server.requests, keys, strict=True):
        assert_sent(request, CAPTURES[key])


def test_every_captured_read_has_a_case() -> None:
    captured = {
        value["client_method"]
        for value in CAPTURES.values()
        if value["client_method"].startswith("read_events") and value["status_code"] == 200
    }
    covered = set(CASES)
    assert captured - covered == set()


@pytest.mark.anyio
async def test_an_unset_time_window_is_left_to_the_server(kind: ClientKind) -> None:
    """Prefect's client sends its own "now" as ``until``; ours sends no bound it was not
    given, so a filter built once and read again later still sees newer events."""
    server = SampleServer([OF_RUN], respond=response_for)
    model = EventFilter(event=EventNameFilter(prefix=["prefect.flow-run."]))
    async with make_client(kind, server) as client:
        await call(client, "read_events", model, 10)
    sent = httpx.Response(200, content=server.requests[0].content).json()
    assert sent == {
        "filter": {"occurred": {}, "event": {"prefix": ["prefect.flow-run."]}},
        "limit": 10,
    }


@pytest.mark.anyio
async def test_the_default_limit_asks_for_what_a_server_serves(kind: ClientKind) -> None:
    """Prefect's default of 100 gets a 422 from Prefect's server (at most 50 a page):
    ours asks for 50, and the rest come by the next page."""
    refused = CAPTURES["POST /events/filter (read_events default limit)"]
    assert (refused["status_code"], refused["request_body"]["limit"]) == (422, 100)
    server = SampleServer([NO_FILTER], respond=response_for)
    async with make_client(kind, server) as client:
        page = await call(client, "read_events")
    assert isinstance(page, EventPage)
    sent = httpx.Response(200, content=server.requests[0].content).json()
    assert sent == {"filter": None, "limit": 50}


@pytest.mark.anyio
async def test_a_next_page_is_read_from_the_configured_api(kind: ClientKind) -> None:
    """The page token goes to our own API URL, whatever host the link names: the
    client's credentials never follow a link to another host."""
    link = httpx.URL(answered(PAGED)["next_page"]).copy_with(host="elsewhere.example", port=8443)
    server = SampleServer([NEXT], respond=response_for)
    async with make_client(kind, server) as client:
        await call(client, "read_events_page", str(link))
    (request,) = server.requests
    api = httpx.URL(API_URL)
    assert (request.url.host, request.url.port) == (api.host, api.port)
    assert request.url.path == f"{api.path}/events/filter/next"
    assert request.url.query == link.query  # the token as the server wrote it


@pytest.mark.anyio
@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:4210/api/flows/filter?page-token=x", "/events/filter/next", ""]
)
async def test_what_is_not_a_next_page_is_refused_before_a_request(
    kind: ClientKind, url: str
) -> None:
    server = SampleServer([])
    async with make_client(kind, server) as client:
        with pytest.raises(ValueError, match="not the next_page of an event page"):
            await call(client, "read_events_page", url)
    assert server.requests == []


@pytest.mark.anyio
async def test_a_page_token_the_server_refuses_raises(kind: ClientKind) -> None:
    server = SampleServer([BAD_TOKEN], respond=response_for)
    url = CAPTURES[BAD_TOKEN]["url"]
    async with make_client(kind, server) as client:
        with pytest.raises(PrefectHTTPStatusError) as info:
            await call(client, "read_events_page", url)
    assert info.value.response.status_code == 403


@pytest.mark.anyio
async def test_a_list_of_resource_filters_is_sent_as_a_list(kind: ClientKind) -> None:
    """Prefect takes one related or any-resource filter or a list (all must match)."""
    key = "POST /events/filter (read_events any resource labels)"
    one = EventAnyResourceFilter.model_validate(sent_filter(key)["any_resource"])
    server = SampleServer([key], respond=response_for)
    async with make_client(kind, server) as client:
        await call(client, "read_events", EventFilter(any_resource=[one, one]), 10)
    sent = httpx.Response(200, content=server.requests[0].content).json()
    assert sent["filter"]["any_resource"] == [one.model_dump(mode="json")] * 2
