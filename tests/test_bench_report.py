"""The side-by-side benchmark's report (`tests/bench/side_report.py`) and the marked
sections of BENCHMARKS.md (`tests/bench/markdown_sections.py`), on made-up results: the
benchmark itself is no test, but its writer must not break silently."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bench.markdown_sections import begin_marker, end_marker, replace_section, write_section
from tests.bench.side_report import LOAD_SECTION, SECTION, Results, load_quote, section, table


def fake_results() -> Results:
    results = Results()
    # Two rounds: medians of two values are their mean; ratios are per round.
    for round_, (ours, floor, prefect) in enumerate([(110.0, 100.0, 140.0), (130.0, 100.0, 160.0)]):
        results.add("requests/GET/ours-asyncio", round_, {"cpu_us": ours})
        results.add("requests/GET/httpx-asyncio", round_, {"cpu_us": floor})
        results.add("requests/GET/prefect-asyncio", round_, {"cpu_us": prefect})
    results.add("import/ours", 0, {"import_ms": 250.0, "modules": 400})
    results.add("import/floor", 0, {"import_ms": 200.0, "modules": 300})
    results.add("leases/ours-trio", 0, {"cpu_us": 20.0, "rss_kib": 1.024})
    results.add("ephemeral/ours-trio", 0, {"first_response_ms": 610.0, "creations_per_s": 480.0})
    return results


def row_of(text: str, start: str) -> list[str]:
    line = next(line for line in text.splitlines() if line.startswith(f"| {start}"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_table_shows_medians_ratios_and_targets() -> None:
    text = table(fake_results(), leases=10_000, clients=300)
    get = row_of(text, "client CPU per GET")
    assert "asyncio" in get[0]
    # ours, Prefect, floor, ours/Prefect, ours/floor, Prefect/floor, target
    assert get[1:] == ["120.0", "150.0", "100.0", "0.80x", "1.20x", "1.50x", "<= 1.10x: **no**"]
    imports = row_of(text, "import of the orchestration client")
    assert imports[1:] == ["250.0", "-", "200.0", "-", "1.25x", "-", "<= 1.50x: yes"]
    assert row_of(text, "modules that import adds")[1:4] == ["400", "-", "300"]
    # Scaled cells: 1.024 KiB per lease is 10 MiB per 10,000; 610 ms is 0.61 s.
    assert (
        row_of(text, "memory of 10,000 leases held at once, MiB (RSS growth), trio")[1] == "10.00"
    )
    assert row_of(text, "first response from a cold process")[0].endswith("asyncio")
    cold_trio = [
        line for line in text.splitlines() if "cold process" in line and line.endswith("|")
    ][1]
    assert "| 0.61 |" in cold_trio
    # A row with nothing measured says so instead of failing.
    assert row_of(text, "client CPU per POST")[1:4] == ["-", "-", "-"]


def test_section_names_the_run_and_the_failures() -> None:
    results = fake_results()
    results.errors["leases/prefect-asyncio"] = ["Traceback ...\nRuntimeError: boom"]
    meta = {
        "when": "2026-12-03 14:00 UTC",
        "cpus": 2,
        "python": "3.11.7",
        "prefect_version": "3.9.1",
        "rounds": 2,
        "requests": 3000,
        "warmup": 300,
        "leases": 10_000,
        "clients": 300,
        "creations": 300,
        "prefect_creations": 50,
        "chart": "docs/benchmarks.png",
        "defaults": "CSRF support on, backpressure on, up to 5 retries",
    }
    text = section(results, meta)
    assert text.startswith("## Side by side with Prefect's client\n")
    assert "2 rounds" in text
    assert "CSRF support on, backpressure on" in text
    assert "![" in text
    assert "(docs/benchmarks.png)" in text
    assert "- leases/prefect-asyncio: 1 failed; last line: `RuntimeError: boom`" in text


BENCHMARKS = """# Benchmarks

## Client contexts

the contexts table

## Embedded server at scale

the listing table
"""


def test_sections_compose_with_the_other_writers(tmp_path: Path) -> None:
    path = tmp_path / "BENCHMARKS.md"
    path.write_text(BENCHMARKS)
    write_section(path, SECTION, "## Side by side\n\nfirst")
    write_section(path, LOAD_SECTION, "## Load\n\nquoted")
    write_section(path, SECTION, "## Side by side\n\nsecond")
    text = path.read_text()
    assert "first" not in text
    assert "second" in text
    assert text.count(begin_marker(SECTION)) == 1
    assert text.count(end_marker(SECTION)) == 1
    # The others' sections are untouched, and come after the marked ones.
    assert text.endswith(
        "## Client contexts\n\nthe contexts table\n\n"
        "## Embedded server at scale\n\nthe listing table\n"
    )
    assert text.index(end_marker(SECTION)) < text.index("## Client contexts")
    # Rewriting the same body changes nothing.
    assert replace_section(text, SECTION, "## Side by side\n\nsecond") == text


def test_the_client_contexts_writer_stops_at_a_marked_section(tmp_path: Path) -> None:
    from tests.bench_contexts import write_section as write_contexts

    path = tmp_path / "BENCHMARKS.md"
    marked = replace_section("# Benchmarks\n", SECTION, "## Side by side\n\nours")
    # A marked section right after "Client contexts" (placed there by hand) survives
    # that section's rewrite, which ends at the next heading or marker.
    path.write_text("# Benchmarks\n\n## Client contexts\n\nold\n\n" + marked.split("\n", 2)[2])
    write_contexts(path, "## Client contexts\n\nnew\n")
    text = path.read_text()
    assert "new" in text
    assert "old" not in text
    assert begin_marker(SECTION) in text
    assert "ours" in text
    assert end_marker(SECTION) in text


def test_a_broken_marker_is_an_error_not_a_guess() -> None:
    text = f"# Benchmarks\n\n{begin_marker(SECTION)}\nhalf a section\n"
    with pytest.raises(ValueError, match="has no"):
        replace_section(text, SECTION, "body")


def test_the_load_table_is_quoted_with_its_date() -> None:
    load = (
        "# Load\n\nMeasured 2026-12-03 by `nox -s load`.\n\n"
        "| client | C | done/s |\n|---|--:|--:|\n| prefect | 1 | 3.74 |\n| trio | 1 | 4.20 |\n\n"
        "- done/s: flow runs per second.\n"
    )
    text = load_quote(load, "LOAD.md")
    assert "[LOAD.md](LOAD.md)" in text
    assert "Measured 2026-12-03" in text
    assert "| trio | 1 | 4.20 |" in text
    assert "done/s: flow runs" not in text
    assert "No load table" in load_quote("# Load\n\nnothing yet\n")
