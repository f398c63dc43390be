"""Benchmarks of the tap against the physical limits of the Indigo API.

    make bench                                   # = python -m benchmarks.run
    python -m benchmarks.run --quick             # tiny ranges, 1 repeat (seconds)
    python -m benchmarks.run --repeats 5 --latency-ms 80
    python -m benchmarks.run --only ranges,budget
    python -m benchmarks.run --only concurrency --skip daily-500@1
    python -m benchmarks.run --only scale --skip scale-5000@64

A local emulator (``tests/emulator/``) answers every request after an injected
latency; the tap runs as a real subprocess. Sections:

ranges       30 days, 1, 3 and 10 years x 1 and 5 workspaces, max_concurrency=1.
             Requests against the minimum (⌈days/365⌉ per stream and workspace, 6
             streams); wall time against the bound: minimum requests x latency + the
             start-up of ``tap-indigo-analytics --about``, measured just before each
             sync; peak RSS.
page_size    the same backfill at page_size=30 (the API default, what a naive tap
             sends) and at 365, max_concurrency=1: requests and wall time, as ratios.
             The token budget is lifted in these rows so the ratio shows the round
             trips alone; the last column gives what the real 100/60 s budget adds.
budget       5 years at page_size=30 (390 requests on one token) with the emulator
             enforcing 100 requests per ``--budget-window`` seconds (default 10, a
             scaled-down 60) and the tap's budget set to the same, at the default
             max_concurrency: 429s (goal 0) and wall time against the budget's bound.
throughput   zero latency, 10 years x 5 workspaces: records per second of the SDK
             pipeline, with the tap's msgspec writer and with the SDK's default one
             (``benchmarks/sdk_writer_tap.py``).
concurrency  daily runs of 10-500 workspaces at 200 ms, 1 year x 50 workspaces at
             200 ms, 3 years x 1 and x 5, 1 and 10 years x 1 at 50 ms, each at
             max_concurrency 1, the default and 64 (``benchmarks/concurrency.py``).
scale        daily runs with the input state one day old, 1,000-5,000 workspaces at 200
             ms and 64 / 256 in flight, one under Meltano's environment (~150 variables)
             and one split into 2 shards run at once; CPU ms per request, STATE MB, every
             record checked (``benchmarks/scale.py``; about 10 minutes).

The sequential sections report the median of ``--repeats`` runs (default 5); the
concurrency and scale cells of ``--concurrency-repeats`` (default 3), or one run where
the bound passes 30 s. ``--skip`` leaves out sections, concurrency rows (``daily-500``)
or single cells (``daily-500@1``, ``scale-5000@64``, ``meltano-1000@64``, ``shards2-5000@256``).

Output: tables on stdout, ``benchmarks/results/latest.json`` (gitignored) and, for a
full run, ``benchmarks/RESULTS.md`` (committed, quoted by the README). These are
figures, not timed tests; the smoke test only checks the command still works.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks import sections
from benchmarks.concurrency import concurrency
from benchmarks.goals import goals
from benchmarks.harness import WORKSPACES, machine
from benchmarks.hostile import hostile
from benchmarks.plan import FULL, QUICK
from benchmarks.render import markdown_document, render
from benchmarks.scale import cell_keys, scale
from benchmarks.session import Session, progress
from tests.emulator import Emulator

HERE = Path(__file__).resolve().parent
DEFAULT_JSON = HERE / "results" / "latest.json"
DEFAULT_MARKDOWN = HERE / "RESULTS.md"
SECTIONS: dict[str, Callable[[Session], Any]] = {
    "ranges": sections.ranges,
    "page_size": sections.page_size,
    "budget": sections.budget,
    "throughput": sections.throughput,
    "concurrency": concurrency,
    "scale": scale,
    "hostile": hostile,
}


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="Requests, wall time and memory of the tap against the API's limits.",
    )
    parser.add_argument("--quick", action="store_true", help="tiny ranges, 1 repeat")
    parser.add_argument("--repeats", type=int, help="runs per row, median reported (5)")
    parser.add_argument(
        "--concurrency-repeats",
        type=int,
        help="runs per concurrency cell (3; cells with a bound over 30 s run once)",
    )
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=50.0,
        help="injected latency per request in the sequential sections (50)",
    )
    parser.add_argument(
        "--budget-window",
        type=float,
        help="seconds of the scaled-down rate window in the budget row (10; --quick 1)",
    )
    parser.add_argument(
        "--only", default=",".join(SECTIONS), help=f"comma-separated subset of {list(SECTIONS)}"
    )
    parser.add_argument(
        "--skip",
        default="",
        help="comma-separated sections, concurrency rows (daily-500) or cells (daily-500@1, "
        "scale-5000@64)",
    )
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="JSON output path")
    parser.add_argument(
        "--markdown",
        type=Path,
        help="also write the tables here (default: benchmarks/RESULTS.md on full runs)",
    )
    parser.add_argument("--no-markdown", action="store_true", help="never write a .md file")
    parser.add_argument(
        "--note",
        action="append",
        default=[],
        help="a paragraph for RESULTS.md on the run's conditions (say if the machine was shared)",
    )
    args = parser.parse_args(argv)
    args.skip = set(_names(args.skip))
    args.sections = [s for s in _names(args.only) if s not in args.skip]
    unknown = set(_names(args.only)) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s) {sorted(unknown)}; choose from {list(SECTIONS)}")
    plan = QUICK if args.quick else FULL
    known = (
        set(SECTIONS)
        | {
            name
            for row in plan.concurrency
            for name in (row.key, *(f"{row.key}@{n}" for n in plan.levels))
        }
        | set(cell_keys(plan))
    )
    if args.skip - known:
        parser.error(f"unknown --skip name(s) {sorted(args.skip - known)}")
    if args.repeats is None:
        args.repeats = 1 if args.quick else 5
    if args.concurrency_repeats is None:
        args.concurrency_repeats = 1 if args.quick else 3
    if args.repeats < 1 or args.concurrency_repeats < 1:
        parser.error("--repeats and --concurrency-repeats must be at least 1")
    if args.budget_window is None:
        args.budget_window = 1.0 if args.quick else 10.0
    if args.markdown is None and not args.quick:
        args.markdown = DEFAULT_MARKDOWN
    if args.no_markdown:
        args.markdown = None
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected sections and write the tables, JSON and (full runs) RESULTS.md."""
    args = parse_args(argv)
    plan = QUICK if args.quick else FULL
    command = "python -m benchmarks.run " + " ".join(argv if argv is not None else sys.argv[1:])
    results: dict[str, Any] = {
        "command": command.strip(),
        "machine": machine(),
        "notes": args.note,
        "settings": {
            "quick": args.quick,
            "repeats": args.repeats,
            "concurrency_repeats": args.concurrency_repeats,
            "latency_ms": args.latency_ms,
            "budget_window_s": args.budget_window,
            "sections": args.sections,
            "skip": sorted(args.skip),
            "plan": asdict(plan),
        },
    }
    started = time.perf_counter()
    with Emulator(WORKSPACES) as emulator:
        bench = Session(emulator, args, plan)
        results["startup"] = bench.measure_startup()
        for name, section in SECTIONS.items():
            if name in args.sections:
                progress(f"{name}:")
                results[name] = section(bench)
    results["goals"] = goals(results)
    results["elapsed_s"] = time.perf_counter() - started
    results["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
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
