"""The table, the chart and the BENCHMARKS.md sections of the side-by-side benchmark.

Pure formatting of measured rounds (`Results`), apart from the program that measures
(`tests/bench_side_by_side.py`), so a test can feed it a made-up result and check what it
writes. The chart needs matplotlib, which only `nox -s bench` installs (imported inside
`write_chart`).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SECTION = "bench-side-by-side"
LOAD_SECTION = "bench-load-quote"


@dataclass
class Results:
    """Every round's measurements by key (``"requests/GET/ours-trio"``); each row has
    its ``round``."""

    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)

    def add(self, key: str, round_: int, row: dict[str, Any]) -> None:
        self.rows.setdefault(key, []).append({**row, "round": round_})

    def values(self, key: str | None, name: str) -> list[float]:
        if key is None:
            return []
        return [row[name] for row in self.rows.get(key, []) if row.get(name) is not None]

    def median(self, key: str | None, name: str) -> float | None:
        values = self.values(key, name)
        return statistics.median(values) if values else None

    def ratio(self, top: str | None, bottom: str | None, name: str) -> float | None:
        """The median over rounds of top / bottom, from rounds that measured both."""
        if top is None or bottom is None:
            return None
        bottoms = {
            row["round"]: row[name]
            for row in self.rows.get(bottom, [])
            if row.get(name) is not None
        }
        ratios = [
            row[name] / bottoms[row["round"]]
            for row in self.rows.get(top, [])
            if row.get(name) is not None and bottoms.get(row["round"])
        ]
        return statistics.median(ratios) if ratios else None


@dataclass(frozen=True)
class Row:
    """One line of the table: a measure of `name` for ours, Prefect's and the floor."""

    label: str
    name: str
    ours: str
    prefect: str | None
    floor: str | None
    digits: int = 1
    scale: float = 1.0  # applied to the medians shown, not to the ratios
    target: float | None = None  # the most ours / floor may be

    def keys(self) -> tuple[str, str | None, str | None]:
        return self.ours, self.prefect, self.floor


@dataclass(frozen=True)
class Measure:
    """A measure taken on both backends: one `Row` per backend (Prefect on asyncio)."""

    label: str
    name: str
    digits: int = 1
    scale: float = 1.0
    target: float | None = None


def _per_backend(group: str, floor: str | None, measures: list[Measure]) -> list[Row]:
    """Rows for ``{group}/ours-{backend}`` beside ``{group}/prefect-asyncio`` and
    ``{group}/{floor}-{backend}``, asyncio first."""
    return [
        Row(
            f"{measure.label}, {backend}",
            measure.name,
            f"{group}/ours-{backend}",
            f"{group}/prefect-asyncio" if backend == "asyncio" else None,
            None if floor is None else f"{group}/{floor}-{backend}",
            measure.digits,
            measure.scale,
            measure.target,
        )
        for backend in ("asyncio", "trio")
        for measure in measures
    ]


def rows(leases: int, clients: int) -> list[tuple[str, list[Row]]]:
    """The table's parts; `leases` and `clients` are the N the rounds used."""
    start = [
        Row(
            "import of the orchestration client, wall ms",
            "import_ms",
            "import/ours",
            "import/prefect",
            "import/floor",
            target=1.5,
        ),
        Row(
            "modules that import adds",
            "modules",
            "import/ours",
            "import/prefect",
            "import/floor",
            0,
        ),
    ]
    script = Measure(
        "a script: interpreter start to the first response of a running server, ms",
        "first_response_ms",
        0,
    )
    start += _per_backend("script", "httpx", [script])
    requests = []
    for method, call in (("GET", "read_flow_run"), ("POST", "set_flow_run_state")):
        per_request = Measure(
            f"client CPU per {method} (`{call}`), us",
            "cpu_us",
            target=1.10,
        )
        requests += _per_backend(f"requests/{method}", "httpx", [per_request])
    lease_rows = _per_backend(
        "leases",
        "floor",
        [
            Measure(
                "CPU per lease (enter + exit), us",
                "cpu_us",
            ),
            Measure(
                "memory of 10,000 leases held at once, MiB (RSS growth)",
                "rss_kib",
                2,
                scale=10_000 / 1024,
            ),
        ],
    )
    client_rows = _per_backend(
        "clients",
        "floor",
        [
            Measure(
                "memory per open client, KiB (RSS growth / N)",
                "rss_kib",
            ),
            Measure("CPU per client (open + close), us", "cpu_us"),
        ],
    )
    ephemeral = _per_backend(
        "ephemeral",
        None,
        [
            Measure(
                "first response from a cold process, no `PREFECT_API_URL`, s",
                "first_response_ms",
                2,
                scale=1e-3,
            ),
            Measure(
                "flow-run creations/s, sequential (upsert the flow, create the run)",
                "creations_per_s",
            ),
        ],
    )
    return [
        ("Start-up", start),
        ("Per request, on a mock transport (no network)", requests),
        (f"{leases:,} concurrent `app_lifespan_context` leases of one app", lease_rows),
        (f"{clients:,} clients open at once, against a stub server", client_rows),
        ("Ephemeral mode", ephemeral),
    ]


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def table(results: Results, leases: int, clients: int) -> str:
    header = (
        "measure",
        "ours",
        "Prefect 3.9.1",
        "floor",
        "ours / Prefect",
        "ours / floor",
        "Prefect / floor",
        "target: ours / floor",
    )
    lines = ["| " + " | ".join(header) + " |", "|---|" + "--:|" * (len(header) - 2) + "---|"]
    for title, part in rows(leases, clients):
        lines.append(f"| **{title}** |" + " |" * (len(header) - 1))
        for row in part:
            ours, prefect, floor = row.keys()

            def shown(key: str | None, row: Row = row) -> str:
                value = results.median(key, row.name)
                return fmt(None if value is None else value * row.scale, row.digits)

            to_floor = results.ratio(ours, floor, row.name)
            target = ""
            if row.target is not None:
                met = "n/a" if to_floor is None else "yes" if to_floor <= row.target else "**no**"
                target = f"<= {row.target:.2f}x: {met}"
            cells = [
                row.label,
                shown(ours),
                shown(prefect),
                shown(floor),
                fmt_ratio(results.ratio(ours, prefect, row.name)),
                fmt_ratio(to_floor),
                fmt_ratio(results.ratio(prefect, floor, row.name)),
                target,
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def rounds_of(results: Results, key: str) -> int:
    return len(results.rows.get(key, []))


def section(results: Results, meta: dict[str, Any]) -> str:
    """The "Side by side with Prefect's client" section (markdown, without markers)."""
    leases, clients = int(meta["leases"]), int(meta["clients"])
    lines = [
        "## Side by side with Prefect's client",
        "",
        f"`nox -s bench` (`python -m tests.bench_side_by_side`; issue 12), {meta['when']}, "
        f"{meta['cpus']} CPUs, Python {meta['python']}, Prefect {meta['prefect_version']} in "
        "a virtualenv of its own. Every measurement runs in a fresh process; the rounds "
        f"are interleaved (every measurement once, then again: {meta['rounds']} rounds). "
        "Values: the median of the rounds; ratios: the median of the per-round ratios "
        "(for times, CPU and memory lower is better; for creations/s higher is better). "
        f"Per request: {meta['requests']:,} calls after {meta['warmup']:,} unmeasured, "
        "answered from memory by an `httpx.MockTransport` with bodies captured from a real "
        "Prefect 3.9.1 server, our client at its defaults (retries, backpressure, CSRF on: "
        "the mock hands out a token); leases: one app whose lifespan completes at once; "
        f"clients: `get_client()` against a stub API in its own process; ephemeral: a "
        f"fresh `PREFECT_HOME`, {meta['creations']:,} creations for ours, "
        f"{meta['prefect_creations']:,} for Prefect's. Prefect's client runs on asyncio only. "
        "The floors: `import anyio, httpx, pydantic`; the same script with bare httpx "
        "(`GET /health`); a bare `httpx.AsyncClient` sending the same request and calling "
        "`response.json()`; the same tasks holding no lease; an `httpx.AsyncClient` sharing "
        "one SSL context. The script: interpreter start, import, `get_client()`, "
        "`GET /health` of a stub API (ours sends its version check first).",
        "",
        table(results, leases, clients),
        "",
    ]
    if meta.get("chart"):
        lines += [f"![ours, Prefect's client and the floor, side by side]({meta['chart']})", ""]
    if meta.get("defaults"):
        lines.insert(3, "")
        lines.insert(4, f"Our client's request settings, as measured: {meta['defaults']}.")
    if results.errors:
        lines += ["Failed measurements:", ""]
        for key, errors in sorted(results.errors.items()):
            last = errors[-1].strip().splitlines()
            lines.append(f"- {key}: {len(errors)} failed; last line: `{last[-1] if last else ''}`")
        lines.append("")
    return "\n".join(lines)


def load_quote(load_markdown: str, link: str = "LOAD.md") -> str:
    """The load table of ``nox -s load`` (LOAD.md), quoted with its date line."""
    lines = load_markdown.splitlines()
    measured = next((line for line in lines if line.startswith("Measured ")), "")
    start = next((i for i, line in enumerate(lines) if line.startswith("| client")), None)
    quoted = ["## Load: our client and Prefect's on a real Prefect server", ""]
    if start is None:
        quoted.append(f"No load table found in [{link}]({link}); run `nox -s load`.")
        return "\n".join(quoted) + "\n"
    stop = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    quoted += [
        f"Quoted from [{link}]({link}) (`nox -s load`; the columns are explained there). "
        + measured,
        "",
        *lines[start:stop],
        "",
    ]
    return "\n".join(quoted)


# The chart: one panel per measure, a bar per client.

COLORS = {"ours": "#1f77b4", "Prefect": "#ff7f0e", "floor": "#7f7f7f"}


def panels(results: Results) -> list[tuple[str, list[tuple[str, str, float | None]]]]:
    """(title, [(bar label, color key, value)]) for the chart."""

    def bars(name: str, keys: list[tuple[str, str, str]], scale: float = 1.0) -> list[Any]:
        out = []
        for label, color, key in keys:
            value = results.median(key, name)
            out.append((label, color, None if value is None else value * scale))
        return out

    def each(prefix: str, floor: str = "floor") -> list[tuple[str, str, str]]:
        return [
            ("ours\ntrio", "ours", f"{prefix}/ours-trio"),
            ("ours\nasyncio", "ours", f"{prefix}/ours-asyncio"),
            ("Prefect", "Prefect", f"{prefix}/prefect-asyncio"),
            (f"{floor}\nasyncio", "floor", f"{prefix}/{floor}-asyncio"),
        ]

    return [
        (
            "import, wall ms",
            bars(
                "import_ms",
                [
                    ("ours", "ours", "import/ours"),
                    ("Prefect", "Prefect", "import/prefect"),
                    ("floor", "floor", "import/floor"),
                ],
            ),
        ),
        ("script to first response, ms", bars("first_response_ms", each("script", "httpx"))),
        ("CPU per GET, us", bars("cpu_us", each("requests/GET", "httpx"))),
        ("CPU per POST, us", bars("cpu_us", each("requests/POST", "httpx"))),
        ("CPU per lifespan lease, us", bars("cpu_us", each("leases"))),
        ("memory per open client, KiB", bars("rss_kib", each("clients"))),
        (
            "ephemeral: first response, s",
            bars("first_response_ms", each("ephemeral")[:3], 1e-3),
        ),
        ("ephemeral: flow-run creations/s", bars("creations_per_s", each("ephemeral")[:3])),
    ]


def _short(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def write_chart(results: Results, path: Path, title: str) -> None:
    """One PNG, a panel per measure (medians; a log scale where the bars differ 20x)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(2, 4, figsize=(17, 7.5))
    for axis, (name, bars) in zip(axes.flat, panels(results), strict=True):
        known = [(label, color, value) for label, color, value in bars if value is not None]
        axis.set_title(name, fontsize=11)
        if not known:
            axis.text(0.5, 0.5, "not measured", ha="center", va="center")
            axis.set_axis_off()
            continue
        labels = [label for label, _, _ in known]
        values = [value for _, _, value in known]
        drawn = axis.bar(labels, values, color=[COLORS[color] for _, color, _ in known])
        axis.bar_label(drawn, labels=[_short(v) for v in values], fontsize=8)
        positive = [v for v in values if v > 0]
        if positive and max(positive) / min(positive) > 20:
            axis.set_yscale("log")
        axis.tick_params(axis="x", labelsize=8)
        axis.margins(y=0.15)
    figure.suptitle(title, fontsize=12)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
