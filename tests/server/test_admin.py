"""Health, versions, routing errors and CSRF protection."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest

from prefect_trio_client.schemas.objects import CsrfToken
from prefect_trio_client.server import API_VERSION, PREFECT_VERSION, create_app
from tests.server.helpers import FakeClock, samples, serve

pytestmark = pytest.mark.anyio
SAMPLES = samples()


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("/health", "GET /health"),
        ("/hello", "GET /hello"),
        ("/admin/version", "GET /admin/version"),
        ("/version", "GET /version (server root, not /admin/version)"),
    ],
)
async def test_simple_routes_answer_like_prefect(
    client: httpx.AsyncClient, path: str, key: str
) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert response.json() == SAMPLES[key]["response_body"]
    assert response.headers["content-type"] == "application/json"


async def test_versions_are_prefect_3() -> None:
    assert PREFECT_VERSION.split(".")[0] == "3"
    assert API_VERSION == "0.8.4"


async def test_csrf_token_is_refused_when_protection_is_off(client: httpx.AsyncClient) -> None:
    response = await client.get("/csrf-token", params={"client": "abc"})
    assert response.status_code == 422
    assert response.json() == {"detail": "CSRF protection is disabled."}


async def test_unknown_path_and_method_are_json_errors(client: httpx.AsyncClient) -> None:
    missing = await client.get("/no/such/route")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Not Found"}
    wrong_method = await client.put("/health")
    assert wrong_method.status_code == 405
    assert wrong_method.json() == {"detail": "Method Not Allowed"}


async def test_api_prefix_can_be_changed() -> None:
    app = create_app(":memory:", api_prefix="")
    async with serve(app) as client:
        response = await client.get("http://server/health")
    assert response.json() is True


# --------------------------------------------------------------------------- CSRF


@pytest.fixture
async def protected(clock: FakeClock) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(create_app(":memory:", csrf_protection=True, clock=clock)) as client:
        yield client


async def _token(client: httpx.AsyncClient, name: str = "client-1") -> CsrfToken:
    response = await client.get("/csrf-token", params={"client": name})
    assert response.status_code == 200
    sample = SAMPLES["GET /csrf-token (PREFECT_SERVER_CSRF_PROTECTION_ENABLED=true)"]
    assert set(response.json()) == set(sample["response_body"])
    return CsrfToken.model_validate(response.json())


async def test_csrf_requires_a_token_on_writes(protected: httpx.AsyncClient) -> None:
    response = await protected.post("/flows/", json={"name": "f"})
    assert response.status_code == 403
    assert (
        response.json()
        == SAMPLES["POST /flows/ without CSRF headers (CSRF enabled) -> 403"]["response_body"]
    )
    assert (await protected.get("/health")).status_code == 200  # reads need no token


async def test_csrf_requires_the_client_id(protected: httpx.AsyncClient) -> None:
    token = await _token(protected)
    response = await protected.post(
        "/flows/", json={"name": "f"}, headers={"Prefect-Csrf-Token": token.token}
    )
    assert response.status_code == 403
    assert response.json() == {"detail": "Missing client identifier."}


async def test_csrf_accepts_a_valid_token(protected: httpx.AsyncClient) -> None:
    token = await _token(protected)
    headers = {"Prefect-Csrf-Token": token.token, "Prefect-Csrf-Client": token.client}
    response = await protected.post("/flows/", json={"name": "f"}, headers=headers)
    assert response.status_code == 201


@pytest.mark.parametrize("wrong", ["token", "client"])
async def test_csrf_refuses_a_wrong_token_or_client(
    protected: httpx.AsyncClient, wrong: str
) -> None:
    token = await _token(protected)
    headers = {
        "Prefect-Csrf-Token": "0" * 64 if wrong == "token" else token.token,
        "Prefect-Csrf-Client": "someone-else" if wrong == "client" else token.client,
    }
    response = await protected.delete(
        "/flows/00000000-0000-0000-0000-000000000000", headers=headers
    )
    assert response.status_code == 403
    assert response.json() == {"detail": "Invalid CSRF token or client identifier."}


async def test_csrf_tokens_expire_and_renew(protected: httpx.AsyncClient, clock: FakeClock) -> None:
    token = await _token(protected)
    assert token.expiration == clock.now + timedelta(hours=1)
    clock.advance(3601)
    headers = {"Prefect-Csrf-Token": token.token, "Prefect-Csrf-Client": token.client}
    expired = await protected.post("/flows/", json={"name": "f"}, headers=headers)
    assert expired.status_code == 403
    fresh = await _token(protected)
    assert fresh.token != token.token
    headers["Prefect-Csrf-Token"] = fresh.token
    assert (await protected.post("/flows/", json={"name": "f"}, headers=headers)).status_code == 201


async def test_csrf_token_needs_a_client(protected: httpx.AsyncClient) -> None:
    response = await protected.get("/csrf-token")
    assert response.status_code == 422
    assert response.json()["exception_detail"][0]["loc"] == ["query", "client"]
