"""Airbyte messages out: one JSON line each on the real stdout, tokens blanked out.

Also the one wording of failures: ``error_message`` (what the user reads) and
``failure_type`` (``config_error`` for what the user fixes, else ``system_error``).
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
import typing as t
from collections.abc import Mapping

from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.singerlib.json import serialize_json

from tap_indigo_analytics.errors import AuthenticationError, IndigoError, WorkspaceAccessError
from tap_indigo_analytics.inputs import InputError
from tap_indigo_analytics.redact import redact, redact_values

JSON = dict[str, t.Any]

CONFIG_ERROR = "config_error"
SYSTEM_ERROR = "system_error"
#: A run stopped from outside (SIGTERM, SIGINT): trying again may well succeed.
TRANSIENT_ERROR = "transient_error"

#: Failures the user fixes in the config (or the token): Airbyte's ``config_error``.
_CONFIG_FAILURES = (ConfigValidationError, AuthenticationError, WorkspaceAccessError)

_LOG_LEVELS = {
    logging.CRITICAL: "FATAL",
    logging.ERROR: "ERROR",
    logging.WARNING: "WARN",
    logging.INFO: "INFO",
    logging.DEBUG: "DEBUG",
}


def now_ms() -> float:
    """Epoch milliseconds, for ``emitted_at``."""
    return time.time() * 1000


def error_message(exc: BaseException) -> str:
    """The user-facing one-line message: the tap's own wording for its errors."""
    if isinstance(exc, ConfigValidationError):
        text = f"{exc}: {'; '.join(exc.errors)}" if exc.errors else str(exc)
    elif isinstance(exc, (IndigoError, InputError)):
        text = str(exc)
    else:
        text = f"Unexpected error in the Indigo source: {type(exc).__name__}: {exc}"
    return redact(text)


def failure_type(exc: BaseException) -> str:
    """``config_error`` for what the user fixes in the config, else ``system_error``."""
    return CONFIG_ERROR if isinstance(exc, (*_CONFIG_FAILURES, InputError)) else SYSTEM_ERROR


def config_tokens(config: Mapping[str, t.Any]) -> list[t.Any]:
    """Every token value of a config, in either form (flat or the spec's ``credentials``)."""
    found: list[t.Any] = []
    for holder in (config, config.get("credentials")):
        if not isinstance(holder, Mapping):
            continue
        found.append(holder.get("pat"))
        workspaces = holder.get("workspaces")
        if isinstance(workspaces, list):
            found += [w.get("pat") for w in workspaces if isinstance(w, Mapping)]
    return [token for token in found if token is not None]


class Output:
    """Writes Airbyte messages, one JSON line each, with every configured token blanked out."""

    def __init__(self, stream: t.TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._raw_tokens: list[t.Any] = []

    def hide(self, config: Mapping[str, t.Any]) -> None:
        """Blank out the tokens of ``config`` from now on, even those no PATAuth registered."""
        self._raw_tokens = config_tokens(config)

    def write(self, message: JSON, *, timeout: float = -1) -> bool:
        """One message as one line; ``False`` if the line could not be written in ``timeout`` s.

        Records carry no token, so they are not scanned. The lock is never taken from a
        signal handler (see ``signals``): that is what once deadlocked a SIGTERM.
        """
        line = serialize_json(message)
        if message["type"] != "RECORD":
            line = redact_values(line, self._raw_tokens)
        if not self._lock.acquire(timeout=timeout):
            return False
        try:
            self._stream.write(line + "\n")
            self._stream.flush()
        finally:
            self._lock.release()
        return True

    def log(self, level: str, message: str, stack_trace: str | None = None) -> None:
        """A LOG message."""
        log: JSON = {"level": level, "message": message}
        if stack_trace:
            log["stack_trace"] = stack_trace
        self.write({"type": "LOG", "log": log})

    def error(
        self,
        exc: BaseException,
        *,
        failure_type: str,
        stream: str | None = None,
        message: str | None = None,
    ) -> None:
        """A TRACE ERROR: the tap's one-line message, the traceback as internal detail."""
        error: JSON = {
            "message": message or error_message(exc),
            "internal_message": redact(f"{type(exc).__name__}: {exc}"),
            "stack_trace": redact("".join(traceback.format_exception(exc))),
            "failure_type": failure_type,
        }
        if stream:
            error["stream_descriptor"] = {"name": stream}
        self.write(
            {"type": "TRACE", "trace": {"type": "ERROR", "emitted_at": now_ms(), "error": error}}
        )

    def stream_status(self, stream: str, status: str, *, timeout: float = -1) -> bool:
        """A TRACE STREAM_STATUS (STARTED, RUNNING, COMPLETE, INCOMPLETE)."""
        return self.write(
            {
                "type": "TRACE",
                "trace": {
                    "type": "STREAM_STATUS",
                    "emitted_at": now_ms(),
                    "stream_status": {"stream_descriptor": {"name": stream}, "status": status},
                },
            },
            timeout=timeout,
        )


class LogHandler(logging.Handler):
    """Python logging as Airbyte LOG messages."""

    def __init__(self, output: Output) -> None:
        super().__init__()
        self._output = output

    def emit(self, record: logging.LogRecord) -> None:
        """Write ``record`` as a LOG message."""
        level = next((name for no, name in _LOG_LEVELS.items() if record.levelno >= no), "TRACE")
        try:
            message = redact(record.getMessage())
            stack = (
                redact("".join(traceback.format_exception(*record.exc_info)))
                if record.exc_info
                else None
            )
            self._output.log(level, message, stack)
        except Exception:  # logging must never break the sync
            self.handleError(record)
