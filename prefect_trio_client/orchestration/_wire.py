"""Small pure helpers the endpoint plans share: paths and bodies out, models in.

Every plan builds its path with `url_path` and reads its answer with `parse`,
`parse_list`, `parse_as` or `parse_id`, so the two ways a name or a body can go wrong
are handled once:

- a name in a path is percent-encoded, so ``db#replica`` or ``a?b=c`` cannot address
  another object and ``..`` cannot walk up the path;
- a body that is not JSON, or not the shape the endpoint answers, raises one
  `ResponseDecodeError` naming the request, never a bare decoder error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, TypeVar
from urllib.parse import quote
from uuid import UUID

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from prefect_trio_client.exceptions import ResponseDecodeError

__all__ = [
    "body",
    "decode_json",
    "filter_body",
    "parse",
    "parse_as",
    "parse_id",
    "parse_list",
    "segment",
    "url_path",
    "wire_datetime",
]

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

_EXCERPT_CHARS = 200
_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]+")
_MAX_ERRORS_SHOWN = 5


# --------------------------------------------------------------------------- out


def segment(value: str | UUID) -> str:
    """One path segment, percent-encoded: every character but RFC 3986's unreserved ones
    (letters, digits, ``-._~``) is escaped, ``/`` included, so a name is one segment.

    ``.`` and ``..`` are escaped too (``%2E``): as literal dot-segments httpx would
    resolve them and the request would reach the parent path.

    Raises:
        ValueError: The segment is empty (the path would address another endpoint).
    """
    text = str(value)
    if type(value) is UUID:
        return text  # hex digits and dashes
    if _UNRESERVED.fullmatch(text) is not None and text not in (".", ".."):
        return text  # nothing to escape (ids, most names): what `quote` would return
    if not text:
        raise ValueError("a name in a URL path cannot be empty")
    encoded = quote(text, safe="", errors="strict")
    if encoded in (".", ".."):
        return "%2E" * len(encoded)
    return encoded


def url_path(*segments: str | UUID) -> str:
    """``/`` and the segments, each encoded by `segment`: ``url_path("flows", "name", n)``."""
    return "/" + "/".join(segment(part) for part in segments)


def body(model: BaseModel | None) -> Any:
    """A model as the JSON value the API expects (None stays None)."""
    return None if model is None else model.model_dump(mode="json")


def filter_body(filters: Mapping[str, BaseModel | None], **paging: Any) -> dict[str, Any]:
    """A ``/filter`` or ``/count`` body: each filter under its key, then paging and sort.

    Enum members (sorts) are sent by value; None values are sent as null, as Prefect does.
    """
    result: dict[str, Any] = {key: body(value) for key, value in filters.items()}
    for key, value in paging.items():
        result[key] = getattr(value, "value", value)
    return result


def wire_datetime(value: datetime, name: str) -> str:
    """An instant in Prefect's text form (UTC, ``Z``), for a body built without a model.

    Raises:
        ValueError: `value` is naive (see ``schemas.objects.DateTime`` for why).
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"{name}: a naive datetime has no timezone; pass an aware one, such as "
            "datetime.now(timezone.utc) or datetime.now().astimezone()"
        )
    utc = value.astimezone(timezone.utc).replace(tzinfo=None)
    return utc.isoformat(timespec="microseconds") + "Z"


# --------------------------------------------------------------------------- in


def _where(response: httpx.Response) -> tuple[str, httpx.URL]:
    try:
        request = response.request
    except RuntimeError:  # a response built by hand has no request
        return "?", httpx.URL("")
    url = request.url.copy_with(username=None, password=None, query=None, fragment=None)
    return request.method, url


def _error(response: httpx.Response, problem: str) -> ResponseDecodeError:
    method, url = _where(response)
    content_type = response.headers.get("content-type", "")
    message = (
        f"{method} {url} answered {response.status_code} "
        f"({content_type or 'no content type'}), but {problem}"
    )
    return ResponseDecodeError(
        message,
        method=method,
        url=url,
        status_code=response.status_code,
        content_type=content_type,
    )


def _excerpt(response: httpx.Response) -> str:
    text = response.content.decode("utf-8", "replace")
    if not text.strip():
        return "the body is empty"
    if len(text) > _EXCERPT_CHARS:
        return f"the body starts {text[:_EXCERPT_CHARS]!r} ({len(text)} characters)"
    return f"the body is {text!r}"


def decode_json(response: httpx.Response) -> Any:
    """The response's JSON body.

    Raises:
        ResponseDecodeError: The body is empty or not JSON (an HTML page, truncated).
    """
    try:
        return response.json()
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        problem = f"its body is not JSON ({reason}); {_excerpt(response)}"
        raise _error(response, problem) from exc


def _invalid(response: httpx.Response, expected: str, exc: ValidationError) -> ResponseDecodeError:
    # Locations and messages only: the input values are the server's data (a variable's
    # value may be a secret), so they stay in the chained error.
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    shown = [
        f"{'.'.join(str(part) for part in error['loc']) or '(body)'}: {error['msg']}"
        for error in errors[:_MAX_ERRORS_SHOWN]
    ]
    more = len(errors) - len(shown)
    if more:
        shown.append(f"... and {more} more")
    count = f"{len(errors)} validation error{'s' if len(errors) != 1 else ''}"
    return _error(response, f"its body is not {expected} ({count}: {'; '.join(shown)})")


_adapters: dict[Any, TypeAdapter[Any]] = {}


def _adapter(kind: Any) -> TypeAdapter[Any]:
    adapter = _adapters.get(kind)
    if adapter is None:
        adapter = _adapters[kind] = TypeAdapter(kind)
    return adapter


def _name(kind: Any) -> str:
    return getattr(kind, "__name__", None) or str(kind)


def parse_as(kind: type[T], response: httpx.Response, expected: str | None = None) -> T:
    """The body validated as `kind` (any type pydantic knows).

    The bytes go straight to pydantic's JSON validator (no dict of the whole body is built
    first); a body it refuses is decoded and validated again the slow way, so every error
    is the one ``response.json()`` and Python validation give.

    Raises:
        ResponseDecodeError: The body is not JSON, or not a `kind`.
    """
    adapter = _adapter(kind)
    try:
        # The body's bytes straight into the model: no dict of the whole body first.
        fast: T = adapter.validate_json(response.content)
    except ValidationError:
        pass  # said as before: decoded by `decode_json`, then validated from Python
    else:
        return fast
    data = decode_json(response)
    try:
        result: T = adapter.validate_python(data)
    except ValidationError as exc:
        raise _invalid(response, expected or f"a {_name(kind)}", exc) from exc
    return result


def parse(model: type[M], response: httpx.Response) -> M:
    """The body as one `model` (see `parse_as`)."""
    return parse_as(model, response)


def parse_list(model: type[M], response: httpx.Response) -> list[M]:
    """The body as a list of `model` (see `parse_as`)."""
    result: list[M] = parse_as(
        list[model],  # type: ignore[valid-type]
        response,
        f"a list of {model.__name__}",
    )
    return result


class _Created(BaseModel):
    id: UUID


def parse_id(response: httpx.Response) -> UUID:
    """The ``id`` of the object a create answered with (see `parse_as`)."""
    return parse_as(_Created, response, "an object with an id").id
