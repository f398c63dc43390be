"""The tap: settings, discovery, one rate budget per token, readable failures."""

from __future__ import annotations

import logging
import signal
import sys
import typing as t
from functools import cached_property

import click
from singer_sdk import Tap
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.singerlib import Catalog, StateMessage
from singer_sdk.singerlib.catalog import REPLICATION_FULL_TABLE
from singer_sdk.typing import DEFAULT_JSONSCHEMA_VALIDATOR, extend_validator_with_defaults

from tap_indigo_analytics.cli import (
    StdoutWriter,
    TargetStoppedError,
    with_file_options,
)
from tap_indigo_analytics.client import IndigoStream
from tap_indigo_analytics.days import utc_today
from tap_indigo_analytics.inputs import (
    ENV,
    InputError,
    environment_config,
    load_config,
    load_json_object,
)
from tap_indigo_analytics.redact import redact_values
from tap_indigo_analytics.run import Lane, Run
from tap_indigo_analytics.sdk_private import ConfigInput
from tap_indigo_analytics.settings import (
    CONFIG_SCHEMA,
    SETTING_NAMES,
    Settings,
    SettingsError,
    unknown_key_warnings,
)
from tap_indigo_analytics.state import StateOut, normalize_state
from tap_indigo_analytics.streams import STREAM_TYPES

if t.TYPE_CHECKING:
    from types import FrameType

    from singer_sdk.helpers._state import StateWriter
    from singer_sdk.io_base import GenericSingerWriter


class TapIndigoAnalytics(Tap):
    """Singer tap for Indigo.ai daily Workspace analytics."""

    name = "tap-indigo-analytics"
    config_jsonschema = CONFIG_SCHEMA
    # Markedly more records/s than the SDK's default writer (benchmarks/RESULTS.md);
    # StdoutWriter is the SDK's msgspec writer, flushed per STATE, that reports a broken
    # pipe (cli.py).
    message_writer_class: type[GenericSingerWriter[t.Any, t.Any]] = StdoutWriter

    @cached_property
    def settings(self) -> Settings:
        """The config, checked and typed (see settings.py)."""
        settings = Settings.parse(self.config, today=utc_today())
        if settings.shard is not None and not settings.workspaces:
            k, n = settings.shard
            self.logger.warning("shard %d/%d holds none of the configured workspaces", k, n)
        return settings

    @cached_property
    def run(self) -> Run:
        """This tap's sync: the services every stream shares (run.py)."""
        return Run(
            lambda: self.settings,
            lanes=self._lanes,
            write_state=lambda: self._state_out.write_state(self.state, due=True),
            current_state=lambda: self.state,
        )

    @cached_property
    def _state_out(self) -> StateOut:
        return StateOut(
            self.write_message,
            unwritten=lambda: self.run.unwritten,
            written=self.run.state_written,
            may_wait=self.run.state_may_wait,
        )

    @property
    def state_writer(self) -> StateWriter:
        """Where the SDK's streams write STATE: :class:`~state.StateOut`, no deep copies."""
        return t.cast("StateWriter", self._state_out)

    def discover_streams(self) -> list[IndigoStream]:
        """The six daily streams; the catalog does not depend on the account."""
        return [stream_type(self, self.run) for stream_type in STREAM_TYPES]

    def _lanes(self) -> list[Lane]:
        """The streams the SDK will sync, in its order, with their replication mode."""
        return [
            Lane(stream.name, stream.replication_method == REPLICATION_FULL_TABLE)
            for stream in self.streams.values()
            if stream.selected and not stream.parent_stream_type
        ]

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """One line per problem, naming the key the user gave and never a token.

        Our own settings are judged by ``Settings.parse`` (its messages say what is wrong
        in words); the schema covers the SDK's built-in ones (stream maps, flattening…).
        Unknown keys get a warning, with the closest setting when there is one.
        """
        schema = self.config_jsonschema
        self.append_builtin_config(schema)
        errors: list[str] = []
        # The SDK's validator, which also fills in the schema's defaults.
        validator = extend_validator_with_defaults(DEFAULT_JSONSCHEMA_VALIDATOR)(schema)
        for error in validator.iter_errors(self._config):
            key = ".".join(str(part) for part in error.path) or "(top level)"
            if str(next(iter(error.path), "")) not in SETTING_NAMES:
                errors.append(f"config `{key}`: {self._redact(error.message)}")
        try:
            self.settings  # noqa: B018 - parsing is the check
        except SettingsError as exc:
            errors += str(exc).splitlines()
        for warning in unknown_key_warnings(self.config, schema["properties"]):
            self.logger.warning("%s", self._redact(warning))
        if errors and raise_errors:
            raise ConfigValidationError("Config validation failed", errors=errors, schema=schema)
        return errors

    def _redact(self, message: str) -> str:
        """``message`` without any raw token value (``pat``, anything in ``workspaces``).

        jsonschema quotes the offending value, and a malformed ``workspaces`` entry (say
        a list instead of an object) was never registered as a token.
        """
        return redact_values(message, [self.config.get("pat"), self.config.get("workspaces")])

    # --- state ------------------------------------------------------------------------

    def load_state(self, state: dict[str, t.Any]) -> None:
        """Check the incoming state and adopt classic bookmarks (state.py), then load it.

        The SDK calls this from the constructor for the CLI's ``--state`` and for a state
        dict given in-process (the Airbyte face), so both get the same checks.
        """
        if state:
            project_ids = [w.project_id for w in self.settings.workspaces]
            streams = [s.name for s in STREAM_TYPES]  # type: ignore[misc]
            state = normalize_state(state, project_ids, streams)
        super().load_state(state)
        self.run.load_state(state)

    # --- command line -----------------------------------------------------------------

    def _setup_signal_handlers(self) -> None:
        """None from the constructor: signals belong to the command line (``invoke``
        installs :meth:`on_signal`) or to the program that embeds the tap."""

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        """SIGTERM/SIGINT: write the last STATE, say so in one line, exit 128 + signal.

        The SDK's default exits 0, which schedulers record as a finished run. ``state``
        only ever covers records already written, so resuming from it loses no day.
        """
        if self._interrupted:
            raise SystemExit(128 + signum)  # a second signal while unwinding: just go
        self._interrupted = True
        name = signal.Signals(signum).name
        try:
            # Always written (the SDK's state writer skips an unchanged state), so the
            # last line out is this STATE, after every record still queued (cli.py).
            self.write_message(StateMessage(value=self.state))
            resume = "the last STATE written covers every record sent; run again to resume"
        except (Exception, TargetStoppedError):
            # Say, never crash, in a signal handler (e.g. the target is gone as well).
            resume = "the final STATE could not be written; the previous one stands"
        self.logger.error("interrupted by %s before the sync finished: %s", name, resume)
        raise SystemExit(128 + signum)

    _interrupted = False

    @classmethod
    def cb_config(
        cls, ctx: click.Context, param: click.Option, value: tuple[str, ...]
    ) -> ConfigInput:
        """``--config`` files, read with errors that name the file; ``ENV`` as in the SDK."""
        files = [source for source in value if source != ENV]
        return ConfigInput(load_config(files, cls.config_jsonschema), parse_env=ENV in value)

    @property
    def _env_var_config(self) -> dict[str, t.Any]:
        """``TAP_INDIGO_ANALYTICS_*`` variables; a bad one is one line naming it (inputs.py)."""
        schema = self.config_jsonschema
        self.append_builtin_config(schema)
        return environment_config(schema, self._env_var_prefix)

    @classmethod
    def get_singer_command(cls) -> click.Command:
        """The SDK's command, failing in one line (cli.py)."""
        return with_file_options(super().get_singer_command(), logging.getLogger(cls.name))

    @classmethod
    def invoke(  # type: ignore[override]
        cls,
        *,
        about: bool = False,
        about_format: str | None = None,
        config: ConfigInput | None = None,
        state: str | None = None,
        catalog: str | None = None,
    ) -> None:
        """The SDK's ``Tap.invoke``, reading ``--state`` and ``--catalog`` with inputs.py."""
        if about:
            cls.print_about(about_format)
            sys.exit(0)
        cls.print_version(print_fn=cls.logger.info)
        config = config or ConfigInput()
        tap = cls(
            config=config.config,
            state=load_json_object(state, "state") if state else None,
            catalog=_catalog(catalog) if catalog else None,
            parse_env_config=config.parse_env,
            validate_config=True,
        )
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, tap.on_signal)
        try:
            tap.sync_all()
            tap.run.raise_failures()  # workspaces/pairs that failed while the rest synced
        finally:
            tap.run.close()
            # What a failed run left queued goes out before its error is told.
            if isinstance(tap.message_writer, StdoutWriter):
                tap.message_writer.flush_quietly()


def _catalog(path: str) -> Catalog:
    """The Singer catalog in ``path``; a wrong shape is one line naming the file."""
    document = load_json_object(path, "catalog")
    streams = document.get("streams")
    if not isinstance(streams, list) or not all(isinstance(s, dict) for s in streams):
        raise InputError(f'catalog file {path!r} must hold {{"streams": [...]}}, a Singer catalog')
    try:
        return Catalog.from_dict(document)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InputError(
            f"catalog file {path!r} is not a Singer catalog ({type(exc).__name__}: {exc})"
        ) from None


if __name__ == "__main__":
    TapIndigoAnalytics.cli()
