"""Endpoints through a server whose database restarts: it answers 500 for a while (the
PostgreSQL drill of issue 16). A request the server dedupes is sent again; a task run's
state proposal, which Prefect does not dedupe, is read back first and proposed again only
when the run does not carry it; so are logs, read back by run and timestamp."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timezone
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from prefect_trio_client.exceptions import PrefectHTTPStatusError
from prefect_trio_client.orchestration._read_back import MAX_READ_BACKS
from prefect_trio_client.schemas.actions import LogCreate
from prefect_trio_client.schemas.objects import State, StateType, TaskRun
from tests.orchestration.harness import ClientKind, call, make_client

pytestmark = pytest.mark.anyio

TASK_RUN_ID = uuid4()
FLOW_ID = uuid4()


def _error() -> httpx.Response:
    return httpx.Response(500, json={"exception_message": "Internal Server Error"})


def _instant(text: str) -> datetime:
    """A wire timestamp as a datetime (Python 3.10's `fromisoformat` reads no "Z")."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class TaskRunServer:
    """One task run. The first `failures` set_state answers are 500s; `applied_before`
    says whether each failing one stored the state before failing (a commit whose
    answer was lost)."""

    def __init__(self, failures: int, *, applied_before: bool) -> None:
        self.failures = failures
        self.applied_before = applied_before
        self.state = State(type=StateType.PENDING)
        self.calls: Counter[str] = Counter()

    def _store(self, request: httpx.Request) -> State:
        proposed = json.loads(request.content)["state"]
        self.state = State.model_validate(
            {**proposed, "timestamp": "2030-01-01T00:00:00Z", "id": str(uuid4())}
        )
        return self.state

    def __call__(self, request: httpx.Request) -> httpx.Response:
        route = f"{request.method} {request.url.path.removeprefix('/api')}"
        self.calls[route] += 1
        if request.method == "GET":
            run = TaskRun(id=TASK_RUN_ID, name="t", task_key="t", dynamic_key="0", state=self.state)
            return httpx.Response(200, json=run.model_dump(mode="json"))
        if self.calls[route] <= self.failures:
            if self.applied_before:
                self._store(request)
            return _error()
        state = self._store(request)
        body = {"status": "ACCEPT", "details": {"type": "accept_details"}}
        return httpx.Response(201, json={**body, "state": state.model_dump(mode="json")})


RUNNING = State(type=StateType.RUNNING)
COMPLETED = State(type=StateType.COMPLETED)
SET_STATE = f"POST /task_runs/{TASK_RUN_ID}/set_state"
READ = f"GET /task_runs/{TASK_RUN_ID}"


async def test_a_task_state_stored_before_a_500_is_read_back_not_sent_again(
    kind: ClientKind,
) -> None:
    server = TaskRunServer(failures=1, applied_before=True)
    async with make_client(kind, server) as client:
        result = await call(
            client, "set_task_run_state", TASK_RUN_ID, State(type=StateType.RUNNING)
        )
    assert result.status.value == "ACCEPT"
    assert result.state.type is StateType.RUNNING
    assert server.calls == {SET_STATE: 1, READ: 1}


async def test_a_task_state_not_stored_before_a_500_is_proposed_again(kind: ClientKind) -> None:
    server = TaskRunServer(failures=2, applied_before=False)
    async with make_client(kind, server) as client:
        result = await call(
            client, "set_task_run_state", TASK_RUN_ID, State(type=StateType.COMPLETED)
        )
    assert result.status.value == "ACCEPT"
    assert server.state.type is StateType.COMPLETED
    assert server.calls == {SET_STATE: 3, READ: 2}


async def test_a_task_state_answered_500_for_good_fails_with_an_unknown_outcome(
    kind: ClientKind,
) -> None:
    server = TaskRunServer(failures=1000, applied_before=False)
    async with make_client(kind, server) as client:
        with pytest.raises(PrefectHTTPStatusError) as info:
            await call(client, "set_task_run_state", TASK_RUN_ID, RUNNING)
    assert info.value.status_code == 500
    assert info.value.outcome_unknown
    assert server.calls == {SET_STATE: MAX_READ_BACKS + 1, READ: MAX_READ_BACKS}


class Flaky:
    """Answers each route's first `failures` requests with 500, then `answer`."""

    def __init__(self, failures: int, answer: Any) -> None:
        self.failures = failures
        self.answer = answer
        self.calls: Counter[str] = Counter()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        route = f"{request.method} {request.url.path.removeprefix('/api')}"
        self.calls[route] += 1
        if self.calls[route] <= self.failures:
            return _error()
        return httpx.Response(201, json=self.answer)


async def test_a_flow_run_create_answered_500_is_sent_again_with_its_key(
    kind: ClientKind,
) -> None:
    run = {"id": str(uuid4()), "name": "r", "flow_id": str(FLOW_ID)}
    server = Flaky(2, run)
    async with make_client(kind, server) as client:
        created = await call(client, "create_flow_run", FLOW_ID, idempotency_key="k")
    assert created.id == UUID(run["id"])
    assert server.calls == {"POST /flow_runs/": 3}


async def test_logs_without_a_run_answered_500_are_not_sent_again(kind: ClientKind) -> None:
    """Nothing identifies the lines to read them back by: the caller is told."""
    server = Flaky(1, None)
    log = LogCreate(name="l", level=20, message="m", timestamp=datetime.now(timezone.utc))
    async with make_client(kind, server) as client:
        with pytest.raises(PrefectHTTPStatusError) as info:
            await call(client, "create_logs", [log])
    assert info.value.outcome_unknown
    assert server.calls == {"POST /logs/": 1}


class LogServer:
    """Stores log batches. The first `failures` batches are answered 500, after being
    stored when `applied_before` (a commit whose answer was lost)."""

    def __init__(self, failures: int, *, applied_before: bool) -> None:
        self.failures = failures
        self.applied_before = applied_before
        self.stored: list[dict[str, Any]] = []
        self.calls: Counter[str] = Counter()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        route = f"{request.method} {request.url.path.removeprefix('/api')}"
        self.calls[route] += 1
        body = json.loads(request.content)
        if route == "POST /logs/filter":
            wanted = body["logs"]
            runs = wanted["flow_run_id"]["any_"]
            at = wanted["timestamp"]["after_"]
            assert at == wanted["timestamp"]["before_"]
            found = [
                {**log, "id": str(uuid4())}
                for log in self.stored
                if log["flow_run_id"] in runs and _instant(log["timestamp"]) == _instant(at)
            ]
            return httpx.Response(200, json=found)
        if self.calls[route] <= self.failures:
            if self.applied_before:
                self.stored.extend(body)
            return _error()
        self.stored.extend(body)
        return httpx.Response(201, content=b"null", headers={"content-type": "application/json"})


def _lines(count: int) -> list[LogCreate]:
    at = datetime(2030, 1, 1, 0, 0, 0, 123456, tzinfo=timezone.utc)
    run = uuid4()
    return [
        LogCreate(name="l", level=20, message=f"m{i}", timestamp=at, flow_run_id=run)
        for i in range(count)
    ]


async def test_logs_stored_before_a_500_are_read_back_not_sent_again(kind: ClientKind) -> None:
    server = LogServer(failures=1, applied_before=True)
    async with make_client(kind, server) as client:
        await call(client, "create_logs", _lines(3))
    assert [log["message"] for log in server.stored] == ["m0", "m1", "m2"]
    assert server.calls == {"POST /logs/": 1, "POST /logs/filter": 1}


async def test_logs_not_stored_before_a_500_are_sent_again(kind: ClientKind) -> None:
    server = LogServer(failures=2, applied_before=False)
    async with make_client(kind, server) as client:
        await call(client, "create_logs", _lines(3))
    assert [log["message"] for log in server.stored] == ["m0", "m1", "m2"]
    assert server.calls == {"POST /logs/": 3, "POST /logs/filter": 2}
