"""Names in URL paths, end to end: the client encodes, the embedded server decodes.

Every by-name method must read, change and delete exactly the object of that name,
whatever the name holds (issue 9: ``db#replica`` used to read ``db``). The hostile-name
round trip is the one the interop suite runs against a real Prefect server; the property
tests draw arbitrary names. Real time: the server's database works in a thread.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from prefect_trio_client.exceptions import ObjectNotFound
from prefect_trio_client.orchestration import PrefectClient, SyncPrefectClient
from prefect_trio_client.schemas.actions import (
    GlobalConcurrencyLimitCreate,
    WorkPoolCreate,
    WorkPoolUpdate,
)
from prefect_trio_client.server import create_app
from prefect_trio_client.settings import ClientSettings
from tests.interop.test_lifecycle import Blocking, hostile_name_round_trips
from tests.server.helpers import lifespan

pytestmark = pytest.mark.anyio

SETTINGS = ClientSettings(client_csrf_support_enabled=False)

# Any text at all: control characters, separators, every plane, dot-only names.
names = st.one_of(
    st.text(min_size=1, max_size=12),
    st.sampled_from([".", "..", "...", " ", "%", "%2F", "%252F", "?", "#", "/", "\\", "~"]),
    st.lists(st.sampled_from(["a", ".", "/", "%", "#", "?", "&", " ", "é", "20"]), min_size=1).map(
        "".join
    ),
)
property_settings = settings(
    max_examples=25,
    deadline=None,
    # one fresh app per example; the fixture only picks the event loop
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@asynccontextmanager
async def embedded() -> AsyncIterator[PrefectClient]:
    """Our client on a fresh in-memory embedded app, in-process."""
    app = create_app(":memory:")
    async with (
        lifespan(app),
        PrefectClient(
            "http://embedded/api",
            httpx_settings={"transport": httpx.ASGITransport(app)},
            settings=SETTINGS,
        ) as client,
    ):
        yield client


def _refused(name: str) -> bool:
    """Prefect's ``Name`` rule (no ``/ % & < >``, not empty), and no line feed: Prefect's
    mounted API cannot route a path holding one (checked in `test_routing`)."""
    return not name or bool(set(name) & set("/%&<>\n"))


async def test_hostile_names_round_trip() -> None:
    async with embedded() as client:
        await hostile_name_round_trips(client, "")


def test_hostile_names_round_trip_with_the_sync_client() -> None:
    with SyncPrefectClient(create_app(":memory:"), settings=SETTINGS) as client:
        anyio.run(hostile_name_round_trips, Blocking(client), "")


@property_settings
@given(name=names)
async def test_any_flow_name_reads_back_its_own_flow(name: str) -> None:
    async with embedded() as client:
        decoy = await client.create_flow_from_name("decoy")
        try:
            flow_id = await client.create_flow_from_name(name)
        except ValidationError:
            assert _refused(name)
            with pytest.raises(ObjectNotFound):
                await client.read_flow_by_name(name)
            return
        assert not _refused(name)
        flow = await client.read_flow_by_name(name)
        assert (flow.id, flow.name) == (flow_id, name)
        assert flow_id != decoy
        await client.delete_flow(flow_id)
        with pytest.raises(ObjectNotFound):
            await client.read_flow_by_name(name)
        assert (await client.read_flow_by_name("decoy")).id == decoy


@property_settings
@given(name=names)
async def test_any_work_pool_name_changes_only_its_own_pool(name: str) -> None:
    async with embedded() as client:
        await client.create_work_pool(WorkPoolCreate(name="decoy"))
        try:
            pool = await client.create_work_pool(WorkPoolCreate(name=name))
        except ValidationError:
            assert _refused(name) or not name.strip("' \"")
            for call in (client.read_work_pool(name), client.delete_work_pool(name)):
                with pytest.raises(ObjectNotFound):
                    await call
            return
        assert not _refused(name)
        await client.update_work_pool(name, WorkPoolUpdate(description="changed"))
        read = await client.read_work_pool(name)
        assert (read.id, read.name, read.description) == (pool.id, name, "changed")
        queue = await client.create_work_queue(name, work_pool_name=name)
        found = await client.read_work_queue_by_name(name, work_pool_name=name)
        assert (found.id, found.name) == (queue.id, name)
        await client.delete_work_pool(name)
        with pytest.raises(ObjectNotFound):
            await client.read_work_pool(name)
        assert (await client.read_work_pool("decoy")).description is None


@property_settings
@given(name=names)
async def test_any_concurrency_limit_name_deletes_only_its_own_limit(name: str) -> None:
    async with embedded() as client:
        await client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(name="decoy", limit=1)
        )
        try:
            create = GlobalConcurrencyLimitCreate(name=name, limit=3)
        except ValidationError:
            assert _refused(name)
            for call in (
                client.read_global_concurrency_limit_by_name(name),
                client.delete_global_concurrency_limit_by_name(name),
            ):
                with pytest.raises(ObjectNotFound):
                    await call
            return
        assert not _refused(name)
        limit_id = await client.create_global_concurrency_limit(create)
        limit = await client.read_global_concurrency_limit_by_name(name)
        assert (limit.id, limit.name, limit.limit) == (limit_id, name, 3)
        await client.delete_global_concurrency_limit_by_name(name)
        with pytest.raises(ObjectNotFound):
            await client.read_global_concurrency_limit_by_name(name)
        assert (await client.read_global_concurrency_limit_by_name("decoy")).limit == 1


@property_settings
@given(flow_name=names, deployment_name=names)
async def test_any_deployment_name_reads_back_its_own_deployment(
    flow_name: str, deployment_name: str
) -> None:
    async with embedded() as client:
        if _refused(flow_name) or _refused(deployment_name):
            with pytest.raises((ObjectNotFound, ValueError)):
                await client.read_deployment_by_name(f"{flow_name}/{deployment_name}")
            return
        flow_id = await client.create_flow_from_name(flow_name)
        decoy = await client.create_deployment(flow_id, "decoy")
        deployment_id = await client.create_deployment(flow_id, deployment_name)
        read = await client.read_deployment_by_name(f"{flow_name}/{deployment_name}")
        assert (read.id, read.name) == (deployment_id, deployment_name)
        assert (deployment_id == decoy) is (deployment_name == "decoy")


@pytest.mark.parametrize("name", ["x/y", "50%", "a&b", "<b>", "two\nlines", ""])
async def test_the_server_refuses_a_name_it_could_not_serve_by_name(
    client: httpx.AsyncClient, name: str
) -> None:
    """Clients that do not check names (Prefect's own) get a 422 naming the field."""
    flow_id = (await client.post("flows/", json={"name": "home"})).json()["id"]
    await client.post("work_pools/", json={"name": "pool"})
    creates = [
        ("flows/", {"name": name}),
        ("deployments/", {"name": name or "/", "flow_id": flow_id}),
        ("work_pools/", {"name": name}),
        ("work_pools/pool/queues", {"name": name}),
        ("work_queues/", {"name": name}),
        ("v2/concurrency_limits/", {"name": name, "limit": 1}),
    ]
    for path, body in creates:
        response = await client.post(path, json=body)
        assert response.status_code == 422, (path, response.text)
        assert "name" in response.text
    assert (await client.post("flows/count", json={})).json() == 1


async def test_an_encoded_slash_is_not_redirected_to_another_object(
    client: httpx.AsyncClient,
) -> None:
    await client.post("v2/concurrency_limits/", json={"name": "a", "limit": 1})
    await client.post("flows/", json={"name": "a"})
    for path in ("v2/concurrency_limits/a%2F", "flows/name/a%2F", "flows/name/a/"):
        response = await client.get(path)
        assert response.status_code == 404, (path, response.status_code)
