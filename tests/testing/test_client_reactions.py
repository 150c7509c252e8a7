"""How `PrefectClient` reacts to each injected fault, against the real embedded server.

For each fault kind, once with a create the server dedupes (``create_flow_run`` with an
idempotency key: safe to re-send) and once with one it does not (``create_variable``: a
repeat answers 409), the call's outcome and how many objects the server then holds.
Real time (the server's database works in a thread); the retry policy's delays are
shortened so the table runs in a few seconds.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from prefect_trio_client.base import RetryPolicy
from prefect_trio_client.exceptions import (
    OutcomeUnknownError,
    PrefectHTTPStatusError,
    ResponseDecodeError,
)
from prefect_trio_client.orchestration import PrefectClient
from prefect_trio_client.schemas.actions import VariableCreate
from prefect_trio_client.testing import (
    EmbeddedAPI,
    FaultInjectingTransport,
    FaultKind,
    SyncFaultInjectingTransport,
    embedded_api,
)

pytestmark = pytest.mark.anyio

OK = "ok"


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    backend: str = request.param
    return backend


@pytest.fixture
async def api() -> Any:
    async with embedded_api() as api:
        yield api


def quick_policy() -> RetryPolicy:
    return RetryPolicy(jitter_factor=0, backoff_base=0.01, uncounted_delay_floor=0.01)


def faulty_client(
    api: EmbeddedAPI, kind: FaultKind, route: str
) -> tuple[PrefectClient, FaultInjectingTransport]:
    """A client whose first request to `route` ("POST /api/...") gets `kind`."""
    transports: list[FaultInjectingTransport] = []

    def spare(request: httpx.Request) -> bool:
        return f"{request.method} {request.url.path}" != route

    def wrap(inner: httpx.AsyncBaseTransport) -> httpx.AsyncBaseTransport:
        transport = FaultInjectingTransport(
            inner, seed=0, script=[kind], spare=spare, retry_after=0, stall_seconds=0.05
        )
        transports.append(transport)
        return transport

    client = api.client(wrap_transport=wrap, httpx_settings={"retry_policy": quick_policy()})
    return client, transports[0]


async def outcome_of(call: Callable[[], Awaitable[object]]) -> object:
    try:
        await call()
    except Exception as exc:
        return type(exc)
    return OK


# kind: (safe create, objects stored), (unsafe create, objects stored)
REACTIONS: dict[FaultKind, tuple[tuple[object, int], tuple[object, int]]] = {
    FaultKind.RATE_LIMITED_SECONDS: ((OK, 1), (OK, 1)),
    FaultKind.RATE_LIMITED_DATE: ((OK, 1), (OK, 1)),
    FaultKind.BAD_GATEWAY: ((OK, 1), (PrefectHTTPStatusError, 1)),
    FaultKind.UNAVAILABLE: ((OK, 1), (OK, 1)),
    FaultKind.MAINTENANCE: ((OK, 1), (OK, 1)),
    FaultKind.RESET_BEFORE_SEND: ((OK, 1), (OK, 1)),
    FaultKind.RESET_AFTER_SEND: ((OK, 1), (OutcomeUnknownError, 1)),
    FaultKind.READ_TIMEOUT: ((OK, 1), (OutcomeUnknownError, 1)),
    FaultKind.STALL: ((OK, 1), (OK, 1)),
    FaultKind.HTML_BODY: ((ResponseDecodeError, 0), (ResponseDecodeError, 0)),
    FaultKind.EMPTY_BODY: ((ResponseDecodeError, 1), (ResponseDecodeError, 1)),
    FaultKind.TRUNCATED_JSON: ((ResponseDecodeError, 1), (ResponseDecodeError, 1)),
}
#: Faults after which any request is sent again: the server did not apply it, or said so.
RESENT_ALWAYS = {
    FaultKind.RATE_LIMITED_SECONDS,
    FaultKind.RATE_LIMITED_DATE,
    FaultKind.UNAVAILABLE,
    FaultKind.MAINTENANCE,
    FaultKind.RESET_BEFORE_SEND,
}
#: Faults after which only a safe request is sent again: the server applied it.
RESENT_IF_SAFE = {FaultKind.BAD_GATEWAY, FaultKind.RESET_AFTER_SEND, FaultKind.READ_TIMEOUT}


def test_every_kind_has_a_reaction() -> None:
    assert set(REACTIONS) == set(FaultKind)


@pytest.mark.parametrize("kind", list(FaultKind))
async def test_a_safe_create_is_never_duplicated(api: EmbeddedAPI, kind: FaultKind) -> None:
    expected, stored = REACTIONS[kind][0]
    client, transport = faulty_client(api, kind, "POST /api/flow_runs/")
    async with client:
        flow_id = await client.create_flow_from_name("reactions")
        assert await client.count_flow_runs() == 0  # an answer arrived first
        got = await outcome_of(
            lambda: client.create_flow_run(flow_id, idempotency_key="exactly-once")
        )
        assert got == expected
        assert await client.count_flow_runs() == stored
        if expected == OK:
            run = await client.create_flow_run(flow_id, idempotency_key="exactly-once")
            assert run.idempotency_key == "exactly-once"
            assert await client.count_flow_runs() == 1
    assert transport.injected == {kind: 1}
    resent = kind in RESENT_ALWAYS | RESENT_IF_SAFE
    checked = expected == OK  # the second create above
    assert transport.plan.requests - transport.plan.spared == 1 + resent + checked


@pytest.mark.parametrize("kind", list(FaultKind))
async def test_an_unsafe_create_is_never_sent_twice(api: EmbeddedAPI, kind: FaultKind) -> None:
    expected, stored = REACTIONS[kind][1]
    client, transport = faulty_client(api, kind, "POST /api/variables/")
    async with client:
        assert await client.read_variables() == []  # an answer arrived first
        got = await outcome_of(lambda: client.create_variable(VariableCreate(name="once", value=1)))
        assert got == expected
        assert len(await client.read_variables()) == stored
    assert transport.injected == {kind: 1}
    resent = kind in RESENT_ALWAYS
    assert transport.plan.requests - transport.plan.spared == 1 + resent


async def test_a_lost_answer_to_an_unsafe_post_says_what_happened(api: EmbeddedAPI) -> None:
    client, _ = faulty_client(api, FaultKind.RESET_AFTER_SEND, "POST /api/variables/")
    async with client:
        await client.read_variables()
        with pytest.raises(OutcomeUnknownError) as raised:
            await client.create_variable(VariableCreate(name="maybe", value=1))
        assert isinstance(raised.value.__cause__, (httpx.ReadError, httpx.RemoteProtocolError))
        assert "may have applied it" in str(raised.value)
        assert raised.value.method == "POST"
        # Reading it back tells: the server applied it once.
        assert (await client.read_variable_by_name("maybe")) is not None


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (FaultKind.RESET_AFTER_SEND, (OK, OutcomeUnknownError)),
        (FaultKind.READ_TIMEOUT, (OK, OutcomeUnknownError)),
        (FaultKind.MAINTENANCE, (OK, OK)),
        (FaultKind.TRUNCATED_JSON, (ResponseDecodeError, ResponseDecodeError)),
    ],
)
def test_the_sync_client_through_the_sync_transport(
    kind: FaultKind, expected: tuple[object, object]
) -> None:
    def wrap_for(route: str) -> Callable[[httpx.BaseTransport], httpx.BaseTransport]:
        def wrap(inner: httpx.BaseTransport) -> httpx.BaseTransport:
            return SyncFaultInjectingTransport(
                inner,
                seed=0,
                script=[kind],
                spare=lambda r: f"{r.method} {r.url.path}" != route,
                retry_after=0,
            )

        return wrap

    settings = {"retry_policy": quick_policy()}
    with embedded_api() as api:
        with api.sync_client(
            wrap_transport=wrap_for("POST /api/flow_runs/"), httpx_settings=settings
        ) as client:
            flow_id = client.create_flow_from_name("sync")
            try:
                client.create_flow_run(flow_id, idempotency_key="sync-once")
                safe: object = OK
            except Exception as exc:
                safe = type(exc)
            assert client.count_flow_runs() == 1
        with api.sync_client(
            wrap_transport=wrap_for("POST /api/variables/"), httpx_settings=settings
        ) as client:
            client.read_variables()
            try:
                client.create_variable(VariableCreate(name="sync_once", value=1))
                unsafe: object = OK
            except Exception as exc:
                unsafe = type(exc)
            assert len(client.read_variables()) == 1
    assert (safe, unsafe) == expected
