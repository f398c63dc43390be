"""The tap with the SDK's msgspec message writer, for the throughput benchmark only.

``python -m benchmarks.msgspec_tap`` behaves exactly like ``tap-indigo-analytics``
except that Singer messages are serialized by ``singer_sdk.contrib.msgspec``
(needs ``singer-sdk[msgspec]``). The writer is looked up at run time so the
tap and this package type-check without msgspec installed.
"""

from __future__ import annotations

import importlib

from tap_indigo_analytics.tap import TapIndigoAnalytics


class MsgspecTapIndigoAnalytics(TapIndigoAnalytics):
    """``TapIndigoAnalytics`` writing its messages with msgspec."""

    message_writer_class = importlib.import_module("singer_sdk.contrib.msgspec").MsgSpecWriter


if __name__ == "__main__":
    MsgspecTapIndigoAnalytics.cli()
