"""Semantic versions for prompt files, with the short forms people type (``2.0`` is ``2.0.0``)."""

from __future__ import annotations

import re

import semver

_SHORT = re.compile(r"^(0|[1-9]\d*)(\.(0|[1-9]\d*))?(\.(0|[1-9]\d*))?([-+].*)?$")


def parse_version(text: str) -> semver.Version:
    """Parse a version, completing ``2`` and ``2.0`` to ``2.0.0``. Raises ValueError."""
    text = text.strip()
    if text.startswith("v"):
        text = text[1:]
    if not _SHORT.match(text):
        raise ValueError(f"{text!r} is not a semantic version such as 1.2.0")
    return semver.Version.parse(text, optional_minor_and_patch=True)


def normalize(text: str) -> str:
    """The canonical spelling of a version: ``2.0`` -> ``2.0.0``."""
    return str(parse_version(text))


def is_version(text: str) -> bool:
    """True when ``text`` parses as a (possibly short) version; env names must not."""
    try:
        parse_version(text)
    except ValueError:
        return False
    return True


def is_major_only(text: str) -> bool:
    """``2`` (not ``2.0``): a ref that means the highest 2.x.y."""
    return re.fullmatch(r"v?(0|[1-9]\d*)", text.strip()) is not None
