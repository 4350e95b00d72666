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
    r"(?i)(API_?KEY|_KEY$|^KEY$|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|_PAT$|^AWS_|"
    r"(?:^|_)AUTH(?:_|$))"
)
# Query parameters that carry credentials.
_KEY_PARAM = re.compile(
    r"(?i)^(.*key.*|.*token.*|.*secret.*|.*passw.*|sig|signature|auth|authorization|code|"
    r"credential.*|x-amz-.*)$"
)
_PATTERNS = [
    (re.compile(r"\b(?:sk|pk|rk)-[A-Za-z0-9_\-]{8,}"), REDACTED),
    # case-sensitive: "the bearer instrument" in an output is prose, not a header
    (re.compile(r"(\bBearer\s+)[A-Za-z0-9._\-~+/=]{8,}"), r"\1" + REDACTED),
    (
        re.compile(r"(?i)(api[_-]?key['\"]?\s*[:=]\s*['\"]?)[A-Za-z0-9._\-]{6,}"),
        r"\1" + REDACTED,
    ),
]
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s'\"<>()\[\]{}]+")
# Cheap pre-check (substring tests; a case-insensitive regex alternation is ~50x slower): a
# string holding none of these needs none of the patterns above.
_TRIGGERS = ("sk-", "pk-", "rk-", "bearer", "api", "://")


def _triggered(text: str) -> bool:
    low = text.lower()
    return any(t in low for t in _TRIGGERS)


_MIN_SECRET = 6  # shorter values would redact ordinary words

_registered: set[str] = set()
_is_cred: dict[str, bool] = {}
_compiled: dict[tuple[str, ...], re.Pattern[str] | None] = {}


def is_credential_env(name: str) -> bool:
    """Whether an environment variable's name says it holds a credential."""
    known = _is_cred.get(name)
    if known is None:
        known = _is_cred[name] = bool(_CRED_ENV.search(name))
    return known


def register_secret(value: str | None) -> None:
    """Redact ``value`` from everything from now on (in this process)."""
    if value and len(value) >= _MIN_SECRET:
        _registered.add(value)


_env_seen: list[Any] = [None, frozenset()]  # [a copy of the environment, its secret values]


def _env_secrets() -> frozenset[str]:
    """Values of credential environment variables, recomputed only when the environment
    changed (os.environ decodes every value on access: too slow to scan per record)."""
    data = getattr(os.environ, "_data", None)  # CPython's raw mapping; compared, never changed
    if data is not None and _env_seen[0] == data:
        cached: frozenset[str] = _env_seen[1]
        return cached
    found = frozenset(
        value.strip()
        for name, value in os.environ.items()
        if value and is_credential_env(name) and len(value.strip()) >= _MIN_SECRET
    )
    _env_seen[:] = [dict(data) if data is not None else None, found]
    return found


def _secrets() -> re.Pattern[str] | None:
    """One pattern matching every known secret value (None: there are none)."""
    found = _registered | _env_secrets()
    key = tuple(sorted(found, key=lambda s: (-len(s), s)))  # longest first
    if key not in _compiled:
        if len(_compiled) > 64:
            _compiled.clear()
        _compiled[key] = re.compile("|".join(map(re.escape, key))) if key else None
    return _compiled[key]


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


_NO_SECRETS = re.compile(r"(?!)")


def redact_text(text: str, *, urls: bool = True, secrets: re.Pattern[str] | None = None) -> str:
    """``text`` without credentials in URLs, credential env values or token shapes."""
    if not text:
        return text
    if _triggered(text):
        if urls and "://" in text:
            text = _URL.sub(lambda m: strip_url(m.group(0)), text)
        for pat, repl in _PATTERNS:
            text = pat.sub(repl, text)
    pattern = (_secrets() or _NO_SECRETS) if secrets is None else secrets
    return pattern.sub(REDACTED, text)


def redact_json(text: str) -> str:
    """:func:`redact_text` over serialized JSON: one pass over the whole document (what the
    run files and the cache store). The replacements add no quote or backslash, so the JSON
    stays valid."""
    return redact_text(text)


def redact_obj(value: Any) -> Any:
    """A copy of a JSON-like value with :func:`redact_text` applied to every string in it
    (keys included)."""
    return _redact_obj(value, _secrets() or _NO_SECRETS)


def _redact_obj(value: Any, secrets: re.Pattern[str]) -> Any:
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
