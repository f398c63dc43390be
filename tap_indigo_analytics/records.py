"""Rows to records: every value checked against its stream's schema where it enters.

A row whose fields or types differ from the declaration (streams.py) is contract drift
and fails loudly, naming the stream, the field, the day and what came instead: a count
sent as ``"12"`` or ``12.7`` must never reach a warehouse as a silent string or a
truncated number. A value of the right type but outside its documented range (a
negative count, a CSAT average of 7) is kept, and warned about once per stream and
field per run, naming the first day.
"""

from __future__ import annotations

import logging
import threading
import typing as t
from dataclasses import dataclass

from tap_indigo_analytics.errors import ResponseShapeError
from tap_indigo_analytics.jsontypes import describe, schema_types

_LOGGER = logging.getLogger("tap-indigo-analytics")


@dataclass(frozen=True)
class Field:
    """One metric field: its JSON type and the range the API documents for it."""

    name: str
    json_type: str  # "integer" or "number"
    nullable: bool
    low: float | None
    high: float | None


class RecordBuilder:
    """Builds one stream's records from rows; safe to call from several threads."""

    def __init__(self, stream: str, endpoint: str, fields: t.Sequence[Field]) -> None:
        self.stream = stream
        self.endpoint = endpoint
        self._fields = tuple(fields)
        self._names = frozenset(f.name for f in fields) | {"date"}
        self._lock = threading.Lock()
        self._warned: set[str] = set()

    def build(self, row: dict[str, t.Any], project_id: str) -> dict[str, t.Any]:
        """The row as a record: the declared fields, checked, plus ``project_id``."""
        if row.keys() != self._names:
            row = self._known_fields(row, project_id)
        day = row["date"]
        for field in self._fields:
            value = row[field.name]
            # bool is an int subclass in Python, but never a count.
            if isinstance(value, int) and not isinstance(value, bool):
                if field.json_type == "number":
                    # One number type per field: 5 goes out as 5.0, like 4.5 does.
                    row[field.name] = value = float(value)
            elif isinstance(value, float) and field.json_type == "number":
                pass
            elif isinstance(value, float) and value.is_integer():
                row[field.name] = value = int(value)  # 12.0 is the integer 12 in JSON
            elif value is None and field.nullable:
                continue
            else:
                raise ResponseShapeError(
                    f"{self.stream} ({self.endpoint}), workspace {project_id}: `{field.name}` "
                    f"on {day} is {describe(value)}, not {_expected(field)} — the "
                    "response differs from the contract"
                )
            if (field.low is not None and value < field.low) or (
                field.high is not None and value > field.high
            ):
                self._warn_once(
                    field.name,
                    "%s: `%s` is %s on %s (workspace %s), outside its documented range %s; "
                    "kept as sent (further cases are not logged)",
                    self.stream,
                    field.name,
                    value,
                    day,
                    project_id,
                    _range(field),
                )
        row["project_id"] = project_id  # the parsed row is ours: no copy when it is exact
        return row

    def _known_fields(self, row: dict[str, t.Any], project_id: str) -> dict[str, t.Any]:
        missing = self._names - row.keys()
        unknown = sorted(row.keys() - self._names)
        if missing:
            instead = f" (it has {unknown} instead)" if unknown else ""
            raise ResponseShapeError(
                f"{self.stream} ({self.endpoint}), workspace {project_id}: row {row['date']} "
                f"lacks {sorted(missing)}{instead} — the response shape differs from the contract"
            )
        for name in unknown:
            self._warn_once(
                name,
                "%s: Indigo sent field %r, which this tap does not know; ignoring it",
                self.stream,
                name,
            )
        return {name: row[name] for name in self._names}

    def _warn_once(self, key: str, message: str, *args: object) -> None:
        with self._lock:
            if key in self._warned:
                return
            self._warned.add(key)
        _LOGGER.warning(message, *args)


def _expected(field: Field) -> str:
    kind = "an integer" if field.json_type == "integer" else "a number"
    return f"{kind} or null" if field.nullable else kind


def _range(field: Field) -> str:
    low = "" if field.low is None else f"{field.low:g}"
    high = "" if field.high is None else f"{field.high:g}"
    return f"{low} to {high}" if high else f"at least {low}"


def fields_of(schema: dict[str, t.Any], ranges: dict[str, tuple[float, float]]) -> list[Field]:
    """The metric fields of a stream schema (all but ``project_id`` and ``date``).

    Counts are never negative; ``ranges`` gives the documented range of the others.
    """
    result = []
    for name, spec in schema["properties"].items():
        if name in ("project_id", "date"):
            continue
        types = schema_types(spec)
        json_type = "integer" if "integer" in types else "number"
        low, high = ranges.get(name, (0, None) if json_type == "integer" else (None, None))
        result.append(Field(name, json_type, "null" in types, low, high))
    return result
