"""Record what Prefect's own client sends and what a real Prefect server answers.

Run in a virtualenv that has Prefect (``nox -s interop`` makes one), against a server you
started, from a capture script of one group of endpoints::

    async with recording(api_url) as (client, record):
        record.method = "create_block_type"      # names the exchanges that follow
        await client.create_block_type(...)
    record.save(Path("tests/data/captures/blocks.json"))

Each exchange is kept as ``tests/data/prefect-api-samples.json`` keeps them: method, url,
path template (ids replaced by ``{id}``), request and response bodies, status code and the
client method that made it. Tests read the JSON files; they never import Prefect.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

UUID_IN_PATH = re.compile(r"/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass
class Recording:
    api_prefix: str
    method: str = ""
    exchanges: dict[str, dict[str, Any]] = field(default_factory=dict)

    def path_template(self, url: httpx.URL) -> str:
        path = (
            url.path[len(self.api_prefix) :] if url.path.startswith(self.api_prefix) else url.path
        )
        return UUID_IN_PATH.sub("/{id}", path)

    async def on_response(self, response: httpx.Response) -> None:
        await response.aread()
        request = response.request
        template = self.path_template(request.url)
        key = f"{request.method} {template} ({self.method})"
        self.exchanges[key] = {
            "method": request.method,
            "url": str(request.url),
            "path_template": template,
            "request_body": _json_or_none(request.content),
            "status_code": response.status_code,
            "response_body": _json_or_none(response.content),
            "client_method": self.method,
        }

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.exchanges, indent=1, sort_keys=True) + "\n")


def _json_or_none(content: bytes) -> Any:
    if not content:
        return None
    try:
        return json.loads(content)
    except ValueError:
        return content.decode("utf-8", "replace")


@asynccontextmanager
async def recording(api_url: str) -> AsyncIterator[tuple[Any, Recording]]:
    """Prefect's `PrefectClient` for `api_url`, recording every exchange."""
    from prefect.client.orchestration import PrefectClient  # only where Prefect is installed

    record = Recording(api_prefix=httpx.URL(api_url).path.rstrip("/"))
    hooks = {"response": [record.on_response]}
    async with PrefectClient(api_url, httpx_settings={"event_hooks": hooks}) as client:
        yield client, record
