"""The one send loop, through both clients: backpressure, the busy budget, idempotency,
deadlines that cover everything a call does, closing, and CSRF clock skew.

Async tests run on asyncio and trio, on virtual time (see conftest).
"""

from __future__ import annotations

import random
import threading
from datetime import datetime, timedelta, timezone
from typing import Any

import anyio
import httpx
import pytest

from prefect_trio_client._backpressure import AdaptiveLimit
from prefect_trio_client.base import (
    PrefectHttpxAsyncClient,
    PrefectHttpxSyncClient,
    RetryEvent,
    RetryPolicy,
)
from prefect_trio_client.exceptions import (
    ClientClosedError,
    OutcomeUnknownError,
    PrefectHTTPStatusError,
)
from tests.http_helpers import Script, ok, status

pytestmark = pytest.mark.anyio

NO_JITTER = RetryPolicy(jitter_factor=0)


class LockedServer:
    """A server with one database lock, as a SQLite-backed Prefect server has.

    Each request needs the lock for `service` seconds; a request that cannot get it
    within `busy_timeout` is answered 503 (SQLite's "database is locked"). Counts
    requests, 503s, and the most requests it ever held at once.
    """

    def __init__(self, *, service: float = 0.01, busy_timeout: float = 0.03) -> None:
        self.service = service
        self.busy_timeout = busy_timeout
        self.lock = anyio.Lock()
        self.requests = 0
        self.busy = 0
        self.stored: list[str] = []
        self.inside = 0
        self.peak_inside = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        self.inside += 1
        self.peak_inside = max(self.peak_inside, self.inside)
        try:
            with anyio.move_on_after(self.busy_timeout):
                async with self.lock:
                    await anyio.sleep(self.service)
                    self.stored.append(request.content.decode())
                    return httpx.Response(201, json={"ok": True})
            self.busy += 1
            return httpx.Response(503, json={"exception_message": "Service Unavailable"})
        finally:
            self.inside -= 1


def async_client(
    transport: Any, *, backpressure: Any = None, policy: RetryPolicy | None = NO_JITTER, **kw: Any
) -> PrefectHttpxAsyncClient:
    if backpressure is not None:
        kw["backpressure"] = backpressure
    return PrefectHttpxAsyncClient(
        transport=transport, base_url="http://prefect.test/api", retry_policy=policy, **kw
    )


async def run_writers(client: PrefectHttpxAsyncClient, count: int) -> list[BaseException]:
    failures: list[BaseException] = []

    async def write(i: int) -> None:
        try:
            await client.post("/flow_runs/", content=f"run-{i}".encode())
        except Exception as exc:
            failures.append(exc)

    async with anyio.create_task_group() as tg:
        for i in range(count):
            tg.start_soon(write, i)
    return failures


# --- backpressure -----------------------------------------------------------------------


async def test_a_locked_server_loses_nothing_and_sees_a_bounded_writer_count() -> None:
    server = LockedServer()
    limit = AdaptiveLimit(initial=4, maximum=16)
    async with async_client(httpx.MockTransport(server), backpressure=limit) as client:
        failures = await run_writers(client, 64)
    assert failures == []
    assert sorted(server.stored) == sorted(f"run-{i}" for i in range(64))
    assert server.peak_inside <= 16
    assert limit.snapshot().in_flight == 0


async def test_backpressure_spares_the_server_the_burst() -> None:
    """Same writers, same server: with the limit the server answers far fewer 503s."""
    unguarded = LockedServer()
    policy = RetryPolicy(rng=random.Random(7))
    async with async_client(httpx.MockTransport(unguarded), policy=policy) as client:
        client._loop.limit = None  # backpressure off
        await run_writers(client, 64)
    guarded = LockedServer()
    limit = AdaptiveLimit(initial=4, maximum=16)
    policy = RetryPolicy(rng=random.Random(7))
    async with async_client(
        httpx.MockTransport(guarded), policy=policy, backpressure=limit
    ) as client:
        assert await run_writers(client, 64) == []
    assert guarded.peak_inside < unguarded.peak_inside
    assert guarded.busy * 4 < unguarded.busy
    assert guarded.requests < unguarded.requests


async def test_backpressure_is_on_by_default_and_off_by_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = async_client(Script([ok()]).transport())
    assert isinstance(client.backpressure, AdaptiveLimit)
    assert client.backpressure.maximum == 8  # the connections kept alive
    monkeypatch.setenv("PREFECT_CLIENT_BACKPRESSURE_ENABLED", "false")
    assert async_client(Script([ok()]).transport()).backpressure is None
    monkeypatch.setenv("PREFECT_CLIENT_BACKPRESSURE_ENABLED", "true")
    monkeypatch.setenv("PREFECT_CLIENT_BACKPRESSURE_MAX", "3")
    limited = async_client(Script([ok()]).transport()).backpressure
    assert limited is not None
    assert limited.maximum == 3


async def test_prefect_cloud_gets_no_client_side_limit() -> None:
    client = PrefectHttpxAsyncClient(
        transport=Script([ok()]).transport(), base_url="https://api.prefect.cloud/api/accounts/a"
    )
    assert client.backpressure is None


class Gate:
    """A transport that holds every request until released, to fill the slots."""

    def __init__(self) -> None:
        self.release = anyio.Event()
        self.seen = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen += 1
        await self.release.wait()
        return httpx.Response(200, json=True)


async def test_a_call_cancelled_while_waiting_for_a_slot_gives_its_turn_back() -> None:
    gate = Gate()
    limit = AdaptiveLimit(initial=1, maximum=1)
    async with (
        async_client(httpx.MockTransport(gate), backpressure=limit) as client,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(client.get, "/a")
        await anyio.wait_all_tasks_blocked()
        with anyio.CancelScope() as waiting:
            tg.start_soon(lambda: _cancel_later(waiting))
            await client.get("/b")  # waits for the slot, then is cancelled
        assert waiting.cancelled_caught
        assert limit.snapshot().waiting == 0
        tg.start_soon(client.get, "/c")
        await anyio.wait_all_tasks_blocked()
        assert limit.snapshot().waiting == 1
        gate.release.set()
    assert gate.seen == 2  # /a and /c; /b was never sent
    assert limit.snapshot().in_flight == 0


async def _cancel_later(scope: anyio.CancelScope) -> None:
    await anyio.wait_all_tasks_blocked()
    scope.cancel()


@pytest.mark.parametrize(
    ("policy", "extensions", "named"),
    [
        (RetryPolicy(jitter_factor=0, timeout=2), {}, r"\(PREFECT_CLIENT_RETRY_TIMEOUT\)"),
        (NO_JITTER, {"retry_timeout": 2}, r"\(the 'retry_timeout' request extension\)"),
    ],
    ids=["setting", "extension"],
)
async def test_the_deadline_bounds_the_wait_for_a_slot(
    policy: RetryPolicy, extensions: dict[str, Any], named: str
) -> None:
    """The error names what set the deadline: the setting, or the request's extension."""
    gate = Gate()
    limit = AdaptiveLimit(initial=1, maximum=1)
    async with (
        async_client(httpx.MockTransport(gate), backpressure=limit, policy=policy) as client,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(client.get, "/a")
        await anyio.wait_all_tasks_blocked()
        start = anyio.current_time()
        with pytest.raises(httpx.PoolTimeout, match=r"2s retry deadline " + named):
            await client.get("/b", extensions=extensions)
        assert anyio.current_time() - start == pytest.approx(2.0)
        gate.release.set()
    assert gate.seen == 1


async def test_aclose_ends_calls_waiting_for_a_slot() -> None:
    gate = Gate()
    limit = AdaptiveLimit(initial=1, maximum=1)
    client = async_client(httpx.MockTransport(gate), backpressure=limit)
    errors: list[BaseException] = []

    async def waiting_call() -> None:
        try:
            await client.get("/b")
        except ClientClosedError as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(gate.__call__, httpx.Request("GET", "http://x"))  # keeps gate busy
        async with client:
            tg.start_soon(client.get, "/a")
            await anyio.wait_all_tasks_blocked()
            tg.start_soon(waiting_call)
            await anyio.wait_all_tasks_blocked()
            assert limit.snapshot().waiting == 1
            await client.aclose()
            await anyio.wait_all_tasks_blocked()
            assert len(errors) == 1
            assert "backpressure" in str(errors[0])
            gate.release.set()
            tg.cancel_scope.cancel()
    assert limit.snapshot().waiting == 0


# --- the busy budget --------------------------------------------------------------------


async def test_a_busy_server_is_waited_for_until_the_deadline_not_max_retries() -> None:
    script = Script([status(503)] * 20 + [ok()])
    events: list[RetryEvent] = []
    policy = RetryPolicy(jitter_factor=0, max_retries=2, backoff_max=4.0)
    async with async_client(script.transport(), policy=policy, on_retry=events.append) as client:
        response = await client.get("/health")
    assert response.status_code == 200
    assert script.calls == 21
    assert not any(e.counted for e in events)
    assert max(e.delay for e in events) == 1.0  # paced by the shared limit: 1 s at most


@pytest.mark.parametrize(("paced", "longest"), [(True, 1.0), (False, 4.0)])
async def test_busy_answers_back_off_at_most_a_second_under_the_shared_limit(
    paced: bool, longest: float
) -> None:
    """The shared limit halves what is in flight on every busy answer, so a paced call
    re-sends within `paced_busy_backoff_max`; a client without the limit doubles up to
    `backoff_max`."""
    script = Script([status(503)] * 8 + [ok()])
    events: list[RetryEvent] = []
    policy = RetryPolicy(jitter_factor=0, backoff_max=4.0)
    async with PrefectHttpxAsyncClient(
        transport=script.transport(),
        base_url="http://prefect.test/api",
        retry_policy=policy,
        on_retry=events.append,
        backpressure=AdaptiveLimit() if paced else None,
    ) as client:
        assert (await client.get("/health")).status_code == 200
    assert [e.delay for e in events][:4] == [0.5, 1.0, min(2.0, longest), min(4.0, longest)]
    assert max(e.delay for e in events) == longest


async def test_busy_answers_stop_at_the_deadline() -> None:
    script = Script([status(503)])
    policy = RetryPolicy(jitter_factor=0, timeout=10.0, backoff_max=2.0)
    async with async_client(script.transport(), policy=policy) as client:
        start = anyio.current_time()
        with pytest.raises(PrefectHTTPStatusError) as info:
            await client.get("/health")
        elapsed = anyio.current_time() - start
    assert elapsed <= 10.0
    assert info.value.status_code == 503
    assert info.value.attempts == script.calls


@pytest.mark.parametrize("maintenance", [True, False])
async def test_retry_after_zero_is_floored_and_bounded(maintenance: bool) -> None:
    headers = {"Retry_After": "0"}
    if maintenance:
        headers["Prefect_Maintenance"] = "true"
    script = Script([status(503, **headers)])
    policy = RetryPolicy(jitter_factor=0, timeout=1000.0, max_uncounted_retries=50)
    async with async_client(script.transport(), policy=policy) as client:
        start = anyio.current_time()
        with pytest.raises(PrefectHTTPStatusError):
            await client.get("/health")
        elapsed = anyio.current_time() - start
    assert script.calls == 51  # bounded in count
    assert elapsed == pytest.approx(50 * 0.25)  # and no delay under the floor


# --- the 429 gate -----------------------------------------------------------------------


@pytest.mark.parametrize("shared_limit", [True, False])
async def test_after_a_429_new_requests_wait_for_the_gate(shared_limit: bool) -> None:
    sent_at: list[float] = []

    def server(request: httpx.Request) -> httpx.Response:
        sent_at.append(anyio.current_time())
        if len(sent_at) == 1:
            return httpx.Response(429, headers={"Retry-After": "10"}, json={})
        return httpx.Response(200, json=True)

    limit = AdaptiveLimit() if shared_limit else None
    async with (
        async_client(httpx.MockTransport(server), backpressure=limit) as client,
        anyio.create_task_group() as tg,
    ):
        if not shared_limit:
            client._loop.limit = None
        start = anyio.current_time()
        tg.start_soon(client.get, "/first")
        await anyio.sleep(1)
        for _ in range(5):  # new requests, one second after the 429
            tg.start_soon(client.get, "/later")
    # Nobody was sent between the 429 and its Retry-After; then all of them went.
    assert len(sent_at) == 7
    assert [t - start for t in sent_at[1:]] == pytest.approx([10.0] * 6)


async def test_a_gate_past_the_deadline_fails_the_call_at_once() -> None:
    def server(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "60"}, json={})

    async with async_client(httpx.MockTransport(server)) as client:
        with pytest.raises(PrefectHTTPStatusError):
            await client.get("/first", extensions={"retry_timeout": 5})
        start = anyio.current_time()
        with pytest.raises(httpx.PoolTimeout, match="Retry-After"):
            await client.get("/second", extensions={"retry_timeout": 5})
        assert anyio.current_time() == start


# --- idempotency ------------------------------------------------------------------------

LOST_ANSWERS = [
    httpx.ReadError("connection reset after the request was sent"),
    httpx.ReadTimeout("no answer"),
    httpx.RemoteProtocolError("server disconnected without sending a response"),
]


@pytest.mark.parametrize("lost", LOST_ANSWERS, ids=lambda e: type(e).__name__)
async def test_an_unsafe_post_whose_answer_was_lost_is_not_sent_again(lost: Exception) -> None:
    script = Script([lost, ok()])
    async with async_client(script.transport()) as client:
        with pytest.raises(OutcomeUnknownError) as info:
            await client.post("/logs/?token=secret-q", json=[{"message": "x"}])
    assert script.calls == 1
    assert info.value.__cause__ is lost
    message = str(info.value)
    assert "POST http://prefect.test/api/logs/" in message
    assert "outcome is unknown" in message
    assert "secret-q" not in message


@pytest.mark.parametrize("lost", LOST_ANSWERS, ids=lambda e: type(e).__name__)
async def test_a_post_declared_idempotent_is_sent_again(lost: Exception) -> None:
    script = Script([lost, ok()])
    async with async_client(script.transport()) as client:
        response = await client.post("/flows/filter", json={}, extensions={"idempotent": True})
    assert response.status_code == 200
    assert script.calls == 2


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
async def test_idempotent_methods_are_sent_again(method: str) -> None:
    script = Script([httpx.ReadError("reset"), ok()])
    async with async_client(script.transport()) as client:
        response = await client.request(method, "/variables/x")
    assert response.status_code == 200
    assert script.calls == 2


@pytest.mark.parametrize("lost", [httpx.ConnectTimeout("x"), httpx.WriteError("x")])
async def test_an_unsafe_post_that_never_reached_the_server_is_sent_again(
    lost: Exception,
) -> None:
    script = Script([ok(), lost, ok()])
    async with async_client(script.transport()) as client:
        await client.get("/health")  # connected once, so ConnectError-like errors retry
        response = await client.post("/logs/", json=[])
    assert response.status_code == 200
    assert script.calls == 3


@pytest.mark.parametrize("code", [502, 504])
async def test_an_unsafe_post_answered_by_a_failing_proxy_is_not_sent_again(code: int) -> None:
    script = Script([status(code), ok()])
    policy = RetryPolicy(jitter_factor=0, retry_codes=frozenset({408, 429, 502, 503, 504}))
    async with async_client(script.transport(), policy=policy) as client:
        with pytest.raises(PrefectHTTPStatusError) as info:
            await client.post("/logs/", json=[])
    assert script.calls == 1
    assert info.value.status_code == code
    notes = getattr(info.value, "__notes__", [])
    if notes:
        assert "outcome is unknown" in notes[0]


async def test_a_busy_answer_to_an_unsafe_post_is_retried() -> None:
    """A 503 says the server did not apply the request: safe to send again."""
    script = Script([status(503), status(429), ok()])
    async with async_client(script.transport()) as client:
        response = await client.post("/logs/", json=[])
    assert response.status_code == 200
    assert script.calls == 3


# --- server errors (500) ----------------------------------------------------------------

SAFE_REQUESTS = [
    ("GET", "/flow_runs/00000000-0000-0000-0000-000000000001", None),
    ("POST", "/flow_runs/filter", True),
    ("POST", "/flow_runs/", True),  # a write the server dedupes (an idempotency key)
]


@pytest.mark.parametrize(("method", "path", "idempotent"), SAFE_REQUESTS)
@pytest.mark.parametrize("code", [500, 504])
async def test_a_server_error_to_a_safe_request_is_sent_again(
    method: str, path: str, idempotent: bool | None, code: int
) -> None:
    """A restarting database makes the API answer 500 for a while: a request that cannot
    be applied twice waits it out (the drill of issue 16 lost runs to this)."""
    script = Script([status(code), status(code), ok()])
    events: list[RetryEvent] = []
    extensions = {} if idempotent is None else {"idempotent": idempotent}
    async with async_client(script.transport(), on_retry=events.append) as client:
        response = await client.request(method, path, json={}, extensions=extensions)
    assert response.status_code == 200
    assert response.attempts == 3
    assert script.calls == 3
    assert [(e.status_code, e.counted) for e in events] == [(code, True)] * 2


@pytest.mark.parametrize("code", [500, 504])
async def test_a_server_error_to_an_unsafe_request_is_not_sent_again(code: int) -> None:
    script = Script([status(code), ok()])
    async with async_client(script.transport()) as client:
        with pytest.raises(PrefectHTTPStatusError) as info:
            await client.post("/logs/", json=[])
    assert script.calls == 1
    assert info.value.status_code == code
    notes = getattr(info.value, "__notes__", [])
    if hasattr(info.value, "add_note"):  # Python 3.11+
        assert "not safe to send twice" in notes[0]
        assert "outcome is unknown" in notes[0]


async def test_a_persistent_server_error_fails_clearly_within_max_retries() -> None:
    script = Script([status(500)])
    policy = RetryPolicy(jitter_factor=0, max_retries=3, timeout=300.0)
    async with async_client(script.transport(), policy=policy) as client:
        start = anyio.current_time()
        with pytest.raises(PrefectHTTPStatusError) as info:
            await client.get("/flow_runs/x")
        elapsed = anyio.current_time() - start
    assert script.calls == 4  # max_retries counted re-sends, not until the deadline
    assert elapsed == pytest.approx(0.5 + 1 + 2)  # the backoff, nothing more
    assert info.value.status_code == 500
    assert info.value.attempts == 4
    if hasattr(info.value, "add_note"):
        notes = getattr(info.value, "__notes__", [])
        assert "gave up retrying: retries exhausted" in notes[0]


async def test_a_persistent_server_error_fails_at_the_calls_deadline() -> None:
    script = Script([status(500)])
    policy = RetryPolicy(jitter_factor=0, max_retries=100, backoff_max=4.0)
    async with async_client(script.transport(), policy=policy) as client:
        start = anyio.current_time()
        with pytest.raises(PrefectHTTPStatusError) as info:
            await client.post(
                "/flows/filter", json={}, extensions={"retry_timeout": 10, "idempotent": True}
            )
        elapsed = anyio.current_time() - start
    assert elapsed <= 10.0
    assert script.calls == 5  # 0.5 + 1 + 2 + 4 s of backoff; the next 4 s would pass 10 s
    assert info.value.status_code == 500
    assert info.value.attempts == script.calls
    if hasattr(info.value, "add_note"):
        notes = getattr(info.value, "__notes__", [])
        assert "10s retry deadline" in notes[0]


async def test_a_bad_idempotent_extension_is_refused() -> None:
    async with async_client(Script([ok()]).transport()) as client:
        with pytest.raises(ValueError, match="'idempotent' request extension"):
            await client.post("/x", extensions={"idempotent": "yes"})


# --- everything a call does lives under its deadline ------------------------------------


def csrf_token_body(*, lifetime: float, server_skew: float = 0.0) -> dict[str, str]:
    server_now = datetime.now(timezone.utc) + timedelta(seconds=server_skew)
    stamp = server_now.isoformat().replace("+00:00", "Z")
    expiration = (server_now + timedelta(seconds=lifetime)).isoformat().replace("+00:00", "Z")
    return {
        "token": "t0k3n",
        "client": "c",
        "created": stamp,
        "updated": stamp,
        "expiration": expiration,
    }


async def test_the_csrf_token_fetch_runs_under_the_calls_deadline() -> None:
    def server(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/csrf-token"):
            return httpx.Response(503, headers={"Retry-After": "5"}, json={})
        return httpx.Response(200, json=True)

    async with async_client(httpx.MockTransport(server), enable_csrf_support=True) as client:
        start = anyio.current_time()
        with pytest.raises(PrefectHTTPStatusError) as info:
            await client.post("/flows/", json={}, extensions={"retry_timeout": 2})
        assert anyio.current_time() - start <= 2.0
    assert info.value.status_code == 503
    assert info.value.url.path.endswith("/csrf-token")


async def test_a_call_waiting_for_another_calls_csrf_fetch_keeps_its_own_deadline() -> None:
    token_release = anyio.Event()

    async def server(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/csrf-token"):
            await token_release.wait()
            return httpx.Response(200, json=csrf_token_body(lifetime=3600))
        return httpx.Response(200, json=True)

    async with (
        async_client(httpx.MockTransport(server), enable_csrf_support=True) as client,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(client.post, "/flows/")  # holds the CSRF lock while it fetches
        await anyio.wait_all_tasks_blocked()
        start = anyio.current_time()
        named = r"deadline \(the 'retry_timeout' request extension\) .* CSRF token"
        with pytest.raises(httpx.PoolTimeout, match=named):
            await client.post("/flows/", extensions={"retry_timeout": 3})
        assert anyio.current_time() - start == pytest.approx(3.0)
        token_release.set()


async def test_a_server_clock_far_behind_does_not_make_every_token_stale() -> None:
    fetches = 0

    def server(request: httpx.Request) -> httpx.Response:
        nonlocal fetches
        if request.url.path.endswith("/csrf-token"):
            fetches += 1
            # The server's clock is two hours behind ours: by our clock, expired already.
            return httpx.Response(200, json=csrf_token_body(lifetime=3600, server_skew=-7200))
        assert request.headers["Prefect-Csrf-Token"] == "t0k3n"
        return httpx.Response(200, json=True)

    async with async_client(httpx.MockTransport(server), enable_csrf_support=True) as client:
        async with anyio.create_task_group() as tg:
            for _ in range(50):
                tg.start_soon(client.post, "/flows/")
        for _ in range(10):
            await anyio.sleep(60)
            await client.post("/flows/")
    assert fetches == 1


# --- closing ----------------------------------------------------------------------------


async def test_a_retry_decided_after_aclose_raises_client_closed_at_once() -> None:
    answer = anyio.Event()

    async def server(request: httpx.Request) -> httpx.Response:
        await answer.wait()
        return httpx.Response(503, headers={"Retry-After": "20"}, json={})

    client = async_client(httpx.MockTransport(server))
    errors: list[BaseException] = []

    async def call() -> None:
        try:
            await client.get("/health")
        except ClientClosedError as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(call)
        await anyio.wait_all_tasks_blocked()
        await client.aclose()  # the request is in flight
        start = anyio.current_time()
        answer.set()
    assert anyio.current_time() == start
    assert len(errors) == 1
    assert isinstance(errors[0], ClientClosedError)


# --- the sync client shares the loop ----------------------------------------------------


def test_sync_unsafe_post_with_a_lost_answer_is_not_sent_again() -> None:
    script = Script([httpx.ReadError("reset"), ok()])
    with PrefectHttpxSyncClient(
        transport=script.transport(), base_url="http://prefect.test/api", retry_policy=NO_JITTER
    ) as client:
        with pytest.raises(OutcomeUnknownError):
            client.post("/logs/", json=[])
        assert script.calls == 1
        client.post("/logs/", json=[], extensions={"idempotent": True})
    assert script.calls == 2


def test_sync_threads_share_one_limit_and_close_wakes_waiters() -> None:
    entered = threading.Semaphore(0)
    release = threading.Event()

    def server(request: httpx.Request) -> httpx.Response:
        entered.release()
        release.wait(10)
        return httpx.Response(200, json=True)

    limit = AdaptiveLimit(initial=2, maximum=2)
    client = PrefectHttpxSyncClient(
        transport=httpx.MockTransport(server),
        base_url="http://prefect.test/api",
        backpressure=limit,
    )
    outcomes: list[object] = []

    def call() -> None:
        try:
            outcomes.append(client.get("/x").status_code)
        except ClientClosedError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=call) for _ in range(5)]
    for thread in threads:
        thread.start()
    for _ in range(2):
        assert entered.acquire(timeout=10)
    # Two requests hold the slots: the other three wait in line, not at the server.
    while limit.snapshot().waiting < 3:
        threading.Event().wait(0.001)
    assert limit.snapshot().in_flight == 2
    client.close()
    release.set()
    for thread in threads:
        thread.join(10)
    assert sum(isinstance(o, ClientClosedError) for o in outcomes) == 3
    assert limit.snapshot().waiting == 0
