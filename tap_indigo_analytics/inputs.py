"""What a user hands the tap on the command line: JSON files and environment variables.

One loader for ``--config``, ``--state`` and ``--catalog`` (the Singer tap, the contract
check, and any other face), and one reader of ``TAP_INDIGO_ANALYTICS_*`` variables for
``--config ENV`` (the tap's ``_env_var_config`` hook and the contract check). A missing,
unreadable or malformed input is an :class:`InputError` whose ``str`` is one line naming
the file or variable and what is wrong with it (with line and column for bad JSON). A
value is never quoted when it could hold a token.

The SDK's own readers (``read_json_file``, ``parse_environment_config``) raise bare
``FileNotFoundError``/``JSONDecodeError``/``ValueError`` tracebacks that name neither
the file nor the variable, hence this module.
"""

from __future__ import annotations

import json
import os
import re
import typing as t
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path

from dotenv import dotenv_values, find_dotenv

from tap_indigo_analytics.errors import IndigoError
from tap_indigo_analytics.jsontypes import json_kind

#: Prefix of the tap's environment variables (the SDK's convention: the name, upper case).
ENV_PREFIX = "TAP_INDIGO_ANALYTICS_"
#: What ``--config ENV`` stands for.
ENV = "ENV"

_WHOLE = re.compile(r"^[+-]?[0-9]+$")
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off", ""})


class InputError(IndigoError):
    """An input file or variable the tap cannot use; ``str`` is one line naming it."""


def load_json_file(path: str | os.PathLike[str], what: str) -> t.Any:
    """The JSON document in ``path``; ``what`` (``config``, ``state``…) names it in errors.

    Numbers with a fraction come back as ``Decimal``, as the SDK reads config files.
    """
    label = f"{what} file {os.fspath(path)!r}"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{label} does not exist") from None
    except IsADirectoryError:
        raise InputError(f"{label} is a directory, not a file") from None
    except PermissionError:
        raise InputError(f"{label} cannot be read: permission denied") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{label} is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise InputError(f"{label} cannot be read: {exc.strerror or type(exc).__name__}") from None
    if not text.strip():
        raise InputError(f"{label} is empty; it must hold a JSON document")
    return parse_json(text, label)


def load_json_object(path: str | os.PathLike[str], what: str) -> dict[str, t.Any]:
    """Like :func:`load_json_file`, for files that must hold one JSON object."""
    document = load_json_file(path, what)
    if not isinstance(document, dict):
        raise InputError(
            f"{what} file {os.fspath(path)!r} must hold a JSON object {{...}}, "
            f"not {json_kind(document)}"
        )
    return document


def parse_json(text: str, label: str) -> t.Any:
    """``text`` as JSON; errors name ``label`` and the position, never the content."""
    try:
        return json.loads(text, parse_float=Decimal, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{label} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    except RecursionError:
        raise InputError(f"{label} is not usable: its JSON is nested too deeply") from None
    except ValueError as exc:  # NaN or Infinity (_refuse_constant)
        raise InputError(f"{label} is not valid JSON: {exc}") from None


def _refuse_constant(name: str) -> t.NoReturn:
    raise ValueError(f"{name} is not a JSON number")


def load_config(
    sources: Sequence[str], schema: Mapping[str, t.Any], prefix: str = ENV_PREFIX
) -> dict[str, t.Any]:
    """Config files merged in order (later keys win); ``ENV`` merges the environment there."""
    config: dict[str, t.Any] = {}
    for source in sources:
        if source == ENV:
            config.update(environment_config(schema, prefix))
        else:
            config.update(load_json_object(source, "config"))
    return config


def environment_config(
    schema: Mapping[str, t.Any],
    prefix: str = ENV_PREFIX,
    environ: Mapping[str, str] | None = None,
) -> dict[str, t.Any]:
    """The settings found as ``<prefix><KEY>`` variables, typed by the config ``schema``.

    Numbers must be numbers, booleans true/false, lists and objects JSON. A ``.env`` file
    (from the working directory up) fills in variables that are not set, as in the SDK.
    """
    if environ is None:
        environ = {**_dotenv(), **os.environ}
    config: dict[str, t.Any] = {}
    for key, spec in schema.get("properties", {}).items():
        name = prefix + key.upper().replace("-", "_")
        if name in environ:
            config[key] = _typed(name, environ[name], spec)
    return config


def _dotenv() -> dict[str, str]:
    path = find_dotenv(usecwd=True)
    if not path:
        return {}
    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def _typed(name: str, raw: str, spec: Mapping[str, t.Any]) -> t.Any:
    """One variable's value as its setting's JSON type; errors name the variable."""
    kinds = _kinds(spec)
    # Values of secret settings and of lists/objects (which may hold tokens) are never shown.
    shown = "" if spec.get("secret") or {"array", "object"} & kinds else f" (got {raw!r})"
    if "integer" in kinds:
        if not _WHOLE.match(raw.strip()):
            raise InputError(f"environment variable {name} must be a whole number{shown}")
        return int(raw.strip())
    if "number" in kinds:
        try:
            return Decimal(raw.strip())
        except InvalidOperation:
            raise InputError(f"environment variable {name} must be a number{shown}") from None
    if "boolean" in kinds:
        value = raw.strip().lower()
        if value not in _TRUE | _FALSE:
            raise InputError(f"environment variable {name} must be true or false{shown}")
        return value in _TRUE
    for kind, python_type, wanted in (
        ("array", list, "a JSON array"),
        ("object", dict, "a JSON object"),
    ):
        if kind in kinds:
            value = parse_json(raw, f"environment variable {name}")
            if not isinstance(value, python_type):
                raise InputError(
                    f"environment variable {name} must be {wanted}, not {json_kind(value)}"
                )
            return value
    return raw


def _kinds(spec: Mapping[str, t.Any]) -> set[str]:
    """Every JSON type a setting's schema allows (``type``, or inside ``anyOf``/``oneOf``)."""
    kinds: set[str] = set()
    declared = spec.get("type", [])
    kinds.update([declared] if isinstance(declared, str) else declared)
    for option in [*spec.get("anyOf", []), *spec.get("oneOf", [])]:
        kinds |= _kinds(option)
    return kinds - {"null"}
