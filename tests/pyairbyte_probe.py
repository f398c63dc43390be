"""Run inside the PyAirbyte virtualenv (.venv-pyairbyte), never imported by the tests.

    python tests/pyairbyte_probe.py check CONFIG.json N    # N timed source.check() calls
    python tests/pyairbyte_probe.py tables CACHE.duckdb    # rows and distinct keys per table

Prints one JSON document on stdout for tests/test_airbyte_pyairbyte.py to judge.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

#: The primary key of every stream: the cache must hold each key once.
KEY = ("project_id", "date")


def check(config_path: str, times: int) -> dict[str, Any]:
    """``source.check()`` ``times`` times through PyAirbyte's local-executable path."""
    # Imported by name: to mypy, `airbyte` is also this repository's airbyte/ folder.
    ab: Any = importlib.import_module("airbyte")
    source = ab.get_source(
        "source-indigo-analytics",
        local_executable="source-indigo-analytics",
        config=json.loads(Path(config_path).read_text()),
    )
    seconds = []
    for _ in range(times):
        started = time.monotonic()
        source.check()  # raises on a FAILED status or a failed process
        seconds.append(time.monotonic() - started)
    return {"seconds": seconds}


def tables(cache_path: str) -> dict[str, Any]:
    """Per stream table: its rows, its distinct ``(project_id, date)`` keys, its days."""
    import duckdb  # type: ignore[import-not-found,unused-ignore]

    result: dict[str, Any] = {}
    with duckdb.connect(cache_path, read_only=True) as db:
        names = [
            row[0]
            for row in db.execute(
                "select table_name from information_schema.tables where table_name like 'daily_%'"
            ).fetchall()
        ]
        for name in names:
            counts = db.execute(
                f"select count(*), count(distinct ({', '.join(KEY)})) from main.{name}"
            ).fetchone()
            assert counts is not None  # an aggregate always has its one row
            rows, keys = counts
            days = db.execute(f"select distinct date from main.{name}").fetchall()
            latest = db.execute(
                f"select * from main.{name} where date = (select max(date) from main.{name})"
            )
            columns = [c[0] for c in latest.description]
            result[name] = {
                "rows": rows,
                "keys": keys,
                "days": sorted(str(d[0]) for d in days),
                "latest": [
                    {c: _plain(v) for c, v in zip(columns, row, strict=True)}
                    for row in latest.fetchall()
                ],
            }
    return result


def _plain(value: Any) -> Any:
    """A DuckDB value as JSON has it (decimals as numbers, dates and times as text)."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, Decimal):
        return float(value)
    return str(value)


def main(argv: list[str]) -> int:
    """Dispatch one command."""
    command, *args = argv
    if command == "check":
        out = check(args[0], int(args[1]))
    elif command == "tables":
        out = tables(args[0])
    else:
        raise SystemExit(f"unknown command {command!r}")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
