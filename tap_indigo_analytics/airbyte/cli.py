"""The ``source-indigo-analytics`` command line: one Airbyte command per run."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from tap_indigo_analytics.airbyte import signals
from tap_indigo_analytics.airbyte.check import check, connection_status, discover
from tap_indigo_analytics.airbyte.output import (
    LogHandler,
    Output,
    error_message,
    failure_type,
)
from tap_indigo_analytics.airbyte.read import read
from tap_indigo_analytics.airbyte.spec import spec, to_tap_config
from tap_indigo_analytics.inputs import InputError, load_json_file


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="source-indigo-analytics",
        description="Indigo.ai analytics as an Airbyte source (same streams as the Singer tap).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("spec", "check", "discover", "read"):
        command = commands.add_parser(name)
        command.add_argument("--debug", action="store_true", help="DEBUG logs")
        if name != "spec":
            command.add_argument("--config", required=True, help="config JSON file")
        if name == "read":
            command.add_argument("--catalog", required=True, help="ConfiguredAirbyteCatalog")
            command.add_argument("--state", help="JSON array of Airbyte state messages")
    return parser


def _setup_logging(output: Output, *, debug: bool) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(LogHandler(output))
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    # urllib3's DEBUG lines are noise here (and never needed to diagnose the API).
    logging.getLogger("urllib3").setLevel(logging.INFO)
    logging.captureWarnings(True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one Airbyte command; the exit code is 0 unless a TRACE ERROR was written.

    Stopped by SIGTERM or SIGINT, the process ends by that signal (see ``signals``).
    """
    try:
        signals.install()
        code = _run(argv)
        # Everything is written: a signal from now on (as PyAirbyte sends once it has its
        # answer, maybe while this interpreter shuts down) simply ends the process.
        signals.uninstall()
    except signals.Terminated as stop:
        signals.die(stop.signum)
    return code


def _run(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    # Protocol messages go to the real stdout; anything a library prints goes to stderr.
    output = Output(sys.stdout)
    sys.stdout = sys.stderr
    _setup_logging(output, debug=args.debug)
    if args.command == "spec":
        output.write(spec())
        return 0
    try:
        raw = load_json_file(args.config, "config")
        if not isinstance(raw, dict):
            raise InputError(f"the config file {args.config!r} must hold a JSON object")
        output.hide(raw)
        config = to_tap_config(raw)
        if args.command == "check":
            output.write(check(config))
            return 0
        if args.command == "discover":
            output.write(discover(config))
            return 0
        catalog = load_json_file(args.catalog, "catalog")
        state = load_json_file(args.state, "state") if args.state else None
    except Exception as exc:  # unreadable input or invalid config
        if args.command == "check":
            output.write(connection_status("FAILED", error_message(exc)))
            return 0
        output.error(exc, failure_type=failure_type(exc))
        return 1
    return read(output, config, catalog, state)
