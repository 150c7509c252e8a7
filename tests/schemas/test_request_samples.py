"""Prefect's own request bodies, rebuilt through our action and filter models.

Each captured request body (or the part of it a model describes) is validated into the
model and dumped with plain ``model_dump(mode="json")``; the result must be the captured
body, byte for byte as JSON. That proves both the field set and the null/omission policy:
Prefect sends some ``null``s and leaves other unset fields out, and a model built from the
body keeps exactly that split (see ``objects.SparseBaseModel``).
"""

from __future__ import annotations

import json
from enum import Enum
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from prefect_trio_client.schemas.actions import (
    ArtifactCreate,
    DeploymentCreate,
    DeploymentFlowRunCreate,
    DeploymentUpdate,
    FlowCreate,
    FlowRunCreate,
    FlowRunUpdate,
    GlobalConcurrencyLimitCreate,
    LogCreate,
    StateCreate,
    TaskRunCreate,
    VariableCreate,
    VariableUpdate,
    WorkPoolCreate,
    WorkPoolUpdate,
    WorkQueueCreate,
)
from prefect_trio_client.schemas.filters import (
    ArtifactFilter,
    DeploymentFilter,
    FlowFilter,
    FlowRunFilter,
    LogFilter,
    TaskRunFilter,
    WorkPoolFilter,
)
from prefect_trio_client.schemas.objects import ConcurrencyLeaseHolder, KeyValueLabels
from prefect_trio_client.schemas.sorting import (
    ArtifactSort,
    DeploymentSort,
    FlowRunSort,
    FlowSort,
    LogSort,
    TaskRunSort,
)
from tests.schemas.samples import all_keys, sample

E = "endpoints"
X = "extra_examples"

Schema = type[BaseModel] | type[Enum] | TypeAdapter[Any]

# (section, key) -> {field of the body (or "" for the whole body): what describes it}
REQUESTS: dict[tuple[str, str], dict[str, Schema]] = {
    (E, "PATCH /deployments/{id}"): {"": DeploymentUpdate},
    (E, "PATCH /flow_runs/{id}"): {"": FlowRunUpdate},
    (E, "PATCH /flow_runs/{id}/labels"): {"": TypeAdapter(KeyValueLabels)},
    (E, "PATCH /variables/name/{name}"): {"": VariableUpdate},
    (E, "PATCH /work_pools/{name}"): {"": WorkPoolUpdate},
    (E, "POST /artifacts/"): {"": ArtifactCreate},
    (E, "POST /artifacts/filter"): {"artifacts": ArtifactFilter, "sort": ArtifactSort},
    (E, "POST /deployments/"): {"": DeploymentCreate},
    (E, "POST /deployments/filter"): {"deployments": DeploymentFilter, "sort": DeploymentSort},
    (E, "POST /deployments/{id}/create_flow_run"): {"": DeploymentFlowRunCreate},
    (E, "POST /flow_runs/"): {"": FlowRunCreate},
    (E, "POST /flow_runs/count"): {"flows": FlowFilter, "flow_runs": FlowRunFilter},
    (E, "POST /flow_runs/filter"): {"flows": FlowFilter, "flow_runs": FlowRunFilter},
    (E, "POST /flow_runs/{id}/set_state"): {"state": StateCreate},
    (E, "POST /flows/"): {"": FlowCreate},
    (E, "POST /flows/filter"): {"flows": FlowFilter, "sort": FlowSort},
    (E, "POST /logs/"): {"": TypeAdapter(list[LogCreate])},
    (E, "POST /logs/filter"): {"logs": LogFilter, "sort": LogSort},
    (E, "POST /task_runs/"): {"": TaskRunCreate},
    (E, "POST /task_runs/filter"): {"task_runs": TaskRunFilter, "sort": TaskRunSort},
    (E, "POST /task_runs/{id}/set_state"): {"state": StateCreate},
    (E, "POST /v2/concurrency_limits/"): {"": GlobalConcurrencyLimitCreate},
    (E, "POST /v2/concurrency_limits/increment-with-lease"): {"holder": ConcurrencyLeaseHolder},
    (E, "POST /variables/"): {"": VariableCreate},
    (E, "POST /work_pools/"): {"": WorkPoolCreate},
    (E, "POST /work_pools/filter"): {"work_pools": WorkPoolFilter},
    (E, "POST /work_pools/{work_pool_name}/queues"): {"": WorkQueueCreate},
    (E, "POST /work_queues/"): {"": WorkQueueCreate},
    (X, "POST /flow_runs/{id}/set_state -> ABORT (RUNNING -> PENDING)"): {"state": StateCreate},
    (X, "POST /flow_runs/ -> 200 idempotent replay"): {"": FlowRunCreate},
    (X, "POST /flows/ (CSRF enabled: note Prefect-Csrf-* request headers)"): {"": FlowCreate},
    (X, "POST /flow_runs/{id}/set_state (CSRF enabled: note Prefect-Csrf-* request headers)"): {
        "state": StateCreate
    },
    (X, "POST /flows/ without CSRF headers (CSRF enabled) -> 403"): {"": FlowCreate},
    (X, "POST /flows/ (client.create_flow_run)"): {"": FlowCreate},
    (X, "POST /flow_runs/ (client.create_flow_run)"): {"": FlowRunCreate},
    (
        X,
        "PATCH /flow_runs/{id} -> 400 (update_flow_run with job_variables on a PENDING run; "
        "only SCHEDULED runs accept job_variables updates)",
    ): {"": FlowRunUpdate},
    (X, "PATCH /flow_runs/{id} (client.set_flow_run_name)"): {"": FlowRunUpdate},
    (X, "POST /flow_runs/filter (client.read_flow_runs)"): {
        "flow_runs": FlowRunFilter,
        "sort": FlowRunSort,
    },
    (X, "POST /flow_runs/count (client.count_flow_runs)"): {"flow_runs": FlowRunFilter},
    (X, "POST /flow_runs/{id}/set_state (RUNNING -> PAUSED, no reschedule)"): {
        "state": StateCreate
    },
    (X, "POST /deployments/ (client.create_deployment)"): {"": DeploymentCreate},
    (
        X,
        "POST /deployments/{id}/create_flow_run -> 200 idempotent replay "
        "(same idempotency_key, different parameters)",
    ): {"": DeploymentFlowRunCreate},
    (X, "POST /variables/ -> 409 (create_variable with a duplicate name)"): {"": VariableCreate},
}

# Bodies that are plain parameters of one endpoint (built by the orchestration layer, not
# a schema), or that Prefect rejects on purpose (tested below).
NOT_SCHEMAS = {
    (E, "POST /deployments/get_scheduled_flow_runs"),
    (E, "POST /flow_runs/{id}/resume"),
    (E, "POST /v2/concurrency_limits/decrement-with-lease"),
    (E, "POST /v2/concurrency_limits/leases/{lease_id}/renew"),
    (E, "POST /variables/filter"),
    (E, "POST /work_pools/{name}/get_scheduled_flow_runs"),
    (E, "POST /work_pools/{work_pool_name}/queues/filter"),
    (E, "POST /work_pools/{work_pool_name}/workers/heartbeat"),
    (E, "POST /work_queues/filter"),
    (X, "POST /flow_runs/ -> 422 (missing flow_id)"),
    (X, "POST /flow_runs/{id}/resume -> ABORT (run is COMPLETED, not paused)"),
    (X, "POST /flows/ -> 422 (malformed JSON body, sent through the client's httpx)"),
    (X, "POST /variables/ -> 422 (well-formed JSON, invalid field values)"),
}


def test_every_request_body_is_mapped() -> None:
    with_body = {k for k in all_keys() if sample(*k)["request_body"] is not None}
    assert with_body - set(REQUESTS) - NOT_SCHEMAS == set()
    assert set(REQUESTS) | NOT_SCHEMAS <= with_body


def _dump(schema: Schema, value: Any) -> Any:
    if isinstance(schema, TypeAdapter):
        return schema.dump_python(schema.validate_python(value), mode="json")
    if isinstance(schema, type) and issubclass(schema, Enum):
        member = schema(value)
        assert member.value == value
        return member.value
    return schema.model_validate(value).model_dump(mode="json")


CASES = [(section, key, field) for (section, key), parts in REQUESTS.items() for field in parts]


@pytest.mark.parametrize(("section", "key", "field"), CASES, ids=str)
def test_request_body_is_reproduced(section: str, key: str, field: str) -> None:
    body = sample(section, key)["request_body"]
    captured = body if field == "" else body[field]
    assert captured is not None
    rebuilt = _dump(REQUESTS[section, key][field], captured)
    assert rebuilt == captured
    # Same text as well, key order included, once both are JSON.
    assert json.dumps(rebuilt) == json.dumps(captured)


def test_filters_the_client_left_null_are_null_in_the_capture() -> None:
    """The outer bodies send ``null`` for filters not given; only given ones are models."""
    body = sample(E, "POST /flow_runs/filter")["request_body"]
    assert {k for k, v in body.items() if v is None} == {
        "task_runs",
        "deployments",
        "work_pools",
        "work_pool_queues",
        "sort",
    }


def test_missing_flow_id_fails_here_as_it_fails_on_the_server() -> None:
    exchange = sample(X, "POST /flow_runs/ -> 422 (missing flow_id)")
    with pytest.raises(ValidationError) as info:
        FlowRunCreate.model_validate(exchange["request_body"])
    ours = {(e["type"], e["loc"]) for e in info.value.errors()}
    theirs = {
        (e["type"], tuple(e["loc"][1:])) for e in exchange["response_body"]["exception_detail"]
    }
    assert ours == theirs == {("missing", ("flow_id",))}


def test_invalid_variable_fails_here_as_it_fails_on_the_server() -> None:
    exchange = sample(X, "POST /variables/ -> 422 (well-formed JSON, invalid field values)")
    with pytest.raises(ValidationError) as info:
        VariableCreate.model_validate(exchange["request_body"])
    ours = {(e["type"], e["loc"]) for e in info.value.errors()}
    theirs = {
        (e["type"], tuple(e["loc"][1:])) for e in exchange["response_body"]["exception_detail"]
    }
    assert ours == theirs == {("value_error", ("name",)), ("list_type", ("tags",))}
    server_message = exchange["response_body"]["exception_detail"][0]["msg"]
    assert server_message in str(info.value)
