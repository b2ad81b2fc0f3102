"""Errors every layer may raise: a mistake in the user's input is printed as one line, exit status 2."""

from __future__ import annotations

import sys


class UserError(ValueError):
    """A mistake in the command's input (a path, a flag, a file's content), named in the message."""


def print_error(command: str, err: BaseException, status: int = 2) -> int:
    """Print ``yololab COMMAND: error: MESSAGE`` to stderr and return the exit status."""
    message = err.args[0] if isinstance(err, KeyError) and err.args else err
    print(f"yololab {command}: error: {message}", file=sys.stderr)
    return status
