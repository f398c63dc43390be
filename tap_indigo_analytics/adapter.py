"""``requests``' HTTP adapter for a run that talks to one origin, and its answers.

Everything goes through ``HTTPAdapter``'s own subclassing hooks: the pools are the
watched ones of deadlines.py, the per-origin work is done once, and an answer is a
:class:`BodyResponse` whose body the transport reads whole.
"""

from __future__ import annotations

import datetime
import threading
import typing as t
import weakref

import requests
from requests.adapters import HTTPAdapter
from requests.cookies import RequestsCookieJar
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers
from urllib3.exceptions import ClosedPoolError

from tap_indigo_analytics.deadlines import HTTPPool, HTTPSPool

__all__ = ["BodyResponse", "OneOriginAdapter"]


class OneOriginAdapter(HTTPAdapter):
    """``HTTPAdapter`` through its subclassing hooks, for a run that talks to one origin.

    Without a proxy, the pool of an origin, its TLS settings and a request's path are
    worked out once per origin instead of per request (the adapter parsed each URL four
    times and checked the CA bundle on disk for every request: about a tenth of a
    millisecond per request at 64 workers). With a proxy, ``requests`` does it all.
    """

    def __init__(self, **kwargs: t.Any) -> None:
        super().__init__(**kwargs)
        self._pools: dict[tuple[str, object, object], t.Any] = {}
        self._verified: dict[object, tuple[object, object]] = {}
        self._proxied: weakref.WeakSet[t.Any] = weakref.WeakSet()  # pools via a proxy
        self._pools_lock = threading.Lock()
        self.closed = False

    def get_connection_with_tls_context(
        self,
        request: requests.PreparedRequest,
        verify: t.Any,
        proxies: t.Any = None,
        cert: t.Any = None,
    ) -> t.Any:
        if proxies:
            proxied = super().get_connection_with_tls_context(request, verify, proxies, cert)
            with self._pools_lock:
                if not self.closed:
                    self._proxied.add(proxied)
                    return proxied
            proxied.close()  # made as the adapter closed: no one else would close it
            raise ClosedPoolError(t.cast("t.Any", None), "the adapter is closed")
        key = (_origin_text(str(request.url)), verify, cert)
        pool = self._pools.get(key)
        if pool is None:
            with self._pools_lock:
                pool = self._pools.get(key)  # another worker may have made it meanwhile
                if pool is None:
                    if self.closed:  # a pool made now would never be closed
                        raise ClosedPoolError(t.cast("t.Any", None), "the adapter is closed")
                    pool = super().get_connection_with_tls_context(request, verify, proxies, cert)
                    self._pools[key] = pool
        return pool

    def cert_verify(self, conn: t.Any, url: str, verify: t.Any, cert: t.Any) -> None:
        if self._verified.get(conn) == (verify, cert):
            return
        super().cert_verify(conn, url, verify, cert)  # type: ignore[no-untyped-call]
        with self._pools_lock:
            self._verified[conn] = (verify, cert)

    def request_url(self, request: requests.PreparedRequest, proxies: t.Any) -> str:
        if proxies:
            return super().request_url(request, proxies)
        url = str(request.url)
        return url[len(_origin_text(url)) :] or "/"

    def close(self) -> None:
        with self._pools_lock:
            self.closed = True
            pools = [*self._pools.values(), *self._proxied]
            self._pools.clear()
            self._proxied.clear()
            self._verified.clear()
        super().close()
        # urllib3 2 leaves a cleared pool's connections to the garbage collector, which
        # may come much later (an exception's traceback holds the pool in a cycle): a
        # host running many syncs in one process would keep their sockets open.
        for pool in pools:
            pool.close()

    def build_response(self, req: requests.PreparedRequest, resp: t.Any) -> BodyResponse:
        """``HTTPAdapter.build_response`` as a :class:`BodyResponse`, without the cookie
        jar: Indigo sets no cookies, and extracting them parsed the URL twice per answer
        (profiled at about a tenth of a millisecond per request at 64 workers)."""
        response = BodyResponse()
        response.status_code = resp.status
        response.headers = CaseInsensitiveDict(resp.headers)
        response.encoding = get_encoding_from_headers(response.headers)
        response.raw = resp
        response.reason = resp.reason
        response.url = req.url.decode() if isinstance(req.url, bytes) else str(req.url)
        response.request = req
        response.connection = self
        return response

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: t.Any
    ) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": HTTPPool, "https": HTTPSPool}


class BodyResponse(requests.Response):
    """A response whose body was read whole by the transport.

    ``content`` is served from the bytes read (``requests`` has no public way to set
    it), and ``close()`` lets them go with the answer's large-answer slot: call it once
    the body is parsed.
    """

    def __init__(self) -> None:
        # ``requests.Response.__init__`` without its cookie jar, built per answer and
        # never read here (Indigo sets no cookies; nothing on this path reads them).
        self._content = None
        self._content_consumed = False
        self._next = None
        self.status_code = 0
        self.headers = CaseInsensitiveDict()
        self.raw = None
        self.url = ""
        self.encoding = None
        self.history = []
        self.reason = ""
        self.elapsed = datetime.timedelta(0)
        self._body = b""
        self._release: t.Callable[[], None] = _nothing

    def hold(self, body: bytes, release: t.Callable[[], None]) -> None:
        """Keep the body read, and what lets its large-answer slot go."""
        self._body = body
        self._release = release

    def release_connection(self) -> None:
        """Hand the connection back to the pool (or close it, if the body was not read)."""
        requests.Response.close(self)

    @property
    def cookies(self) -> RequestsCookieJar:  # type: ignore[override]
        """An empty jar, made only if asked for."""
        return RequestsCookieJar()

    @property
    def content(self) -> bytes:
        """The body, as received (decoded from gzip/deflate)."""
        return self._body

    def close(self) -> None:
        """Let the body and its slot go (the page was parsed)."""
        self._body = b""
        release, self._release = self._release, _nothing
        release()


def _nothing() -> None:
    pass


def _origin_text(url: str) -> str:
    """A URL's text before its path, query or fragment (``scheme://host[:port]`` as
    written): a pool's cache key, not a normalized origin like sending.py's."""
    start = url.find("//") + 2
    ends = [i for i in (url.find(c, start) for c in "/?#") if i >= 0]
    return url[: min(ends)] if ends else url
