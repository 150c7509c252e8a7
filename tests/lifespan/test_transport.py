"""The in-process transport helper: requests over httpx to an app held by a lease, with
the lifespan state reaching every request as a shallow copy."""

from __future__ import annotations

import importlib
from typing import Any

import httpx
import pytest

from prefect_trio_client.exceptions import LifespanStartupError
from prefect_trio_client.lifespan import (
    LifespanASGITransport,
    LifespanState,
    current_lifespan_service,
    lifespan_client,
    lifespan_transport,
    open_lifespan_service,
)
from tests.lifespan.apps import RecordingApp

pytestmark = pytest.mark.anyio


async def test_lifespan_state_reaches_requests_through_the_client() -> None:
    shared: list[str] = []
    app = RecordingApp(state={"db": "connected", "log": shared})
    async with lifespan_client(app) as client:
        assert type(client) is httpx.AsyncClient
        assert client.base_url == httpx.URL("http://ephemeral")
        first = (await client.get("/flows")).json()
        second = (await client.get("/runs")).json()
    assert first == {
        "path": "/flows",
        "state": {"db": "connected", "log": [], "generation": 1},
        "running": True,
    }
    assert second["state"] == first["state"]  # the first request's own key did not leak
    scopes = [request["state"] for request in app.requests]
    assert scopes[0] is not scopes[1]  # a copy per request ...
    assert scopes[0]["log"] is shared  # ... and a shallow one
    assert scopes[0]["touched_by_request"] == "/flows"
    assert (app.startups, app.shutdowns) == (1, 1)


async def test_the_transport_holds_a_lease() -> None:
    app = RecordingApp()
    async with open_lifespan_service() as service:
        async with lifespan_transport(app) as transport:
            assert isinstance(transport, httpx.ASGITransport)
            assert isinstance(transport, LifespanASGITransport)
            assert transport.lifespan_app is app
            assert dict(transport.lifespan_state) == {"generation": 1}
            assert service.refcount(app) == 1
            async with httpx.AsyncClient(transport=transport, base_url="http://x") as client:
                assert (await client.get("/")).status_code == 200
        assert service.state(app) is LifespanState.STOPPED


async def test_an_explicit_service_is_used() -> None:
    app = RecordingApp()
    async with open_lifespan_service() as outer, open_lifespan_service() as chosen:
        async with lifespan_client(app, service=outer):
            assert (outer.refcount(app), chosen.refcount(app)) == (1, 0)
        async with lifespan_transport(app, service=outer):
            assert (outer.refcount(app), chosen.refcount(app)) == (1, 0)


async def test_many_clients_share_one_lifespan() -> None:
    app = RecordingApp()
    async with lifespan_client(app) as one, lifespan_client(app, base_url="http://two") as two:
        assert current_lifespan_service().refcount(app) == 2
        assert (await one.get("/")).json()["state"]["generation"] == 1
        assert (await two.get("/")).json()["state"]["generation"] == 1
    assert (app.calls, app.shutdowns) == (1, 1)


class TracingClient(httpx.AsyncClient):
    """A client subclass with its own constructor keyword, as the package's clients have."""

    def __init__(self, *args: Any, trace: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.trace = trace


async def test_client_class_and_kwargs() -> None:
    app = RecordingApp()
    trace: list[str] = []
    async with lifespan_client(
        app, client_class=TracingClient, trace=trace, headers={"x-test": "1"}
    ) as client:
        assert type(client) is TracingClient
        assert client.trace is trace
        assert client.headers["x-test"] == "1"
        assert (await client.get("/")).status_code == 200
    assert client.is_closed


async def test_the_package_http_client_can_be_the_client_class() -> None:
    try:
        base = importlib.import_module("prefect_trio_client.base")
        client_class = base.PrefectHttpxAsyncClient
    except (ImportError, AttributeError):
        pytest.skip("prefect_trio_client.base.PrefectHttpxAsyncClient is not written yet")
    app = RecordingApp()
    async with lifespan_client(app, client_class=client_class) as client:
        assert isinstance(client, client_class)
        response = await client.get("/")
        assert response.json()["state"]["generation"] == 1


async def test_transport_is_provided_by_the_helper() -> None:
    with pytest.raises(TypeError, match="transport"):
        lifespan_client(
            RecordingApp(), transport=httpx.MockTransport(lambda r: httpx.Response(200))
        )


async def test_startup_failure_reaches_the_client_user() -> None:
    app = RecordingApp(startup_failure="failed")
    with pytest.raises(LifespanStartupError, match="no database"):
        async with lifespan_client(app):
            pytest.fail("unreachable")
