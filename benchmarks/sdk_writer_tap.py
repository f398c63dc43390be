"""The tap with the SDK's default JSON message writer, for the throughput benchmark only.

The tap itself writes with ``singer_sdk.contrib.msgspec`` (faster, see RESULTS.md);
``python -m benchmarks.sdk_writer_tap`` is the same tap with the SDK's stock writer,
so the benchmark can show what that choice buys.
"""

from __future__ import annotations

from singer_sdk.io_base import SingerWriter

from tap_indigo_analytics.tap import TapIndigoAnalytics


class SdkWriterTapIndigoAnalytics(TapIndigoAnalytics):
    """``TapIndigoAnalytics`` writing its messages with the SDK's default writer."""

    message_writer_class = SingerWriter


if __name__ == "__main__":
    SdkWriterTapIndigoAnalytics.cli()
