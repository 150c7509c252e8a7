"""Which requests may be re-sent after a lost answer: one decision per endpoint.

A request whose answer was lost after it was sent is re-sent only when the server
dedupes it (``Request.safe_to_resend``). Every endpoint of `Endpoints` has its decision
here, and the README's table ("Which requests are re-sent after a lost answer") must say
the same: a new endpoint without an entry, or a table that drifts from the code, fails.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, NamedTuple
from uuid import UUID, uuid4

from prefect_trio_client.orchestration._endpoints import Endpoints
from prefect_trio_client.orchestration._plan import Endpoint, Request
from prefect_trio_client.schemas.actions import (
    ArtifactCreate,
    ArtifactUpdate,
    BlockDocumentCreate,
    BlockDocumentUpdate,
    BlockSchemaCreate,
    BlockTypeCreate,
    BlockTypeUpdate,
    DeploymentUpdate,
    FlowCreate,
    GlobalConcurrencyLimitCreate,
    GlobalConcurrencyLimitUpdate,
    LogCreate,
    VariableCreate,
    VariableUpdate,
    WorkPoolCreate,
    WorkPoolUpdate,
)
from prefect_trio_client.schemas.automations import AutomationCore, DoNothing, EventTrigger
from prefect_trio_client.schemas.objects import (
    CronSchedule,
    State,
    StateType,
    TimeToCompletionSla,
)

README = Path(__file__).parents[2] / "README.md"
HEADING = "### Which requests are re-sent after a lost answer"


class Variant(NamedTuple):
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    safe: bool


def _id() -> UUID:
    return uuid4()


RUNNING = State(type=StateType.RUNNING)
BLOCK_DOCUMENT = BlockDocumentCreate(name="d", block_schema_id=uuid4(), block_type_id=uuid4())
LOG = LogCreate.model_validate(
    {"name": "l", "level": 20, "message": "m", "timestamp": "2030-01-01T00:00:00Z"}
)
AUTOMATION = AutomationCore(name="a", trigger=EventTrigger(), actions=[DoNothing()])

DECISIONS: dict[str, list[Variant]] = {
    # any route
    "request": [
        Variant(("GET", "/flows/{id}"), {"path_params": {"id": _id()}}, True),
        Variant(("POST", "/flows/"), {"json": {"name": "x"}}, False),
    ],
    # admin
    "api_healthcheck": [Variant((), {}, True)],
    "api_version": [Variant((), {}, True)],
    "hello": [Variant((), {}, True)],
    # flows
    "create_flow_from_name": [Variant(("etl",), {}, True)],  # upsert by name
    "delete_flow": [Variant((_id(),), {}, True)],
    "read_flow": [Variant((_id(),), {}, True)],
    "read_flow_by_name": [Variant(("etl",), {}, True)],
    "read_flows": [Variant((), {}, True)],
    # flow runs
    "count_flow_runs": [Variant((), {}, True)],
    "create_flow_run": [  # an idempotency key is always sent
        Variant((_id(),), {}, True),
        Variant((_id(),), {"idempotency_key": "k"}, True),
    ],
    "delete_flow_run": [Variant((_id(),), {}, True)],
    "read_flow_run": [Variant((_id(),), {}, True)],
    "read_flow_run_states": [Variant((_id(),), {}, True)],
    "read_flow_runs": [Variant((), {}, True)],
    "resume_flow_run": [Variant((_id(),), {}, False)],
    "set_flow_run_name": [Variant((_id(), "n"), {}, True)],
    "update_flow_run": [Variant((_id(),), {"name": "n"}, True)],
    "update_flow_run_labels": [Variant((_id(), {"a": 1}), {}, True)],
    # run states: Prefect dedupes transition_id for flow runs only, and not when forced
    "propose_state": [
        Variant((RUNNING,), {"flow_run_id": _id()}, True),
        Variant((RUNNING,), {"flow_run_id": _id(), "force": True}, False),
        Variant((RUNNING,), {"task_run_id": _id()}, False),
    ],
    "set_flow_run_state": [
        Variant((_id(), RUNNING), {}, True),
        Variant((_id(), RUNNING), {"force": True}, False),
    ],
    "set_task_run_state": [Variant((_id(), RUNNING), {}, False)],
    # task runs: atomic dedupe on (flow_run_id, task_key, dynamic_key) only
    "create_task_run": [
        Variant((), {"flow_run_id": _id(), "task_key": "t", "dynamic_key": "0"}, True),
        Variant((), {"flow_run_id": None, "task_key": "t", "dynamic_key": "0"}, False),
    ],
    "delete_task_run": [Variant((_id(),), {}, True)],
    "read_task_run": [Variant((_id(),), {}, True)],
    "read_task_run_states": [Variant((_id(),), {}, True)],
    "read_task_runs": [Variant((), {}, True)],
    # deployments
    "create_deployment": [Variant((_id(), "d"), {}, True)],  # upsert by flow and name
    "create_flow_run_from_deployment": [Variant((_id(),), {}, True)],
    "delete_deployment": [Variant((_id(),), {}, True)],
    "get_scheduled_flow_runs_for_deployments": [Variant(([_id()],), {}, True)],
    "read_deployment": [Variant((_id(),), {}, True)],
    "read_deployment_by_name": [Variant(("f/d",), {}, True)],
    "read_deployments": [Variant((), {}, True)],
    "update_deployment": [Variant((_id(), DeploymentUpdate(description="d")), {}, True)],
    # logs
    "create_logs": [Variant(([LOG],), {}, False)],
    "read_logs": [Variant((), {}, True)],
    # variables
    "create_variable": [Variant((VariableCreate(name="v", value=1),), {}, False)],
    "delete_variable_by_name": [Variant(("v",), {}, True)],
    "read_variable_by_name": [Variant(("v",), {}, True)],
    "read_variables": [Variant((), {}, True)],
    "update_variable": [Variant((VariableUpdate(name="v", value=2),), {}, True)],
    # work pools and queues
    "create_work_pool": [Variant((WorkPoolCreate(name="p"),), {}, False)],
    "create_work_queue": [
        Variant(("q",), {}, False),
        Variant(("q",), {"work_pool_name": "p"}, False),
    ],
    "delete_work_pool": [Variant(("p",), {}, True)],
    "get_scheduled_flow_runs_for_work_pool": [Variant(("p",), {}, True)],
    "read_work_pool": [Variant(("p",), {}, True)],
    "read_work_pools": [Variant((), {}, True)],
    "read_work_queue_by_name": [
        Variant(("q",), {}, True),
        Variant(("q",), {"work_pool_name": "p"}, True),
    ],
    "read_work_queues": [Variant((), {}, True), Variant((), {"work_pool_name": "p"}, True)],
    "send_worker_heartbeat": [Variant(("p", "w"), {}, True)],  # upsert of the worker
    "update_work_pool": [Variant(("p", WorkPoolUpdate(description="d")), {}, True)],
    # global concurrency
    "create_global_concurrency_limit": [
        Variant((GlobalConcurrencyLimitCreate(name="l", limit=1),), {}, False)
    ],
    "delete_global_concurrency_limit_by_name": [Variant(("l",), {}, True)],
    "increment_concurrency_slots_with_lease": [Variant((["l"], 1), {}, False)],
    "read_global_concurrency_limit_by_name": [Variant(("l",), {}, True)],
    "release_concurrency_slots_with_lease": [Variant((_id(),), {}, True)],
    "renew_concurrency_lease": [Variant((_id(), 60.0), {}, True)],
    # issue 11: queues-misc
    "read_work_queue": [Variant((_id(),), {}, True)],
    "read_work_queue_status": [Variant((_id(),), {}, True)],
    "read_work_queue_concurrency_status": [Variant((_id(),), {}, True)],
    "read_work_pool_concurrency_status": [Variant(("p",), {}, True)],
    "update_work_queue": [Variant((_id(),), {"priority": 2}, True)],
    "delete_work_queue_by_id": [Variant((_id(),), {}, True)],
    "get_runs_in_work_queue": [Variant((_id(),), {}, True)],
    "match_work_queues": [Variant((["q"],), {}, True)],
    "read_workers_for_work_pool": [Variant(("p",), {}, True)],
    "read_worker_metadata": [Variant((), {}, True)],
    "create_flow": [Variant((FlowCreate(name="etl"),), {}, True)],
    "read_flow_run_state": [Variant((_id(),), {}, True)],
    "set_task_run_name": [Variant((_id(), "n"), {}, True)],
    "create_flow_run_input": [Variant((_id(), "k", "1"), {}, False)],
    "read_flow_run_input": [Variant((_id(), "k"), {}, True)],
    "filter_flow_run_input": [Variant((_id(), "k", 1, set()), {}, True)],
    "delete_flow_run_input": [Variant((_id(), "k"), {}, True)],
    "read_latest_artifacts": [Variant((), {}, True)],
    "update_artifact": [Variant((_id(), ArtifactUpdate(description="d")), {}, True)],
    "delete_artifact": [Variant((_id(),), {}, True)],
    "read_server_default_result_storage": [Variant((), {}, True)],
    "update_server_default_result_storage": [Variant((_id(),), {}, True)],
    "clear_server_default_result_storage": [Variant((), {}, True)],
    # artifacts
    "create_artifact": [Variant((ArtifactCreate(key="a"),), {}, False)],
    "read_artifacts": [Variant((), {}, True)],
    # blocks
    "create_block_document": [Variant((BLOCK_DOCUMENT,), {}, False)],
    "create_block_schema": [Variant((BlockSchemaCreate(block_type_id=_id()),), {}, True)],
    "create_block_type": [Variant((BlockTypeCreate(name="b", slug="b"),), {}, False)],
    "delete_block_document": [Variant((_id(),), {}, True)],
    "delete_block_type": [Variant((_id(),), {}, True)],
    "get_most_recent_block_schema_for_block_type": [Variant((_id(),), {}, True)],
    "read_block_document": [Variant((_id(),), {}, True)],
    "read_block_document_by_name": [Variant(("d", "b"), {}, True)],
    "read_block_documents": [Variant((), {}, True)],
    "read_block_documents_by_type": [Variant(("b",), {}, True)],
    "read_block_schema_by_checksum": [Variant(("sha256:0",), {}, True)],
    "read_block_schemas": [Variant((), {}, True)],
    "read_block_type_by_slug": [Variant(("b",), {}, True)],
    "read_block_types": [Variant((), {}, True)],
    "update_block_document": [Variant((_id(), BlockDocumentUpdate(data={"a": 1})), {}, True)],
    "update_block_type": [Variant((_id(), BlockTypeUpdate(description="d")), {}, True)],
    # automations
    "create_automation": [Variant((AUTOMATION,), {}, False)],
    "delete_automation": [Variant((_id(),), {}, True)],
    "delete_resource_owned_automations": [Variant(("prefect.deployment.d",), {}, True)],
    "find_automation": [Variant((_id(),), {}, True), Variant(("a",), {}, True)],
    "pause_automation": [Variant((_id(),), {}, True)],
    "read_automation": [Variant((_id(),), {}, True)],
    "read_automations": [Variant((), {}, True)],
    "read_automations_by_name": [Variant(("a",), {}, True)],
    "read_resource_related_automations": [Variant(("prefect.deployment.d",), {}, True)],
    "resume_automation": [Variant((_id(),), {}, True)],
    "update_automation": [Variant((_id(), AUTOMATION), {}, True)],
    # issue 11, limits and deployments: tag (v1) limits
    "create_concurrency_limit": [Variant(("t", 1), {}, True)],  # upsert by tag
    "decrement_v1_concurrency_slots": [Variant((["t"], _id(), 1.0), {}, True)],
    "delete_concurrency_limit_by_tag": [Variant(("t",), {}, True)],
    "increment_v1_concurrency_slots": [Variant((["t"], _id()), {}, False)],
    "read_concurrency_limit_by_tag": [Variant(("t",), {}, True)],
    "read_concurrency_limits": [Variant((10, 0), {}, True)],
    "reset_concurrency_limit_by_tag": [Variant(("t",), {"slot_override": [_id()]}, True)],
    # issue 11, limits and deployments: global (v2) limits without a lease
    "increment_concurrency_slots": [Variant((["l"], 1, "concurrency"), {}, False)],
    "read_global_concurrency_limits": [Variant((), {}, True)],
    "release_concurrency_slots": [Variant((["l"], 1, 1.0), {}, False)],
    "update_global_concurrency_limit": [
        Variant(("l", GlobalConcurrencyLimitUpdate(limit=2)), {}, True)
    ],
    "upsert_global_concurrency_limit_by_name": [Variant(("l", 2), {}, True)],
    # issue 11, limits and deployments: deployment schedules, pausing, branches, SLAs
    "apply_slas_for_deployment": [
        Variant((_id(), [TimeToCompletionSla(name="s", duration=60)]), {}, True)
    ],
    "create_deployment_branch": [Variant((_id(), "b"), {}, False)],
    "create_deployment_schedules": [
        Variant((_id(), [(CronSchedule(cron="* * * * *"), True)]), {}, False)
    ],
    "delete_deployment_schedule": [Variant((_id(), _id()), {}, True)],
    "pause_deployment": [Variant((_id(),), {}, True)],
    "read_deployment_schedules": [Variant((_id(),), {}, True)],
    "resume_deployment": [Variant((_id(),), {}, True)],
    "set_deployment_paused_state": [Variant((_id(), True), {}, True)],
    "update_deployment_schedule": [Variant((_id(), _id()), {"active": False}, True)],
    # issue 11: events
    "read_events": [Variant((), {}, True)],
    "read_events_page": [
        Variant(("http://h/api/events/filter/next?page-token=eA%3D%3D",), {}, True)
    ],
}


def endpoint_names() -> list[str]:
    return sorted(name for name, value in vars(Endpoints).items() if isinstance(value, Endpoint))


def first_request(name: str, variant: Variant) -> Request:
    endpoint: Endpoint[Any, Any] = vars(Endpoints)[name]
    plan = endpoint.build(*variant.args, **variant.kwargs)
    try:
        step = next(plan)
    finally:
        plan.close()
    assert isinstance(step, Request)
    return step


def test_every_request_declares_its_decision() -> None:
    """One test over the whole table: a new endpoint without an entry fails it."""
    assert sorted(DECISIONS) == endpoint_names()
    wrong = []
    for name, variants in DECISIONS.items():
        for variant in variants:
            request = first_request(name, variant)
            if request.safe_to_resend is not variant.safe:
                wrong.append((name, request.method, request.path, variant.kwargs))
            if request.method != "POST":
                assert request.idempotent is None, f"{name}: only POSTs need a declaration"
    assert not wrong, f"re-send decisions differ from the table: {wrong}"


def test_a_create_flow_run_resent_carries_the_same_generated_key() -> None:
    """The key is drawn once per call, so both sends of one request carry it."""
    first = first_request("create_flow_run", DECISIONS["create_flow_run"][0])
    again = first_request("create_flow_run", DECISIONS["create_flow_run"][0])
    key = first.json["idempotency_key"]
    assert UUID(key)
    assert again.json["idempotency_key"] != key  # a new call is a new run


def readme_table() -> dict[str, set[bool]]:
    text = README.read_text(encoding="utf-8")
    assert HEADING in text, f"README.md has no section {HEADING!r}"
    section = text.split(HEADING, 1)[1].split("\n#", 1)[0]
    rows: dict[str, set[bool]] = {}
    for line in section.splitlines():
        match = re.match(r"^\| `(\w+)`[^|]*\|[^|]*\| (yes|no) \|", line)
        if match:
            rows.setdefault(match.group(1), set()).add(match.group(2) == "yes")
    return rows


def test_the_readme_table_says_what_the_code_does() -> None:
    table = readme_table()
    assert sorted(DECISIONS) == endpoint_names()
    assert sorted(table) == endpoint_names(), "the README table and Endpoints differ"
    for name, variants in DECISIONS.items():
        assert table[name] == {v.safe for v in variants}, name
