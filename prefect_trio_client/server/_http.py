"""The glue between Starlette and the store: bodies in, transactions, replies out.

A handler reads and validates its request on the event loop (bounded work: one body),
then hands one function to `Api.read` or `Api.write`. That function runs in the
database's worker thread inside one transaction and returns a `Reply`; the reply is
encoded to JSON there too, so big lists never cost the loop anything. `api_handler`
wraps every handler so that no exception escapes as a bare 500: refusals become
Prefect-shaped errors and real bugs are logged and answered 500 with a detail.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar
from uuid import UUID

from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.requests import ClientDisconnect, HTTPConnection, Request
from starlette.responses import Response
from starlette.routing import Route

from prefect_trio_client.server._db import Database, DatabaseNotOpen, Tx, dumps
from prefect_trio_client.server._errors import (
    INTEGRITY_DETAIL,
    ApiError,
    error_response,
    invalid_request,
    validation_failed,
)
from prefect_trio_client.server._event_stream import EventStream
from prefect_trio_client.server._time import Clock

__all__ = [
    "Api",
    "Reply",
    "ServerConfig",
    "api_handler",
    "api_of",
    "created",
    "json_body",
    "no_content",
    "ok",
    "path_id",
    "query_uuid",
    "route",
    "validate",
    "validate_as",
]

logger = logging.getLogger("prefect_trio_client.server")

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")
Handler = Callable[[Request], Awaitable[Response]]

_REQUIRED: Any = object()


@dataclass(frozen=True)
class ServerConfig:
    """Settings fixed when the app is created."""

    csrf_protection: bool = False
    csrf_token_lifetime: timedelta = timedelta(hours=1)
    default_limit: int = 200
    """The page size when a filter gives none, and the largest one allowed (Prefect's)."""


@dataclass
class Reply:
    """What a transaction answers: a status, a JSON-ready body, headers."""

    status_code: int = 200
    content: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    empty: bool = False
    """No body at all (204), rather than JSON ``null``."""
    encoded: str | None = None
    """The body already as compact JSON (a listing of stored documents, joined as stored,
    so they are not decoded and encoded again); `content` is then ignored."""

    def encode(self) -> Response:
        if self.empty:
            return Response(status_code=self.status_code, headers=self.headers)
        text = dumps(self.content) if self.encoded is None else self.encoded
        return Response(
            text.encode(),
            self.status_code,
            headers=self.headers,
            media_type="application/json",
        )


def ok(content: Any) -> Reply:
    return Reply(200, content)


def created(content: Any, is_new: bool = True) -> Reply:
    """201 for a new object, 200 when an existing one is returned instead (Prefect's rule)."""
    return Reply(201 if is_new else 200, content)


def no_content() -> Reply:
    return Reply(204, empty=True)


class Api:
    """What every handler needs: the store, the clock and the settings of one app."""

    def __init__(self, database: Database, clock: Clock, config: ServerConfig) -> None:
        self.database = database
        self.clock = clock
        self.config = config
        self.events = EventStream()

    async def read(self, work: Callable[[Tx], Reply]) -> Response:
        """Answer from a read transaction (see the module docstring)."""
        return await self.database.read(lambda tx: work(tx).encode())

    async def write(self, work: Callable[[Tx], Reply]) -> Response:
        """Answer from a write transaction, committed only if `work` returns."""
        return await self.transact(lambda tx: work(tx).encode())

    async def transact(self, work: Callable[[Tx], T]) -> T:
        """Run `work` in a write transaction; once it commits, the events it stored go to
        the live subscribers (``/events/out``)."""
        result, stored = await self.database.write(lambda tx: (work(tx), tx.stored_events))
        if stored:
            self.events.publish(stored)
        return result


def api_of(connection: HTTPConnection) -> Api:
    """The API of the app serving a request or a websocket."""
    api: Api = connection.app.state.prefect_api
    return api


# --------------------------------------------------------------------------- input


async def json_body(request: Request, default: Any = _REQUIRED) -> Any:
    """The request's JSON body; `default` when it is empty (else 422 "missing").

    Raises:
        ApiError: 422 in Prefect's shape for an empty required body or malformed JSON.
    """
    raw = await request.body()
    if not raw.strip():
        if default is _REQUIRED:
            missing = {"type": "missing", "loc": ["body"], "msg": "Field required", "input": None}
            raise invalid_request([missing], None)
        return default
    try:
        return json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite_float)
    except UnicodeDecodeError as exc:
        error = {
            "type": "json_invalid",
            "loc": ["body", exc.start],
            "msg": "JSON decode error",
            "input": {},
            "ctx": {"error": "the body is not UTF-8"},
        }
        raise invalid_request([error], raw.decode("utf-8", "replace")) from None
    except json.JSONDecodeError as exc:
        error = {
            "type": "json_invalid",
            "loc": ["body", exc.pos],
            "msg": "JSON decode error",
            "input": {},
            "ctx": {"error": exc.msg},
        }
        raise invalid_request([error], raw.decode("utf-8", "replace")) from None
    except ValueError as exc:  # NaN, Infinity, or a number too large for a float
        error = {
            "type": "json_invalid",
            "loc": ["body"],
            "msg": "JSON decode error",
            "input": {},
            "ctx": {"error": str(exc)},
        }
        raise invalid_request([error], raw.decode("utf-8", "replace")) from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range for a JSON number")
    return value


def validate(model: type[M], data: Any) -> M:
    """`data` as `model`, or 422 naming each bad field under ``body``."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_failed(exc, data) from None


_adapters: dict[Any, TypeAdapter[Any]] = {}


def validate_as(kind: Any, data: Any, location: tuple[str | int, ...] = ("body",)) -> Any:
    """`data` as any type pydantic knows (a list of models, a dict), or 422."""
    adapter = _adapters.get(kind)
    if adapter is None:
        adapter = _adapters[kind] = TypeAdapter(kind)
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        raise validation_failed(exc, data, location) from None


def path_id(request: Request, name: str = "id") -> str:
    """A ``{name:uuid}`` path parameter as the id text the store uses."""
    return str(request.path_params[name])


def query_uuid(request: Request, name: str) -> str:
    """A required UUID query parameter, or 422 located at ``query``."""
    value = request.query_params.get(name)
    if value is None:
        missing = {
            "type": "missing",
            "loc": ["query", name],
            "msg": "Field required",
            "input": None,
        }
        raise invalid_request([missing], None)
    parsed: UUID = validate_as(UUID, value, ("query", name))
    return str(parsed)


# --------------------------------------------------------------------------- handlers


def api_handler(handler: Handler) -> Handler:
    """Make every outcome of `handler` an HTTP answer (see the module docstring)."""

    @functools.wraps(handler)
    async def answer(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as exc:
            return exc.response()
        except ClientDisconnect:
            return Response(status_code=400)  # nobody is listening; nothing to report
        except DatabaseNotOpen as exc:
            return error_response(503, {"detail": str(exc)})
        except sqlite3.IntegrityError:
            logger.warning("integrity conflict in %s %s", request.method, request.url.path)
            return error_response(409, {"detail": INTEGRITY_DETAIL})
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                detail = {"detail": "The database is busy (another process holds it); retry."}
                return error_response(503, detail, {"Retry-After": "1"})
            return _internal_error(request, exc)
        except Exception as exc:
            return _internal_error(request, exc)

    return answer


def _internal_error(request: Request, exc: Exception) -> Response:
    logger.error("unhandled error in %s %s", request.method, request.url.path, exc_info=exc)
    content = {
        "exception_message": "Internal Server Error",
        "detail": f"Internal Server Error: {type(exc).__name__}: {exc}",
    }
    return error_response(500, content)


def route(path: str, handler: Handler, *methods: str) -> Route:
    """A route whose handler goes through `api_handler`."""
    return Route(path, api_handler(handler), methods=list(methods))
