"""The CDK's standard source tests, on ``source-indigo-analytics`` through :mod:`.source`.

Run in the CDK's virtualenv by tests/test_airbyte_cdk.py (not named ``test_*``, so the
tap's own pytest never collects it). The scenarios come from the
``acceptance-test-config.yml`` of the connector root that test writes, named by
``INDIGO_CDK_CONNECTOR_ROOT``.
"""

from __future__ import annotations

import os
from pathlib import Path

from airbyte_cdk.test.standard_tests import (  # type: ignore[import-not-found]
    SourceTestSuiteBase,
)

from tests.airbyte_cdk_adapter.source import ExecutableSource

#: The connector root (``acceptance-test-config.yml`` and the configs it names).
ROOT_VARIABLE = "INDIGO_CDK_CONNECTOR_ROOT"


class TestSourceIndigoAnalytics(SourceTestSuiteBase):  # type: ignore[misc]
    """Every standard source test the CDK has, with our executable as the connector."""

    connector = ExecutableSource

    @classmethod
    def get_connector_root_dir(cls) -> Path:
        return Path(os.environ[ROOT_VARIABLE])
