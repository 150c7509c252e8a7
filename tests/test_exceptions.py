"""PrefectHTTPStatusError and PrefectResponse: Prefect's message format, chaining, redaction."""

from __future__ import annotations

import json

import httpx
import pytest

from prefect_trio_client.base import PrefectResponse
from prefect_trio_client.exceptions import (
    ObjectAlreadyExists,
    ObjectNotFound,
    PrefectException,
    PrefectHTTPStatusError,
)


def response(
    status: int, url: str = "http://prefect.test/api/flows/x", **kwargs: object
) -> httpx.Response:
    return httpx.Response(status, request=httpx.Request("GET", url), **kwargs)  # type: ignore[arg-type]


def test_message_follows_prefect_with_the_detail_as_json() -> None:
    r = PrefectResponse.from_httpx_response(response(404, json={"detail": "Flow not found"}))
    with pytest.raises(ObjectNotFound) as info:
        r.raise_for_status()
    error = info.value
    assert "\n" not in str(error)
    first, response_part, more = str(error).split(" - ")
    assert first == "Client error '404 Not Found' for url 'http://prefect.test/api/flows/x'"
    assert response_part == 'Response: {"detail": "Flow not found"}'
    assert more.startswith("For more information check:")
    assert error.status_code == 404
    assert error.detail == "Flow not found"
    assert error.method == "GET"
    assert error.url == httpx.URL("http://prefect.test/api/flows/x")
    assert isinstance(error.__cause__, httpx.HTTPStatusError)
    assert not isinstance(error.__cause__, PrefectHTTPStatusError)
    assert isinstance(error, httpx.HTTPStatusError)
    assert isinstance(error, PrefectException)
    assert error.response is r


def test_structured_detail_is_rendered_as_json_not_python_repr() -> None:
    body = {
        "exception_message": "Invalid request received.",
        "exception_detail": [{"loc": ["body", "flow_id"], "msg": "Field required"}],
    }
    with pytest.raises(PrefectHTTPStatusError) as info:
        PrefectResponse.from_httpx_response(response(422, json=body)).raise_for_status()
    rendered = str(info.value).split(" - Response: ", 1)[1].split(" - For more")[0]
    assert json.loads(rendered) == body
    assert "'exception_message'" not in str(info.value)
    assert info.value.detail == body


def test_text_body_becomes_the_detail() -> None:
    with pytest.raises(PrefectHTTPStatusError) as info:
        PrefectResponse.from_httpx_response(response(502, text="bad gateway")).raise_for_status()
    assert info.value.detail == "bad gateway"
    assert ' - Response: "bad gateway" - For more information' in str(info.value)


def test_an_empty_body_leaves_the_response_part_out() -> None:
    with pytest.raises(PrefectHTTPStatusError) as info:
        PrefectResponse.from_httpx_response(response(500)).raise_for_status()
    assert "Response:" not in str(info.value)
    assert str(info.value).startswith("Server error '500 Internal Server Error' for url")
    assert " - For more information check:" in str(info.value)


def test_huge_detail_is_shortened() -> None:
    with pytest.raises(PrefectHTTPStatusError) as info:
        PrefectResponse.from_httpx_response(response(500, text="x" * 10_000)).raise_for_status()
    assert len(str(info.value)) < 2500
    assert "more characters" in str(info.value)


@pytest.mark.parametrize(
    ("status", "kind"),
    [(404, ObjectNotFound), (409, ObjectAlreadyExists), (400, PrefectHTTPStatusError)],
)
def test_status_maps_to_the_right_class(status: int, kind: type[Exception]) -> None:
    with pytest.raises(PrefectHTTPStatusError) as info:
        PrefectResponse.from_httpx_response(response(status, json={})).raise_for_status()
    assert type(info.value) is kind


def test_credentials_in_the_url_never_reach_the_message() -> None:
    r = PrefectResponse.from_httpx_response(
        response(401, url="http://admin:hunter2@prefect.test/api/flows/", json={"detail": "no"})
    )
    with pytest.raises(PrefectHTTPStatusError) as info:
        r.raise_for_status()
    assert "hunter2" not in str(info.value)
    assert "hunter2" not in str(info.value.url)
    assert "prefect.test/api/flows/" in str(info.value)


def test_success_returns_the_response() -> None:
    r = PrefectResponse.from_httpx_response(response(200, json=[]))
    assert r.raise_for_status() is r


def test_from_httpx_response_keeps_everything() -> None:
    original = response(201, json={"id": 1}, headers={"X-A": "b"})
    converted = PrefectResponse.from_httpx_response(original)
    assert isinstance(converted, PrefectResponse)
    assert converted.json() == {"id": 1}
    assert converted.headers["X-A"] == "b"
    assert converted.request is original.request
    assert type(original) is httpx.Response
    assert PrefectResponse.from_httpx_response(converted) is converted
