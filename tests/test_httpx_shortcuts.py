"""The per-request shortcuts past httpx's general code give httpx's own results.

`PlainPathJoiner` against httpx's own merge (hypothesis, over awkward base URLs and
paths); cookies still stored from a response that sets them; auth still applied; the
request a plan's pre-serialized body becomes.
"""

from __future__ import annotations

import functools
import json
import string
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prefect_trio_client._httpx_shortcuts import PlainPathJoiner, skip_cookie_less
from prefect_trio_client.base import PrefectHttpxAsyncClient, PrefectHttpxSyncClient
from prefect_trio_client.orchestration._wire import url_path

pytestmark = pytest.mark.anyio

BASES = [
    "http://prefect.test/api",
    "http://prefect.test/api/",
    "https://USER:p%40ss@Example.COM:4200/a/b",
    "http://127.0.0.1:4200",
    "http://[::1]:4200/api",
    "http://xn--bcher-kva.example/api",
    "http://prefect.test/api?token=x",  # a query: no shortcut, httpx merges
    "http://prefect.test/api#top",  # a fragment: no shortcut
]


NOWHERE = httpx.MockTransport(lambda request: httpx.Response(204))  # no TLS set up


@functools.cache
def plain_client(base: str) -> httpx.Client:
    return httpx.Client(base_url=base, transport=NOWHERE, trust_env=False)


@functools.cache
def our_client(base: str) -> PrefectHttpxSyncClient:
    return PrefectHttpxSyncClient(
        base_url=base, transport=NOWHERE, trust_env=False, backpressure=None
    )


def httpx_merge(base: str, path: str) -> httpx.URL:
    """What a plain httpx client builds for `path` against `base`."""
    return plain_client(base).build_request("GET", path).url


def joined(base: str, path: str) -> httpx.URL:
    """What our client builds (shortcut or not)."""
    return our_client(base).build_request("GET", path).url


def same(ours: httpx.URL, theirs: httpx.URL) -> bool:
    return (
        ours == theirs
        and str(ours) == str(theirs)
        and ours.raw_path == theirs.raw_path
        and ours.path == theirs.path
        and ours.host == theirs.host
        and ours.port == theirs.port
        and ours.userinfo == theirs.userinfo
        and ours.query == theirs.query
        and ours.fragment == theirs.fragment
    )


SEGMENT_TEXT = st.text(
    alphabet=st.sampled_from(
        [*string.ascii_letters, *string.digits, *"-._~%/?#:@!$&'()*+,;= ", "é"]
    ),
    max_size=12,
)


@given(base=st.sampled_from(BASES), path=SEGMENT_TEXT.map(lambda text: "/" + text))
@settings(max_examples=300, deadline=None)
def test_any_path_is_joined_as_httpx_joins_it(base: str, path: str) -> None:
    try:
        theirs = httpx_merge(base, path)
    except httpx.InvalidURL:
        with pytest.raises(httpx.InvalidURL):
            joined(base, path)
        return
    assert same(joined(base, path), theirs)


@given(
    base=st.sampled_from(BASES),
    segments=st.lists(st.text(min_size=1, max_size=10), min_size=1, max_size=4),
)
@settings(max_examples=200, deadline=None)
def test_every_path_url_path_builds_is_joined_as_httpx_joins_it(
    base: str, segments: list[str]
) -> None:
    path = url_path(*segments)
    assert same(joined(base, path), httpx_merge(base, path))


def test_the_shortcut_is_taken_for_plain_paths_only() -> None:
    joiner = PlainPathJoiner(httpx.URL("http://prefect.test/api/"))
    assert joiner.join("/flow_runs/0f2c-%2F~x.y_z/set_state") is not None
    for path in ("/a/../b", "/a/./b", "//host/x", "/a?b=c", "/a#b", "a/b", "/a%zz", "", "/é"):
        assert joiner.join(path) is None, path
    assert PlainPathJoiner(httpx.URL("http://prefect.test/api/?q=1")).join("/a") is None
    assert PlainPathJoiner(httpx.URL("/relative/")).join("/a") is None


@pytest.mark.parametrize("client_class", [PrefectHttpxAsyncClient, PrefectHttpxSyncClient])
def test_absolute_urls_and_params_still_go_through_httpx(client_class: Any) -> None:
    client = client_class(base_url="http://prefect.test/api", transport=NOWHERE, backpressure=None)
    assert str(client.build_request("GET", "https://other.test/x").url) == "https://other.test/x"
    request = client.build_request("GET", "/flows/filter", params={"a": "b c"})
    assert str(request.url) == "http://prefect.test/api/flows/filter?a=b+c"


def cookie_server(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/api/login":
        return httpx.Response(200, headers={"Set-Cookie": "session=abc; Path=/"})
    return httpx.Response(200, json={"cookie": request.headers.get("cookie")})


async def test_cookies_a_server_sets_are_kept_and_sent() -> None:
    async with PrefectHttpxAsyncClient(
        base_url="http://prefect.test/api",
        transport=httpx.MockTransport(cookie_server),
        backpressure=None,
    ) as client:
        assert (await client.get("/echo")).json() == {"cookie": None}
        await client.get("/login")
        assert client.cookies.get("session") == "abc"
        assert (await client.get("/echo")).json() == {"cookie": "session=abc"}


def test_cookies_set_by_the_program_and_a_shared_jar_are_kept() -> None:
    jar = httpx.Cookies({"a": "1"}).jar
    with PrefectHttpxSyncClient(
        base_url="http://prefect.test/api",
        transport=httpx.MockTransport(cookie_server),
        cookies=jar,
        backpressure=None,
    ) as client:
        assert client.get("/echo").json() == {"cookie": "a=1"}
        client.get("/login")
        assert {cookie.name for cookie in jar} == {"a", "session"}  # the program's jar
        client.cookies = {"b": "2"}
        assert client.get("/echo").json() == {"cookie": "b=2"}
        client.get("/login")
        assert client.cookies.get("session") == "abc"


def test_a_cookie_store_of_another_class_is_left_alone() -> None:
    class Store(httpx.Cookies):
        pass

    store = Store()
    assert type(skip_cookie_less(store)) is Store


def echo_authorization(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"authorization": request.headers.get("authorization")})


async def test_auth_given_to_httpx_is_still_applied() -> None:
    async with PrefectHttpxAsyncClient(
        base_url="http://prefect.test/api",
        transport=httpx.MockTransport(echo_authorization),
        auth=("user", "pw"),
        backpressure=None,
    ) as client:
        assert (await client.get("/x")).json() == {"authorization": "Basic dXNlcjpwdw=="}
        no_auth = await client.get("/x", auth=None)
        assert no_auth.json() == {"authorization": None}


def test_credentials_in_the_url_are_still_sent_as_basic_auth() -> None:
    with PrefectHttpxSyncClient(
        base_url="http://user:pw@prefect.test/api",
        transport=httpx.MockTransport(echo_authorization),
        backpressure=None,
    ) as client:
        assert client.get("/x").json() == {"authorization": "Basic dXNlcjpwdw=="}


def test_a_json_body_keeps_its_content_type_and_length() -> None:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    with PrefectHttpxSyncClient(
        base_url="http://prefect.test/api",
        transport=httpx.MockTransport(record),
        backpressure=None,
    ) as client:
        client.post("/x", json={"a": [1, "é"]})
    request = seen[0]
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {"a": [1, "é"]}
    assert request.headers["content-length"] == str(len(request.content))
