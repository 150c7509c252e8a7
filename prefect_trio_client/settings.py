"""Client settings, read from Prefect's ``PREFECT_*`` environment variables.

`ClientSettings` is read when a client is built, never cached at import, so a test or a
program that changes the environment sees the change on its next client. Unlike Prefect,
no profile file or ``.env`` file is read: the environment (and explicit keyword
arguments) is the whole source, which keeps behaviour the same under trio and asyncio.

A bad value raises `SettingsError`, whose message names the variable and says what is
wrong with its value; secret values are never repeated in it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any

import httpx
from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from prefect_trio_client.exceptions import SettingsError

__all__ = ["ClientSettings"]

_HEADER_NAME_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz")


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
            # `from None`: pydantic's own error repeats the input, which may be a secret.
            raise SettingsError(_describe(exc)) from None

    @field_validator("api_url", "cloud_api_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        url = httpx.URL(value)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError("must be an http:// or https:// URL with a host")
        return value.rstrip("/")

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
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL:
        return "<unparsable URL>"
    return str(url.copy_with(username=None, password=None)) if url.userinfo else value
