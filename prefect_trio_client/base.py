"""The HTTP layer: Prefect's public names from ``prefect.client.base``, better behaved.

`PrefectHttpxAsyncClient` (trio or asyncio, through anyio) and `PrefectHttpxSyncClient`
retry what Prefect retries, with three differences a caller can rely on:

- **One deadline per call.** No retry sleep reaches past ``PREFECT_CLIENT_RETRY_TIMEOUT``
  (per client: ``retry_policy``; per request: the ``"retry_timeout"`` request
  extension). When the next delay would cross it, the caller gets the last outcome at once.
- **Sleeps in cancel scopes.** An outer cancel scope interrupts a retry sleep at once,
  and closing the client cancels its sleeping retries, which raise `ClientClosedError`.
- **Single-flight CSRF.** Concurrent requests share one token fetch, and a rejected
  token is refreshed once for all the requests that used it.

The retry decisions themselves are in `prefect_trio_client._retry`, the CSRF cache in
`prefect_trio_client._csrf`; this module only sends, sleeps and logs.
`app_lifespan_context` is re-exported from `prefect_trio_client.lifespan`, where the
lifespan service lives.
"""

from __future__ import annotations

import copy
import enum
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

import anyio
import httpx

from prefect_trio_client._csrf import CsrfTokenCache, is_csrf_rejection, response_detail
from prefect_trio_client._retry import Deliver, Retry, RetryPolicy, RetryState
from prefect_trio_client._version import __version__
from prefect_trio_client.exceptions import ClientClosedError, PrefectHTTPStatusError
from prefect_trio_client.lifespan import app_lifespan_context as app_lifespan_context
from prefect_trio_client.settings import ClientSettings

__all__ = [
    "PrefectHttpxAsyncClient",
    "PrefectHttpxSyncClient",
    "PrefectResponse",
    "RetryEvent",
    "RetryPolicy",
    "ServerType",
    "app_lifespan_context",
    "determine_server_type",
]

logger = logging.getLogger("prefect_trio_client.client")

USER_AGENT = f"prefect-trio-client/{__version__}"
#: The request extension that sets one request's retry deadline, in seconds.
RETRY_TIMEOUT_EXTENSION = "retry_timeout"
# A server that keeps rejecting fresh tokens gets its 403 after this many refreshes.
_MAX_CSRF_REFRESHES = 2


class PrefectResponse(httpx.Response):
    """An `httpx.Response` whose `raise_for_status` raises `PrefectHTTPStatusError`.

    Attributes:
        attempts: How many times the request was sent to get this response.
    """

    attempts: int = 1

    def raise_for_status(self) -> PrefectResponse:
        """Return the response if it succeeded, else raise with the server's detail.

        Raises:
            PrefectHTTPStatusError: For a 4xx or 5xx status (`ObjectNotFound` for 404,
                `ObjectAlreadyExists` for 409), with the httpx error as ``__cause__``.
        """
        try:
            super().raise_for_status()
        except httpx.HTTPStatusError as exc:
            raise PrefectHTTPStatusError.from_httpx_error(exc, attempts=self.attempts) from exc
        return self

    @classmethod
    def from_httpx_response(cls, response: httpx.Response) -> PrefectResponse:
        """The same response, viewed as a `PrefectResponse` (a shallow copy; no I/O)."""
        if isinstance(response, cls):
            return response
        prefect_response = copy.copy(response)
        prefect_response.__class__ = cls
        return prefect_response  # type: ignore[return-value]  # __class__ was just set


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


class ServerType(str, enum.Enum):
    """Which kind of API a client talks to. Each member's value is its own name."""

    @staticmethod
    def _generate_next_value_(name: str, start: int, count: int, last_values: list[Any]) -> str:
        return name

    @staticmethod
    def auto() -> Any:
        """`enum.auto`, exposed so subclasses need no second import (as Prefect's AutoEnum)."""
        return enum.auto()

    EPHEMERAL = enum.auto()
    SERVER = enum.auto()
    CLOUD = enum.auto()
    UNCONFIGURED = enum.auto()

    def __repr__(self) -> str:
        return f"{type(self).__name__}.{self.name}"


def determine_server_type(settings: ClientSettings | None = None) -> ServerType:
    """The kind of API the settings point at, by Prefect's rules.

    No ``PREFECT_API_URL``: `ServerType.EPHEMERAL` if ephemeral mode is allowed, else
    `ServerType.UNCONFIGURED`. A URL under ``PREFECT_CLOUD_API_URL``: `ServerType.CLOUD`.
    Any other URL: `ServerType.SERVER`.

    Args:
        settings: Settings to use; read from the environment when omitted.
    """
    settings = settings or ClientSettings()
    if settings.api_url is None:
        if settings.server_allow_ephemeral_mode:
            return ServerType.EPHEMERAL
        return ServerType.UNCONFIGURED
    if settings.api_url.startswith(settings.cloud_api_url):
        return ServerType.CLOUD
    return ServerType.SERVER


def _protected_headers(settings: ClientSettings) -> frozenset[str]:
    protected = {"user-agent", "prefect-csrf-token", "prefect-csrf-client"}
    if settings.api_key is not None or settings.api_auth_string is not None:
        protected.add("authorization")
    return frozenset(protected)


class _RetryingClientMixin:
    """State and helpers shared by both clients: headers, policy, logging, CSRF cache."""

    headers: httpx.Headers
    _retry_policy: RetryPolicy
    _on_retry: OnRetry | None
    _csrf: CsrfTokenCache
    _has_connected: bool
    raise_on_all_errors: bool

    def _setup(
        self,
        *,
        settings: ClientSettings | None,
        retry_policy: RetryPolicy | None,
        on_retry: OnRetry | None,
        enable_csrf_support: bool,
        raise_on_all_errors: bool,
    ) -> None:
        settings = settings or ClientSettings()
        self._retry_policy = retry_policy or RetryPolicy.from_settings(settings)
        self._on_retry = on_retry
        self._csrf = CsrfTokenCache(enabled=enable_csrf_support)
        self._has_connected = False
        self.raise_on_all_errors = raise_on_all_errors
        self.headers["User-Agent"] = USER_AGENT
        protected = _protected_headers(settings)
        for name, value in settings.client_custom_headers.items():
            if name.lower() in protected:
                logger.warning(
                    "Custom header %r from PREFECT_CLIENT_CUSTOM_HEADERS is ignored: the "
                    "client manages it (protected: %s).",
                    name,
                    ", ".join(sorted(protected)),
                )
            else:
                self.headers[name] = value

    @property
    def enable_csrf_support(self) -> bool:
        """Whether change requests carry CSRF headers (turns off for servers without CSRF)."""
        return self._csrf.enabled

    @property
    def retry_policy(self) -> RetryPolicy:
        return self._retry_policy

    def _start(self, request: httpx.Request, now: float) -> RetryState:
        timeout = request.extensions.get(RETRY_TIMEOUT_EXTENSION)
        if timeout is not None and not (isinstance(timeout, int | float) and timeout > 0):
            raise ValueError(
                f"the {RETRY_TIMEOUT_EXTENSION!r} request extension must be a positive "
                f"number of seconds, got {timeout!r}"
            )
        return self._retry_policy.start(now, timeout=timeout)

    def _decide(
        self,
        request: httpx.Request,
        state: RetryState,
        now: float,
        *,
        response: httpx.Response | None = None,
        exception: BaseException | None = None,
    ) -> Deliver | Retry:
        decision = self._retry_policy.decide(
            state,
            now=now,
            wall_now=datetime.now(timezone.utc),
            status_code=None if response is None else response.status_code,
            headers=None if response is None else response.headers,
            exception=exception,
            has_connected=self._has_connected,
        )
        url = _loggable_url(request)
        if isinstance(decision, Retry):
            logger.debug(
                "%s %s: attempt %d of %d failed (%s); retrying in %.3fs",
                request.method,
                url,
                state.attempts,
                self._retry_policy.max_attempts,
                decision.reason,
                decision.delay,
            )
            if self._on_retry is not None:
                self._on_retry(
                    RetryEvent(
                        method=request.method,
                        url=url,
                        attempt=state.attempts,
                        max_attempts=self._retry_policy.max_attempts,
                        delay=decision.delay,
                        reason=decision.reason,
                        counted=decision.counted,
                        status_code=None if response is None else response.status_code,
                        exception=exception,
                    )
                )
        elif decision.reason != "final":
            logger.debug(
                "%s %s: giving up, %s: %s", request.method, url, decision.reason, decision.detail
            )
        return decision

    def _finish(self, response: httpx.Response, state: RetryState) -> PrefectResponse:
        prefect_response = PrefectResponse.from_httpx_response(response)
        prefect_response.attempts = state.attempts
        return prefect_response


def _loggable_url(request: httpx.Request) -> str:
    """The URL without user-info or query string (either may hold a secret)."""
    return str(request.url.copy_with(username=None, password=None, query=None))


def _note_gave_up(exc: BaseException, decision: Deliver) -> None:
    if decision.reason != "final" and hasattr(exc, "add_note"):
        exc.add_note(f"prefect-trio-client gave up retrying: {decision.reason}: {decision.detail}")


class PrefectHttpxAsyncClient(_RetryingClientMixin, httpx.AsyncClient):
    """An `httpx.AsyncClient` that retries like Prefect's, under trio or asyncio.

    Args:
        enable_csrf_support: Send CSRF headers on change requests (turned off by itself
            when the server does not use CSRF).
        raise_on_all_errors: Raise `PrefectHTTPStatusError` for every 4xx/5xx response.
        settings: Settings to use instead of reading the environment.
        retry_policy: The retry policy; by default built from `settings`.
        on_retry: Called with a `RetryEvent` before each retry sleep (logs, metrics).
        *args, **kwargs: Everything `httpx.AsyncClient` takes.
    """

    def __init__(
        self,
        *args: Any,
        enable_csrf_support: bool = False,
        raise_on_all_errors: bool = True,
        settings: ClientSettings | None = None,
        retry_policy: RetryPolicy | None = None,
        on_retry: OnRetry | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._setup(
            settings=settings,
            retry_policy=retry_policy,
            on_retry=on_retry,
            enable_csrf_support=enable_csrf_support,
            raise_on_all_errors=raise_on_all_errors,
        )
        self._csrf_lock = anyio.Lock()
        self._sleeping: set[anyio.CancelScope] = set()
        self._closing = False

    async def send(
        self,
        request: httpx.Request,
        *,
        stream: bool = False,
        auth: Any = httpx.USE_CLIENT_DEFAULT,
        follow_redirects: Any = httpx.USE_CLIENT_DEFAULT,
    ) -> PrefectResponse:
        """Send with retries; see the module docstring for what is retried and how long.

        Raises:
            PrefectHTTPStatusError: An error status, if `raise_on_all_errors`.
            httpx.TransportError: The last transport error, when retrying stopped.
            ClientClosedError: The client was closed before or while this call waited.
        """
        response = await self._send_retrying(
            request, stream=stream, auth=auth, follow_redirects=follow_redirects
        )
        if self.raise_on_all_errors:
            response.raise_for_status()
        return response

    async def _send_retrying(
        self, request: httpx.Request, *, stream: bool, auth: Any, follow_redirects: Any
    ) -> PrefectResponse:
        if self._closing:
            raise ClientClosedError("the client is closed")
        state = self._start(request, anyio.current_time())
        if self._csrf.wants_headers(request.method):
            await self._ensure_csrf_token()
            self._csrf.apply(request)
        csrf_refreshes = 0
        while True:
            try:
                response = await super().send(
                    request, stream=stream, auth=auth, follow_redirects=follow_redirects
                )
            except httpx.TransportError as exc:
                decision = self._decide(request, state, anyio.current_time(), exception=exc)
                if isinstance(decision, Deliver):
                    _note_gave_up(exc, decision)
                    raise
                await self._sleep(decision.delay)
                continue
            self._has_connected = True
            if (
                self._csrf.wants_headers(request.method)
                and csrf_refreshes < _MAX_CSRF_REFRESHES
                and await self._is_csrf_rejection(response)
            ):
                # A stale or missing token: refresh (once for everyone) and re-send now.
                csrf_refreshes += 1
                await response.aclose()
                self._csrf.invalidate(request.headers.get("Prefect-Csrf-Token"))
                await self._ensure_csrf_token()
                self._csrf.apply(request)
                continue
            decision = self._decide(request, state, anyio.current_time(), response=response)
            if isinstance(decision, Deliver):
                if response.is_error:
                    await response.aread()
                return self._finish(response, state)
            await response.aclose()
            await self._sleep(decision.delay)

    async def _is_csrf_rejection(self, response: httpx.Response) -> bool:
        if response.status_code != 403:
            return False
        await response.aread()
        return is_csrf_rejection(403, response_detail(response))

    async def _sleep(self, delay: float) -> None:
        with anyio.CancelScope() as scope:
            self._sleeping.add(scope)
            try:
                await anyio.sleep(delay)
            finally:
                self._sleeping.discard(scope)
        if scope.cancelled_caught:
            raise ClientClosedError("the client was closed while a request waited to retry")

    async def _ensure_csrf_token(self) -> None:
        """Fetch a token if none is fresh; one fetch at a time for all of this client's calls."""
        if not self._csrf.needs_fetch(anyio.current_time()):
            return
        async with self._csrf_lock:
            if not self._csrf.needs_fetch(anyio.current_time()):
                return  # another call fetched while we waited for the lock
            # The retrying send, not raising: a GET carries no CSRF headers.
            response = await self._send_retrying(
                self._csrf.build_fetch(self),
                stream=False,
                auth=httpx.USE_CLIENT_DEFAULT,
                follow_redirects=httpx.USE_CLIENT_DEFAULT,
            )
            if self._csrf.disable_if_unsupported(response):
                return
            response.raise_for_status()
            self._csrf.accept(
                response.json(), now=anyio.current_time(), wall_now=datetime.now(timezone.utc)
            )

    async def aclose(self) -> None:
        """Close the client; calls sleeping before a retry raise `ClientClosedError` at once."""
        self._closing = True
        for scope in list(self._sleeping):
            scope.cancel()
        await super().aclose()


class _SyncTimer(Protocol):
    """The sync client's clock and sleep, replaceable in tests (like stamina's testing mode)."""

    def now(self) -> float: ...

    def wait(self, delay: float, interrupt: threading.Event) -> bool:
        """Sleep up to `delay` seconds; True if `interrupt` was set first."""
        ...


class _RealTimer:
    def now(self) -> float:
        return time.monotonic()

    def wait(self, delay: float, interrupt: threading.Event) -> bool:
        return interrupt.wait(delay)


class PrefectHttpxSyncClient(_RetryingClientMixin, httpx.Client):
    """An `httpx.Client` that retries like `PrefectHttpxAsyncClient`, for blocking code.

    Retry sleeps wait on an event that `close()` sets, so closing the client from another
    thread wakes a sleeping retry at once (it raises `ClientClosedError`).

    Args: as `PrefectHttpxAsyncClient`.
    """

    def __init__(
        self,
        *args: Any,
        enable_csrf_support: bool = False,
        raise_on_all_errors: bool = True,
        settings: ClientSettings | None = None,
        retry_policy: RetryPolicy | None = None,
        on_retry: OnRetry | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._setup(
            settings=settings,
            retry_policy=retry_policy,
            on_retry=on_retry,
            enable_csrf_support=enable_csrf_support,
            raise_on_all_errors=raise_on_all_errors,
        )
        self._csrf_lock = threading.Lock()
        self._closed_event = threading.Event()
        self._timer: _SyncTimer = _RealTimer()

    def send(
        self,
        request: httpx.Request,
        *,
        stream: bool = False,
        auth: Any = httpx.USE_CLIENT_DEFAULT,
        follow_redirects: Any = httpx.USE_CLIENT_DEFAULT,
    ) -> PrefectResponse:
        """Send with retries, as `PrefectHttpxAsyncClient.send` does."""
        response = self._send_retrying(
            request, stream=stream, auth=auth, follow_redirects=follow_redirects
        )
        if self.raise_on_all_errors:
            response.raise_for_status()
        return response

    def _send_retrying(
        self, request: httpx.Request, *, stream: bool, auth: Any, follow_redirects: Any
    ) -> PrefectResponse:
        if self._closed_event.is_set():
            raise ClientClosedError("the client is closed")
        state = self._start(request, self._timer.now())
        if self._csrf.wants_headers(request.method):
            self._ensure_csrf_token()
            self._csrf.apply(request)
        csrf_refreshes = 0
        while True:
            try:
                response = super().send(
                    request, stream=stream, auth=auth, follow_redirects=follow_redirects
                )
            except httpx.TransportError as exc:
                decision = self._decide(request, state, self._timer.now(), exception=exc)
                if isinstance(decision, Deliver):
                    _note_gave_up(exc, decision)
                    raise
                self._sleep(decision.delay)
                continue
            self._has_connected = True
            if (
                self._csrf.wants_headers(request.method)
                and csrf_refreshes < _MAX_CSRF_REFRESHES
                and self._is_csrf_rejection(response)
            ):
                csrf_refreshes += 1
                response.close()
                self._csrf.invalidate(request.headers.get("Prefect-Csrf-Token"))
                self._ensure_csrf_token()
                self._csrf.apply(request)
                continue
            decision = self._decide(request, state, self._timer.now(), response=response)
            if isinstance(decision, Deliver):
                if response.is_error:
                    response.read()
                return self._finish(response, state)
            response.close()
            self._sleep(decision.delay)

    def _is_csrf_rejection(self, response: httpx.Response) -> bool:
        if response.status_code != 403:
            return False
        response.read()
        return is_csrf_rejection(403, response_detail(response))

    def _sleep(self, delay: float) -> None:
        if self._timer.wait(delay, self._closed_event):
            raise ClientClosedError("the client was closed while a request waited to retry")

    def _ensure_csrf_token(self) -> None:
        if not self._csrf.needs_fetch(self._timer.now()):
            return
        with self._csrf_lock:
            if not self._csrf.needs_fetch(self._timer.now()):
                return
            response = self._send_retrying(
                self._csrf.build_fetch(self),
                stream=False,
                auth=httpx.USE_CLIENT_DEFAULT,
                follow_redirects=httpx.USE_CLIENT_DEFAULT,
            )
            if self._csrf.disable_if_unsupported(response):
                return
            response.raise_for_status()
            self._csrf.accept(
                response.json(), now=self._timer.now(), wall_now=datetime.now(timezone.utc)
            )

    def close(self) -> None:
        """Close the client; threads sleeping before a retry raise `ClientClosedError`."""
        self._closed_event.set()
        super().close()
