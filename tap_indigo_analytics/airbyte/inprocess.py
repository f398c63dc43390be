"""The Singer tap, built in this process with its messages caught instead of printed."""

from __future__ import annotations

import typing as t
from collections.abc import Callable, Mapping

from singer_sdk.io_base import GenericSingerWriter
from singer_sdk.singerlib.json import serialize_json

from tap_indigo_analytics.airbyte import signals
from tap_indigo_analytics.tap import TapIndigoAnalytics

if t.TYPE_CHECKING:
    from singer_sdk.singerlib import Catalog
    from singer_sdk.singerlib.messages import Message


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
    state: dict[str, t.Any] | None = None,
) -> TapIndigoAnalytics:
    """The Singer tap, config validated (raises ``ConfigValidationError``), output to ``writer``."""
    # The tap installs no signal handler (the SDK's logs, and so wrote through the face's
    # output lock from inside a handler: a deadlock whenever the main thread held it).
    tap = TapIndigoAnalytics(
        config=dict(config),
        catalog=catalog,
        state=state,
        message_writer=writer or CallbackWriter(),
        validate_config=True,
    )
    # The face's own again, now that the tap exists (a newer SDK may install handlers by
    # another hook than the one the tap overrides); only under its command line.
    signals.reinstall()
    return tap
