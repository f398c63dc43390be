"""``make demo``: the tap end to end, offline, against the local emulator.

    python -m scripts.demo            # Meltano: tap-indigo-analytics -> target-duckdb
    python -m scripts.demo --singer   # plain Singer: the tap CLI into a JSONL file

The emulator (tests/emulator/) runs in this process with its demo workspace. The
Meltano run uses the project's `demo` environment; its state lives in Meltano's system
database, so running the demo again is an incremental run that re-reads only the last
days (`lookback_days`).
Run from the repository root after ``make setup``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from scripts.report import ReportError, build_marts_and_report
from tests.emulator import Emulator

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "output"
DUCKDB_FILE = OUTPUT / "indigo.duckdb"
DUCKDB_SCHEMA = "analytics"  # target-duckdb's default_target_schema in meltano.yml
MELTANO = ROOT / ".venv-meltano" / "bin" / "meltano"
DUCKDB_PYTHON = ROOT / ".meltano" / "loaders" / "target-duckdb" / "venv" / "bin" / "python"
DEMO_WORKSPACE = "demo-workspace"
# The emulator's demo token (tests/emulator/): it opens nothing real.
DEMO_TOKEN = "demo-token"
PREFERRED_PORT = 8787  # the port meltano.yml's demo environment names

# Runs in the target-duckdb plugin's own venv: the tap's venv has no duckdb.
_SUMMARY_SQL = """
import duckdb, json, sys
con = duckdb.connect(sys.argv[1], read_only=True)
tables = [r[0] for r in con.execute(
    "SELECT table_name FROM information_schema.tables WHERE table_schema = ? ORDER BY 1",
    [sys.argv[2]]).fetchall()]
print(json.dumps({t: con.execute(
    f'SELECT count(*), min(date), max(date) FROM "{sys.argv[2]}"."{t}"').fetchone()
    for t in tables}))
"""


class DemoError(Exception):
    """A failure with a one-line explanation for the user."""


def start_emulator() -> Emulator:
    """The emulator on port 8787, or on a free port when 8787 is taken."""
    workspaces = {DEMO_WORKSPACE: DEMO_TOKEN}
    try:
        return Emulator(workspaces, port=PREFERRED_PORT).start()
    except OSError:
        return Emulator(workspaces).start()


def clean_env(**extra: str) -> dict[str, str]:
    """This environment minus tap/target settings a user may have exported (a prod PAT
    must never be sent to the emulator, nor a prod database written), plus ``extra``."""
    prefixes = ("TAP_INDIGO_ANALYTICS_", "TARGET_DUCKDB_", "MELTANO_STATE_BACKEND")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env["MELTANO_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    return {**env, **extra}


def describe_requests(emulator: Emulator) -> str:
    """How many API requests the run made, which days they covered, and what kind of run."""
    log = emulator.requests()
    if not log:
        return "0 API requests"
    first = min(r.params.get("from", "") for r in log)
    last = max(r.params.get("to", "") for r in log)
    # The tap's default range is the last 365 days; a bookmark makes it the last few.
    full_range_start = (emulator.today() - dt.timedelta(days=364)).isoformat()
    kind = "full sync" if first <= full_range_start else "incremental: the last days only"
    return f"{len(log)} API requests, from {first} to {last} (exclusive) — {kind}"


def run_meltano(emulator: Emulator) -> None:
    """``meltano run tap-indigo-analytics target-duckdb``, then a per-stream summary."""
    for needed in (MELTANO, DUCKDB_PYTHON):
        if not needed.exists():
            raise DemoError(f"{needed.relative_to(ROOT)} is missing: run `make setup` first")
    OUTPUT.mkdir(exist_ok=True)  # target-duckdb does not create the folder
    log_path = OUTPUT / "demo-meltano.log"
    env = clean_env(MELTANO_ENVIRONMENT="demo", TAP_INDIGO_ANALYTICS_BASE_URL=emulator.base_url)
    command = [str(MELTANO), "run", "tap-indigo-analytics", "target-duckdb"]
    if not DUCKDB_FILE.exists():
        # Meltano's saved bookmark would make this run incremental into an empty file
        # (say after `rm -r output`): start over so the file gets every day.
        command.append("--full-refresh")
    print(" ".join(["meltano", *command[1:]]), "...", flush=True)
    started = time.monotonic()
    with log_path.open("w") as log:
        proc = subprocess.run(
            command,
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
        )
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        tail = log_path.read_text(errors="replace").splitlines()[-25:]
        print("\n".join(tail), file=sys.stderr)
        raise DemoError(
            f"meltano run failed (exit {proc.returncode}); full log: {log_path.relative_to(ROOT)}"
        )
    print(f"  done in {elapsed:.1f} s; {describe_requests(emulator)}")

    summary = subprocess.run(
        [str(DUCKDB_PYTHON), "-c", _SUMMARY_SQL, str(DUCKDB_FILE), DUCKDB_SCHEMA],
        capture_output=True,
        text=True,
        check=False,
    )
    if summary.returncode != 0:
        raise DemoError(f"could not read {DUCKDB_FILE}: {summary.stderr.strip()[-500:]}")
    tables: dict[str, list[Any]] = json.loads(summary.stdout)
    print_table({name: (rows, first, last) for name, (rows, first, last) in tables.items()})
    print(f"DuckDB file: {DUCKDB_FILE} (schema {DUCKDB_SCHEMA}; rows keyed by project_id, date)")
    print(f"Meltano log: {log_path.relative_to(ROOT)}")
    print("Run `make demo` again: the next run is incremental and re-reads only the last days.")


def run_singer(emulator: Emulator) -> None:
    """The tap CLI alone (no Meltano, no state): Singer messages into a JSONL file."""
    OUTPUT.mkdir(exist_ok=True)
    out_path = OUTPUT / "demo.singer.jsonl"
    config = {"base_url": emulator.base_url, "project_id": DEMO_WORKSPACE, "pat": DEMO_TOKEN}
    print("tap-indigo-analytics (plain Singer, full sync) ...", flush=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp, out_path.open("w") as out:
        config_path = Path(tmp, "config.json")
        config_path.write_text(json.dumps(config))
        proc = subprocess.run(
            [sys.executable, "-m", "tap_indigo_analytics.tap", "--config", str(config_path)],
            cwd=ROOT,
            env=clean_env(),
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
    if proc.returncode != 0:
        print("\n".join(proc.stderr.splitlines()[-25:]), file=sys.stderr)
        raise DemoError(f"the tap failed (exit {proc.returncode})")
    print(f"  done in {time.monotonic() - started:.1f} s; {describe_requests(emulator)}")

    days: dict[str, list[str]] = defaultdict(list)
    with out_path.open() as lines:
        for line in lines:
            message = json.loads(line)
            if message["type"] == "RECORD":
                days[message["stream"]].append(message["record"]["date"])
    print_table({name: (len(d), min(d), max(d)) for name, d in sorted(days.items())})
    print(f"Singer messages: {out_path}")


def print_table(rows: dict[str, tuple[int, str | None, str | None]]) -> None:
    """Per-stream rows and first/last day."""
    print(f"  {'stream':<24}{'rows':>6}  {'first day':<12}last day")
    for name, (count, first, last) in rows.items():
        print(f"  {name:<24}{count:>6}  {first or '-':<12}{last or '-'}")


def main(argv: list[str] | None = None) -> int:
    """Start the emulator, run the demo, stop the emulator."""
    parser = argparse.ArgumentParser(prog="python -m scripts.demo", description=__doc__)
    parser.add_argument(
        "--singer", action="store_true", help="skip Meltano: run the tap CLI into a JSONL file"
    )
    args = parser.parse_args(argv)
    emulator = start_emulator()
    try:
        print(f"Indigo API emulator on {emulator.base_url} (workspace {DEMO_WORKSPACE})")
        (run_singer if args.singer else run_meltano)(emulator)
        if not args.singer:
            build_marts_and_report(clean_env(), DUCKDB_FILE)  # dbt marts + output/report.html
    except (DemoError, ReportError) as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
