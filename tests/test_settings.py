"""ClientSettings: Prefect's variable names, defaults, parsing and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from prefect_trio_client.exceptions import SettingsError
from prefect_trio_client.settings import ClientSettings


def test_defaults() -> None:
    settings = ClientSettings()
    assert settings.api_url is None
    assert settings.api_key is None
    assert settings.api_auth_string is None
    assert settings.cloud_api_url == "https://api.prefect.cloud/api"
    assert settings.server_allow_ephemeral_mode is True
    assert settings.client_max_retries == 5
    assert settings.client_retry_extra_codes == frozenset()
    assert settings.client_retry_jitter_factor == 0.2
    assert settings.client_csrf_support_enabled is True
    assert settings.client_custom_headers == {}
    assert settings.api_request_timeout == 60.0
    assert settings.api_tls_insecure_skip_verify is False
    assert settings.api_ssl_cert_file is None
    assert settings.api_enable_http2 is False
    assert settings.client_retry_timeout == 300.0
    assert settings.client_retry_after_max == 60.0
    assert settings.client_retry_backoff_max == 30.0


def test_default_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PREFECT_HOME")
    assert ClientSettings().home == Path.home() / ".prefect"


@pytest.mark.parametrize(
    ("variable", "value", "field", "expected"),
    [
        ("PREFECT_API_URL", "http://127.0.0.1:4200/api/", "api_url", "http://127.0.0.1:4200/api"),
        (
            "PREFECT_CLOUD_API_URL",
            "https://c.example/api",
            "cloud_api_url",
            "https://c.example/api",
        ),
        ("PREFECT_SERVER_ALLOW_EPHEMERAL_MODE", "false", "server_allow_ephemeral_mode", False),
        ("PREFECT_SERVER_EPHEMERAL_ENABLED", "0", "server_allow_ephemeral_mode", False),
        ("PREFECT_HOME", "~/elsewhere", "home", Path.home() / "elsewhere"),
        ("PREFECT_CLIENT_MAX_RETRIES", "0", "client_max_retries", 0),
        ("PREFECT_CLIENT_RETRY_EXTRA_CODES", "500, 418", "client_retry_extra_codes", {500, 418}),
        ("PREFECT_CLIENT_RETRY_EXTRA_CODES", "[500, 520]", "client_retry_extra_codes", {500, 520}),
        ("PREFECT_CLIENT_RETRY_EXTRA_CODES", "[]", "client_retry_extra_codes", set()),
        ("PREFECT_CLIENT_RETRY_JITTER_FACTOR", "0", "client_retry_jitter_factor", 0.0),
        ("PREFECT_CLIENT_CSRF_SUPPORT_ENABLED", "false", "client_csrf_support_enabled", False),
        ("PREFECT_CLIENT_CUSTOM_HEADERS", '{"X-A": "1"}', "client_custom_headers", {"X-A": "1"}),
        ("PREFECT_API_REQUEST_TIMEOUT", "2.5", "api_request_timeout", 2.5),
        ("PREFECT_API_TLS_INSECURE_SKIP_VERIFY", "true", "api_tls_insecure_skip_verify", True),
        ("PREFECT_API_SSL_CERT_FILE", "/etc/ca.pem", "api_ssl_cert_file", Path("/etc/ca.pem")),
        ("PREFECT_API_ENABLE_HTTP2", "1", "api_enable_http2", True),
        ("PREFECT_CLIENT_RETRY_TIMEOUT", "12", "client_retry_timeout", 12.0),
        ("PREFECT_CLIENT_RETRY_AFTER_MAX", "5", "client_retry_after_max", 5.0),
        ("PREFECT_CLIENT_RETRY_BACKOFF_MAX", "0", "client_retry_backoff_max", 0.0),
    ],
)
def test_each_variable_is_read(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, field: str, expected: object
) -> None:
    monkeypatch.setenv(variable, value)
    assert getattr(ClientSettings(), field) == expected


def test_settings_are_read_when_built_not_at_import(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ClientSettings().client_max_retries == 5
    monkeypatch.setenv("PREFECT_CLIENT_MAX_RETRIES", "2")
    assert ClientSettings().client_max_retries == 2


def test_keywords_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_CLIENT_MAX_RETRIES", "2")
    assert ClientSettings(client_max_retries=7).client_max_retries == 7


def test_empty_variables_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_API_URL", "")
    assert ClientSettings().api_url is None


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("PREFECT_API_URL", "not a url", "must be an http:// or https:// URL"),
        ("PREFECT_API_URL", "ftp://host/api", "must be an http:// or https:// URL"),
        ("PREFECT_SERVER_EPHEMERAL_ENABLED", "maybe", "valid boolean"),
        ("PREFECT_SERVER_ALLOW_EPHEMERAL_MODE", "maybe", "valid boolean"),
        ("PREFECT_CLIENT_MAX_RETRIES", "-1", "greater than or equal to 0"),
        ("PREFECT_CLIENT_MAX_RETRIES", "lots", "valid integer"),
        ("PREFECT_CLIENT_RETRY_EXTRA_CODES", "500,abc", "'abc' is not an HTTP status code"),
        ("PREFECT_CLIENT_RETRY_EXTRA_CODES", "99", "99 is not an HTTP status code (100-599)"),
        ("PREFECT_CLIENT_RETRY_EXTRA_CODES", "[600]", "600 is not an HTTP status code"),
        ("PREFECT_CLIENT_RETRY_EXTRA_CODES", "[500", "not a valid JSON list"),
        ("PREFECT_CLIENT_RETRY_JITTER_FACTOR", "-0.1", "greater than or equal to 0"),
        ("PREFECT_CLIENT_RETRY_JITTER_FACTOR", "nan", "finite number"),
        ("PREFECT_CLIENT_CUSTOM_HEADERS", "X-A: 1", "must be a JSON object"),
        ("PREFECT_CLIENT_CUSTOM_HEADERS", "[1, 2]", "must be a JSON object"),
        ("PREFECT_CLIENT_CUSTOM_HEADERS", '{"bad name": "v"}', "'bad name' is not a valid HTTP"),
        ("PREFECT_CLIENT_CUSTOM_HEADERS", '{"X-A": 1}', "header 'X-A' must be a string"),
        ("PREFECT_CLIENT_CUSTOM_HEADERS", '{"X-A": "a\\r\\nB: c"}', "contains a line break"),
        ("PREFECT_API_REQUEST_TIMEOUT", "0", "greater than 0"),
        ("PREFECT_CLIENT_RETRY_TIMEOUT", "-5", "greater than 0"),
        ("PREFECT_CLIENT_RETRY_AFTER_MAX", "inf", "finite number"),
        ("PREFECT_CLIENT_RETRY_BACKOFF_MAX", "-1", "greater than or equal to 0"),
    ],
)
def test_bad_values_name_the_variable_and_the_problem(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, problem: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as info:
        ClientSettings()
    message = str(info.value)
    assert f"{variable}: " in message
    assert problem in message
    assert isinstance(info.value, ValueError)
    assert info.value.__cause__ is None


def test_every_bad_variable_is_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_CLIENT_MAX_RETRIES", "-1")
    monkeypatch.setenv("PREFECT_API_REQUEST_TIMEOUT", "soon")
    with pytest.raises(SettingsError) as info:
        ClientSettings()
    assert "PREFECT_CLIENT_MAX_RETRIES" in str(info.value)
    assert "PREFECT_API_REQUEST_TIMEOUT" in str(info.value)


def test_secrets_never_appear_in_repr_str_or_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_API_KEY", "pnu_topsecret")
    monkeypatch.setenv("PREFECT_API_AUTH_STRING", "admin:hunter2")
    monkeypatch.setenv("PREFECT_API_URL", "https://user:pa55word@prefect.example/api")
    monkeypatch.setenv("PREFECT_CLIENT_CUSTOM_HEADERS", '{"X-Token": "header-secret"}')
    settings = ClientSettings()
    assert settings.api_key is not None
    assert settings.api_key.get_secret_value() == "pnu_topsecret"
    shown = repr(settings) + str(settings)
    for secret in ("pnu_topsecret", "hunter2", "pa55word", "header-secret"):
        assert secret not in shown
    assert "X-Token" in shown

    monkeypatch.setenv("PREFECT_CLIENT_CUSTOM_HEADERS", '{"X-Token": ["header-secret"]}')
    monkeypatch.setenv("PREFECT_API_URL", "ftp://user:pa55word@prefect.example/api")
    with pytest.raises(SettingsError) as info:
        ClientSettings()
    for secret in ("pnu_topsecret", "hunter2", "pa55word", "header-secret"):
        assert secret not in str(info.value)
    assert "PREFECT_API_URL" in str(info.value)
    assert "ftp://prefect.example/api" in str(info.value)


def test_settings_are_immutable() -> None:
    settings = ClientSettings()
    with pytest.raises(ValueError, match="frozen"):
        settings.client_max_retries = 1  # type: ignore[misc]
