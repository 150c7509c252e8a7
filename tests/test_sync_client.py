"""PrefectHttpxSyncClient: the scenarios of the async suite that apply to blocking code.

Retry sleeps go through the client's timer; `FakeTimer` advances virtual time instead of
blocking, except in the test that closes the client from another thread.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from prefect_trio_client.base import PrefectHttpxSyncClient, RetryEvent, RetryPolicy
from prefect_trio_client.exceptions import (
    ClientClosedError,
    ObjectNotFound,
    PrefectHTTPStatusError,
)
from tests.http_helpers import CsrfServer, FakeTimer, Script, ok, status

NO_JITTER = RetryPolicy(jitter_factor=0)


def make_client(
    transport: httpx.BaseTransport, *, policy: RetryPolicy | None = NO_JITTER, **kwargs: Any
) -> tuple[PrefectHttpxSyncClient, FakeTimer, list[RetryEvent]]:
    events: list[RetryEvent] = []
    client = PrefectHttpxSyncClient(
        transport=transport,
        base_url="http://prefect.test/api",
        retry_policy=policy,
        on_retry=events.append,
        **kwargs,
    )
    timer = FakeTimer()
    client._timer = timer
    return client, timer, events


@pytest.mark.parametrize("code", [408, 429, 502, 503])
def test_retried_statuses(code: int) -> None:
    script = Script([status(code), status(code), ok()])
    client, timer, events = make_client(script.transport())
    with client:
        response = client.get("/health")
    assert response.status_code == 200
    assert response.attempts == 3
    assert timer.slept == [0.5, 1.0]
    assert [e.status_code for e in events] == [code, code]


def test_not_found_is_raised_without_retry() -> None:
    script = Script([status(404), ok()])
    client, timer, _ = make_client(script.transport())
    with client, pytest.raises(ObjectNotFound):
        client.get("/flows/x")
    assert script.calls == 1
    assert timer.slept == []


def test_retryable_exception_then_success() -> None:
    script = Script([httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("eof"), ok()])
    client, timer, _ = make_client(script.transport())
    with client:
        assert client.get("/health").status_code == 200
    assert timer.slept == [0.5, 1.0]


def test_connect_error_only_after_a_response() -> None:
    script = Script([httpx.ConnectError("refused"), ok()])
    client, _, _ = make_client(script.transport())
    with client:
        with pytest.raises(httpx.ConnectError):
            client.get("/health")
        assert script.calls == 1
    script = Script([ok(), httpx.ConnectError("refused"), ok()])
    client, _, _ = make_client(script.transport())
    with client:
        client.get("/health")
        assert client.get("/health").status_code == 200
    assert script.calls == 3


def test_max_retries_then_the_status_is_raised() -> None:
    script = Script([status(502)])
    client, _, _ = make_client(script.transport(), policy=RetryPolicy(max_retries=2))
    with client, pytest.raises(PrefectHTTPStatusError) as info:
        client.get("/health")
    assert info.value.attempts == 3
    assert script.calls == 3


def test_retry_after_is_honoured_and_capped() -> None:
    script = Script([status(429, Retry_After="7"), status(429, Retry_After="500"), ok()])
    client, timer, _ = make_client(script.transport())
    with client:
        client.get("/health")
    assert timer.slept == [7.0, 60.0]


def test_deadline_stops_retrying_at_once() -> None:
    script = Script([status(503)])
    client, timer, _ = make_client(
        script.transport(), policy=RetryPolicy(jitter_factor=0, timeout=2.0)
    )
    with client, pytest.raises(PrefectHTTPStatusError) as info:
        client.get("/health")
    assert timer.slept == [0.5, 1.0]
    assert info.value.attempts == 3


def test_per_request_deadline() -> None:
    script = Script([httpx.ReadError("reset")])
    client, timer, _ = make_client(script.transport())
    with client, pytest.raises(httpx.ReadError):
        client.get("/health", extensions={"retry_timeout": 0.5})
    assert timer.slept == [0.5]


def test_maintenance_is_not_counted() -> None:
    maintenance = status(503, Prefect_Maintenance="true")
    script = Script([maintenance, maintenance, maintenance, ok()])
    client, _, _ = make_client(script.transport(), policy=RetryPolicy(max_retries=0))
    with client:
        assert client.get("/health").status_code == 200


def test_close_from_another_thread_wakes_a_sleeping_retry() -> None:
    script = Script([status(503, Retry_After="30")])
    sleeping = threading.Event()
    client = PrefectHttpxSyncClient(
        transport=script.transport(),
        base_url="http://prefect.test/api",
        on_retry=lambda event: sleeping.set(),
    )
    errors: list[BaseException] = []

    def call() -> None:
        try:
            client.get("/health")
        except ClientClosedError as exc:
            errors.append(exc)

    worker = threading.Thread(target=call)
    worker.start()
    assert sleeping.wait(10)
    client.close()
    worker.join(10)
    assert not worker.is_alive()
    assert len(errors) == 1
    assert "closed while a request waited to retry" in str(errors[0])
    with pytest.raises(ClientClosedError):
        client.get("/health")


def test_csrf_single_fetch_for_twenty_concurrent_threads() -> None:
    server = CsrfServer()
    client, _, _ = make_client(server.sync_transport(), enable_csrf_support=True)
    with client, ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(lambda i: client.post("/flows/", json={"i": i}), range(20)))
    assert all(r.status_code == 200 for r in results)
    assert server.fetches == 1
    assert server.rejected == []


def test_csrf_refresh_on_rejection_without_sleeping() -> None:
    server = CsrfServer()
    client, timer, _ = make_client(server.sync_transport(), enable_csrf_support=True)
    with client:
        client.post("/flows/")
        server.tokens[str(client._csrf.client_id)] = "rotated"
        assert client.post("/flows/").attempts == 1
    assert server.fetches == 2
    assert timer.slept == []


class _JumpingTimer(FakeTimer):
    """A clock that jumps 10 s on every reading after the first: a call's deadline has
    passed by the time it asks for the CSRF lock."""

    def now(self) -> float:
        value = self.now_value
        self.now_value += 10.0
        return value


@pytest.mark.parametrize(
    ("extensions", "named"),
    [
        ({}, "(PREFECT_CLIENT_RETRY_TIMEOUT)"),
        ({"retry_timeout": 5}, "(the 'retry_timeout' request extension)"),
    ],
    ids=["setting", "extension"],
)
def test_a_call_waiting_for_the_csrf_lock_past_its_deadline_names_what_set_it(
    extensions: dict[str, Any], named: str
) -> None:
    server = CsrfServer()
    client, _, _ = make_client(
        server.sync_transport(), policy=RetryPolicy(timeout=5), enable_csrf_support=True
    )
    client._timer = _JumpingTimer()
    with client:
        assert client._csrf_lock.acquire(timeout=0)  # another thread is fetching a token
        try:
            with pytest.raises(httpx.PoolTimeout, match="CSRF token") as info:
                client.post("/flows/", extensions=extensions)
        finally:
            client._csrf_lock.release()
    assert named in str(info.value)
    assert server.fetches == 0


def test_csrf_refresh_before_expiry() -> None:
    server = CsrfServer(lifetime=100.0)
    client, timer, _ = make_client(server.sync_transport(), enable_csrf_support=True)
    with client:
        client.post("/flows/")
        timer.now_value += 89
        client.post("/flows/")
        assert server.fetches == 1
        timer.now_value += 2
        client.post("/flows/")
    assert server.fetches == 2


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(404, json={"detail": "Not Found"}),
        httpx.Response(422, json={"detail": "CSRF protection is disabled."}),
    ],
)
def test_csrf_disabled_by_the_server(answer: httpx.Response) -> None:
    script = Script([answer, ok()])
    client, _, _ = make_client(script.transport(), enable_csrf_support=True)
    with client:
        client.patch("/flows/x")
        client.put("/flows/x")
        assert not client.enable_csrf_support
    assert script.calls == 3


def test_user_agent() -> None:
    script = Script([ok()])
    client, _, _ = make_client(script.transport())
    with client:
        client.get("/health")
    assert script.headers[0]["User-Agent"].startswith("prefect-trio-client/")
