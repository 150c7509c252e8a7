"""No secret anywhere: logs, reprs, errors and their chains, under injected faults.

A full client lifecycle (flow, flow runs, states, task runs, logs, reads, deletes) runs
against the embedded server through a `FaultInjectingTransport` (every kind, rate 0.3),
with an API key, an auth string, a custom header, a URL password and an ``api_key``
query parameter all holding secrets, and every logger at DEBUG. Then none of the secrets
may appear in a log record (message, arguments, formatted exception), in the ``repr`` or
``str`` of the client, its HTTP client, the settings or a retry event, or anywhere in the
exceptions raised (``str``, ``repr``, notes, ``__cause__`` / ``__context__`` chains,
formatted tracebacks).

Leaks that live in files this test's owners cannot fix are listed in `KNOWN_LEAKS`
with where they come from; the test fails on any other leak, and also when a known
leak is gone (so the list shrinks as they are fixed).

Real time: the embedded server's database works in a worker thread.
"""

from __future__ import annotations

import base64
import logging
import traceback
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from typing import Any, TypeVar
from uuid import UUID

import httpx
import pytest

from prefect_trio_client import states
from prefect_trio_client.base import RetryEvent, RetryPolicy
from prefect_trio_client.orchestration import PrefectClient
from prefect_trio_client.schemas.actions import LogCreate, VariableCreate
from prefect_trio_client.schemas.filters import LogFilter, LogFilterFlowRunId
from prefect_trio_client.settings import ClientSettings
from prefect_trio_client.testing import (
    ALL_FAULTS,
    EmbeddedAPI,
    FaultInjectingTransport,
    embedded_api,
)

pytestmark = pytest.mark.anyio

T = TypeVar("T")

API_KEY = "pnu_SecretApiKey4c7f1e"
AUTH_PASSWORD = "SecretAuthPassword9d2b"
AUTH_STRING = f"operator:{AUTH_PASSWORD}"
HEADER_VALUE = "SecretHeaderValue51aa"
URL_PASSWORD = "SecretUrlPassword77e0"
QUERY_KEY = "SecretQueryKey3f08"
URL = f"http://robot:{URL_PASSWORD}@embedded.test/api"
URL_WITH_QUERY = f"{URL}?api_key={QUERY_KEY}"

#: Every form in which a secret could leak: as given, and as its header carries it.
SECRETS = {
    "api key": API_KEY,
    "auth string password": AUTH_PASSWORD,
    "auth string, base64": base64.b64encode(AUTH_STRING.encode()).decode(),
    "custom header value": HEADER_VALUE,
    "URL password": URL_PASSWORD,
    "URL user-info, base64": base64.b64encode(f"robot:{URL_PASSWORD}".encode()).decode(),
    "api_key query parameter": QUERY_KEY,
}


@dataclass(frozen=True)
class Leak:
    where: str  # the surface: "log httpx", "exception chain", "repr settings", ...
    secret: str  # a key of SECRETS
    text: str  # the line it is in


@dataclass(frozen=True)
class KnownLeak:
    """A leak in code outside ``prefect_trio_client/testing`` and the tests, reported to
    its owners; `matches` recognises it, `source` says where it comes from."""

    source: str
    matches: Callable[[Leak], bool]


#: Leaks from code this test's owners do not own (see the report in issue 9).
KNOWN_LEAKS: dict[str, KnownLeak] = {}


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    backend: str = request.param
    return backend


@pytest.fixture
def every_logger_at_debug(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Root and every logger known (httpx, httpcore, ours, ...) at DEBUG, captured."""
    caplog.set_level(logging.DEBUG)
    names = ["httpx", "httpcore", "hpack", "prefect_trio_client", "anyio", "starlette"]
    names += list(logging.root.manager.loggerDict)
    saved = {}
    for name in names:
        logger = logging.getLogger(name)
        saved[name] = (logger.level, logger.disabled)
        logger.setLevel(logging.DEBUG)
        logger.disabled = False
    try:
        yield caplog
    finally:
        for name, (level, disabled) in saved.items():
            logging.getLogger(name).setLevel(level)
            logging.getLogger(name).disabled = disabled


def find_leaks(where: str, text: str) -> list[Leak]:
    found = []
    for name, secret in SECRETS.items():
        for line in text.splitlines():
            if secret in line:  # the whole line: it says what carried the secret
                found.append(Leak(where, name, line[:400]))
                break
    return found


def exception_texts(exc: BaseException) -> Iterator[tuple[str, str]]:
    """Every text an exception shows: itself and every exception chained to it."""
    yield "formatted traceback", "".join(traceback.format_exception(exc))
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        name = type(current).__name__
        yield f"str {name}", str(current)
        yield f"repr {name}", repr(current)
        yield f"args {name}", repr(current.args)
        for note in getattr(current, "__notes__", None) or []:
            yield f"note {name}", str(note)
        for attribute in ("url", "method", "detail"):
            value = getattr(current, attribute, None)
            if value is not None:
                yield f"{attribute} of {name}", str(value)
        stack.extend(e for e in (current.__cause__, current.__context__) if e is not None)
        stack.extend(getattr(current, "exceptions", ()) or ())


def log_texts(record: logging.LogRecord) -> Iterator[str]:
    yield str(record.msg)
    yield repr(record.args)
    yield record.getMessage()
    yield logging.Formatter("%(message)s").format(record)  # with exc_info and stack
    if record.exc_text:
        yield record.exc_text


class Lifecycle:
    """The calls of a client's lifecycle, each tried until it gets through the faults
    (a few times at most); every exception raised on the way is kept."""

    def __init__(self, client: PrefectClient) -> None:
        self.client = client
        self.errors: list[BaseException] = []

    async def attempt(self, call: Callable[[], Awaitable[T]], tries: int = 6) -> T | None:
        for _ in range(tries):
            try:
                return await call()
            except Exception as exc:
                self.errors.append(exc)
        return None

    async def run(self, index: int) -> None:
        c = self.client
        flow_id = await self.attempt(lambda: c.create_flow_from_name(f"secrets-{index}"))
        assert flow_id is not None
        run = await self.attempt(
            lambda: c.create_flow_run(flow_id, idempotency_key=f"secrets-{index}")
        )
        assert run is not None
        await self.attempt(lambda: c.set_flow_run_state(run.id, states.Running()))
        task_ids: list[UUID] = []
        for k in range(2):
            task = await self.attempt(
                lambda k=k: c.create_task_run(  # type: ignore[misc]
                    flow_run_id=run.id, task_key="secret-task", dynamic_key=str(k)
                )
            )
            if task is not None:
                task_id = task.id
                task_ids.append(task_id)
                await self.attempt(partial(c.set_task_run_state, task_id, states.Running()))
                await self.attempt(partial(c.set_task_run_state, task_id, states.Completed()))
        line = LogCreate(
            name="secrets",
            level=20,
            message="a line",
            timestamp=datetime.now(timezone.utc),
            flow_run_id=run.id,
        )
        await self.attempt(lambda: c.create_logs([line]))
        await self.attempt(lambda: c.set_flow_run_state(run.id, states.Completed()))
        await self.attempt(lambda: c.create_variable(VariableCreate(name=f"v{index}", value=1)))
        await self.attempt(lambda: c.read_flow_run(run.id))
        await self.attempt(lambda: c.read_flow_run_states(run.id))
        await self.attempt(c.read_task_runs)
        logs = LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id]))
        await self.attempt(lambda: c.read_logs(log_filter=logs))
        for done in task_ids:
            await self.attempt(partial(c.read_task_run_states, done))
            await self.attempt(partial(c.delete_task_run, done))
        await self.attempt(lambda: c.delete_variable_by_name(f"v{index}"))
        await self.attempt(lambda: c.delete_flow_run(run.id))
        await self.attempt(lambda: c.delete_flow(flow_id))
        await self.attempt(lambda: c.read_flow(flow_id))  # 404 now: an error to inspect


#: Settings refused with an error whose message must not repeat the secret.
BAD_SETTINGS: list[dict[str, Any]] = [
    {"api_url": f"ftp://robot:{URL_PASSWORD}@embedded.test/api?api_key={QUERY_KEY}"},
    {"api_url": URL, "api_key": f"{API_KEY}\n{API_KEY}"},
    {"api_url": URL, "api_auth_string": f"operator:{AUTH_PASSWORD}\u200b"},
    {"client_custom_headers": {"X-Gateway-Token": f"{HEADER_VALUE}\r\nX-Injected: 1"}},
    {"client_custom_headers": f'{{"X-Gateway-Token": {HEADER_VALUE}}}'},  # not JSON
]


def secret_settings(url: str) -> ClientSettings:
    return ClientSettings(
        api_url=url,
        api_key=API_KEY,
        api_auth_string=AUTH_STRING,
        client_custom_headers={"X-Gateway-Token": HEADER_VALUE},
    )


def secret_client(
    api: EmbeddedAPI, url: str, transport: httpx.AsyncBaseTransport, events: list[RetryEvent]
) -> PrefectClient:
    async def add_query(request: httpx.Request) -> None:
        # Every request carries the key in its query string, as some gateways want it.
        request.url = request.url.copy_merge_params({"api_key": QUERY_KEY})

    return PrefectClient(
        url,
        api_key=API_KEY,
        auth_string=AUTH_STRING,
        settings=secret_settings(url),
        httpx_settings={
            "transport": transport,
            "event_hooks": {"request": [add_query]},
            "on_retry": events.append,
            "retry_policy": RetryPolicy(backoff_base=0.01, uncounted_delay_floor=0.01),
        },
    )


async def test_no_secret_anywhere(every_logger_at_debug: pytest.LogCaptureFixture) -> None:
    caplog = every_logger_at_debug
    events: list[RetryEvent] = []
    leaks: list[Leak] = []
    async with embedded_api() as api:
        transport = FaultInjectingTransport(
            api.transport(),
            seed=20261203,
            # A first answer, then each kind once, then faults at random.
            script=[None, *ALL_FAULTS],
            rate=0.3,
            retry_after=0,
            stall_seconds=0.01,
        )
        client = secret_client(api, URL, transport, events)
        lifecycle = Lifecycle(client)
        async with client:
            for index in range(4):
                await lifecycle.run(index)
            objects = {
                "client": client,
                "HTTP client": client.httpx_client,
                "settings": client._settings,
                "transport": transport,
            }
            for name, value in objects.items():
                leaks += find_leaks(f"repr {name}", repr(value))
                leaks += find_leaks(f"str {name}", str(value))

        # A URL whose query holds the key: the settings and what a call raises.
        broken_events: list[RetryEvent] = []
        query_client = secret_client(api, URL_WITH_QUERY, api.transport(), broken_events)
        leaks += find_leaks("repr settings (URL with query)", repr(secret_settings(URL_WITH_QUERY)))
        leaks += find_leaks("repr client (URL with query)", repr(query_client))
        try:
            async with query_client:
                await query_client.read_flows()
        except Exception as exc:
            lifecycle.errors.append(exc)

    for bad in BAD_SETTINGS:
        try:
            ClientSettings(**bad)
        except Exception as exc:
            lifecycle.errors.append(exc)
        else:
            raise AssertionError(f"accepted {bad}")

    assert set(transport.injected) == set(ALL_FAULTS)
    assert lifecycle.errors, "the faults raised nothing: the exception checks saw nothing"
    assert events, "no retry happened"
    for error in lifecycle.errors:
        for where, text in exception_texts(error):
            leaks += find_leaks(f"exception {where}", text)
    for event in events + broken_events:
        leaks += find_leaks("retry event", repr(event))
    records = caplog.get_records("call")
    assert any(r.name.startswith("httpx") for r in records)
    assert any(r.name.startswith("prefect_trio_client") for r in records)
    for record in records:
        for text in log_texts(record):
            leaks += find_leaks(f"log {record.name}: {str(record.msg)[:40]}", text)

    unexpected = [leak for leak in leaks if _known(leak) is None]
    assert not unexpected, "\n".join(
        f"{leak.where}: {leak.secret}: ...{leak.text}..." for leak in _unique(unexpected)
    )
    gone = set(KNOWN_LEAKS) - {key for leak in leaks if (key := _known(leak)) is not None}
    assert not gone, f"known leaks no longer found (remove them from KNOWN_LEAKS): {gone}"


def _known(leak: Leak) -> str | None:
    for name, known in KNOWN_LEAKS.items():
        if known.matches(leak):
            return name
    return None


def _unique(leaks: list[Leak]) -> list[Leak]:
    seen: dict[tuple[str, str], Leak] = {}
    for leak in leaks:
        seen.setdefault((leak.where, leak.secret), leak)
    return list(seen.values())


def test_the_checks_can_fail() -> None:
    """The detector finds a secret in each surface it reads."""
    request = httpx.Request("GET", URL_WITH_QUERY)
    error = RuntimeError("outer")
    error.__cause__ = httpx.ReadError(f"reading {request.url}", request=request)
    assert any(
        leak.secret == "URL password"
        for _, t in exception_texts(error)
        for leak in find_leaks("x", t)
    )
    record = logging.LogRecord("x", logging.DEBUG, __file__, 1, "%s", (request.url,), None)
    assert any(find_leaks("log", text) for text in log_texts(record))
    assert not find_leaks("clean", "nothing to see")
