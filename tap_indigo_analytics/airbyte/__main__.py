"""``python -m tap_indigo_analytics.airbyte``: the same as ``source-indigo-analytics``."""

import sys

from tap_indigo_analytics.airbyte.cli import main

sys.exit(main())
