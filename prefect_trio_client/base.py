"""The HTTP layer: Prefect's public names from ``prefect.client.base``, better behaved.

`PrefectHttpxAsyncClient` (trio or asyncio, through anyio) and `PrefectHttpxSyncClient`
retry what Prefect retries, with differences a caller can rely on:

- **One deadline per call.** Nothing a call does waits past ``PREFECT_CLIENT_RETRY_TIMEOUT``
  (per client: ``retry_policy``; per request: the ``"retry_timeout"`` request extension):
  no retry sleep, no wait for a backpressure slot, no wait for a CSRF token.
- **Sleeps in cancel scopes.** An outer cancel scope interrupts a retry sleep at once,
  and closing the client ends its sleeping and waiting calls with `ClientClosedError`.
- **Backpressure.** Requests to one server share an adaptive limit on how many are in
  flight (`prefect_trio_client._backpressure`); a busy server (503, 429) is waited for
  until the deadline instead of being given up on after a few tries.
- **No duplicates.** A request that is not safe to send twice (a POST, unless it says
  ``extensions={"idempotent": True}``) is not re-sent once its answer was lost after
  sending; the caller gets `OutcomeUnknownError`.
- **Single-flight CSRF.** Concurrent requests share one token fetch, and a rejected
  token is refreshed once for all the requests that used it.

Every decision is made in one place, the sans-I/O loop of `prefect_trio_client._send_loop`;
the two classes here only perform its actions: send, sleep, wait and read the clock.
`app_lifespan_context` is re-exported from `prefect_trio_client.lifespan`.
"""

from __future__ import annotations

import enum
import functools
import logging
import threading
import time
import uuid
from collections.abc import Generator
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import anyio
import httpx

if TYPE_CHECKING:
    from httpx import URL

    from prefect_trio_client._pool import SharedCsrf
    from prefect_trio_client.settings import ClientSettings

from prefect_trio_client._backpressure import AdaptiveLimit, Signal, Slot
from prefect_trio_client._csrf import CsrfTokenCache
from prefect_trio_client._httpx_shortcuts import PlainPathJoiner, skip_cookie_less
from prefect_trio_client._response import PrefectResponse as PrefectResponse
from prefect_trio_client._retire import retire_connection
from prefect_trio_client._retry import RetryPolicy
from prefect_trio_client._send_loop import (
    IDEMPOTENT_EXTENSION as IDEMPOTENT_EXTENSION,
)
from prefect_trio_client._send_loop import (
    RETRY_TIMEOUT_EXTENSION as RETRY_TIMEOUT_EXTENSION,
)
from prefect_trio_client._send_loop import (
    Acquire,
    Action,
    Discard,
    OnRetry,
    RefreshCsrf,
    SendLoop,
    Sleep,
    Transmit,
)
from prefect_trio_client._send_loop import RetryEvent as RetryEvent
from prefect_trio_client._tls import use_shared_ssl_context
from prefect_trio_client._version import __version__
from prefect_trio_client.exceptions import ClientClosedError, redacted_url
from prefect_trio_client.lifespan import app_lifespan_context as app_lifespan_context

__all__ = [
    "PrefectHttpxAsyncClient",
    "PrefectHttpxSyncClient",
    "PrefectResponse",
    "RetryEvent",
    "RetryPolicy",
    "ServerType",
    "app_lifespan_context",
    "backpressure_from_settings",
    "determine_server_type",
]

logger = logging.getLogger("prefect_trio_client.client")

USER_AGENT = f"prefect-trio-client/{__version__}"


class _RedactedUrls(logging.Filter):
    """httpx logs every request's full URL at INFO ("HTTP Request: GET <url>"), user-info
    and query string included, either of which may be a secret: log it without them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(
            isinstance(arg, httpx.URL) for arg in record.args
        ):
            record.args = tuple(
                redacted_url(arg) if isinstance(arg, httpx.URL) else arg for arg in record.args
            )
        return True


if not any(isinstance(f, _RedactedUrls) for f in logging.getLogger("httpx").filters):
    logging.getLogger("httpx").addFilter(_RedactedUrls())
T = TypeVar("T")
#: Whether this httpx sends through the step our auth shortcut calls (0.27 to 0.29 do).
_SKIP_EMPTY_AUTH_FLOW = all(
    hasattr(client, "_send_handling_redirects") for client in (httpx.AsyncClient, httpx.Client)
)
#: Marks "use the settings" for the ``backpressure`` keyword.
_FROM_SETTINGS: Any = object()


def _base_url_of(url: httpx.URL | str) -> httpx.URL:
    """The base URL as httpx keeps it (with a trailing slash), parsed once per string.

    httpx parses a client's base URL twice on construction, a fifth of what a client
    context costs; the parsed URL is immutable, so clients of one API share it.

    Raises:
        httpx.InvalidURL: The URL cannot be parsed, as httpx would raise it.
    """
    if isinstance(url, str):
        return _parsed_base_url(url)
    return _with_trailing_slash(httpx.URL(url))


@functools.lru_cache(maxsize=64)
def _parsed_base_url(url: str) -> httpx.URL:
    return _with_trailing_slash(httpx.URL(url))


def _with_trailing_slash(url: httpx.URL) -> httpx.URL:
    if url.raw_path.endswith(b"/"):
        return url
    return url.copy_with(raw_path=url.raw_path + b"/")


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
    if settings is None:
        from prefect_trio_client.settings import current_settings  # noqa: PLC0415  # lazy

        settings = current_settings()
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


def backpressure_from_settings(
    settings: ClientSettings, base_url: httpx.URL | str | None = None
) -> AdaptiveLimit | None:
    """The adaptive limit the ``PREFECT_CLIENT_BACKPRESSURE_*`` settings describe.

    None when backpressure is off, and for Prefect Cloud, which limits its callers itself
    (429 with Retry-After, waited for all the same).
    """
    if not settings.client_backpressure_enabled:
        return None
    if base_url is not None and str(base_url).startswith(settings.cloud_api_url):
        return None
    return AdaptiveLimit(
        initial=settings.client_backpressure_initial,
        maximum=settings.client_backpressure_max,
    )


class _SendLoopShell:
    """What both clients set up alike: headers, the send loop and its parts."""

    headers: httpx.Headers
    base_url: httpx.URL
    _base_url: httpx.URL
    _cookies: httpx.Cookies
    _loop: SendLoop
    _joiner: PlainPathJoiner | None = None
    raise_on_all_errors: bool

    # httpx's hooks for joining URLs and keeping cookies, with the shortcuts of
    # `prefect_trio_client._httpx_shortcuts` (the same results, less work per request).

    def _merge_url(self, url: URL | str) -> URL:
        if isinstance(url, str):
            joiner = self._joiner
            if joiner is None or joiner.base is not self._base_url:
                joiner = self._joiner = PlainPathJoiner(self._base_url)
            joined = joiner.join(url)
            if joined is not None:
                return joined
        merged: URL = super()._merge_url(url)  # type: ignore[misc]
        return merged

    def _merge_headers(self, headers: Any = None) -> Any:
        if headers is None:
            return self.headers  # unchanged: the request copies them (httpx.Request does)
        return super()._merge_headers(headers)  # type: ignore[misc]

    @property
    def cookies(self) -> httpx.Cookies:
        return self._cookies

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        self._cookies = skip_cookie_less(httpx.Cookies(cookies))

    def _setup(
        self,
        *,
        settings: ClientSettings | None,
        retry_policy: RetryPolicy | None,
        on_retry: OnRetry | None,
        enable_csrf_support: bool,
        raise_on_all_errors: bool,
        backpressure: AdaptiveLimit | None,
        clock: Any,
    ) -> None:
        if settings is None:
            from prefect_trio_client.settings import current_settings  # noqa: PLC0415  # lazy

            settings = current_settings()
        if backpressure is _FROM_SETTINGS:
            backpressure = backpressure_from_settings(settings, self.base_url)
        self._loop = SendLoop(
            policy=retry_policy or RetryPolicy.from_settings(settings),
            csrf=CsrfTokenCache(enabled=enable_csrf_support),
            clock=clock,
            limit=backpressure,
            on_retry=on_retry,
        )
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
        return self._loop.csrf.enabled

    @property
    def csrf_token(self) -> str | None:
        """The CSRF token change requests carry (Prefect's attribute); settable: a token
        set here is used until `csrf_token_expiration`, or until the server rejects it."""
        return self._csrf.token

    @csrf_token.setter
    def csrf_token(self, token: str | None) -> None:
        self._csrf.set_token(token)

    @property
    def csrf_token_expiration(self) -> datetime | None:
        """When the token expires, as the server (or the program) said; settable."""
        return self._csrf.expiration

    @csrf_token_expiration.setter
    def csrf_token_expiration(self, expiration: datetime | None) -> None:
        self._csrf.set_expiration(expiration)

    @property
    def csrf_client_id(self) -> uuid.UUID:
        """The id this client gives the server with its CSRF token."""
        return self._csrf.client_id

    @property
    def retry_policy(self) -> RetryPolicy:
        return self._loop.policy

    @property
    def backpressure(self) -> AdaptiveLimit | None:
        """The shared limit on requests in flight, or None when backpressure is off."""
        return self._loop.limit

    @property
    def _csrf(self) -> CsrfTokenCache:
        return self._loop.csrf


class PrefectHttpxAsyncClient(_SendLoopShell, httpx.AsyncClient):
    """An `httpx.AsyncClient` that retries like Prefect's, under trio or asyncio.

    Args:
        enable_csrf_support: Send CSRF headers on change requests (turned off by itself
            when the server does not use CSRF).
        raise_on_all_errors: Raise `PrefectHTTPStatusError` for every 4xx/5xx response.
        settings: Settings to use instead of reading the environment.
        retry_policy: The retry policy; by default built from `settings`.
        on_retry: Called with a `RetryEvent` before each retry sleep (logs, metrics).
        backpressure: The adaptive limit on requests in flight to share (several
            clients of one server may share one), None for none; by default one of
            this client's own, as the settings describe.
        *args, **kwargs: Everything `httpx.AsyncClient` takes.
    """

    if TYPE_CHECKING:  # httpx's helpers return what `send` returns: a PrefectResponse

        async def request(self, method: str, url: URL | str, **kwargs: Any) -> PrefectResponse: ...
        async def get(self, url: URL | str, **kwargs: Any) -> PrefectResponse: ...
        async def head(self, url: URL | str, **kwargs: Any) -> PrefectResponse: ...
        async def options(self, url: URL | str, **kwargs: Any) -> PrefectResponse: ...
        async def post(self, url: URL | str, **kwargs: Any) -> PrefectResponse: ...
        async def put(self, url: URL | str, **kwargs: Any) -> PrefectResponse: ...
        async def patch(self, url: URL | str, **kwargs: Any) -> PrefectResponse: ...
        async def delete(self, url: URL | str, **kwargs: Any) -> PrefectResponse: ...

    def __init__(
        self,
        *args: Any,
        enable_csrf_support: bool = False,
        raise_on_all_errors: bool = True,
        settings: ClientSettings | None = None,
        retry_policy: RetryPolicy | None = None,
        on_retry: OnRetry | None = None,
        backpressure: AdaptiveLimit | None = _FROM_SETTINGS,
        **kwargs: Any,
    ) -> None:
        use_shared_ssl_context(kwargs)  # no CA bundle parsed per client
        base_url = kwargs.pop("base_url", "")
        super().__init__(*args, **kwargs)
        self._base_url = _base_url_of(base_url)
        self._cookies = skip_cookie_less(self._cookies)
        self._setup(
            settings=settings,
            retry_policy=retry_policy,
            on_retry=on_retry,
            enable_csrf_support=enable_csrf_support,
            raise_on_all_errors=raise_on_all_errors,
            backpressure=backpressure,
            clock=anyio.current_time,
        )
        self._csrf_lock = anyio.Lock()
        self._waiting: set[anyio.CancelScope] = set()
        self._closing = False

    def share_csrf(self, shared: SharedCsrf) -> None:
        """Use a connection's CSRF token and fetch lock, shared by the clients on it that
        authenticate alike (unless CSRF support is off for this client)."""
        if self._csrf.enabled:
            self._loop.csrf = shared.cache
            self._csrf_lock = shared.lock

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
            OutcomeUnknownError: An unsafe request's answer was lost after it was sent.
            httpx.TransportError: The last transport error, when retrying stopped.
            ClientClosedError: The client was closed before or while this call waited.
        """
        if self._closing:
            raise ClientClosedError("the client is closed")
        options = {"stream": stream, "auth": auth, "follow_redirects": follow_redirects}
        response = await self._drive(self._loop.call(request), options)
        if self.raise_on_all_errors:
            response.raise_for_status()
        return response

    async def _drive(self, call: Generator[Action, Any, T], options: dict[str, Any]) -> T:
        try:
            outcome: Any = None
            while True:
                try:
                    step = call.send(outcome)
                except StopIteration as done:
                    result: T = done.value
                    return result
                outcome = await self._perform(step, options)
        finally:
            call.close()  # a cancelled call gives its backpressure slot back

    async def _perform(self, action: Action, options: dict[str, Any]) -> Any:
        if isinstance(action, Transmit):
            return await self._transmit(action.request, options)
        if isinstance(action, Discard):
            await action.response.aclose()
        elif isinstance(action, Sleep):
            await self._sleep(action.seconds)
        elif isinstance(action, Acquire):
            return await self._acquire(action)
        else:
            await self._refresh_csrf(action)
        return None

    async def _send_handling_auth(
        self,
        request: httpx.Request,
        auth: httpx.Auth,
        follow_redirects: bool,
        history: list[httpx.Response],
    ) -> httpx.Response:
        # httpx's hook for auth flows: without auth, the flow sends the request once, as is.
        if type(auth) is httpx.Auth and _SKIP_EMPTY_AUTH_FLOW:
            return await self._send_handling_redirects(
                request, follow_redirects=follow_redirects, history=history
            )
        response: httpx.Response = await super()._send_handling_auth(
            request, auth=auth, follow_redirects=follow_redirects, history=history
        )
        return response

    async def _transmit(
        self, request: httpx.Request, options: dict[str, Any]
    ) -> httpx.Response | httpx.TransportError:
        if self._closing:
            raise ClientClosedError("the client was closed while a request waited to be sent")
        try:
            response = await httpx.AsyncClient.send(self, request, **options)
        except httpx.TransportError as exc:
            return exc
        if response.is_error:  # the loop reads the detail (CSRF, errors) of error answers
            try:
                await response.aread()
            except httpx.TransportError as exc:
                await response.aclose()
                return exc
            retire_connection(response)
        return response

    async def _sleep(self, delay: float) -> None:
        await self._wait_closable(anyio.sleep(delay), "waited to retry")

    async def _wait_closable(self, waiting: Any, what: str, deadline: float = float("inf")) -> bool:
        """Await `waiting` in a cancel scope that `aclose` cancels; False past `deadline`."""
        if self._closing:
            waiting.close()
            raise ClientClosedError(f"the client was closed while a request {what}")
        with anyio.CancelScope(deadline=deadline) as scope:
            self._waiting.add(scope)
            try:
                await waiting
            finally:
                self._waiting.discard(scope)
        if scope.cancelled_caught and self._is_closing():
            raise ClientClosedError(f"the client was closed while a request {what}")
        return not scope.cancelled_caught

    async def _acquire(self, action: Acquire) -> Slot | None:
        waiter = _AsyncWaiter()
        queued = action.limit.enqueue(waiter, anyio.current_time())
        try:
            await self._wait_closable(
                waiter.event.wait(), "waited to be sent (backpressure)", action.deadline
            )
        except BaseException:
            slot = action.limit.abandon(queued, anyio.current_time())
            if slot is not None:
                action.limit.release(slot, Signal.DROPPED, anyio.current_time())
            raise
        return action.limit.abandon(queued, anyio.current_time())  # None past the deadline

    async def _refresh_csrf(self, action: RefreshCsrf) -> None:
        """Fetch a token unless one is fresh; one fetch at a time for all of this client."""
        if not self._csrf.needs_fetch(anyio.current_time()):
            return
        with anyio.CancelScope(deadline=action.deadline) as scope:
            await self._csrf_lock.acquire()
        if scope.cancelled_caught:
            raise action.lock_timeout()
        try:
            if self._csrf.needs_fetch(anyio.current_time()):  # nobody fetched meanwhile
                await self._drive(self._loop.fetch_csrf(action, self.build_request), {})
        finally:
            self._csrf_lock.release()

    def _is_closing(self) -> bool:
        return self._closing

    def _refuse_requests(self) -> None:
        """Behave as closed without closing: for a client built after its owner closed
        (it holds nothing to release)."""
        self._closing = True

    async def aclose(self) -> None:
        """Close the client; calls sleeping or waiting raise `ClientClosedError` at once."""
        self._closing = True
        for scope in list(self._waiting):
            scope.cancel()
        await super().aclose()


class _AsyncWaiter:
    def __init__(self) -> None:
        self.event = anyio.Event()

    def wake(self) -> None:
        self.event.set()


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


class _TimerSlot:
    """The sync client's replaceable timer, read by its send loop through this slot: a
    loop holding the client itself would be a reference cycle (freed only by the cyclic
    garbage collector, a cost every client context would pay)."""

    __slots__ = ("timer",)

    def __init__(self) -> None:
        self.timer: _SyncTimer = _RealTimer()

    def now(self) -> float:
        return self.timer.now()


class _SyncWaiter:
    def __init__(self) -> None:
        self.event = threading.Event()

    def wake(self) -> None:
        self.event.set()


class PrefectHttpxSyncClient(_SendLoopShell, httpx.Client):
    """An `httpx.Client` that behaves as `PrefectHttpxAsyncClient` does, for blocking code.

    Sleeps and waits are on events that `close()` sets, so closing the client from
    another thread wakes them at once (they raise `ClientClosedError`).

    Args: as `PrefectHttpxAsyncClient`.
    """

    if TYPE_CHECKING:  # httpx's helpers return what `send` returns: a PrefectResponse

        def request(self, method: str, url: URL | str, **kwargs: Any) -> PrefectResponse: ...
        def get(self, url: URL | str, **kwargs: Any) -> PrefectResponse: ...
        def head(self, url: URL | str, **kwargs: Any) -> PrefectResponse: ...
        def options(self, url: URL | str, **kwargs: Any) -> PrefectResponse: ...
        def post(self, url: URL | str, **kwargs: Any) -> PrefectResponse: ...
        def put(self, url: URL | str, **kwargs: Any) -> PrefectResponse: ...
        def patch(self, url: URL | str, **kwargs: Any) -> PrefectResponse: ...
        def delete(self, url: URL | str, **kwargs: Any) -> PrefectResponse: ...

    def __init__(
        self,
        *args: Any,
        enable_csrf_support: bool = False,
        raise_on_all_errors: bool = True,
        settings: ClientSettings | None = None,
        retry_policy: RetryPolicy | None = None,
        on_retry: OnRetry | None = None,
        backpressure: AdaptiveLimit | None = _FROM_SETTINGS,
        **kwargs: Any,
    ) -> None:
        use_shared_ssl_context(kwargs)  # no CA bundle parsed per client
        base_url = kwargs.pop("base_url", "")
        super().__init__(*args, **kwargs)
        self._base_url = _base_url_of(base_url)
        self._cookies = skip_cookie_less(self._cookies)
        self._timer_slot = _TimerSlot()
        self._setup(
            settings=settings,
            retry_policy=retry_policy,
            on_retry=on_retry,
            enable_csrf_support=enable_csrf_support,
            raise_on_all_errors=raise_on_all_errors,
            backpressure=backpressure,
            clock=self._timer_slot.now,
        )
        self._csrf_lock = threading.Lock()
        self._closed_event = threading.Event()
        self._waiters: set[_SyncWaiter] = set()

    @property
    def _timer(self) -> _SyncTimer:
        """The clock and sleep of this client's retries (tests replace it)."""
        return self._timer_slot.timer

    @_timer.setter
    def _timer(self, timer: _SyncTimer) -> None:
        self._timer_slot.timer = timer

    def send(
        self,
        request: httpx.Request,
        *,
        stream: bool = False,
        auth: Any = httpx.USE_CLIENT_DEFAULT,
        follow_redirects: Any = httpx.USE_CLIENT_DEFAULT,
    ) -> PrefectResponse:
        """Send with retries, as `PrefectHttpxAsyncClient.send` does."""
        if self._closed_event.is_set():
            raise ClientClosedError("the client is closed")
        options = {"stream": stream, "auth": auth, "follow_redirects": follow_redirects}
        response = self._drive(self._loop.call(request), options)
        if self.raise_on_all_errors:
            response.raise_for_status()
        return response

    def _drive(self, call: Generator[Action, Any, T], options: dict[str, Any]) -> T:
        try:
            outcome: Any = None
            while True:
                try:
                    step = call.send(outcome)
                except StopIteration as done:
                    result: T = done.value
                    return result
                outcome = self._perform(step, options)
        finally:
            call.close()

    def _perform(self, action: Action, options: dict[str, Any]) -> Any:
        if isinstance(action, Transmit):
            return self._transmit(action.request, options)
        if isinstance(action, Discard):
            action.response.close()
        elif isinstance(action, Sleep):
            self._sleep(action.seconds)
        elif isinstance(action, Acquire):
            return self._acquire(action)
        else:
            self._refresh_csrf(action)
        return None

    def _send_handling_auth(
        self,
        request: httpx.Request,
        auth: httpx.Auth,
        follow_redirects: bool,
        history: list[httpx.Response],
    ) -> httpx.Response:
        # As `PrefectHttpxAsyncClient._send_handling_auth`.
        if type(auth) is httpx.Auth and _SKIP_EMPTY_AUTH_FLOW:
            return self._send_handling_redirects(
                request, follow_redirects=follow_redirects, history=history
            )
        response: httpx.Response = super()._send_handling_auth(
            request, auth=auth, follow_redirects=follow_redirects, history=history
        )
        return response

    def _transmit(
        self, request: httpx.Request, options: dict[str, Any]
    ) -> httpx.Response | httpx.TransportError:
        if self._closed_event.is_set():
            raise ClientClosedError("the client was closed while a request waited to be sent")
        try:
            response = httpx.Client.send(self, request, **options)
        except httpx.TransportError as exc:
            return exc
        if response.is_error:
            try:
                response.read()
            except httpx.TransportError as exc:
                response.close()
                return exc
            retire_connection(response)
        return response

    def _sleep(self, delay: float) -> None:
        if self._timer.wait(delay, self._closed_event):
            raise ClientClosedError("the client was closed while a request waited to retry")

    def _acquire(self, action: Acquire) -> Slot | None:
        waiter = _SyncWaiter()
        self._waiters.add(waiter)
        queued = action.limit.enqueue(waiter, self._timer.now())
        try:
            if not self._closed_event.is_set():
                # A real wait on the thread's event (not the replaceable retry timer): the
                # slot is given back by another thread, in real time.
                waiter.event.wait(max(action.deadline - self._timer.now(), 0.0))
        finally:
            self._waiters.discard(waiter)
        slot = action.limit.abandon(queued, self._timer.now())  # None past the deadline
        if self._closed_event.is_set():
            if slot is not None:
                action.limit.release(slot, Signal.DROPPED, self._timer.now())
            raise ClientClosedError(
                "the client was closed while a request waited to be sent (backpressure)"
            )
        return slot

    def _refresh_csrf(self, action: RefreshCsrf) -> None:
        if not self._csrf.needs_fetch(self._timer.now()):
            return
        if not self._csrf_lock.acquire(timeout=max(action.deadline - self._timer.now(), 0.0)):
            raise action.lock_timeout()
        try:
            if self._csrf.needs_fetch(self._timer.now()):
                self._drive(self._loop.fetch_csrf(action, self.build_request), {})
        finally:
            self._csrf_lock.release()

    def _refuse_requests(self) -> None:
        """See `PrefectHttpxAsyncClient._refuse_requests`."""
        self._closed_event.set()

    def close(self) -> None:
        """Close the client; threads sleeping or waiting raise `ClientClosedError` at once."""
        self._closed_event.set()
        for waiter in list(self._waiters):
            waiter.wake()
        super().close()
