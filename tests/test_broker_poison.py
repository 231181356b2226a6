"""The broker's writer and a poison entry in ``provml:quads`` (a real ``redis-server``, a real
on-disk store): an entry the writer cannot read (not zlib, N-Quads that do not parse, JSON that
is not, a missing field) is taken out of its group and dead-lettered with its bags; the good
entries of the group are written, exactly once; the writer keeps running, also when it restarts
with the poison entry in its own pending list.
"""

from __future__ import annotations

import json
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis_server import RedisServer
from test_broker import data, events_of, expected

from provml.capture.broker import DEAD, EVENTS, QUADS, WORKERS, WRITERS, RedisSink, connect
from provml.ingest.streams import ensure_groups, lag
from provml.ingest.worker import Worker
from provml.ingest.writer import Writer
from provml.knowledge import KnowledgeGraph, open_kg
from provml.store.oxigraph import BULK_MIN_QUADS, OxigraphStore

Fields = dict[bytes, Any]


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    with RedisServer(tmp_path / "redis") as server:
        yield server


def _nqz(fields: Fields) -> Fields:
    return {**fields, b"nqz": b"this is not zlib"}


def _keys_zlib(fields: Fields) -> Fields:
    return {**fields, b"keys": b"this is not zlib either"}


def _nquads(fields: Fields) -> Fields:  # whole lines first, then one that does not parse
    return {**fields, b"nqz": zlib.compress(zlib.decompress(fields[b"nqz"]) + b"<https://x.org/a> <https://x.org/b> oops .\n")}


def _keys_nquads(fields: Fields) -> Fields:
    return {**fields, b"keys": zlib.compress(b"<https://x.org/a> <https://x.org/b> oops .\n")}


def _types_json(fields: Fields) -> Fields:
    return {**fields, b"types": zlib.compress(b"{not json")}


def _types_not_an_object(fields: Fields) -> Fields:
    return {**fields, b"types": zlib.compress(b'{"https://x.org/a": 1}')}


def _no_n(fields: Fields) -> Fields:
    return {k: v for k, v in fields.items() if k != b"n"}


def _ts_json(fields: Fields) -> Fields:  # read only when the writer records latencies
    return {**fields, b"ts": b"[1.0, oops"}


def _ts_text(fields: Fields) -> Fields:
    return {**fields, b"ts": b'["soon"]'}


POISONS: dict[str, tuple[Callable[[Fields], Fields], str, bool]] = {
    # name: (the change, the error named in the report, whether the store must hold exactly the good entries)
    "nqz not zlib": (_nqz, "zlib.error", True),
    "keys not zlib": (_keys_zlib, "zlib.error", False),
    "N-Quads that do not parse": (_nquads, "SyntaxError", True),
    "keys that do not parse": (_keys_nquads, "SyntaxError", False),
    "types not JSON": (_types_json, "JSONDecodeError", False),
    "types not an object of strings": (_types_not_an_object, "ValueError", False),
    "no n": (_no_n, "KeyError", False),
    "ts not JSON": (_ts_json, "JSONDecodeError", False),
    "ts not numbers": (_ts_text, "ValueError", False),
}


def _handed_over(url: str, bags: list[list[dict[str, Any]]], poisoned: int,
                 change: Callable[[Fields], Fields]) -> list[str]:
    """Each bag through a real worker (one entry each in ``provml:quads``), then the entry of bag
    ``poisoned`` replaced by ``change`` of it, in its place; returns the bags' ids."""
    redis = connect(url)
    ensure_groups(redis)
    sink = RedisSink(url)
    worker = Worker(url, batch=1, block_s=0.05)
    for bag in bags:
        sink.send([json.dumps(e) for e in bag])
        assert worker.step() == 1
    sink.close()
    worker.close()
    entries = redis.xrange(QUADS)
    assert len(entries) == len(bags) and not redis.xlen(DEAD)
    redis.xdel(QUADS, *[i for i, _f in entries])  # (the writers' group has read none of them yet)
    for n, (_id, fields) in enumerate(entries):
        redis.xadd(QUADS, change(fields) if n == poisoned else fields)
    ids = [json.loads(fields[b"ids"])[0] for _id, fields in entries]
    redis.close()
    return ids


def _count(kg: KnowledgeGraph, query: str) -> int:
    [row] = list(kg.query(query))
    return int(row[0].value)


def _write_all(url: str, kg: KnowledgeGraph, **options: Any) -> None:
    """A writer on a thread until nothing is behind (see :func:`_caught_up`), then stopped."""
    writer = Writer(url, kg, block_s=0.05, **options)
    stop = threading.Event()
    thread = threading.Thread(target=writer.run, args=(stop,))
    thread.start()
    try:
        _caught_up(url, thread)
    finally:
        stop.set()
        thread.join(timeout=30)
        writer.close()


def _caught_up(url: str, writer: threading.Thread, timeout_s: float = 60.0) -> None:
    """Wait until nothing is behind; fails at once when the writer's thread has died."""
    redis = connect(url)
    deadline = time.monotonic() + timeout_s
    try:
        while (now := lag(redis)).behind or now.unwritten_quads:
            assert writer.is_alive(), "the writer died on the poison entry"
            assert time.monotonic() < deadline, f"ingest did not catch up: {now}"
            time.sleep(0.05)
    finally:
        redis.close()


STARTS = "SELECT (COUNT(?t) AS ?n) WHERE { ?e <http://www.w3.org/ns/prov#startedAtTime> ?t }"
STARTED = "SELECT (COUNT(DISTINCT ?e) AS ?n) WHERE { ?e <http://www.w3.org/ns/prov#startedAtTime> ?t }"


@pytest.mark.parametrize("poison", list(POISONS))
def test_a_poison_entry_among_good_ones_is_dead_lettered_and_the_good_ones_written_once(
        redis_server: RedisServer, tmp_path: Path, poison: str) -> None:
    change, error, exact = POISONS[poison]
    bags = [events_of(f"run{i}", n_batches=3) for i in range(4)]
    ids = _handed_over(redis_server.url, bags, 2, change)
    kg = open_kg(tmp_path / "store")
    _write_all(redis_server.url, kg, latency_key="latency")
    good = [e for n, bag in enumerate(bags) if n != 2 for e in bag]
    if exact:  # the engine parses the group before it writes: nothing of the poison entry is stored
        assert data(kg) == expected(good)
    else:  # the group's N-Quads load beside the reading of the keys: the poison entry's may be stored
        assert expected(good) <= data(kg) <= expected([e for bag in bags for e in bag])
    reference = KnowledgeGraph(OxigraphStore())
    for n, bag in enumerate(bags):
        if n != 2:
            reference.ingest_events(bag)
    assert _count(kg, STARTS) == _count(kg, STARTED)  # each started run, epoch, batch ... once
    if exact:
        assert _count(kg, STARTED) == _count(reference, STARTED)
    redis = connect(redis_server.url)
    [(_dead_id, dead)] = redis.xrange(DEAD)
    assert dead[b"id"].decode() == ids[2]
    assert json.loads(dead[b"bag"]) == bags[2]  # the bag itself, to replay after a fix
    report = json.loads(dead[b"report"])
    assert report["error"] == error and report["stage"] == "writer" and report["message"]
    assert not redis.xpending(EVENTS, WORKERS)["pending"] and not redis.xpending(QUADS, WRITERS)["pending"]
    assert lag(redis).behind == 0 and lag(redis).written_events == len(good)
    redis.close()
    kg.close()


def test_a_writer_restarted_with_a_poison_entry_in_its_own_pending_list_goes_on(
        redis_server: RedisServer, tmp_path: Path) -> None:
    bags = [events_of(f"run{i}", n_batches=2) for i in range(3)]
    ids = _handed_over(redis_server.url, bags, 0, _nquads)
    redis = connect(redis_server.url)
    read = redis.xreadgroup(WRITERS, "writer", {QUADS: ">"}, count=64)  # a writer that died here
    assert len(read[0][1]) == 3 and redis.xpending(QUADS, WRITERS)["pending"] == 3
    kg = open_kg(tmp_path / "store")
    _write_all(redis_server.url, kg)  # the same name ("writer"): its own pending entries first
    assert data(kg) == expected(bags[1] + bags[2])
    assert [f[b"id"].decode() for _i, f in redis.xrange(DEAD)] == [ids[0]]
    assert not redis.xpending(QUADS, WRITERS)["pending"] and not redis.xpending(EVENTS, WORKERS)["pending"]
    redis.close()
    kg.close()


@pytest.mark.parametrize("ids", [b"[not json", b'"1-0"', b'["1-0", "my bag"]'])
def test_an_entry_whose_bag_ids_cannot_be_read_is_kept_whole_and_its_bags_reclaimed(
        redis_server: RedisServer, tmp_path: Path, ids: bytes) -> None:
    """Without its ``ids`` the writer cannot tell which bags an entry holds: it dead-letters the
    entry itself (its fields under ``entry:``) and acknowledges it in ``provml:quads``; the bags
    stay pending in ``provml:events``, where a worker reclaims them and hands them over again."""
    bags = [events_of(f"run{i}", n_batches=2) for i in range(3)]
    _handed_over(redis_server.url, bags, 1, lambda fields: {**fields, b"ids": ids})
    kg = open_kg(tmp_path / "store")
    writer = Writer(redis_server.url, kg, block_s=0.05)
    while writer.step():
        pass
    redis = connect(redis_server.url)
    [(_dead_id, dead)] = redis.xrange(DEAD)
    assert dead[b"entry:ids"] == ids and dead[b"entry:nqz"] and dead[b"bag"] == b""
    assert json.loads(dead[b"report"])["stage"] == "writer"
    assert not redis.xpending(QUADS, WRITERS)["pending"]
    assert redis.xpending(EVENTS, WORKERS)["pending"] == 1  # the poison entry's bag: not lost
    assert data(kg) == expected(bags[0] + bags[2])
    worker = Worker(redis_server.url, claim_idle_s=0.0, block_s=0.05)
    assert worker.step() == 1  # (each further step would reclaim it again until the writer acknowledges it)
    worker.close()
    while writer.step():
        pass
    writer.close()
    assert data(kg) == expected([e for bag in bags for e in bag])
    assert lag(redis).behind == 0
    redis.close()
    kg.close()


@pytest.mark.parametrize("lines", [100, BULK_MIN_QUADS + 5_000, 200_000])  # (a group of 64 bags of 50 events: ≈ 35,000)
def test_n_quads_that_do_not_parse_leave_the_store_unchanged(tmp_path: Path, lines: int) -> None:
    """What the writer's dead-lettering relies on (and docs/deployment.md says): on a parse
    error, both of Oxigraph's ways to load N-Quads — a transaction, and the bulk loader for
    BULK_MIN_QUADS quads or more — write nothing, wherever the error is (up to 200,000 lines here)."""
    store = OxigraphStore(tmp_path / "store")
    store.load_nquads(b'<https://x.org/before> <https://x.org/p> "1" .\n')
    good = [b'<https://x.org/s%d> <https://x.org/p> "%d" <https://x.org/g> .\n' % (i, i) for i in range(lines)]
    before = set(store.quads())
    for at in (0, lines // 2, lines):
        data = b"".join([*good[:at], b"<https://x.org/a> <https://x.org/b> oops .\n", *good[at:]])
        with pytest.raises(SyntaxError):
            store.load_nquads(data, lenient=True)
        assert set(store.quads()) == before
    store.close()
