"""Artifact endpoints."""

from __future__ import annotations

from prefect_trio_client.orchestration._plan import Plan, Request
from prefect_trio_client.orchestration._wire import body, filter_body, parse, parse_list
from prefect_trio_client.schemas.actions import ArtifactCreate
from prefect_trio_client.schemas.filters import ArtifactFilter, FlowRunFilter, TaskRunFilter
from prefect_trio_client.schemas.objects import Artifact
from prefect_trio_client.schemas.sorting import ArtifactSort

__all__ = ["create_artifact", "read_artifacts"]


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
