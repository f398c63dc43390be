"""The Singer SDK's standard tap tests, run against the local emulator."""

from __future__ import annotations

import atexit
import datetime as dt

from singer_sdk.testing import get_tap_test_class

from tap_indigo_analytics.tap import TapIndigoAnalytics
from tests.conftest import WORKSPACES, today, workspace_config
from tests.emulator import Emulator

# The SDK builds its test class at import time from a fixed config, so this module
# owns one emulator for its whole run.
_EMULATOR = Emulator(WORKSPACES).start()
atexit.register(_EMULATOR.stop)

SAMPLE_CONFIG = workspace_config(
    _EMULATOR, start_date=(today() - dt.timedelta(days=40)).isoformat()
)

TestTapIndigoAnalytics = get_tap_test_class(
    tap_class=TapIndigoAnalytics,
    config=SAMPLE_CONFIG,
)
