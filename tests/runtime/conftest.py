"""Fixtures of the runtime tests."""

from .helpers import served

__all__ = ["served"]
