"""The queues-misc methods (issue 11) against Prefect 3.9.1's captured exchanges
(``tests/data/captures/queues_misc.json``, made by ``tests/captures/capture_queues_misc.py``),
on `PrefectClient` (asyncio and trio) and `SyncPrefectClient`.

Each case calls one method with the inputs that produced the captured request; a mock
transport answers with the captured response; the request must have the captured method,
path and body (see `assert_agrees`) and the answer must parse into the documented result.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest

from prefect_trio_client.exceptions import ServerVersionError
from prefect_trio_client.schemas.actions import ArtifactUpdate
from prefect_trio_client.schemas.filters import (
    ArtifactCollectionFilter,
    ArtifactCollectionFilterKey,
    WorkerFilter,
    WorkerFilterStatus,
)
from prefect_trio_client.schemas.objects import (
    ArtifactCollection,
    FlowRun,
    FlowRunInput,
    ServerDefaultResultStorage,
    State,
    StateType,
    Worker,
    WorkQueue,
    WorkQueueStatusDetail,
)
from prefect_trio_client.schemas.responses import (
    WorkPoolConcurrencyStatus,
    WorkQueueConcurrencyStatus,
)
from prefect_trio_client.schemas.sorting import ArtifactCollectionSort
from tests.orchestration.harness import ClientKind, call, make_client
from tests.orchestration.test_methods import assert_agrees

CAPTURES: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "data" / "captures" / "queues_misc.json").read_text()
)


def sample(method: str) -> dict[str, Any]:
    """The one exchange Prefect's `method` made."""
    (found,) = [s for s in CAPTURES.values() if s["client_method"] == method]
    return dict(found)


def segment(method: str, index: int) -> str:
    return httpx.URL(sample(method)["url"]).path.rstrip("/").split("/")[index]


def id_at(method: str, index: int) -> UUID:
    return UUID(segment(method, index))


def answer(exchange: dict[str, Any]) -> httpx.Response:
    body = exchange["response_body"]
    if body is None:
        return httpx.Response(exchange["status_code"])
    if isinstance(body, dict) and exchange["method"] == "GET" and "/input/" in exchange["url"]:
        return httpx.Response(exchange["status_code"], text=json.dumps(body))  # text/plain
    return httpx.Response(exchange["status_code"], json=body)


class Server:
    """Answers the n-th request with the n-th exchange's response."""

    def __init__(self, exchanges: list[dict[str, Any]]) -> None:
        self.exchanges = exchanges
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        index = len(self.requests)
        assert index < len(self.exchanges), f"unexpected request {request.method} {request.url}"
        self.requests.append(request)
        return answer(self.exchanges[index])


def assert_sent(request: httpx.Request, exchange: dict[str, Any]) -> None:
    captured = httpx.URL(exchange["url"])
    assert request.method == exchange["method"]
    assert request.url.path == captured.path
    assert dict(request.url.params) == dict(captured.params)
    if exchange["request_body"] is None:
        assert request.content == b""
    else:
        assert_agrees(json.loads(request.content), exchange["request_body"])


Args = tuple[tuple[Any, ...], dict[str, Any]]


@dataclass
class Case:
    args: Callable[[], Args]
    check: Callable[[Any], bool]


class Named:
    """Not a Prefect flow: `create_flow` needs only a name."""

    name = "qm-flow"


def body_of(method: str) -> Any:
    return sample(method)["request_body"]


CASES: dict[str, Case] = {
    "read_work_queue": Case(
        lambda: ((id_at("read_work_queue", -1),), {}),
        lambda r: isinstance(r, WorkQueue) and r.active_slots == 1,
    ),
    "read_work_queue_status": Case(
        lambda: ((id_at("read_work_queue_status", -2),), {}),
        lambda r: isinstance(r, WorkQueueStatusDetail) and r.healthy is False,
    ),
    "read_work_queue_concurrency_status": Case(
        lambda: ((id_at("read_work_queue_concurrency_status", -2),), {"page": 1, "limit": 5}),
        lambda r: (
            isinstance(r, WorkQueueConcurrencyStatus)
            and r.flow_runs[0].state_type is StateType.RUNNING
        ),
    ),
    "read_work_pool_concurrency_status": Case(
        lambda: (
            (segment("read_work_pool_concurrency_status", -2),),
            {"page": 1, "limit": 5, "flow_run_limit": 2},
        ),
        lambda r: isinstance(r, WorkPoolConcurrencyStatus) and len(r.queues) == 2,
    ),
    "update_work_queue": Case(
        lambda: ((id_at("update_work_queue", -1),), {"description": "updated", "priority": 7}),
        lambda r: r is None,
    ),
    "delete_work_queue_by_id": Case(
        lambda: ((id_at("delete_work_queue_by_id", -1),), {}), lambda r: r is None
    ),
    "get_runs_in_work_queue": Case(
        lambda: (
            (id_at("get_runs_in_work_queue", -2),),
            {
                "limit": 5,
                "scheduled_before": datetime.fromisoformat(
                    body_of("get_runs_in_work_queue")["scheduled_before"]
                ),
            },
        ),
        lambda r: isinstance(r, list) and isinstance(r[0], FlowRun),
    ),
    "read_workers_for_work_pool": Case(
        lambda: (
            (segment("read_workers_for_work_pool", -3),),
            {
                "worker_filter": WorkerFilter(status=WorkerFilterStatus(any_=["ONLINE"])),
                "offset": 0,
                "limit": 5,
            },
        ),
        lambda r: isinstance(r[0], Worker) and r[0].name == "qm-worker",
    ),
    "read_worker_metadata": Case(
        lambda: ((), {}), lambda r: isinstance(r, dict) and "process" in r["prefect"]
    ),
    "create_flow": Case(
        lambda: ((Named(),), {}),
        lambda r: r == UUID(sample("create_flow")["response_body"]["id"]),
    ),
    "read_flow_run_state": Case(
        lambda: ((id_at("read_flow_run_state", -1),), {}),
        lambda r: isinstance(r, State) and r.type is StateType.PENDING,
    ),
    "set_task_run_name": Case(
        lambda: ((id_at("set_task_run_name", -1), "qm-renamed"), {}),
        lambda r: r.status_code == 204,
    ),
    "create_flow_run_input": Case(
        lambda: ((id_at("create_flow_run_input", -2), "qm-key", '{"a": 1}', "qm-sender"), {}),
        lambda r: r is None,
    ),
    "read_flow_run_input": Case(
        lambda: ((id_at("read_flow_run_input", -3), "qm-key"), {}),
        lambda r: json.loads(r) == {"a": 1},
    ),
    "filter_flow_run_input": Case(
        lambda: ((id_at("filter_flow_run_input", -3), "qm", 5, {"qm-other"}), {}),
        lambda r: isinstance(r[0], FlowRunInput) and r[0].sender == "qm-sender",
    ),
    "delete_flow_run_input": Case(
        lambda: ((id_at("delete_flow_run_input", -3), "qm-key"), {}), lambda r: r is None
    ),
    "read_latest_artifacts": Case(
        lambda: (
            (),
            {
                "artifact_filter": ArtifactCollectionFilter(
                    key=ArtifactCollectionFilterKey(
                        any_=body_of("read_latest_artifacts")["artifacts"]["key"]["any_"]
                    )
                ),
                "sort": ArtifactCollectionSort.KEY_ASC,
                "limit": 5,
            },
        ),
        lambda r: isinstance(r[0], ArtifactCollection) and r[0].data == "# one",
    ),
    "update_artifact": Case(
        lambda: ((id_at("update_artifact", -1), ArtifactUpdate(description="changed")), {}),
        lambda r: r is None,
    ),
    "delete_artifact": Case(lambda: ((id_at("delete_artifact", -1),), {}), lambda r: r is None),
    "read_server_default_result_storage": Case(
        lambda: ((), {}),
        lambda r: r == ServerDefaultResultStorage(default_result_storage_block_id=None),
    ),
    "update_server_default_result_storage": Case(
        lambda: (
            (
                UUID(
                    body_of("update_server_default_result_storage")[
                        "default_result_storage_block_id"
                    ]
                ),
            ),
            {},
        ),
        lambda r: (
            isinstance(r, ServerDefaultResultStorage)
            and r.default_result_storage_block_id is not None
        ),
    ),
    "clear_server_default_result_storage": Case(lambda: ((), {}), lambda r: r is None),
    "raise_for_api_version_mismatch": Case(lambda: ((), {}), lambda r: r is None),
}


@pytest.mark.anyio
@pytest.mark.parametrize("method", sorted(CASES))
async def test_method_sends_and_reads_what_prefect_does(kind: ClientKind, method: str) -> None:
    case = CASES[method]
    exchange = sample(method)
    server = Server([exchange])
    args, kwargs = case.args()
    async with make_client(kind, server) as client:
        result = await call(client, method, *args, **kwargs)
    assert case.check(result), f"{method} returned {result!r}"
    (request,) = server.requests
    assert_sent(request, exchange)


@pytest.mark.anyio
async def test_match_work_queues_reads_pages_until_an_empty_one(kind: ClientKind) -> None:
    last = sample("match_work_queues")  # Prefect's final request: the empty second page
    first = {
        **last,
        "request_body": {**last["request_body"], "offset": 0},
        "response_body": [sample("read_work_queue")["response_body"]],
    }
    server = Server([first, last])
    pool = segment("match_work_queues", -3)
    async with make_client(kind, server) as client:
        queues = await call(client, "match_work_queues", ["qm-"], work_pool_name=pool)
    assert [q.name for q in queues] == ["qm-queue"]
    for request, exchange in zip(server.requests, [first, last], strict=True):
        assert_sent(request, exchange)


def test_every_captured_method_has_a_case() -> None:
    captured = {s["client_method"] for s in CAPTURES.values()}
    assert captured - set(CASES) == {"match_work_queues"}


@pytest.mark.anyio
async def test_version_mismatch_is_refused(kind: ClientKind) -> None:
    server = Server([{**sample("raise_for_api_version_mismatch"), "response_body": "2.20.0"}])
    async with make_client(kind, server) as client:
        with pytest.raises(ServerVersionError, match=r"Prefect 2\.20\.0"):
            await call(client, "raise_for_api_version_mismatch")


@pytest.mark.anyio
async def test_version_is_checked_once_per_connection(kind: ClientKind) -> None:
    version = sample("raise_for_api_version_mismatch")
    server = Server([version])
    async with make_client(kind, server) as client:
        await call(client, "raise_for_api_version_mismatch_once")
        await call(client, "raise_for_api_version_mismatch_once")
    assert len(server.requests) == 1


@pytest.mark.anyio
async def test_entry_check_counts_as_the_once_check(kind: ClientKind) -> None:
    version = sample("raise_for_api_version_mismatch")
    server = Server([version])
    async with make_client(kind, server, check_server_version=True) as client:
        await call(client, "raise_for_api_version_mismatch_once")
        assert client.client_version()
    assert len(server.requests) == 1


def test_bad_input_key_is_refused_before_any_request() -> None:
    from prefect_trio_client.orchestration.flow_runs import create_flow_run_input

    with pytest.raises(ValueError, match="lowercase letters, digits and dashes"):
        next(create_flow_run_input(UUID(int=1), "Bad Key", "1"))


def test_an_empty_queue_update_is_refused() -> None:
    from prefect_trio_client.orchestration.work_pools import update_work_queue

    with pytest.raises(ValueError, match="at least one field"):
        next(update_work_queue(UUID(int=1)))
