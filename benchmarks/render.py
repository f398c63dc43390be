"""The benchmark's tables in Markdown (stdout, RESULTS.md) from a result's JSON."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.hostile import hostile_table
from benchmarks.markdown import table


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
            "### Backfill ranges (page_size=365, max_concurrency=1)\n\nOne request at a "
            "time, as before concurrency, so the figures compare across runs and with the "
            "sequential replay. bound = minimum requests x latency "
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
            "### Naive page_size=30 vs page_size=365\n\nmax_concurrency=1 and the token "
            "budget lifted in these rows, so the ratio is round trips alone; "
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
            f"{budget['window_s']:g} s (the API's 100/60 s, time-scaled), the tap at its "
            f"default max_concurrency={budget.get('max_concurrency', 1)}; bound = bursts of "
            f"{budget['limit']} one window apart (each ⌈{budget['limit']} / concurrency⌉ "
            "round trips) + start-up.\n\n"
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
    if results.get("concurrency"):
        parts.append(concurrency_table(results["concurrency"]))
    if results.get("scale"):
        parts.append(scale_table(results["scale"]))
    if results.get("hostile"):
        parts.append(hostile_table(results["hostile"]))
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


CONCURRENCY_NOTE = (
    "### Concurrency (issue 14)\n\nEach row at max_concurrency 1, the default and 64, "
    "against the API's real limit (100 requests / 60 s per token, each workspace its own "
    "token) enforced by the emulator. daily = start_date today: one request per stream "
    "and workspace. bound = start-up + ⌈requests / concurrency⌉ x latency, or the busiest "
    "token's budget where longer (never here: at most 60 requests per token); each sync is "
    "judged on the start-up of an `--about` run just before it, wall/bound is the median "
    "of those ratios. floor = the first run's requests replayed by bare `requests` "
    "sessions, as many at a time, + start-up (cells whose bound is under 30 s): the "
    "emulator's and HTTP's own time on this machine at that moment. threads: most "
    "threads of the tap process seen at once (sampled every 5 ms). STATE: bytes of all "
    "STATE lines on stdout (messages). CPU: user + system seconds of the tap process, "
    "and of the benchmark process (the emulator) meanwhile; the machine has 2 cores."
)


def _cell_figures(cell: dict[str, Any]) -> list[str]:
    if "extrapolated_from" in cell:
        return [
            f"({cell['minimum_requests']})",
            "",
            f"~{cell['wall_s']:.1f} (extrapolated from {cell['extrapolated_from']})",
            f"{cell['bound_s']:.2f}",
            f"~{cell['wall_over_bound']:.2f}",
            "",
            "",
            "not run",
            "",
            "",
            "",
        ]
    runs = len(cell["wall_each_s"])
    return [
        f"{cell['requests']:g} ({cell['minimum_requests']})",
        str(cell["rate_limited_429"]),
        f"{cell['wall_s']:.2f}" + (f" (median of {runs})" if runs > 1 else ""),
        f"{cell['bound_s']:.2f}",
        f"{cell['wall_over_bound']:.2f}",
        f"{cell['floor_s']:.2f}" if "floor_s" in cell else "",
        f"{cell['wall_over_floor']:.2f}" if "floor_s" in cell else "",
        f"{cell['max_rss_mib']:.1f}",
        str(cell["peak_threads"]),
        f"{cell['state_bytes']:,.0f} ({cell['state_messages']:g})",
        f"{cell['cpu_s']:.2f} + {cell['emulator_cpu_s']:.2f}",
    ]


def concurrency_table(rows: Sequence[dict[str, Any]]) -> str:
    """The concurrency section: one line per row and max_concurrency."""
    lines = []
    for row in rows:
        for cell in row["cells"]:
            latency = f"{cell['latency_ms']:g} ms"
            lines.append([row["label"], latency, cell["max_concurrency"], *_cell_figures(cell)])
    return (
        CONCURRENCY_NOTE
        + "\n\n"
        + table(
            [
                "row",
                "latency",
                "concurrency",
                "requests (min)",
                "429s",
                "wall s",
                "bound s",
                "wall/bound",
                "floor s",
                "wall/floor",
                "peak RSS MiB",
                "threads",
                "STATE bytes (messages)",
                "CPU s tap + emulator",
            ],
            lines,
        )
    )


SCALE_NOTE = (
    "### Scale (issue 20)\n\nDaily runs as an agency's nightly job makes them: the input "
    "state one day old (every bookmark yesterday; with the default lookback each request "
    "reads {days} days), {latency:g} ms per request, each workspace its own token, no proxy "
    "variable in the tap's environment. round trips = ⌈requests / in flight⌉ x latency; "
    "bound = that + the start-up of an `--about` run just before each sync. CPU: user + "
    "system seconds of the tap (both processes in the shard row), and of the benchmark "
    "process (the emulator) meanwhile; CPU ms per request = tap CPU / requests, start-up "
    "included. Meltano env: the tap run with {extra} extra variables as `meltano run` "
    "exports them. shards: `shard: k/2` in two processes started at once on the 2 cores, "
    "each with its own workspaces' state; wall = the slower, RSS = the larger, requests, "
    "records, CPU and STATE summed. data: every (stream, workspace, day) exactly once "
    "(across the shards; no workspace in both), one request per stream and workspace."
)


def scale_table(cells: Sequence[dict[str, Any]]) -> str:
    """The scale section: one line per cell."""
    lines = []
    for c in cells:
        kind = f"{c['shards']} shards" if c["shards"] > 1 else ""
        if c["extra_environment_variables"]:
            kind = f"Meltano env (+{c['extra_environment_variables']})"
        runs = len(c["wall_each_s"])
        bad = [p for problems in c["data_problems_each"] for p in problems]
        lines.append(
            [
                f"{c['workspaces']:,}",
                kind or "one process",
                c["max_concurrency"],
                f"{c['requests']:g} ({c['minimum_requests']})",
                f"{c['wall_s']:.2f}" + (f" (median of {runs})" if runs > 1 else ""),
                f"{c['round_trips_s']:.2f}",
                f"{c['bound_s']:.2f}",
                f"{c['wall_over_bound']:.2f}",
                f"{c['cpu_s']:.2f} + {c['emulator_cpu_s']:.2f}",
                f"{c['cpu_ms_per_request']:.3f}",
                f"{c['max_rss_mib']:.1f}",
                str(c["peak_threads"]),
                f"{c['state_mb']:.2f} ({c['state_messages']:g})",
                "; ".join(bad[:2]) or "ok",
            ]
        )
    first = cells[0]
    note = SCALE_NOTE.format(
        days=first["days_per_partition"],
        latency=first["latency_ms"],
        extra=max(c["extra_environment_variables"] for c in cells),
    )
    header = ["workspaces", "run", "in flight", "requests (min)", "wall s", "round trips s"]
    header += ["bound s", "wall/bound", "CPU s tap + emulator", "CPU ms/request"]
    header += ["peak RSS MiB", "threads", "STATE MB (messages)", "data"]
    return note + "\n\n" + table(header, lines)


def markdown_document(results: dict[str, Any], body: str) -> str:
    """RESULTS.md: the machine, the command, notes on the conditions, the tables."""
    m = results["machine"]
    load = ", ".join(map(str, m["load_average_at_start"])) or "n/a"
    end = ", ".join(map(str, results.get("load_average_at_end") or [])) or "n/a"
    notes = "".join(f"{note}\n\n" for note in results.get("notes") or [])
    return (
        "# Benchmark results\n\n"
        f"Written by `{results['command']}` on {m['date']}; regenerate with `make bench`, "
        "do not edit by hand (`python -m benchmarks.render JSON --note TEXT` re-renders "
        "a run's JSON with a note on its conditions).\n\n"
        f"The whole run took {results['elapsed_s'] / 60:.1f} minutes.\n\n"
        f"Machine: {m['cores']} cores, {m['cpu']}, Python {m['python']} ({m['platform']}); "
        f"load average at start {load}, at end {end}.\n\n" + notes + body
    )


def appended_run(results: dict[str, Any], body: str) -> str:
    """A later partial run (``--only``) as a section at the end of RESULTS.md."""
    m = results["machine"]
    load = ", ".join(map(str, m["load_average_at_start"])) or "n/a"
    end = ", ".join(map(str, results.get("load_average_at_end") or [])) or "n/a"
    notes = "".join(f"{note}\n\n" for note in results.get("notes") or [])
    return (
        f"\n## Later run: `{results['command']}`, {m['date']}\n\n"
        f"{results['elapsed_s'] / 60:.1f} minutes; load average at start {load}, at end "
        f"{end}. The sections above are from the full run; a full `make bench` rewrites "
        "this file with every section.\n\n" + notes + body
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Re-render a run's JSON as Markdown, adding notes (kept in the JSON too)."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.render", description="Re-render a benchmark run's JSON."
    )
    parser.add_argument("json", type=Path, help="a run's JSON (benchmarks/results/latest.json)")
    parser.add_argument("--note", action="append", default=[], help="a paragraph to add")
    parser.add_argument("--markdown", type=Path, default=Path(__file__).with_name("RESULTS.md"))
    parser.add_argument(
        "--append",
        action="store_true",
        help="add a partial run (--only) at the end of the Markdown file instead of replacing it",
    )
    args = parser.parse_args(argv)
    results = json.loads(args.json.read_text())
    results["notes"] = [*(results.get("notes") or []), *args.note]
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    if args.append:
        with args.markdown.open("a") as handle:
            handle.write(appended_run(results, render(results)))
    else:
        args.markdown.write_text(markdown_document(results, render(results)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
