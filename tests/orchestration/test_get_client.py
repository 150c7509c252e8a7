"""get_client(): which client, which URL, which headers, TLS and limits, from the settings."""

from __future__ import annotations

import base64
import ssl
from pathlib import Path

import httpx
import pytest

from prefect_trio_client.base import ServerType
from prefect_trio_client.exceptions import PrefectException, SettingsError
from prefect_trio_client.orchestration import PrefectClient, SyncPrefectClient, get_client
from prefect_trio_client.orchestration._connection import SERVER_API_VERSION
from tests.http_helpers import Script


@pytest.fixture
def server_url(monkeypatch: pytest.MonkeyPatch) -> str:
    url = "http://127.0.0.1:4200/api"
    monkeypatch.setenv("PREFECT_API_URL", url)
    return url


def transport_of(
    client: PrefectClient | SyncPrefectClient,
) -> httpx.HTTPTransport | httpx.AsyncHTTPTransport:
    transport = client.httpx_client._transport
    assert isinstance(transport, httpx.HTTPTransport | httpx.AsyncHTTPTransport)
    return transport


@pytest.mark.parametrize("sync_client", [False, True])
def test_a_server_url_gives_a_server_client(server_url: str, sync_client: bool) -> None:
    client = get_client(sync_client=sync_client)
    assert isinstance(client, SyncPrefectClient if sync_client else PrefectClient)
    assert client.server_type is ServerType.SERVER
    assert str(client.api_url) == server_url + "/"
    headers = client.httpx_client.headers
    assert headers["X-PREFECT-API-VERSION"] == SERVER_API_VERSION
    assert "Authorization" not in headers
    assert client.httpx_client.enable_csrf_support is True
    assert client.httpx_client.timeout == httpx.Timeout(60.0)


def test_api_key_is_a_bearer_token(server_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_API_KEY", "pnu_secret")
    assert get_client().httpx_client.headers["Authorization"] == "Bearer pnu_secret"


def test_auth_string_is_basic_and_wins_over_the_key(
    server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFECT_API_KEY", "pnu_secret")
    monkeypatch.setenv("PREFECT_API_AUTH_STRING", "admin:pa55")
    expected = "Basic " + base64.b64encode(b"admin:pa55").decode()
    assert get_client(sync_client=True).httpx_client.headers["Authorization"] == expected


def test_cloud_turns_csrf_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_API_URL", "https://api.prefect.cloud/api/accounts/a/workspaces/w")
    monkeypatch.setenv("PREFECT_API_KEY", "pnu_secret")
    client = get_client()
    assert client.server_type is ServerType.CLOUD
    assert client.httpx_client.enable_csrf_support is False


def test_csrf_can_be_disabled(server_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_CLIENT_CSRF_SUPPORT_ENABLED", "false")
    assert get_client().httpx_client.enable_csrf_support is False


def test_request_timeout_from_settings(server_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_API_REQUEST_TIMEOUT", "7.5")
    assert get_client().httpx_client.timeout == httpx.Timeout(7.5)


def test_connection_limits_are_prefects(server_url: str) -> None:
    pool = transport_of(get_client())._pool
    assert pool._max_connections == 16
    assert pool._max_keepalive_connections == 8
    assert pool._keepalive_expiry == 4  # ours: below the server's 5 s (Prefect: 25)


def test_tls_verification_can_be_skipped(server_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_API_TLS_INSECURE_SKIP_VERIFY", "true")
    context = transport_of(get_client())._pool._ssl_context
    assert context is not None
    assert context.verify_mode is ssl.CERT_NONE


def test_a_missing_cert_file_is_a_clear_error(
    server_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PREFECT_API_SSL_CERT_FILE", str(tmp_path / "missing.pem"))
    with pytest.raises(SettingsError, match="PREFECT_API_SSL_CERT_FILE: cannot load"):
        get_client()


def test_http2_from_settings(server_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_API_ENABLE_HTTP2", "true")
    assert transport_of(get_client())._pool._http2 is True


def test_httpx_settings_are_merged_last(server_url: str) -> None:
    client = get_client(httpx_settings={"headers": {"X-Extra": "1"}, "timeout": 3})
    assert client.httpx_client.headers["X-Extra"] == "1"
    assert client.httpx_client.headers["X-PREFECT-API-VERSION"] == SERVER_API_VERSION
    assert client.httpx_client.timeout == httpx.Timeout(3)


def test_unconfigured_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_SERVER_ALLOW_EPHEMERAL_MODE", "false")
    with pytest.raises(SettingsError, match="set PREFECT_API_URL"):
        get_client()


@pytest.mark.anyio
async def test_secrets_never_reach_an_error_message(
    server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFECT_API_KEY", "pnu_topsecret")
    script = Script([httpx.Response(401, json={"detail": "bad key"})])
    client = get_client(httpx_settings={"transport": script.transport()})
    assert isinstance(client, PrefectClient)
    with pytest.raises(PrefectException) as info:
        async with client:
            pass
    assert script.requests[0].headers["Authorization"] == "Bearer pnu_topsecret"
    assert "pnu_topsecret" not in str(info.value)
    assert "pnu_topsecret" not in repr(info.value)
