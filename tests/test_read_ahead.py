"""The read-ahead that overlaps fetching page k+1 with emitting page k."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from tap_indigo_analytics.client import read_ahead


def test_keeps_order_and_ends() -> None:
    assert list(read_ahead(iter(range(50)))) == list(range(50))
    assert list(read_ahead(iter([]))) == []


def test_a_producer_error_reaches_the_consumer_after_what_came_before() -> None:
    def produce() -> Iterator[int]:
        yield 1
        yield 2
        raise LookupError("page 3 broke")

    items = read_ahead(produce())
    assert next(items) == 1
    assert next(items) == 2
    with pytest.raises(LookupError, match="page 3 broke"):
        next(items)


def test_the_next_item_is_fetched_while_the_consumer_holds_this_one() -> None:
    fetching_second = threading.Event()

    def produce() -> Iterator[int]:
        yield 0
        fetching_second.set()
        yield 1

    items = read_ahead(produce())
    assert next(items) == 0
    # Still "emitting" item 0, the producer has already moved on to item 1.
    assert fetching_second.wait(timeout=10)
    assert list(items) == [1]


def test_closing_the_consumer_stops_the_producer() -> None:
    produced: list[int] = []

    def produce() -> Iterator[int]:
        for n in range(1000):
            produced.append(n)
            yield n

    items = read_ahead(produce())
    assert next(items) == 0
    items.close()
    time.sleep(0.5)
    assert len(produced) <= 3, "the producer kept running after the consumer left"
