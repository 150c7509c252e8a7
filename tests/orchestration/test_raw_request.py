"""Prefect's generic `client.request` on both clients."""

from __future__ import annotations

import httpx
import pytest

from prefect_trio_client.exceptions import ObjectNotFound
from tests.orchestration.harness import ClientKind, call, make_client

pytestmark = pytest.mark.anyio


async def test_path_params_are_encoded_and_the_response_returned(kind: ClientKind) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True})

    async with make_client(kind, handler) as client:
        response = await call(
            client,
            "request",
            "post",
            "/variables/name/{name}",
            params={"x": "1"},
            path_params={"name": "a/b c"},
            json={"value": 1},
        )
    assert response.json() == {"ok": True}
    assert seen[0].method == "POST"
    assert seen[0].url.raw_path == b"/api/variables/name/a%2Fb%20c?x=1"
    assert seen[0].content == b'{"value":1}'


async def test_errors_raise_as_every_method_does(kind: ClientKind) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"detail": "nope"})

    async with make_client(kind, handler) as client:
        with pytest.raises(ObjectNotFound):
            await call(client, "request", "GET", "/flows/{id}", path_params={"id": "x"})


async def test_unsupported_keywords_and_missing_path_params_are_refused(kind: ClientKind) -> None:
    def handler(request: httpx.Request) -> httpx.Response:  # pragma: no cover - unreached
        return httpx.Response(200)

    async with make_client(kind, handler) as client:
        with pytest.raises(TypeError, match="headers"):
            await call(client, "request", "GET", "/flows/", headers={"x": "y"})
        with pytest.raises(KeyError, match="id"):
            await call(client, "request", "GET", "/flows/{id}", path_params={"other": 1})
