"""Local emulator of the Indigo Analytics REST API, served over real HTTP on loopback.

It follows ``api-contract.md`` (the project's contract) and is strict wherever the real
API would reject a request, so a tap that passes against it does not lean on leniency.
Tests control it through :class:`Faults` and read what it saw through
:meth:`Emulator.requests`. One module per concern: ``contract`` (endpoints, metrics,
cursors), ``faults`` (the switches, documented), ``pages`` (200 pages and the faults that
shape them), ``app`` (the emulator: auth, rate limit, log), ``server`` (HTTP on the wire),
``cli`` (``python -m tests.emulator``).

Request numbering, shared by every number-keyed fault (``status_every_n``,
``html_502_on``, ``garbage_json_on``, ``drop_connection_on``, ``slow_on``,
``trickle_on``):

* every request that reaches the handler gets the next global number, starting at 1
  (and again at 1 after :meth:`Emulator.clear_log`), whatever its path or answer;
* the number-keyed faults, the random 500, ``redirect_to`` and ``redirect_loop`` act
  first, in front of routing and auth, like a proxy or a crashing app server would;
* the rate limit counts, per PAT, only requests that got past those faults, routing and
  auth; a request answered 429 still counts (a client that hammers stays locked out),
  and so does one answered by ``redirect_same_origin``;
* ``invalid_cursor_on_nth_cursored`` counts only requests that passed the rate limit and
  parameter checks and carry the endpoint's own cursor parameter;
* ``page_fault_limit`` counts pages, as :mod:`tests.emulator.faults` describes.
"""

from tests.emulator.app import Emulator, LoggedRequest
from tests.emulator.cli import main
from tests.emulator.contract import (
    ENDPOINTS,
    MAX_LIMIT,
    MAX_SPAN_DAYS,
    ZERO_DAY_SHARE,
    EndpointSpec,
)
from tests.emulator.faults import Faults

__all__ = [
    "ENDPOINTS",
    "MAX_LIMIT",
    "MAX_SPAN_DAYS",
    "ZERO_DAY_SHARE",
    "Emulator",
    "EndpointSpec",
    "Faults",
    "LoggedRequest",
    "main",
]
