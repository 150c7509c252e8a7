"""Marker-delimited sections of a shared markdown file (BENCHMARKS.md), so that several
benchmark programs each rewrite their own part and leave the others' alone.

A section is everything between ``<!-- NAME: begin -->`` and ``<!-- NAME: end -->``
(both lines kept). A section not yet in the file goes right after its ``# `` title,
before every ``## `` section, so a writer that ends its own section at the next ``## ``
heading (``tests/bench_contexts.py``) never swallows a marked one placed after it.
"""

from __future__ import annotations

from pathlib import Path


def begin_marker(name: str) -> str:
    return f"<!-- {name}: begin -->"


def end_marker(name: str) -> str:
    return f"<!-- {name}: end -->"


def replace_section(text: str, name: str, body: str) -> str:
    """`text` with section `name` holding `body` (replaced, or inserted at the top).

    Raises:
        ValueError: The begin marker without the end marker after it (a hand edit broke
            the file): nothing is guessed.
    """
    begin, end = begin_marker(name), end_marker(name)
    block = f"{begin}\n{body.strip(chr(10))}\n{end}"
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip() == begin]
    if starts:
        start = starts[0]
        stop = next((i for i in range(start + 1, len(lines)) if lines[i].strip() == end), None)
        if stop is None:
            raise ValueError(f"{begin} has no {end} after it: mend the file by hand")
        new = [*lines[:start], *block.splitlines(), *lines[stop + 1 :]]
        return "\n".join(new).rstrip("\n") + "\n"
    title = next((i for i, line in enumerate(lines) if line.startswith("# ")), None)
    if title is None:
        new = ["# Benchmarks", "", *block.splitlines(), "", *lines]
    else:
        rest = lines[title + 1 :]
        while rest and not rest[0].strip():
            rest = rest[1:]
        new = [*lines[: title + 1], "", *block.splitlines(), "", *rest]
    return "\n".join(new).rstrip("\n") + "\n"


def write_section(path: Path, name: str, body: str) -> None:
    """Rewrite section `name` of the file at `path` (created if missing)."""
    old = path.read_text() if path.exists() else "# Benchmarks\n"
    path.write_text(replace_section(old, name, body))
