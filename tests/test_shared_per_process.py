"""What every client context would otherwise build again: built once and shared.

A program that opens client contexts everywhere pays for each one; these pieces cost tens
of microseconds each and are the same for every client, so they are shared: the parsed
base URL, the jitter generator, and the settings read from an unchanged environment.
Each test fails if a client builds its own again, and checks that sharing changes nothing
a client can see.
"""

from __future__ import annotations

import httpx
import pytest

from prefect_trio_client import settings as settings_module
from prefect_trio_client._retry import RetryPolicy
from prefect_trio_client.base import PrefectHttpxAsyncClient, PrefectHttpxSyncClient
from prefect_trio_client.settings import current_settings

CLIENTS = [PrefectHttpxAsyncClient, PrefectHttpxSyncClient]


@pytest.mark.parametrize("client_class", CLIENTS)
def test_clients_of_one_api_share_one_parsed_base_url(client_class: type[httpx.Client]) -> None:
    first = client_class(base_url="http://127.0.0.1:4200/api")
    second = client_class(base_url="http://127.0.0.1:4200/api")
    assert first.base_url is second.base_url
    assert str(first.base_url) == "http://127.0.0.1:4200/api/"  # httpx's trailing slash
    request = first.build_request("GET", "flows/x")
    assert str(request.url) == "http://127.0.0.1:4200/api/flows/x"


@pytest.mark.parametrize("client_class", CLIENTS)
def test_a_base_url_given_as_an_httpx_url_or_left_out_is_what_httpx_makes_it(
    client_class: type[httpx.Client],
) -> None:
    given = client_class(base_url=httpx.URL("http://127.0.0.1:4200/api/"))
    assert str(given.base_url) == "http://127.0.0.1:4200/api/"
    assert client_class().base_url == httpx.Client().base_url


@pytest.mark.parametrize("client_class", CLIENTS)
def test_a_bad_base_url_fails_as_httpx_fails(client_class: type[httpx.Client]) -> None:
    with pytest.raises(httpx.InvalidURL):
        client_class(base_url="http://[::1/api")


def test_retry_policies_share_one_jitter_generator_unless_given_one() -> None:
    import random

    assert RetryPolicy().rng is RetryPolicy().rng
    own = random.Random(7)
    assert RetryPolicy(rng=own).rng is own


def test_an_unchanged_environment_is_not_read_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    first = current_settings()

    def read_again() -> None:
        pytest.fail("the unchanged environment was read again")

    monkeypatch.setattr(settings_module, "ClientSettings", read_again)
    assert current_settings() is first


def test_a_changed_environment_is_read_on_the_next_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    assert current_settings().api_url == "http://127.0.0.1:4200/api"
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4201/api")
    assert current_settings().api_url == "http://127.0.0.1:4201/api"
    monkeypatch.setenv("UNRELATED_VARIABLE", "1")  # another variable: the same settings
    assert current_settings().api_url == "http://127.0.0.1:4201/api"
