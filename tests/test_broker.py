"""Broker mode with a real redis-server: capture → Redis stream → workers → one writer → store.

Every test compares the store with what the in-process pipeline stores for the same events, so
"nothing lost, nothing twice" is checked quad by quad.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from redis_server import RedisServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from provml.capture.broker import DEAD, EVENTS, RedisSink, connect
from provml.capture.client import Client
from provml.ingest.worker import Worker, Writer, lag
from provml.knowledge import ONTOLOGY_GRAPHS, KnowledgeGraph, open_kg
from provml.store.oxigraph import OxigraphStore


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    with RedisServer(tmp_path / "redis") as server:
        yield server


def events_of(run: str, n_batches: int = 20) -> list[dict[str, Any]]:
    """A learning run: one epoch of ``n_batches`` batches (benchmarks/workload.py)."""
    import workload

    return list(workload.learning_run(run, epochs=1, batches=n_batches))


def data(kg: KnowledgeGraph) -> set[str]:
    """The store's quads outside the ontology graphs, as N-Quads lines."""
    graphs = {g.value for g in ONTOLOGY_GRAPHS}
    return {str(q) for q in kg.store.quads() if getattr(q.graph_name, "value", None) not in graphs}


def expected(events: list[dict[str, Any]], bag: int = 50) -> set[str]:
    kg = KnowledgeGraph(OxigraphStore())
    for i in range(0, len(events), bag):
        kg.ingest_events(events[i : i + bag])
    return data(kg)


def send(url: str, events: list[dict[str, Any]], bag: int = 50) -> None:
    sink = RedisSink(url)
    for i in range(0, len(events), bag):
        sink.send([json.dumps(e) for e in events[i : i + bag]])
    sink.close()


class Running:
    """A worker and the writer on threads of this process (the processes are tested below)."""

    def __init__(self, url: str, kg: KnowledgeGraph, *, claim_idle_s: float = 30.0) -> None:
        self.stop = threading.Event()
        self.worker = Worker(url, claim_idle_s=claim_idle_s, block_s=0.1)
        self.writer = Writer(url, kg, claim_idle_s=claim_idle_s, block_s=0.1)
        self.threads = [threading.Thread(target=x.run, args=(self.stop,)) for x in (self.worker, self.writer)]
        for thread in self.threads:
            thread.start()

    def close(self) -> None:  # the writer's Redis connection stays usable (trim)
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)
        self.worker.close()


def wait_until_caught_up(url: str, timeout_s: float = 60.0) -> None:
    redis = connect(url)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            now = lag(redis)
            if now.behind == 0 and now.unwritten_quads == 0 and redis.xlen(EVENTS) >= 0:
                return
            assert time.monotonic() < deadline, f"ingest did not catch up: {now}"
            time.sleep(0.1)
    finally:
        redis.close()


def test_bags_through_the_broker_store_what_the_pipeline_stores(redis_server: RedisServer, tmp_path: Path) -> None:
    events = events_of("r1") + events_of("r2")
    send(redis_server.url, events)
    kg = open_kg(tmp_path / "store")
    running = Running(redis_server.url, kg)
    try:
        wait_until_caught_up(redis_server.url)
    finally:
        running.close()
    assert data(kg) == expected(events)
    redis = connect(redis_server.url)
    assert lag(redis).written_events == len(events)
    assert redis.xlen(DEAD) == 0
    assert redis.xlen(EVENTS) > 1
    running.writer.trim()
    assert redis.xlen(EVENTS) <= 1  # acknowledged bags are trimmed (the last read one may stay)
    kg.close()


def test_the_client_in_broker_mode_delivers_every_event(redis_server: RedisServer, tmp_path: Path) -> None:
    client = Client(broker=redis_server.url, bag_size=10, install_signal_handler=False)
    with client, client.workflow("demo", meta=False) as wf:
        for i in range(25):
            with wf.task(f"step-{i}", used={"i": i}):
                pass
    redis = connect(redis_server.url)
    bags = redis.xrange(EVENTS)
    sent = [e for _id, fields in bags for e in json.loads(fields[b"bag"])]
    assert len(sent) == 2 + 2 * 25
    kg = open_kg(tmp_path / "store")
    running = Running(redis_server.url, kg)
    try:
        wait_until_caught_up(redis_server.url)
    finally:
        running.close()
    assert data(kg) == expected(sent, bag=10)
    kg.close()


def test_setting_with_a_broker(redis_server: RedisServer) -> None:
    client = Client.setting("D", broker=redis_server.url, install_signal_handler=False)
    with client, client.workflow("demo", meta=False):
        pass
    assert connect(redis_server.url).xlen(EVENTS) == 1


def test_a_bag_held_by_a_dead_worker_is_reclaimed_and_redelivery_stores_nothing_twice(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    from provml.capture.broker import WORKERS
    from provml.ingest.worker import ensure_groups

    events = events_of("r1")
    redis = connect(redis_server.url)
    ensure_groups(redis)
    send(redis_server.url, events)
    # a worker that read every bag and died before handing any over
    taken = redis.xreadgroup(WORKERS, "dead-worker", {EVENTS: ">"}, count=100)
    assert len(taken[0][1]) == 1
    # and a bag that is handed over twice (a worker died after handing it, another redid it)
    kg = open_kg(tmp_path / "store")
    running = Running(redis_server.url, kg, claim_idle_s=0.3)
    try:
        wait_until_caught_up(redis_server.url)
        again = Worker(redis_server.url, claim_idle_s=0.3)
        again.handle(taken[0][1][0][0].decode(), taken[0][1][0][1])  # the same bag once more
        again.close()
        wait_until_caught_up(redis_server.url)
    finally:
        running.close()
    assert data(kg) == expected(events)
    assert lag(redis).written_events == 2 * len(events)  # written twice, stored once
    assert not redis.xpending(EVENTS, WORKERS)["pending"]
    kg.close()


def test_rejected_bags_go_to_the_dead_letter_stream_with_their_report(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    good = events_of("r1", n_batches=2)
    broken_format = [{"v": 1, "kind": "workflow_begin", "run": "r2"}]  # no t, no workflow
    # (the test above shows translation; this bag ends before it starts)
    broken_shapes = [{"v": 1, "kind": "workflow_begin", "t": 1.0, "run": "r3", "workflow": "wf"},
                     {"v": 1, "kind": "workflow_end", "t": 0.5, "run": "r3", "workflow": "wf", "status": "finished"}]
    not_json = "{"
    sink = RedisSink(redis_server.url)
    sink.send([json.dumps(e) for e in good])
    sink.send([json.dumps(e) for e in broken_format])
    sink.send([json.dumps(e) for e in broken_shapes])
    sink.send([not_json])
    sink.close()
    kg = open_kg(tmp_path / "store")
    running = Running(redis_server.url, kg)
    try:
        wait_until_caught_up(redis_server.url)
    finally:
        running.close()
    redis = connect(redis_server.url)
    dead = redis.xrange(DEAD)
    reports = [json.loads(fields[b"report"]) for _id, fields in dead]
    assert [r["error"] for r in reports] == ["EventError", "ValidationFailed", "JSONDecodeError"]
    assert any("ends" in res["message"] for res in reports[1]["report"]["results"])
    assert json.loads(dead[1][1][b"bag"])[0]["run"] == "r3"  # the bag itself, to replay after a fix
    assert data(kg) == expected(good)
    assert lag(redis).behind == 0
    kg.close()


def test_an_unreachable_broker_leaves_events_in_the_spool_and_they_follow_when_it_is_up(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis")  # not started yet: the port refuses connections
    spool = tmp_path / "spool"
    client = Client(broker=server.url, spool_dir=spool, bag_size=5, install_signal_handler=False)
    try:
        with client.workflow("offline-first", meta=False) as wf:
            for i in range(12):
                with wf.task(f"t{i}"):
                    pass
        deadline = time.monotonic() + 10
        while not list(spool.glob("pending-*.jsonl")):
            assert time.monotonic() < deadline, "nothing went to the pending file"
            time.sleep(0.05)
        server.start()
        client.close(timeout_s=60)
        assert client.stats().pending == 0
        redis = connect(server.url)
        sent = [e for _id, fields in redis.xrange(EVENTS) for e in json.loads(fields[b"bag"])]
        assert len(sent) == 2 + 2 * 12
        assert len({(e["kind"], e.get("task")) for e in sent}) == len(sent)  # none twice
    finally:
        client.close(timeout_s=1)
        server.close()


def test_a_full_stream_sends_bags_to_the_spool(redis_server: RedisServer) -> None:
    from provml.capture.sinks import SinkUnavailable

    sink = RedisSink(redis_server.url, max_backlog=2)
    sink.send(["{}"])
    sink.send(["{}"])
    sink._checked = 0.0
    with pytest.raises(SinkUnavailable, match="holds 2 bags"):
        sink.send(["{}"])
    sink.close()
