"""Where the report's numbers come from: the three KPI marts, in DuckDB or PostgreSQL."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

DEFAULT_SCHEMA = "indigo_marts"
MARTS = {
    "daily": "indigo__daily_kpis",
    "weekly": "indigo__weekly_kpis",
    "monthly": "indigo__monthly_kpis",
}

Rows = list[dict[str, Any]]


class ReportError(Exception):
    """A failure with a one-line explanation for the user."""


@dataclass(frozen=True)
class Marts:
    """The three marts' rows, each in (project_id, day) order, and where they came from.

    Dates are ISO strings (``YYYY-MM-DD``), numbers are ints or floats: the rows read the
    same whichever database they came from.
    """

    daily: Rows
    weekly: Rows
    monthly: Rows
    #: A name for the source fit to print on a mailed page: never a local folder.
    source: str


def _plain(value: Any) -> Any:
    """A database value as the report uses it: ISO dates, Decimals as floats."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def _rows(names: list[str], records: list[tuple[Any, ...]]) -> Rows:
    return [dict(zip(names, map(_plain, record), strict=True)) for record in records]


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def read_duckdb(path: Path, schema: str = DEFAULT_SCHEMA) -> Marts:
    """The marts from the DuckDB file dbt-duckdb built."""
    import duckdb  # only here: the PostgreSQL path must not need it

    from tap_indigo_analytics.redact import redact

    if not path.exists():
        raise ReportError(f"{path} does not exist: run `make demo` (or dbt-duckdb:build) first")
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            found: dict[str, Rows] = {}
            for key, table in MARTS.items():
                order = '"date"' if key == "daily" else "period_start"
                cursor = con.execute(
                    f'SELECT * FROM "{schema}"."{table}" ORDER BY project_id, {order}'
                )
                names = [column[0] for column in cursor.description or []]
                found[key] = _rows(names, cursor.fetchall())
    except duckdb.Error as exc:
        raise ReportError(
            f"cannot read the marts in {path} (schema {schema}): {redact(_first_line(exc))}; "
            "build them with `meltano invoke dbt-duckdb:build`"
        ) from None
    # The file's name only: a mailed report must not show a folder on someone's disk.
    return Marts(**found, source=f"{path.name} (DuckDB, schema {schema})")


def read_postgres(dsn: str, schema: str = DEFAULT_SCHEMA) -> Marts:
    """The marts from PostgreSQL (where dbt-postgres built them)."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict

    from tap_indigo_analytics.redact import redact, redact_values

    try:
        secrets = [dsn, conninfo_to_dict(dsn).get("password")]
    except psycopg.ProgrammingError:
        raise ReportError("--postgres: not a PostgreSQL connection string or URL") from None
    try:
        with psycopg.connect(dsn, connect_timeout=10) as conn:
            found: dict[str, Rows] = {}
            for key, table in MARTS.items():
                order = "date" if key == "daily" else "period_start"
                query = sql.SQL("SELECT * FROM {}.{} ORDER BY project_id, {}").format(
                    sql.Identifier(schema), sql.Identifier(table), sql.Identifier(order)
                )
                cursor = conn.execute(query)
                names = [column.name for column in cursor.description or []]
                found[key] = _rows(names, cursor.fetchall())
            database = conn.info.dbname
    except psycopg.Error as exc:
        # libpq messages may quote the connection string, password included.
        message = redact(redact_values(_first_line(exc), secrets))
        raise ReportError(
            f"cannot read the marts from PostgreSQL (schema {schema}): {message}"
        ) from None
    return Marts(**found, source=f"PostgreSQL database {database} (schema {schema})")
