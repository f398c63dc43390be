"""The Airbyte face of the tap: ``spec``, ``check``, ``discover`` and ``read``.

Nothing here fetches data. Each command builds the Singer tap in-process and
translates: the ConfiguredAirbyteCatalog becomes the tap's Singer catalog
(stream and field selection), Airbyte STREAM states become the Singer state
``{"bookmarks": {stream: stream_state}}``, and the tap's Singer messages -
caught at its message writer, not on stdout - become Airbyte RECORD, STATE
and stream-status TRACE messages. Logs are Airbyte LOG messages, failures a
TRACE ERROR (read, discover) or a FAILED CONNECTION_STATUS (check).

Usage (the ``source-indigo-analytics`` console script)::

    source-indigo-analytics spec
    source-indigo-analytics check --config config.json
    source-indigo-analytics discover --config config.json
    source-indigo-analytics read --config config.json --catalog catalog.json [--state state.json]
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import logging
import sys
import threading
import time
import traceback
import typing as t
from collections.abc import Callable, Iterable, Mapping, Sequence

from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.io_base import GenericSingerWriter
from singer_sdk.singerlib import Catalog, RecordMessage, SchemaMessage, StateMessage
from singer_sdk.singerlib.json import serialize_json

from tap_indigo_analytics.client import utc_today
from tap_indigo_analytics.errors import (
    AuthenticationError,
    IndigoError,
    WorkspaceAccessError,
)
from tap_indigo_analytics.settings import CONFIG_SCHEMA
from tap_indigo_analytics.tap import TapIndigoAnalytics

if t.TYPE_CHECKING:
    from singer_sdk.singerlib.messages import Message

DOCUMENTATION_URL = "https://github.com/indigo-analytics/tap-indigo-analytics#use-from-airbyte"
#: ``check`` reads today's row of this stream (one field, one request per workspace).
CHECK_STREAM = "daily_chats"
#: ``check`` gives up on an unreachable host after this many tries (a read uses ``max_tries``).
CHECK_MAX_TRIES = 3

DRAFT_07 = "http://json-schema.org/draft-07/schema#"

FULL_REFRESH = "full_refresh"
INCREMENTAL = "incremental"
CONFIG_ERROR = "config_error"
SYSTEM_ERROR = "system_error"

#: The tap's own settings, copied before any tap instance merges the SDK's built-in
#: settings (stream maps, batch...) into the shared dict; those mean nothing to Airbyte.
_CONFIG_SCHEMA = copy.deepcopy(CONFIG_SCHEMA)

#: Failures the user fixes in the config (or the token): Airbyte's ``config_error``.
_CONFIG_FAILURES = (ConfigValidationError, AuthenticationError, WorkspaceAccessError)

_LOG_LEVELS = {
    logging.CRITICAL: "FATAL",
    logging.ERROR: "ERROR",
    logging.WARNING: "WARN",
    logging.INFO: "INFO",
    logging.DEBUG: "DEBUG",
}

JSON = dict[str, t.Any]


class InputError(Exception):
    """A file given on the command line is unreadable or not what the protocol says."""


# --- output -------------------------------------------------------------------------------


def now_ms() -> float:
    """Epoch milliseconds, for ``emitted_at``."""
    return time.time() * 1000


class Output:
    """Writes Airbyte messages, one JSON line each, with every configured token blanked out."""

    def __init__(self, stream: t.TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._secrets: list[str] = []

    def hide(self, config: Mapping[str, t.Any]) -> None:
        """Remember the tokens of ``config`` (both ``pat-`` forms) to redact them."""
        tokens = [config.get("pat")] + [
            w.get("pat") for w in config.get("workspaces") or [] if isinstance(w, Mapping)
        ]
        found: set[str] = set()
        for token in tokens:
            if isinstance(token, str) and len(token.strip()) >= 4:
                bare = token.strip().removeprefix("pat-")
                found |= {token.strip(), bare, f"pat-{bare}"}
        self._secrets = sorted(found, key=len, reverse=True)

    def redact(self, text: str) -> str:
        """``text`` without any configured token."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def write(self, message: JSON) -> None:
        """One message as one line (records carry no token, so they are not scanned)."""
        line = serialize_json(message)
        if message["type"] != "RECORD":
            line = self.redact(line)
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()

    def log(self, level: str, message: str, stack_trace: str | None = None) -> None:
        """A LOG message."""
        log: JSON = {"level": level, "message": message}
        if stack_trace:
            log["stack_trace"] = stack_trace
        self.write({"type": "LOG", "log": log})

    def error(self, exc: BaseException, *, failure_type: str, stream: str | None = None) -> None:
        """A TRACE ERROR: the tap's one-line message, the traceback as internal detail."""
        error: JSON = {
            "message": error_message(exc),
            "internal_message": f"{type(exc).__name__}: {exc}",
            "stack_trace": "".join(traceback.format_exception(exc)),
            "failure_type": failure_type,
        }
        if stream:
            error["stream_descriptor"] = {"name": stream}
        self.write(
            {"type": "TRACE", "trace": {"type": "ERROR", "emitted_at": now_ms(), "error": error}}
        )

    def stream_status(self, stream: str, status: str) -> None:
        """A TRACE STREAM_STATUS (STARTED, RUNNING, COMPLETE, INCOMPLETE)."""
        self.write(
            {
                "type": "TRACE",
                "trace": {
                    "type": "STREAM_STATUS",
                    "emitted_at": now_ms(),
                    "stream_status": {"stream_descriptor": {"name": stream}, "status": status},
                },
            }
        )


class LogHandler(logging.Handler):
    """Python logging as Airbyte LOG messages."""

    def __init__(self, output: Output) -> None:
        super().__init__()
        self._output = output

    def emit(self, record: logging.LogRecord) -> None:
        """Write ``record`` as a LOG message."""
        try:
            level = next(name for no, name in _LOG_LEVELS.items() if record.levelno >= no)
        except StopIteration:
            level = "TRACE"
        try:
            message = record.getMessage()
            stack = (
                "".join(traceback.format_exception(*record.exc_info)) if record.exc_info else None
            )
            self._output.log(level, message, stack)
        except Exception:  # logging must never break the sync
            self.handleError(record)


def error_message(exc: BaseException) -> str:
    """The user-facing one-line message: the tap's own wording for its errors."""
    if isinstance(exc, ConfigValidationError):
        return f"{exc}: {'; '.join(exc.errors)}" if exc.errors else str(exc)
    if isinstance(exc, (IndigoError, InputError)):
        return str(exc)
    return f"Unexpected error in the Indigo source: {type(exc).__name__}: {exc}"


def failure_type(exc: BaseException) -> str:
    """``config_error`` for what the user fixes in the config, else ``system_error``."""
    return CONFIG_ERROR if isinstance(exc, (*_CONFIG_FAILURES, InputError)) else SYSTEM_ERROR


# --- the Singer tap in-process ------------------------------------------------------------


class CallbackWriter(GenericSingerWriter[str, "Message"]):
    """The tap's message writer: hands each Singer message to a callback instead of stdout."""

    def __init__(self, callback: Callable[[Message], None] | None = None) -> None:
        self._callback = callback

    def serialize_message(self, message: Message) -> str:
        """The message as a Singer JSON line (unused on this path, required by the base)."""
        return serialize_json(message.to_dict())

    def write_message(self, message: Message) -> None:
        """Pass ``message`` on (or drop it when there is no callback)."""
        if self._callback is not None:
            self._callback(message)


def build_tap(
    config: Mapping[str, t.Any],
    *,
    writer: GenericSingerWriter[str, Message] | None = None,
    catalog: Catalog | None = None,
    state: JSON | None = None,
) -> TapIndigoAnalytics:
    """The Singer tap, config validated (raises ``ConfigValidationError``), output to ``writer``."""
    return TapIndigoAnalytics(
        config=dict(config),
        catalog=catalog,
        state=state,
        message_writer=writer or CallbackWriter(),
        validate_config=True,
    )


# --- spec and discover --------------------------------------------------------------------


def spec() -> JSON:
    """The SPEC message: the tap's config schema, PAT fields marked ``airbyte_secret``."""
    schema = copy.deepcopy(_CONFIG_SCHEMA)
    _mark_secrets(schema)
    # The schema only uses draft-07 keywords; Airbyte validates configs as draft-07.
    connection = {**schema, "$schema": DRAFT_07, "title": "Indigo Analytics Spec"}
    return {
        "type": "SPEC",
        "spec": {
            "documentationUrl": DOCUMENTATION_URL,
            "connectionSpecification": connection,
            "supportsIncremental": True,
            "supported_destination_sync_modes": ["overwrite", "append", "append_dedup"],
        },
    }


def _mark_secrets(node: t.Any) -> None:
    if isinstance(node, dict):
        if node.get("secret") is True:
            node["airbyte_secret"] = True
        for value in node.values():
            _mark_secrets(value)
    elif isinstance(node, list):
        for value in node:
            _mark_secrets(value)


def airbyte_streams(tap: TapIndigoAnalytics) -> list[JSON]:
    """The tap's streams as AirbyteStream objects."""
    streams = []
    for stream in tap.streams.values():
        key = [[name] for name in stream.primary_keys or ()]
        entry: JSON = {
            "name": stream.name,
            "json_schema": {**copy.deepcopy(stream.schema), "$schema": DRAFT_07},
            "supported_sync_modes": [FULL_REFRESH, INCREMENTAL],
            "source_defined_cursor": True,
            "default_cursor_field": [stream.replication_key],
            "source_defined_primary_key": key,
            "is_resumable": True,
        }
        streams.append(entry)
    return streams


def discover(config: Mapping[str, t.Any]) -> JSON:
    """The CATALOG message (the streams do not depend on the account; the config is checked)."""
    return {"type": "CATALOG", "catalog": {"streams": airbyte_streams(build_tap(config))}}


# --- check --------------------------------------------------------------------------------


def check(config: Mapping[str, t.Any]) -> JSON:
    """CONNECTION_STATUS: one real request per workspace, today's row of ``CHECK_STREAM``.

    The request goes through the stream's own machinery (auth, budget, retries,
    error mapping), so a failure reads exactly as it would in a sync.
    """
    try:
        settings = build_tap(config).settings
        today = utc_today().isoformat()
        probe = build_tap(
            {
                **config,
                "start_date": today,
                "end_date": today,
                "max_tries": min(settings.max_tries, CHECK_MAX_TRIES),
            }
        )
        stream = probe.streams[CHECK_STREAM]
        for partition in stream.partitions or []:
            for _ in stream.get_records(partition):
                pass
    except Exception as exc:  # every failure is a FAILED status
        logging.getLogger(__name__).debug("check failed", exc_info=True)
        return _status("FAILED", error_message(exc))
    return _status("SUCCEEDED", None)


def _status(status: str, message: str | None) -> JSON:
    body: JSON = {"status": status}
    if message:
        body["message"] = message
    return {"type": "CONNECTION_STATUS", "connectionStatus": body}


# --- read ---------------------------------------------------------------------------------


class ConfiguredStream(t.NamedTuple):
    """What the ConfiguredAirbyteCatalog asks of one stream."""

    name: str
    sync_mode: str
    fields: frozenset[str] | None  # None: every field


def parse_configured_catalog(document: t.Any, known: Iterable[str]) -> list[ConfiguredStream]:
    """The configured streams; unknown streams and sync modes are config errors."""
    if not isinstance(document, dict) or not isinstance(document.get("streams"), list):
        raise InputError("--catalog must be a ConfiguredAirbyteCatalog: {'streams': [...]}")
    known = set(known)
    result: list[ConfiguredStream] = []
    for entry in document["streams"]:
        stream = entry.get("stream") if isinstance(entry, dict) else None
        if not isinstance(stream, dict) or not isinstance(stream.get("name"), str):
            raise InputError("--catalog: every entry needs stream.name")
        name: str = stream["name"]
        if name not in known:
            raise InputError(
                f"--catalog: this source has no stream {name!r} "
                f"(streams: {', '.join(sorted(known))})"
            )
        mode = entry.get("sync_mode", FULL_REFRESH)
        if mode not in (FULL_REFRESH, INCREMENTAL):
            raise InputError(f"--catalog: stream {name!r} has unknown sync_mode {mode!r}")
        properties = (stream.get("json_schema") or {}).get("properties")
        fields = frozenset(properties) if isinstance(properties, dict) else None
        result.append(ConfiguredStream(name, mode, fields))
    return result


def singer_catalog(discovered: Catalog, configured: Sequence[ConfiguredStream]) -> Catalog:
    """The tap's catalog with exactly the configured streams (and fields) selected."""
    catalog = Catalog.from_dict(discovered.to_dict())
    wanted = {c.name: c for c in configured}
    for entry in catalog.streams:
        choice = wanted.get(entry.tap_stream_id)
        entry.metadata.root.selected = choice is not None
        if choice is None or choice.fields is None:
            continue
        for name in entry.schema.properties or {}:
            # Key and cursor fields are "automatic" and stay selected regardless.
            entry.metadata[("properties", name)].selected = name in choice.fields
    return catalog


def singer_state(document: t.Any, incremental: Iterable[str]) -> JSON:
    """Airbyte state (an array of state messages) as Singer state, for incremental streams only.

    Accepts the array of AirbyteStateMessage the platform passes (STREAM, or
    GLOBAL / LEGACY for robustness), whole STATE AirbyteMessages, and ``{}`` or
    ``[]`` for no state.
    """
    keep = set(incremental)
    bookmarks: JSON = {}
    if document in ({}, [], None):
        return {"bookmarks": bookmarks}
    if not isinstance(document, list):
        raise InputError("--state must be a JSON array of Airbyte state messages")
    for item in document:
        message = (
            item.get("state") if isinstance(item, dict) and item.get("type") == "STATE" else item
        )
        if not isinstance(message, dict):
            raise InputError("--state: every entry must be an Airbyte state message object")
        kind = message.get("type", "LEGACY")
        if kind == "STREAM":
            entries = [message.get("stream")]
        elif kind == "GLOBAL":
            entries = (message.get("global") or {}).get("stream_states") or []
        elif kind == "LEGACY":
            data = message.get("data") or {}
            entries = [
                {"stream_descriptor": {"name": k}, "stream_state": v}
                for k, v in (data.get("bookmarks") or {}).items()
            ]
        else:
            raise InputError(f"--state: unknown state type {kind!r}")
        for entry in entries:
            if not isinstance(entry, dict):
                raise InputError("--state: a stream state must be an object")
            name = (entry.get("stream_descriptor") or {}).get("name")
            stream_state = entry.get("stream_state")
            if not isinstance(name, str):
                raise InputError("--state: a stream state lacks stream_descriptor.name")
            if name in keep and isinstance(stream_state, dict) and stream_state:
                bookmarks[name] = stream_state
    return {"bookmarks": bookmarks}


class ReadTranslator:
    """Singer messages from the running tap, out as Airbyte messages.

    RECORD -> RECORD. SCHEMA marks a stream's start (TRACE STREAM_STATUS). A
    Singer STATE carries every stream's bookmarks; each selected stream whose
    bookmarks changed goes out as its own STREAM state. A finished stream
    always ends with its state when it sent records since its last one, as
    destinations commit records only at a state message.
    """

    def __init__(self, output: Output, selected: Iterable[str], incoming: JSON) -> None:
        self._output = output
        self._selected = set(selected)
        self._bookmarks: JSON = copy.deepcopy(incoming.get("bookmarks", {}))
        self._sent: JSON = copy.deepcopy(self._bookmarks)
        self._since_state: dict[str, int] = {}
        self._running: set[str] = set()
        self.current: str | None = None

    def __call__(self, message: Message) -> None:
        """Translate one Singer message."""
        if isinstance(message, RecordMessage):
            self._record(message)
        elif isinstance(message, SchemaMessage):
            self._start(message.stream)
        elif isinstance(message, StateMessage):
            self._state(message.value)
        # ACTIVATE_VERSION and BATCH have no Airbyte counterpart; the tap sends neither.

    def _start(self, stream: str) -> None:
        if stream == self.current:
            return
        self.finish()
        self.current = stream
        self._output.stream_status(stream, "STARTED")

    def _record(self, message: RecordMessage) -> None:
        stream = message.stream
        if stream not in self._running:
            self._running.add(stream)
            self._output.stream_status(stream, "RUNNING")
        extracted = message.time_extracted or dt.datetime.now(dt.timezone.utc)
        self._output.write(
            {
                "type": "RECORD",
                "record": {
                    "stream": stream,
                    "data": message.record,
                    "emitted_at": int(extracted.timestamp() * 1000),
                },
            }
        )
        self._since_state[stream] = self._since_state.get(stream, 0) + 1

    def _state(self, value: Mapping[str, t.Any]) -> None:
        for stream, stream_state in (value.get("bookmarks") or {}).items():
            if stream not in self._selected:
                continue
            self._bookmarks[stream] = copy.deepcopy(stream_state)
            if self._sent.get(stream) != stream_state:
                self._emit_state(stream)

    def _emit_state(self, stream: str) -> None:
        stream_state = self._bookmarks.get(stream, {})
        self._output.write(
            {
                "type": "STATE",
                "state": {
                    "type": "STREAM",
                    "stream": {
                        "stream_descriptor": {"name": stream},
                        "stream_state": stream_state,
                    },
                    "sourceStats": {"recordCount": float(self._since_state.pop(stream, 0))},
                },
            }
        )
        self._sent[stream] = copy.deepcopy(stream_state)

    def finish(self) -> None:
        """The current stream ended well: its last state if needed, then COMPLETE."""
        stream, self.current = self.current, None
        if stream is None:
            return
        if self._since_state.get(stream) or stream not in self._sent:
            self._emit_state(stream)
        self._output.stream_status(stream, "COMPLETE")

    def fail(self) -> None:
        """The current stream stopped on an error: INCOMPLETE."""
        stream, self.current = self.current, None
        if stream is not None:
            self._output.stream_status(stream, "INCOMPLETE")


def read(
    output: Output,
    config: Mapping[str, t.Any],
    configured_catalog: t.Any,
    state: t.Any,
) -> int:
    """Sync the configured streams; 0 on success, 1 after a TRACE ERROR."""
    translator: ReadTranslator | None = None
    try:
        discovered = build_tap(config)
        configured = parse_configured_catalog(configured_catalog, discovered.streams)
        incremental = [c.name for c in configured if c.sync_mode == INCREMENTAL]
        incoming = singer_state(state, incremental)
        translator = ReadTranslator(output, [c.name for c in configured], incoming)
        tap = build_tap(
            config,
            writer=CallbackWriter(translator),
            catalog=singer_catalog(discovered.catalog, configured),
            state=incoming,
        )
        tap.sync_all()
        translator.finish()
    except Exception as exc:  # every failure becomes one TRACE ERROR
        stream = translator.current if translator else None
        if translator:
            translator.fail()
        output.error(exc, failure_type=failure_type(exc), stream=stream)
        return 1
    return 0


# --- command line -------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="source-indigo-analytics",
        description="Indigo.ai analytics as an Airbyte source (same streams as the Singer tap).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("spec", "check", "discover", "read"):
        command = commands.add_parser(name)
        command.add_argument("--debug", action="store_true", help="DEBUG logs")
        if name != "spec":
            command.add_argument("--config", required=True, help="config JSON file")
        if name == "read":
            command.add_argument("--catalog", required=True, help="ConfiguredAirbyteCatalog")
            command.add_argument("--state", help="JSON array of Airbyte state messages")
    return parser


def _load(path: str, what: str) -> t.Any:
    try:
        with open(path, encoding="utf-8") as file:
            return json.load(file)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the {what} file {path!r}: {exc}") from None


def _setup_logging(output: Output, *, debug: bool) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(LogHandler(output))
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    # urllib3's DEBUG lines are noise here (and never needed to diagnose the API).
    logging.getLogger("urllib3").setLevel(logging.INFO)
    logging.captureWarnings(True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one Airbyte command; the exit code is 0 unless a TRACE ERROR was written."""
    args = _parser().parse_args(argv)
    # Protocol messages go to the real stdout; anything a library prints goes to stderr.
    output = Output(sys.stdout)
    sys.stdout = sys.stderr
    _setup_logging(output, debug=args.debug)
    if args.command == "spec":
        output.write(spec())
        return 0
    try:
        config = _load(args.config, "config")
        if not isinstance(config, dict):
            raise InputError(f"the config file {args.config!r} must hold a JSON object")
        output.hide(config)
        if args.command == "check":
            output.write(check(config))
            return 0
        if args.command == "discover":
            output.write(discover(config))
            return 0
        catalog = _load(args.catalog, "catalog")
        state = _load(args.state, "state") if args.state else None
    except Exception as exc:  # unreadable input or invalid config
        if args.command == "check":
            output.write(_status("FAILED", error_message(exc)))
            return 0
        output.error(exc, failure_type=failure_type(exc))
        return 1
    return read(output, config, catalog, state)


if __name__ == "__main__":
    sys.exit(main())
