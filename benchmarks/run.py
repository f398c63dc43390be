"""Benchmarks of the tap against the physical limits of the Indigo API.

    make bench                                   # = python -m benchmarks.run
    python -m benchmarks.run --quick             # tiny ranges, 1 repeat (seconds)
    python -m benchmarks.run --repeats 5 --latency-ms 80
    python -m benchmarks.run --only ranges,budget

A local emulator (``tests/emulator.py``) answers every request after an injected
latency; the tap runs as a real subprocess. Each row is repeated (default 5) and
reported as its median. Sections:

ranges      30 days, 1, 3 and 10 years x 1 and 5 workspaces. Requests against the
            minimum (⌈days/365⌉ per stream and workspace, 6 streams); wall time
            against the bound: minimum requests x latency + the start-up of
            ``tap-indigo-analytics --about``, measured just before each sync;
            peak RSS.
page_size   the same backfill at page_size=30 (the API default, what a naive tap
            sends) and at 365: requests and wall time, as ratios. The token budget
            is lifted in these rows so the ratio shows the round trips alone; the
            last column gives what the real 100/60 s budget adds for the naive tap.
budget      5 years at page_size=30 (390 requests on one token) with the emulator
            enforcing 100 requests per ``--budget-window`` seconds (default 10, a
            scaled-down 60) and the tap's budget set to the same: 429s (goal 0) and
            wall time against the budget's bound.
throughput  zero latency, 10 years x 5 workspaces: records per second of the SDK
            pipeline, with the tap's msgspec writer and with the SDK's default one
            (``benchmarks/sdk_writer_tap.py``).

Output: tables on stdout, ``benchmarks/results/latest.json`` (gitignored) and, for a
full run, ``benchmarks/RESULTS.md`` (committed, quoted by the README). These are
figures, not timed tests; the smoke test only checks the command still works.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    WORKSPACES,
    SyncRun,
    budget_bound_s,
    machine,
    measure_startup,
    median,
    min_requests,
    replay_s,
    run_sync,
    tap_command,
    today,
)
from tap_indigo_analytics.settings import CONFIG_SCHEMA
from tests.emulator import Emulator, Faults

HERE = Path(__file__).resolve().parent
DEFAULT_JSON = HERE / "results" / "latest.json"
DEFAULT_MARKDOWN = HERE / "RESULTS.md"
SECTIONS = ("ranges", "page_size", "budget", "throughput")
#: The API's documented limit per token, and the page size a naive tap sends.
API_LIMIT, API_WINDOW_S, NAIVE_PAGE = 100, 60.0, 30
#: A token budget no row can reach: lifts the tap's limiter in the page-size rows.
UNLIMITED = 1_000_000
WINDOW_SETTING = "rate_limit_window_seconds"


@dataclass(frozen=True)
class Plan:
    """What to measure: full by default, tiny with ``--quick``."""

    ranges: tuple[tuple[str, int], ...]
    workspaces: tuple[int, ...]
    page_size: tuple[tuple[str, int, int], ...]  # label, days, workspaces
    budget: tuple[str, int, int, int]  # label, days, requests per window, page size
    throughput: tuple[str, int, int]  # label, days, workspaces


FULL = Plan(
    ranges=(("30 d", 30), ("1 y", 365), ("3 y", 3 * 365), ("10 y", 10 * 365)),
    workspaces=(1, 5),
    page_size=(("1 y", 365, 1), ("3 y", 3 * 365, 1)),
    budget=("5 y", 5 * 365, API_LIMIT, NAIVE_PAGE),
    throughput=("10 y", 10 * 365, 5),
)
QUICK = Plan(
    ranges=(("30 d", 30), ("1 y", 365)),
    workspaces=(1,),
    page_size=(("90 d", 90, 1),),
    budget=("90 d", 90, 6, NAIVE_PAGE),
    throughput=("1 y", 365, 1),
)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="Requests, wall time and memory of the tap against the API's limits.",
    )
    parser.add_argument("--quick", action="store_true", help="tiny ranges, 1 repeat")
    parser.add_argument("--repeats", type=int, help="runs per row, median reported (5)")
    parser.add_argument(
        "--latency-ms", type=float, default=50.0, help="injected latency per request (50)"
    )
    parser.add_argument(
        "--budget-window",
        type=float,
        help="seconds of the scaled-down rate window in the budget row (10; --quick 1)",
    )
    parser.add_argument(
        "--only", default=",".join(SECTIONS), help=f"comma-separated subset of {SECTIONS}"
    )
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="JSON output path")
    parser.add_argument(
        "--markdown",
        type=Path,
        help="also write the tables here (default: benchmarks/RESULTS.md on full runs)",
    )
    parser.add_argument("--no-markdown", action="store_true", help="never write a .md file")
    args = parser.parse_args(argv)
    args.sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(args.sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s) {sorted(unknown)}; choose from {SECTIONS}")
    if args.repeats is None:
        args.repeats = 1 if args.quick else 5
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.budget_window is None:
        args.budget_window = 1.0 if args.quick else 10.0
    if args.markdown is None and not args.quick:
        args.markdown = DEFAULT_MARKDOWN
    if args.no_markdown:
        args.markdown = None
    return args


def progress(message: str) -> None:
    """A progress line on stderr; stdout carries only the tables."""
    print(message, file=sys.stderr, flush=True)


class Bench:
    """One benchmark session: one emulator, the measured start-up, the sections."""

    def __init__(self, emulator: Emulator, args: argparse.Namespace, plan: Plan) -> None:
        self.emulator = emulator
        self.args = args
        self.plan = plan
        self.latency_s = args.latency_ms / 1000
        self.repeats: int = args.repeats
        self.startup_s = 0.0
        #: Start-up is short and noisy: at least 3 runs, except in a quick run.
        self.startup_repeats = self.repeats if args.quick else max(self.repeats, 3)

    # --- helpers ----------------------------------------------------------------------

    def config(self, days: int, workspaces: int, **extra: Any) -> dict[str, Any]:
        """A config reading the last ``days`` days (today included) of ``workspaces``."""
        end = today()
        chosen = list(WORKSPACES.items())[:workspaces]
        return {
            "base_url": self.emulator.base_url,
            "workspaces": [{"project_id": pid, "pat": f"pat-{pat}"} for pid, pat in chosen],
            "start_date": (end - dt.timedelta(days=days - 1)).isoformat(),
            "end_date": end.isoformat(),
            **extra,
        }

    def sync(self, label: str, config: dict[str, Any], faults: Faults, **kw: Any) -> SyncRun:
        self.emulator.faults = faults
        run = run_sync(self.emulator, config, **kw)
        progress(
            f"  {label}: {run.requests} requests, {run.wall_s:.2f} s, "
            f"{run.max_rss_kib / 1024:.1f} MiB, {run.records} records"
        )
        return run

    def repeated(self, label: str, config: dict[str, Any], faults: Faults) -> list[SyncRun]:
        return [self.sync(label, config, faults) for _ in range(self.repeats)]

    # --- sections ---------------------------------------------------------------------

    def measure_startup(self) -> dict[str, Any]:
        times = measure_startup(tap_command(), self.startup_repeats)
        self.startup_s = median(times)
        progress(f"start-up (--about): median {self.startup_s:.3f} s of {times}")
        return {"command": [*tap_command(), "--about"], "runs_s": times, "median_s": self.startup_s}

    def ranges(self) -> list[dict[str, Any]]:
        rows = []
        faults = Faults(latency_s=self.latency_s)
        for workspaces in self.plan.workspaces:
            for label, days in self.plan.ranges:
                config = self.config(days, workspaces)
                minimum = min_requests(days, 365, workspaces)
                # Each sync is paired with an `--about` run just before it: this machine's
                # start-up drifts by tenths of a second over minutes, so a bound taken at
                # another moment would judge the tap on the drift, not on its own time.
                runs, startups = [], []
                for _ in range(self.repeats):
                    startups.append(measure_startup(tap_command(), 1)[0])
                    runs.append(self.sync(f"{label} x {workspaces} ws", config, faults))
                bounds = [minimum * self.latency_s + s for s in startups]
                startup = median(startups)
                # The floor: the same requests from a bare client, plus start-up.
                replay = replay_s(self.emulator, runs[0].log)
                rows.append(
                    {
                        "range": label,
                        "days": days,
                        "workspaces": workspaces,
                        "minimum_requests": minimum,
                        "expected_records": days * 6 * workspaces,
                        "startup_each_s": [round(s, 4) for s in startups],
                        "bound_s": median(bounds),
                        "bound_each_s": [round(b, 4) for b in bounds],
                        **summarize(runs),
                        "wall_over_bound": median(
                            [r.wall_s / b for r, b in zip(runs, bounds, strict=True)]
                        ),
                        "floor_s": replay + startup,
                        "wall_over_floor": median(
                            [r.wall_s / (replay + s) for r, s in zip(runs, startups, strict=True)]
                        ),
                    }
                )
        return rows

    def page_size(self) -> list[dict[str, Any]]:
        rows = []
        faults = Faults(latency_s=self.latency_s)
        for label, days, workspaces in self.plan.page_size:
            by_page: dict[int, list[SyncRun]] = {NAIVE_PAGE: [], 365: []}
            for _ in range(self.repeats):  # alternate, so load drifts hit both alike
                for page in by_page:
                    config = self.config(
                        days, workspaces, page_size=page, requests_per_minute=UNLIMITED
                    )
                    run = self.sync(f"{label} x {workspaces} ws, page_size={page}", config, faults)
                    by_page[page].append(run)
            naive, tuned = summarize(by_page[NAIVE_PAGE]), summarize(by_page[365])
            naive_min = min_requests(days, NAIVE_PAGE, workspaces)
            # The same naive requests under the real budget of one token (one workspace;
            # several tokens each have their own budget, so no single bound applies).
            real_budget = (
                budget_bound_s(naive_min, API_LIMIT, API_WINDOW_S, self.latency_s) + self.startup_s
                if workspaces == 1
                else None
            )
            rows.append(
                {
                    "range": label,
                    "days": days,
                    "workspaces": workspaces,
                    "naive": {**naive, "page_size": NAIVE_PAGE, "minimum_requests": naive_min},
                    "tuned": {
                        **tuned,
                        "page_size": 365,
                        "minimum_requests": min_requests(days, 365, workspaces),
                    },
                    "request_ratio": naive["requests"] / tuned["requests"],
                    "wall_ratio": naive["wall_s"] / tuned["wall_s"],
                    "naive_real_budget_bound_s": real_budget,
                }
            )
        return rows

    def budget(self) -> dict[str, Any]:
        label, days, limit, page = self.plan.budget
        window = self.args.budget_window
        if WINDOW_SETTING not in CONFIG_SCHEMA["properties"]:
            if window != API_WINDOW_S:
                return {
                    "skipped": f"the tap has no `{WINDOW_SETTING}` setting, so its budget "
                    f"cannot follow a {window:g} s window; rerun with --budget-window 60"
                }
            extra: dict[str, Any] = {}
        else:
            # The setting may be an integer in the schema; send 10, not 10.0.
            extra = {WINDOW_SETTING: int(window) if float(window).is_integer() else window}
        config = self.config(days, 1, page_size=page, requests_per_minute=limit, **extra)
        faults = Faults(
            latency_s=self.latency_s,
            rate_limit=(limit, window),
            retry_after_s=max(1, math.ceil(window)),
        )
        minimum = min_requests(days, page, 1)
        bound = budget_bound_s(minimum, limit, window, self.latency_s) + self.startup_s
        runs = self.repeated(f"budget {label}, {limit}/{window:g} s", config, faults)
        summary = summarize(runs)
        return {
            "range": label,
            "days": days,
            "workspaces": 1,
            "page_size": page,
            "limit": limit,
            "window_s": window,
            "minimum_requests": minimum,
            "expected_records": days * 6,
            "bound_s": bound,
            **summary,
            "wall_over_bound": summary["wall_s"] / bound,
        }

    def throughput(self) -> dict[str, Any]:
        label, days, workspaces = self.plan.throughput
        writers = ["sdk", "msgspec"]
        startup = {
            w: median(measure_startup(tap_command(w), self.startup_repeats)) for w in writers
        }
        by_writer: dict[str, list[SyncRun]] = {w: [] for w in writers}
        config = self.config(days, workspaces)
        for _ in range(self.repeats):
            for writer in writers:
                run = self.sync(
                    f"throughput {label} x {workspaces} ws, {writer} writer",
                    config,
                    Faults(),
                    writer=writer,
                )
                by_writer[writer].append(run)
        rows = []
        for writer, runs in by_writer.items():
            summary = summarize(runs)
            sync_s = [r.wall_s - startup[writer] for r in runs]
            rows.append(
                {
                    "writer": writer,
                    "range": label,
                    "workspaces": workspaces,
                    "minimum_requests": min_requests(days, 365, workspaces),
                    "expected_records": days * 6 * workspaces,
                    "startup_s": startup[writer],
                    **summary,
                    "sync_s": median(sync_s),
                    "records_per_s": median(
                        [r.records / s for r, s in zip(runs, sync_s, strict=True)]
                    ),
                    "records_per_s_wall": median([r.records / r.wall_s for r in runs]),
                }
            )
        return {"rows": rows}


def summarize(runs: Sequence[SyncRun]) -> dict[str, Any]:
    """Medians of the runs of one row, plus every run."""
    statuses: dict[int, int] = {}
    for run in runs:
        for status, count in run.statuses.items():
            statuses[status] = max(statuses.get(status, 0), count)
    return {
        "requests": median([r.requests for r in runs]),
        "requests_each": [r.requests for r in runs],
        "records": median([r.records for r in runs]),
        "records_each": [r.records for r in runs],
        "wall_s": median([r.wall_s for r in runs]),
        "wall_each_s": [round(r.wall_s, 4) for r in runs],
        "max_rss_mib": median([r.max_rss_kib / 1024 for r in runs]),
        "max_rss_each_mib": [round(r.max_rss_kib / 1024, 1) for r in runs],
        "status_max": {str(k): v for k, v in sorted(statuses.items())},
        "rate_limited_429": max(r.statuses.get(429, 0) for r in runs),
    }


# --- goals and report ---------------------------------------------------------------


def goals(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each goal of the issue, the figure it is judged on, and whether it is met."""
    out: list[dict[str, Any]] = []
    ranges = results.get("ranges") or []
    budget = results.get("budget") or {}
    exact = []
    for row in ranges:
        exact.append((f"{row['range']} x {row['workspaces']} ws", row, row["minimum_requests"]))
    for row in results.get("page_size") or []:
        for key in ("naive", "tuned"):
            part = row[key]
            name = f"{row['range']} page_size={part['page_size']}"
            exact.append((name, part, part["minimum_requests"]))
    if "requests_each" in budget:
        exact.append(("budget", budget, budget["minimum_requests"]))
    for row in (results.get("throughput") or {}).get("rows", []):
        exact.append((f"throughput {row['writer']}", row, row["minimum_requests"]))
    if exact:
        off = [
            f"{name}: {each['requests_each']} vs {minimum}"
            for name, each, minimum in exact
            if any(n != minimum for n in each["requests_each"])
        ]
        out.append(
            {
                "goal": "requests = minimum, every row and run",
                "figure": "; ".join(off) or f"all {len(exact)} rows exact",
                "met": not off,
            }
        )
    wrong_records = [
        f"{row['range']} x {row['workspaces']} ws"
        for row in [*ranges, *((results.get("throughput") or {}).get("rows", []))]
        if any(n != row["expected_records"] for n in row["records_each"])
    ]
    if ranges:
        out.append(
            {
                "goal": "every day exactly once (records = days x 6 x workspaces)",
                "figure": ", ".join(wrong_records) or "all rows",
                "met": not wrong_records,
            }
        )
    for row in ranges:
        if row["range"] == "3 y":
            out.append(
                {
                    "goal": f"wall <= 1.15 x bound, 3 y x {row['workspaces']} ws",
                    "figure": f"{row['wall_over_bound']:.3f} (median of per-run ratios; "
                    f"wall {row['wall_s']:.2f} s, bound {row['bound_s']:.2f} s)",
                    "met": row["wall_over_bound"] <= 1.15,
                }
            )
    for workspaces in sorted({row["workspaces"] for row in ranges}):
        by_range = {row["range"]: row for row in ranges if row["workspaces"] == workspaces}
        if "1 y" in by_range and "10 y" in by_range:
            one, ten = by_range["1 y"]["max_rss_mib"], by_range["10 y"]["max_rss_mib"]
            out.append(
                {
                    "goal": f"peak RSS 10 y within 10 % of 1 y, {workspaces} ws",
                    "figure": f"{ten:.1f} MiB vs {one:.1f} MiB ({(ten / one - 1) * 100:+.1f} %)",
                    "met": ten <= one * 1.10,
                }
            )
    if "requests_each" in budget:
        out.append(
            {
                "goal": "budget row: zero 429s",
                "figure": f"{budget['rate_limited_429']} (max over runs)",
                "met": budget["rate_limited_429"] == 0,
            }
        )
        out.append(
            {
                "goal": "budget row: wall within 10 % of the budget's bound",
                "figure": f"{budget['wall_s']:.2f} s / {budget['bound_s']:.2f} s = "
                f"{budget['wall_over_bound']:.2f}",
                "met": budget["wall_over_bound"] <= 1.10,
            }
        )
    return out


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table, readable as plain text too."""
    cells = [[str(c) for c in header], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

    return "\n".join(
        [line(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
        + [line(r) for r in cells[1:]]
    )


def render(results: dict[str, Any]) -> str:
    """All tables of a result, in Markdown."""
    settings = results["settings"]
    latency_ms = settings["latency_ms"]
    parts = []
    startup = results["startup"]["median_s"]
    parts.append(
        f"Latency injected per request: {latency_ms:g} ms, from the request's arrival to "
        f"its answer, page building included. Start-up of `tap-indigo-analytics --about`: "
        f"{startup:.3f} s (median; the backfill rows pair one `--about` run with each "
        f"sync instead). Each figure is the median of {settings['repeats']} run(s)."
    )
    if results.get("ranges"):
        parts.append(
            "### Backfill ranges (page_size=365)\n\nbound = minimum requests x latency "
            "+ start-up, the start-up measured by an `--about` run just before each sync; "
            "wall/bound is the median of those per-run ratios. floor = the same requests "
            "replayed by a bare `requests.Session` (no parsing, no Singer output) + "
            "start-up: what remains of the emulator's and HTTP's own time per request, "
            "which no client can avoid.\n\n"
            + table(
                [
                    "range",
                    "workspaces",
                    "requests",
                    "minimum",
                    "wall s",
                    "bound s",
                    "wall/bound",
                    "floor s",
                    "wall/floor",
                    "peak RSS MiB",
                    "records",
                ],
                [
                    [
                        r["range"],
                        r["workspaces"],
                        f"{r['requests']:g}",
                        r["minimum_requests"],
                        f"{r['wall_s']:.2f}",
                        f"{r['bound_s']:.2f}",
                        f"{r['wall_over_bound']:.2f}",
                        f"{r['floor_s']:.2f}",
                        f"{r['wall_over_floor']:.2f}",
                        f"{r['max_rss_mib']:.1f}",
                        f"{r['records']:g}",
                    ]
                    for r in results["ranges"]
                ],
            )
        )
    if results.get("page_size"):
        parts.append(
            "### Naive page_size=30 vs page_size=365\n\nToken budget lifted in these rows; "
            "the last column is the least the naive run needs under the real 100 requests "
            "/ 60 s budget.\n\n"
            + table(
                [
                    "range",
                    "workspaces",
                    "requests 30",
                    "requests 365",
                    "ratio",
                    "wall s 30",
                    "wall s 365",
                    "ratio",
                    "naive at 100/60 s >= s",
                ],
                [
                    [
                        r["range"],
                        r["workspaces"],
                        f"{r['naive']['requests']:g}",
                        f"{r['tuned']['requests']:g}",
                        f"{r['request_ratio']:.1f}x",
                        f"{r['naive']['wall_s']:.2f}",
                        f"{r['tuned']['wall_s']:.2f}",
                        f"{r['wall_ratio']:.1f}x",
                        "n/a"
                        if r["naive_real_budget_bound_s"] is None
                        else f"{r['naive_real_budget_bound_s']:.1f}",
                    ]
                    for r in results["page_size"]
                ],
            )
        )
    budget = results.get("budget")
    if budget and "skipped" in budget:
        parts.append(f"### Rate budget\n\nSkipped: {budget['skipped']}")
    elif budget:
        parts.append(
            f"### Rate budget\n\nEmulator and tap both at {budget['limit']} requests per "
            f"{budget['window_s']:g} s (the API's 100/60 s, time-scaled); bound = bursts of "
            f"{budget['limit']} one window apart + start-up.\n\n"
            + table(
                [
                    "range",
                    "page_size",
                    "requests",
                    "minimum",
                    "429s",
                    "wall s",
                    "bound s",
                    "wall/bound",
                ],
                [
                    [
                        budget["range"],
                        budget["page_size"],
                        f"{budget['requests']:g}",
                        budget["minimum_requests"],
                        budget["rate_limited_429"],
                        f"{budget['wall_s']:.2f}",
                        f"{budget['bound_s']:.2f}",
                        f"{budget['wall_over_bound']:.2f}",
                    ]
                ],
            )
        )
    throughput = results.get("throughput")
    if throughput:
        rows = throughput["rows"]
        text = (
            f"### Raw throughput (zero latency, {rows[0]['range']} x {rows[0]['workspaces']} "
            "workspaces)\n\nrecords/s over the sync (wall - start-up of the same command).\n\n"
            + table(
                [
                    "writer",
                    "records",
                    "wall s",
                    "start-up s",
                    "sync s",
                    "records/s",
                    "peak RSS MiB",
                ],
                [
                    [
                        r["writer"],
                        f"{r['records']:g}",
                        f"{r['wall_s']:.2f}",
                        f"{r['startup_s']:.2f}",
                        f"{r['sync_s']:.2f}",
                        f"{r['records_per_s']:,.0f}",
                        f"{r['max_rss_mib']:.1f}",
                    ]
                    for r in rows
                ],
            )
        )
        if throughput.get("note"):
            text += f"\n\n{throughput['note']}"
        parts.append(text)
    if results.get("goals"):
        parts.append(
            "### Goals\n\n"
            + table(
                ["goal", "figure", "met"],
                [
                    [g["goal"], g["figure"], "yes" if g["met"] else "**no**"]
                    for g in results["goals"]
                ],
            )
        )
    return "\n\n".join(parts) + "\n"


def markdown_document(results: dict[str, Any], body: str) -> str:
    """RESULTS.md: the machine, the command, the tables."""
    m = results["machine"]
    load = ", ".join(map(str, m["load_average_at_start"])) or "n/a"
    return (
        "# Benchmark results\n\n"
        f"Written by `{results['command']}` on {m['date']}; regenerate with `make bench`, "
        "do not edit by hand.\n\n"
        f"Machine: {m['cores']} cores, {m['cpu']}, Python {m['python']} ({m['platform']}); "
        f"load average at start {load}.\n\n" + body
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected sections and write the tables, JSON and (full runs) RESULTS.md."""
    args = parse_args(argv)
    plan = QUICK if args.quick else FULL
    command = "python -m benchmarks.run " + " ".join(argv if argv is not None else sys.argv[1:])
    results: dict[str, Any] = {
        "command": command.strip(),
        "machine": machine(),
        "settings": {
            "quick": args.quick,
            "repeats": args.repeats,
            "latency_ms": args.latency_ms,
            "budget_window_s": args.budget_window,
            "sections": args.sections,
            "plan": asdict(plan),
        },
    }
    started = time.perf_counter()
    with Emulator(WORKSPACES) as emulator:
        bench = Bench(emulator, args, plan)
        results["startup"] = bench.measure_startup()
        for section in SECTIONS:
            if section in args.sections:
                progress(f"{section}:")
                results[section] = getattr(bench, section)()
    results["goals"] = goals(results)
    results["elapsed_s"] = time.perf_counter() - started
    body = render(results)
    print(body)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    progress(f"wrote {args.json}")
    if args.markdown is not None:
        args.markdown.write_text(markdown_document(results, body))
        progress(f"wrote {args.markdown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
