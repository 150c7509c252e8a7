"""`FaultInjectingTransport` and its sync twin, on a recording inner transport.

Every async test runs on asyncio and trio on virtual time (the root conftest), so stalls
and retry delays are exact and cost no wall time. The client's reaction to each fault
against the real embedded server is in ``test_client_reactions.py``.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
from datetime import datetime, timezone
from typing import Any

import anyio
import httpx
import pytest

from prefect_trio_client.base import (
    PrefectHttpxAsyncClient,
    PrefectHttpxSyncClient,
    PrefectResponse,
    RetryPolicy,
)
from prefect_trio_client.exceptions import OutcomeUnknownError, PrefectHTTPStatusError
from prefect_trio_client.settings import ClientSettings
from prefect_trio_client.testing import (
    ALL_FAULTS,
    FaultInjectingTransport,
    FaultKind,
    FaultPlan,
    SyncFaultInjectingTransport,
)
from tests.http_helpers import FakeTimer

pytestmark = pytest.mark.anyio

WALL = datetime(2026, 12, 3, 7, 0, 0, 250_000, tzinfo=timezone.utc)
URL = "http://api.test/api/flows/"


class Upstream(httpx.AsyncBaseTransport, httpx.BaseTransport):
    """A server that records what reached it and answers 201 with a JSON object."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self.opened = 0
        self.closed = 0

    def _answer(self, request: httpx.Request) -> httpx.Response:
        self.seen.append((request.method, request.url.path))
        payload = {"id": len(self.seen), "path": request.url.path, "padding": "x" * 40}
        return httpx.Response(201, json=payload, headers={"X-Upstream": "yes"})

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return self._answer(request)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._answer(request)

    async def __aenter__(self) -> Upstream:
        self.opened += 1
        return self

    def __enter__(self) -> Upstream:
        self.opened += 1
        return self

    async def aclose(self) -> None:
        self.closed += 1

    def close(self) -> None:
        self.closed += 1


def request(method: str = "POST", url: str = URL, **extensions: Any) -> httpx.Request:
    return httpx.Request(method, url, json={"name": "x"}, extensions=extensions)


def one_fault(kind: FaultKind, **kwargs: Any) -> tuple[FaultInjectingTransport, Upstream]:
    upstream = Upstream()
    return FaultInjectingTransport(upstream, seed=0, script=[kind], **kwargs), upstream


# ------------------------------------------------------------------ each kind, alone


STATUS_FAULTS = {
    FaultKind.RATE_LIMITED_SECONDS: 429,
    FaultKind.RATE_LIMITED_DATE: 429,
    FaultKind.BAD_GATEWAY: 502,
    FaultKind.UNAVAILABLE: 503,
    FaultKind.MAINTENANCE: 503,
}
ERROR_FAULTS: dict[FaultKind, tuple[type[httpx.TransportError], type[httpx.TransportError]]] = {
    FaultKind.RESET_BEFORE_SEND: (httpx.ConnectError, httpx.WriteError),
    FaultKind.RESET_AFTER_SEND: (httpx.ReadError, httpx.RemoteProtocolError),
    FaultKind.READ_TIMEOUT: (httpx.ReadTimeout, httpx.ReadTimeout),
}


def test_every_kind_is_covered_below() -> None:
    body_faults = {FaultKind.HTML_BODY, FaultKind.EMPTY_BODY, FaultKind.TRUNCATED_JSON}
    covered = set(STATUS_FAULTS) | set(ERROR_FAULTS) | body_faults | {FaultKind.STALL}
    assert covered == set(FaultKind) == set(ALL_FAULTS)


@pytest.mark.parametrize("kind", list(STATUS_FAULTS))
async def test_status_faults(kind: FaultKind) -> None:
    transport, upstream = one_fault(kind, retry_after=3, wall_clock=lambda: WALL)
    response = await transport.handle_async_request(request())
    assert response.status_code == STATUS_FAULTS[kind]
    assert len(upstream.seen) == (1 if kind.reaches_server else 0)
    assert (kind is FaultKind.BAD_GATEWAY) == kind.reaches_server
    assert transport.injected == {kind: 1}
    maintenance = response.headers.get("Prefect-Maintenance")
    assert maintenance == ("true" if kind is FaultKind.MAINTENANCE else None)
    retry_after = response.headers.get("Retry-After")
    if kind is FaultKind.RATE_LIMITED_SECONDS:
        assert retry_after == "3"
    elif kind is FaultKind.RATE_LIMITED_DATE:
        assert retry_after is not None
        when = email.utils.parsedate_to_datetime(retry_after)
        # An HTTP-date has whole seconds: at least 3 s ahead, less than 4.
        assert 3 <= (when - WALL).total_seconds() < 4
        assert retry_after.endswith(" GMT")
    else:
        assert retry_after is None


@pytest.mark.parametrize("kind", list(ERROR_FAULTS))
@pytest.mark.parametrize("variant", [0, 1])
async def test_connection_faults(kind: FaultKind, variant: int) -> None:
    # Find a seed whose first request draws this variant (the draw is seeded).
    seed = next(s for s in range(100) if _variant(s) == variant)
    upstream = Upstream()
    transport = FaultInjectingTransport(upstream, seed=seed, script=[kind])
    sent = request()
    with pytest.raises(ERROR_FAULTS[kind][variant]) as raised:
        await transport.handle_async_request(sent)
    assert raised.value.request is sent
    assert "injected" in str(raised.value)
    # Before sending, the server never sees it; after, it applied it and the answer is lost.
    assert len(upstream.seen) == (0 if kind is FaultKind.RESET_BEFORE_SEND else 1)
    assert kind.reaches_server == (kind is not FaultKind.RESET_BEFORE_SEND)


def _variant(seed: int) -> int:
    plan = FaultPlan(seed=seed, script=[FaultKind.READ_TIMEOUT])
    fault = plan.decide(request())
    assert fault is not None
    return fault.variant


@pytest.mark.parametrize(
    ("kind", "reaches_server"),
    [(FaultKind.HTML_BODY, False), (FaultKind.EMPTY_BODY, True), (FaultKind.TRUNCATED_JSON, True)],
)
async def test_unreadable_bodies(kind: FaultKind, reaches_server: bool) -> None:
    transport, upstream = one_fault(kind)
    response = await transport.handle_async_request(request())
    await response.aread()
    assert response.status_code == 200
    assert len(upstream.seen) == (1 if reaches_server else 0)
    assert kind.reaches_server is reaches_server
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)
    if kind is FaultKind.HTML_BODY:
        assert response.headers["Content-Type"].startswith("text/html")
        assert response.content.startswith(b"<!DOCTYPE html>")
    elif kind is FaultKind.EMPTY_BODY:
        assert response.content == b""
    else:
        assert response.content.startswith(b'{"id":1')
        assert response.headers["X-Upstream"] == "yes"  # the server's headers are kept
        assert int(response.headers["Content-Length"]) == len(response.content)


async def test_a_stall_answers_late_on_virtual_time() -> None:
    transport, upstream = one_fault(FaultKind.STALL, stall_seconds=7.5)
    started = anyio.current_time()
    response = await transport.handle_async_request(request())
    assert anyio.current_time() - started == pytest.approx(7.5)
    assert response.status_code == 201
    assert json.loads(await response.aread())["id"] == 1
    assert upstream.seen == [("POST", "/api/flows/")]


async def test_a_stall_past_the_read_timeout_is_a_read_timeout() -> None:
    transport, upstream = one_fault(FaultKind.STALL, stall_seconds=100)
    started = anyio.current_time()
    with pytest.raises(httpx.ReadTimeout):
        await transport.handle_async_request(request(timeout={"read": 4.0}))
    assert anyio.current_time() - started == pytest.approx(4.0)
    assert len(upstream.seen) == 1  # the server applied it


async def test_no_fault_passes_the_inner_answer_through() -> None:
    upstream = Upstream()
    transport = FaultInjectingTransport(upstream, seed=1, script=[None])
    response = await transport.handle_async_request(request())
    assert response.status_code == 201
    assert transport.injected == {}
    assert list(transport.decisions) == [None]


# ------------------------------------------------------------------ decisions


def _decisions(seed: int, n: int, **kwargs: Any) -> list[FaultKind | None]:
    plan = FaultPlan(seed=seed, **kwargs)
    for _ in range(n):
        plan.decide(request())
    return plan.decisions


def test_the_same_seed_gives_the_same_faults() -> None:
    first = _decisions(42, 300, rate=0.3)
    assert first == _decisions(42, 300, rate=0.3)
    assert first != _decisions(43, 300, rate=0.3)
    assert set(first) == {None, *ALL_FAULTS}  # 300 requests see every kind


def test_the_rate_and_the_kinds() -> None:
    decisions = _decisions(7, 4000, rate=0.3, kinds=["503", FaultKind.STALL])
    faults = [d for d in decisions if d is not None]
    assert 0.27 < len(faults) / len(decisions) < 0.33
    assert set(faults) == {FaultKind.UNAVAILABLE, FaultKind.STALL}
    assert _decisions(7, 100, rate=0.0) == [None] * 100
    assert None not in _decisions(7, 100, rate=1.0)


def test_the_counter_counts_what_was_injected() -> None:
    plan = FaultPlan(seed=3, rate=0.5)
    for _ in range(500):
        plan.decide(request())
    assert sum(plan.injected.values()) == sum(d is not None for d in plan.decisions)
    for kind, count in plan.injected.items():
        assert plan.decisions.count(kind) == count
    assert plan.requests == 500
    assert plan.spared == 0


def test_a_script_comes_first_then_the_rate() -> None:
    script = [FaultKind.UNAVAILABLE, None, "stall", FaultKind.EMPTY_BODY]
    decisions = _decisions(5, 200, script=script, rate=1.0)
    assert decisions[:4] == [FaultKind.UNAVAILABLE, None, FaultKind.STALL, FaultKind.EMPTY_BODY]
    assert None not in decisions[4:]
    assert _decisions(5, 10, script=["502"]) == [FaultKind.BAD_GATEWAY] + [None] * 9


def test_spared_requests_are_never_touched_and_draw_nothing() -> None:
    def spare(r: httpx.Request) -> bool:
        return r.method == "GET"

    plan = FaultPlan(seed=11, rate=1.0, spare=spare)
    for i in range(200):
        method = "GET" if i % 3 == 0 else "POST"
        assert (plan.decide(request(method)) is None) == (method == "GET")
    assert plan.spared == 67
    assert plan.requests == 200
    # The decisions of the others are those of a run without the spared requests.
    assert plan.decisions == _decisions(11, 133, rate=1.0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rate": 1.5},
        {"rate": -0.1},
        {"rate": 0.3, "kinds": []},
        {"retry_after": -1},
        {"stall_seconds": float("inf")},
        {"script": ["no-such-fault"]},
    ],
)
def test_bad_arguments(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        FaultPlan(seed=0, **kwargs)


async def test_opening_and_closing_reach_the_inner_transport() -> None:
    upstream = Upstream()
    async with FaultInjectingTransport(upstream, seed=0) as transport:
        assert upstream.opened == 1
        await transport.handle_async_request(request())
    assert upstream.closed == 1
    with SyncFaultInjectingTransport(upstream, seed=0) as sync:
        assert upstream.opened == 2
        sync.handle_request(request())
    assert upstream.closed == 2


# ------------------------------------------------------------------ the sync twin


@pytest.mark.parametrize("kind", list(FaultKind))
def test_the_sync_twin_injects_each_kind_the_same_way(kind: FaultKind) -> None:
    slept: list[float] = []
    upstream = Upstream()
    transport = SyncFaultInjectingTransport(
        upstream,
        seed=0,
        script=[kind],
        stall_seconds=2,
        retry_after=3,
        wall_clock=lambda: WALL,
        sleep=slept.append,
    )
    try:
        response = transport.handle_request(request())
    except httpx.TransportError as exc:
        outcome: object = type(exc)
    else:
        outcome = (response.status_code, response.read())
    assert len(upstream.seen) == (1 if kind.reaches_server else 0)
    assert slept == ([2.0] if kind is FaultKind.STALL else [])
    assert transport.injected == {kind: 1}
    assert outcome == _async_outcome(kind)


def _async_outcome(kind: FaultKind) -> object:
    async def run() -> object:
        transport, _ = one_fault(kind, stall_seconds=2, retry_after=3, wall_clock=lambda: WALL)
        try:
            response = await transport.handle_async_request(request())
        except httpx.TransportError as exc:
            return type(exc)
        return (response.status_code, await response.aread())

    result: object = anyio.run(run, backend="trio")
    return result


def test_the_sync_and_async_transports_decide_alike() -> None:
    sync = SyncFaultInjectingTransport(Upstream(), seed=9, rate=0.4, sleep=lambda _: None)
    for _ in range(100):
        with contextlib.suppress(httpx.TransportError):
            sync.handle_request(request())
    assert list(sync.decisions) == _decisions(9, 100, rate=0.4)


# ------------------------------------------------------------------ through the HTTP client


def fast_policy() -> RetryPolicy:
    return RetryPolicy(jitter_factor=0, backoff_base=0.5, uncounted_delay_floor=0.25)


async def test_the_client_waits_what_a_429_asks(anyio_backend: Any) -> None:
    upstream = Upstream()
    transport = FaultInjectingTransport(
        upstream, seed=0, script=[FaultKind.RATE_LIMITED_SECONDS], retry_after=7
    )
    async with PrefectHttpxAsyncClient(
        transport=transport, retry_policy=fast_policy(), settings=ClientSettings()
    ) as client:
        started = anyio.current_time()
        response = await client.post(URL, json={})
        assert anyio.current_time() - started == pytest.approx(7)
    assert response.status_code == 201
    assert isinstance(response, PrefectResponse)
    assert response.attempts == 2


async def test_the_client_waits_for_a_retry_after_date() -> None:
    # The client reads the wall clock for the date; the transport wrote it from the same.
    upstream = Upstream()
    transport = FaultInjectingTransport(
        upstream, seed=0, script=[FaultKind.RATE_LIMITED_DATE], retry_after=5
    )
    async with PrefectHttpxAsyncClient(
        transport=transport, retry_policy=fast_policy(), settings=ClientSettings()
    ) as client:
        started = anyio.current_time()
        response = await client.post(URL, json={})
        waited = anyio.current_time() - started
    assert response.status_code == 201
    assert 4 < waited <= 6  # whole seconds, counted from a wall clock that moved on


@pytest.mark.parametrize(
    ("kind", "safe_outcome", "unsafe_outcome", "applied_unsafe"),
    [
        (FaultKind.RATE_LIMITED_SECONDS, 201, 201, 1),
        (FaultKind.RATE_LIMITED_DATE, 201, 201, 1),
        (FaultKind.BAD_GATEWAY, 201, PrefectHTTPStatusError, 1),
        (FaultKind.UNAVAILABLE, 201, 201, 1),
        (FaultKind.MAINTENANCE, 201, 201, 1),
        (FaultKind.RESET_BEFORE_SEND, 201, 201, 1),
        (FaultKind.RESET_AFTER_SEND, 201, OutcomeUnknownError, 1),
        (FaultKind.READ_TIMEOUT, 201, OutcomeUnknownError, 1),
        (FaultKind.STALL, 201, 201, 1),
        (FaultKind.HTML_BODY, 200, 200, 0),
        (FaultKind.EMPTY_BODY, 200, 200, 1),
        (FaultKind.TRUNCATED_JSON, 200, 200, 1),
    ],
)
async def test_the_http_client_reacts_to_each_kind(
    kind: FaultKind, safe_outcome: object, unsafe_outcome: object, applied_unsafe: int
) -> None:
    """A safe POST is re-sent after any lost answer, an unsafe one never is (how often the
    server applied it is what decides). A prior answer makes ConnectError retryable."""
    for idempotent, expected in ((True, safe_outcome), (False, unsafe_outcome)):
        upstream = Upstream()
        transport = FaultInjectingTransport(
            upstream, seed=0, script=[None, kind], stall_seconds=3, retry_after=1
        )
        async with PrefectHttpxAsyncClient(
            transport=transport, retry_policy=fast_policy(), settings=ClientSettings()
        ) as client:
            await client.get("http://api.test/api/health")  # a first answer arrives
            try:
                response = await client.post(URL, json={}, extensions={"idempotent": idempotent})
            except Exception as exc:
                outcome: object = type(exc)
            else:
                outcome = response.status_code
        posts = [seen for seen in upstream.seen if seen[0] == "POST"]
        assert outcome == expected, (idempotent, outcome)
        if idempotent and kind in (
            FaultKind.BAD_GATEWAY,
            FaultKind.RESET_AFTER_SEND,
            FaultKind.READ_TIMEOUT,
        ):
            assert len(posts) == 2  # re-sent: the server's dedupe makes this one object
        else:
            assert len(posts) == applied_unsafe


def test_the_sync_http_client_reacts_alike() -> None:
    upstream = Upstream()
    transport = SyncFaultInjectingTransport(
        upstream,
        seed=0,
        script=[None, FaultKind.RESET_AFTER_SEND, FaultKind.UNAVAILABLE],
        sleep=lambda _: None,
    )
    with PrefectHttpxSyncClient(
        transport=transport, retry_policy=fast_policy(), settings=ClientSettings()
    ) as client:
        client._timer = FakeTimer()
        client.get("http://api.test/api/health")
        with pytest.raises(OutcomeUnknownError):
            client.post(URL, json={})
        assert client.post(URL, json={}, extensions={"idempotent": True}).status_code == 201
    assert list(transport.decisions) == [
        None,
        FaultKind.RESET_AFTER_SEND,
        FaultKind.UNAVAILABLE,
        None,
    ]
