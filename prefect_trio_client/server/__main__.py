"""``python -m prefect_trio_client.server``: serve the API over HTTP with hypercorn.

Runs on trio by default (``--backend asyncio`` for asyncio) and stops cleanly on Ctrl-C
or SIGTERM: hypercorn finishes the requests in flight and the app's lifespan closes the
database.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence
from typing import Any, Literal, cast

import anyio
from starlette.applications import Starlette

from prefect_trio_client.server._app import create_app, default_database_path

__all__ = ["main"]

logger = logging.getLogger("prefect_trio_client.server")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m prefect_trio_client.server",
        description="Serve the embedded Prefect-compatible API over HTTP.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=4200, help="port to bind (4200)")
    parser.add_argument(
        "--backend", choices=("trio", "asyncio"), default="trio", help="event loop (trio)"
    )
    parser.add_argument(
        "--database",
        default=None,
        help=f"SQLite file, or :memory: (default: {default_database_path()})",
    )
    parser.add_argument(
        "--csrf-protection", action="store_true", help="require Prefect's CSRF tokens"
    )
    parser.add_argument("--log-level", default="INFO", help="logging level (INFO)")
    return parser


async def _until_signalled(stop: anyio.Event) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            stop.set()
            return


async def _serve(app: Starlette, config: Any, backend: Literal["trio", "asyncio"]) -> None:
    stop = anyio.Event()
    async with anyio.create_task_group() as group:
        group.start_soon(_until_signalled, stop)
        if backend == "trio":
            from hypercorn.trio import serve  # noqa: PLC0415 - only the chosen backend
        else:
            from hypercorn.asyncio import serve  # type: ignore[assignment] # noqa: PLC0415
        await serve(cast(Any, app), config, shutdown_trigger=stop.wait)
        group.cancel_scope.cancel()


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and serve until interrupted; return the exit status."""
    args = _parser().parse_args(argv)
    try:
        from hypercorn.config import Config  # noqa: PLC0415 - needed only to serve over HTTP
    except ImportError:
        print(
            "serving over HTTP needs hypercorn: pip install 'prefect-trio-client[serve]'",
            file=sys.stderr,
        )
        return 2
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    config = Config()
    host = f"[{args.host}]" if ":" in args.host else args.host
    config.bind = [f"{host}:{args.port}"]
    config.errorlog = logging.getLogger("hypercorn.error")  # through our handler, once
    config.accesslog = None
    app = create_app(args.database, csrf_protection=args.csrf_protection)
    database = args.database or default_database_path()
    logger.info("serving the Prefect-compatible API under /api; database: %s", database)
    anyio.run(_serve, app, config, args.backend, backend=args.backend)
    return 0


if __name__ == "__main__":
    sys.exit(main())
