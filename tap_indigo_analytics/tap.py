"""The tap: settings, discovery, one rate budget per token, readable failures."""

from __future__ import annotations

import atexit
import logging
import sys
import time
import typing as t
from functools import cached_property

from singer_sdk import Tap
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.io_base import GenericSingerWriter
from singer_sdk.singerlib import Message, SingerMessageType

from tap_indigo_analytics.client import IndigoStream, utc_today
from tap_indigo_analytics.errors import IndigoError
from tap_indigo_analytics.plan import Plan
from tap_indigo_analytics.prefetch import Prefetcher
from tap_indigo_analytics.ratelimit import RequestBudgets
from tap_indigo_analytics.settings import CONFIG_SCHEMA, Settings, SettingsError
from tap_indigo_analytics.streams import STREAM_TYPES
from tap_indigo_analytics.transport import Transport


class _StateFlushedWriter(MsgSpecWriter):
    """msgspec lines on stdout, written out at each STATE rather than after every message.

    With worker threads running, every write the main thread makes is a hand-over of the
    interpreter lock: about 1.5 ms each at 64 workers, measured, which at one record per
    workspace was a third of a daily run. The lines wait here in order (stdout may be
    unbuffered, e.g. under PYTHONUNBUFFERED), so a STATE goes out together with every
    record before it; a full buffer or the process's exit writes them out too.
    """

    #: Write out before the buffer grows past this, STATE or not.
    MAX_BUFFER = 256 * 1024

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._pending = bytearray()
        atexit.register(self.flush)

    def write_message(self, message: Message) -> None:
        """Queue one message; write everything out when it is a STATE."""
        self._pending += self.format_message(message)
        if message.type == SingerMessageType.STATE or len(self._pending) > self.MAX_BUFFER:
            self.flush()

    def flush(self) -> None:
        """Write out every queued line."""
        if self._pending:
            out = sys.stdout.buffer
            out.write(self._pending)
            out.flush()
            self._pending.clear()


class TapIndigoAnalytics(Tap):
    """Singer tap for Indigo.ai daily Workspace analytics."""

    name = "tap-indigo-analytics"
    config_jsonschema = CONFIG_SCHEMA
    # Markedly more records/s than the SDK's default writer (benchmarks/RESULTS.md).
    message_writer_class: type[GenericSingerWriter[t.Any, t.Any]] = _StateFlushedWriter
    _prefetcher: Prefetcher | None = None
    _last_state_at = 0.0

    @cached_property
    def settings(self) -> Settings:
        """The config, checked and typed (see settings.py)."""
        return Settings.parse(self.config, today=utc_today())

    def discover_streams(self) -> list[IndigoStream]:
        """The six daily streams; the catalog does not depend on the account."""
        return [stream_type(self) for stream_type in STREAM_TYPES]

    @cached_property
    def budgets(self) -> RequestBudgets:
        """The request budget of every token, shared by all streams and workers."""
        return RequestBudgets(
            self.settings.requests_per_minute,
            window_seconds=self.settings.rate_limit_window_seconds,
        )

    @cached_property
    def transport(self) -> Transport:
        """One HTTP session for the run, a pooled connection per worker."""
        settings = self.settings
        return Transport(pool_size=settings.max_concurrency, deadline_s=settings.request_timeout)

    @cached_property
    def plan(self) -> Plan:
        """What each partition reads, from the input state (plan.py)."""
        return Plan(self)

    def prefetcher(self) -> Prefetcher:
        """The run's prefetcher, laid out at the first partition the SDK syncs."""
        if self._prefetcher is None:
            concurrency = self.settings.max_concurrency
            self._prefetcher = Prefetcher(
                self.plan.tasks(),
                lambda window, on_answer: self._indigo_streams[window.stream].read_window(
                    window, on_answer
                ),
                workers=concurrency,
                # Two windows per worker: one in flight, one ready for the writer.
                lookahead=2 * concurrency,
            )
            self._last_state_at = time.monotonic()
        return self._prefetcher

    def state_due(self, stream: IndigoStream) -> None:
        """Write a STATE if ``state_interval_seconds`` passed since the last one."""
        now = time.monotonic()
        if now - self._last_state_at >= self.settings.state_interval_seconds:
            stream.write_state_message()
            self._last_state_at = now

    @cached_property
    def _indigo_streams(self) -> dict[str, IndigoStream]:
        return {name: t.cast("IndigoStream", s) for name, s in self.streams.items()}

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """Schema checks (SDK), then ours; messages name the key and never a token."""
        try:
            errors = super()._validate_config(raise_errors=raise_errors)
        except ConfigValidationError as exc:
            raise ConfigValidationError(
                "Config validation failed",
                errors=[self._redact(e) for e in exc.errors],
                schema=exc.schema,
            ) from None
        if not errors:
            try:
                self.settings  # noqa: B018 - parsing is the check
            except SettingsError as exc:
                errors = str(exc).splitlines()
                if raise_errors:
                    raise ConfigValidationError("Config validation failed", errors=errors) from None
        return errors

    def _redact(self, message: str) -> str:
        """Blank out every string a token could hide in (``pat``, anything in ``workspaces``).

        jsonschema quotes the offending value, and a malformed ``workspaces`` entry
        (say a list instead of an object) would otherwise print its token.
        """
        for value in _strings((self.config.get("pat"), self.config.get("workspaces"))):
            if len(value) >= 4:
                message = message.replace(value, "***")
        return message

    @classmethod
    def invoke(cls, *args: t.Any, **kwargs: t.Any) -> None:
        """Run the CLI; an ``IndigoError`` ends it with its one-line message, no traceback."""
        try:
            super().invoke(*args, **kwargs)
        except IndigoError as exc:
            cls.logger.error("%s", exc)
            logging.shutdown()
            sys.exit(1)


def _strings(value: object) -> t.Iterator[str]:
    """Every string nested in lists and dicts."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


if __name__ == "__main__":
    TapIndigoAnalytics.cli()
