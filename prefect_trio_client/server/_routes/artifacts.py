"""Artifacts: run output (markdown, tables, links); a key may have many versions."""

from __future__ import annotations

from pydantic_core import to_jsonable_python
from starlette.requests import Request
from starlette.responses import Response

from prefect_trio_client.schemas.actions import ArtifactCreate, ArtifactUpdate
from prefect_trio_client.schemas.filters import (
    ArtifactCollectionFilter,
    ArtifactFilter,
    ArtifactFilterKey,
    FlowRunFilter,
    TaskRunFilter,
)
from prefect_trio_client.schemas.sorting import ArtifactCollectionSort, ArtifactSort
from prefect_trio_client.server._db import Doc, Tx
from prefect_trio_client.server._errors import not_found
from prefect_trio_client.server._filters import ARTIFACT_SORTS, compile_filter
from prefect_trio_client.server._http import (
    Reply,
    api_of,
    created,
    json_body,
    no_content,
    ok,
    path_id,
    route,
    validate,
)
from prefect_trio_client.server._ids import new_id
from prefect_trio_client.server._queries import PageBody, artifacts_matching
from prefect_trio_client.server._routes._listing import listing
from prefect_trio_client.server._tables import ARTIFACTS

__all__ = ["ROUTES"]

ARTIFACT_NOT_FOUND = "Artifact not found."


class ArtifactsBody(PageBody):
    """Body of ``/artifacts/filter`` and ``/artifacts/count``."""

    artifacts: ArtifactFilter | None = None
    flow_runs: FlowRunFilter | None = None
    task_runs: TaskRunFilter | None = None
    sort: ArtifactSort | None = None


def _matching(tx: Tx, body: ArtifactsBody) -> list[Doc]:
    return artifacts_matching(
        tx, artifacts=body.artifacts, flow_runs=body.flow_runs, task_runs=body.task_runs
    )


async def create(request: Request) -> Response:
    body = validate(ArtifactCreate, await json_body(request))

    def work(tx: Tx) -> Reply:
        artifact = {
            "id": str(new_id()),
            "created": tx.now_iso,
            "updated": tx.now_iso,
            "key": body.key,
            "type": body.type,
            "description": body.description,
            "data": body.data,
            "metadata_": body.metadata_,
            "flow_run_id": None if body.flow_run_id is None else str(body.flow_run_id),
            "task_run_id": None if body.task_run_id is None else str(body.task_run_id),
        }
        tx.insert(ARTIFACTS, artifact)
        return created(artifact)

    return await api_of(request).write(work)


def _artifact(tx: Tx, artifact_id: str) -> Doc:
    artifact = tx.get(ARTIFACTS, artifact_id)
    if artifact is None:
        raise not_found(ARTIFACT_NOT_FOUND)
    return artifact


async def read(request: Request) -> Response:
    artifact_id = path_id(request)
    return await api_of(request).read(lambda tx: ok(_artifact(tx, artifact_id)))


async def delete(request: Request) -> Response:
    artifact_id = path_id(request)

    def work(tx: Tx) -> Reply:
        if not tx.delete(ARTIFACTS, artifact_id):
            raise not_found(ARTIFACT_NOT_FOUND)
        return no_content()

    return await api_of(request).write(work)


filter_artifacts, count_artifacts = listing(
    ArtifactsBody, _matching, ARTIFACT_SORTS, ArtifactSort.ID_DESC
)


# --------------------------------------------------------------------------- issue 11: queues-misc


class LatestArtifactsBody(PageBody):
    """Body of ``/artifacts/latest/filter``."""

    artifacts: ArtifactCollectionFilter | None = None
    flow_runs: FlowRunFilter | None = None
    task_runs: TaskRunFilter | None = None
    sort: ArtifactCollectionSort | None = None


async def update(request: Request) -> Response:
    artifact_id = path_id(request)
    body = validate(ArtifactUpdate, await json_body(request))

    def work(tx: Tx) -> Reply:
        artifact = _artifact(tx, artifact_id)
        for field in body.model_fields_set:
            artifact[field] = to_jsonable_python(getattr(body, field))
        artifact["updated"] = tx.now_iso
        tx.update(ARTIFACTS, artifact)
        return no_content()

    return await api_of(request).write(work)


def _latest(tx: Tx, body: LatestArtifactsBody) -> list[Doc]:
    """One collection per key: the newest version's fields, ``latest_id`` its id; the
    collection's id and ``created`` are its first version's, ``updated`` the newest's."""
    keyed = ArtifactFilter(key=ArtifactFilterKey(exists_=True))
    versions = artifacts_matching(
        tx, artifacts=keyed, flow_runs=body.flow_runs, task_runs=body.task_runs
    )
    collections: dict[str, Doc] = {}
    for version in versions:  # oldest first
        first = collections.get(version["key"], version)
        collections[version["key"]] = {
            **version,
            "id": first["id"],
            "created": first["created"],
            "updated": version["created"],
            "latest_id": version["id"],
        }
    matches = compile_filter(body.artifacts)
    return [c for c in collections.values() if matches(c)]


filter_latest, _ = listing(
    LatestArtifactsBody,
    _latest,
    {ArtifactCollectionSort(sort.value): keys for sort, keys in ARTIFACT_SORTS.items()},
    ArtifactCollectionSort.ID_DESC,
)


ROUTES = [
    route("/artifacts/", create, "POST"),
    route("/artifacts/filter", filter_artifacts, "POST"),
    route("/artifacts/count", count_artifacts, "POST"),
    route("/artifacts/{id:uuid}", read, "GET"),
    route("/artifacts/{id:uuid}", delete, "DELETE"),
    # issue 11: queues-misc
    route("/artifacts/{id:uuid}", update, "PATCH"),
    route("/artifacts/latest/filter", filter_latest, "POST"),
]
