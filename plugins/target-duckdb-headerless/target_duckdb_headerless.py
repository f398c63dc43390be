"""target-duckdb 0.8.0, with every batch file loaded as having no header row.

target-duckdb writes each batch to a CSV file and loads it with ``COPY ... FROM`` without
saying whether the file has a header, so DuckDB guesses. With the metadata columns on
(``_sdc_extracted_at`` ends in ``Z``), DuckDB 1.4 to 2.0 guess "header" and drop the
batch's first record, silently. The files never have one: say so.
"""

from __future__ import annotations

from typing import Any

import target_duckdb


class _HeaderlessCopy:
    """A DuckDB connection whose batch COPY statements say ``header false``."""

    def __init__(self, connection: Any) -> None:
        self._connection = connection

    def execute(self, query: str, *args: Any, **kwargs: Any) -> Any:
        if query.startswith("COPY ") and " WITH (" in query:
            query = query.replace(" WITH (", " WITH (header false, ", 1)
        return self._connection.execute(query, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)


def main() -> None:
    """target-duckdb's own entry point, its connection wrapped."""
    connect = target_duckdb.duckdb_connect
    target_duckdb.duckdb_connect = lambda config: _HeaderlessCopy(connect(config))  # type: ignore[assignment]
    target_duckdb.main()
