"""PrefectHttpxAsyncClient: retries, deadline, cancellation and headers, on asyncio and trio.

Both backends run on virtual time (see conftest), so elapsed times are exact and the
delays reported to `on_retry` are the delays actually slept.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import anyio
import httpx
import pytest

from prefect_trio_client.base import (
    PrefectHttpxAsyncClient,
    PrefectResponse,
    RetryEvent,
    RetryPolicy,
)
from prefect_trio_client.exceptions import (
    ClientClosedError,
    ObjectAlreadyExists,
    ObjectNotFound,
    PrefectHTTPStatusError,
)
from prefect_trio_client.settings import ClientSettings
from tests.http_helpers import Script, ok, status

pytestmark = pytest.mark.anyio

NO_JITTER = RetryPolicy(jitter_factor=0)


def make_client(
    script: Any, *, policy: RetryPolicy | None = NO_JITTER, **kwargs: Any
) -> tuple[PrefectHttpxAsyncClient, list[RetryEvent]]:
    events: list[RetryEvent] = []
    client = PrefectHttpxAsyncClient(
        transport=script.transport(),
        base_url="http://prefect.test/api",
        retry_policy=policy,
        on_retry=events.append,
        **kwargs,
    )
    return client, events


@pytest.mark.parametrize("code", [408, 429, 502, 503])
async def test_retried_statuses_are_retried_until_success(code: int) -> None:
    script = Script([status(code), status(code), ok()])
    client, events = make_client(script)
    async with client:
        start = anyio.current_time()
        response = await client.get("/flows/x")
    assert response.status_code == 200
    assert isinstance(response, PrefectResponse)
    assert response.attempts == 3
    assert script.calls == 3
    assert [e.delay for e in events] == [0.5, 1.0]
    assert anyio.current_time() - start == pytest.approx(1.5)
    # A busy server (429, 503) is waited for without counting against max_retries.
    busy = code in (429, 503)
    assert all(e.status_code == code and e.counted is not busy for e in events)


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (400, PrefectHTTPStatusError),
        (404, ObjectNotFound),
        (409, ObjectAlreadyExists),
        (500, PrefectHTTPStatusError),
        (504, PrefectHTTPStatusError),
    ],
)
async def test_other_statuses_are_not_retried(code: int, error: type[Exception]) -> None:
    """A 500 or 504 is re-sent only for a request safe to send twice (test_send_loop);
    a POST is not."""
    script = Script([status(code), ok()])
    client, events = make_client(script)
    async with client:
        with pytest.raises(error) as info:
            await client.post("/logs/", json=[])
    assert type(info.value) is error
    assert script.calls == 1
    assert events == []


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ReadTimeout("read timed out"),
        httpx.PoolTimeout("pool timed out"),
        httpx.ConnectTimeout("connect timed out"),
        httpx.ReadError("connection reset"),
        httpx.WriteError("broken pipe"),
        httpx.RemoteProtocolError("server disconnected"),
    ],
    ids=lambda e: type(e).__name__,
)
async def test_retryable_exceptions_are_retried(exc: Exception) -> None:
    script = Script([exc, ok()])
    client, events = make_client(script)
    async with client:
        response = await client.get("/health")
    assert response.status_code == 200
    assert script.calls == 2
    assert len(events) == 1
    assert events[0].exception is exc
    assert events[0].reason == type(exc).__name__


@pytest.mark.parametrize(
    "exc",
    [
        httpx.UnsupportedProtocol("ftp"),
        httpx.ProxyError("proxy"),
        httpx.DecodingError("gzip"),
        # Our own request is malformed (an illegal header value): sending again cannot help.
        httpx.LocalProtocolError("Illegal header value"),
    ],
    ids=lambda e: type(e).__name__,
)
async def test_other_transport_errors_are_not_retried(exc: Exception) -> None:
    script = Script([exc, ok()])
    client, _ = make_client(script)
    async with client:
        with pytest.raises(type(exc)):
            await client.get("/health")
    assert script.calls == 1


async def test_connect_error_is_not_retried_before_any_response() -> None:
    script = Script([httpx.ConnectError("refused"), ok()])
    client, _ = make_client(script)
    async with client:
        with pytest.raises(httpx.ConnectError):
            await client.get("/health")
    assert script.calls == 1


async def test_connect_error_is_retried_after_a_response_has_arrived() -> None:
    script = Script([ok(), httpx.ConnectError("refused"), ok()])
    client, events = make_client(script)
    async with client:
        await client.get("/health")
        response = await client.get("/health")
    assert response.status_code == 200
    assert script.calls == 3
    assert [e.reason for e in events] == ["ConnectError"]


async def test_connect_error_counts_as_connected_after_an_error_status() -> None:
    script = Script([status(404), httpx.ConnectError("refused"), ok()])
    client, _ = make_client(script)
    async with client:
        with pytest.raises(ObjectNotFound):
            await client.get("/flows/x")
        assert (await client.get("/health")).status_code == 200


async def test_extra_codes_from_settings_are_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_CLIENT_RETRY_EXTRA_CODES", "500,418")
    monkeypatch.setenv("PREFECT_CLIENT_RETRY_JITTER_FACTOR", "0")
    script = Script([status(500), status(418), ok()])
    client, events = make_client(script, policy=None)
    async with client:
        response = await client.get("/health")
    assert response.status_code == 200
    assert [e.status_code for e in events] == [500, 418]


async def test_max_retries_then_the_last_status_is_raised() -> None:
    script = Script([status(502)])
    client, events = make_client(script, policy=RetryPolicy(jitter_factor=0, max_retries=3))
    async with client:
        with pytest.raises(PrefectHTTPStatusError) as info:
            await client.get("/health")
    assert script.calls == 4
    assert info.value.status_code == 502
    assert info.value.attempts == 4
    assert [e.delay for e in events] == [0.5, 1.0, 2.0]


async def test_max_retries_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_CLIENT_MAX_RETRIES", "1")
    script = Script([status(502)])
    client, _ = make_client(script, policy=None)
    async with client:
        with pytest.raises(PrefectHTTPStatusError):
            await client.get("/health")
    assert script.calls == 2


async def test_zero_max_retries_sends_once() -> None:
    script = Script([status(502), ok()])
    client, _ = make_client(script, policy=RetryPolicy(max_retries=0))
    async with client:
        with pytest.raises(PrefectHTTPStatusError):
            await client.get("/health")
    assert script.calls == 1


async def test_without_raise_on_all_errors_the_last_response_is_returned() -> None:
    script = Script([status(502)])
    client, _ = make_client(
        script, policy=RetryPolicy(jitter_factor=0, max_retries=2), raise_on_all_errors=False
    )
    async with client:
        response = await client.get("/health")
    assert response.status_code == 502
    assert response.attempts == 3
    with pytest.raises(PrefectHTTPStatusError):
        response.raise_for_status()


async def test_exhausted_exception_is_raised_as_itself() -> None:
    script = Script([httpx.ReadTimeout("slow")])
    client, _ = make_client(script, policy=RetryPolicy(jitter_factor=0, max_retries=2))
    async with client:
        with pytest.raises(httpx.ReadTimeout) as info:
            await client.get("/health")
    assert script.calls == 3
    if sys.version_info >= (3, 11):
        assert any("retries exhausted" in note for note in info.value.__notes__)


async def test_backoff_doubles_from_half_a_second_and_is_capped() -> None:
    script = Script([status(502)] * 6 + [ok()])
    policy = RetryPolicy(jitter_factor=0, max_retries=6, backoff_max=3.0)
    client, events = make_client(script, policy=policy)
    async with client:
        await client.get("/health")
    assert [e.delay for e in events] == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]


async def test_backoff_jitter_is_symmetric_and_bounded() -> None:
    script = Script([status(502)] * 5 + [ok()])
    client, events = make_client(script, policy=RetryPolicy(jitter_factor=0.2))
    async with client:
        await client.get("/health")
    for event, base in zip(events, [0.5, 1.0, 2.0, 4.0, 8.0], strict=True):
        assert base * 0.8 <= event.delay <= base * 1.2


@pytest.mark.parametrize(
    ("header", "low", "high"),
    [
        ("3", 3.0, 3.6),
        ("0.25", 0.25, 0.30),
        ("0", 0.25, 0.25),  # a busy answer waits at least the floor, whatever it says
        ("-5", 0.25, 0.25),
        ("99999", 60.0, 60.0),  # capped at PREFECT_CLIENT_RETRY_AFTER_MAX
    ],
)
async def test_retry_after_seconds(header: str, low: float, high: float) -> None:
    script = Script([status(429, Retry_After=header), ok()])
    client, events = make_client(script, policy=RetryPolicy(jitter_factor=0.2))
    async with client:
        start = anyio.current_time()
        await client.get("/health")
    assert low <= events[0].delay <= high
    assert anyio.current_time() - start == pytest.approx(events[0].delay)


@pytest.mark.parametrize("header", ["soon", "nan", "inf", "", "Mon, 99 Foo 2020"])
async def test_unusable_retry_after_falls_back_to_backoff(header: str) -> None:
    script = Script([status(503, Retry_After=header), ok()])
    client, events = make_client(script)
    async with client:
        await client.get("/health")
    assert events[0].delay == 0.5


async def test_retry_after_http_date() -> None:
    when = datetime.now(timezone.utc) + timedelta(seconds=10)
    script = Script([status(503, Retry_After=format_datetime(when, usegmt=True)), ok()])
    client, events = make_client(script)
    async with client:
        await client.get("/health")
    # The header has whole seconds, and the wall clock moved a little since `when`.
    assert 8.0 <= events[0].delay <= 10.0


async def test_retry_after_date_in_the_past_means_now() -> None:
    when = datetime.now(timezone.utc) - timedelta(hours=1)
    script = Script([status(503, Retry_After=format_datetime(when, usegmt=True)), ok()])
    client, events = make_client(script)
    async with client:
        await client.get("/health")
    assert events[0].delay == 0.25  # "now", raised to the floor of busy answers


async def test_retry_after_cap_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_CLIENT_RETRY_AFTER_MAX", "5")
    script = Script([status(429, Retry_After="120"), ok()])
    client, events = make_client(script, policy=None)
    async with client:
        await client.get("/health")
    assert events[0].delay == 5.0


async def test_deadline_stops_retrying_at_once_with_the_last_status() -> None:
    script = Script([status(503)])
    client, events = make_client(script, policy=RetryPolicy(jitter_factor=0, timeout=2.0))
    async with client:
        start = anyio.current_time()
        with pytest.raises(PrefectHTTPStatusError) as info:
            await client.get("/health")
        elapsed = anyio.current_time() - start
    # Sleeps of 0.5 and 1.0 fit in 2 s; the next (2.0) would cross the deadline.
    assert [e.delay for e in events] == [0.5, 1.0]
    assert elapsed == pytest.approx(1.5)
    assert info.value.attempts == 3
    assert script.calls == 3


async def test_deadline_applies_to_retry_after_too() -> None:
    script = Script([status(429, Retry_After="30"), ok()])
    client, events = make_client(script, policy=RetryPolicy(jitter_factor=0, timeout=10.0))
    async with client:
        start = anyio.current_time()
        with pytest.raises(PrefectHTTPStatusError) as info:
            await client.get("/health")
        assert anyio.current_time() == start
    assert info.value.status_code == 429
    assert events == []


async def test_deadline_stops_exception_retries_with_the_transport_error() -> None:
    script = Script([httpx.ReadError("reset")])
    client, _ = make_client(script, policy=RetryPolicy(jitter_factor=0, timeout=1.0))
    async with client:
        with pytest.raises(httpx.ReadError) as info:
            await client.get("/health")
    assert script.calls == 2  # 0.5 s fits, the next 1.0 s does not
    if sys.version_info >= (3, 11):
        assert any("deadline" in note for note in info.value.__notes__)


async def test_deadline_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_CLIENT_RETRY_TIMEOUT", "1")
    monkeypatch.setenv("PREFECT_CLIENT_RETRY_JITTER_FACTOR", "0")
    script = Script([status(503)])
    client, _ = make_client(script, policy=None)
    async with client:
        with pytest.raises(PrefectHTTPStatusError):
            await client.get("/health")
    assert script.calls == 2


async def test_per_request_deadline_overrides_the_client() -> None:
    script = Script([status(503)])
    client, _ = make_client(script, policy=RetryPolicy(jitter_factor=0, timeout=300))
    async with client:
        with pytest.raises(PrefectHTTPStatusError):
            await client.get("/health", extensions={"retry_timeout": 0.6})
    assert script.calls == 2


@pytest.mark.parametrize("bad", [0, -1, "10", None])
async def test_bad_per_request_deadline_is_rejected(bad: object) -> None:
    script = Script([ok()])
    client, _ = make_client(script)
    async with client:
        if bad is None:
            assert (await client.get("/health", extensions={"retry_timeout": None})).is_success
            return
        with pytest.raises(ValueError, match="retry_timeout"):
            await client.get("/health", extensions={"retry_timeout": bad})
    assert script.calls == 0


async def test_outer_cancel_scope_interrupts_a_retry_sleep_at_once() -> None:
    script = Script([status(503, Retry_After="30")])
    client, events = make_client(script)
    async with client:
        start = anyio.current_time()
        with anyio.move_on_after(1.0) as scope:
            await client.get("/health")
        assert scope.cancelled_caught
        assert anyio.current_time() - start == pytest.approx(1.0)
    assert len(events) == 1
    assert script.calls == 1


async def test_aclose_cancels_sleeping_retries_with_a_clear_error() -> None:
    script = Script([status(503, Retry_After="30")])
    client, _ = make_client(script)
    errors: list[BaseException] = []

    async def call() -> None:
        try:
            await client.get("/health")
        except ClientClosedError as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(call)
        await anyio.wait_all_tasks_blocked()
        assert len(client._waiting) == 3
        start = anyio.current_time()
        await client.aclose()
    assert anyio.current_time() == start
    assert len(errors) == 3
    assert "closed while a request waited to retry" in str(errors[0])
    with pytest.raises(ClientClosedError, match="closed"):
        await client.get("/health")


async def test_maintenance_responses_are_not_counted() -> None:
    maintenance = status(503, Prefect_Maintenance="true", Retry_After="1")
    script = Script([maintenance] * 4 + [ok()])
    client, events = make_client(script, policy=RetryPolicy(jitter_factor=0, max_retries=1))
    async with client:
        response = await client.get("/health")
    assert response.status_code == 200
    assert script.calls == 5
    assert [e.counted for e in events] == [False] * 4
    assert "maintenance" in events[0].reason


async def test_maintenance_still_respects_the_deadline() -> None:
    maintenance = status(503, Prefect_Maintenance="true", Retry_After="1")
    script = Script([maintenance])
    client, _ = make_client(script, policy=RetryPolicy(jitter_factor=0, timeout=3.5))
    async with client:
        start = anyio.current_time()
        with pytest.raises(PrefectHTTPStatusError):
            await client.get("/health")
        assert anyio.current_time() - start == pytest.approx(3.0)
    assert script.calls == 4


async def test_streamed_retries_close_discarded_responses() -> None:
    closed: list[bool] = []

    class Body(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield b'{"detail": "busy"}'

        async def aclose(self) -> None:
            closed.append(True)

    script = Script(
        [lambda r: httpx.Response(503, stream=Body()), lambda r: httpx.Response(200, json=[1])]
    )
    client, _ = make_client(script)
    async with client:
        request = client.build_request("GET", "/health")
        response = await client.send(request, stream=True)
        assert response.status_code == 200
        assert await response.aread() == b"[1]"
        await response.aclose()
    assert closed == [True]


async def test_error_detail_is_read_for_streamed_responses() -> None:
    script = Script([status(404)])
    client, _ = make_client(script)
    async with client:
        request = client.build_request("GET", "/flows/x")
        with pytest.raises(ObjectNotFound) as info:
            await client.send(request, stream=True)
    assert info.value.detail == "no"


async def test_on_retry_events_and_debug_logs(caplog: pytest.LogCaptureFixture) -> None:
    script = Script([status(503), httpx.ReadTimeout("slow"), ok()])
    client, events = make_client(
        script,
        auth=("admin", "hunter2"),
        headers={"Authorization": "Bearer sekrit-key"},
    )
    client.base_url = httpx.URL("http://user:pa55@prefect.test/api")
    caplog.set_level(logging.DEBUG, logger="prefect_trio_client")
    async with client:
        await client.get("/health", params={"token": "query-secret"})
    # Busy answers and other failures back off on their own counts: each starts at 0.5 s.
    assert [(e.attempt, e.max_attempts, e.delay) for e in events] == [(1, 6, 0.5), (2, 6, 0.5)]
    assert events[0].method == "GET"
    assert events[0].url == "http://prefect.test/api/health"
    messages = [r.getMessage() for r in caplog.records]
    # Prefect's phrases, so existing log filters keep working, then our detail.
    assert any(
        m.startswith("Received response with retryable status code 503. Another attempt will be")
        and "made in 0.500s. This is attempt 1/6. (GET http://prefect.test/api/health" in m
        for m in messages
    )
    assert any(
        m.startswith("Encountered retryable exception during request. Another attempt will be")
        and "made in 0.500s. This is attempt 2/6." in m
        for m in messages
    )
    text = "\n".join(messages) + repr(events)
    for secret in ("hunter2", "sekrit-key", "pa55", "query-secret"):
        assert secret not in text


async def test_user_agent_and_custom_headers(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(
        "PREFECT_CLIENT_CUSTOM_HEADERS",
        '{"X-Team": "data", "user-agent": "evil", "PREFECT-CSRF-TOKEN": "t", "Authorization": "a"}',
    )
    script = Script([ok()])
    client, _ = make_client(script)
    async with client:
        await client.get("/health")
    sent = script.requests[0].headers
    assert sent["User-Agent"].startswith("prefect-trio-client/")
    assert sent["X-Team"] == "data"
    assert "Prefect-Csrf-Token" not in sent
    # No API key is configured, so a custom Authorization header is the user's to set.
    assert sent["Authorization"] == "a"
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 2
    assert any("'user-agent'" in w for w in warned)
    assert any("'PREFECT-CSRF-TOKEN'" in w for w in warned)


async def test_authorization_is_protected_when_an_api_key_is_configured(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = ClientSettings(
        api_key="pnu_secret", client_custom_headers={"authorization": "Bearer other"}
    )
    script = Script([ok()])
    client, _ = make_client(script, settings=settings)
    async with client:
        await client.get("/health")
    assert "authorization" not in script.requests[0].headers
    assert any("'authorization'" in r.getMessage() for r in caplog.records)
    assert "pnu_secret" not in caplog.text
    assert "Bearer other" not in caplog.text
