"""The tap: settings, discovery, one rate budget per token, readable failures."""

from __future__ import annotations

import logging
import sys
import typing as t
from functools import cached_property

from singer_sdk import Tap
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.io_base import GenericSingerWriter

from tap_indigo_analytics.client import IndigoStream, utc_today
from tap_indigo_analytics.errors import IndigoError
from tap_indigo_analytics.ratelimit import RequestBudget
from tap_indigo_analytics.settings import CONFIG_SCHEMA, Settings, SettingsError, Workspace
from tap_indigo_analytics.streams import STREAM_TYPES

if t.TYPE_CHECKING:
    from tap_indigo_analytics.auth import PATAuth


class TapIndigoAnalytics(Tap):
    """Singer tap for Indigo.ai daily Workspace analytics."""

    name = "tap-indigo-analytics"
    config_jsonschema = CONFIG_SCHEMA
    # Markedly more records/s than the SDK's default writer (benchmarks/RESULTS.md).
    message_writer_class: type[GenericSingerWriter[t.Any, t.Any]] = MsgSpecWriter

    @cached_property
    def settings(self) -> Settings:
        """The config, checked and typed (see settings.py)."""
        return Settings.parse(self.config, today=utc_today())

    def discover_streams(self) -> list[IndigoStream]:
        """The six daily streams; the catalog does not depend on the account."""
        return [stream_type(self) for stream_type in STREAM_TYPES]

    def budget_for(self, workspace: Workspace) -> RequestBudget:
        """The request budget of the workspace's token, shared by all its streams."""
        budgets = self._budgets
        if workspace.auth not in budgets:
            budgets[workspace.auth] = RequestBudget(
                self.settings.requests_per_minute,
                window_seconds=self.settings.rate_limit_window_seconds,
            )
        return budgets[workspace.auth]

    @cached_property
    def _budgets(self) -> dict[PATAuth, RequestBudget]:
        return {}

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
