"""``read``: the configured streams synced by the Singer tap, out as Airbyte messages.

The ConfiguredAirbyteCatalog becomes the tap's Singer catalog (stream and field
selection), the Airbyte state the Singer state (``state``), and the tap's Singer
messages - caught at its message writer - become RECORD, STATE and
stream-status TRACE messages. Every configured stream ends with a terminal
status: COMPLETE, or INCOMPLETE when the read fails or is stopped. A workspace
or (stream, workspace) pair that failed while the rest synced (failures.py)
leaves its streams INCOMPLETE, after their state, and one TRACE ERROR each.
"""

from __future__ import annotations

import copy
import datetime as dt
import threading
import typing as t
from collections.abc import Callable, Iterable, Mapping, Sequence

from singer_sdk.singerlib import Catalog, RecordMessage, SchemaMessage, StateMessage

from tap_indigo_analytics.airbyte import signals
from tap_indigo_analytics.airbyte.inprocess import CallbackWriter, build_tap
from tap_indigo_analytics.airbyte.output import (
    CONFIG_ERROR,
    JSON,
    SYSTEM_ERROR,
    TRANSIENT_ERROR,
    Output,
    failure_type,
)
from tap_indigo_analytics.airbyte.spec import FULL_REFRESH, INCREMENTAL
from tap_indigo_analytics.airbyte.state import singer_state
from tap_indigo_analytics.failures import Failures, RunIncompleteError
from tap_indigo_analytics.inputs import InputError

if t.TYPE_CHECKING:
    from singer_sdk.singerlib.messages import Message

COMPLETE = "COMPLETE"
INCOMPLETE = "INCOMPLETE"
#: How long the watchdog's last words may wait for the output (it kills right after).
_LAST_WORDS_TIMEOUT_S = 0.3


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


def configured_names(document: t.Any) -> list[str]:
    """The stream names of a catalog that may not parse, to close them after a failure."""
    entries = document.get("streams") if isinstance(document, dict) else None
    names = [
        entry["stream"].get("name")
        for entry in entries or []
        if isinstance(entry, dict) and isinstance(entry.get("stream"), dict)
    ]
    return [name for name in names if isinstance(name, str)]


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


class ReadTranslator:
    """Singer messages from the running tap, out as Airbyte messages.

    RECORD -> RECORD. SCHEMA marks a stream's start (TRACE STREAM_STATUS). A
    Singer STATE carries every stream's bookmarks; each selected stream whose
    bookmarks changed goes out as its own STREAM state. A finished stream
    always ends with its state when it sent records since its last one, as
    destinations commit records only at a state message.
    """

    def __init__(self, output: Output, configured: Iterable[str], incoming: JSON) -> None:
        self._output = output
        self._configured: list[str] = []
        self._bookmarks: JSON = {}
        self._sent: JSON = {}
        self.expect(configured, incoming)
        self._since_state: dict[str, int] = {}
        self._started: set[str] = set()
        self._running: set[str] = set()
        self._ended: set[str] = set()
        #: Held while closing streams, so the watchdog and the main thread never both do.
        self._closing = threading.Lock()
        self.current: str | None = None
        #: Streams with a partition that failed while the rest synced (the tap's run).
        self.failed: Callable[[], frozenset[str]] = frozenset

    def expect(self, configured: Iterable[str], incoming: JSON) -> None:
        """The streams to sync (in catalog order) and the Singer state they start from."""
        self._configured = list(dict.fromkeys(configured))
        self._bookmarks = copy.deepcopy(incoming.get("bookmarks", {}))
        self._sent = copy.deepcopy(self._bookmarks)

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
        if stream not in self._started:
            self._started.add(stream)
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
            if stream not in self._configured:
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
        if stream is None or stream in self._ended:
            return
        if self._since_state.get(stream) or stream not in self._sent:
            self._emit_state(stream)
        self._ended.add(stream)
        self._output.stream_status(stream, INCOMPLETE if stream in self.failed() else COMPLETE)

    def finish_all(self) -> None:
        """The read ended well: every configured stream COMPLETE (once started)."""
        self.finish()
        for stream in self._configured:
            if stream not in self._ended:
                self._start(stream)
                self.finish()

    def close_all(self, *, timeout: float = -1) -> None:
        """The read failed or was stopped: every stream not yet ended INCOMPLETE.

        The watchdog calls this with a ``timeout`` while the main thread may be stuck;
        then it gives up rather than wait (the process is killed right after).
        """
        if not self._closing.acquire(timeout=timeout):
            return
        try:
            self.current = None
            for stream in self._configured:
                if stream in self._ended:
                    continue
                if not self._output.stream_status(stream, INCOMPLETE, timeout=timeout):
                    return
                self._ended.add(stream)
        finally:
            self._closing.release()


def read(
    output: Output,
    config: Mapping[str, t.Any],
    configured_catalog: t.Any,
    state: t.Any,
) -> int:
    """Sync the configured streams; 0 on success, 1 after a TRACE ERROR.

    A signal (``signals.Terminated``) closes the streams and is raised again.
    """
    translator = ReadTranslator(output, configured_names(configured_catalog), {})
    signals.on_force(lambda: translator.close_all(timeout=_LAST_WORDS_TIMEOUT_S))
    try:
        discovered = build_tap(config)
        configured = parse_configured_catalog(configured_catalog, discovered.streams)
        incremental = [c.name for c in configured if c.sync_mode == INCREMENTAL]
        project_ids = [w.project_id for w in discovered.settings.workspaces]
        incoming = singer_state(state, incremental, discovered.streams, project_ids=project_ids)
        translator.expect([c.name for c in configured], incoming)
        tap = build_tap(
            config,
            writer=CallbackWriter(translator),
            catalog=singer_catalog(discovered.catalog, configured),
            state=incoming,
        )
        translator.failed = lambda: tap.run.failures.streams
        # Each stream's state goes out at its end, from the last STATE the tap wrote.
        tap.run.state_at_every_stream_end = True
        try:
            tap.sync_all()
        finally:
            tap.run.close()
        translator.finish_all()
        if tap.run.failures:
            _report(output, tap.run.failures)
            return 1
    except signals.Terminated as stop:
        stream = translator.current
        translator.close_all()
        output.error(
            stop,
            failure_type=TRANSIENT_ERROR,
            stream=stream,
            message=f"The sync was {stop} before it finished; the next one resumes "
            "from the last state.",
        )
        raise
    except Exception as exc:  # every failure becomes one TRACE ERROR
        stream = translator.current
        try:
            translator.close_all()
            output.error(exc, failure_type=failure_type(exc), stream=stream)
        except signals.Terminated:  # stopped while closing: still close every stream
            translator.close_all()
            raise
        return 1
    return 0


def _report(output: Output, failures: Failures) -> None:
    """One TRACE ERROR per workspace or pair that did not sync, naming it."""
    for failure in failures:
        output.error(
            RunIncompleteError(failure.line()),
            failure_type=SYSTEM_ERROR if failure.stream else CONFIG_ERROR,
            stream=failure.stream,
            message=failure.line(),
        )
