"""The Airbyte face of the tap: ``spec``, ``check``, ``discover`` and ``read``.

Nothing here fetches data: each command builds the Singer tap in-process and
translates between the two protocols. One module per concern:

- ``cli``: the command line (``main``), input files, logging as Airbyte LOG messages;
- ``spec``: the setup form (SPEC), the config it sends, the catalog's streams;
- ``check``: CONNECTION_STATUS and CATALOG;
- ``read``: the configured catalog, Singer messages out as Airbyte ones;
- ``state``: every accepted Airbyte state form, in as Singer state;
- ``output``: one JSON line per message, tokens blanked out, the wording of failures;
- ``signals``: SIGTERM and SIGINT at any moment;
- ``inprocess``: the Singer tap built in this process.

Usage (the ``source-indigo-analytics`` console script)::

    source-indigo-analytics spec
    source-indigo-analytics check --config config.json
    source-indigo-analytics discover --config config.json
    source-indigo-analytics read --config config.json --catalog catalog.json [--state state.json]
"""

from __future__ import annotations

from tap_indigo_analytics.airbyte.cli import main
from tap_indigo_analytics.airbyte.spec import spec, to_tap_config
from tap_indigo_analytics.airbyte.state import singer_state
from tap_indigo_analytics.inputs import InputError

__all__ = ["InputError", "main", "singer_state", "spec", "to_tap_config"]
