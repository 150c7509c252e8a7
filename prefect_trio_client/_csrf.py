"""The CSRF token cache shared by the async and sync clients (no I/O here).

A Prefect server with CSRF protection wants ``Prefect-Csrf-Token`` and
``Prefect-Csrf-Client`` on every POST, PUT, PATCH and DELETE, with a token fetched from
``GET /csrf-token?client=<id>``. The server keeps one token per client id and replaces it
on every fetch, so concurrent fetches for one client id invalidate each other. The
clients therefore fetch one at a time (single flight, behind a lock they own) and
re-check this cache after taking the lock: twenty requests that find no token cause one
fetch, and twenty requests rejected with the same stale token cause one refresh.

Expiry is tracked on the caller's monotonic clock (the event loop's clock in async code):
a token's lifetime is read from the server's own timestamps (``expiration`` minus
``created``), so a server whose clock differs from ours does not make every token look
expired, and the token is refreshed by that lifetime measured from when it arrived.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import httpx

__all__ = ["CHANGE_METHODS", "CsrfTokenCache", "is_csrf_rejection"]

CHANGE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
TOKEN_HEADER = "Prefect-Csrf-Token"
CLIENT_HEADER = "Prefect-Csrf-Client"
# How long before expiry a token is replaced: at most this, at most a tenth of its life.
_REFRESH_MARGIN = 30.0


def is_csrf_rejection(status_code: int, detail: object) -> bool:
    """True for the 403 a Prefect server gives for a missing or invalid CSRF token.

    Prefect answers ``{"detail": "Missing CSRF token."}`` or
    ``{"detail": "Invalid CSRF token or client identifier."}``.
    """
    if status_code != 403 or not isinstance(detail, str):
        return False
    text = detail.lower()
    return "csrf token" in text and ("invalid" in text or "missing" in text)


def _server_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


def _lifetime(body: dict[str, Any]) -> float:
    """A token's lifetime in seconds from now (unbounded if the server gives no expiry).

    Two readings, the shorter positive one wins: ``expiration`` minus when the server
    issued the token (``updated`` or ``created``, by the server's clock, so no agreement
    between the clocks is needed), and ``expiration`` minus our wall clock. A server
    clock far behind ours makes the second reading negative; the first still holds.
    """
    expires = _server_time(body.get("expiration"))
    if expires is None:
        return float("inf")
    issued = [t for t in (_server_time(body.get(k)) for k in ("created", "updated")) if t]
    readings = [(expires - datetime.now(timezone.utc)).total_seconds()]
    if issued:
        readings.append((expires - max(issued)).total_seconds())
    positive = [reading for reading in readings if reading > 0]
    return min(positive) if positive else 0.0


def response_detail(response: httpx.Response) -> object:
    """The ``detail`` of a JSON error body, or None (also for a body not read)."""
    try:
        body = response.json()
    except (ValueError, httpx.ResponseNotRead):
        return None
    return body.get("detail") if isinstance(body, dict) else None


class CsrfTokenCache:
    """One client's CSRF token, its expiry, and whether the server wants CSRF at all."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self.client_id = uuid.uuid4()
        self.token: str | None = None
        self.refresh_at = float("-inf")
        #: The token's expiry as the server (or the program) stated it, for reading.
        self.expiration: datetime | None = None
        self._set_expiration: datetime | None = None
        self.fetches = 0

    @property
    def client_id(self) -> uuid.UUID:
        """The id the server keeps this client's token under."""
        return self._client_id

    @client_id.setter
    def client_id(self, client_id: uuid.UUID) -> None:
        self._client_id = client_id
        self._client_text = str(client_id)  # sent with every change request

    def needs_fetch(self, now: float) -> bool:
        if self._set_expiration is not None:  # given as a wall-clock time: place it once
            seconds = (self._set_expiration - datetime.now(timezone.utc)).total_seconds()
            self.refresh_at, self._set_expiration = now + seconds, None
        return self.enabled and (self.token is None or now >= self.refresh_at)

    def set_token(self, token: str | None) -> None:
        """A token given by the program (Prefect's ``client.csrf_token = ...``): used until
        its expiration, when one is set, else until the server rejects it."""
        self.token = token
        self.refresh_at = float("inf")

    def set_expiration(self, expiration: datetime | None) -> None:
        """When the token given with `set_token` stops being used."""
        self.expiration = expiration
        self._set_expiration = expiration
        if expiration is None:
            self.refresh_at = float("inf")

    def wants_headers(self, method: str) -> bool:
        return self.enabled and method.upper() in CHANGE_METHODS

    def build_fetch(self, build_request: Callable[..., httpx.Request]) -> httpx.Request:
        """The ``GET /csrf-token`` request, built by the client (base URL, auth)."""
        return build_request("GET", "/csrf-token", params={"client": str(self.client_id)})

    def disable_if_unsupported(self, response: httpx.Response) -> bool:
        """Turn CSRF off for a server without the endpoint (404) or with it disabled (422)."""
        unsupported = response.status_code == 404 or (
            response.status_code == 422
            and response_detail(response) == "CSRF protection is disabled."
        )
        if unsupported:
            self.enabled = False
            self.token = None
        return unsupported

    def accept(self, body: Any, *, now: float) -> None:
        """Store a token from a ``/csrf-token`` body; `now` is the caller's monotonic time."""
        if not isinstance(body, dict) or not isinstance(body.get("token"), str):
            raise ValueError("the /csrf-token response has no token")
        token: str = body["token"]
        lifetime = _lifetime(body)
        self.token = token
        self.refresh_at = now + lifetime - min(_REFRESH_MARGIN, lifetime / 10)
        self.expiration = _server_time(body.get("expiration"))
        self._set_expiration = None
        self.fetches += 1

    def invalidate(self, stale_token: str | None) -> None:
        """Forget the token a server rejected, unless another request already replaced it."""
        if self.token == stale_token:
            self.token = None

    def apply(self, request: httpx.Request) -> None:
        if self.enabled and self.token is not None:
            request.headers[TOKEN_HEADER] = self.token
            request.headers[CLIENT_HEADER] = self._client_text
        else:
            request.headers.pop(TOKEN_HEADER, None)
            request.headers.pop(CLIENT_HEADER, None)
