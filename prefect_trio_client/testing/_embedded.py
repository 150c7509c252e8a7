"""`embedded_api()`: the embedded API in a temporary home, for one test.

Inside the block ``PREFECT_HOME`` points at a fresh folder (or the one given), no
``PREFECT_API_URL`` is set and ephemeral mode is on, so `get_client()` serves the embedded
server from that folder; the async form also opens a lifespan service of its own, so the
app is shut down when the block ends, whoever still holds a client.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx

from prefect_trio_client.lifespan import ASGIApp, LifespanService, open_lifespan_service
from prefect_trio_client.orchestration import _ephemeral
from prefect_trio_client.orchestration.client import PrefectClient
from prefect_trio_client.orchestration.sync import SyncPrefectClient
from prefect_trio_client.settings import ClientSettings, current_settings

__all__ = ["EmbeddedAPI", "embedded_api"]

#: Variables set (or removed, when None) inside the block.
_ENVIRONMENT: dict[str, str | None] = {
    "PREFECT_API_URL": None,
    "PREFECT_SERVER_EPHEMERAL_ENABLED": None,
    "PREFECT_SERVER_ALLOW_EPHEMERAL_MODE": "true",
}

T = TypeVar("T")
AsyncWrap = Callable[[httpx.AsyncBaseTransport], httpx.AsyncBaseTransport]
SyncWrap = Callable[[httpx.BaseTransport], httpx.BaseTransport]


class EmbeddedAPI:
    """The embedded API of one test: use it as ``async with`` (or ``with``) block.

    Attributes (set on entry):
        home: The ``PREFECT_HOME`` of the block (a temporary folder unless given).
        database: The embedded server's database file, under `home`.
        settings: The settings of the block's environment.
        app: The embedded server app that `get_client()` uses in the block.
        service: The lifespan service of the async block (None in a ``with`` block,
            where each sync client runs the app in an event loop of its own).

    Args:
        home: The home folder to use (kept afterwards); a temporary one (removed
            afterwards) when None.
    """

    def __init__(self, home: str | os.PathLike[str] | None = None) -> None:
        self._given_home = None if home is None else Path(home)
        self._home: Path | None = None
        self._app: ASGIApp | None = None
        self._settings: ClientSettings | None = None
        self._saved: dict[str, str | None] = {}
        self._made_home = False
        self._made_app = False
        self._stack: AsyncExitStack | None = None
        self.service: LifespanService | None = None

    # ---------------------------------------------------------------- what a test uses

    @property
    def home(self) -> Path:
        return self._entered(self._home)

    @property
    def database(self) -> Path:
        return _ephemeral.ephemeral_database(self.settings)

    @property
    def settings(self) -> ClientSettings:
        return self._entered(self._settings)

    @property
    def app(self) -> ASGIApp:
        return self._entered(self._app)

    def transport(self) -> httpx.AsyncBaseTransport:
        """A new in-process transport to the app (it leases the app while open), to wrap,
        for example in a `FaultInjectingTransport`."""
        return _ephemeral.LeasedASGITransport(self.app)

    def sync_transport(self) -> httpx.BaseTransport:
        """A new blocking in-process transport to the app (an event loop in a thread)."""
        return _ephemeral.PortalASGITransport(self.app)

    def client(self, *, wrap_transport: AsyncWrap | None = None, **kwargs: Any) -> PrefectClient:
        """A new (unopened) `PrefectClient` of the app.

        Args:
            wrap_transport: Given the in-process transport, returns the transport the
                client uses (``lambda inner: FaultInjectingTransport(inner, seed=1,
                rate=0.3)``). A client with a transport of its own shares no connection.
            **kwargs: More arguments for `PrefectClient` (``settings`` defaults to the
                block's; ``httpx_settings`` is merged).
        """
        kwargs.setdefault("settings", self.settings)
        if wrap_transport is not None:
            extra = dict(kwargs.pop("httpx_settings", None) or {})
            extra["transport"] = wrap_transport(self.transport())
            kwargs["httpx_settings"] = extra
        return PrefectClient(self.app, **kwargs)

    def sync_client(
        self, *, wrap_transport: SyncWrap | None = None, **kwargs: Any
    ) -> SyncPrefectClient:
        """A new (unopened) `SyncPrefectClient` of the app; arguments as `client`."""
        kwargs.setdefault("settings", self.settings)
        if wrap_transport is not None:
            extra = dict(kwargs.pop("httpx_settings", None) or {})
            extra["transport"] = wrap_transport(self.sync_transport())
            kwargs["httpx_settings"] = extra
        return SyncPrefectClient(self.app, **kwargs)

    # ---------------------------------------------------------------- the blocks

    async def __aenter__(self) -> EmbeddedAPI:
        self._setup()
        stack = AsyncExitStack()
        try:
            self.service = await stack.enter_async_context(open_lifespan_service())
        except BaseException:
            self._teardown()
            raise
        self._stack = stack
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        stack, self._stack = self._stack, None
        try:
            if stack is not None:
                await stack.__aexit__(exc_type, exc_value, traceback)
        finally:
            self.service = None
            self._teardown()

    def __enter__(self) -> EmbeddedAPI:
        self._setup()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._teardown()

    def _setup(self) -> None:
        if self._home is not None:
            raise RuntimeError("this embedded API is already open")
        if self._given_home is None:
            home = Path(tempfile.mkdtemp(prefix="prefect-trio-client-home-"))
            self._made_home = True
        else:
            home = self._given_home
            home.mkdir(parents=True, exist_ok=True)
            self._made_home = False
        self._saved = {name: os.environ.get(name) for name in (*_ENVIRONMENT, "PREFECT_HOME")}
        try:
            _set_environment({**_ENVIRONMENT, "PREFECT_HOME": str(home)})
            settings = current_settings()
            key = str(_ephemeral.ephemeral_database(settings))
            with _ephemeral._apps_lock:
                self._made_app = key not in _ephemeral._apps
            self._app = _ephemeral.ephemeral_app(key)
        except BaseException:
            _set_environment(self._saved)
            if self._made_home:
                shutil.rmtree(home, ignore_errors=True)
            raise
        self._home, self._settings = home, settings

    def _teardown(self) -> None:
        home, settings = self._home, self._settings
        self._home = self._settings = self._app = None
        _set_environment(self._saved)
        if settings is not None and self._made_app:
            # The process keeps one app per database file; this one's file is gone.
            with _ephemeral._apps_lock:
                _ephemeral._apps.pop(str(_ephemeral.ephemeral_database(settings)), None)
        if home is not None and self._made_home:
            shutil.rmtree(home, ignore_errors=True)

    @staticmethod
    def _entered(value: T | None) -> T:
        if value is None:
            raise RuntimeError("enter the embedded API first: async with embedded_api() as api")
        return value


def _set_environment(values: dict[str, str | None]) -> None:
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def embedded_api(home: str | os.PathLike[str] | None = None) -> EmbeddedAPI:
    """The embedded API in a temporary home, as an async (or a sync) context manager.

    Example::

        async with embedded_api() as api:
            async with get_client() as client:      # or api.client()
                await client.create_flow_from_name("etl")

    Inside the block ``PREFECT_HOME`` is `home` (a new temporary folder, removed at the
    end, when None), ``PREFECT_API_URL`` is unset and ephemeral mode is on, so
    `get_client()` serves the embedded server in-process. The async block opens a
    lifespan service, so the app starts on first use and is shut down when the block
    ends. The environment is restored at the end (it is the process's: do not run two
    blocks at once in threads).

    Args:
        home: The home folder to use instead of a temporary one (it is kept).
    """
    return EmbeddedAPI(home)
