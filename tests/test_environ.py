"""`environment_value` answers what `os.environ.get` answers, changes included."""

from __future__ import annotations

import os

import pytest

from prefect_trio_client._environ import environment_value


def test_it_sees_every_change_to_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    name = "PREFECT_TRIO_CLIENT_TEST_VARIABLE"
    monkeypatch.delenv(name, raising=False)
    assert environment_value(name) is None
    monkeypatch.setenv(name, "http://proxy.invalid:3128")
    assert environment_value(name) == "http://proxy.invalid:3128"
    monkeypatch.setenv(name, "caf\u00e9")  # not ASCII: decoded as os.environ decodes it
    assert environment_value(name) == os.environ[name] == "caf\u00e9"
    monkeypatch.setenv(name, "")
    assert environment_value(name) == ""
    monkeypatch.delenv(name)
    assert environment_value(name) is None


def test_names_are_case_sensitive_as_in_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    monkeypatch.setenv("https_proxy", "http://proxy.invalid:3128")
    assert environment_value("HTTPS_PROXY") == os.environ.get("HTTPS_PROXY")
    assert environment_value("https_proxy") == "http://proxy.invalid:3128"
