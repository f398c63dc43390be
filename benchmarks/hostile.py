"""The hostile section: peak memory of one run whose every answer is hostile.

64 requests in flight, each answered with a huge body: a valid page padded to near the
per-answer cap (accepted, its records written), or a chunked body that never ends (cut at
the cap, the run fails). Without a run-wide bound 64 such answers would be held at once
(2 GiB measured before the bound); with it, an answer past ``FREE_BODY_BYTES`` needs one of
``LARGE_ANSWERS`` slots. The goal is a peak RSS under ``GOAL_MIB``; figures, not a test.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.harness import run_process, tap_command
from benchmarks.markdown import table
from benchmarks.session import Session, progress
from tap_indigo_analytics.transport import FREE_BODY_BYTES, LARGE_ANSWERS, MAX_BODY_BYTES
from tests.emulator import Faults

GOAL_MIB = 400
IN_FLIGHT = 64
#: 11 workspaces x 6 streams x one day: 66 requests, so 64 are in flight at once.
WORKSPACES = 11


def cases(quick: bool) -> list[tuple[str, Faults]]:
    padded = 8_000_000 if quick else 30_000_000
    return [
        ("healthy pages", Faults()),
        (f"pages padded to {padded / 1e6:g} MB", Faults(huge_body_bytes=padded)),
        ("endless chunked bodies", Faults(endless_chunked=True)),
    ]


def hostile(bench: Session) -> list[dict[str, Any]]:
    """One run per case; the tap may fail (endless bodies), its memory is the figure."""
    rows = []
    for label, faults in cases(bench.args.quick):
        config = bench.config(1, WORKSPACES, max_concurrency=IN_FLIGHT, max_tries=1)
        bench.emulator.faults = faults
        bench.emulator.clear_log()
        with tempfile.TemporaryDirectory(prefix="tap-indigo-hostile-") as tmp:
            path = Path(tmp, "config.json")
            path.write_text(json.dumps(config))
            out = Path(tmp, "stdout.jsonl")
            run = run_process(
                [*tap_command(), "--config", str(path)], stdout=out, stderr=Path(tmp, "err")
            )
            records = sum('"type":"RECORD"' in line for line in out.open())
        log = bench.emulator.requests()
        row = {
            "case": label,
            "requests": len(log),
            "exit": run.returncode,
            "records": records,
            "wall_s": run.wall_s,
            "max_rss_mib": run.max_rss_kib / 1024,
            "within_goal": run.max_rss_kib / 1024 < GOAL_MIB,
        }
        progress(
            f"  {label}: exit {run.returncode}, {records} records, {len(log)} requests, "
            f"{row['max_rss_mib']:.1f} MiB, {run.wall_s:.1f} s"
        )
        rows.append(row)
    bench.emulator.faults = Faults()
    return rows


def hostile_table(rows: Sequence[dict[str, Any]]) -> str:
    """The section in Markdown."""
    return (
        f"### Memory under hostile answers ({IN_FLIGHT} in flight)\n\n"
        f"{WORKSPACES} workspaces x 6 streams x 1 day at max_concurrency={IN_FLIGHT}, "
        f"max_tries=1. Per answer at most {MAX_BODY_BYTES / 2**20:g} MiB; past "
        f"{FREE_BODY_BYTES / 2**20:g} MiB an answer needs one of {LARGE_ANSWERS} run-wide "
        f"slots. Goal: peak RSS under {GOAL_MIB} MiB (endless bodies fail the run, by "
        "design; the figure is what it held meanwhile).\n\n"
        + table(
            ["case", "requests", "exit", "records", "wall s", "peak RSS MiB", "under goal"],
            [
                [
                    r["case"],
                    r["requests"],
                    r["exit"],
                    r["records"],
                    f"{r['wall_s']:.1f}",
                    f"{r['max_rss_mib']:.1f}",
                    "yes" if r["within_goal"] else "NO",
                ]
                for r in rows
            ],
        )
    )
