"""Cursor pagination: follow ``metadata.next_cursor`` until it is null."""

from __future__ import annotations

import requests
from singer_sdk.pagination import BaseAPIPaginator

from tap_indigo_analytics.envelope import page_of
from tap_indigo_analytics.errors import ResponseShapeError


class CursorPaginator(BaseAPIPaginator[str | None]):
    """Opaque-cursor paginator for one date window.

    The cursor is passed back as received (never decoded or built). The SDK
    only catches a cursor repeated by the very next page; a cursor seen twice
    anywhere in the window would loop forever, so it fails here instead.
    """

    def __init__(self) -> None:
        super().__init__(None)
        self._seen: set[str] = set()

    def get_next(self, response: requests.Response) -> str | None:
        """The next cursor, or None on the last page."""
        cursor = page_of(response).next_cursor
        if cursor is not None:
            if cursor in self._seen:
                raise ResponseShapeError(
                    f"Indigo returned the same next_cursor twice in one window "
                    f"({response.request.path_url.split('?')[0]}); stopping instead of looping"
                )
            self._seen.add(cursor)
        return cursor

    def continue_if_empty(self, response: requests.Response) -> bool:
        """Pages are zero-filled; an empty page with a cursor still has more to read."""
        return True
