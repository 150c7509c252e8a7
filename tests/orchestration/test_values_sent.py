"""Values that used to change silently on their way to the server are refused instead.

- A naive ``datetime`` was stored as if it were UTC, so ``datetime.now() + delta`` shifted
  by the local UTC offset (here: New York). Now every model field and plan argument that
  sends a datetime refuses a naive one, naming the field; an aware local time is sent as
  the same instant.
- NaN and infinity in parameters (or any value) reached the server as ``null``. Now the
  write model refuses them, naming where they are, before any request.
"""

from __future__ import annotations

import inspect
import math
import os
import time
import typing
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, cast
from uuid import uuid4

import httpx
import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from prefect_trio_client import states
from prefect_trio_client.schemas import actions, filters, objects, responses
from prefect_trio_client.schemas.actions import (
    ArtifactCreate,
    DeploymentCreate,
    DeploymentFlowRunCreate,
    DeploymentUpdate,
    FlowRunCreate,
    FlowRunUpdate,
    StateCreate,
    VariableCreate,
    VariableUpdate,
)
from prefect_trio_client.schemas.objects import StateDetails, StateType
from tests.orchestration.harness import ClientKind, call, make_client

FLOW_ID = uuid4()
NEW_YORK = "EST+05EDT,M3.2.0,M11.1.0"  # a POSIX rule: no tz database needed


@pytest.fixture
def new_york() -> Iterator[None]:
    """The process's local time zone is New York's (UTC-5/-4) for the test."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = NEW_YORK
    time.tzset()
    try:
        assert datetime.now().astimezone().utcoffset() in (timedelta(hours=-5), timedelta(hours=-4))
        yield
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()


def _holds_datetime(annotation: Any) -> bool:
    if annotation is datetime:
        return True
    return any(_holds_datetime(arg) for arg in typing.get_args(annotation))


def datetime_fields() -> list[tuple[type[BaseModel], str]]:
    """Every model field of the schemas that holds a datetime."""
    found = []
    for module in (actions, filters, objects, responses):
        for name in module.__all__:
            model = getattr(module, name)
            if not (inspect.isclass(model) and issubclass(model, BaseModel)):
                continue
            if model.__module__ != module.__name__:
                continue
            for field, info in model.model_fields.items():
                if _holds_datetime(info.annotation):
                    found.append((model, field))
    assert len(found) > 20
    return found


@pytest.mark.parametrize(
    ("model", "field"), datetime_fields(), ids=lambda v: getattr(v, "__name__", v)
)
def test_every_datetime_field_refuses_a_naive_datetime(
    new_york: None, model: type[BaseModel], field: str
) -> None:
    naive = datetime.now() + timedelta(hours=1)
    instance = model.model_construct()
    with pytest.raises(ValidationError, match=f"(?s){field}.*naive datetime has no timezone"):
        model.__pydantic_validator__.validate_assignment(instance, field, naive)
    info = model.model_fields[field]
    kind: Any = info.annotation
    if info.metadata:
        arguments = (info.annotation, *info.metadata)
        kind = cast(Any, Annotated)[arguments]
    adapter: TypeAdapter[Any] = TypeAdapter(kind)
    aware = naive.astimezone()  # the same wall time, with the local offset
    stored = adapter.validate_python(aware)
    assert stored.tzinfo == timezone.utc
    assert stored == aware  # the same instant: 5 or 4 hours later in UTC
    assert stored.hour != naive.hour


def test_a_scheduled_state_in_local_time(new_york: None) -> None:
    """The issue's example: ``Scheduled(scheduled_time=datetime.now() + ...)``."""
    with pytest.raises(ValidationError, match=r"scheduled_time\n.*naive datetime"):
        states.Scheduled(scheduled_time=datetime.now() + timedelta(minutes=10))
    when = datetime.now().astimezone() + timedelta(minutes=10)
    proposal = states.Scheduled(scheduled_time=when).to_state_create()
    sent = proposal.model_dump(mode="json")["state_details"]["scheduled_time"]
    assert datetime.fromisoformat(sent.replace("Z", "+00:00")).timestamp() == when.timestamp()
    details = StateDetails()
    with pytest.raises(ValidationError, match="naive"):
        details.pause_timeout = datetime.now()


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("method", "args"),
    [
        ("get_scheduled_flow_runs_for_deployments", ([uuid4()],)),
        ("get_scheduled_flow_runs_for_work_pool", ("pool",)),
    ],
)
async def test_a_naive_time_argument_is_refused_before_any_request(
    new_york: None, kind: ClientKind, method: str, args: tuple[Any, ...]
) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[])

    async with make_client(kind, handler) as client:
        with pytest.raises(ValueError, match="scheduled_before: a naive datetime"):
            await call(client, method, *args, scheduled_before=datetime.now())
        assert seen == []
        await call(client, method, *args, scheduled_before=datetime.now().astimezone())
    sent = seen[0].read().decode()
    utc_now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H")
    assert utc_now in sent  # the instant in UTC, not the local wall time


NOT_NUMBERS = [math.nan, math.inf, -math.inf]


@pytest.mark.parametrize("bad", NOT_NUMBERS, ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize(
    ("build", "where"),
    [
        (lambda x: FlowRunCreate(flow_id=FLOW_ID, parameters={"x": x}), "parameters['x']"),
        (lambda x: FlowRunUpdate(parameters={"a": {"b": [1, x]}}), "parameters['a']['b'][1]"),
        (lambda x: DeploymentCreate(flow_id=FLOW_ID, name="d", parameters={"x": x}), "parameters"),
        (lambda x: DeploymentUpdate(job_variables={"cpu": x}), "job_variables['cpu']"),
        (lambda x: DeploymentFlowRunCreate(parameters={"x": x}), "parameters['x']"),
        (lambda x: VariableCreate(name="v", value=[x]), "value[0]"),
        (lambda x: VariableUpdate(name="v", value={"k": x}), "value['k']"),
        (lambda x: ArtifactCreate(data={"score": x}), "data['score']"),
        (lambda x: StateCreate(type=StateType.COMPLETED, data=x), "data"),
        (lambda x: FlowRunCreate(flow_id=FLOW_ID, labels={"weight": x}), "labels['weight']"),
    ],
)
def test_nan_and_infinity_are_refused_naming_where(build: Any, where: str, bad: float) -> None:
    with pytest.raises(ValidationError) as caught:
        build(bad)
    message = str(caught.value)
    assert f"{where}" in message
    assert "NaN and infinity are not JSON numbers" in message


@pytest.mark.anyio
async def test_a_nan_parameter_never_reaches_the_server(kind: ClientKind) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:  # pragma: no cover - unreached
        seen.append(request)
        return httpx.Response(500)

    async with make_client(kind, handler) as client:
        with pytest.raises(ValidationError, match=r"parameters\['ratio'\]: NaN"):
            await call(client, "create_flow_run", FLOW_ID, parameters={"ratio": math.nan})
        with pytest.raises(ValidationError, match=r"parameters\['x'\]: NaN"):
            await call(client, "create_deployment", FLOW_ID, "d", parameters={"x": math.inf})
    assert seen == []
