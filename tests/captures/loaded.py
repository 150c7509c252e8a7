"""The saved captures (``tests/data/captures/<group>.json``), read once per group."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

CAPTURES_DIR = Path(__file__).resolve().parents[1] / "data" / "captures"


@cache
def load_captures(group: str) -> dict[str, Any]:
    """Every exchange of one capture script, by ``"METHOD /path/template (label)"``."""
    data: dict[str, Any] = json.loads((CAPTURES_DIR / f"{group}.json").read_text("utf-8"))
    return data
