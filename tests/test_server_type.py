"""ServerType and determine_server_type, by Prefect's rules."""

from __future__ import annotations

import pytest

from prefect_trio_client.base import ServerType, determine_server_type
from prefect_trio_client.settings import ClientSettings


def test_members_are_their_own_names() -> None:
    assert [m.value for m in ServerType] == ["EPHEMERAL", "SERVER", "CLOUD", "UNCONFIGURED"]
    assert ServerType("CLOUD") is ServerType.CLOUD
    assert ServerType.SERVER == "SERVER"
    assert repr(ServerType.EPHEMERAL) == "ServerType.EPHEMERAL"


def test_auto_is_exposed_for_subclasses() -> None:
    import enum

    class Color(str, enum.Enum):
        _generate_next_value_ = ServerType._generate_next_value_
        RED = ServerType.auto()

    assert Color.RED.value == "RED"


def test_no_url_with_ephemeral_allowed_is_ephemeral() -> None:
    assert determine_server_type() is ServerType.EPHEMERAL


def test_no_url_without_ephemeral_is_unconfigured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_SERVER_ALLOW_EPHEMERAL_MODE", "false")
    assert determine_server_type() is ServerType.UNCONFIGURED


def test_a_url_is_a_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    assert determine_server_type() is ServerType.SERVER


def test_a_cloud_url_is_cloud(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_API_URL", "https://api.prefect.cloud/api/accounts/a/workspaces/w")
    assert determine_server_type() is ServerType.CLOUD


def test_a_custom_cloud_url(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = ClientSettings(
        api_url="https://cloud.internal/api/accounts/a", cloud_api_url="https://cloud.internal/api"
    )
    assert determine_server_type(settings) is ServerType.CLOUD
