"""The ``followir`` command: a thin layer of subcommands over the library API.

Exit codes: 0 success; 1 unexpected failure; 2 bad input (unknown name, malformed file, missing extra).
Each module registers its subcommands on the shared ``app``.
"""

from __future__ import annotations

import sys

import typer

from followir.cli import analyses as _analyses  # noqa: F401  (each import registers its commands)
from followir.cli import construction as _construction  # noqa: F401
from followir.cli import evaluate as _evaluate  # noqa: F401
from followir.cli import report as _report  # noqa: F401
from followir.cli import retrieval as _retrieval  # noqa: F401
from followir.cli import train_lora as _train_lora  # noqa: F401
from followir.cli import training as _training  # noqa: F401
from followir.cli.common import app, fail
from followir.errors import FollowIRError

__all__ = ["app", "main"]


def main() -> None:
    try:
        app()
    except FollowIRError as e:  # a library error that a command did not turn into its own message
        try:
            fail(e)
        except typer.Exit as done:
            sys.exit(done.exit_code)
