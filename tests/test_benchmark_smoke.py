"""The benchmark command still runs: tiny ranges, one repeat, no timing assertions.

Figures are for humans (``make bench``); here only what does not depend on the
machine's speed is checked: request and record counts, zero 429s where no timing can
cause one, each bound built on its own start-up, and thread counts held by the
concurrency setting.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
#: Threads of the tap besides its fetch workers (the main thread, the limiter's leak
#: thread, and a few the runtime may start); generous, since only runaway counts matter.
OTHER_THREADS = 8


@pytest.fixture(scope="module")
def quick(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """One ``--quick`` run shared by the tests of this module: stdout and the JSON."""
    out = tmp_path_factory.mktemp("bench") / "bench.json"
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
        timeout=180,
        cwd=REPO,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc, json.loads(out.read_text())


def test_quick_benchmark_runs_and_counts_minimum_requests(
    quick: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    proc, results = quick
    for heading in (
        "Backfill ranges",
        "page_size=30",
        "Rate budget",
        "Raw throughput",
        "Concurrency",
        "Memory under hostile answers",
        "Goals",
    ):
        assert heading in proc.stdout
    # Hostile answers: every request made, padded pages accepted, endless bodies refused.
    assert [(r["requests"], r["exit"], r["records"]) for r in results["hostile"]] == [
        (66, 0, 66),
        (66, 0, 66),
        (66, 1, 0),
    ]

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


def test_quick_benchmark_concurrency_cells(
    quick: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    _, results = quick
    (row,) = results["concurrency"]
    assert row["key"] == "daily-10"
    assert [cell["max_concurrency"] for cell in row["cells"]] == [1, 8, 64]
    for cell in row["cells"]:
        minimum, level = cell["minimum_requests"], cell["max_concurrency"]
        assert minimum == 6 * 10  # a daily run: one request per stream and workspace
        assert cell["requests_each"] == [minimum]
        assert cell["records_each"] == [cell["expected_records"]] == [minimum]
        # 6 requests per token against 100 per 60 s: no timing can earn a 429.
        assert cell["rate_limited_429"] == 0
        assert len(cell["startup_each_s"]) == len(cell["wall_each_s"]) == 1
        startup, bound = cell["startup_each_s"][0], cell["bound_each_s"][0]
        rounds = math.ceil(minimum / level)
        assert abs(bound - (rounds * cell["latency_ms"] / 1000 + startup)) < 1e-3
        # Never more fetch workers than the setting allows (nor than there is work);
        # the launcher samples /proc, so elsewhere the count is 0.
        lowest = 1 if Path("/proc/self/status").exists() else 0
        assert lowest <= cell["peak_threads"] <= min(level, minimum) + OTHER_THREADS
        assert cell["state_messages"] >= 1
        assert cell["state_bytes"] > 0


def test_quick_benchmark_scale_cells(
    quick: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    proc, results = quick
    assert "Scale (issue 20)" in proc.stdout
    cells = {cell["cell"]: cell for cell in results["scale"]}
    assert set(cells) == {"scale-20@4", "scale-20@16", "meltano-20@4", "shards2-20@16"}
    for cell in cells.values():
        # Input state one day old: one request per stream and workspace, reading the
        # bookmark day, the lookback before it and today, each exactly once.
        assert cell["requests_each"] == [cell["minimum_requests"]] == [6 * 20]
        assert cell["records_each"] == [cell["expected_records"]]
        assert cell["data_problems_each"] == [[]]
        assert cell["rate_limited_429"] == 0
        assert cell["cpu_ms_per_request"] == pytest.approx(cell["cpu_s"] / 120 * 1000)
        assert cell["state_bytes"] > 0
    assert cells["meltano-20@4"]["extra_environment_variables"] == 150
    assert cells["scale-20@4"]["extra_environment_variables"] == 0
    # Two processes at once, each reading its own share of the workspaces.
    shards = cells["shards2-20@16"]["processes_each"][0]
    assert len(shards) == 2
    assert all(p["cpu_s"] > 0 for p in shards)
    goal = next(g for g in results["goals"] if g["goal"].startswith("scale rows"))
    assert goal["met"], goal["figure"]


def test_client_floor_runs_every_client_on_whole_answers() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.client_floor", "--quick", "--repeats", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]  # a non-200 answer fails the run
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("60 requests, 8 at a time")
    clients = [line.split(" wall ")[0].strip() for line in lines[1:]]
    assert clients == [
        "requests Session.get",
        "requests HTTPAdapter.send",
        "urllib3 PoolManager",
        "http.client",
    ]
