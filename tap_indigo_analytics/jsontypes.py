"""The one judge of JSON value types: what a value is, whether it fits a schema type, in words.

Records (every value of every row), the envelope, the contract check and the input
loaders all ask here, so "an integer" means the same thing everywhere: ``true`` is never
a count, and ``12.0`` is the integer 12 (JSON has one number type; the SDK's schema two).
"""

from __future__ import annotations

import typing as t
from collections.abc import Collection
from decimal import Decimal

__all__ = ["describe", "fits", "json_kind", "json_type"]


def json_type(value: object) -> str:
    """The JSON schema type of a parsed JSON value: ``integer``, ``number``, ``string``…"""
    if value is None:
        return "null"
    if isinstance(value, bool):  # an int subclass in Python, never a number in JSON
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, Decimal):  # how the SDK reads numbers in config files
        return "integer" if value == value.to_integral_value() else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


def fits(value: object, types: str | Collection[str]) -> bool:
    """Whether ``value`` is of one of the schema ``types`` (an integer fits ``number``)."""
    allowed = {types} if isinstance(types, str) else set(types)
    kind = json_type(value)
    return kind in allowed or (kind == "integer" and "number" in allowed)


def json_kind(value: object) -> str:
    """``an array``, ``a string``…: how a value's type reads in a message (never the value)."""
    kind = json_type(value)
    if kind in ("integer", "number"):
        return "a number"
    return "null" if kind == "null" else f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"


def describe(value: object) -> str:
    """A server-sent value for an error message: its kind, and a short sample of it.

    Only for values from the API (row fields), which carry no secret.
    """
    if isinstance(value, str):
        return f"a string ({value[:20]!r})"
    if isinstance(value, float) and not value.is_integer():
        return f"a decimal number ({value!r})"
    return json_kind(value)


def schema_types(schema: t.Mapping[str, t.Any]) -> tuple[str, ...]:
    """The ``type`` of a JSON schema as a tuple (it may be a string or a list)."""
    types = schema.get("type", ())
    return (types,) if isinstance(types, str) else tuple(types)
