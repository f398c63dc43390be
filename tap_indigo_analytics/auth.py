"""Personal access token (PAT) authentication for the Indigo REST API."""

from __future__ import annotations

import requests

from tap_indigo_analytics import redact

_PREFIX = "pat-"


class PATAuth(requests.auth.AuthBase):
    """Sends ``Authorization: Bearer pat-<value>`` for one Indigo workspace token.

    Users paste the token with or without its ``pat-`` prefix (the vendor's
    examples keep it without), and sometimes with ``Bearer `` in front; all
    forms give the same header, never ``pat-pat-…``.

    The token is never part of ``repr``/``str``; equality and hashing use it so
    that workspaces sharing a PAT also share one rate budget.
    """

    def __init__(self, token: str) -> None:
        value = token.strip()
        if value[:7].lower() == "bearer ":
            value = value[7:].strip()
        if value.startswith(_PREFIX):
            value = value[len(_PREFIX) :]
        if not value or any(ch.isspace() for ch in value):
            # The message must not echo the token.
            raise ValueError("is empty or contains whitespace")
        self._header = f"Bearer {_PREFIX}{value}"
        redact.register(value)

    @property
    def secret(self) -> str:
        """The header value, for log redaction only."""
        return self._header

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Authenticate ``request`` (requests drops the header on cross-host redirects)."""
        request.headers["Authorization"] = self._header
        return request

    def __repr__(self) -> str:
        """Redacted representation."""
        return "PATAuth(pat-***)"

    def __eq__(self, other: object) -> bool:
        """Same token, same identity (used to share one rate budget)."""
        return isinstance(other, PATAuth) and other._header == self._header

    def __hash__(self) -> int:
        """Hash of the token, kept in memory only."""
        return hash(self._header)
