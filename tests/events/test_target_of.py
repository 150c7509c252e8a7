"""`events_target_of`: the events endpoints of the API an orchestration client talks to,
with its credentials, and without the options that only its HTTP client takes."""

from __future__ import annotations

import httpx

from prefect_trio_client.base import RetryPolicy
from prefect_trio_client.events._target import events_target_of
from prefect_trio_client.orchestration import PrefectClient
from prefect_trio_client.server import create_app


def test_a_url_clients_target_keeps_its_credentials_not_its_transport() -> None:
    client = PrefectClient(
        "http://127.0.0.1:4200/api",
        auth_string="user:secret",
        httpx_settings={
            "headers": {"X-Team": "data"},
            "transport": httpx.MockTransport(lambda request: httpx.Response(200)),
            "retry_policy": RetryPolicy(),
            "event_hooks": {"request": []},
        },
    )
    target = events_target_of(client)
    assert target.api_url.rstrip("/") == "http://127.0.0.1:4200/api"
    assert target.token == "user:secret"  # the auth message's token
    assert "secret" not in repr(target)
    assert target.httpx_settings == {"headers": {"X-Team": "data"}}
    http = target.http_client()
    assert http.headers["X-Team"] == "data"
    assert http.headers["Authorization"].startswith("Basic ")


def test_an_in_process_clients_target_is_its_app() -> None:
    app = create_app(":memory:")
    target = events_target_of(PrefectClient(app))
    assert target.api is app
    assert target.httpx_settings is None
