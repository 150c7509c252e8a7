"""`get_client()`: the client the settings describe."""

from __future__ import annotations

from typing import Any, Literal, overload

from prefect_trio_client.base import ServerType, determine_server_type
from prefect_trio_client.exceptions import SettingsError
from prefect_trio_client.orchestration._ephemeral import ephemeral_app, ephemeral_database
from prefect_trio_client.orchestration.client import PrefectClient
from prefect_trio_client.orchestration.sync import SyncPrefectClient

__all__ = ["get_client"]


@overload
def get_client(
    httpx_settings: dict[str, Any] | None = None, sync_client: Literal[False] = False
) -> PrefectClient: ...


@overload
def get_client(
    httpx_settings: dict[str, Any] | None = None, *, sync_client: Literal[True]
) -> SyncPrefectClient: ...


@overload
def get_client(
    httpx_settings: dict[str, Any] | None = None, sync_client: bool = False
) -> PrefectClient | SyncPrefectClient: ...


def get_client(
    httpx_settings: dict[str, Any] | None = None, sync_client: bool = False
) -> PrefectClient | SyncPrefectClient:
    """A client for the API the ``PREFECT_*`` settings point at (not yet opened).

    - ``PREFECT_API_URL`` set: that server, or Prefect Cloud when the URL is under
      ``PREFECT_CLOUD_API_URL``, with ``PREFECT_API_KEY`` as a bearer token and
      ``PREFECT_API_AUTH_STRING`` as basic auth (the auth string wins).
    - no URL, ephemeral mode allowed (the default): the embedded server, in-process.
    - no URL, ephemeral mode off: `SettingsError` saying what to set.

    Args:
        httpx_settings: Extra keyword arguments for the HTTP client.
        sync_client: Return a `SyncPrefectClient` instead of a `PrefectClient`.
    """
    from prefect_trio_client.settings import current_settings  # noqa: PLC0415  # lazy

    settings = current_settings()
    server_type = determine_server_type(settings)
    if server_type is ServerType.UNCONFIGURED:
        raise SettingsError(
            "no Prefect API is configured: set PREFECT_API_URL (for example "
            "http://127.0.0.1:4200/api), or allow the embedded server with "
            "PREFECT_SERVER_ALLOW_EPHEMERAL_MODE=true"
        )
    client_class = SyncPrefectClient if sync_client else PrefectClient
    if server_type is ServerType.EPHEMERAL or settings.api_url is None:
        app = ephemeral_app(ephemeral_database(settings))
        return client_class(app, httpx_settings=httpx_settings, settings=settings)
    return client_class(
        settings.api_url,
        api_key=settings.api_key.get_secret_value() if settings.api_key else None,
        auth_string=(
            settings.api_auth_string.get_secret_value() if settings.api_auth_string else None
        ),
        httpx_settings=httpx_settings,
        server_type=server_type,
        settings=settings,
    )
