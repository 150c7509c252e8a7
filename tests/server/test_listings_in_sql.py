"""Listings in SQL through the API: an old database migrated forward, the tag side tables
kept by triggers, and a filter part left to the interpreter."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from prefect_trio_client.server import _runs, create_app
from prefect_trio_client.server._db import loads
from prefect_trio_client.server._tables import FLOW_RUNS, FLOWS, MIGRATIONS, TASK_RUNS, Table
from tests.server.helpers import FakeClock, serve

pytestmark = pytest.mark.anyio

LISTINGS_IN_SQL = next(
    n for n, statements in enumerate(MIGRATIONS) if any("flow_run_tags" in s for s in statements)
)
"""The migration that moved listings to SQL: databases older than it hold no side tables."""


async def _count(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> int:
    response = await client.post(path, json=body)
    assert response.status_code == 200, response.text
    found: int = response.json()
    return found


async def _ids(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> list[str]:
    response = await client.post(path, json=body)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()]


async def _scheduled(client: httpx.AsyncClient, flow_id: str, hour: int, tags: list[str]) -> str:
    # Before the fake clock's now, so the run may start.
    state = {"type": "SCHEDULED", "state_details": {"scheduled_time": f"2029-12-31T{hour:02}:00Z"}}
    response = await client.post(
        "/flow_runs/", json={"flow_id": flow_id, "tags": tags, "state": state}
    )
    assert response.status_code == 201, response.text
    run_id: str = response.json()["id"]
    return run_id


async def _documents(clock: FakeClock) -> dict[Table, list[dict[str, Any]]]:
    """Flows, flow runs and task runs as the server writes them (from a scratch server)."""
    async with serve(create_app(":memory:", clock=clock)) as client:
        flow_id = (await client.post("/flows/", json={"name": "etl"})).json()["id"]
        runs = [
            await _scheduled(client, flow_id, hour, tags)
            for hour, tags in ((3, ["nightly"]), (1, ["nightly", "big"]), (2, []))
        ]
        await client.post(f"/flow_runs/{runs[2]}/set_state", json={"state": {"type": "RUNNING"}})
        task = {"flow_run_id": runs[0], "task_key": "t", "dynamic_key": "0", "tags": ["io"]}
        task_id = (await client.post("/task_runs/", json=task)).json()["id"]
        return {
            FLOWS: [(await client.get(f"/flows/{flow_id}")).json()],
            FLOW_RUNS: [(await client.get(f"/flow_runs/{run}")).json() for run in runs],
            TASK_RUNS: [(await client.get(f"/task_runs/{task_id}")).json()],
        }


def _old_database(path: Path, documents: dict[Table, list[dict[str, Any]]]) -> None:
    """A file at the schema version before listings moved to SQL, holding `documents`
    in that version's columns."""
    old_keys = {
        FLOWS: ("name",),
        FLOW_RUNS: (
            "flow_id",
            "deployment_id",
            "idempotency_key",
            "parent_task_run_id",
            "work_queue_id",
        ),
        TASK_RUNS: ("flow_run_id", "task_key", "dynamic_key"),
    }
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        for statements in MIGRATIONS[:LISTINGS_IN_SQL]:
            for statement in statements:
                connection.execute(statement)
        connection.execute(f"PRAGMA user_version = {LISTINGS_IN_SQL}")
        for table, docs in documents.items():
            keys = old_keys[table]
            for doc in docs:
                connection.execute(
                    f"INSERT INTO {table.name} (id, {', '.join(keys)}, doc)"
                    f" VALUES (?, {', '.join('?' * len(keys))}, json(?))",
                    (doc["id"], *(doc.get(key) for key in keys), json.dumps(doc)),
                )
    finally:
        connection.close()


async def test_an_old_database_is_migrated_forward_and_answers_listings(
    tmp_path: Path, clock: FakeClock
) -> None:
    documents = await _documents(clock)
    third, first, second = (doc["id"] for doc in documents[FLOW_RUNS])  # by scheduled hour
    database = tmp_path / "old.db"
    _old_database(database, documents)

    async with serve(create_app(database, clock=clock)) as client:
        tagged = {"flow_runs": {"tags": {"all_": ["nightly"]}}}
        assert await _count(client, "/flow_runs/count", tagged) == 2
        scheduled = {"flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}}}
        assert await _count(client, "/flow_runs/count", scheduled) == 2
        after = {"flow_runs": {"expected_start_time": {"after_": "2029-12-31T01:30:00Z"}}}
        assert await _count(client, "/flow_runs/count", after) == 2
        by_time = {"sort": "EXPECTED_START_TIME_DESC"}
        assert await _ids(client, "/flow_runs/filter", by_time) == [third, second, first]
        with_io = {"task_runs": {"tags": {"all_": ["io"]}}}
        assert await _ids(client, "/flow_runs/filter", with_io) == [third]
        assert await _count(client, "/task_runs/count", with_io) == 1

        # Migrated rows follow their documents from now on.
        await client.post(f"/flow_runs/{first}/set_state", json={"state": {"type": "RUNNING"}})
        assert await _count(client, "/flow_runs/count", scheduled) == 1
        await client.patch(f"/flow_runs/{first}", json={"tags": ["weekly"]})
        assert await _count(client, "/flow_runs/count", tagged) == 1

    with sqlite3.connect(database) as connection:
        (version,) = connection.execute("PRAGMA user_version").fetchone()
    connection.close()
    assert version == len(MIGRATIONS)


async def test_tags_follow_updates_and_deletes(client: httpx.AsyncClient) -> None:
    flow_id = (await client.post("/flows/", json={"name": "etl"})).json()["id"]
    first = await _scheduled(client, flow_id, 1, ["a", "a", "b"])
    second = await _scheduled(client, flow_id, 2, ["b"])
    any_b = {"flow_runs": {"tags": {"any_": ["b"]}}}
    assert await _count(client, "/flow_runs/count", any_b) == 2
    assert await _count(client, "/flow_runs/count", {"flow_runs": {"tags": {"all_": ["a"]}}}) == 1

    await client.patch(f"/flow_runs/{first}", json={"tags": ["c"]})
    assert await _ids(client, "/flow_runs/filter", any_b) == [second]
    no_tags = {"flow_runs": {"tags": {"is_null_": True}}}
    assert await _count(client, "/flow_runs/count", no_tags) == 0

    await client.delete(f"/flow_runs/{second}")
    assert await _count(client, "/flow_runs/count", any_b) == 0
    assert await _ids(client, "/flow_runs/filter", {"flow_runs": {"tags": {"any_": ["c"]}}}) == [
        first
    ]


async def test_a_filter_part_sql_cannot_say_is_checked_by_the_interpreter(
    client: httpx.AsyncClient,
) -> None:
    """A log text search is Python's; the level and the paging around it still hold."""
    lines = [
        {"name": "app", "level": level, "message": message, "timestamp": f"2030-01-01T00:0{n}:00Z"}
        for n, (level, message) in enumerate(
            [(20, "disk full"), (40, "Disk FULL again"), (40, "all good"), (50, "full stop")]
        )
    ]
    assert (await client.post("/logs/", json=lines)).status_code == 201
    body = {"logs": {"level": {"ge_": 40}, "text": {"query": "full"}}, "limit": 1, "offset": 1}
    found = (await client.post("/logs/filter", json=body)).json()
    assert [line["message"] for line in found] == ["full stop"]


async def test_a_listing_answers_the_runs_as_each_is_read_alone(
    client: httpx.AsyncClient, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Listings of runs join the stored JSON text with fresh estimates spliced in: the same
    bytes as reading each run; a run whose text holds the estimates' keys twice is decoded."""
    decoded: list[str] = []

    def counted_loads(text: str) -> dict[str, Any]:
        decoded.append(text)
        return loads(text)

    monkeypatch.setattr(_runs, "loads", counted_loads)
    flow_id = (await client.post("/flows/", json={"name": "etl"})).json()["id"]
    late = await _scheduled(client, flow_id, 1, ["é"])
    running = await _scheduled(client, flow_id, 2, [])
    done = await _scheduled(client, flow_id, 3, [])
    for run, states in ((running, ["RUNNING"]), (done, ["RUNNING", "COMPLETED"])):
        for state in states:
            clock.advance(1.5)
            proposal = {"state": {"type": state}}
            answer = await client.post(f"/flow_runs/{run}/set_state", json=proposal)
            assert answer.status_code == 201, answer.text
    tricky = {"quote": '","estimated_run_time":2,"x\u2028', "estimated_run_time": 1}
    answer = await client.post(
        "/flow_runs/", json={"flow_id": flow_id, "name": "ünï", "parameters": tricky}
    )
    odd = answer.json()["id"]
    task = {"flow_run_id": running, "task_key": "t", "dynamic_key": "0"}
    task_id = (await client.post("/task_runs/", json=task)).json()["id"]
    await client.post(f"/task_runs/{task_id}/set_state", json={"state": {"type": "RUNNING"}})
    clock.advance(7.25)

    for kind, ids in (("flow_runs", [odd, done, running, late]), ("task_runs", [task_id])):
        decoded.clear()
        listed = await client.post(f"/{kind}/filter", json={})
        assert [run["id"] for run in listed.json()] == ids
        assert len(decoded) == (1 if kind == "flow_runs" else 0)  # only the odd one
        alone = [(await client.get(f"/{kind}/{run}")).content for run in ids]
        assert listed.content == b"[" + b",".join(alone) + b"]"
    runs = {run["id"]: run for run in listed.json()} | {
        run["id"]: run for run in (await client.post("/flow_runs/filter", json={})).json()
    }
    assert runs[running]["estimated_run_time"] == pytest.approx(2 * 1.5 + 7.25)  # since RUNNING
    assert runs[task_id]["estimated_run_time"] == pytest.approx(7.25)
    assert runs[late]["estimated_start_time_delta"] > 0
    assert runs[done]["estimated_run_time"] == pytest.approx(1.5)
