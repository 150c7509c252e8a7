"""The retrying HTTP client against a flaky, CSRF-protected, in-process Prefect-like app.

Runs with no server and no configuration, under trio (default) or asyncio:

    python examples/retrying_client.py
    python examples/retrying_client.py --backend asyncio --requests 50

The app answers like a busy Prefect server: some requests get ``503`` (half of them with
``Retry-After``), some ``429``, and change requests need a CSRF token that the app rotates
on every fetch. The client retries within one deadline per call and fetches the CSRF
token once for all concurrent requests. A summary table shows what happened.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import datetime, timedelta, timezone
from typing import Any

import anyio
import httpx

from prefect_trio_client import PrefectHttpxAsyncClient, RetryEvent, RetryPolicy

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class FlakyPrefectApp:
    """A raw ASGI app: /csrf-token, POST /flows/, with injected 503s and 429s."""

    def __init__(self, failure_rate: float, seed: int) -> None:
        self.rng = random.Random(seed)
        self.failure_rate = failure_rate
        self.tokens: dict[str, str] = {}
        self.flows: dict[str, str] = {}
        self.status_counts: Counter[int] = Counter()
        self.token_fetches = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await anyio.sleep(0.001)  # a little server work
        status, payload, headers = self.handle(scope, body)
        self.status_counts[status] += 1
        data = json.dumps(payload).encode()
        raw_headers = [(b"content-type", b"application/json")]
        raw_headers += [(k.encode(), v.encode()) for k, v in headers.items()]
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": data})

    def handle(self, scope: Scope, body: bytes) -> tuple[int, Any, dict[str, str]]:
        path: str = scope["path"]
        request_headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        if path == "/api/csrf-token":
            client = dict(
                part.split("=", 1) for part in scope["query_string"].decode().split("&") if part
            )["client"]
            self.token_fetches += 1
            self.tokens[client] = uuid.uuid4().hex  # rotates: older tokens stop working
            expiration = datetime.now(timezone.utc) + timedelta(hours=1)
            return 200, {"token": self.tokens[client], "expiration": expiration.isoformat()}, {}
        if self.rng.random() < self.failure_rate:
            if self.rng.random() < 0.25:
                return 429, {"detail": "Too many requests"}, {"Retry-After": "0.2"}
            headers = {"Retry-After": "0.1"} if self.rng.random() < 0.5 else {}
            return 503, {"detail": "database is locked"}, headers
        if path == "/api/flows/" and scope["method"] == "POST":
            client = request_headers.get("prefect-csrf-client", "")
            if self.tokens.get(client) != request_headers.get("prefect-csrf-token"):
                return 403, {"detail": "Invalid CSRF token or client identifier."}, {}
            name = json.loads(body)["name"]
            flow_id = self.flows.setdefault(name, str(uuid.uuid4()))
            return 200, {"id": flow_id, "name": name}, {}
        return 404, {"detail": "Not Found"}, {}


async def main(args: argparse.Namespace) -> int:
    app = FlakyPrefectApp(failure_rate=args.failure_rate, seed=args.seed)
    retries: list[RetryEvent] = []
    policy = RetryPolicy(timeout=args.deadline, backoff_max=2.0)
    results: Counter[str] = Counter()
    start = anyio.current_time()
    async with PrefectHttpxAsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://flaky-prefect/api",
        enable_csrf_support=True,
        retry_policy=policy,
        on_retry=retries.append,
    ) as client:

        async def create_flow(i: int) -> None:
            try:
                response = await client.post("/flows/", json={"name": f"flow-{i}"})
            except httpx.HTTPError as exc:
                results[f"failed: {type(exc).__name__}"] += 1
            else:
                results[f"created after {response.attempts} attempt(s)"] += 1

        async with anyio.create_task_group() as tg:
            for i in range(args.requests):
                tg.start_soon(create_flow, i)
    elapsed = anyio.current_time() - start

    rows = [
        ("backend", args.backend),
        ("requests", str(args.requests)),
        *((outcome, str(n)) for outcome, n in sorted(results.items())),
        ("retries", str(len(retries))),
        *(
            (f"  retried: {reason}", str(n))
            for reason, n in Counter(_reason_kind(e) for e in retries).most_common()
        ),
        ("server statuses", ", ".join(f"{k}x{v}" for k, v in sorted(app.status_counts.items()))),
        ("CSRF token fetches", str(app.token_fetches)),
        ("wall time", f"{elapsed:.2f}s"),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"{'what':<{width}}  value")
    print(f"{'-' * width}  {'-' * 24}")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    return 0 if all(k.startswith("created") for k in results) else 1


def _reason_kind(event: RetryEvent) -> str:
    return event.reason.split(",")[0]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--backend", choices=["trio", "asyncio"], default="trio")
    parser.add_argument("--requests", type=int, default=40, help="concurrent POSTs (40)")
    parser.add_argument("--failure-rate", type=float, default=0.3, help="share answered 503/429")
    parser.add_argument("--deadline", type=float, default=30.0, help="retry deadline per call")
    parser.add_argument("--seed", type=int, default=7)
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse_args(sys.argv[1:])
    sys.exit(anyio.run(main, arguments, backend=arguments.backend))
