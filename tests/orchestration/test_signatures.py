"""Endpoint methods look like the methods they are: real signatures, real return types,
docstrings, coroutine functions on the async client."""

from __future__ import annotations

import inspect
import typing
from typing import Any

import httpx
import pytest

from prefect_trio_client.orchestration import PrefectClient, SyncPrefectClient
from prefect_trio_client.orchestration._endpoints import Endpoints
from prefect_trio_client.orchestration._plan import Endpoint
from tests.orchestration.harness import ClientKind, make_client

NAMES = sorted(name for name, value in vars(Endpoints).items() if isinstance(value, Endpoint))


def test_every_endpoint_is_listed() -> None:
    assert len(NAMES) > 50


@pytest.mark.parametrize("name", NAMES)
def test_the_class_attribute_has_the_methods_signature(name: str) -> None:
    signature = inspect.signature(getattr(PrefectClient, name))
    assert next(iter(signature.parameters)) == "self"
    returned = signature.return_annotation
    assert returned is not inspect.Signature.empty
    assert "Plan" not in str(returned)
    assert "Generator" not in str(returned)
    assert getattr(PrefectClient, name).__doc__


@pytest.mark.parametrize("name", NAMES)
def test_bound_methods_have_it_without_self(name: str) -> None:
    async_client = PrefectClient("http://127.0.0.1:9/api")
    sync_client = SyncPrefectClient("http://127.0.0.1:9/api")
    bound = inspect.signature(getattr(async_client, name))
    assert "self" not in bound.parameters
    assert bound == inspect.signature(getattr(sync_client, name))
    assert inspect.iscoroutinefunction(getattr(async_client, name))
    assert not inspect.iscoroutinefunction(getattr(sync_client, name))


def test_a_resolved_return_type_is_the_class_itself() -> None:
    from prefect_trio_client.schemas.objects import FlowRun

    returned = inspect.signature(PrefectClient.create_flow_run).return_annotation
    assert returned is FlowRun
    hints = typing.get_type_hints(PrefectClient.read_flows.build)
    assert "return" in hints


@pytest.mark.anyio
async def test_calling_through_the_class_with_a_client_first(kind: ClientKind) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json="Hello!")

    async with make_client(kind, handler) as client:
        owner = type(client)
        result = owner.api_version(client)
        if inspect.isawaitable(result):
            result = await result
    assert result == "Hello!"


@pytest.mark.parametrize("client_class", [PrefectClient, SyncPrefectClient])
def test_a_method_is_bound_not_rebuilt_on_every_lookup(
    client_class: type[PrefectClient] | type[SyncPrefectClient],
) -> None:
    client = client_class("http://127.0.0.1:9/api")
    first: Any = client.read_flow
    second: Any = client.read_flow
    assert first == second  # the same function, bound to the same client
    assert first.__func__ is second.__func__
    assert first.__self__ is client
    assert first.__name__ == "read_flow"
    assert list(inspect.signature(first).parameters) == ["flow_id"]
