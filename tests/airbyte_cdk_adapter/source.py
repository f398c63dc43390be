"""A CDK ``Source`` that is our executable: each command runs it and passes its lines on.

The CDK's standard tests call a source class in-process (through ``AirbyteEntrypoint``);
``source-indigo-analytics`` is a program, as the platform runs it. So each call here
starts the program with the files the test wrote (config, catalog, state: the very
paths, never re-encoded) and turns every stdout line into an ``AirbyteMessage``, which
fails on any line that is not one. The catalog and state are not parsed here: a bad
catalog must reach the program, which has to refuse it itself.

Messages that come before the command's answer (LOG, TRACE) go through the message
repository, which the entrypoint empties ahead of the CONNECTION_STATUS, CATALOG or
SPEC it builds from the answer. A non-zero exit raises, as a failed container would.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, MutableMapping
from pathlib import Path
from typing import Any

from airbyte_cdk.models import (  # type: ignore[import-not-found]
    AirbyteCatalog,
    AirbyteConnectionStatus,
    AirbyteMessage,
    AirbyteMessageSerializer,
    ConnectorSpecification,
    Type,
)
from airbyte_cdk.sources import Source  # type: ignore[import-not-found]
from airbyte_cdk.sources.message import (  # type: ignore[import-not-found]
    InMemoryMessageRepository,
)

#: The command line of the program under test, a JSON array (tests/test_airbyte_cdk.py sets it).
COMMAND_VARIABLE = "INDIGO_CDK_SOURCE_COMMAND"
#: The repository's own install, when the variable is not set.
DEFAULT_COMMAND = [str(Path(__file__).resolve().parents[2] / ".venv/bin/source-indigo-analytics")]


class SourceFailedError(Exception):
    """The program exited non-zero; ``str`` names the command, the code and stderr's tail."""


class ExecutableSource(Source):  # type: ignore[misc]
    """``source-indigo-analytics`` as a CDK source, one process per command."""

    def __init__(self) -> None:
        raw = os.environ.get(COMMAND_VARIABLE)
        self.command: list[str] = json.loads(raw) if raw else DEFAULT_COMMAND
        self._config_path: str | None = None
        self._repository = InMemoryMessageRepository()

    @property
    def message_repository(self) -> InMemoryMessageRepository:
        return self._repository

    # --- inputs: keep the paths the test wrote, for the program ----------------------

    def read_config(self, config_path: str) -> MutableMapping[str, Any]:
        self._config_path = config_path
        return super().read_config(config_path)  # type: ignore[no-any-return]

    def read_catalog(self, catalog_path: str) -> str:
        return catalog_path

    def read_state(self, state_path: str | None) -> str | None:
        return state_path

    # --- commands ----------------------------------------------------------------------

    def spec(self, logger: logging.Logger) -> ConnectorSpecification:
        return self._answer("spec", Type.SPEC, []).spec

    def check(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
        return self._answer("check", Type.CONNECTION_STATUS, self._config()).connectionStatus

    def discover(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteCatalog:
        return self._answer("discover", Type.CATALOG, self._config()).catalog

    def read(
        self,
        logger: logging.Logger,
        config: Mapping[str, Any],
        catalog: str,
        state: str | None = None,
    ) -> Iterator[AirbyteMessage]:
        args = [*self._config(), "--catalog", catalog]
        if state:
            args += ["--state", state]
        yield from self._run("read", args)

    # --- the process -------------------------------------------------------------------

    def _config(self) -> list[str]:
        return ["--config", self._config_path] if self._config_path else []

    def _answer(self, command: str, kind: Type, args: list[str]) -> AirbyteMessage:
        """The one message of type ``kind`` of ``command``; the others go to the repository."""
        answers = []
        for message in self._run(command, args):
            if message.type == kind:
                answers.append(message)
            else:
                self._repository.emit_message(message)
        if len(answers) != 1:
            raise SourceFailedError(f"{command} printed {len(answers)} {kind.value} messages")
        return answers[0]

    def _run(self, command: str, args: list[str]) -> Iterator[AirbyteMessage]:
        """Each stdout line of ``COMMAND command args`` as a message, while it runs."""
        # stderr to a file: a pipe nobody reads while stdout is read would fill and block.
        with (
            tempfile.TemporaryFile("w+") as stderr,
            subprocess.Popen(
                [*self.command, command, *args], stdout=subprocess.PIPE, stderr=stderr, text=True
            ) as proc,
        ):
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.strip():
                    yield AirbyteMessageSerializer.load(json.loads(line))
            proc.wait()
            stderr.seek(0)
            tail = " | ".join(stderr.read().strip().splitlines()[-3:])
        if proc.returncode != 0:
            raise SourceFailedError(f"{command} exited {proc.returncode}: {tail}")
