"""Error answers in Prefect's shapes.

Prefect answers a refused request with ``{"detail": ...}`` and a request it cannot
validate with ``{"exception_message": "Invalid request received.", "exception_detail":
[pydantic errors, each ``loc`` starting with "body"/"query"/"path"], "request_body": ...}``.
Handlers raise `ApiError`; the endpoint wrapper (``_http``) turns it into the response, so
an error raised inside a database transaction also rolls that transaction back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError
from starlette.responses import Response

__all__ = [
    "INTEGRITY_DETAIL",
    "ApiError",
    "conflict",
    "error_response",
    "invalid_request",
    "not_found",
    "validation_failed",
]

INTEGRITY_DETAIL = (
    "Data integrity conflict. This usually means a unique or foreign key constraint was"
    " violated. See server logs for details."
)
"""Prefect's answer (409) when a row refers to something that does not exist."""


def _json_default(value: object) -> object:
    # Pydantic puts the raised exception in an error's ctx; Prefect's encoder renders it {}.
    if isinstance(value, BaseException):
        return {}
    return str(value)


def error_response(
    status_code: int, content: Any, headers: Mapping[str, str] | None = None
) -> Response:
    """A JSON error response (``content`` may hold pydantic error contexts)."""
    body = json.dumps(content, default=_json_default, ensure_ascii=False).encode()
    return Response(body, status_code, headers=dict(headers or {}), media_type="application/json")


class ApiError(Exception):
    """A request the API refuses; `response()` is what the client receives."""

    def __init__(
        self,
        status_code: int,
        detail: Any = None,
        *,
        content: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(status_code, detail if content is None else content)
        self.status_code = status_code
        self.content = {"detail": detail} if content is None else content
        self.headers = dict(headers or {})

    def response(self) -> Response:
        return error_response(self.status_code, self.content, self.headers)


def not_found(detail: str) -> ApiError:
    return ApiError(404, detail)


def conflict(detail: str) -> ApiError:
    return ApiError(409, detail)


def invalid_request(errors: Sequence[Mapping[str, Any]], request_body: Any) -> ApiError:
    """422 in the shape Prefect (FastAPI) gives a request that fails validation."""
    return ApiError(
        422,
        content={
            "exception_message": "Invalid request received.",
            "exception_detail": list(errors),
            "request_body": request_body,
        },
    )


def validation_failed(
    exc: ValidationError, request_body: Any, location: tuple[str | int, ...] = ("body",)
) -> ApiError:
    """422 for a pydantic error, each ``loc`` prefixed with where the value came from."""
    errors = []
    for error in exc.errors(include_url=False):
        item: dict[str, Any] = dict(error)
        item["loc"] = [*location, *error["loc"]]
        errors.append(item)
    return invalid_request(errors, request_body)
