"""The retry policy: pure decisions, no I/O, no sleeping, no clock.

The async and sync clients feed each outcome of an attempt (a response's status and
headers, or a transport exception) to `RetryPolicy.decide` together with the current
time, and get back either "deliver this outcome to the caller" or "sleep this long,
then send again". Everything that makes retrying hard to get right lives here, where
it is tested with hypothesis: Retry-After parsing, capped exponential backoff, jitter,
the maximum number of retries and the overall deadline.
"""

from __future__ import annotations

import email.utils
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Literal

import httpx

if TYPE_CHECKING:
    from prefect_trio_client.settings import ClientSettings

__all__ = [
    "DEFAULT_RETRY_CODES",
    "OUTCOME_UNKNOWN_EXCEPTIONS",
    "OUTCOME_UNKNOWN_STATUSES",
    "OVERLOAD_STATUSES",
    "RETRYABLE_EXCEPTIONS",
    "RETRY_DEADLINE_SETTING",
    "SAFE_RESEND_STATUSES",
    "Deliver",
    "Retry",
    "RetryPolicy",
    "RetryState",
    "parse_retry_after",
]

#: Statuses that are always retried: request timeout, rate limit, bad gateway, unavailable.
DEFAULT_RETRY_CODES = frozenset({408, 429, 502, 503})

#: Transport errors that are retried. `httpx.ConnectError` joins them once a response
#: has arrived from the server, so a wrong URL fails fast while a restarting server is
#: waited for. `httpx.LocalProtocolError` is not here: it is our own request that is
#: malformed (an illegal header value, say), and sending it again cannot help.
RETRYABLE_EXCEPTIONS: tuple[type[httpx.TransportError], ...] = (
    httpx.ReadTimeout,
    httpx.PoolTimeout,
    httpx.ConnectTimeout,
    httpx.ReadError,
    httpx.WriteError,
    httpx.WriteTimeout,
    httpx.RemoteProtocolError,
)

#: Errors raised after the whole request was sent: the server may have applied it and
#: its answer was lost. Only a request that is safe to re-send is sent again after these.
OUTCOME_UNKNOWN_EXCEPTIONS: tuple[type[httpx.TransportError], ...] = (
    httpx.ReadTimeout,
    httpx.ReadError,
    httpx.RemoteProtocolError,
)

#: Answers after which the request may or may not have been applied: a proxy whose
#: upstream failed or timed out, or a server error (a 500 can come after the commit).
OUTCOME_UNKNOWN_STATUSES = frozenset({500, 502, 504})

#: Server errors re-sent only for a request that is safe to send twice (a read, or a write
#: the server dedupes): a server whose database is restarting answers 500 for a while, and
#: sending such a request again cannot apply it twice. Counted against `max_retries`.
SAFE_RESEND_STATUSES = frozenset({500, 504})

#: Answers in which the server says it is busy: retried until the deadline, uncounted.
OVERLOAD_STATUSES = frozenset({429, 503})

MAINTENANCE_HEADER = "Prefect-Maintenance"

#: The setting a user raises when a call's overall retry deadline is too short; every
#: error that reports the deadline names it.
RETRY_DEADLINE_SETTING = "PREFECT_CLIENT_RETRY_TIMEOUT"


def parse_retry_after(value: str, *, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header value (RFC 9110, section 10.2.3).

    Accepts delta-seconds (decimals too, as some servers send them) and HTTP-dates.
    A negative delay or a date in the past means "now" (0). Returns None for a value
    that cannot be used (garbage, NaN, infinity), so the caller falls back to backoff.

    Args:
        value: The header's value.
        now: The current wall-clock time (timezone-aware), to resolve an HTTP-date.
    """
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds):
            return None
        return max(seconds, 0.0)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are always GMT
        when = when.replace(tzinfo=timezone.utc)
    return max((when - now).total_seconds(), 0.0)


#: The jitter generator policies share unless given their own (tests seed their own).
_JITTER = random.Random()


@dataclass
class RetryState:
    """What one call has done so far; the policy reads it, the client updates it."""

    started_at: float
    deadline: float
    attempts: int = 0
    #: What set `deadline`, named in the errors that report it.
    deadline_from: str = RETRY_DEADLINE_SETTING
    counted_failures: int = 0
    uncounted_retries: int = 0


@dataclass(frozen=True)
class Deliver:
    """Stop here: give the caller this attempt's outcome (a response, or raise the error)."""

    reason: Literal["final", "retries exhausted", "deadline", "outcome unknown"]
    detail: str = ""


@dataclass(frozen=True)
class Retry:
    """Sleep `delay` seconds, then send again. `reason` is for logs and hooks."""

    delay: float
    reason: str
    counted: bool


RetryDecision = Deliver | Retry
# Most answers are final: one decision (immutable) serves them all.
_FINAL = Deliver("final")


@dataclass(frozen=True)
class RetryPolicy:
    """How a client retries. Build one from settings with `RetryPolicy.from_settings`.

    Two budgets: a server that says it is busy (429, 503, ``Prefect-Maintenance: true``)
    is waited for until the call's deadline, uncounted, with a floor on each delay and a
    bound on their number; every other failure counts against `max_retries`.

    Args:
        max_retries: Counted retries allowed per call (so at most ``max_retries + 1``
            counted attempts). Overload and maintenance answers are not counted, but
            still cannot outlast `timeout`.
        retry_codes: Statuses to retry.
        jitter_factor: Relative jitter; 0 disables it.
        backoff_base: First backoff delay; it doubles on every retry.
        backoff_max: Cap on the backoff delay (jitter included).
        retry_after_max: Cap on a server's Retry-After (jitter included).
        timeout: The overall deadline of one call, in seconds from its first attempt:
            no retry sleep reaches past it.
        uncounted_delay_floor: The least delay before re-sending after a busy answer,
            whatever its Retry-After says (``Retry-After: 0`` must not become a flood).
        paced_busy_backoff_max: The most a busy answer (503 or 429, not maintenance)
            without a Retry-After backs off when the shared adaptive limit paces the
            client (``decide(paced=True)``): that limit already halves the requests in
            flight on every busy answer, and a SQLite-backed Prefect answers 503 to a
            flow-run create whenever another write overlaps it, which waiting longer
            makes no less likely (measured: 100 engine flow runs at 20 in flight took
            16.6-17.7 s with 1 s here, 19.7-35.7 s with backoff doubling up to
            `backoff_max`).
        max_uncounted_retries: The most busy answers one call waits through.
    """

    max_retries: int = 5
    retry_codes: frozenset[int] = DEFAULT_RETRY_CODES
    jitter_factor: float = 0.2
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    retry_after_max: float = 60.0
    timeout: float = 300.0
    uncounted_delay_floor: float = 0.25
    paced_busy_backoff_max: float = 1.0
    max_uncounted_retries: int = 200
    # One generator for the process by default: seeding one costs tens of microseconds
    # (2500 bytes from os.urandom), which every client context would pay.
    rng: random.Random = field(default=_JITTER, compare=False, repr=False)

    @classmethod
    def from_settings(cls, settings: ClientSettings) -> RetryPolicy:
        """The policy the ``PREFECT_CLIENT_*`` settings describe."""
        return cls(
            max_retries=settings.client_max_retries,
            retry_codes=DEFAULT_RETRY_CODES | settings.client_retry_extra_codes,
            jitter_factor=settings.client_retry_jitter_factor,
            backoff_max=settings.client_retry_backoff_max,
            retry_after_max=settings.client_retry_after_max,
            timeout=settings.client_retry_timeout,
        )

    def start(self, now: float, *, timeout: float | None = None) -> RetryState:
        """The state of a new call starting at `now` (optionally with its own deadline)."""
        return RetryState(
            started_at=now, deadline=now + (self.timeout if timeout is None else timeout)
        )

    @property
    def max_attempts(self) -> int:
        return self.max_retries + 1

    def is_retryable_exception(self, exc: BaseException, *, has_connected: bool) -> bool:
        if isinstance(exc, RETRYABLE_EXCEPTIONS):
            return True
        return has_connected and isinstance(exc, httpx.ConnectError)

    def decide(
        self,
        state: RetryState,
        *,
        now: float,
        wall_now: datetime | None = None,
        status_code: int | None = None,
        headers: Mapping[str, str] | None = None,
        exception: BaseException | None = None,
        has_connected: bool = False,
        safe_to_resend: bool = True,
        paced: bool = False,
    ) -> RetryDecision:
        """Decide what follows an attempt; updates `state`'s counters.

        Pass either `status_code` (and `headers`) for a response, or `exception`.
        `wall_now` (timezone-aware) resolves a Retry-After HTTP-date; by default the
        current UTC time, read only when a Retry-After is there to resolve.
        `safe_to_resend` is False for a request the server does not dedupe: it is not
        sent again once it may have been applied (an answer lost after it was sent, a
        500, 502 or 504). A request that is safe is also re-sent after a 500 or 504.
        `paced` says the shared adaptive limit paces the client: busy answers then back
        off at most `paced_busy_backoff_max`.
        """
        state.attempts += 1
        headers = headers or {}
        if exception is not None:
            if not self.is_retryable_exception(exception, has_connected=has_connected):
                return _FINAL
            if not safe_to_resend and isinstance(exception, OUTCOME_UNKNOWN_EXCEPTIONS):
                return Deliver("outcome unknown", f"{type(exception).__name__} after sending")
            counted, maintenance = True, False
            why = f"{type(exception).__name__}"
            retry_after = None
        else:
            if not safe_to_resend and status_code in OUTCOME_UNKNOWN_STATUSES:
                return Deliver("outcome unknown", f"status {status_code} after sending")
            if status_code not in self.retry_codes and not (
                safe_to_resend and status_code in SAFE_RESEND_STATUSES
            ):
                return _FINAL
            maintenance = headers.get(MAINTENANCE_HEADER, "").lower() == "true"
            counted = not maintenance and status_code not in OVERLOAD_STATUSES
            why = f"status {status_code}" + (" (server maintenance)" if maintenance else "")
            raw = headers.get("Retry-After")
            if raw is None:
                retry_after = None
            else:
                if wall_now is None:
                    wall_now = datetime.now(timezone.utc)
                retry_after = parse_retry_after(raw, now=wall_now)

        if counted:
            state.counted_failures += 1
            if state.counted_failures > self.max_retries:
                return Deliver("retries exhausted", f"{why} after {state.attempts} attempts")
        else:
            state.uncounted_retries += 1
            if state.uncounted_retries > self.max_uncounted_retries:
                return Deliver(
                    "retries exhausted",
                    f"{why}: {state.uncounted_retries - 1} busy answers in a row",
                )

        failures = state.counted_failures if counted else state.uncounted_retries
        if retry_after is not None:
            delay = self.jittered_retry_after(retry_after)
            why += f", Retry-After {retry_after:g}s"
        else:
            delay = self.jittered_backoff(failures)
            if paced and not counted and not maintenance:  # busy, not down for maintenance
                delay = min(delay, self.paced_busy_backoff_max)
        if not counted:
            delay = max(delay, self.uncounted_delay_floor)

        remaining = state.deadline - now
        if delay > remaining:
            budget = state.deadline - state.started_at
            return Deliver(
                "deadline",
                f"{why}; a {delay:.3g}s delay would pass the {budget:g}s retry deadline "
                f"({state.deadline_from}; {max(remaining, 0):.3g}s left) after "
                f"{state.attempts} attempts",
            )
        return Retry(delay=delay, reason=why, counted=counted)

    def backoff(self, failures: int) -> float:
        """The un-jittered backoff before retry number `failures` (1-based), capped."""
        exponent = min(max(failures - 1, 0), 64)  # 2**64 * base is past any cap
        return min(self.backoff_base * 2.0**exponent, self.backoff_max)

    def jittered_backoff(self, failures: int) -> float:
        """Backoff with symmetric jitter: within ``backoff * (1 ± jitter)``, then capped."""
        delay = self.backoff(failures)
        if self.jitter_factor <= 0 or delay <= 0:
            return delay
        low = max(delay * (1 - self.jitter_factor), 0.0)
        high = delay * (1 + self.jitter_factor)
        return min(self.rng.uniform(low, high), self.backoff_max)

    def jittered_retry_after(self, retry_after: float) -> float:
        """A server's delay with upward-only jitter, so we never come back before it asked.

        The result lies in ``[min(retry_after, cap), cap]`` where ``cap`` is
        `retry_after_max`: never earlier than asked (unless the ask exceeds the cap).
        """
        delay = min(retry_after, self.retry_after_max)
        if self.jitter_factor <= 0 or delay <= 0:
            return delay
        return min(self.rng.uniform(delay, delay * (1 + self.jitter_factor)), self.retry_after_max)
