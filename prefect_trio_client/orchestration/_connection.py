"""How a client reaches the API: base URL, auth headers, TLS, limits, CSRF (no I/O).

Both `PrefectClient` and `SyncPrefectClient` build their HTTP client from the keyword
arguments computed here, so the two cannot drift apart.
"""

from __future__ import annotations

import base64
import functools
import importlib.util
import ssl
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import httpx

from prefect_trio_client._backpressure import AdaptiveLimit
from prefect_trio_client._environ import environment_value
from prefect_trio_client._pool import Connection
from prefect_trio_client._tls import shared_ssl_context, use_shared_ssl_context
from prefect_trio_client._version import __version__
from prefect_trio_client.base import (
    PrefectHttpxAsyncClient,
    PrefectHttpxSyncClient,
    ServerType,
    _base_url_of,
    backpressure_from_settings,
)
from prefect_trio_client.exceptions import ServerVersionError, SettingsError
from prefect_trio_client.lifespan import ASGIApp

if TYPE_CHECKING:
    from prefect_trio_client.orchestration._plan import Request
    from prefect_trio_client.settings import ClientSettings

__all__ = [
    "EPHEMERAL_API_URL",
    "PREFECT_MAJOR_VERSION",
    "SERVER_API_VERSION",
    "ClientBase",
    "auth_headers",
    "check_api_version",
    "httpx_client_kwargs",
]

#: The Prefect REST API version this client speaks (sent as ``X-PREFECT-API-VERSION``).
SERVER_API_VERSION = "0.8.4"
#: The Prefect major version whose servers speak that API.
PREFECT_MAJOR_VERSION = 3
#: The base URL of in-process requests (never resolved: the transport is the app).
EPHEMERAL_API_URL = "http://ephemeral-prefect/api"

HttpT = TypeVar("HttpT", PrefectHttpxAsyncClient, PrefectHttpxSyncClient)


def auth_headers(*, api_key: str | None, auth_string: str | None) -> dict[str, str]:
    """``Authorization``: Basic for an auth string (it wins, as in Prefect), else Bearer.

    Raises:
        SettingsError: A credential with a control character (a copy-paste accident)
            that would be an illegal header; the message never repeats it.
    """
    from prefect_trio_client.settings import clean_credentials  # noqa: PLC0415  # lazy

    api_key, auth_string = clean_credentials(api_key=api_key, auth_string=auth_string)
    if auth_string is not None:
        token = base64.b64encode(auth_string.encode()).decode()
        return {"Authorization": f"Basic {token}"}
    if api_key is not None:
        return {"Authorization": f"Bearer {api_key}"}
    return {}


def _tls(settings: ClientSettings, kwargs: dict[str, Any]) -> None:
    """Set ``verify`` in the HTTP client's keyword arguments from the settings.

    A ``verify`` from `httpx_settings` wins, untouched. Otherwise verification off
    (``PREFECT_API_TLS_INSECURE_SKIP_VERIFY``) is ``False``, and verification on is the
    process's shared SSL context for this configuration (``PREFECT_API_SSL_CERT_FILE`` or
    httpx's default CA source): no client parses a CA bundle of its own. A client with a
    transport of its own (the in-process server) needs no context and gets none, but a
    ``PREFECT_API_SSL_CERT_FILE`` is loaded in every mode (once per process), so a bad
    file is the same clear error everywhere.
    """
    if "verify" in kwargs:
        return
    if settings.api_tls_insecure_skip_verify:
        kwargs["verify"] = False
        return
    cafile = settings.api_ssl_cert_file
    if cafile is not None:
        try:
            shared_ssl_context(
                cafile=cafile,
                http2=bool(kwargs.get("http2", False)),
                trust_env=bool(kwargs.get("trust_env", True)),
            )
        except (OSError, ssl.SSLError) as exc:
            raise SettingsError(f"PREFECT_API_SSL_CERT_FILE: cannot load {cafile}: {exc}") from None
    use_shared_ssl_context(kwargs, cafile=cafile)


@functools.lru_cache(maxsize=16)
def _pool_limits(keepalive_expiry: float) -> httpx.Limits:
    """Prefect's connection pool sizes, with our keep-alive expiry (one object per value:
    the clients that use it pass the same).

    Prefect's client keeps idle connections 25 s, but its server (uvicorn) closes them
    after 5 s: a request sent just as the server closes its connection is lost after it
    was sent, which a POST (logs, flow runs) cannot survive. So ours expire first.
    """
    return httpx.Limits(
        max_connections=16, max_keepalive_connections=8, keepalive_expiry=keepalive_expiry
    )


@functools.lru_cache(maxsize=16)
def _timeout(seconds: float | None) -> httpx.Timeout:
    """One `httpx.Timeout` per value, shared by the clients that use it (httpx never
    changes it)."""
    return httpx.Timeout(seconds)


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
        "timeout": _timeout(settings.api_request_timeout),
        "limits": _pool_limits(settings.client_keepalive_expiry),
        "http2": settings.api_enable_http2,
        "enable_csrf_support": settings.client_csrf_support_enabled
        and server_type is not ServerType.CLOUD,
        "settings": settings,
    }
    if api is not None:
        kwargs["base_url"] = api
    if server_type is ServerType.EPHEMERAL:
        kwargs["enable_csrf_support"] = False  # our own in-process server
    extra = dict(httpx_settings or {})
    headers.update(extra.pop("headers", None) or {})
    kwargs.update(extra)
    kwargs["headers"] = headers
    if api is not None:
        _tls(settings, kwargs)  # after the merge: it reads http2, trust_env, cert, transport
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


class ClientBase(Generic[HttpT]):
    """What `PrefectClient` and `SyncPrefectClient` share: settings, server type, and
    the HTTP client built from them. Subclasses name their HTTP client class and the
    transport that serves an in-process app.

    Args:
        api: The API's base URL, or an ASGI app to serve in-process (ephemeral mode:
            the client holds a lifespan lease on the app while it is open).
        api_key: Sent as ``Authorization: Bearer``.
        auth_string: ``user:password`` sent as basic auth (wins over `api_key`).
        api_version: The ``X-PREFECT-API-VERSION`` to send (default: ours).
        httpx_settings: Extra keyword arguments for the HTTP client (merged last).
        server_type: What `api` is; by default CLOUD for a URL under
            ``PREFECT_CLOUD_API_URL``, SERVER for another URL, EPHEMERAL for an app.
        settings: Settings to use instead of reading the environment.
        check_server_version: On entry, refuse a server that does not run Prefect 3
            (never checked against Prefect Cloud or the embedded server).
    """

    _http_class: ClassVar[type[Any]]
    _in_process_transport: ClassVar[type[Any]]
    _borrowed_transport: ClassVar[type[Any]]

    def __init__(
        self,
        api: str | ASGIApp,
        *,
        api_key: str | None = None,
        auth_string: str | None = None,
        api_version: str | None = None,
        httpx_settings: dict[str, Any] | None = None,
        server_type: ServerType | None = None,
        settings: ClientSettings | None = None,
        check_server_version: bool = True,
    ) -> None:
        if settings is None:
            from prefect_trio_client.settings import current_settings  # noqa: PLC0415  # lazy

            settings = current_settings()
        self._settings: ClientSettings = settings
        # kept for the events client of this client's runs (issue 15); never in a repr
        self._credentials: tuple[str | None, str | None] = (api_key, auth_string)
        self._httpx_settings: dict[str, Any] = dict(httpx_settings or {})
        extra = dict(httpx_settings or {})
        own_transport = bool(_TRANSPORT_OPTIONS & extra.keys())
        self._app: ASGIApp | None = None
        if isinstance(api, str):
            url = api
            cloud = api.startswith(self._settings.cloud_api_url)
            self.server_type = server_type or (ServerType.CLOUD if cloud else ServerType.SERVER)
        else:
            url = EPHEMERAL_API_URL
            self.server_type = ServerType.EPHEMERAL
            self._app = api
            extra.setdefault("transport", type(self)._in_process_transport(api))
        self._check_server_version = check_server_version and self.server_type not in (
            ServerType.CLOUD,
            ServerType.EPHEMERAL,
        )
        kwargs = httpx_client_kwargs(
            url,
            settings=self._settings,
            server_type=self.server_type,
            api_key=api_key,
            auth_string=auth_string,
            api_version=api_version,
            httpx_settings=extra,
        )
        self._kwargs = kwargs
        self._connection_key = (
            None
            if own_transport or not self._settings.client_share_connections
            else _connection_key(kwargs, self._app, self._settings)
        )
        self._http_client: HttpT | None = None
        self._entered = False
        self._closed = False
        self._lease: Any = None
        self._unshared_version: Connection[None] | None = None

    def client_version(self) -> str:
        """This package's version (sent in the User-Agent).

        Prefect's client answers with Prefect's version and compares its major version
        with the server's; this client compares the server's with `PREFECT_MAJOR_VERSION`,
        the API it speaks (see `check_api_version`), never with this number.
        """
        return __version__

    def _version_state(self) -> Connection[Any]:
        """Where "the server version was checked" is kept: the shared connection, so a
        check serves every client on it, or this client's own state when it shares none."""
        if self._lease is not None:
            connection: Connection[Any] = self._lease.value
            return connection
        if self._unshared_version is None:
            self._unshared_version = Connection(None, None)
        return self._unshared_version

    @property
    def api_url(self) -> httpx.URL:
        return _base_url_of(self._kwargs["base_url"])

    @property
    def httpx_client(self) -> HttpT:
        """The underlying HTTP client, for requests this class has no method for.

        While the client is open it is the client's own HTTP client on the shared
        connection, built when first used (a context that sends nothing builds none);
        before, one is built from the same settings, for inspection; after, a closed one.
        """
        if self._http_client is None:
            if self._lease is not None:
                connection: Connection[Any] = self._lease.value
                return self._http_on(connection)
            self._http_client = type(self)._http_class(**self._kwargs)
            if self._closed:
                self._http_client._refuse_requests()
        return self._http_client

    @property
    def _http(self) -> HttpT:
        return self.httpx_client

    @property
    def shares_connection(self) -> bool:
        """Whether this client joins the shared connection of its API when it opens
        (not with a transport, proxy or TLS option of its own in ``httpx_settings``, nor
        with ``PREFECT_CLIENT_SHARE_CONNECTIONS=false``)."""
        return self._connection_key is not None

    def _transport_options(self) -> dict[str, Any]:
        """The keyword arguments of a network transport for this client's settings."""
        return {
            name: self._kwargs[name] for name in _NETWORK_TRANSPORT_OPTIONS if name in self._kwargs
        }

    def _http_on(self, connection: Connection[Any]) -> HttpT:
        """This client's own HTTP client, on the shared connection's transport (borrowed:
        closing the HTTP client leaves it open) and backpressure limit."""
        kwargs = {k: v for k, v in self._kwargs.items() if k not in _TRANSPORT_OPTIONS}
        transport = type(self)._borrowed_transport(connection.transport, connection.forget_version)
        self._http_client = type(self)._http_class(
            **kwargs, transport=transport, backpressure=connection.limit
        )
        return self._http_client

    def _backpressure(self) -> AdaptiveLimit | None:
        return backpressure_from_settings(self._settings, self._kwargs.get("base_url"))

    def _check_can_open(self) -> None:
        name = type(self).__name__
        if self._closed:
            raise RuntimeError(f"a {name} cannot be used again after it was closed")
        if self._entered:
            raise RuntimeError(f"this {name} is already open")

    def _build(self, request: Request) -> httpx.Request:
        """The HTTP request of a plan's `Request`, with this client's URL and headers."""
        if not self._entered:
            name = type(self).__name__
            raise RuntimeError(f"open the client first: use the {name} as a context manager")
        if request.content is None:
            return self._http.build_request(
                request.method,
                request.path,
                json=request.json,
                params=request.params,
                extensions=request.http_extensions(),
            )
        built = self._http.build_request(
            request.method,
            request.path,
            content=request.content,
            params=request.params,
            extensions=request.http_extensions(),
        )
        _json_content_type(built.headers)
        return built


def _json_content_type(headers: httpx.Headers) -> None:
    """``Content-Type: application/json`` unless the client's headers name a type, as
    httpx's ``json=`` sets it (a scan of the raw headers: ``setdefault`` on new httpx
    headers decodes all of them first, and looks up by raising KeyError)."""
    for name, _ in headers.raw:
        if name.lower() == b"content-type":
            return
    headers["Content-Type"] = "application/json"


#: Keyword arguments that make a client's transport its own: such a client does not share.
_TRANSPORT_OPTIONS = frozenset(
    {
        "transport",
        "mounts",
        "proxy",
        "proxies",
        "verify",
        "cert",
        "limits",
        "http1",
        "http2",
        "trust_env",
        "app",
    }
)
#: What a network transport is built from (besides the TLS context in ``verify``).
_NETWORK_TRANSPORT_OPTIONS = ("verify", "cert", "http1", "http2", "limits", "trust_env")
_PROXY_VARIABLES = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
)


def _connection_key(
    kwargs: dict[str, Any], app: ASGIApp | None, settings: ClientSettings
) -> tuple[Any, ...] | None:
    """What clients must have in common to share a connection; None if they cannot.

    A proxy from the environment makes httpx build transports of its own: no sharing.
    """
    if kwargs.get("trust_env", True) and any(map(environment_value, _PROXY_VARIABLES)):
        return None
    backpressure = (
        settings.client_backpressure_enabled,
        settings.client_backpressure_initial,
        settings.client_backpressure_max,
    )
    if app is not None:
        return ("in-process", id(app), backpressure)
    limits = kwargs.get("limits")
    return (
        "network",
        str(kwargs.get("base_url")),
        kwargs.get("verify", True),
        kwargs.get("http2", False),
        None
        if limits is None
        else (
            limits.max_connections,
            limits.max_keepalive_connections,
            limits.keepalive_expiry,
        ),
        backpressure,
        settings.cloud_api_url,
    )
