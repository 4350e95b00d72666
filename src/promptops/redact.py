"""Keeping secrets out of everything promptops stores or prints.

Three kinds of secret are known here:

* credentials in URLs: ``http://user:pass@host`` and key-like query parameters
  (``?api_key=...``, ``?token=...``, ``?sig=...``);
* the values of credential environment variables: any variable whose name looks like one
  (``*_API_KEY``, ``*_KEY``, ``*_TOKEN``, ``*SECRET*``, ``*PASSWORD*``, ``AWS_*``, ...);
* values registered at run time with :func:`register_secret` (e.g. the password of an
  ``--api-base`` URL), and token shapes (``sk-...``, ``Bearer ...``).

:func:`redact_text` removes all three from a string, :func:`redact_obj` from every string in a
JSON-like value, :func:`strip_url` the first kind from a URL. Run records, run.json,
summary.json, error messages and runtime log records pass through here before they are
written or shown.
"""

from __future__ import annotations

import os
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "[redacted]"

# Names of environment variables whose values are credentials.
_CRED_ENV = re.compile(
    r"(?i)(API_?KEY|_KEY$|^KEY$|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|_PAT$|^AWS_|AUTH)"
)
# Query parameters that carry credentials.
_KEY_PARAM = re.compile(
    r"(?i)^(.*key.*|.*token.*|.*secret.*|.*passw.*|sig|signature|auth|authorization|code|"
    r"credential.*|x-amz-.*)$"
)
_PATTERNS = [
    (re.compile(r"\b(?:sk|pk|rk)-[A-Za-z0-9_\-]{8,}"), REDACTED),
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._\-~+/=]{8,}"), r"\1" + REDACTED),
    (re.compile(r"(?i)(basic\s+)[A-Za-z0-9+/=]{8,}"), r"\1" + REDACTED),
    (
        re.compile(r"(?i)(api[_-]?key['\"]?\s*[:=]\s*['\"]?)[A-Za-z0-9._\-]{6,}"),
        r"\1" + REDACTED,
    ),
]
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s'\"<>()\[\]{}]+")
_MIN_SECRET = 6  # shorter values would redact ordinary words

_registered: set[str] = set()


def is_credential_env(name: str) -> bool:
    """Whether an environment variable's name says it holds a credential."""
    return bool(_CRED_ENV.search(name))


def register_secret(value: str | None) -> None:
    """Redact ``value`` from everything from now on (in this process)."""
    if value and len(value) >= _MIN_SECRET:
        _registered.add(value)


def _secrets() -> list[str]:
    found = set(_registered)
    for name, value in os.environ.items():
        if value and len(value.strip()) >= _MIN_SECRET and is_credential_env(name):
            found.add(value.strip())
    return sorted(found, key=len, reverse=True)  # longest first: a key containing another


def strip_url(url: str) -> str:
    """``url`` without userinfo and with the values of key-like query parameters redacted."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url, urls=False)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, colon, password = userinfo.partition(":")
        register_secret(password if colon else user)  # a bare userinfo is a token
        netloc = hostport
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(_KEY_PARAM.match(k) for k, _ in pairs):
            for k, v in pairs:
                if _KEY_PARAM.match(k):
                    register_secret(v)
            query = urlencode(
                [(k, REDACTED if _KEY_PARAM.match(k) else v) for k, v in pairs], safe="[]"
            )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_text(text: str, *, urls: bool = True, secrets: list[str] | None = None) -> str:
    """``text`` without credentials in URLs, credential env values or token shapes."""
    if not text:
        return text
    if urls and "://" in text:
        text = _URL.sub(lambda m: strip_url(m.group(0)), text)
    for value in _secrets() if secrets is None else secrets:
        if value in text:
            text = text.replace(value, REDACTED)
    for pat, repl in _PATTERNS:
        text = pat.sub(repl, text)
    return text


def redact_obj(value: Any) -> Any:
    """A copy of a JSON-like value with :func:`redact_text` applied to every string in it
    (keys included)."""
    return _redact_obj(value, _secrets())


def _redact_obj(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        return redact_text(value, secrets=secrets)
    if isinstance(value, dict):
        return {
            (redact_text(k, secrets=secrets) if isinstance(k, str) else k): _redact_obj(v, secrets)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redact_obj(v, secrets) for v in value]
    return value
