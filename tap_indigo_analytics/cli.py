"""The Singer command line around the tap: inputs read once, failures told in one line.

The SDK's click command prints tracebacks for unreadable files, bad environment values
and a downstream target that went away, and (for errors raised while click parses the
options, such as a bad ``--config`` file) does not catch them at all. Everything here
turns those into one ERROR line naming the thing at fault, and a non-zero exit.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import typing as t
import warnings
from collections.abc import Iterator

import click
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.plugin_base import SingerCommand

from tap_indigo_analytics.errors import IndigoError
from tap_indigo_analytics.redact import redact
from tap_indigo_analytics.settings import SettingsError

if t.TYPE_CHECKING:
    from singer_sdk.singerlib import Message

#: The one line for a target that stopped reading our output.
TARGET_STOPPED = "the target stopped reading (broken pipe); the run did not finish"


class TargetStoppedError(BaseException):
    """stdout is a broken pipe: the target exited or closed its input.

    A ``BaseException`` on purpose, like ``KeyboardInterrupt``: no ``except Exception``
    on the way (the SDK's stream loop logs and re-raises those) may turn it into
    another message.
    """


class StdoutWriter(MsgSpecWriter):
    """The SDK's fast msgspec writer; a broken pipe becomes :class:`TargetStoppedError`.

    Raised once: later writes (a final STATE while the run unwinds) are dropped, as
    nothing can reach a closed pipe and the failure is already on its way to the CLI.
    """

    _target_stopped = False

    def write_message(self, message: Message) -> None:
        """Write one Singer message to stdout."""
        if self._target_stopped:
            return
        try:
            super().write_message(message)
        except BrokenPipeError:
            self._target_stopped = True
            raise TargetStoppedError from None


class IndigoCommand(SingerCommand):
    """The SDK's Singer command, with one-line failures for option parsing and the run."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Parse the options; their callbacks read ``--config`` and may run ``--test``."""
        with one_line_errors(ctx, self.logger):
            return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> t.Any:
        """Run the tap (the SDK's setup, without its multi-line config error report)."""
        logging.captureWarnings(capture=True)
        warnings.filterwarnings("once", category=DeprecationWarning)
        sys.excepthook = self.excepthook
        with one_line_errors(ctx, self.logger):
            return click.Command.invoke(self, ctx)


@contextlib.contextmanager
def one_line_errors(ctx: click.Context, logger: logging.Logger) -> Iterator[None]:
    """Turn the failures a user can act on into ERROR lines and exit status 1."""
    try:
        yield
    except ConfigValidationError as exc:
        for error in exc.errors or [str(exc)]:
            logger.error("%s", redact(error))
        ctx.exit(1)
    except (IndigoError, SettingsError) as exc:
        for line in str(exc).splitlines():
            logger.error("%s", redact(line))
        ctx.exit(1)
    except (TargetStoppedError, BrokenPipeError):
        logger.error("%s", TARGET_STOPPED)
        _silence_stdout()
        ctx.exit(1)


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so flushing it at exit does not fail again.

    What the Python docs advise for SIGPIPE/EPIPE (library/signal, "Note on SIGPIPE").
    """
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def with_file_options(command: click.Command) -> IndigoCommand:
    """The SDK's tap command as an :class:`IndigoCommand`, ``--state``/``--catalog`` as paths.

    The SDK opens those files with ``click.File``, which reports a missing file as a usage
    error (exit 2) and leaves a malformed one to a traceback; the tap reads them itself.
    """
    params: list[click.Parameter] = []
    for param in command.params:
        if param.name in {"state", "catalog"} and isinstance(param, click.Option):
            param = click.Option(
                param.opts, help=param.help, type=click.STRING, metavar="FILE", default=None
            )
        params.append(param)
    assert isinstance(command, SingerCommand)
    return IndigoCommand(
        name=command.name,
        callback=command.callback,
        params=params,
        help=command.help,
        context_settings=command.context_settings,
        logger=command.logger,
    )
