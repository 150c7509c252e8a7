"""What the side-by-side benchmark's clients talk to when no network is wanted.

Importable by both sides (our virtualenv and Prefect's): only the standard library and
httpx. `mock_transport` is an ``httpx.MockTransport`` that answers fixed JSON bodies,
captured from a real Prefect 3.9.1 server (``tests/data/prefect-api-samples.json``), so
the client's own work per request is all that varies between clients:

- ``GET /flow_runs/{id}``: the captured flow run (what ``read_flow_run`` parses);
- ``POST /flow_runs/{id}/set_state``: the captured ``ACCEPT`` orchestration result;
- ``GET /csrf-token``: a token that expires in 2099 (CSRF on, as a server with it on);
- ``GET /admin/version``: ``"3.9.1"``; ``GET /health``: ``true``.

`LifespanApp` is the smallest ASGI app that speaks the lifespan protocol: the lease
benchmark measures the lease, not the app.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import httpx

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "prefect-api-samples.json"
SERVER_VERSION = "3.9.1"
API_URL = "http://prefect-bench.invalid/api"  # never resolved: the transport answers
CSRF_TOKEN = "bench-csrf-token"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]


def sample(endpoint: str) -> dict[str, Any]:
    """The captured exchange of one endpoint, such as ``"GET /flow_runs/{id}"``."""
    endpoints: dict[str, dict[str, Any]] = json.loads(SAMPLES.read_text())["endpoints"]
    return endpoints[endpoint]


def flow_run_id() -> str:
    """The id of the captured flow run (the GET and POST below are about it)."""
    url: str = sample("GET /flow_runs/{id}")["url"]
    return url.rsplit("/", 1)[1]


def set_state_body() -> dict[str, Any]:
    """The captured ``set_state`` request body, as bare httpx sends it."""
    body: dict[str, Any] = sample("POST /flow_runs/{id}/set_state")["request_body"]
    return body


def _json(body: Any) -> bytes:
    return json.dumps(body).encode()


def mock_transport() -> httpx.MockTransport:
    """A transport that answers the endpoints above from memory (404 for the rest)."""
    run_id = flow_run_id()
    flow_run = _json(sample("GET /flow_runs/{id}")["response_body"])
    set_state = _json(sample("POST /flow_runs/{id}/set_state")["response_body"])
    version = _json(SERVER_VERSION)
    health = _json(True)
    not_found = _json({"detail": "Not Found"})
    headers = {"content-type": "application/json"}
    read_path = f"/api/flow_runs/{run_id}"
    set_state_path = f"{read_path}/set_state"

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "GET" and path == read_path:
            return httpx.Response(200, content=flow_run, headers=headers)
        if request.method == "POST" and path == set_state_path:
            return httpx.Response(201, content=set_state, headers=headers)
        if path == "/api/csrf-token":
            token = {
                "id": "00000000-0000-4000-8000-000000000001",
                "created": "2026-01-01T00:00:00Z",
                "updated": "2026-01-01T00:00:00Z",
                "token": CSRF_TOKEN,
                "client": request.url.params.get("client", ""),
                "expiration": "2099-01-01T00:00:00Z",
            }
            return httpx.Response(200, content=_json(token), headers=headers)
        if path == "/api/admin/version":
            return httpx.Response(200, content=version, headers=headers)
        if path == "/api/health":
            return httpx.Response(200, content=health, headers=headers)
        return httpx.Response(404, content=not_found, headers=headers)

    return httpx.MockTransport(handler)


class LifespanApp:
    """An ASGI app whose lifespan starts and stops at once; it serves no requests."""

    def __init__(self) -> None:
        self.startups = 0
        self.shutdowns = 0

    async def __call__(
        self,
        scope: Scope,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] != "lifespan":
            raise RuntimeError(f"the lease benchmark's app serves no {scope['type']} requests")
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.startups += 1
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.shutdowns += 1
                await send({"type": "lifespan.shutdown.complete"})
                return
