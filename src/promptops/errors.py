"""Errors a user can act on.

Library code raises these; the CLI's single error boundary prints the message in red and
exits with ``exit_code``. Messages name the file, line and field whenever there is one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    """One problem found in a user's file, printed as ``file:line: field: message``."""

    path: str
    line: int | None
    field: str | None
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        field = f" {self.field}:" if self.field else ""
        return f"{where}:{field} {self.message}"


def display_path(path: str | Path) -> str:
    """A path relative to the working directory when it lies under it, for short messages."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(p)


class PromptOpsError(Exception):
    """Base class: a problem the user can fix. Never shown with a traceback."""

    exit_code = 1

    def __init__(self, message: str, problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.problems = problems or []

    def lines(self) -> list[str]:
        """The lines to show the user: one per problem, or the message."""
        return [str(p) for p in self.problems] if self.problems else [self.message]


class UsageError(PromptOpsError):
    """The command line itself is wrong."""

    exit_code = 2


class SpecError(PromptOpsError):
    """A prompt, dataset, registry or config file is invalid."""

    @classmethod
    def of(cls, path: str | Path, line: int | None, field: str | None, message: str) -> SpecError:
        problem = Problem(display_path(path), line, field, message)
        return cls(str(problem), [problem])


class RefError(PromptOpsError):
    """A prompt reference does not resolve."""


class RenderError(PromptOpsError):
    """A template could not be rendered with the given variables."""


class ProviderError(PromptOpsError):
    """A model provider failed or is not installed."""


class RegistryError(PromptOpsError):
    """registry.yaml is invalid or a change to it is refused."""


class EvidenceError(RegistryError):
    """A promotion lacks the eval evidence it needs."""


class CalibrationError(PromptOpsError):
    """A verdict would rest on a judge that is not calibrated against human labels."""


class GitError(PromptOpsError):
    """A git operation failed or the directory is not a repository."""


class RunError(PromptOpsError):
    """A run record is missing or unreadable."""


class CacheError(PromptOpsError):
    """The response cache cannot be read or written (corrupted file, disk full)."""


class Terminated(KeyboardInterrupt):
    """The process was asked to stop (SIGTERM, as a CI cancel sends); the run's summary is
    written first. Like Ctrl-C it is not a PromptOpsError, so nothing on the way (``check``
    going on to the next prompt) takes it for a failed step; the CLI exits 143 = 128 + SIGTERM,
    as a shell reports it."""

    exit_code = 143

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
