"""The ``promptops`` command: thin typer commands over the library, one error boundary
(:mod:`promptops.cli.root`); each command module registers its commands on the root app."""

from __future__ import annotations

import sys

from .root import app

__all__ = ["app", "main"]

# importing a command module registers its commands, in this order in --help
from . import prompts as prompts  # noqa: I001
from . import eval_cmd as eval_cmd
from . import runs_cmd as runs_cmd
from . import diff_cmd as diff_cmd
from . import registry_cmd as registry_cmd
from . import canary_cmd as canary_cmd
from . import report_cmd as report_cmd
from . import import_cmd as import_cmd
from . import quality_cmd as quality_cmd


def main() -> None:
    """Console-script entry point."""
    from ..process import own

    own()  # a short-lived process of our own (see promptops.process)
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover - raised outside a command
        sys.exit(130)
