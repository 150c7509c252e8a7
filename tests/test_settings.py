"""ClientSettings: Prefect's variable names, defaults, parsing and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from prefect_trio_client.exceptions import SettingsError
from prefect_trio_client.settings import ClientSettings, clean_credentials


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
    assert settings.client_task_run_reporting == "events"


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
        ("PREFECT_CLIENT_TASK_RUN_REPORTING", "http", "client_task_run_reporting", "http"),
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
        ("PREFECT_CLIENT_TASK_RUN_REPORTING", "websocket", "'events' or 'http'"),
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
        settings.client_max_retries = 1


# --------------------------------------------------------------------------- copy-paste accidents


@pytest.mark.parametrize("variable", ["PREFECT_API_KEY", "PREFECT_API_AUTH_STRING"])
def test_whitespace_around_a_credential_is_stripped(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, "  \tpnu_pasted:secret\r\n")
    settings = ClientSettings()
    secret = settings.api_key if variable == "PREFECT_API_KEY" else settings.api_auth_string
    assert secret is not None
    assert secret.get_secret_value() == "pnu_pasted:secret"
    monkeypatch.setenv(variable, " \n ")
    assert ClientSettings().api_key is None
    assert ClientSettings().api_auth_string is None


@pytest.mark.parametrize("variable", ["PREFECT_API_KEY", "PREFECT_API_AUTH_STRING"])
@pytest.mark.parametrize(
    "inner", ["\n", "\r\n", "\t", "\x01", "\x1b", "\x7f", "\u200b", "\ufeff", "\u2028", "\x85"]
)
def test_a_control_character_inside_a_credential_is_refused_without_the_value(
    monkeypatch: pytest.MonkeyPatch, variable: str, inner: str
) -> None:
    monkeypatch.setenv(variable, f"pnu_first{inner}pnu_second")
    with pytest.raises(SettingsError) as info:
        ClientSettings()
    message = str(info.value)
    assert f"{variable}: contains a control or invisible character" in message
    assert "pnu_first" not in message
    assert "pnu_second" not in message
    assert info.value.__cause__ is None


def test_a_non_ascii_api_key_is_refused_an_auth_string_is_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PREFECT_API_KEY", "pnu_clé")
    with pytest.raises(SettingsError, match="PREFECT_API_KEY: contains a non-ASCII") as info:
        ClientSettings()
    assert "clé" not in str(info.value)
    monkeypatch.delenv("PREFECT_API_KEY")
    monkeypatch.setenv("PREFECT_API_AUTH_STRING", "josé:mot-de-passé")
    secret = ClientSettings().api_auth_string
    assert secret is not None
    assert secret.get_secret_value() == "josé:mot-de-passé"


def test_credentials_given_as_keywords_follow_the_same_rule() -> None:
    assert clean_credentials(api_key=" pnu_key\n", auth_string="\tuser:pw ") == (
        "pnu_key",
        "user:pw",
    )
    assert clean_credentials(api_key="  ", auth_string=None) == (None, None)
    with pytest.raises(SettingsError, match=r"^api_key: contains a control") as info:
        clean_credentials(api_key="pnu_a\npnu_b", auth_string=None)
    assert "pnu_a" not in str(info.value)
    with pytest.raises(SettingsError, match=r"^auth_string: contains a control") as info:
        clean_credentials(api_key=None, auth_string="user:pass\x00word")
    assert "pass" not in str(info.value)
    with pytest.raises(SettingsError, match=r"^api_key: contains a non-ASCII"):
        clean_credentials(api_key="pnu_clé", auth_string=None)
    assert ClientSettings(api_key=" pnu_kw\n").api_key == SecretStr("pnu_kw")


@pytest.mark.parametrize("variable", ["PREFECT_API_URL", "PREFECT_CLOUD_API_URL"])
@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("http://[::1", "is not a valid URL"),
        ("http://user:pa55word@[::1/api", "is not a valid URL"),
        ("http://127.0.0.1:99999/api", "has port 99999; a port is a number from 1 to 65535"),
        ("http://user:pa55word@127.0.0.1:0/api", "has port 0"),
        ("http://127.0.0.1:http/api", "is not a valid URL"),
    ],
)
def test_bad_urls_name_the_variable_and_never_the_password(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, problem: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as info:
        ClientSettings()
    message = str(info.value)
    assert f"{variable}: {problem}" in message
    assert "pa55word" not in message
    assert "user" not in message
    assert info.value.__cause__ is None


def test_a_pasted_url_is_stripped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_API_URL", " http://127.0.0.1:4200/api/ \n")
    assert ClientSettings().api_url == "http://127.0.0.1:4200/api"
    assert ClientSettings(api_url="https://[::1]:65535/api").api_url == "https://[::1]:65535/api"
