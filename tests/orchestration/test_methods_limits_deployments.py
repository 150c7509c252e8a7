"""Tag limits, global limits without a lease, and deployment schedules, pausing, branches
and SLAs, against the exchanges Prefect 3.9.1's client had with a real server
(``tests/data/captures/limits_deployments.json``, made by
``tests/captures/capture_limits_deployments.py``).

Each case calls one of our methods with the inputs of a captured call; a mock transport
answers with the captured responses, in order. The requests we send must match the
captured ones (method, path, body, as ``test_methods.assert_agrees`` judges), and the
result must be what the method documents. Runs on asyncio, trio and the sync client.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest

from prefect_trio_client.base import PrefectResponse
from prefect_trio_client.exceptions import (
    ObjectAlreadyExists,
    ObjectNotFound,
    PrefectHTTPStatusError,
)
from prefect_trio_client.orchestration._plan import Request
from prefect_trio_client.schemas.actions import (
    DeploymentScheduleCreate,
    DeploymentUpdate,
    GlobalConcurrencyLimitUpdate,
)
from prefect_trio_client.schemas.objects import (
    BranchingScheduleHandling,
    ConcurrencyLimit,
    CronSchedule,
    DeploymentBranchingOptions,
    DeploymentSchedule,
    FrequencySla,
    GlobalConcurrencyLimit,
    IntervalSchedule,
    LatenessSla,
    TimeToCompletionSla,
)
from tests.orchestration.harness import ClientKind, call, make_client
from tests.orchestration.test_methods import SampleServer, assert_agrees

CAPTURE = Path(__file__).parents[1] / "data" / "captures" / "limits_deployments.json"
EXCHANGES: dict[str, dict[str, Any]] = json.loads(CAPTURE.read_text(encoding="utf-8"))
BY_LABEL: dict[str, list[str]] = {}
for _key, _exchange in EXCHANGES.items():
    BY_LABEL.setdefault(_exchange["client_method"], []).append(_key)


def only(label: str) -> str:
    """The one exchange a captured call made."""
    (key,) = BY_LABEL[label]
    return key


def exchange(label: str, method: str = "") -> dict[str, Any]:
    keys = [k for k in BY_LABEL[label] if k.startswith(method)]
    assert len(keys) == 1, (label, method, keys)
    return EXCHANGES[keys[0]]


def request_body(label: str, method: str = "") -> Any:
    return exchange(label, method)["request_body"]


def response_body(label: str, method: str = "") -> Any:
    return exchange(label, method)["response_body"]


def path(label: str, method: str = "") -> list[str]:
    return httpx.URL(exchange(label, method)["url"]).path.rstrip("/").split("/")


TAG = request_body("create_concurrency_limit")["tag"]
GCL = path("update_global_concurrency_limit")[-1]
UPSERTED = request_body("upsert_global_concurrency_limit_by_name (creates)", "POST")["name"]
DEPLOYMENT_ID = UUID(path("read_deployment_schedules")[-2])
SCHEDULE_ID = UUID(path("update_deployment_schedule")[-1])
RUN_1 = UUID(request_body("increment_v1_concurrency_slots")["task_run_id"])
RUN_2 = UUID(request_body("increment_v1_concurrency_slots second")["task_run_id"])


def response_for(key: str) -> httpx.Response:
    sample = EXCHANGES[key]
    if sample["response_body"] is None:
        return httpx.Response(sample["status_code"])
    return httpx.Response(sample["status_code"], json=sample["response_body"])


Args = tuple[tuple[Any, ...], dict[str, Any]]


@dataclass
class Case:
    method: str
    keys: list[str]
    args: Callable[[], Args]
    check: Callable[[Any], object]


def args(*positional: Any, **keywords: Any) -> Callable[[], Args]:
    return lambda: (positional, keywords)


def is_none(result: Any) -> None:
    assert result is None


def raw_json_is(label: str) -> Callable[[Any], None]:
    def check(result: Any) -> None:
        assert isinstance(result, PrefectResponse)
        assert result.json() == response_body(label)

    return check


def list_of(kind: type[Any], count: int) -> Callable[[Any], None]:
    def check(result: Any) -> None:
        assert isinstance(result, list)
        assert len(result) == count
        assert all(isinstance(item, kind) for item in result)

    return check


def limit_held_by(*runs: UUID) -> Callable[[Any], None]:
    def check(result: Any) -> None:
        assert isinstance(result, ConcurrencyLimit)
        assert result.tag == TAG
        assert result.active_slots == list(runs)

    return check


def interval(label: str, index: int = 0) -> IntervalSchedule:
    body = request_body(label)
    data = body[index]["schedule"] if isinstance(body, list) else body["schedule"]
    return IntervalSchedule.model_validate(data)


def schedules_as_tuples() -> Args:
    label = "create_deployment_schedules (tuples)"
    sent = request_body(label)[0]
    return (DEPLOYMENT_ID, [(interval(label), sent["active"])]), {
        "max_scheduled_runs": sent["max_scheduled_runs"],
        "parameters": sent["parameters"],
        "slug": sent["slug"],
    }


def schedules_as_models() -> Args:
    sent = request_body("create_deployment_schedules")[0]
    create = DeploymentScheduleCreate(
        schedule=CronSchedule.model_validate(sent["schedule"]),
        active=sent["active"],
        slug=sent["slug"],
    )
    return (DEPLOYMENT_ID, [create]), {}


def schedule_update() -> Args:
    sent = request_body("update_deployment_schedule")
    return (DEPLOYMENT_ID, SCHEDULE_ID), {
        "active": sent["active"],
        "schedule": interval("update_deployment_schedule"),
        "max_scheduled_runs": sent["max_scheduled_runs"],
        "parameters": sent["parameters"],
        "slug": sent["slug"],
    }


def upsert_keys(label: str) -> list[str]:
    order = {"GET": 0, "POST": 1, "PATCH": 1}
    return sorted(BY_LABEL[label], key=lambda k: order[k.split(" ")[0]])


CASES: dict[str, Case] = {
    # tag (v1) limits
    "create_concurrency_limit": Case(
        "create_concurrency_limit",
        [only("create_concurrency_limit")],
        args(TAG, 1),
        lambda r: r == UUID(response_body("create_concurrency_limit")["id"]),
    ),
    "create_concurrency_limit again": Case(
        "create_concurrency_limit",
        [only("create_concurrency_limit again (an upsert)")],
        args(TAG, concurrency_limit=2),
        lambda r: r == UUID(response_body("create_concurrency_limit")["id"]),
    ),
    "read_concurrency_limit_by_tag": Case(
        "read_concurrency_limit_by_tag",
        [only("read_concurrency_limit_by_tag")],
        args(TAG),
        limit_held_by(),
    ),
    "read_concurrency_limit_by_tag held": Case(
        "read_concurrency_limit_by_tag",
        [only("read_concurrency_limit_by_tag with a slot taken")],
        args(TAG),
        limit_held_by(RUN_1),
    ),
    "read_concurrency_limits": Case(
        "read_concurrency_limits",
        [only("read_concurrency_limits")],
        args(10, 0),
        list_of(ConcurrencyLimit, 1),
    ),
    "increment_v1_concurrency_slots": Case(
        "increment_v1_concurrency_slots",
        [only("increment_v1_concurrency_slots")],
        args([TAG], RUN_1),
        raw_json_is("increment_v1_concurrency_slots"),
    ),
    "increment_v1_concurrency_slots second run": Case(
        "increment_v1_concurrency_slots",
        [only("increment_v1_concurrency_slots second")],
        args(names=[TAG], task_run_id=RUN_2),
        raw_json_is("increment_v1_concurrency_slots second"),
    ),
    "decrement_v1_concurrency_slots": Case(
        "decrement_v1_concurrency_slots",
        [only("decrement_v1_concurrency_slots")],
        args([TAG], RUN_1, 1.5),
        raw_json_is("decrement_v1_concurrency_slots"),
    ),
    "reset_concurrency_limit_by_tag override": Case(
        "reset_concurrency_limit_by_tag",
        [only("reset_concurrency_limit_by_tag with slot_override")],
        args(TAG, slot_override=[RUN_1]),
        is_none,
    ),
    "reset_concurrency_limit_by_tag override as text": Case(
        "reset_concurrency_limit_by_tag",
        [only("reset_concurrency_limit_by_tag with slot_override")],
        args(TAG, [str(RUN_1)]),
        is_none,
    ),
    "reset_concurrency_limit_by_tag": Case(
        "reset_concurrency_limit_by_tag",
        [only("reset_concurrency_limit_by_tag")],
        args(TAG),
        is_none,
    ),
    "delete_concurrency_limit_by_tag": Case(
        "delete_concurrency_limit_by_tag",
        [only("delete_concurrency_limit_by_tag")],
        args(TAG),
        is_none,
    ),
    # global (v2) limits without a lease
    "read_global_concurrency_limits": Case(
        "read_global_concurrency_limits",
        [only("read_global_concurrency_limits")],
        args(),
        list_of(GlobalConcurrencyLimit, 1),
    ),
    "update_global_concurrency_limit": Case(
        "update_global_concurrency_limit",
        [only("update_global_concurrency_limit")],
        args(GCL, GlobalConcurrencyLimitUpdate(limit=2, slot_decay_per_second=0.0)),
        lambda r: isinstance(r, PrefectResponse) and r.status_code == 204,
    ),
    "increment_concurrency_slots": Case(
        "increment_concurrency_slots",
        [only("increment_concurrency_slots")],
        args([GCL], 2, "concurrency"),
        raw_json_is("increment_concurrency_slots"),
    ),
    "release_concurrency_slots": Case(
        "release_concurrency_slots",
        [only("release_concurrency_slots")],
        args([GCL], 2, 1.5),
        raw_json_is("release_concurrency_slots"),
    ),
    "release_concurrency_slots unknown": Case(
        "release_concurrency_slots",
        [only("release_concurrency_slots of unknown names")],
        args([f"{GCL}-missing"], 1, occupancy_seconds=1.5),
        lambda r: r.json() == [],
    ),
    "upsert_global_concurrency_limit_by_name creates": Case(
        "upsert_global_concurrency_limit_by_name",
        upsert_keys("upsert_global_concurrency_limit_by_name (creates)"),
        args(UPSERTED, 3),
        is_none,
    ),
    "upsert_global_concurrency_limit_by_name updates": Case(
        "upsert_global_concurrency_limit_by_name",
        upsert_keys("upsert_global_concurrency_limit_by_name (updates)"),
        args(UPSERTED, 4, slot_decay_per_second=0.5),
        is_none,
    ),
    "upsert_global_concurrency_limit_by_name unchanged": Case(
        "upsert_global_concurrency_limit_by_name",
        upsert_keys("upsert_global_concurrency_limit_by_name (unchanged)"),
        args(UPSERTED, 4),
        is_none,
    ),
    # deployments
    "read_deployment_schedules": Case(
        "read_deployment_schedules",
        [only("read_deployment_schedules")],
        args(DEPLOYMENT_ID),
        list_of(DeploymentSchedule, 2),
    ),
    "create_deployment_schedules tuples": Case(
        "create_deployment_schedules",
        [only("create_deployment_schedules (tuples)")],
        schedules_as_tuples,
        list_of(DeploymentSchedule, 1),
    ),
    "create_deployment_schedules": Case(
        "create_deployment_schedules",
        [only("create_deployment_schedules")],
        schedules_as_models,
        list_of(DeploymentSchedule, 1),
    ),
    "update_deployment_schedule": Case(
        "update_deployment_schedule",
        [only("update_deployment_schedule")],
        schedule_update,
        is_none,
    ),
    "update_deployment_schedule active only": Case(
        "update_deployment_schedule",
        [only("update_deployment_schedule active only")],
        args(DEPLOYMENT_ID, SCHEDULE_ID, active=True),
        is_none,
    ),
    "delete_deployment_schedule": Case(
        "delete_deployment_schedule",
        [only("delete_deployment_schedule")],
        args(DEPLOYMENT_ID, SCHEDULE_ID),
        is_none,
    ),
    "pause_deployment": Case(
        "pause_deployment", [only("pause_deployment")], args(DEPLOYMENT_ID), is_none
    ),
    "pause_deployment by text": Case(
        "pause_deployment", [only("pause_deployment")], args(str(DEPLOYMENT_ID)), is_none
    ),
    "resume_deployment": Case(
        "resume_deployment", [only("resume_deployment")], args(str(DEPLOYMENT_ID)), is_none
    ),
    "set_deployment_paused_state": Case(
        "set_deployment_paused_state",
        [only("set_deployment_paused_state")],
        args(DEPLOYMENT_ID, True),
        is_none,
    ),
}


def captured_server(keys: list[str]) -> SampleServer:
    """Answers each request with the next captured response."""
    return SampleServer(keys, respond=response_for)


def assert_sent_as_captured(server: SampleServer) -> None:
    assert len(server.requests) == len(server.keys)
    for request, key in zip(server.requests, server.keys, strict=True):
        sample = EXCHANGES[key]
        assert request.method == sample["method"]
        assert request.url.path == httpx.URL(sample["url"]).path
        if sample["request_body"] is None:
            assert request.content == b""
        else:
            sent = httpx.Response(200, content=request.content).json()
            assert_agrees(sent, sample["request_body"])


@pytest.mark.anyio
@pytest.mark.parametrize("name", sorted(CASES))
async def test_method_matches_the_captured_exchange(kind: ClientKind, name: str) -> None:
    case = CASES[name]
    server = captured_server(case.keys)
    positional, keywords = case.args()
    async with make_client(kind, server) as client:
        result = await call(client, case.method, *positional, **keywords)
    assert case.check(result) in (None, True), f"{case.method} returned {result!r}"
    assert_sent_as_captured(server)


SLAS: list[TimeToCompletionSla | LatenessSla | FrequencySla] = [
    TimeToCompletionSla(name="fast", duration=600, severity="high"),
    LatenessSla(name="on-time", within=timedelta(minutes=10)),
]

ERRORS: dict[str, tuple[str, str, Callable[[], Args], type[PrefectHTTPStatusError], str]] = {
    "read an unknown tag": (
        "read_concurrency_limit_by_tag of an unknown tag",
        "read_concurrency_limit_by_tag",
        args(TAG),
        ObjectNotFound,
        "Concurrency limit not found",
    ),
    "delete an unknown tag": (
        "delete_concurrency_limit_by_tag of an unknown tag",
        "delete_concurrency_limit_by_tag",
        args(TAG),
        ObjectNotFound,
        "Concurrency limit not found",
    ),
    "reset an unknown tag": (
        "reset_concurrency_limit_by_tag of an unknown tag",
        "reset_concurrency_limit_by_tag",
        args(TAG),
        ObjectNotFound,
        "Concurrency limit not found",
    ),
    "a full tag": (
        "increment_v1_concurrency_slots when full",
        "increment_v1_concurrency_slots",
        args([TAG], UUID(int=3)),
        PrefectHTTPStatusError,
        "has been reached",
    ),
    "a full global limit": (
        "increment_concurrency_slots when full",
        "increment_concurrency_slots",
        args([GCL], 1, "concurrency"),
        PrefectHTTPStatusError,
        "Locked",
    ),
    "update an unknown global limit": (
        "update_global_concurrency_limit of an unknown name",
        "update_global_concurrency_limit",
        args(f"{GCL}-missing", GlobalConcurrencyLimitUpdate(limit=2)),
        ObjectNotFound,
        "Concurrency Limit not found",
    ),
    "schedules of an unknown deployment": (
        "read_deployment_schedules of an unknown deployment",
        "read_deployment_schedules",
        args(UUID(int=7)),
        ObjectNotFound,
        "Deployment not found.",
    ),
    "a taken slug": (
        "create_deployment_schedules with a taken slug",
        "create_deployment_schedules",
        lambda: (
            (
                DEPLOYMENT_ID,
                [DeploymentScheduleCreate(schedule=CronSchedule(cron="0 9 * * *"), slug="hourly")],
            ),
            {},
        ),
        ObjectAlreadyExists,
        "Data integrity conflict",
    ),
    "update an unknown schedule": (
        "update_deployment_schedule of an unknown schedule",
        "update_deployment_schedule",
        args(DEPLOYMENT_ID, UUID(int=7), active=True),
        ObjectNotFound,
        "Schedule not found.",
    ),
    "delete an unknown schedule": (
        "delete_deployment_schedule of an unknown schedule",
        "delete_deployment_schedule",
        args(DEPLOYMENT_ID, SCHEDULE_ID),
        ObjectNotFound,
        "Schedule not found.",
    ),
    "pause an unknown deployment": (
        "pause_deployment of an unknown deployment",
        "pause_deployment",
        args(UUID(int=7)),
        ObjectNotFound,
        "Deployment not found.",
    ),
    "branch on an open-source server": (
        "create_deployment_branch",
        "create_deployment_branch",
        args(
            DEPLOYMENT_ID,
            "feature",
            options=DeploymentBranchingOptions(schedule_handling=BranchingScheduleHandling.KEEP),
            overrides=DeploymentUpdate(description="branched"),
        ),
        ObjectNotFound,
        "Not Found",
    ),
    "branch without options on an open-source server": (
        "create_deployment_branch without options",
        "create_deployment_branch",
        args(DEPLOYMENT_ID, "plain"),
        ObjectNotFound,
        "Not Found",
    ),
    "SLAs on an open-source server": (
        "apply_slas_for_deployment",
        "apply_slas_for_deployment",
        args(DEPLOYMENT_ID, SLAS),
        ObjectNotFound,
        "Not Found",
    ),
}


@pytest.mark.anyio
@pytest.mark.parametrize("name", sorted(ERRORS))
async def test_refusals_raise_as_captured(kind: ClientKind, name: str) -> None:
    """What the server refused, we send the same way and raise the right error for."""
    label, method, make_args, error, detail = ERRORS[name]
    server = captured_server([only(label)])
    positional, keywords = make_args()
    async with make_client(kind, server) as client:
        with pytest.raises(error) as info:
            await call(client, method, *positional, **keywords)
    assert info.value.response.status_code == EXCHANGES[only(label)]["status_code"]
    assert detail in info.value.response.text
    assert_sent_as_captured(server)


def test_every_captured_call_is_exercised() -> None:
    """Reads made only to show an effect ("... after ...") serve the server tests."""
    used = {k for case in CASES.values() for k in case.keys}
    used |= {only(label) for label, *_ in ERRORS.values()}
    effects = {k for k, v in EXCHANGES.items() if " after " in v["client_method"]}
    assert set(EXCHANGES) - used - effects == set()


def test_slas_are_sent_for_the_deployment_without_changing_the_callers_objects() -> None:
    from prefect_trio_client.orchestration.deployments import apply_slas_for_deployment

    plan = apply_slas_for_deployment(DEPLOYMENT_ID, SLAS)
    request = next(plan)
    plan.close()
    assert isinstance(request, Request)
    assert request.json == request_body("apply_slas_for_deployment")
    assert all("owner_resource" not in sla.model_dump() for sla in SLAS)


@pytest.mark.anyio
async def test_apply_slas_reads_the_names_a_cloud_server_returns(kind: ClientKind) -> None:
    """Prefect Cloud answers with the SLAs themselves; the result keeps their names."""

    def cloud(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json={
                "created": [{"name": "fast", "id": str(UUID(int=1))}],
                "updated": [{"name": "on-time"}],
                "deleted": [{"name": "old"}],
            },
        )

    async with make_client(kind, cloud) as client:
        merged = await call(client, "apply_slas_for_deployment", DEPLOYMENT_ID, SLAS)
    assert (merged.created, merged.updated, merged.deleted) == (["fast"], ["on-time"], ["old"])


@pytest.mark.anyio
async def test_a_cloud_branch_returns_the_new_id(kind: ClientKind) -> None:
    new_id = UUID(int=42)

    async with make_client(kind, lambda r: httpx.Response(201, json={"id": str(new_id)})) as client:
        assert await call(client, "create_deployment_branch", DEPLOYMENT_ID, "b") == new_id


def test_a_deployment_id_that_is_not_a_uuid_is_refused_before_any_request() -> None:
    from prefect_trio_client.orchestration.deployments import pause_deployment, resume_deployment

    for plan in (pause_deployment, resume_deployment):
        with pytest.raises(ValueError, match="Invalid deployment ID: nope"):
            next(plan("nope"))


def test_a_blank_branch_name_is_refused_before_any_request() -> None:
    from prefect_trio_client.orchestration.deployments import create_deployment_branch

    with pytest.raises(ValueError, match="Branch name cannot be empty"):
        next(create_deployment_branch(DEPLOYMENT_ID, "  "))


@pytest.mark.anyio
async def test_an_upsert_whose_create_meets_the_name_taken_updates(kind: ClientKind) -> None:
    """Another writer (or our own send whose answer was lost) made the limit between the
    read and the create: the upsert sets it to what was asked instead of failing."""
    answers = {
        "GET": httpx.Response(404, json={"detail": "Concurrency Limit not found"}),
        "POST": httpx.Response(409, json={"detail": "Data integrity conflict."}),
        "PATCH": httpx.Response(204),
    }
    sent: list[httpx.Request] = []

    def server(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return answers[request.method]

    async with make_client(kind, server) as client:
        await call(client, "upsert_global_concurrency_limit_by_name", "gcl", 3, 0.5)
    assert [(r.method, r.url.path) for r in sent] == [
        ("GET", "/api/v2/concurrency_limits/gcl"),
        ("POST", "/api/v2/concurrency_limits/"),
        ("PATCH", "/api/v2/concurrency_limits/gcl"),
    ]
    assert json.loads(sent[2].content) == {"limit": 3, "slot_decay_per_second": 0.5}


def test_the_create_of_an_upsert_may_be_resent() -> None:
    from prefect_trio_client.orchestration.concurrency import (
        upsert_global_concurrency_limit_by_name,
    )

    plan = upsert_global_concurrency_limit_by_name("gcl", 3)
    read = next(plan)
    assert isinstance(read, Request)
    assert read.method == "GET"
    request = httpx.Request("GET", "http://server/api/v2/concurrency_limits/gcl")
    missing = httpx.Response(404, json={"detail": "Concurrency Limit not found"}, request=request)
    create = plan.throw(ObjectNotFound("missing", request=request, response=missing))
    plan.close()
    assert isinstance(create, Request)
    assert (create.method, create.safe_to_resend) == ("POST", True)
