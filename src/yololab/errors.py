"""Errors every layer may raise: a mistake in the user's input is printed as one line, exit status 2.

One base, :class:`UserError`, and four kinds under it; every yololab exception that a user can cause
is a subclass of one kind, and ``yololab.cli.run_command`` is the one place that turns them into
``yololab COMMAND: error: MESSAGE`` on stderr and the exit status (2 unless the class says otherwise).
"""

from __future__ import annotations

import sys


class UserError(ValueError):
    """A mistake in the command's input (a path, a flag, a file's content), named in the message."""

    #: the kind, for the documentation and tests: config, data, checkpoint or environment
    category = "input"
    #: the exit status of ``yololab`` when this error ends a command
    exit_status = 2


class ConfigError(UserError):
    """A configuration value, key, flag or YAML file that is not valid (named in the message)."""

    category = "config"


class DataError(UserError):
    """A data set, annotation, image or results file that cannot be used (named in the message)."""

    category = "data"


class CheckpointError(UserError):
    """A checkpoint that cannot be read or is refused; the message names the file and the reason."""

    category = "checkpoint"


class EnvError(UserError):
    """The machine refuses: an output that cannot be written (read-only, full, a file for a folder),
    a missing optional package, an unavailable device or port."""

    category = "environment"


def error_message(err: BaseException) -> str:
    """The one sentence of ``err``: a KeyError's own text, an OSError with its file."""
    if isinstance(err, KeyError) and err.args:
        return str(err.args[0])
    if isinstance(err, OSError) and err.filename is not None and err.strerror:
        target = f" -> {err.filename2}" if err.filename2 is not None else ""
        return f"{err.filename}{target}: {err.strerror}"
    return str(err) or type(err).__name__


def print_error(command: str, err: BaseException, status: int = 2) -> int:
    """Print ``yololab COMMAND: error: MESSAGE`` (on one line) to stderr and return the exit status."""
    print(f"yololab {command}: error: {' '.join(error_message(err).split())}", file=sys.stderr)
    return status
