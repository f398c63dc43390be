"""Running the tap CLI as a child process against a local emulator, and measuring it.

Each tap run is a real subprocess (the installed CLI), so start-up, imports and
Singer serialization are all inside the measurement. Peak RSS comes from
``os.wait4`` in a bare launcher process (``launch.py``), so the benchmark's own
memory cannot leak into the tap's figure; the launcher also samples the tap's
thread count.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.emulator import Emulator, LoggedRequest

#: The repository root: child processes run here so ``python -m benchmarks...`` works.
REPO = Path(__file__).resolve().parent.parent
LAUNCHER = REPO / "benchmarks" / "launch.py"

#: The six streams of the tap (the catalog does not depend on the account).
STREAMS = 6
#: The API's largest page and longest range per request.
MAX_DAYS = 365
#: Benchmark workspaces (the largest row reads 5,000); each has its own token, hence
#: its own rate budget. A config takes the first N.
WORKSPACES = {f"bench-{n}": f"benchToken{n:012d}" for n in range(1, 5001)}
#: Markers of a message type, as written by the SDK's writer and by msgspec's; both
#: put ``type`` first, so a marker is looked for at the start of a line only.
RECORD_MARKERS = (b'"type":"RECORD"', b'"type": "RECORD"')
STATE_MARKERS = (b'"type":"STATE"', b'"type": "STATE"')
HEAD = 32


def tap_command(writer: str = "msgspec") -> list[str]:
    """The tap's command line: the installed console script (msgspec writer), or the
    variant with the SDK's default writer."""
    if writer == "sdk":
        return [sys.executable, "-m", "benchmarks.sdk_writer_tap"]
    script = Path(sys.executable).parent / "tap-indigo-analytics"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "tap_indigo_analytics.tap"]


def today() -> dt.date:
    """UTC today: the day the tap and the emulator both call today."""
    return dt.datetime.now(dt.timezone.utc).date()


def min_requests(days: int, page_size: int, workspaces: int) -> int:
    """Fewest requests that can read ``days`` days: windows of 365 days, pages of ``page_size``.

    The tap's windows are the API's hard limit (365 days per request); a window of
    ``w`` days needs ⌈w / page_size⌉ pages.
    """
    per_stream = 0
    left = days
    while left > 0:
        window = min(left, MAX_DAYS)
        per_stream += -(-window // page_size)
        left -= window
    return per_stream * STREAMS * workspaces


def budget_bound_s(
    requests: int, limit: int, window_s: float, latency_s: float, concurrency: int = 1
) -> float:
    """Fastest possible time for ``requests`` of one token under ``limit``/``window_s``,
    at most ``concurrency`` in flight.

    Request k may not start before request k - limit started plus the window; when a
    burst of ``limit`` requests takes less than the window, that means bursts of
    ``limit`` one window apart, the last one taking ⌈its size / concurrency⌉ round
    trips. Start-up is not included.
    """
    if requests <= 0:
        return 0.0
    if -(-limit // concurrency) * latency_s >= window_s:  # the latency alone keeps under
        return -(-requests // concurrency) * latency_s
    full_windows, last_burst = divmod(requests - 1, limit)
    return full_windows * window_s + -(-(last_burst + 1) // concurrency) * latency_s


def concurrent_bound_s(
    requests: int,
    concurrency: int,
    latency_s: float,
    *,
    per_token: int,
    limit: int,
    window_s: float,
) -> float:
    """The least time ``requests`` (``per_token`` on each token) can take: ⌈requests /
    concurrency⌉ round trips, or the busiest token's budget where that is longer.
    Start-up is not included."""
    rounds = -(-requests // concurrency) * latency_s
    return max(rounds, budget_bound_s(per_token, limit, window_s, latency_s, concurrency))


@dataclass(frozen=True)
class ProcessRun:
    """One child process: its exit code, wall time, peak resident memory and threads."""

    returncode: int
    wall_s: float
    max_rss_kib: int
    #: Most threads seen at once (sampled every 5 ms; 0 where there is no /proc).
    peak_threads: int = 0
    #: User + system CPU seconds of the command.
    cpu_s: float = 0.0


def run_process(
    command: Sequence[str],
    *,
    stdout: Path | None = None,
    stderr: Path | None = None,
    timeout_s: float = 900,
    env: dict[str, str] | None = None,
) -> ProcessRun:
    """Run ``command`` through ``launch.py``: wall time from spawn to exit, and peak RSS.

    The launcher, not this (large) process, is the command's parent, so the peak RSS
    is the command's own (see ``benchmarks/launch.py``).
    """
    out = stdout.open("wb") if stdout else subprocess.DEVNULL
    err = stderr.open("wb") if stderr else subprocess.DEVNULL
    with tempfile.TemporaryDirectory(prefix="tap-indigo-launch-") as tmp:
        result = Path(tmp, "result")
        try:
            proc = subprocess.Popen(
                [sys.executable, str(LAUNCHER), str(result), *command],
                stdout=out,
                stderr=err,
                env=env,
                cwd=REPO,
            )
            try:
                returncode = proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()  # the launcher; its child gets EOF on stdout/err and ends
                proc.wait()
                raise
        finally:
            for handle in (out, err):
                if not isinstance(handle, int):
                    handle.close()
        wall, rss, threads, cpu = result.read_text().split()
    # ru_maxrss is in KiB on Linux (bytes on macOS).
    max_rss = int(rss) // 1024 if sys.platform == "darwin" else int(rss)
    return ProcessRun(returncode, float(wall), max_rss, int(threads), float(cpu))


def measure_startup(command: Sequence[str], repeats: int) -> list[float]:
    """Wall times of ``command --about``: interpreter, imports and CLI, no request."""
    times = []
    for _ in range(repeats):
        run = run_process([*command, "--about"])
        if run.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} --about exited {run.returncode}")
        times.append(run.wall_s)
    return times


@dataclass(frozen=True)
class SyncRun:
    """One sync of the tap against the emulator."""

    wall_s: float
    max_rss_kib: int
    records: int
    requests: int
    statuses: dict[int, int] = field(default_factory=dict)
    peak_threads: int = 0
    #: STATE messages on stdout and their bytes (newlines included).
    state_messages: int = 0
    state_bytes: int = 0
    #: CPU seconds of the tap, and of this process meanwhile (the emulator, mostly).
    cpu_s: float = 0.0
    emulator_cpu_s: float = 0.0
    log: list[LoggedRequest] = field(default_factory=list, repr=False)


class TapFailedError(RuntimeError):
    """The tap exited non-zero; the message carries the end of its stderr."""


def run_sync(
    emulator: Emulator,
    config: dict[str, Any],
    *,
    writer: str = "msgspec",
    timeout_s: float = 1800,
) -> SyncRun:
    """Run one sync with ``config`` (the emulator's log is cleared first) and measure it."""
    emulator.clear_log()
    before = resource.getrusage(resource.RUSAGE_SELF)
    with tempfile.TemporaryDirectory(prefix="tap-indigo-bench-") as tmp:
        config_path = Path(tmp, "config.json")
        config_path.write_text(json.dumps(config))
        stdout, stderr = Path(tmp, "stdout.jsonl"), Path(tmp, "stderr.log")
        run = run_process(
            [*tap_command(writer), "--config", str(config_path)],
            stdout=stdout,
            stderr=stderr,
            timeout_s=timeout_s,
        )
        if run.returncode != 0:
            tail = stderr.read_text(errors="replace")[-3000:]
            raise TapFailedError(f"tap exited {run.returncode}; stderr ends with:\n{tail}")
        after = resource.getrusage(resource.RUSAGE_SELF)
        output = scan_output(stdout)
    log = emulator.requests()
    return SyncRun(
        wall_s=run.wall_s,
        max_rss_kib=run.max_rss_kib,
        records=output.records,
        requests=len(log),
        statuses=dict(Counter(entry.status for entry in log)),
        log=log,
        peak_threads=run.peak_threads,
        state_messages=output.state_messages,
        state_bytes=output.state_bytes,
        cpu_s=run.cpu_s,
        emulator_cpu_s=(after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
    )


def replay_s(emulator: Emulator, log: Sequence[LoggedRequest], workers: int = 1) -> float:
    """Seconds a bare HTTP client takes for exactly these requests, ``workers`` at a time
    (``benchmarks/replay.py``)."""
    plan = {
        "base_url": emulator.base_url,
        "workers": workers,
        "requests": [
            [entry.path, entry.params, emulator.workspaces[entry.project_id or ""]] for entry in log
        ],
    }
    emulator.clear_log()
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.replay"],
        input=json.dumps(plan),
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    bad = [e.status for e in emulator.requests() if e.status != 200]
    if bad:
        raise RuntimeError(f"replay got non-200 answers: {bad[:5]}")
    return float(json.loads(proc.stdout)["seconds"])


@dataclass(frozen=True)
class Output:
    """What a Singer output file holds that the benchmarks report."""

    records: int
    state_messages: int
    state_bytes: int


def scan_output(path: Path) -> Output:
    """Count RECORD messages, and STATE messages and their bytes, line by line."""
    records = states = state_bytes = 0
    with path.open("rb") as handle:
        for line in handle:
            head = line[:HEAD]
            if any(marker in head for marker in RECORD_MARKERS):
                records += 1
            elif any(marker in head for marker in STATE_MARKERS):
                states += 1
                state_bytes += len(line)
    return Output(records, states, state_bytes)


def median(values: Sequence[float]) -> float:
    """The median (of one value: that value)."""
    return float(statistics.median(values))


def machine() -> dict[str, Any]:
    """Where the figures were measured."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        model = platform.processor() or "unknown"
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = []
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": load,
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
