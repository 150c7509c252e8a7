"""Every automation method against the captured Prefect 3.9.1 exchanges, on both clients.

The captures (``tests/data/captures/automations.json``, made by
``tests/captures/capture_automations.py``) hold what Prefect's own client sent and what a
real server answered. Each case calls our method with the same inputs; a mock transport
answers with the captured response, and the request we sent must match the captured one
(method, path, body: every field we send is one Prefect sent, with the same value).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest

from prefect_trio_client.exceptions import ObjectNotFound
from prefect_trio_client.orchestration import automations as plans
from prefect_trio_client.orchestration._plan import Request
from prefect_trio_client.schemas.automations import (
    Automation,
    AutomationCore,
    AutomationFilter,
    AutomationFilterTags,
    CompoundTrigger,
    EventTrigger,
    RunDeployment,
    SequenceTrigger,
)
from prefect_trio_client.schemas.sorting import AutomationSort
from tests.captures.loaded import load_captures
from tests.orchestration.harness import ClientKind, call, make_client
from tests.orchestration.test_methods import SampleServer, assert_agrees

CAPTURES = load_captures("automations")


def request_body(key: str) -> Any:
    return CAPTURES[key]["request_body"]


def path_id(key: str) -> UUID:
    """The automation id in a captured URL."""
    return UUID(httpx.URL(CAPTURES[key]["url"]).path.rstrip("/").split("/")[-1])


def core(key: str) -> AutomationCore:
    """The automation Prefect's client sent in a captured request."""
    return AutomationCore.model_validate(request_body(key))


def response_for(key: str) -> httpx.Response:
    sample = CAPTURES[key]
    if sample["response_body"] is None:
        return httpx.Response(sample["status_code"])
    return httpx.Response(sample["status_code"], json=sample["response_body"])


CREATE = "POST /automations/ (create_automation)"
READ = "GET /automations/{id} (read_automation)"
OWNER = request_body(CREATE)["owner_resource"]
RELATED = f"GET /automations/related-to/{OWNER} (read_resource_related_automations)"
OWNED = f"DELETE /automations/owned-by/{OWNER} (delete_resource_owned_automations)"
ALL = "POST /automations/filter (read_automations all)"


def returns_id(key: str) -> Callable[[Any], bool]:
    return lambda result: result == UUID(CAPTURES[key]["response_body"]["id"])


def automations(*names: str) -> Callable[[Any], bool]:
    def check(result: Any) -> bool:
        assert all(isinstance(a, Automation) for a in result)
        return [a.name for a in result] == list(names)

    return check


def is_none(result: Any) -> bool:
    return result is None


def update_args() -> tuple[Any, ...]:
    """A read automation changed and sent back, as a program would."""
    read = Automation.model_validate(CAPTURES[READ]["response_body"])
    changes = request_body("PUT /automations/{id} (update_automation)")
    changed = read.model_copy(update={k: changes[k] for k in ("name", "description", "enabled")})
    return (path_id("PUT /automations/{id} (update_automation)"), changed)


# method, the captured exchanges it makes, its arguments, the check of its result
CASES: dict[str, tuple[str, list[str], Callable[[], tuple[Any, ...]], Callable[[Any], Any]]] = {
    "create_automation": (
        "create_automation",
        [CREATE],
        lambda: (core(CREATE),),
        returns_id(CREATE),
    ),
    "create_automation compound": (
        "create_automation",
        ["POST /automations/ (create_automation compound)"],
        lambda: (core("POST /automations/ (create_automation compound)"),),
        returns_id("POST /automations/ (create_automation compound)"),
    ),
    "create_automation sequence": (
        "create_automation",
        ["POST /automations/ (create_automation sequence)"],
        lambda: (core("POST /automations/ (create_automation sequence)"),),
        returns_id("POST /automations/ (create_automation sequence)"),
    ),
    "read_automation": (
        "read_automation",
        [READ],
        lambda: (path_id(READ),),
        lambda r: isinstance(r.trigger, EventTrigger) and isinstance(r.actions[0], RunDeployment),
    ),
    "read_automations": (
        "read_automations",
        ["POST /automations/filter (read_automations)"],
        lambda: (),
        automations("capture-automation"),
    ),
    "read_automations all": (
        "read_automations",
        [ALL],
        lambda: (),
        automations("capture-automation", "capture-compound", "capture-sequence"),
    ),
    "read_automations_by_name": (
        "read_automations_by_name",
        ["POST /automations/filter (read_automations_by_name)"],
        lambda: ("capture-compound",),
        lambda r: automations("capture-compound")(r) and isinstance(r[0].trigger, CompoundTrigger),
    ),
    "find_automation by id": (
        "find_automation",
        ["GET /automations/{id} (find_automation by id)"],
        lambda: (path_id("GET /automations/{id} (find_automation by id)"),),
        lambda r: isinstance(r.trigger, SequenceTrigger),
    ),
    "find_automation by id as text": (
        "find_automation",
        ["GET /automations/{id} (find_automation by id)"],
        lambda: (str(path_id("GET /automations/{id} (find_automation by id)")),),
        lambda r: r.name == "capture-sequence",
    ),
    "find_automation by name": (
        "find_automation",
        ["POST /automations/filter (find_automation by name)"],
        lambda: ("CAPTURE-SEQUENCE",),
        lambda r: r.name == "capture-sequence",
    ),
    "find_automation of no such name": (
        "find_automation",
        ["POST /automations/filter (find_automation by name)"],
        lambda: ("capture",),
        is_none,
    ),
    "pause_automation": (
        "pause_automation",
        ["PATCH /automations/{id} (pause_automation)"],
        lambda: (path_id("PATCH /automations/{id} (pause_automation)"),),
        is_none,
    ),
    "resume_automation": (
        "resume_automation",
        ["PATCH /automations/{id} (resume_automation)"],
        lambda: (path_id("PATCH /automations/{id} (resume_automation)"),),
        is_none,
    ),
    "update_automation": (
        "update_automation",
        ["PUT /automations/{id} (update_automation)"],
        update_args,
        is_none,
    ),
    "read_resource_related_automations": (
        "read_resource_related_automations",
        [RELATED],
        lambda: (OWNER,),
        automations("capture-automation-2"),
    ),
    "delete_resource_owned_automations": (
        "delete_resource_owned_automations",
        [OWNED],
        lambda: (OWNER,),
        is_none,
    ),
    "delete_automation": (
        "delete_automation",
        ["DELETE /automations/{id} (delete_automation)"],
        lambda: (path_id("DELETE /automations/{id} (delete_automation)"),),
        is_none,
    ),
}

KEYWORDS: dict[str, dict[str, Any]] = {
    "read_automations": {
        "automations": AutomationFilter(tags=AutomationFilterTags(any_=["capture"])),
        "sort": AutomationSort.NAME_DESC,
        "limit": 5,
        "offset": 0,
    },
}


def replay(keys: list[str]) -> SampleServer:
    """A mock server answering with these captured exchanges, in order."""
    return SampleServer(keys, response_for)


@pytest.mark.anyio
@pytest.mark.parametrize("name", sorted(CASES))
async def test_method_matches_the_captured_exchange(kind: ClientKind, name: str) -> None:
    method, keys, args, check = CASES[name]
    server = replay(keys)
    async with make_client(kind, server) as client:
        result = await call(client, method, *args(), **KEYWORDS.get(name, {}))
    assert check(result) in (None, True), f"{method} returned {result!r}"
    assert len(server.requests) == len(keys)
    for request, key in zip(server.requests, keys, strict=True):
        sample = CAPTURES[key]
        assert request.method == sample["method"]
        assert request.url.path == httpx.URL(sample["url"]).path
        if sample["request_body"] is None:
            assert request.content == b""
        else:
            sent = json.loads(request.content)
            assert_agrees(sent, sample["request_body"])
            assert set(sent) == set(sample["request_body"]), "a field Prefect sends is missing"


def test_every_automation_method_has_a_case() -> None:
    methods = json.loads(
        (Path(__file__).parents[1] / "data" / "prefect-client-methods.json").read_text()
    )["async"]
    ours = {name for name in methods if "automation" in name}
    assert ours == {method for method, *_ in CASES.values()}
    assert ours == set(plans.__all__)
    for name in ours:  # Prefect's parameter names, in Prefect's order
        code = getattr(plans, name).__code__
        params = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
        assert list(params) == methods[name], name


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("method", "key"),
    [
        ("read_automation", "GET /automations/{id} (read_automation missing)"),
        ("find_automation", "GET /automations/{id} (read_automation missing)"),
        ("delete_automation", "DELETE /automations/{id} (delete_automation missing)"),
    ],
)
async def test_a_missing_automation_raises_object_not_found(
    kind: ClientKind, method: str, key: str
) -> None:
    async with make_client(kind, replay([key])) as client:
        with pytest.raises(ObjectNotFound) as info:
            await call(client, method, path_id(key))
    assert info.value.response.status_code == 404
    assert "Automation not found" in str(info.value)


@pytest.mark.anyio
async def test_the_server_refusing_a_metric_trigger_is_a_422(kind: ClientKind) -> None:
    key = "POST /automations/ (create_automation metric)"
    async with make_client(kind, replay([key])) as client:
        with pytest.raises(httpx.HTTPStatusError) as info:
            await call(client, "create_automation", core(key))
    assert info.value.response.status_code == 422


def test_an_update_never_sends_the_id_or_an_owner() -> None:
    read = Automation.model_validate(CAPTURES[READ]["response_body"])
    request = next(plans.update_automation(read.id, read))
    assert isinstance(request, Request)
    assert set(request.json) == set(AutomationCore.model_fields) - {"owner_resource"}
    owned = core(CREATE)
    with pytest.raises(ValueError, match="owner_resource"):
        next(plans.update_automation(read.id, owned))


def test_a_text_that_is_no_uuid_is_a_name() -> None:
    request = next(plans.find_automation("nightly"))
    assert isinstance(request, Request)
    assert (request.method, request.path) == ("POST", "/automations/filter")
    assert request.json == request_body(ALL)
