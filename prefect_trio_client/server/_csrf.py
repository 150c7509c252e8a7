"""CSRF protection, as Prefect's server enforces it when it is switched on.

Every POST, PUT, PATCH and DELETE must carry ``Prefect-Csrf-Token`` and
``Prefect-Csrf-Client`` headers naming a live token issued by ``GET /csrf-token``;
otherwise the answer is 403 with Prefect's detail ("Missing CSRF token.", "Missing
client identifier.", "Invalid CSRF token or client identifier."). A plain ASGI
middleware (no BaseHTTPMiddleware task groups), so it runs the same on trio.
"""

from __future__ import annotations

import hmac

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from prefect_trio_client.server._db import DatabaseNotOpen, Tx
from prefect_trio_client.server._errors import error_response
from prefect_trio_client.server._http import Api
from prefect_trio_client.server._tables import CSRF_TOKENS

__all__ = ["CsrfMiddleware"]

_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class CsrfMiddleware:
    """Refuses state-changing requests without a valid CSRF token (when enabled)."""

    def __init__(self, app: ASGIApp, api: Api) -> None:
        self.app = app
        self.api = api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in _UNSAFE
            or not self.api.config.csrf_protection
        ):
            await self.app(scope, receive, send)
            return
        refusal = await self._check(Headers(scope=scope))
        if refusal is None:
            await self.app(scope, receive, send)
        else:
            await refusal(scope, receive, send)

    async def _check(self, headers: Headers) -> Response | None:
        token = headers.get("prefect-csrf-token")
        client = headers.get("prefect-csrf-client")
        if token is None:
            return error_response(403, {"detail": "Missing CSRF token."})
        if client is None:
            return error_response(403, {"detail": "Missing client identifier."})
        try:
            valid = await self.api.database.read(lambda tx: _is_valid(tx, client, token))
        except DatabaseNotOpen as exc:
            return error_response(503, {"detail": str(exc)})
        if valid:
            return None
        return error_response(
            403,
            {"detail": "Invalid CSRF token or client identifier."},
            {"Access-Control-Allow-Origin": "*"},
        )


def _is_valid(tx: Tx, client: str, token: str) -> bool:
    stored = tx.first(CSRF_TOKENS, client=client)
    if stored is None or stored["expiration"] <= tx.now_iso:
        return False
    return hmac.compare_digest(stored["token"], token)
