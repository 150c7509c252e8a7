"""How a client reaches the API: base URL, auth headers, TLS, limits, CSRF (no I/O).

Both `PrefectClient` and `SyncPrefectClient` build their HTTP client from the keyword
arguments computed here, so the two cannot drift apart.
"""

from __future__ import annotations

import base64
import importlib.util
import ssl
from typing import Any

import httpx

from prefect_trio_client.base import ServerType
from prefect_trio_client.exceptions import ServerVersionError, SettingsError
from prefect_trio_client.settings import ClientSettings

__all__ = [
    "PREFECT_MAJOR_VERSION",
    "SERVER_API_VERSION",
    "auth_headers",
    "check_api_version",
    "httpx_client_kwargs",
]

#: The Prefect REST API version this client speaks (sent as ``X-PREFECT-API-VERSION``).
SERVER_API_VERSION = "0.8.4"
#: The Prefect major version whose servers speak that API.
PREFECT_MAJOR_VERSION = 3


def auth_headers(*, api_key: str | None, auth_string: str | None) -> dict[str, str]:
    """``Authorization``: Basic for an auth string (it wins, as in Prefect), else Bearer."""
    if auth_string is not None:
        token = base64.b64encode(auth_string.encode()).decode()
        return {"Authorization": f"Basic {token}"}
    if api_key is not None:
        return {"Authorization": f"Bearer {api_key}"}
    return {}


def _tls(settings: ClientSettings) -> ssl.SSLContext | bool:
    if settings.api_tls_insecure_skip_verify:
        return False
    if settings.api_ssl_cert_file is not None:
        try:
            return ssl.create_default_context(cafile=str(settings.api_ssl_cert_file))
        except (OSError, ssl.SSLError) as exc:
            raise SettingsError(
                f"PREFECT_API_SSL_CERT_FILE: cannot load {settings.api_ssl_cert_file}: {exc}"
            ) from None
    return True


def httpx_client_kwargs(
    api: str | None,
    *,
    settings: ClientSettings,
    server_type: ServerType,
    api_key: str | None = None,
    auth_string: str | None = None,
    api_version: str | None = None,
    httpx_settings: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Keyword arguments for `PrefectHttpxAsyncClient` / `PrefectHttpxSyncClient`.

    `httpx_settings` is merged last (headers are merged, not replaced), as in Prefect.
    """
    if settings.api_enable_http2 and importlib.util.find_spec("h2") is None:
        raise SettingsError(
            "PREFECT_API_ENABLE_HTTP2: HTTP/2 needs the h2 package: "
            "pip install 'prefect-trio-client[http2]'"
        )
    headers = {"X-PREFECT-API-VERSION": api_version or SERVER_API_VERSION}
    headers.update(auth_headers(api_key=api_key, auth_string=auth_string))
    kwargs: dict[str, Any] = {
        "timeout": httpx.Timeout(settings.api_request_timeout),
        "limits": httpx.Limits(
            max_connections=16, max_keepalive_connections=8, keepalive_expiry=25
        ),
        "http2": settings.api_enable_http2,
        "enable_csrf_support": settings.client_csrf_support_enabled
        and server_type is not ServerType.CLOUD,
        "settings": settings,
    }
    if api is not None:
        kwargs["base_url"] = api
        kwargs["verify"] = _tls(settings)
    extra = dict(httpx_settings or {})
    headers.update(extra.pop("headers", None) or {})
    kwargs.update(extra)
    kwargs["headers"] = headers
    return kwargs


def check_api_version(server_version: str) -> None:
    """Refuse a server whose Prefect major version is not the one this client speaks.

    ``GET /admin/version`` reports the server's Prefect version ("3.9.1"); the REST API
    this client implements is Prefect 3's, as in Prefect's own client check.

    Raises:
        ServerVersionError: Another major version, or an unreadable version.
    """
    try:
        server_major = int(server_version.split(".", maxsplit=1)[0])
    except ValueError:
        raise ServerVersionError(
            f"the server reported version {server_version!r}, which is not a version"
        ) from None
    if server_major != PREFECT_MAJOR_VERSION:
        raise ServerVersionError(
            f"incompatible server: this client speaks the Prefect {PREFECT_MAJOR_VERSION} API, "
            f"the server runs Prefect {server_version}; major versions must match "
            "(pass check_server_version=False to skip this check)"
        )
