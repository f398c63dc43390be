"""The benchmark command still runs: tiny ranges, one repeat, no timing assertions.

Figures are for humans (``make bench``); here only the shape of the output and the
request counts are checked, which do not depend on the machine's speed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_quick_benchmark_runs_and_counts_minimum_requests(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.run",
            "--quick",
            "--latency-ms",
            "5",
            "--json",
            str(out),
            "--no-markdown",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    for heading in ("Backfill ranges", "page_size=30", "Rate budget", "Raw throughput", "Goals"):
        assert heading in proc.stdout

    results = json.loads(out.read_text())
    assert [(r["range"], r["workspaces"]) for r in results["ranges"]] == [("30 d", 1), ("1 y", 1)]
    latency_s = results["settings"]["latency_ms"] / 1000
    for row in results["ranges"]:
        assert row["requests_each"] == [row["minimum_requests"]]
        assert row["records_each"] == [row["expected_records"]]
        # One --about start-up measured alongside each sync, and that run's bound built on it.
        assert len(row["startup_each_s"]) == len(row["wall_each_s"]) == 1
        startup, bound = row["startup_each_s"][0], row["bound_each_s"][0]
        assert abs(bound - (row["minimum_requests"] * latency_s + startup)) < 1e-3
    for row in results["page_size"]:
        for part in (row["naive"], row["tuned"]):
            assert part["requests_each"] == [part["minimum_requests"]]
        assert row["naive"]["requests"] > row["tuned"]["requests"]
    # The budget row depends on timing (a loaded machine can delay a request past the
    # limiter's margin and earn a 429, hence a retry), so only its presence is checked.
    budget = results["budget"]
    assert "skipped" not in budget, budget.get("skipped")
    assert budget["records_each"] == [budget["expected_records"]]
    for row in results["throughput"]["rows"]:
        assert row["requests_each"] == [row["minimum_requests"]]
        assert row["records_each"] == [row["expected_records"]]
