"""Client settings, read from Prefect's ``PREFECT_*`` environment variables.

`ClientSettings` is read when a client is built, never cached at import, so a test or a
program that changes the environment sees the change on its next client. Unlike Prefect,
no profile file or ``.env`` file is read: the environment (and explicit keyword
arguments) is the whole source, which keeps behaviour the same under trio and asyncio.

A bad value raises `SettingsError`, whose message names the variable and says what is
wrong with its value; secret values are never repeated in it.

Credentials are cleaned the way a copy-paste accident needs: surrounding whitespace is
stripped, and a control or invisible character inside (a pasted line break, a zero-width
space) is refused, since it would corrupt the ``Authorization`` header or fail there
with the header's text in the error. `clean_credentials` applies the same rule to an
``api_key=`` / ``auth_string=`` given to a client directly.
"""

from __future__ import annotations

import json
import os
import threading
import unicodedata
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import httpx
from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from prefect_trio_client.exceptions import SettingsError, redacted_url

__all__ = ["ClientSettings", "clean_credentials", "current_settings"]

_HEADER_NAME_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz")

# Control characters, invisible format characters (zero-width space, BOM) and the Unicode
# line and paragraph separators: none belongs in a key, all arrive by copy-paste.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})


def _credential_problem(value: str, *, header_bound: bool) -> str | None:
    """What is wrong with a stripped credential, in words that never repeat it."""
    for position, char in enumerate(value, start=1):
        if unicodedata.category(char) in _INVISIBLE_CATEGORIES:
            return (
                f"contains a control or invisible character (U+{ord(char):04X}, character "
                f"{position}); was a line break pasted with it?"
            )
        if header_bound and not char.isascii():
            return (
                f"contains a non-ASCII character (character {position}), which an HTTP "
                "header cannot carry"
            )
    return None


def _clean(value: str | None, name: str, *, header_bound: bool) -> str | None:
    if value is None:
        return None
    cleaned = value.strip()
    if not cleaned:
        return None
    problem = _credential_problem(cleaned, header_bound=header_bound)
    if problem is not None:
        raise SettingsError(f"{name}: {problem}")
    return cleaned


def clean_credentials(
    *, api_key: str | None, auth_string: str | None
) -> tuple[str | None, str | None]:
    """An ``api_key=`` and ``auth_string=`` given to a client, made safe for a header.

    The rule of ``PREFECT_API_KEY`` / ``PREFECT_API_AUTH_STRING``: surrounding whitespace
    is stripped (a blank value means none); an inner control or invisible character is
    refused, and so is non-ASCII in an API key (it goes into the header as is; an auth
    string is base64-encoded first).

    Returns:
        ``(api_key, auth_string)``, cleaned.

    Raises:
        SettingsError: A credential cannot be sent; the message names the keyword
            (``api_key`` or ``auth_string``), never the value.
    """
    return (
        _clean(api_key, "api_key", header_bound=True),
        _clean(auth_string, "auth_string", header_bound=False),
    )


class ClientSettings(BaseSettings):
    """The ``PREFECT_*`` settings a client needs.

    Each field reads the variable named in its ``Field`` (``PREFECT_`` plus the field
    name in upper case, unless an alias says otherwise). Keyword arguments override the
    environment: ``ClientSettings(api_url="http://127.0.0.1:4200/api")``.

    Raises:
        SettingsError: A variable (or keyword) has a value that cannot be used.
    """

    model_config = SettingsConfigDict(
        env_prefix="PREFECT_",
        env_ignore_empty=True,
        extra="ignore",
        frozen=True,
        populate_by_name=True,
        validate_default=True,
    )

    api_url: str | None = Field(default=None, description="PREFECT_API_URL")
    api_key: SecretStr | None = Field(default=None, description="PREFECT_API_KEY")
    api_auth_string: SecretStr | None = Field(default=None, description="PREFECT_API_AUTH_STRING")
    cloud_api_url: str = Field(
        default="https://api.prefect.cloud/api", description="PREFECT_CLOUD_API_URL"
    )
    server_allow_ephemeral_mode: bool = Field(
        default=True,
        validation_alias=AliasChoices(
            "PREFECT_SERVER_ALLOW_EPHEMERAL_MODE",
            "PREFECT_SERVER_EPHEMERAL_ENABLED",
            "server_allow_ephemeral_mode",
        ),
        description="PREFECT_SERVER_ALLOW_EPHEMERAL_MODE",
    )
    home: Path = Field(default=Path("~/.prefect"), description="PREFECT_HOME")

    client_max_retries: int = Field(default=5, ge=0, description="PREFECT_CLIENT_MAX_RETRIES")
    client_retry_extra_codes: Annotated[frozenset[int], NoDecode] = Field(
        default=frozenset(), description="PREFECT_CLIENT_RETRY_EXTRA_CODES"
    )
    client_retry_jitter_factor: float = Field(
        default=0.2, ge=0, allow_inf_nan=False, description="PREFECT_CLIENT_RETRY_JITTER_FACTOR"
    )
    client_retry_timeout: float = Field(
        default=300.0, gt=0, allow_inf_nan=False, description="PREFECT_CLIENT_RETRY_TIMEOUT"
    )
    client_retry_after_max: float = Field(
        default=60.0, ge=0, allow_inf_nan=False, description="PREFECT_CLIENT_RETRY_AFTER_MAX"
    )
    client_retry_backoff_max: float = Field(
        default=30.0, ge=0, allow_inf_nan=False, description="PREFECT_CLIENT_RETRY_BACKOFF_MAX"
    )
    client_csrf_support_enabled: bool = Field(
        default=True, description="PREFECT_CLIENT_CSRF_SUPPORT_ENABLED"
    )
    client_custom_headers: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict, description="PREFECT_CLIENT_CUSTOM_HEADERS"
    )
    # Ours, not Prefect's: the adaptive limit on requests in flight to one server.
    client_backpressure_enabled: bool = Field(
        default=True, description="PREFECT_CLIENT_BACKPRESSURE_ENABLED"
    )
    client_backpressure_initial: int = Field(
        default=4, ge=1, le=1000, description="PREFECT_CLIENT_BACKPRESSURE_INITIAL"
    )
    client_backpressure_max: int = Field(
        default=8, ge=1, le=1000, description="PREFECT_CLIENT_BACKPRESSURE_MAX"
    )
    # Ours: how long an idle connection is kept for reuse. Below the 5 s after which
    # uvicorn (Prefect's server) closes idle connections: a request sent on a connection
    # the server is closing is lost after sending, and a POST cannot be sent again.
    client_keepalive_expiry: float = Field(
        default=4.0, ge=0, allow_inf_nan=False, description="PREFECT_CLIENT_KEEPALIVE_EXPIRY"
    )
    # Ours: nested and concurrent client contexts share one connection per API.
    client_share_connections: bool = Field(
        default=True, description="PREFECT_CLIENT_SHARE_CONNECTIONS"
    )

    # Ours (issue 15): how @task reports task runs; "events" as Prefect 3's engine, "http"
    # by task-run orchestration requests (used anyway when the server takes no events).
    client_task_run_reporting: Literal["events", "http"] = Field(
        default="events", description="PREFECT_CLIENT_TASK_RUN_REPORTING"
    )

    api_request_timeout: float = Field(
        default=60.0, gt=0, allow_inf_nan=False, description="PREFECT_API_REQUEST_TIMEOUT"
    )
    api_tls_insecure_skip_verify: bool = Field(
        default=False, description="PREFECT_API_TLS_INSECURE_SKIP_VERIFY"
    )
    api_ssl_cert_file: Path | None = Field(default=None, description="PREFECT_API_SSL_CERT_FILE")
    api_enable_http2: bool = Field(default=False, description="PREFECT_API_ENABLE_HTTP2")

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # Secrets are SecretStr already; also hide URL passwords and custom header values.
        for name, value in super().__repr_args__():
            if name in ("api_url", "cloud_api_url") and isinstance(value, str):
                yield name, _without_userinfo(value)
            elif name == "client_custom_headers" and isinstance(value, dict):
                yield name, dict.fromkeys(value, "**********")
            else:
                yield name, value

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            message = _describe(exc)
        else:
            return
        # Raised outside the `except`: pydantic's own error repeats every input (secrets
        # too), so it must be neither the cause nor the context of ours.
        raise SettingsError(message)

    @field_validator("api_url", "cloud_api_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        # Messages never quote the URL: it may carry a password (`_describe` shows it
        # without one).
        if value is None:
            return None
        text = value.strip()
        try:
            url = httpx.URL(text)
            port = url.port
        except (httpx.InvalidURL, ValueError, UnicodeError):
            raise ValueError("is not a valid URL (check the host, the port and brackets)") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError("must be an http:// or https:// URL with a host")
        if port is not None and not 1 <= port <= 65535:
            raise ValueError(f"has port {port}; a port is a number from 1 to 65535")
        return text.rstrip("/")

    @field_validator("api_key", "api_auth_string")
    @classmethod
    def _check_credential(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is None:
            return None
        cleaned = value.get_secret_value().strip()
        if not cleaned:
            return None
        problem = _credential_problem(cleaned, header_bound=info.field_name == "api_key")
        if problem is not None:
            raise ValueError(problem)
        return SecretStr(cleaned)

    @field_validator("home")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("client_retry_extra_codes", mode="before")
    @classmethod
    def _parse_codes(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    value = json.loads(text)
                except json.JSONDecodeError:
                    raise ValueError("is not a valid JSON list of status codes") from None
            else:
                value = [part.strip() for part in text.split(",") if part.strip()]
        if isinstance(value, list | tuple | set | frozenset):
            codes = set()
            for item in value:
                try:
                    code = int(item)
                except (TypeError, ValueError):
                    raise ValueError(f"{item!r} is not an HTTP status code") from None
                if not 100 <= code <= 599:
                    raise ValueError(f"{code} is not an HTTP status code (100-599)")
                codes.add(code)
            return frozenset(codes)
        return value

    @field_validator("client_custom_headers", mode="before")
    @classmethod
    def _parse_headers(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise ValueError("must be a JSON object of header names to values") from None
        if not isinstance(value, Mapping):
            raise ValueError("must be a JSON object of header names to values")
        for name, header_value in value.items():
            if not isinstance(name, str) or not name or set(name.lower()) - _HEADER_NAME_CHARS:
                raise ValueError(f"{name!r} is not a valid HTTP header name")
            if not isinstance(header_value, str):
                raise ValueError(f"the value of header {name!r} must be a string")
            if "\r" in header_value or "\n" in header_value:
                raise ValueError(f"the value of header {name!r} contains a line break")
        return dict(value)


_SECRET_FIELDS = frozenset({"api_key", "api_auth_string", "client_custom_headers"})


def _variable_name(field: str) -> str:
    info = ClientSettings.model_fields.get(field)
    if info is not None and info.description:
        return info.description
    return f"PREFECT_{field.upper()}"


def _describe(exc: ValidationError) -> str:
    """One line per bad setting: the variable, the problem, and (if not secret) the value."""
    lines = []
    for error in exc.errors(include_url=False, include_input=True):
        field = str(error["loc"][0]) if error["loc"] else "?"
        variable = _variable_name(field)
        # A field with aliases is reported under its first alias: name the one that is set.
        for name, info in ClientSettings.model_fields.items():
            alias = info.validation_alias
            if isinstance(alias, AliasChoices) and field in alias.choices:
                field = name
                set_names = [c for c in alias.choices if isinstance(c, str) and c in os.environ]
                variable = set_names[0] if set_names else _variable_name(name)
        message = str(error["msg"]).removeprefix("Value error, ")
        line = f"{variable}: {message}"
        if field not in _SECRET_FIELDS and isinstance(error.get("input"), str | int | float):
            shown = str(error["input"])
            if field in ("api_url", "cloud_api_url"):
                shown = str(_without_userinfo(shown))
            line += f" (got {shown[:200]!r})"
        lines.append(line)
    return "invalid Prefect settings:\n  " + "\n  ".join(lines)


def _without_userinfo(value: str) -> str:
    """The URL without user-info or query string (``?api_key=...``): both may be secret."""
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL:
        return "<unparsable URL>"
    return str(redacted_url(url)) if url.userinfo or url.query else value


# Settings by environment: reading them costs about a millisecond (pydantic-settings
# parses every variable), and a program that opens client contexts everywhere reads the
# same environment each time. Bounded, so a program that keeps changing it cannot grow it.
_by_environment: dict[tuple[tuple[str, str], ...], ClientSettings] = {}
_by_environment_lock = threading.Lock()
_MAX_ENVIRONMENTS = 32
# The fast path: the whole environment as CPython keeps it (bytes, not decoded), copied in
# one C call, to the settings last read for it. Picking out the PREFECT_* variables
# decodes every variable, tens of microseconds per client context; this costs one.
_RAW_ENVIRONMENT: dict[bytes, bytes] | None = getattr(os.environ, "_data", None)
# One entry, replaced whole: a thread never sees one environment with another's settings.
_last_read: dict[str, tuple[tuple[tuple[Any, Any], ...], ClientSettings]] = {}


def current_settings() -> ClientSettings:
    """The settings of the environment as it is now, read once per distinct environment.

    The same as ``ClientSettings()``, which it returns for an environment not seen before;
    a change to any ``PREFECT_*`` variable (or ``HOME``) is seen on the next call.

    Raises:
        SettingsError: A variable has a value that cannot be used.
    """
    raw = tuple(_RAW_ENVIRONMENT.items()) if isinstance(_RAW_ENVIRONMENT, dict) else None
    last = _last_read.get("environment")
    if raw is not None and last is not None and raw == last[0]:
        return last[1]
    key = tuple(
        sorted(
            (name, value)
            for name, value in os.environ.items()
            if name.startswith("PREFECT_") or name == "HOME"
        )
    )
    settings = _by_environment.get(key)
    if settings is None:
        settings = ClientSettings()
        with _by_environment_lock:
            if len(_by_environment) >= _MAX_ENVIRONMENTS:
                _by_environment.clear()
            _by_environment[key] = settings
    if raw is not None:
        _last_read["environment"] = (raw, settings)
    return settings
