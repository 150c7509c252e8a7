"""Unreadable answers fail with one library error; a newer server's enum values do not.

A 2xx whose body is an HTML page, empty, truncated JSON, or JSON of another shape used to
escape as a bare ``json.JSONDecodeError`` or pydantic ``ValidationError``. Every plan now
reads through ``_wire`` and raises `ResponseDecodeError` naming the method, the URL
(without credentials or query string), the status, the content type and the start of the
body, with the original error chained. And an enum value a newer server added (a state
type, an orchestration status, a pool status) is read, not refused. Both clients, both
backends.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any
from uuid import uuid4

import httpx
import pytest
from pydantic import ValidationError

from prefect_trio_client import states
from prefect_trio_client.exceptions import PrefectException, ResponseDecodeError
from prefect_trio_client.orchestration import PrefectClient, SyncPrefectClient
from prefect_trio_client.schemas.filters import FlowRunFilterStateType
from prefect_trio_client.schemas.objects import FlowRun, State, StateType, WorkPoolStatus
from prefect_trio_client.schemas.responses import OrchestrationResult, SetStateStatus
from prefect_trio_client.settings import ClientSettings
from tests.orchestration.harness import API_URL, ClientKind, call, make_client
from tests.schemas.samples import load

pytestmark = pytest.mark.anyio

SAMPLES: dict[str, Any] = {**load()["endpoints"], **load()["extra_examples"]}
RUN_ID = uuid4()

HTML = "<!DOCTYPE html><html><head><title>Sign in</title></head><body>" + "x" * 900
BODIES: dict[str, tuple[bytes, str, type[Exception]]] = {
    "html page": (HTML.encode(), "text/html; charset=utf-8", json.JSONDecodeError),
    "empty body": (b"", "application/json", json.JSONDecodeError),
    "truncated json": (b'{"id": "3f1c', "application/json", json.JSONDecodeError),
    "another shape": (b'{"unexpected": true}', "application/json", ValidationError),
}

# method, arguments, HTTP method, path: one per way a plan reads its answer
CALLS: dict[str, tuple[tuple[Any, ...], dict[str, Any], str, str | None]] = {
    "read_flow": ((RUN_ID,), {}, "GET", f"/api/flows/{RUN_ID}"),
    "read_flows": ((), {}, "POST", "/api/flows/filter"),
    "create_flow_from_name": (("etl",), {}, "POST", "/api/flows/"),
    "count_flow_runs": ((), {}, "POST", "/api/flow_runs/count"),
    "api_version": ((), {}, "GET", "/api/admin/version"),
    "read_flow_run_states": ((RUN_ID,), {}, "GET", "/api/flow_run_states/"),
    "set_flow_run_state": ((RUN_ID, states.Running()), {}, "POST", None),
    "send_worker_heartbeat": (("p", "w"), {"get_worker_id": True}, "POST", None),
    # answers JSON null: its lines are stored only if the answer came from Prefect
    "create_logs": (
        ([{"name": "etl", "level": 20, "message": "m", "timestamp": "2026-12-03T12:00:00Z"}],),
        {},
        "POST",
        "/api/logs/",
    ),
}


def answer(content: bytes, content_type: str) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=content, headers={"content-type": content_type})

    return handler


@pytest.mark.parametrize("body", sorted(BODIES))
@pytest.mark.parametrize("method", sorted(CALLS))
async def test_an_unreadable_answer_is_one_library_error(
    kind: ClientKind, method: str, body: str
) -> None:
    content, content_type, cause = BODIES[body]
    args, kwargs, http_method, path = CALLS[method]
    if method in ("count_flow_runs", "api_version", "send_worker_heartbeat") and (
        body == "another shape"
    ):
        content = b"[1, 2]"  # an object is not a count, a version or an id either
    async with make_client(kind, answer(content, content_type)) as client:
        if method == "create_logs" and body == "another shape":
            # any JSON is Prefect's (a later version may answer with data); not an error
            assert await call(client, method, *args, **kwargs) is None
            return
        with pytest.raises(ResponseDecodeError) as caught:
            await call(client, method, *args, **kwargs)
    error = caught.value
    assert isinstance(error, PrefectException)
    assert isinstance(error, ValueError)  # what callers caught before, still caught
    assert isinstance(error.__cause__, cause)
    assert (error.method, error.status_code, error.content_type) == (
        http_method,
        200,
        content_type,
    )
    assert not error.url.query
    if path is not None:
        assert error.url.path == path
    message = str(error)
    assert message.startswith(f"{http_method} {error.url} answered 200 ({content_type})")
    assert "?" not in message.split(" answered ", maxsplit=1)[0]
    if cause is json.JSONDecodeError:
        if content:
            assert repr(content.decode()[:200]) in message
        else:
            assert "the body is empty" in message
        assert len(message) < 600  # an excerpt, not the page
    else:
        assert "validation error" in message


async def test_credentials_in_the_url_never_reach_the_message(kind: ClientKind) -> None:
    url = "http://user:s3cret@127.0.0.1:4210/api"
    transport = httpx.MockTransport(answer(b"<html>proxy</html>", "text/html"))
    options: dict[str, Any] = {
        "httpx_settings": {"transport": transport},
        "settings": ClientSettings(client_csrf_support_enabled=False),
        "check_server_version": False,
    }
    if kind == "sync":
        with (
            SyncPrefectClient(url, **options) as sync_client,
            pytest.raises(ResponseDecodeError) as caught,
        ):
            sync_client.read_flow(RUN_ID)
    else:
        async with PrefectClient(url, **options) as client:
            with pytest.raises(ResponseDecodeError) as caught:
                await client.read_flow(RUN_ID)
    assert "s3cret" not in str(caught.value)
    assert "user" not in str(caught.value.url)


async def open_and_close(kind: ClientKind, transport: httpx.MockTransport) -> None:
    """Enter and leave a client that checks the server's version on entry."""
    settings = ClientSettings(client_csrf_support_enabled=False)
    if kind == "sync":
        with SyncPrefectClient(API_URL, httpx_settings={"transport": transport}, settings=settings):
            return
    async with PrefectClient(API_URL, httpx_settings={"transport": transport}, settings=settings):
        return


async def test_the_version_check_fails_the_same_way_on_a_web_page(kind: ClientKind) -> None:
    """A URL that is not a Prefect API (a sign-in page answers 200) fails on entry."""
    transport = httpx.MockTransport(answer(HTML.encode(), "text/html"))
    with pytest.raises(ResponseDecodeError, match=r"GET \S+/api/admin/version answered 200"):
        await open_and_close(kind, transport)


async def test_a_json_answer_that_is_not_a_version_fails_the_same_way(kind: ClientKind) -> None:
    transport = httpx.MockTransport(answer(b'{"status": "ok"}', "application/json"))
    with pytest.raises(ResponseDecodeError, match="not a version string"):
        await open_and_close(kind, transport)


# --------------------------------------------------------------------------- newer servers


def captured(key: str, change: Callable[[Any], None]) -> Callable[[httpx.Request], httpx.Response]:
    """The captured answer to `key`, with one value changed as a newer server would."""
    sample = SAMPLES[key]
    body = copy.deepcopy(sample["response_body"])
    if isinstance(body, dict) and "__list_len__" in body:
        body = [body["__first_item__"]]
    change(body)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(sample["status_code"], json=body)

    return handler


async def test_a_new_state_type_is_read_not_refused(kind: ClientKind) -> None:
    def resuming(body: dict[str, Any]) -> None:
        body["state"]["type"] = body["state_type"] = "RESUMING"

    async with make_client(kind, captured("GET /flow_runs/{id}", resuming)) as client:
        run = await call(client, "read_flow_run", RUN_ID)
    assert isinstance(run, FlowRun)
    assert run.state is not None
    assert isinstance(run.state.type, StateType)
    assert run.state.type == run.state_type == "RESUMING"
    assert run.state.type.value == "RESUMING"
    assert not run.state.is_running()
    assert not run.state.is_final()
    assert run.model_dump(mode="json")["state"]["type"] == "RESUMING"  # written back as read


async def test_one_new_state_type_does_not_fail_a_whole_listing(kind: ClientKind) -> None:
    def one_new(body: list[dict[str, Any]]) -> None:
        body.append(copy.deepcopy(body[0]))
        body[1]["state"]["type"] = body[1]["state_type"] = "ARCHIVED"

    async with make_client(kind, captured("POST /flow_runs/filter", one_new)) as client:
        runs = await call(client, "read_flow_runs")
    assert [run.state_type for run in runs] == [runs[0].state.type, "ARCHIVED"]
    assert runs[0].state_type is StateType(runs[0].state_type.value)  # known: the member


async def test_a_new_orchestration_status_is_read_not_refused(kind: ClientKind) -> None:
    def defer(body: dict[str, Any]) -> None:
        body["status"] = "DEFER"

    async with make_client(kind, captured("POST /flow_runs/{id}/set_state", defer)) as client:
        result = await call(client, "set_flow_run_state", RUN_ID, states.Running())
    assert isinstance(result, OrchestrationResult)
    assert isinstance(result.status, SetStateStatus)
    assert result.status == "DEFER"
    assert result.status is not SetStateStatus.ACCEPT


async def test_a_new_work_pool_status_is_read_not_refused(kind: ClientKind) -> None:
    def draining(body: list[dict[str, Any]]) -> None:
        body[0]["status"] = "DRAINING"

    async with make_client(kind, captured("POST /work_pools/filter", draining)) as client:
        pools = await call(client, "read_work_pools")
    assert isinstance(pools[0].status, WorkPoolStatus)
    assert pools[0].status.value == "DRAINING"


def test_a_read_state_with_a_new_type_is_kept_but_write_models_stay_strict() -> None:
    state = State.model_validate({"type": "RESUMING"})
    assert state.name == "Resuming"
    assert state.model_dump(mode="json")["type"] == "RESUMING"
    with pytest.raises(ValidationError, match="type: 'RESUMING' is not a StateType this client"):
        state.to_state_create()
    # The enum itself, and filters, still refuse values they do not list: a typo in a
    # program reaches no server.
    with pytest.raises(ValueError, match="RESUMING"):
        StateType("RESUMING")
    with pytest.raises(ValidationError):
        State.model_validate({"type": "RUNING"}).to_state_create()
    with pytest.raises(ValidationError):
        FlowRunFilterStateType.model_validate({"any_": ["RUNING"]})
