"""Artifact endpoints."""

from __future__ import annotations

from uuid import UUID

from prefect_trio_client.orchestration._plan import Plan, Request
from prefect_trio_client.orchestration._wire import (
    body,
    filter_body,
    parse,
    parse_list,
    url_path,
)
from prefect_trio_client.schemas.actions import ArtifactCreate, ArtifactUpdate
from prefect_trio_client.schemas.filters import (
    ArtifactCollectionFilter,
    ArtifactFilter,
    FlowRunFilter,
    TaskRunFilter,
)
from prefect_trio_client.schemas.objects import Artifact, ArtifactCollection
from prefect_trio_client.schemas.sorting import ArtifactCollectionSort, ArtifactSort

__all__ = [
    "create_artifact",
    "delete_artifact",
    "read_artifacts",
    "read_latest_artifacts",
    "update_artifact",
]


def create_artifact(artifact: ArtifactCreate) -> Plan[Artifact]:
    """Create an artifact (a new version when the key exists)."""
    response = yield Request("POST", "/artifacts/", json=body(artifact))
    return parse(Artifact, response)


def read_artifacts(
    *,
    artifact_filter: ArtifactFilter | None = None,
    flow_run_filter: FlowRunFilter | None = None,
    task_run_filter: TaskRunFilter | None = None,
    sort: ArtifactSort | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> Plan[list[Artifact]]:
    """Artifacts matching every filter given, sorted and paged."""
    filters = {
        "artifacts": artifact_filter,
        "flow_runs": flow_run_filter,
        "task_runs": task_run_filter,
    }
    request = filter_body(filters, limit=limit, offset=offset, sort=sort)
    response = yield Request("POST", "/artifacts/filter", json=request, idempotent=True)
    return parse_list(Artifact, response)


# --------------------------------------------------------------------------- issue 11: queues-misc


def read_latest_artifacts(
    *,
    artifact_filter: ArtifactCollectionFilter | None = None,
    flow_run_filter: FlowRunFilter | None = None,
    task_run_filter: TaskRunFilter | None = None,
    sort: ArtifactCollectionSort | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> Plan[list[ArtifactCollection]]:
    """The latest version of each keyed artifact matching every filter, sorted and paged.

    Prefect types these keyword arguments as ``**kwargs``; they are the same names here.
    """
    filters = {
        "artifacts": artifact_filter,
        "flow_runs": flow_run_filter,
        "task_runs": task_run_filter,
    }
    request = filter_body(filters, limit=limit, offset=offset, sort=sort)
    response = yield Request("POST", "/artifacts/latest/filter", json=request, idempotent=True)
    return parse_list(ArtifactCollection, response)


def update_artifact(artifact_id: UUID, artifact: ArtifactUpdate) -> Plan[None]:
    """Change the fields set on `artifact`. Raises `ObjectNotFound` for an unknown id."""
    yield Request("PATCH", url_path("artifacts", artifact_id), json=body(artifact))


def delete_artifact(artifact_id: UUID) -> Plan[None]:
    """Raises `ObjectNotFound` for an unknown id."""
    yield Request("DELETE", url_path("artifacts", artifact_id))
