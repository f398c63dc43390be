"""The one redaction of personal access tokens, for every message built from outside text.

A server may echo the ``Authorization`` header back (in an error body, a proxy page, an
exception's text), and a config error may quote a value. Every message the tap, the
Airbyte face or the contract check builds from such text goes through :func:`redact`,
which blanks out every token configured in this process, in any form a user or a
server writes it: bare, ``pat-…`` or ``Bearer pat-…``.

Tokens are registered when their :class:`~tap_indigo_analytics.auth.PATAuth` is built,
so nothing can quote a configured token before it is known here.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable

#: What a token is replaced with.
MASK = "***"
#: Shorter values are not registered: blanking every "ab" would garble messages and a
#: token that short protects nothing anyway.
MIN_SECRET_LENGTH = 4

_lock = threading.Lock()
_cores: set[str] = set()
_pattern: re.Pattern[str] | None = None


def core_of(token: str) -> str:
    """The token without ``Bearer`` and ``pat-``: the part every written form shares."""
    value = token.strip()
    if value[:7].lower() == "bearer ":
        value = value[7:].strip()
    return value.removeprefix("pat-")


def register(*tokens: str | None) -> None:
    """Remember tokens (any form) so that :func:`redact` blanks them out from now on."""
    global _pattern
    added = {core_of(token) for token in tokens if isinstance(token, str)}
    added = {core for core in added if len(core) >= MIN_SECRET_LENGTH}
    with _lock:
        if not added <= _cores:
            _cores.update(added)
            _pattern = None  # compiled again on the next redact(), not once per token


def redact(text: object) -> str:
    """``str(text)`` with every registered token replaced by ``***``."""
    message = str(text)
    return _compiled().sub(MASK, message) if _cores else message


def _compiled() -> re.Pattern[str]:
    global _pattern
    with _lock:
        if _pattern is None:
            # Longest first, so a token that contains another is blanked whole; the
            # prefixes go with it: "Bearer pat-x" becomes one mask, not "Bearer pat-***".
            cores = "|".join(re.escape(c) for c in sorted(_cores, key=len, reverse=True))
            _pattern = re.compile(rf"(?:[Bb]earer\s+)?(?:pat-)?(?:{cores})")
        return _pattern


def redact_values(text: str, values: Iterable[object]) -> str:
    """``text`` without any string found in ``values`` (nested lists and dicts too).

    For messages that may quote a raw config value before it was checked (a token of the
    wrong type, a malformed ``workspaces`` entry): those were never registered.
    """
    for value in sorted(_strings(values), key=len, reverse=True):
        if len(value) >= MIN_SECRET_LENGTH:
            text = text.replace(value, MASK)
    return redact(text)


def _strings(value: object) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield str(value)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            yield from _strings(item)
