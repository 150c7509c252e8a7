"""Where the events websockets and their HTTP fallback go, from the client's settings.

The same rules as `get_client()`: ``PREFECT_API_URL`` (Prefect Cloud when it is under
``PREFECT_CLOUD_API_URL``), else the embedded server in-process. Credentials travel as
Prefect's events clients send them: an auth string as basic auth on the upgrade request
and as the ``token`` of the auth message; an API key as a bearer header (Prefect Cloud
authenticates the upgrade by it and has no auth message). They are kept out of every
repr and log line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from prefect_trio_client._tls import shared_ssl_context
from prefect_trio_client._version import __version__
from prefect_trio_client.base import ServerType, determine_server_type
from prefect_trio_client.events._inprocess import InProcessTransport
from prefect_trio_client.exceptions import SettingsError, redacted_url
from prefect_trio_client.lifespan import ASGIApp
from prefect_trio_client.orchestration._connection import (
    EPHEMERAL_API_URL,
    SERVER_API_VERSION,
    ClientBase,
    auth_headers,
)
from prefect_trio_client.orchestration._ephemeral import ephemeral_app, ephemeral_database
from prefect_trio_client.orchestration.client import PrefectClient
from prefect_trio_client.settings import ClientSettings, current_settings

__all__ = ["EventsTarget", "events_target", "events_target_of"]


@dataclass(frozen=True)
class EventsTarget:
    """An API to send events to or read them from, and how to authenticate."""

    api: str | ASGIApp
    settings: ClientSettings
    api_key: str | None = field(default=None, repr=False)
    auth_string: str | None = field(default=None, repr=False)
    cloud: bool = False
    httpx_settings: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def api_url(self) -> str:
        return self.api if isinstance(self.api, str) else EPHEMERAL_API_URL

    @property
    def display_url(self) -> str:
        """The API URL for messages: without credentials or query."""
        return str(redacted_url(httpx.URL(self.api_url)))

    @property
    def token(self) -> str | None:
        """The auth message's token: the auth string, or on Prefect Cloud the API key."""
        return self.api_key if self.cloud else self.auth_string

    def http_client(self) -> httpx.AsyncClient:
        """An HTTP client for the websockets (not yet opened)."""
        headers = {
            "User-Agent": f"prefect-trio-client/{__version__}",
            "X-PREFECT-API-VERSION": SERVER_API_VERSION,
            **self.settings.client_custom_headers,
            **auth_headers(api_key=self.api_key, auth_string=self.auth_string),
        }
        kwargs: dict[str, Any] = {
            "base_url": self.api_url,
            "timeout": httpx.Timeout(self.settings.api_request_timeout),
        }
        extra = dict(self.httpx_settings or {})
        headers.update(extra.pop("headers", None) or {})
        kwargs.update(extra)
        kwargs["headers"] = headers
        if "transport" not in kwargs:
            if not isinstance(self.api, str):
                kwargs["transport"] = InProcessTransport(self.api)
            elif "verify" not in kwargs:
                kwargs["verify"] = (
                    False
                    if self.settings.api_tls_insecure_skip_verify
                    else shared_ssl_context(cafile=self.settings.api_ssl_cert_file)
                )
        return httpx.AsyncClient(**kwargs)

    def orchestration_client(self) -> PrefectClient:
        """The orchestration client that posts events over HTTP (retries, CSRF)."""
        return PrefectClient(
            self.api,
            api_key=self.api_key,
            auth_string=self.auth_string,
            httpx_settings=self.httpx_settings,
            settings=self.settings,
            check_server_version=False,
        )


def events_target(
    api: str | ASGIApp | None = None,
    *,
    api_key: str | None = None,
    auth_string: str | None = None,
    settings: ClientSettings | None = None,
    httpx_settings: dict[str, Any] | None = None,
) -> EventsTarget:
    """The target `api` names, or the one the ``PREFECT_*`` settings describe.

    Raises:
        SettingsError: No API is configured and ephemeral mode is off.
    """
    settings = settings or current_settings()
    if api is None:
        server_type = determine_server_type(settings)
        if server_type is ServerType.UNCONFIGURED:
            raise SettingsError(
                "no Prefect API is configured for events: set PREFECT_API_URL (for example "
                "http://127.0.0.1:4200/api), or allow the embedded server with "
                "PREFECT_SERVER_ALLOW_EPHEMERAL_MODE=true"
            )
        if server_type is ServerType.EPHEMERAL or settings.api_url is None:
            api = ephemeral_app(ephemeral_database(settings))
        else:
            api = settings.api_url
            if api_key is None and settings.api_key is not None:
                api_key = settings.api_key.get_secret_value()
            if auth_string is None and settings.api_auth_string is not None:
                auth_string = settings.api_auth_string.get_secret_value()
    cloud = isinstance(api, str) and api.startswith(settings.cloud_api_url)
    return EventsTarget(api, settings, api_key, auth_string, cloud, httpx_settings)


#: ``httpx_settings`` of an orchestration client that also suit its events connections
#: (a transport of its own does not: it serves HTTP requests, not websockets).
_SHARED_HTTPX_SETTINGS = ("headers", "verify", "cert", "proxy", "trust_env", "timeout")


def events_target_of(client: ClientBase[Any]) -> EventsTarget:
    """The events target of the API `client` talks to, with its credentials and TLS
    options (the embedded server in-process when the client serves it)."""
    api_key, auth_string = client._credentials
    api: str | ASGIApp = client._app if client._app is not None else str(client.api_url).rstrip("/")
    shared = {
        name: value
        for name, value in client._httpx_settings.items()
        if name in _SHARED_HTTPX_SETTINGS
    }
    return events_target(
        api,
        api_key=api_key,
        auth_string=auth_string,
        settings=client._settings,
        httpx_settings=shared or None,
    )
