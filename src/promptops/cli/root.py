"""The root ``promptops`` typer app and its one error boundary; the command modules register on it."""

from __future__ import annotations

import os
from typing import Any

import typer
from typer.core import TyperGroup

from ..errors import PromptOpsError, Terminated

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
# pydantic scans every installed distribution for plugins on first use (~30 ms); we use none.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")


class _Boundary(TyperGroup):
    """The one error boundary: a PromptOpsError becomes red lines on stderr and an exit code."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except PromptOpsError as e:
            from ..redact import redact_text
            from ..report.console import error_lines

            error_lines([redact_text(line) for line in e.lines()])
            raise typer.Exit(e.exit_code) from None
        except Terminated as e:
            from ..report.console import error_lines

            error_lines([e.message])
            raise typer.Exit(e.exit_code) from None
        except KeyboardInterrupt:
            from ..report.console import error_lines

            error_lines(["interrupted"])
            raise typer.Exit(130) from None
        except OSError as e:  # a read-only or full disk where the library expected none
            from ..errors import display_path
            from ..redact import redact_text
            from ..report.console import error_lines

            where = f"{display_path(e.filename)}: " if e.filename else ""
            error_lines([redact_text(f"{where}{e.strerror or e}")])
            raise typer.Exit(1) from None

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)  # keep declaration order in --help


app = typer.Typer(
    cls=_Boundary,
    name="promptops",
    help="Prompts as code: versioned prompt files, gated evals, a Git-native registry.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=True,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"promptops {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version."
    ),
) -> None:
    """Prompts as code: versioned prompt files, gated evals, a Git-native registry."""
