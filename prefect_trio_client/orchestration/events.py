"""Event endpoints: reading the events a server stored, a page at a time."""

from __future__ import annotations

import httpx

from prefect_trio_client.orchestration._plan import Plan, Request
from prefect_trio_client.orchestration._wire import body, parse
from prefect_trio_client.schemas.events import EventFilter, EventPage

__all__ = ["PAGE_SIZE_MAXIMUM", "read_events", "read_events_page"]

PAGE_SIZE_MAXIMUM = 50
"""The most events a Prefect server serves in one page (its ``limit`` is at most 50)."""

_NEXT_PAGE_PATH = "/events/filter/next"


def read_events(filter: EventFilter | None = None, limit: int = 100) -> Plan[EventPage]:
    """The first page of events matching `filter` (newest first unless it says ASC), with
    the total that match and the URL of the next page.

    `limit` is the most events in the page. A Prefect server serves at most 50 a page
    and answers 422 for more (so Prefect's own client fails with its default of 100):
    a larger `limit` is sent as 50, and the rest come by ``read_events_page``.
    """
    request = {"filter": body(filter), "limit": min(limit, PAGE_SIZE_MAXIMUM)}
    response = yield Request("POST", "/events/filter", json=request, idempotent=True)
    return parse(EventPage, response)


def read_events_page(next_page_url: str) -> Plan[EventPage]:
    """The page a previous page's ``next_page`` names.

    The server writes ``next_page`` as an absolute URL from what it saw of the request.
    Prefect's client requests that URL as it is; this one sends its query (the page
    token) to ``/events/filter/next`` of the API it is configured for. So the client's
    credentials never go to a host the answer named, and behind a proxy that serves the
    API under a path prefix (which the server does not know about) the page is still
    found.

    Raises:
        ValueError: `next_page_url` is not an ``.../events/filter/next?...`` URL.
    """
    url = httpx.URL(str(next_page_url))
    if not url.path.rstrip("/").endswith(_NEXT_PAGE_PATH) or not url.query:
        raise ValueError(
            f"{next_page_url!r} is not the next_page of an event page"
            f" (an .../events/filter/next?page-token=... URL)"
        )
    # The query as it came (a page token is base64: re-encoding could turn "+" into " ").
    query = url.query.decode("ascii")
    response = yield Request("GET", f"{_NEXT_PAGE_PATH}?{query}")
    return parse(EventPage, response)
