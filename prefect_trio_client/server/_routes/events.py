"""Events: posted by clients, written for run state changes (``_events``), read in pages."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated
from urllib.parse import quote
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response

from prefect_trio_client.schemas.events import Event, EventFilter
from prefect_trio_client.schemas.objects import DateTime
from prefect_trio_client.server._db import Tx
from prefect_trio_client.server._errors import ApiError, invalid_request
from prefect_trio_client.server._events import (
    InvalidPageToken,
    Page,
    first_page,
    next_page,
    store_events,
)
from prefect_trio_client.server._http import (
    Reply,
    api_of,
    json_body,
    no_content,
    ok,
    route,
    validate,
    validate_as,
)

__all__ = ["ROUTES"]

PAGE_SIZE = 50
"""Prefect's page size for event queries: the default ``limit`` and its maximum."""
MAXIMUM_EVENT_NAME_LENGTH = 1024
"""Prefect's ``PREFECT_SERVER_EVENTS_MAXIMUM_EVENT_NAME_LENGTH`` default."""


def _short_name(name: str) -> str:
    if len(name) > MAXIMUM_EVENT_NAME_LENGTH:
        raise ValueError(f"Event name must be at most {MAXIMUM_EVENT_NAME_LENGTH} characters")
    return name


class PostedEvent(Event):
    """An event as a client posts it: the server requires its id and time."""

    occurred: DateTime
    event: Annotated[str, AfterValidator(_short_name)]
    id: UUID


class EventsBody(BaseModel):
    """Body of ``/events/filter``."""

    model_config = ConfigDict(extra="ignore")

    filter: EventFilter | None = None
    limit: int = Field(PAGE_SIZE, ge=0, le=PAGE_SIZE)


async def create(request: Request) -> Response:
    events: list[PostedEvent] = validate_as(list[PostedEvent], await json_body(request))
    docs = [event.model_dump(mode="json") for event in events]

    def work(tx: Tx) -> Reply:
        store_events(tx, docs)
        return no_content()

    return await api_of(request).write(work)


def _answer(request: Request, page: Page) -> Reply:
    events, total, token = page
    link = None
    if token is not None:
        path = request.url.path.rstrip("/")
        if not path.endswith("/next"):
            path += "/next"
        page_token = quote(base64.b64encode(token.encode()).decode(), safe="")
        link = str(request.url.replace(path=path, query=f"page-token={page_token}"))
    return ok({"events": events, "total": total, "next_page": link})


async def read_events(request: Request) -> Response:
    body = validate(EventsBody, await json_body(request, None) or {})
    model = body.filter or EventFilter()
    return await api_of(request).read(
        lambda tx: _answer(request, first_page(tx, model, body.limit))
    )


def _forbidden() -> ApiError:
    return ApiError(403, "Forbidden")


async def read_next_page(request: Request) -> Response:
    param = request.query_params.get("page-token")
    if param is None:
        missing = {"type": "missing", "loc": ["query", "page-token"], "msg": "Field required"}
        raise invalid_request([{**missing, "input": None}], None)
    try:  # a "+" of the base64 arrives as " " when the link was used unencoded
        token = base64.b64decode(param.replace(" ", "+"), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise _forbidden() from None
    if not token:
        raise _forbidden()

    def work(tx: Tx) -> Reply:
        try:
            return _answer(request, next_page(tx, token))
        except InvalidPageToken:
            raise _forbidden() from None

    return await api_of(request).read(work)


ROUTES = [
    route("/events", create, "POST"),
    route("/events/filter", read_events, "POST"),
    route("/events/filter/next", read_next_page, "GET"),
]
