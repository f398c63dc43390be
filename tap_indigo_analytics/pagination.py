"""Cursor pagination: follow ``metadata.next_cursor`` until it is null."""

from __future__ import annotations

import requests
from singer_sdk.pagination import BaseAPIPaginator

from tap_indigo_analytics.envelope import Page
from tap_indigo_analytics.errors import ResponseShapeError


class CursorPaginator(BaseAPIPaginator[str | None]):
    """Opaque-cursor paginator for one date window.

    The cursor is passed back as received (never decoded or built). The SDK
    only catches a cursor repeated by the very next page; a cursor seen twice
    anywhere in the window would loop forever, so it fails here instead.

    Pages are parsed once, where they enter (envelope.py): :meth:`follow` takes the
    parsed :class:`Page` and runs the SDK's ``advance`` (page count, end, loop check)
    on it, so the cursor is never read from the body a second time.
    """

    def __init__(self) -> None:
        super().__init__(None)
        self._seen: set[str] = set()
        self._page: Page | None = None

    def follow(self, page: Page) -> None:
        """Advance past ``page`` to its next cursor (finished when it has none)."""
        self._page = page
        try:
            self.advance(page.response)
        finally:
            self._page = None

    def get_next(self, response: requests.Response) -> str | None:
        """The next cursor of the page being followed, or None on the last page."""
        assert self._page is not None, "advance a CursorPaginator with follow(page)"
        assert self._page.response is response
        cursor = self._page.next_cursor
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
