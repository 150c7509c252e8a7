"""Fault-injecting httpx transports: one sans-I/O decision core, an async and a sync shell.

`FaultPlan` decides, per request, whether to inject a fault and which one, with one
seeded `random.Random`; it also builds every synthetic answer and error. It does no I/O
and reads no clock of its own (the wall clock, for ``Retry-After`` dates, is a
parameter). `FaultInjectingTransport` (async) and `SyncFaultInjectingTransport` (blocking)
wrap another transport and only perform what the plan says: call the inner transport or
not, read its answer, sleep, return or raise.
"""

from __future__ import annotations

import enum
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import format_datetime
from types import TracebackType

import anyio
import httpx

__all__ = [
    "ALL_FAULTS",
    "Fault",
    "FaultInjectingTransport",
    "FaultKind",
    "FaultPlan",
    "SyncFaultInjectingTransport",
]


class FaultKind(str, enum.Enum):
    """What can go wrong with one request. The value is a short, stable name."""

    #: 429 with ``Retry-After: <seconds>``; the request does not reach the server.
    RATE_LIMITED_SECONDS = "429-retry-after-seconds"
    #: 429 with ``Retry-After: <HTTP-date>``; the request does not reach the server.
    RATE_LIMITED_DATE = "429-retry-after-date"
    #: 502 from a proxy that forwarded the request and lost the server's answer.
    BAD_GATEWAY = "502"
    #: 503 (a busy server: SQLite locked); the request does not reach the server.
    UNAVAILABLE = "503"
    #: 503 with ``Prefect-Maintenance: true``; the request does not reach the server.
    MAINTENANCE = "503-maintenance"
    #: The connection is reset before the request is sent (`httpx.ConnectError` or
    #: `httpx.WriteError`); the inner transport is not called.
    RESET_BEFORE_SEND = "reset-before-send"
    #: The connection is reset after the server got the request: it applied it, and its
    #: answer is lost (`httpx.ReadError` or `httpx.RemoteProtocolError`).
    RESET_AFTER_SEND = "reset-after-send"
    #: The server applied the request; reading its answer times out (`httpx.ReadTimeout`).
    READ_TIMEOUT = "read-timeout"
    #: The server applied the request; its answer comes ``stall_seconds`` late (or, past
    #: the request's read timeout, as `httpx.ReadTimeout` when that timeout runs out).
    STALL = "stall"
    #: 200 with an HTML page (a captive portal or a misrouted proxy); the request does not
    #: reach the server.
    HTML_BODY = "html-body"
    #: 200 with an empty body; the server applied the request.
    EMPTY_BODY = "empty-body"
    #: 200 with the server's JSON cut in half; the server applied the request.
    TRUNCATED_JSON = "truncated-json"

    def __str__(self) -> str:
        return self.value

    @property
    def reaches_server(self) -> bool:
        """Whether the inner transport is called (the server applies the request)."""
        return self not in _NOT_FORWARDED


_NOT_FORWARDED = frozenset(
    {
        FaultKind.RATE_LIMITED_SECONDS,
        FaultKind.RATE_LIMITED_DATE,
        FaultKind.UNAVAILABLE,
        FaultKind.MAINTENANCE,
        FaultKind.RESET_BEFORE_SEND,
        FaultKind.HTML_BODY,
    }
)

#: Every fault kind, in declaration order (the default of ``kinds=``).
ALL_FAULTS: tuple[FaultKind, ...] = tuple(FaultKind)

_HTML_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Sign in to continue</title></head>"
    b"<body><h1>Welcome to the guest network</h1><p>Please sign in.</p></body></html>\n"
)
_BAD_GATEWAY_PAGE = (
    b"<html><head><title>502 Bad Gateway</title></head>"
    b"<body><center><h1>502 Bad Gateway</h1></center></body></html>\n"
)


@dataclass(frozen=True)
class Fault:
    """One decision: the fault to inject into one request.

    Attributes:
        kind: What goes wrong.
        variant: 0 or 1: which of two errors a reset raises (`httpx.ConnectError` or
            `httpx.WriteError` before sending, `httpx.ReadError` or
            `httpx.RemoteProtocolError` after).
        index: The request's number among the requests not spared (0-based).
    """

    kind: FaultKind
    variant: int
    index: int


class FaultPlan:
    """The decisions of a fault-injecting transport, without I/O (shared by both shells).

    Each request that is not spared draws exactly three numbers from one
    ``random.Random(seed)``, whatever is decided, so the decisions depend only on the seed
    and on the order of the requests: the same seed over the same requests injects the
    same faults. Spared requests draw nothing.

    Args:
        seed: Seeds the random generator.
        rate: The probability (0 to 1) of a fault in each request that is not spared,
            once the script has run out; None for none.
        script: Faults (or None for "no fault") for the first requests not spared, in
            order; then `rate` applies.
        kinds: The kinds `rate` picks from, uniformly.
        spare: Requests for which it returns True are never touched.
        retry_after: The delay a 429 asks for, in seconds (an HTTP-date is rounded up to
            the next whole second).
        stall_seconds: How late a stalled answer comes.

    Raises:
        ValueError: A rate outside [0, 1], no kinds, or a negative delay.
    """

    def __init__(
        self,
        *,
        seed: int,
        rate: float | None = None,
        script: Iterable[FaultKind | str | None] | None = None,
        kinds: Iterable[FaultKind | str] = ALL_FAULTS,
        spare: Callable[[httpx.Request], bool] | None = None,
        retry_after: float = 1.0,
        stall_seconds: float = 5.0,
    ) -> None:
        if rate is not None and not (isinstance(rate, int | float) and 0.0 <= rate <= 1.0):
            raise ValueError(f"rate must be a probability from 0 to 1, got {rate!r}")
        chosen = tuple(FaultKind(kind) for kind in kinds)
        if not chosen:
            raise ValueError("kinds must name at least one fault kind")
        for name, value in (("retry_after", retry_after), ("stall_seconds", stall_seconds)):
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number of seconds >= 0, got {value!r}")
        self.seed = seed
        self.rate = 0.0 if rate is None else float(rate)
        self.kinds: tuple[FaultKind, ...] = chosen
        self.script: tuple[FaultKind | None, ...] = tuple(
            None if kind is None else FaultKind(kind) for kind in (script or ())
        )
        self.spare = spare
        self.retry_after = float(retry_after)
        self.stall_seconds = float(stall_seconds)
        #: Faults injected so far, by kind.
        self.injected: Counter[FaultKind] = Counter()
        #: The decision for each request not spared, in order (None: no fault).
        self.decisions: list[FaultKind | None] = []
        #: Requests seen, spared ones included.
        self.requests = 0
        #: Requests left alone because `spare` said so.
        self.spared = 0
        self._random = random.Random(seed)
        self._lock = threading.Lock()  # the sync shell may be shared by threads

    def decide(self, request: httpx.Request) -> Fault | None:
        """The fault to inject into `request`, or None; counts it."""
        spared = self.spare is not None and self.spare(request)
        with self._lock:
            self.requests += 1
            if spared:
                self.spared += 1
                return None
            index = len(self.decisions)
            draw, pick, variant = (
                self._random.random(),
                self._random.randrange(len(self.kinds)),
                self._random.randrange(2),
            )
            kind: FaultKind | None
            if index < len(self.script):
                kind = self.script[index]
            else:
                kind = self.kinds[pick] if draw < self.rate else None
            self.decisions.append(kind)
            if kind is None:
                return None
            self.injected[kind] += 1
            return Fault(kind, variant, index)

    # ------------------------------------------------------------ what the shells do

    def answer_before_sending(
        self, fault: Fault, request: httpx.Request, *, wall_now: datetime
    ) -> httpx.Response | httpx.TransportError | None:
        """For a fault that does not reach the server: the answer to return or the error
        to raise instead of calling the inner transport. None when the inner transport is
        to be called.

        Args:
            wall_now: The current UTC time, for a ``Retry-After`` HTTP-date.
        """
        kind = fault.kind
        if kind is FaultKind.RATE_LIMITED_SECONDS:
            return _json(request, 429, {"detail": "Too many requests"}, retry_after=self._secs())
        if kind is FaultKind.RATE_LIMITED_DATE:
            when = datetime.fromtimestamp(
                math.ceil(wall_now.timestamp() + self.retry_after), tz=timezone.utc
            )
            date = format_datetime(when, usegmt=True)
            return _json(request, 429, {"detail": "Too many requests"}, retry_after=date)
        if kind is FaultKind.UNAVAILABLE:
            return _json(request, 503, {"exception_message": "Service Unavailable"})
        if kind is FaultKind.MAINTENANCE:
            response = _json(request, 503, {"detail": "The server is under maintenance"})
            response.headers["Prefect-Maintenance"] = "true"
            return response
        if kind is FaultKind.HTML_BODY:
            return _answer(request, 200, _HTML_PAGE, "text/html; charset=utf-8")
        if kind is FaultKind.RESET_BEFORE_SEND:
            message = "[Errno 104] Connection reset by peer (injected before sending)"
            if fault.variant == 0:
                return httpx.ConnectError(message, request=request)
            return httpx.WriteError(message, request=request)
        return None

    def stall_for(self, fault: Fault, request: httpx.Request) -> tuple[float, bool]:
        """How long to hold the answer of a stalled request, and whether it then times out
        (the stall outlasts the request's read timeout)."""
        timeout = request.extensions.get("timeout")
        read = timeout.get("read") if isinstance(timeout, dict) else None
        if isinstance(read, int | float) and read < self.stall_seconds:
            return float(read), True
        return self.stall_seconds, False

    def answer_after_sending(
        self, fault: Fault, request: httpx.Request, response: httpx.Response, body: bytes
    ) -> httpx.Response | httpx.TransportError:
        """For a fault that reaches the server: what to return or raise instead of the
        inner transport's answer (`response`, whose `body` was read in full)."""
        kind = fault.kind
        if kind is FaultKind.BAD_GATEWAY:
            return _answer(request, 502, _BAD_GATEWAY_PAGE, "text/html")
        if kind is FaultKind.RESET_AFTER_SEND:
            if fault.variant == 0:
                return httpx.ReadError(
                    "[Errno 104] Connection reset by peer (injected after the server "
                    "received the request)",
                    request=request,
                )
            return httpx.RemoteProtocolError(
                "Server disconnected without sending a response. (injected after the "
                "server received the request)",
                request=request,
            )
        if kind is FaultKind.READ_TIMEOUT:
            return _read_timeout(request)
        if kind is FaultKind.EMPTY_BODY:
            return _answer(request, 200, b"", None, like=response)
        if kind is FaultKind.TRUNCATED_JSON:
            return _answer(request, 200, body[: len(body) // 2], None, like=response)
        return _answer(request, response.status_code, body, None, like=response)

    def timed_out(self, request: httpx.Request) -> httpx.TransportError:
        """The error of a stall that outlasted the read timeout."""
        return _read_timeout(request)

    def _secs(self) -> str:
        return f"{self.retry_after:g}"


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _read_timeout(request: httpx.Request) -> httpx.ReadTimeout:
    return httpx.ReadTimeout(
        "The read operation timed out (injected after the server received the request)",
        request=request,
    )


def _json(
    request: httpx.Request, status: int, payload: object, *, retry_after: str | None = None
) -> httpx.Response:
    response = httpx.Response(status, json=payload, request=request)
    if retry_after is not None:
        response.headers["Retry-After"] = retry_after
    return response


_BODY_HEADERS = frozenset({"content-length", "content-encoding", "transfer-encoding"})


def _answer(
    request: httpx.Request,
    status: int,
    body: bytes,
    content_type: str | None,
    *,
    like: httpx.Response | None = None,
) -> httpx.Response:
    """A response with `body`; with `like`, that response's headers (body-framing ones
    replaced, as the body was decoded)."""
    headers: list[tuple[str, str]] = []
    if like is not None:
        headers = [
            (name, value)
            for name, value in like.headers.multi_items()
            if name.lower() not in _BODY_HEADERS
        ]
        extensions = {k: v for k, v in like.extensions.items() if k != "network_stream"}
    else:
        extensions = {}
    if content_type is not None:
        headers = [(n, v) for n, v in headers if n.lower() != "content-type"]
        headers.append(("Content-Type", content_type))
    return httpx.Response(
        status, headers=headers, content=body, request=request, extensions=extensions
    )


class _Shell:
    """What both transports expose: the plan's counters."""

    plan: FaultPlan

    @property
    def injected(self) -> Counter[FaultKind]:
        """Faults injected so far, by kind."""
        return self.plan.injected

    @property
    def decisions(self) -> Sequence[FaultKind | None]:
        """The decision for each request not spared, in order (None: no fault)."""
        return self.plan.decisions

    @property
    def requests(self) -> int:
        """Requests seen, spared ones included."""
        return self.plan.requests


class FaultInjectingTransport(_Shell, httpx.AsyncBaseTransport):
    """An async transport that wraps another and injects faults into its requests.

    By `rate` (each request not spared gets a fault of one of `kinds` with that
    probability) or by `script` (the faults of the first requests, in order), decided
    by one seeded random generator, so a seed gives the same faults for the same
    requests. What each `FaultKind` does, and whether the server sees the request, is
    documented on the kind. Opening and closing the transport opens and closes `inner`.

    Example::

        transport = FaultInjectingTransport(
            httpx.AsyncHTTPTransport(), seed=7, rate=0.3
        )
        async with PrefectClient(url, httpx_settings={"transport": transport}) as client:
            ...
        print(transport.injected)

    Args:
        inner: The transport that reaches the server.
        seed: Seeds the decisions.
        rate: Probability of a fault per request, once the script has run out.
        script: Faults (or None) for the first requests not spared.
        kinds: What `rate` picks from (all kinds by default).
        spare: A predicate: requests it accepts are never touched.
        retry_after: Seconds a 429 asks to wait.
        stall_seconds: How late a stalled answer comes (waited with ``anyio.sleep``).
        wall_clock: The current UTC time, for ``Retry-After`` dates.

    Raises:
        ValueError: As `FaultPlan`.
    """

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        *,
        seed: int,
        rate: float | None = None,
        script: Iterable[FaultKind | str | None] | None = None,
        kinds: Iterable[FaultKind | str] = ALL_FAULTS,
        spare: Callable[[httpx.Request], bool] | None = None,
        retry_after: float = 1.0,
        stall_seconds: float = 5.0,
        wall_clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.inner = inner
        self.plan = FaultPlan(
            seed=seed,
            rate=rate,
            script=script,
            kinds=kinds,
            spare=spare,
            retry_after=retry_after,
            stall_seconds=stall_seconds,
        )
        self._wall_clock = wall_clock or _utc_now

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        plan = self.plan
        fault = plan.decide(request)
        if fault is None:
            return await self.inner.handle_async_request(request)
        early = plan.answer_before_sending(fault, request, wall_now=self._wall_clock())
        if isinstance(early, httpx.TransportError):
            raise early
        if early is not None:
            return early
        response = await self.inner.handle_async_request(request)
        try:
            body = await response.aread()
        finally:
            await response.aclose()
        if fault.kind is FaultKind.STALL:
            delay, times_out = plan.stall_for(fault, request)
            await anyio.sleep(delay)
            if times_out:
                raise plan.timed_out(request)
        late = plan.answer_after_sending(fault, request, response, body)
        if isinstance(late, httpx.TransportError):
            raise late
        return late

    async def __aenter__(self) -> FaultInjectingTransport:
        await self.inner.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await self.inner.__aexit__(exc_type, exc_value, traceback)

    async def aclose(self) -> None:
        await self.inner.aclose()


class SyncFaultInjectingTransport(_Shell, httpx.BaseTransport):
    """The blocking twin of `FaultInjectingTransport`, wrapping an `httpx.BaseTransport`.

    The same decisions (one `FaultPlan`); a stall blocks in `sleep`.

    Args:
        inner: The transport that reaches the server.
        sleep: How a stall waits (``time.sleep`` by default; tests pass a fake).
        **others: As `FaultInjectingTransport`.
    """

    def __init__(
        self,
        inner: httpx.BaseTransport,
        *,
        seed: int,
        rate: float | None = None,
        script: Iterable[FaultKind | str | None] | None = None,
        kinds: Iterable[FaultKind | str] = ALL_FAULTS,
        spare: Callable[[httpx.Request], bool] | None = None,
        retry_after: float = 1.0,
        stall_seconds: float = 5.0,
        wall_clock: Callable[[], datetime] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.inner = inner
        self.plan = FaultPlan(
            seed=seed,
            rate=rate,
            script=script,
            kinds=kinds,
            spare=spare,
            retry_after=retry_after,
            stall_seconds=stall_seconds,
        )
        self._wall_clock = wall_clock or _utc_now
        self._sleep = sleep

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        plan = self.plan
        fault = plan.decide(request)
        if fault is None:
            return self.inner.handle_request(request)
        early = plan.answer_before_sending(fault, request, wall_now=self._wall_clock())
        if isinstance(early, httpx.TransportError):
            raise early
        if early is not None:
            return early
        response = self.inner.handle_request(request)
        try:
            body = response.read()
        finally:
            response.close()
        if fault.kind is FaultKind.STALL:
            delay, times_out = plan.stall_for(fault, request)
            self._sleep(delay)
            if times_out:
                raise plan.timed_out(request)
        late = plan.answer_after_sending(fault, request, response, body)
        if isinstance(late, httpx.TransportError):
            raise late
        return late

    def __enter__(self) -> SyncFaultInjectingTransport:
        self.inner.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        self.inner.__exit__(exc_type, exc_value, traceback)

    def close(self) -> None:
        self.inner.close()
