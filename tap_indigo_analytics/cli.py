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
import types
import typing as t
import warnings
from collections.abc import Iterator

import click
from singer_sdk.contrib.msgspec import MsgSpecWriter, serialize_jsonl
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.singerlib import SingerMessageType, StateMessage

from tap_indigo_analytics.errors import IndigoError
from tap_indigo_analytics.redact import redact
from tap_indigo_analytics.settings import SettingsError

if t.TYPE_CHECKING:
    from singer_sdk.singerlib import Message

#: A Logger, or the LoggerAdapter newer SDKs hand out.
Log = logging.Logger | logging.LoggerAdapter[logging.Logger]

#: The one line for a target that stopped reading our output.
TARGET_STOPPED = "the target stopped reading (broken pipe); the run did not finish"


class TargetStoppedError(BaseException):
    """stdout is a broken pipe: the target exited or closed its input.

    A ``BaseException`` on purpose, like ``KeyboardInterrupt``: no ``except Exception``
    on the way (the SDK's stream loop logs and re-raises those) may turn it into
    another message.
    """


class StdoutWriter(MsgSpecWriter):
    """The SDK's fast msgspec lines, RECORDs held until the next other message; a broken
    pipe becomes :class:`TargetStoppedError`.

    RECORDs are held rather than written one by one: with worker threads running, every
    write the main thread makes is a hand-over of the interpreter lock, about 1.5 ms each
    at 64 workers (measured; a third of a daily run at one record per workspace). The
    lines wait here in order (stdout may be unbuffered, e.g. under PYTHONUNBUFFERED), so a
    STATE goes out with every record before it; a full buffer or the exit writes them too.

    The broken pipe is raised once: later writes (a final STATE while the run unwinds)
    are dropped, as nothing can reach a closed pipe and the failure is on its way.
    """

    #: Write out before the buffer grows past this, STATE or not.
    MAX_PENDING = 256 * 1024
    _target_stopped = False

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._pending = bytearray()

    def serialize_message(self, message: Message) -> bytearray:
        """One line of JSON; a STATE without the SDK's ``to_dict``, which deep-copies the
        whole state through ``dataclasses.asdict`` (3.6 s of a 1,800-request daily run of
        300 workspaces, profiled: more than the HTTP of that run)."""
        if isinstance(message, StateMessage):
            return serialize_jsonl({"type": message.type, "value": message.value})
        return super().serialize_message(message)

    def write_message(self, message: Message) -> None:
        """Queue one Singer message; write everything out unless it is a RECORD.

        Only RECORDs are many; a SCHEMA, STATE or ACTIVATE_VERSION goes out at once,
        with every line before it (``--test=schema`` prints SCHEMAs and no STATE).
        """
        if self._target_stopped:
            return
        self._pending += self.format_message(message)
        if message.type != SingerMessageType.RECORD or len(self._pending) > self.MAX_PENDING:
            self.flush()

    def flush(self) -> None:
        """Write out every queued line."""
        if not self._pending or self._target_stopped:
            return
        out = sys.stdout.buffer
        try:
            # A signal handler may run between any two of these lines and write the
            # final STATE itself. Cleared only after the write, so the worst case is
            # lines written twice (targets upsert), never a STATE ahead of its records.
            out.write(self._pending)
            self._pending.clear()
            out.flush()
        except BrokenPipeError:
            self._target_stopped = True
            self._pending.clear()
            raise TargetStoppedError from None

    def flush_quietly(self) -> None:
        """Write out what is left as the command ends, whatever the target has become.

        A sync always ends on a STATE, so this only writes what a failed run left; a
        target gone by then was told about already, or the run failed anyway.
        """
        with contextlib.suppress(TargetStoppedError, OSError, ValueError):
            self.flush()


class IndigoCommand(click.Command):
    """The SDK's Singer command (its options and callback), with one-line failures for
    option parsing and the run.

    A plain ``click.Command`` rather than a subclass of the SDK's: it only borrows the
    SDK command's parameters, so the SDK can change how its own command runs.
    """

    def __init__(self, *args: t.Any, logger: logging.Logger, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self.logger = logger

    def excepthook(
        self,
        exc_type: type[BaseException],
        exc_value: BaseException,
        exc_traceback: types.TracebackType | None,
    ) -> None:
        """An unexpected failure: one ERROR line with its traceback (never a token)."""
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc_value, exc_traceback)
            return
        message = exc_value.args[0] if exc_value.args else exc_type.__name__
        self.logger.error("%s", redact(str(message)), exc_info=(exc_type, exc_value, exc_traceback))

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Parse the options; their callbacks read ``--config`` and may run ``--test``."""
        with one_line_errors(ctx, self.logger):
            return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> t.Any:
        """Run the tap: warnings logged once, failures as one line (config errors too)."""
        logging.captureWarnings(capture=True)
        warnings.filterwarnings("once", category=DeprecationWarning)
        sys.excepthook = self.excepthook
        with one_line_errors(ctx, self.logger):
            return super().invoke(ctx)


@contextlib.contextmanager
def one_line_errors(ctx: click.Context, logger: Log) -> Iterator[None]:
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


def with_file_options(command: click.Command, logger: logging.Logger) -> IndigoCommand:
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
    return IndigoCommand(
        name=command.name,
        callback=command.callback,
        params=params,
        help=command.help,
        context_settings=command.context_settings,
        logger=logger,
    )
