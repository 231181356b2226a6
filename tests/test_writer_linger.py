"""The broker's writer, ahead of the workers, lets their entries gather into one group
(``Writer(linger_s=...)``, :data:`provml.ingest.streams.WRITER_LINGER_S`): it wrote whatever one
entry brought, and each small group's bulk load cost RocksDB's compactions again (real Redis,
a real on-disk store, a real worker)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from redis_server import RedisServer
from test_broker import data, events_of, expected, send

from provml.capture.broker import connect
from provml.ingest.streams import ensure_groups
from provml.ingest.worker import Worker
from provml.ingest.writer import Writer
from provml.knowledge import open_kg


@pytest.fixture
def redis_server(tmp_path: Path) -> Any:
    with RedisServer(tmp_path / "redis") as server:
        yield server


@pytest.mark.parametrize(("linger_s", "grouped"), [(2.0, True), (0.0, False)])
def test_entries_that_come_while_the_writer_lingers_are_one_group(
        redis_server: RedisServer, tmp_path: Path, linger_s: float, grouped: bool) -> None:
    """After a group of one entry (fewer than it could take), the next read waits until
    ``linger_s`` after that one: an entry handed over meanwhile is written with the one
    waiting. (The margins are wide: the third entry comes 0.2 s into a 2 s linger.)"""
    url = redis_server.url
    events = events_of("linger", n_batches=30)
    bags = [events[i : i + 20] for i in range(0, len(events), 20)]
    assert len(bags) >= 3
    ensure_groups(connect(url))
    worker = Worker(url, batch=1, block_s=0.05)
    with open_kg(tmp_path / "store") as kg:
        writer = Writer(url, kg, block_s=0.05, linger_s=linger_s)
        try:
            send(url, bags[0], bag=len(bags[0]))
            assert worker.step() == 1
            assert writer.step() == 1  # a group of one entry: fewer than the 64 it could take
            send(url, bags[1], bag=len(bags[1]))
            assert worker.step() == 1

            def third() -> None:
                threading.Event().wait(0.2)
                send(url, bags[2], bag=len(bags[2]))
                assert worker.step() == 1

            late = threading.Thread(target=third)
            late.start()
            written = writer.step()
            late.join()
            assert written == (2 if grouped else 1)
            for bag in bags[3:]:
                send(url, bag, bag=len(bag))
                assert worker.step() == 1
            while writer.step():
                pass
            assert data(kg) == expected(events, bag=20)
        finally:
            worker.close()
            writer.close()



def test_a_stop_ends_the_linger_and_nothing_more_is_read(redis_server: RedisServer, tmp_path: Path) -> None:
    """A writer lingering when it is stopped stops at once and reads no further group: a
    server's close, which waits 10 s for the writer, closed the store under a writer still
    asleep, whose next group then failed and went to the dead letters (a review)."""
    from provml.capture.broker import DEAD
    from provml.ingest.streams import lag

    url = redis_server.url
    events = events_of("stopped", n_batches=20)
    ensure_groups(connect(url))
    worker = Worker(url, batch=1, block_s=0.05)
    with open_kg(tmp_path / "store") as kg:
        writer = Writer(url, kg, block_s=0.05, linger_s=60.0)
        stop = threading.Event()
        try:
            send(url, events[:20], bag=20)
            assert worker.step() == 1
            assert writer.step() == 1  # short: the next read lingers
            send(url, events[20:], bag=len(events) - 20)
            assert worker.step() == 1
            thread = threading.Thread(target=writer.run, args=(stop,))
            thread.start()
            threading.Event().wait(0.3)
            stop.set()
            thread.join(timeout=20)
            assert not thread.is_alive()
            redis = connect(url)
            assert lag(redis).unwritten_quads == 1 and redis.xlen(DEAD) == 0  # left for the next writer
        finally:
            worker.close()
            writer.close()
