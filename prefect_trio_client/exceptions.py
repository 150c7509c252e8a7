"""The exceptions this library raises to its callers.

Every exception of ours derives from `PrefectException`. HTTP status failures are
`PrefectHTTPStatusError`, which is also an `httpx.HTTPStatusError`, so code written
against Prefect's client or plain httpx keeps catching them.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

__all__ = [
    "Abort",
    "ClientClosedError",
    "EventStreamError",
    "EventTooLarge",
    "LifespanStartupError",
    "ObjectAlreadyExists",
    "ObjectNotFound",
    "OutcomeUnknownError",
    "PrefectException",
    "PrefectHTTPStatusError",
    "ProtectedBlockError",
    "ResponseDecodeError",
    "ServerVersionError",
    "SettingsError",
    "StateWaitTimeout",
    "redacted_url",
]


class PrefectException(Exception):
    """Base class of every exception raised by prefect-trio-client."""


class SettingsError(PrefectException, ValueError):
    """A `PREFECT_*` setting has a value we cannot use; the message names the variable."""


class ClientClosedError(PrefectException, RuntimeError):
    """The HTTP client was closed while a call was waiting to retry, or before it started."""


class OutcomeUnknownError(PrefectException, httpx.TransportError):
    """A request that is not safe to send twice was sent, and its answer was lost.

    The server may or may not have applied it, so it was not sent again (a second send
    could apply it twice). The transport error is ``__cause__``. Read the object back to
    find out, or re-send it yourself if a duplicate is acceptable.

    Attributes:
        method: The request's method.
        url: The request's URL, without credentials or query string.
    """

    def __init__(self, message: str, *, request: httpx.Request) -> None:
        super().__init__(message, request=request)
        self.method = request.method
        self.url = redacted_url(request.url)


class ResponseDecodeError(PrefectException, ValueError):
    """A successful response whose body is not what the endpoint answers.

    An HTML page from a proxy, an empty or truncated body, or JSON of another shape: the
    call cannot tell what the server did, so it fails with one error that says where the
    body came from, instead of a bare `json.JSONDecodeError` or pydantic error (which
    stays chained as ``__cause__``). A `ValueError`, as those two are.

    Attributes:
        method: The request's method.
        url: The request's URL, without credentials or query string.
        status_code: The response's status code.
        content_type: The response's ``Content-Type`` ("" when it has none).
    """

    def __init__(
        self,
        message: str,
        *,
        method: str,
        url: httpx.URL,
        status_code: int,
        content_type: str,
    ) -> None:
        super().__init__(message)
        self.method = method
        self.url = redacted_url(url)
        self.status_code = status_code
        self.content_type = content_type


class ServerVersionError(PrefectException, RuntimeError):
    """The server's API major version differs from the one this client speaks."""


class Abort(PrefectException):
    """The server answered a state proposal with ABORT; the message is its reason."""


class StateWaitTimeout(PrefectException, TimeoutError):
    """A state proposal was told to WAIT for longer than the caller allowed."""


class LifespanStartupError(PrefectException, RuntimeError):
    """An ASGI app failed to start its lifespan; the cause is chained as ``__cause__``."""


def _response_body(response: httpx.Response) -> Any:
    """The JSON body, else the text body."""
    try:
        return response.json()
    except (ValueError, httpx.ResponseNotRead):
        try:
            return response.text
        except httpx.ResponseNotRead:
            return "<response body not read>"


def _response_detail(response: httpx.Response) -> Any:
    """The JSON ``detail`` of an error body, else the whole JSON body, else its text."""
    body = _response_body(response)
    if isinstance(body, dict) and "detail" in body:
        return body["detail"]
    return body


_MAX_DETAIL_CHARS = 2000


def _format_detail(detail: Any) -> str:
    """The detail as JSON (never a Python repr), shortened so a huge body stays readable."""
    text = json.dumps(detail, default=str)
    if len(text) > _MAX_DETAIL_CHARS:
        return text[:_MAX_DETAIL_CHARS] + f"... ({len(text) - _MAX_DETAIL_CHARS} more characters)"
    return text


class PrefectHTTPStatusError(PrefectException, httpx.HTTPStatusError):
    """A response had an error status (4xx or 5xx).

    The message follows Prefect's, on one line: httpx's message, `` - Response: <body>``
    (left out when the body is empty), `` - For more information check: ...``. The body is
    rendered as JSON where Prefect prints a Python repr, and a text body is shown where
    Prefect leaves it out. The original `httpx.HTTPStatusError` is ``__cause__``.

    Attributes:
        status_code: The response's status code.
        detail: The JSON body's ``detail`` field, or the JSON body, or the text body.
        method: The request's method.
        url: The request's URL, without credentials or query string secrets.
        attempts: How many times the request was sent before this error was raised.
        outcome_unknown: The request is not safe to send twice and the answer (a 500,
            502 or 504) does not say whether the server applied it: it was not re-sent.
    """

    status_code: int
    detail: Any
    method: str
    url: httpx.URL
    attempts: int
    outcome_unknown: bool = False

    def __init__(
        self, message: str, *, request: httpx.Request, response: httpx.Response, attempts: int = 1
    ) -> None:
        super().__init__(message, request=request, response=response)
        self.status_code = response.status_code
        self.detail = _response_detail(response)
        self.method = request.method
        self.url = redacted_url(request.url)
        self.attempts = attempts

    @classmethod
    def from_httpx_error(
        cls, error: httpx.HTTPStatusError, *, attempts: int = 1
    ) -> PrefectHTTPStatusError:
        """Build the Prefect error for an httpx one (the caller chains it as the cause)."""
        response = error.response
        request = error.request
        safe = str(error).replace(str(request.url), str(redacted_url(request.url)))
        first_line, *more_lines = safe.split("\n")
        body = _response_body(response)
        shown = [] if body in (None, "") else [f"Response: {_format_detail(body)}"]
        message = " - ".join([first_line, *shown, *more_lines])
        return cls._for_status(response.status_code)(
            message, request=request, response=response, attempts=attempts
        )

    @staticmethod
    def _for_status(status_code: int) -> type[PrefectHTTPStatusError]:
        if status_code == 404:
            return ObjectNotFound
        if status_code == 409:
            return ObjectAlreadyExists
        return PrefectHTTPStatusError


class ObjectNotFound(PrefectHTTPStatusError):
    """The server answered 404: the object does not exist."""


class ObjectAlreadyExists(PrefectHTTPStatusError):
    """The server answered 409: an object with that identity already exists."""


class ProtectedBlockError(PrefectException):
    """A protected (system) block type cannot be deleted through the API (Prefect's name).

    The server's 403 is the ``__cause__``.
    """


def redacted_url(url: httpx.URL) -> httpx.URL:
    """The URL without user-info or query string (``?api_key=...``), so neither a
    ``user:password@host`` URL nor a secret parameter ever reaches a message."""
    if url.userinfo or url.query:
        return url.copy_with(username=None, password=None, query=None)
    return url


# --------------------------------------------------------------------------- events (issue 15)


class EventTooLarge(PrefectException, ValueError):
    """An event whose JSON is larger than a Prefect server accepts (1.5 MB by default)."""

    def __init__(self, size_bytes: int, maximum_size_bytes: int) -> None:
        super().__init__(
            f"Event is too large to emit: {size_bytes} bytes, the most is {maximum_size_bytes}"
        )
        self.size_bytes = size_bytes
        self.maximum_size_bytes = maximum_size_bytes


class EventStreamError(PrefectException, ConnectionError):
    """An event subscription could not be kept open: the reason is in the message."""
