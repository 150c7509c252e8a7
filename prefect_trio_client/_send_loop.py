"""The one send loop of both HTTP clients, as a sans-I/O generator.

A call is a generator (`SendLoop.call`) that decides everything: when to take a
backpressure slot, when to fetch a CSRF token, whether an answer is final, retried,
refreshed or given up on, how long to sleep, and what the caller gets. It *yields*
actions for the I/O it needs and is *sent* their results:

- `Acquire`: wait for a backpressure slot until the deadline; result: a `Slot`, or None
  when the deadline passed first;
- `Transmit`: send the request once; result: the response (an error response's body
  already read) or the `httpx.TransportError` it raised, as a value;
- `Discard`: close a response that will not be delivered;
- `Sleep`: wait before the next attempt (closing the client interrupts it);
- `RefreshCsrf`: under the client's single-flight lock and the deadline, run the loop
  of `SendLoop.fetch_csrf` unless another call already refreshed the token.

`PrefectHttpxAsyncClient` and `PrefectHttpxSyncClient` are shells that perform these
actions in their own way (await or block) and read their own clock. A fix to retrying,
deadlines, idempotency, CSRF or backpressure lands here, once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Generic, TypeVar

import httpx

from prefect_trio_client._attribution import attribution_headers
from prefect_trio_client._backpressure import AdaptiveLimit, Signal, Slot
from prefect_trio_client._csrf import CsrfTokenCache, is_csrf_rejection, response_detail
from prefect_trio_client._response import (
    NOTE_EXTENSION,
    OUTCOME_UNKNOWN_EXTENSION,
    PrefectResponse,
)
from prefect_trio_client._retry import (
    OVERLOAD_STATUSES,
    RETRY_DEADLINE_SETTING,
    Deliver,
    Retry,
    RetryPolicy,
    RetryState,
    parse_retry_after,
)
from prefect_trio_client.exceptions import OutcomeUnknownError, redacted_url

__all__ = [
    "IDEMPOTENT_EXTENSION",
    "IDEMPOTENT_METHODS",
    "RETRY_TIMEOUT_EXTENSION",
    "Acquire",
    "Action",
    "Discard",
    "Done",
    "RefreshCsrf",
    "RetryEvent",
    "SendLoop",
    "Sleep",
    "Transmit",
]

logger = logging.getLogger("prefect_trio_client.client")
T = TypeVar("T")

#: The request extension that sets one request's retry deadline, in seconds.
RETRY_TIMEOUT_EXTENSION = "retry_timeout"
_FROM_EXTENSION = f"the {RETRY_TIMEOUT_EXTENSION!r} request extension"  # in deadline errors
#: The request extension that says whether a request is safe to send twice (a bool).
#: Without it, every method but POST is.
IDEMPOTENT_EXTENSION = "idempotent"
#: Methods whose re-sending cannot change the outcome (RFC 9110 section 9.2.2).
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})
# A server that keeps rejecting fresh tokens gets its 403 after this many refreshes.
_MAX_CSRF_REFRESHES = 2


@dataclass(frozen=True)
class Acquire:
    limit: AdaptiveLimit
    deadline: float


@dataclass(frozen=True)
class Transmit:
    request: httpx.Request


@dataclass(frozen=True)
class Discard:
    response: httpx.Response


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class RefreshCsrf:
    stale_token: str | None
    deadline: float
    deadline_from: str

    def lock_timeout(self) -> httpx.PoolTimeout:
        """The error for a call whose deadline passed while another fetched the token."""
        return httpx.PoolTimeout(
            f"the retry deadline ({self.deadline_from}) passed while waiting for a CSRF token"
        )


Action = Acquire | Transmit | Discard | Sleep | RefreshCsrf


@dataclass(frozen=True)
class Done(Generic[T]):
    """A loop has finished with `value`."""

    value: T


Outcome = httpx.Response | httpx.TransportError
#: A call: yields actions, is sent their results, returns the response to deliver.
Call = Generator[Action, Any, PrefectResponse]


@dataclass(frozen=True)
class RetryEvent:
    """What the `on_retry` hook is told before each retry sleep. Holds no credentials."""

    method: str
    url: str
    attempt: int
    max_attempts: int
    delay: float
    reason: str
    counted: bool
    status_code: int | None
    exception: BaseException | None


OnRetry = Callable[[RetryEvent], None]


def loggable_url(request: httpx.Request) -> str:
    """The URL without user-info or query string (either may hold a secret)."""
    return str(redacted_url(request.url))


def route_of(request: httpx.Request) -> str:
    """The endpoint of a request: its method and path, ids replaced by ``{id}``."""
    path = request.url.path
    if "-" in path:  # UUIDs; names and other segments keep the route apart anyway
        path = "/".join(
            "{id}" if len(part) == 36 and part.count("-") == 4 else part for part in path.split("/")
        )
    return f"{request.method} {path}"


def safe_to_resend(request: httpx.Request) -> bool:
    """Whether the request may be sent again after its answer was lost (see the extension)."""
    declared = request.extensions.get(IDEMPOTENT_EXTENSION)
    if declared is None:
        return request.method.upper() in IDEMPOTENT_METHODS
    if not isinstance(declared, bool):
        raise ValueError(
            f"the {IDEMPOTENT_EXTENSION!r} request extension must be True or False, "
            f"got {declared!r}"
        )
    return declared


class SendLoop:
    """One client's decisions: its retry policy, CSRF cache, shared limit and hook.

    Args:
        policy: How to retry.
        csrf: The client's CSRF token cache.
        clock: The shell's monotonic clock (the event loop's, in async code).
        limit: The shared backpressure limit, or None for none.
        on_retry: Told of every retry before its sleep.
    """

    def __init__(
        self,
        *,
        policy: RetryPolicy,
        csrf: CsrfTokenCache,
        clock: Callable[[], float],
        limit: AdaptiveLimit | None = None,
        on_retry: OnRetry | None = None,
    ) -> None:
        self.policy = policy
        self.csrf = csrf
        self.clock = clock
        self.limit = limit
        self.on_retry = on_retry
        self.has_connected = False
        # Until when new requests wait (a 429's Retry-After) when there is no shared limit.
        self.gate_until = float("-inf")

    def call(
        self,
        request: httpx.Request,
        *,
        deadline: float | None = None,
        deadline_from: str = RETRY_DEADLINE_SETTING,
    ) -> Call:
        """The loop of one request; `deadline` is the parent call's (CSRF fetches), set by
        `deadline_from` (named in errors)."""
        # The clock is read once per step between two actions (nothing waits in between).
        started = self.clock()
        state = self._start(request, deadline, deadline_from, started)
        attribution = attribution_headers()
        if attribution:
            request.headers.update(attribution)
        resendable = safe_to_resend(request)
        now: float | None = started
        if self.csrf.wants_headers(request.method):
            if self.csrf.needs_fetch(started):
                yield RefreshCsrf(None, state.deadline, state.deadline_from)
                now = None
            self.csrf.apply(request)
        csrf_refreshes = 0
        last: Outcome | None = None
        while True:
            outcome, waited_out, now = yield from self._attempt(request, state, last, now)
            if waited_out:  # the deadline passed while waiting for a slot
                if isinstance(outcome, httpx.TransportError):
                    raise outcome
                return _delivered(outcome, state)
            if isinstance(outcome, httpx.TransportError):
                decision = self._decide(request, state, outcome, resendable, now)
                if isinstance(decision, Deliver):
                    raise _delivered_error(request, outcome, decision)
            else:
                self.has_connected = True
                if (
                    outcome.status_code == 403
                    and self.csrf.wants_headers(request.method)
                    and csrf_refreshes < _MAX_CSRF_REFRESHES
                    and is_csrf_rejection(outcome.status_code, response_detail(outcome))
                ):
                    # A stale or missing token: refresh (once for everyone), re-send now.
                    stale = request.headers.get("Prefect-Csrf-Token")
                    csrf_refreshes += 1
                    yield Discard(outcome)
                    self.csrf.invalidate(stale)
                    yield RefreshCsrf(stale, state.deadline, state.deadline_from)
                    self.csrf.apply(request)
                    now = None
                    continue
                decision = self._decide(request, state, outcome, resendable, now)
                if isinstance(decision, Deliver):
                    if decision.reason == "outcome unknown":
                        outcome.extensions[NOTE_EXTENSION] = _unknown_note(decision)
                        outcome.extensions[OUTCOME_UNKNOWN_EXTENSION] = True
                    elif decision.reason != "final":
                        outcome.extensions[NOTE_EXTENSION] = _gave_up_note(decision)
                    return _delivered(outcome, state)
                yield Discard(outcome)
            last = outcome
            yield Sleep(decision.delay)
            now = None

    def fetch_csrf(
        self, action: RefreshCsrf, build_request: Callable[..., httpx.Request]
    ) -> Generator[Action, Any, None]:
        """Fetch a token for this client (the shell holds its lock around this loop).

        `build_request` is the client's (base URL, headers, auth), passed per call: a loop
        that kept it would be a reference cycle through the client, freed only by the
        cyclic garbage collector (a cost every client context would pay).
        """
        response = yield from self.call(
            self.csrf.build_fetch(build_request),
            deadline=action.deadline,
            deadline_from=action.deadline_from,
        )
        if self.csrf.disable_if_unsupported(response):
            return
        response.raise_for_status()
        self.csrf.accept(response.json(), now=self.clock())

    def _start(
        self, request: httpx.Request, deadline: float | None, deadline_from: str, now: float
    ) -> RetryState:
        timeout = request.extensions.get(RETRY_TIMEOUT_EXTENSION)
        if timeout is not None and not (
            isinstance(timeout, int | float) and not isinstance(timeout, bool) and timeout > 0
        ):
            raise ValueError(
                f"the {RETRY_TIMEOUT_EXTENSION!r} request extension must be a positive "
                f"number of seconds, got {timeout!r}"
            )
        state = self.policy.start(now, timeout=timeout)
        if timeout is not None:
            state.deadline_from = _FROM_EXTENSION
        if deadline is not None and deadline < state.deadline:
            state.deadline, state.deadline_from = deadline, deadline_from
        return state

    def _attempt(
        self, request: httpx.Request, state: RetryState, last: Outcome | None, now: float | None
    ) -> Generator[Action, Any, tuple[Outcome, bool, float | None]]:
        """Send once, holding a backpressure slot. Returns the outcome and False, or, when
        the deadline passes while waiting for a slot, the last outcome (or a
        `httpx.PoolTimeout`) and True; and the clock's reading after it (None if stale).

        `now` is the clock's reading if nothing waited since it was taken, else None."""
        slot: Slot | None = None
        signal = Signal.DROPPED
        if now is None:
            now = self.clock()
        gate = self.limit.gate_until if self.limit is not None else self.gate_until
        wait = gate - now  # read once: a real clock may pass the gate meanwhile
        if wait > 0:
            # A server said 429 with Retry-After: nobody sends until then.
            if gate > state.deadline:
                return _deadline_while_waiting(request, state, None, last), True, now
            yield Sleep(wait)
            now = self.clock()
        if self.limit is not None:
            slot = self.limit.try_acquire(now)
            if slot is None:
                slot = yield Acquire(self.limit, state.deadline)
                if slot is None:
                    return _deadline_while_waiting(request, state, self.limit, last), True, None
        after: float | None = None
        try:
            outcome: Outcome = yield Transmit(request)
            if isinstance(outcome, httpx.Response):
                overloaded = outcome.status_code in OVERLOAD_STATUSES or (
                    outcome.headers.get("Prefect-Maintenance", "").lower() == "true"
                )
                signal = Signal.OVERLOAD if overloaded else Signal.OK
                if outcome.status_code == 429:
                    self._close_gate(outcome)
        finally:
            if slot is not None and self.limit is not None:
                # Only a success's latency is compared per endpoint: name it only then.
                route = route_of(request) if signal is Signal.OK else ""
                after = self.clock()
                self.limit.release(slot, signal, after, route)
        return outcome, False, after

    def _close_gate(self, response: httpx.Response) -> None:
        """After a 429 with Retry-After, hold every new request of the client until then."""
        raw = response.headers.get("Retry-After")
        if raw is None:
            return
        delay = parse_retry_after(raw, now=datetime.now(timezone.utc))
        if delay is None:
            return
        until = self.clock() + min(delay, self.policy.retry_after_max)
        if self.limit is not None:
            self.limit.gate_until = max(self.limit.gate_until, until)
        else:
            self.gate_until = max(self.gate_until, until)

    def _decide(
        self,
        request: httpx.Request,
        state: RetryState,
        outcome: Outcome,
        resendable: bool,
        now: float | None = None,
    ) -> Deliver | Retry:
        """The policy's decision; `now` is the clock's reading if it is still current."""
        response = outcome if isinstance(outcome, httpx.Response) else None
        exception = outcome if isinstance(outcome, httpx.TransportError) else None
        decision = self.policy.decide(
            state,
            now=self.clock() if now is None else now,
            status_code=None if response is None else response.status_code,
            headers=None if response is None else response.headers,
            exception=exception,
            has_connected=self.has_connected,
            safe_to_resend=resendable,
            paced=self.limit is not None,
        )
        if isinstance(decision, Retry):
            self._log_retry(request, loggable_url(request), state, decision, response, exception)
        elif decision.reason != "final":
            logger.debug(
                "%s %s: giving up, %s: %s",
                request.method,
                loggable_url(request),
                decision.reason,
                decision.detail,
            )
        return decision

    def _log_retry(
        self,
        request: httpx.Request,
        url: str,
        state: RetryState,
        decision: Retry,
        response: httpx.Response | None,
        exception: BaseException | None,
    ) -> None:
        max_attempts = self.policy.max_attempts
        # Prefect's own phrases first, so existing log filters and alerts keep working.
        if response is not None:
            what = f"Received response with retryable status code {response.status_code}."
        else:
            what = "Encountered retryable exception during request."
        logger.debug(
            "%s Another attempt will be made in %.3fs. This is attempt %d/%d. (%s %s: %s)",
            what,
            decision.delay,
            state.attempts,
            max_attempts,
            request.method,
            url,
            decision.reason,
            exc_info=exception,
        )
        if self.on_retry is not None:
            self.on_retry(
                RetryEvent(
                    method=request.method,
                    url=url,
                    attempt=state.attempts,
                    max_attempts=max_attempts,
                    delay=decision.delay,
                    reason=decision.reason,
                    counted=decision.counted,
                    status_code=None if response is None else response.status_code,
                    exception=exception,
                )
            )


def _delivered(response: httpx.Response, state: RetryState) -> PrefectResponse:
    # The loop owns the response: it becomes a PrefectResponse in place (no copy, and
    # the stream that records `elapsed` when it closes records it on this object).
    if not isinstance(response, PrefectResponse):
        response.__class__ = PrefectResponse
    assert isinstance(response, PrefectResponse)
    response.attempts = state.attempts
    return response


def _unknown_note(decision: Deliver) -> str:
    return (
        f"not re-sent: the request is not safe to send twice and its outcome is unknown "
        f"({decision.detail}); the server may have applied it"
    )


def _delivered_error(
    request: httpx.Request, error: httpx.TransportError, decision: Deliver
) -> BaseException:
    """The exception the caller gets for a transport error the loop stopped at."""
    if decision.reason == "outcome unknown":
        unknown = OutcomeUnknownError(
            f"{request.method} {loggable_url(request)}: {_unknown_note(decision)}",
            request=request,
        )
        unknown.__cause__ = error
        return unknown
    if decision.reason != "final":
        add_note(error, _gave_up_note(decision))
    return error


def _gave_up_note(decision: Deliver) -> str:
    return f"prefect-trio-client gave up retrying: {decision.reason}: {decision.detail}"


def add_note(error: BaseException, note: str) -> None:
    """`BaseException.add_note` where Python has it (3.11+)."""
    if hasattr(error, "add_note"):
        error.add_note(note)


def _deadline_while_waiting(
    request: httpx.Request, state: RetryState, limit: AdaptiveLimit | None, last: Outcome | None
) -> Outcome:
    """What a call gets when its deadline passes while it waits for a slot (`limit`), or
    would pass before a 429's Retry-After lets requests through (no `limit`)."""
    budget = state.deadline - state.started_at
    if limit is None:
        detail = (
            f"the {budget:g}s retry deadline ({state.deadline_from}) would pass "
            f"before the server's Retry-After (429) lets requests through, after "
            f"{state.attempts} attempts"
        )
    else:
        snapshot = limit.snapshot()
        detail = (
            f"the {budget:g}s retry deadline ({state.deadline_from}) passed while "
            f"waiting for one of {snapshot.limit:.3g} request slots to the server "
            f"({snapshot.in_flight} in flight, {snapshot.waiting} waiting) after "
            f"{state.attempts} attempts"
        )
    if last is None:
        error = httpx.PoolTimeout(f"{request.method} {loggable_url(request)}: {detail}")
        error.request = request
        return error
    if isinstance(last, httpx.TransportError):
        add_note(last, f"prefect-trio-client gave up: {detail}")
    return last
