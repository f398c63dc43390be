"""What each Indigo error response means, and the exceptions the tap raises.

The contract's error table lives here, in one place: ``error_for_response``
turns a non-2xx answer into one of the exceptions below. Messages name the
endpoint and workspace and quote the vendor's message; they never carry the
Authorization header.
"""

from __future__ import annotations

import email.utils
import time
import typing as t
from http import HTTPStatus
from urllib.parse import urlsplit

import requests
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

from tap_indigo_analytics.redact import redact

#: What a failure stops: one (stream, workspace) pair, a whole workspace, or the run.
Scope = t.Literal["pair", "workspace", "run"]


class IndigoError(FatalAPIError):
    """A failure the user can act on; the CLI prints its message as one line.

    ``scope`` says what it stops unless ``fail_fast`` is set (failures.py): by default
    the one (stream, workspace) pair it happened in.
    """

    scope: t.ClassVar[Scope] = "pair"


class AuthenticationError(IndigoError):
    """401: the PAT is missing, malformed or revoked. Never retried; stops the workspace."""

    scope: t.ClassVar[Scope] = "workspace"


class WorkspaceAccessError(IndigoError):
    """403: the PAT does not belong to the requested workspace. Never retried."""

    scope: t.ClassVar[Scope] = "workspace"


class HostError(IndigoError):
    """The host itself failed (unreachable, untrusted certificate, proxy, redirect loop):
    no workspace can be read, so the run stops at once."""

    scope: t.ClassVar[Scope] = "run"


class ClientRequestError(IndigoError):
    """Any other 4xx: a bug in this tap or a contract change. Never retried."""


class ResponseShapeError(IndigoError):
    """A 200 whose body does not match the contract (see envelope.py)."""


class InvalidCursorError(IndigoError):
    """400 Invalid cursor: the stream restarts the window without a cursor."""


class TransientAPIError(RetriableAPIError):
    """5xx, an HTML error page or a body that is not JSON: retried with backoff."""


class RateLimitedError(RetriableAPIError):
    """429: retried after the server-given wait."""

    def __init__(self, message: str, response: requests.Response, retry_after: float) -> None:
        super().__init__(message, response)
        self.retry_after = retry_after


def describe_body(response: requests.Response) -> str:
    """``text/html, 512 bytes``: what a body that is not JSON looks like, for messages."""
    kind = response.headers.get("Content-Type", "no content type").split(";")[0]
    return f"{kind}, {len(response.content)} bytes"


def vendor_message(response: requests.Response) -> str:
    """The body's ``message``, or a short description of a body that has none."""
    try:
        body = response.json()
    except (ValueError, RecursionError):
        return f"non-JSON body ({describe_body(response)})"
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return redact(body["message"])  # servers have been seen to echo the token
    return "no message in the body"


def describe_request(response: requests.Response) -> str:
    """``GET /path?query`` of the request that got ``response`` (no headers)."""
    request = response.request
    parts = urlsplit(request.url or response.url)
    query = f"?{parts.query}" if parts.query else ""
    return f"{request.method} {parts.path}{query}"


def retry_after_seconds(response: requests.Response, *, default: float = 60.0) -> float:
    """Seconds to wait after a 429: ``Retry-After`` header, else the body's ``retry_after``."""
    header = response.headers.get("Retry-After")
    if header:
        header = header.strip()
        if header.isdigit():
            return float(header)
        try:
            when = email.utils.parsedate_to_datetime(header)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            return max(0.0, when.timestamp() - time.time())
    try:
        value = response.json().get("retry_after")
    except (ValueError, AttributeError, RecursionError):
        value = None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return default


def error_for_response(response: requests.Response, *, project_id: str) -> Exception | None:
    """Map an HTTP answer to the exception the contract calls for (None when it is fine)."""
    status = response.status_code
    if status < HTTPStatus.BAD_REQUEST:
        return None
    message = vendor_message(response)
    where = describe_request(response)
    if status == HTTPStatus.UNAUTHORIZED:
        return AuthenticationError(
            f"Indigo rejected the personal access token (401 {message}) — check `pat` "
            f"for workspace {project_id}."
        )
    if status == HTTPStatus.FORBIDDEN:
        return WorkspaceAccessError(
            f"The token does not belong to workspace {project_id} (403 {message}) — "
            "check the `project_id` and `pat` pair."
        )
    if status == HTTPStatus.TOO_MANY_REQUESTS:
        return RateLimitedError(
            f"rate limited by Indigo (429 {message}) on {where}",
            response,
            retry_after_seconds(response),
        )
    if status == HTTPStatus.BAD_REQUEST and message.strip().lower() == "invalid cursor":
        return InvalidCursorError(f"Indigo answered 400 Invalid cursor on {where}")
    if status >= HTTPStatus.INTERNAL_SERVER_ERROR or status == HTTPStatus.REQUEST_TIMEOUT:
        return TransientAPIError(f"HTTP {status} from Indigo ({message}) on {where}", response)
    return ClientRequestError(f"Indigo refused the request: HTTP {status} ({message}) on {where}")
