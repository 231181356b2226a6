"""Broker mode with a real redis-server: capture → Redis stream → workers → one writer → store.

Every test compares the store with what the in-process pipeline stores for the same events, so
"nothing lost, nothing twice" is checked quad by quad.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from redis_server import RedisServer
from spec_bags import spec_bags

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from provml.capture.broker import DEAD, EVENTS, WORKERS, RedisSink, connect
from provml.capture.client import Client
from provml.errors import EventError, ValidationFailed
from provml.ingest.streams import alive, ensure_groups, lag
from provml.ingest.worker import Worker
from provml.ingest.writer import Writer
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
    assert any("<https://w3id.org/provml#summary>" in q for q in data(kg))  # the writer's summaries
    redis = connect(redis_server.url)
    assert lag(redis).written_events == len(events)
    assert redis.xlen(DEAD) == 0
    # the types kept for the workers (for later bags) are the stored ones, node by node
    from provml.capture.broker import TYPES
    from provml.vocab import RDF

    kept = {k.decode(): set(v.decode().split()) for k, v in redis.hgetall(TYPES).items()}
    stored: dict[str, set[str]] = {}
    for q in kg.store.raw.quads_for_pattern(None, RDF.type, None):
        if q.subject.value.startswith(kg.base):
            stored.setdefault(q.subject.value, set()).add(q.object.value)
    assert kept and {n: stored.get(n) for n in kept} == kept
    assert all("/summary/" in n for n in stored.keys() - kept.keys())  # the writer's own nodes
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

    events = events_of("r1")
    redis = connect(redis_server.url)
    ensure_groups(redis)
    send(redis_server.url, events)
    # a worker that read every bag and died before handing any over
    taken = redis.xreadgroup(WORKERS, "dead-worker", {EVENTS: ">"}, count=100)
    assert len(taken[0][1]) == 1
    kg0 = KnowledgeGraph(OxigraphStore())
    Writer(redis_server.url, kg0).trim()
    assert redis.xlen(EVENTS) == 1  # a bag read but not acknowledged is never trimmed
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
    # written at least twice (a slow writer can make a worker reclaim the bag once more), stored once
    assert lag(redis).written_events >= 2 * len(events)
    assert not redis.xpending(EVENTS, WORKERS)["pending"]
    kg.close()


def test_rejected_bags_go_to_the_dead_letter_stream_with_their_report(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    good = events_of("r1", n_batches=2)
    broken_format = [{"v": 1, "kind": "workflow_begin", "run": "r2"}]  # no t, no workflow
    # (the test above shows translation; this bag ends before it starts)
    # with secrets a producer other than the capture client left in (they stayed in Redis, and
    # `provml dead-letters show` printed them: an audit, twenty-first session)
    broken_shapes = [{"v": 1, "kind": "workflow_begin", "t": 1.0, "run": "r3", "workflow": "wf",
                      "used": [{"name": "db_password", "value": "hunter2"}]},
                     {"v": 1, "kind": "workflow_end", "t": 0.5, "run": "r3", "workflow": "wf", "status": "finished"}]
    not_json = "{ password=hunter2"
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
    assert not [fields for _id, fields in dead if any(b"hunter2" in v for v in fields.values())]
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


# -- processes, kill -9 and a Redis restart ----------------------------------------------------------

def test_the_worker_and_writer_processes_run_with_the_collector_paused(
        redis_server: RedisServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A broker worker's process and ``provml ingest-worker``'s writer process run their whole
    loop with the collector paused (provml.ingest.collector), and resume it when they end."""
    import gc
    import signal

    from provml.ingest import processes
    from provml.ingest import worker as worker_module

    seen: list[tuple[str, bool]] = []
    monkeypatch.setattr(signal, "signal", lambda *_args: None)  # (not this test process's handlers)
    monkeypatch.setattr(Worker, "run", lambda self, stop=None: seen.append(("worker", gc.isenabled())))
    monkeypatch.setattr(Writer, "run", lambda self, stop=None: seen.append(("writer", gc.isenabled())))
    assert gc.isenabled()
    worker_module._worker_process(redis_server.url, None, 1.0)
    processes.run(redis_server.url, store=tmp_path / "store", workers=0)
    assert seen == [("worker", False), ("writer", False)]
    assert gc.isenabled()


HERE = Path(__file__).parent


def _python(*args: str) -> list[str]:
    return [sys.executable, *args]


def _writer(url: str, store: Path) -> subprocess.Popen[bytes]:
    code = "import sys; from provml.cli import main; sys.exit(main())"
    return subprocess.Popen(_python("-c", code, "ingest-worker", "--broker", url, "--store", str(store),
                                    "--workers", "0", "--claim-idle-s", "1"))


def _worker(url: str) -> subprocess.Popen[bytes]:
    code = f"from provml.ingest.worker import _worker_process; _worker_process({url!r}, None, 1.0)"
    return subprocess.Popen(_python("-c", code))


def until(condition: Any, message: str, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(0.02)


def _held(redis: Any, consumer: str) -> int:
    from provml.capture.broker import WORKERS

    return len(redis.xpending_range(EVENTS, WORKERS, min="-", max="+", count=10, consumername=consumer))


def _spooled(spools: Path) -> list[list[dict[str, Any]]]:
    """The events each capture process emitted, from its diskful spool."""
    from provml.capture.spool import read_events, spool_files

    return [[e for f in spool_files(d) for e in read_events(f)] for d in sorted(spools.iterdir())]


@pytest.mark.timeout(600)
def test_no_loss_no_duplicates_with_8_writers_kill_9_of_a_worker_and_the_writer_and_a_redis_restart(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    url = redis_server.url
    store = tmp_path / "store"
    spools = tmp_path / "spools"
    processes: list[subprocess.Popen[bytes]] = []
    try:
        writer = _writer(url, store)
        workers = [_worker(url), _worker(url)]
        processes += [writer, *workers]
        # the workers and the writer up (imports and warm-up done: several seconds on a loaded
        # machine) before the captures start, so the first worker takes bags while they still send
        ready = connect(url)
        until(lambda: len(alive(ready)["workers"]) >= 2 and len(alive(ready)["writers"]) >= 1,
              "the workers and the writer did not start")
        ready.close()
        captures = [
            subprocess.Popen(_python(str(HERE / "broker_capture.py"), url, str(spools / f"c{i}"), f"chaos-{i}",
                                     "3", "20", "0.1"), stdout=subprocess.PIPE, text=True)
            for i in range(8)
        ]
        processes += captures
        probe = connect(url)
        ensure_groups(probe)
        # kill -9 of a worker while it holds bags: the others reclaim them (XAUTOCLAIM)
        name = f"worker-{socket.gethostname()}-{workers[0].pid}"
        until(lambda: _held(probe, name) > 0, "the first worker never held a bag")
        workers[0].kill()
        workers[0].wait()
        workers.append(_worker(url))
        processes.append(workers[-1])
        # kill -9 of the writer once it has written: a new one reads what the old one left
        until(lambda: lag(probe).written_events > 0, "nothing was written")
        writer.kill()
        writer.wait()
        writer = _writer(url, store)
        processes.append(writer)
        # a restart of redis-server while the capture processes still send
        assert any(c.poll() is None for c in captures), "the capture should still run when Redis restarts"
        probe.close()
        redis_server.restart(down_s=0.5)  # the append-only file brings the streams and groups back
        outputs = [c.communicate(timeout=240)[0] for c in captures]
        assert all(c.returncode == 0 for c in captures), outputs
        assert all("pending=0" in out and "rejected=0" in out for out in outputs), outputs
        wait_until_caught_up(url, timeout_s=240)
    finally:
        for p in processes:
            if p.poll() is None:
                p.terminate()
        for p in processes:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    emitted = _spooled(spools)
    assert len(emitted) == 8 and all(len(run) == 4 + 3 * (2 + 2 * 20) for run in emitted)
    reference: set[str] = set()
    for run in emitted:
        reference |= expected(run)
    kg = open_kg(store)
    try:
        assert data(kg) == reference  # every emitted event's quads, nothing else
        runs = kg.query("SELECT (COUNT(DISTINCT ?e) AS ?n) WHERE { ?e <http://www.w3.org/ns/prov#startedAtTime> ?t }")
        starts = kg.query("SELECT (COUNT(?t) AS ?n) WHERE { ?e <http://www.w3.org/ns/prov#startedAtTime> ?t }")
        assert next(iter(runs))[0] == next(iter(starts))[0]  # one start time per execution: none twice
    finally:
        kg.close()
    redis = connect(url)
    assert redis.xlen(DEAD) == 0
    assert lag(redis).written_events >= sum(len(run) for run in emitted)


def test_serve_with_a_broker_writes_what_workers_validated_and_shows_the_lag(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    import requests

    from provml.endpoint.server import close_server, make_server

    events = events_of("served")
    server, app = make_server({"STORE": str(tmp_path / "store")}, host="127.0.0.1", port=0, threads=2,
                              broker=redis_server.url)
    server.start()
    stop = threading.Event()
    worker = Worker(redis_server.url, block_s=0.1)
    worker_thread = threading.Thread(target=worker.run, args=(stop,))
    worker_thread.start()
    url = f"http://127.0.0.1:{server.effective_port}"
    try:
        send(redis_server.url, events)
        wait_until_caught_up(redis_server.url)
        health = requests.get(url + "/health", timeout=30).json()
        assert health["ok"] is True
        ingest = health["ingest"]
        assert ingest["written_events"] == len(events) and ingest["behind"] == 0
        assert ingest["writer_alive"] is True and ingest["writers"] == 1 and ingest["workers"] == 1
        answer = requests.post(url + "/sparql", data={"query": "ASK { ?s <http://www.w3.org/2000/01/rdf-schema#label> "
                                                               "\"served\" }"},
                               headers={"Accept": "application/sparql-results+json"}, timeout=30)
        assert answer.json()["boolean"] is True  # queryable through the same server
        page = requests.get(url + "/", timeout=30)
        assert page.status_code == 200 and 'id="ingest"' in page.text
        assert f"{len(events)} events written" in page.text and "1 worker(s) and 1 writer(s) active" in page.text
        home = requests.get(url + "/index.json", timeout=30).json()
        assert home["ingest"]["written_events"] == len(events)
    finally:
        stop.set()
        worker_thread.join(timeout=30)
        worker.close()
        close_server(server, app)
    redis_server.stop()  # Redis gone: /health says so instead of failing
    server, app = make_server({"STORE": str(tmp_path / "store")}, host="127.0.0.1", port=0, threads=2,
                              broker=redis_server.url)
    try:
        with app.test_client() as client:
            body = client.get("/health").get_json()
        assert body["ok"] is True and "cannot be reached" in body["ingest"]["error"]
    finally:
        from provml.endpoint.server import close_server

        close_server(server, app)


def test_a_stalled_broker_holds_no_request_thread_and_an_emptied_one_loses_no_writer(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """Redis stopped dead (SIGSTOP: connections hang, nothing refuses them): eight concurrent
    ``/health`` requests all answer within a few seconds, one of them asking Redis, the others
    with the last answer, and a query answers meanwhile (hostile probe, 17th session: the
    requests queued 2 s each on the lag's lock and held every thread). Then Redis loses its
    streams and groups (``FLUSHALL``, as a restart without its data): the served writer creates
    them again and writes what comes next (it ended for good on ``NOGROUP``)."""
    import signal
    from concurrent.futures import ThreadPoolExecutor

    import requests

    from provml.endpoint.server import close_server, make_server

    server, app = make_server({"STORE": str(tmp_path / "store")}, host="127.0.0.1", port=0, threads=4,
                              broker=redis_server.url)
    server.start()
    url = f"http://127.0.0.1:{server.effective_port}"
    stop = threading.Event()
    worker = Worker(redis_server.url, block_s=0.1)
    worker_thread = threading.Thread(target=worker.run, args=(stop,))
    try:
        assert "written_events" in requests.get(url + "/health", timeout=30).json()["ingest"]
        assert redis_server.process is not None
        redis_server.process.send_signal(signal.SIGSTOP)
        try:
            time.sleep(0.6)  # (past the lag's cache)

            def timed(path: str) -> float:
                started = time.monotonic()
                answer = requests.get(url + path, timeout=30)
                assert answer.status_code == 200
                if path == "/health":
                    assert answer.json()["ingest"].get("age_s", 0) >= 0  # (never from the future)
                return time.monotonic() - started

            with ThreadPoolExecutor(8) as pool:
                health = list(pool.map(timed, ["/health"] * 8))
            ask = timed("/sparql?query=ASK%7B%7D")
        finally:
            redis_server.process.send_signal(signal.SIGCONT)
        assert max(health) < 3.0 and ask < 3.0, (health, ask)

        redis = connect(redis_server.url)
        redis.flushall()  # the streams and the groups gone
        redis.close()
        worker_thread.start()
        events = events_of("after-flush")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # (the writer may be between two reads when it goes)
            send(redis_server.url, events[:2])
            time.sleep(0.5)
            if requests.get(url + "/health", timeout=30).json()["ingest"].get("written_events", 0) > 0:
                break
        send(redis_server.url, events)
        wait_until_caught_up(redis_server.url)
        time.sleep(0.6)
        ingest = requests.get(url + "/health", timeout=30).json()["ingest"]
        assert ingest["writer_alive"] is True and ingest["behind"] == 0, ingest
        answer = requests.get(url + "/sparql", params={"query": 'ASK { ?s <http://www.w3.org/2000/01/rdf-schema#label> "after-flush" }'},
                              headers={"Accept": "application/sparql-results+json"}, timeout=30)
        assert answer.json()["boolean"] is True
    finally:
        stop.set()
        if worker_thread.is_alive():
            worker_thread.join(timeout=30)
        worker.close()
        close_server(server, app)


def test_a_persistent_error_answer_is_logged_once_waited_out_and_recovered_from(
    redis_server: RedisServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Both streams turned into strings: every step of the worker and the writer gets a
    ``WRONGTYPE`` error answer. Each loop logs it once and backs off, instead of two lines a
    second without end (hostile probe, 17th session); once the keys are gone, the groups are
    created again, one line says the step went through, and the rest of the run is stored as
    the pipeline stores it."""
    import logging

    events = events_of("wrongtype", n_batches=40)
    kg = open_kg(tmp_path / "store")
    running = Running(redis_server.url, kg)
    try:
        send(redis_server.url, events[:100])
        wait_until_caught_up(redis_server.url)
        redis = connect(redis_server.url)
        caplog.set_level(logging.WARNING, logger="provml.ingest.streams")
        redis.delete(EVENTS, "provml:quads")
        redis.set(EVENTS, "not a stream")
        redis.set("provml:quads", "not a stream")
        time.sleep(4.0)  # (the loops stepped every 0.5 s before: 16 lines)
        wrongtype = [r for r in caplog.records if "WRONGTYPE" in r.getMessage()]
        assert 1 <= len(wrongtype) <= 2, [r.getMessage() for r in wrongtype]
        redis.delete(EVENTS, "provml:quads")
        redis.close()
        until(lambda: any("went through again" in r.getMessage() for r in caplog.records),
              "no loop said it went through again", timeout_s=30)
        send(redis_server.url, events[100:])
        wait_until_caught_up(redis_server.url)
    finally:
        running.close()
    stored = data(kg)
    kg.close()
    assert stored == expected(events)


def test_what_the_served_writer_stores_is_seen_by_the_next_read(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """The broker's writer tells the endpoint it wrote: the query workers open a fresh view and
    the result cache forgets older answers (before, a read before the ingest kept answering
    from the old data)."""
    import requests

    from provml.endpoint.server import close_server, make_server

    server, app = make_server({"STORE": str(tmp_path / "store"), "QUERY_WORKERS": 1},
                              host="127.0.0.1", port=0, threads=4, broker=redis_server.url)
    server.start()
    stop = threading.Event()
    worker = Worker(redis_server.url, block_s=0.1)
    worker_thread = threading.Thread(target=worker.run, args=(stop,))
    worker_thread.start()
    ask = {"query": 'ASK { ?s <http://www.w3.org/2000/01/rdf-schema#label> "fresh" }'}
    url = f"http://127.0.0.1:{server.effective_port}/sparql"
    try:
        for _ in range(2):  # the second one from the cache
            assert requests.get(url, params=ask, timeout=30).json()["boolean"] is False
        send(redis_server.url, events_of("fresh"))
        wait_until_caught_up(redis_server.url)
        assert requests.get(url, params=ask, timeout=30).json()["boolean"] is True
    finally:
        stop.set()
        worker_thread.join(timeout=30)
        worker.close()
        close_server(server, app)


def test_workers_write_a_remote_sparql_store_themselves(redis_server: RedisServer, remote_store: Any) -> None:
    events = events_of("remote-1") + events_of("remote-2")
    send(redis_server.url, events)
    stop = threading.Event()
    workers = [Worker(redis_server.url, store=remote_store, block_s=0.1, name=f"worker-remote-{i}") for i in range(2)]
    threads = [threading.Thread(target=w.run, args=(stop,)) for w in workers]
    for thread in threads:
        thread.start()
    try:
        wait_until_caught_up(redis_server.url)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        for worker in workers:
            worker.redis.close()  # (the remote store belongs to the fixture)
    assert data(KnowledgeGraph(remote_store)) == expected(events)
    assert lag(connect(redis_server.url)).written_events == len(events)
    assert sum(w.processed for w in workers) == 2  # one bag each or two for one: none twice


def test_ingest_worker_command_errors(tmp_path: Path) -> None:
    from click.testing import CliRunner
    from servers import free_port

    from provml.cli import main

    runner = CliRunner()
    both = runner.invoke(main, ["ingest-worker", "--broker", "redis://127.0.0.1:1/0", "--store", str(tmp_path / "s"),
                                "--endpoint", "http://127.0.0.1:1"])
    assert both.exit_code == 2 and "one of them" in both.output
    gone = runner.invoke(main, ["ingest-worker", "--broker", f"redis://127.0.0.1:{free_port()}/0",
                                "--store", str(tmp_path / "s"), "--connect-timeout-s", "0.5"])
    assert gone.exit_code == 2 and "cannot be used" in gone.output and "Connection refused" in gone.output
    # options that ran and failed later, or ran nothing and exited 0 (a probe, twenty-sixth session)
    base = ["ingest-worker", "--broker", "redis://127.0.0.1:1/0", "--store", str(tmp_path / "s")]
    for extra, said in ((["--claim-idle-s", "nan"], "--claim-idle-s"), (["--claim-idle-s", "-1"], "--claim-idle-s"),
                        (["--workers", "0", "--no-writer"], "nothing to run"),
                        (["--connect-timeout-s", "nan"], "--connect-timeout-s"),
                        (["--broker", "redis://127.0.0.1:1/abc"], "no database number")):
        bad = runner.invoke(main, [*base, *extra])
        assert bad.exit_code == 2 and said in bad.output, (extra, bad.output)
    # an endpoint no worker can open: said once, not a worker process ending again and again
    bad = runner.invoke(main, ["ingest-worker", "--broker", "redis://127.0.0.1:1/0",
                               "--endpoint", "nosuchlayout+http://127.0.0.1:1"])
    assert bad.exit_code == 2 and "unknown remote layout" in bad.output, bad.output


def test_a_bag_the_remote_store_could_not_take_stays_pending_and_is_written_later(
    redis_server: RedisServer, remote_store: Any
) -> None:
    from servers import free_port

    from provml.capture.broker import WORKERS
    from provml.store import RemoteStore

    events = events_of("later")
    send(redis_server.url, events)
    down = Worker(redis_server.url, store=RemoteStore(f"http://127.0.0.1:{free_port()}", timeout_s=2),
                  block_s=0.1, name="worker-down")
    assert down.step() == 1
    redis = connect(redis_server.url)
    assert redis.xpending(EVENTS, WORKERS)["pending"] == 1 and redis.xlen(DEAD) == 0
    down.redis.close()
    up = Worker(redis_server.url, store=remote_store, block_s=0.1, claim_idle_s=0.2, name="worker-up")
    time.sleep(0.3)
    up._claimed_at = 0.0
    assert up.step() == 1  # reclaimed (XAUTOCLAIM) and written
    up.redis.close()
    assert data(KnowledgeGraph(remote_store)) == expected(events)
    assert redis.xpending(EVENTS, WORKERS)["pending"] == 0


def test_a_redis_out_of_memory_makes_the_sink_unavailable(tmp_path: Path) -> None:
    from provml.capture.sinks import SinkUnavailable

    with RedisServer(tmp_path / "redis", extra_args=("--maxmemory", "2mb", "--maxmemory-policy", "noeviction")) as server:
        sink = RedisSink(server.url, max_backlog=0)
        big = [json.dumps({"pad": "x" * 10_000, "i": i}) for i in range(50)]
        with pytest.raises(SinkUnavailable, match="OOM|maxmemory"):
            for _ in range(100):
                sink.send(big)
        sink.close()
        # (what the client does with a bag its sink refuses: the test with an unreachable broker)


def test_a_worker_warms_up_before_its_first_bag(redis_server: RedisServer) -> None:
    from provml.events import _by_kind, _validator
    from provml.ingest.representatives import cached_profile
    from provml.ingest.validation import _compiled, _shapes_graph, default_shapes

    for cache in (_compiled, _shapes_graph, cached_profile, _by_kind, _validator):
        cache.cache_clear()
    worker = Worker(redis_server.url, block_s=0.05)
    try:
        worker.warm()
        shapes = tuple(str(p) for p in default_shapes())
        assert _shapes_graph.cache_info().currsize == 1 and cached_profile(shapes) is not None
        assert _compiled.cache_info().currsize == 1  # pyshacl-turbo is the default engine here
        assert worker.graph._closure is not None
        assert _by_kind.cache_info().currsize == 1 and _validator.cache_info().currsize == 1  # the event schema
        assert worker.processed == 0  # nothing was read from the stream
    finally:
        worker.close()


def test_the_writer_summarizes_infinite_and_huge_values_in_bags_of_any_order(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    # a loss of INF and one of -INF, or losses near the largest double, in one epoch: the
    # writer's summary update raised after the store had the bag, so the writer failed on the
    # same bag again after every restart; now it stores what the pipeline stores
    import math

    events = events_of("inf1", 4) + events_of("big1", 4)
    losses = iter([math.inf, -math.inf, 1.0, 2.0, 1e308, 1e308, 1e308, 1e308])
    for e in events:
        if e["kind"] == "cycle_end" and e.get("name") == "batch":
            e["generated"][0]["value"] = next(losses)
    bags = [events[i : i + 3] for i in range(0, len(events), 3)][::-1]  # reversed: epochs span bags
    for bag in bags:
        send(redis_server.url, bag)
    kg = open_kg(tmp_path / "store")
    running = Running(redis_server.url, kg)
    try:
        wait_until_caught_up(redis_server.url, timeout_s=30)
    finally:
        running.close()
    assert data(kg) == expected(events, bag=3)
    from provml.vocab import PROVML

    means = [float(q.object.value) for q in kg.store.quads() if q.predicate == PROVML.meanValue]
    assert any(math.isnan(m) for m in means) and 1e308 in means
    kg.close()


def _drain(url: str, kg: KnowledgeGraph) -> None:
    """One worker then the writer, each until its stream is empty (bags read 8 at a time)."""
    worker = Worker(url, block_s=0.05, max_backlog=0)  # alone: no writer reads its entries yet
    while worker.step():
        pass
    worker.close()
    writer = Writer(url, kg, block_s=0.05)
    while writer.step():
        pass
    writer.close()


def test_a_worker_takes_no_bags_while_the_writer_is_max_backlog_entries_behind(
        redis_server: RedisServer, tmp_path: Path) -> None:
    """Backpressure: a worker handing over to the writer stops taking bags once ``max_backlog``
    entries of provml:quads wait for the writer (on one machine the writer, the serial stage,
    then gets the cores; Redis holds a bounded backlog), and takes them again once the writer
    has caught up; the bags wait in provml:events meanwhile, and nothing is lost."""
    from provml.capture.broker import QUADS

    events = events_of("bp", n_batches=100)  # 204 events: 5 bags
    send(redis_server.url, events)
    redis = connect(redis_server.url)
    worker = Worker(redis_server.url, block_s=0.05, batch=1, max_backlog=2, pause_s=0.01)
    assert [worker.step() for _ in range(4)] == [1, 1, 0, 0]  # two entries wait: no third bag
    assert redis.xlen(QUADS) == 2
    assert lag(redis).unread_bags == 3
    kg = open_kg(tmp_path / "store")
    writer = Writer(redis_server.url, kg, block_s=0.05)
    assert writer.step() == 2
    assert worker.step() == 1  # caught up: bags are taken again
    for _ in range(10):
        worker.step()
        writer.step()
    state = lag(redis)
    assert (state.unread_bags, state.pending_bags, state.unwritten_quads) == (0, 0, 0)
    assert data(kg) == expected(events)
    worker.close()
    writer.close()
    redis.close()
    kg.close()


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="names threads through /proc (Linux)")
def test_the_writer_runs_the_stores_compactions_nicer_than_itself(redis_server: RedisServer, tmp_path: Path) -> None:
    """The writer of an on-disk store lowers the priority of RocksDB's compaction threads
    (``compaction_niceness``, 10 by default: under load they yield the cores to the pipeline);
    in a fresh process, as RocksDB's thread pool is the process's."""
    send(redis_server.url, events_of("nice", n_batches=30))
    code = textwrap.dedent(f"""
        import json, os
        from provml.ingest.worker import Worker
        from provml.ingest.writer import Writer
        from provml.knowledge import open_kg
        def nice():
            return sorted(os.getpriority(os.PRIO_PROCESS, int(t)) for t in os.listdir("/proc/self/task")
                          if open(f"/proc/self/task/{{t}}/comm").read().strip() == "rocksdb:low")
        kg = open_kg({str(tmp_path / "store")!r})
        before = nice()
        worker = Worker({redis_server.url!r}, block_s=0.05, max_backlog=0)
        while worker.step():
            pass
        writer = Writer({redis_server.url!r}, kg, block_s=0.05)
        written = writer.step()
        print(json.dumps([before, written, nice(), os.getpriority(os.PRIO_PROCESS, os.getpid())]))
        kg.close()
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120).stdout
    before, written, after, main = json.loads(out.strip().splitlines()[-1])
    assert written >= 1 and before and set(before) == {main}
    assert after == [min(19, main + 10)] * len(before)


def _sent_and_drained(url: str, bags: Sequence[list[dict[str, Any]]], store: Path) -> KnowledgeGraph:
    """``bags`` sent through the broker in order, and every one written to the store opened at
    ``store`` (returned open)."""
    sink = RedisSink(url)
    for bag in bags:
        sink.send([json.dumps(e) for e in bag])
    sink.close()
    kg = open_kg(store)
    _drain(url, kg)
    return kg


def test_a_later_bags_spec_gives_no_role_to_an_earlier_bag_read_with_it(redis_server: RedisServer, tmp_path: Path) -> None:
    """A worker runs the bags it reads at once as one batch, but a bag holding a spec starts a
    new one: a spec gives roles to its own bag and later ones, never to a bag before it (as
    ``provml load --together``), so the store is the one the bags make one by one."""
    from provml.vocab import PROVML

    first, spec_bag, later = spec_bags()
    kg = _sent_and_drained(redis_server.url, (first, spec_bag, later), tmp_path / "store")
    hyper = {q.subject.value.rsplit("/", 3)[-3] for q in kg.store.quads()
             if q.object == PROVML.LearningHyperparameterValue}
    assert hyper == {"train2"}  # the first bag's lr came before the spec: a plain value
    one_by_one = KnowledgeGraph(OxigraphStore())
    for bag in (first, spec_bag, later):
        one_by_one.ingest_events(bag)
    assert data(kg) == data(one_by_one)
    kg.close()


def test_the_writer_takes_quads_an_earlier_worker_handed_over_as_plain_n_quads(
        redis_server: RedisServer, tmp_path: Path) -> None:
    """Entries left in ``provml:quads`` by a worker of an earlier version (the field ``nq``: all
    quads as N-Quads, uncompressed) are written as the current ones are, the writer's stage
    links, summaries and the types hash included."""
    from pyoxigraph import RdfFormat, serialize

    from provml.capture.broker import QUADS, TYPES, WORKERS
    from provml.ingest.translation import translate

    events = events_of("old")
    producer = KnowledgeGraph(OxigraphStore())
    quads = producer.prepare_batch(translate(events, iris=producer.iris, roles=producer._role), links=False)
    redis = connect(redis_server.url)
    ensure_groups(redis)
    send(redis_server.url, events, bag=len(events))  # the bag, read by the earlier worker
    [(_stream, [(bag_id, _fields)])] = redis.xreadgroup(WORKERS, "worker-earlier", {EVENTS: ">"}, count=1)
    redis.xadd(QUADS, {"ids": json.dumps([bag_id.decode()]), "n": len(events), "ts": "[]",
                       "nq": serialize(quads, format=RdfFormat.N_QUADS)})
    kg = open_kg(tmp_path / "store")
    _drain(redis_server.url, kg)
    assert data(kg) == expected(events, bag=len(events))
    run = next(q.subject.value for q in quads if q.predicate.value.endswith("#wasInformedBy"))
    assert redis.hget(TYPES, run)  # the types of what it wrote, for the workers
    assert lag(redis).written_events == len(events)
    assert lag(redis).behind == 0  # the bag acknowledged
    redis.close()
    kg.close()


def test_the_writer_keeps_every_class_of_a_node_typed_in_entries_of_two_versions(
        redis_server: RedisServer, tmp_path: Path) -> None:
    """A node typed in two entries of one group gets the union of their classes in the types hash,
    sorted, whichever worker version wrote each entry (this version's classes come sorted and
    are passed through; an earlier one's, in the order of its quads)."""
    import zlib

    from pyoxigraph import NamedNode, Quad

    from provml.capture.broker import QUADS, TYPES
    from provml.ingest.handover import hand_over
    from provml.vocab import PROV, PROVML, RDF

    node = NamedNode("https://w3id.org/provml/id/run/r1/x")
    g = NamedNode("https://w3id.org/provml/id/graph/run/r1")
    redis = connect(redis_server.url)
    ensure_groups(redis)
    now = hand_over([Quad(node, RDF.type, PROVML.LearningStageExecution, g), Quad(node, RDF.type, PROV.Activity, g)])
    earlier = {**hand_over([Quad(node, RDF.type, PROV.Activity, g)]), "plan": b"1",
               "types": zlib.compress(json.dumps({node.value: f"{PROV.Entity.value} {PROV.Activity.value}"}).encode())}
    for fields in (now, earlier):
        redis.xadd(QUADS, {"ids": json.dumps(["0-1"]), "n": 0, "ts": "[]", **fields})
    kg = open_kg(tmp_path / "store")
    _drain(redis_server.url, kg)
    assert redis.hget(TYPES, node.value).decode().split() == sorted(
        [PROV.Activity.value, PROV.Entity.value, PROVML.LearningStageExecution.value])
    redis.close()
    kg.close()


def test_a_large_group_whose_write_fails_part_way_is_acknowledged_only_once_written_whole(
        redis_server: RedisServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On disk the writer bulk-loads a group (BULK_MIN_QUADS quads or more) on a thread of its own while
    it plans the group's links and summaries. A write that fails there (after storing part of
    the group, as the bulk loader may) fails the step: nothing is acknowledged, and the writer
    that takes the group again stores it whole, links and summaries included, nothing twice."""
    import provml.ingest.handover as handover

    events = [e for i in range(3) for e in events_of(f"big{i}", n_batches=200)]
    send(redis_server.url, events)
    w = Worker(redis_server.url, block_s=0.05)
    while w.step():
        pass
    w.close()
    kg = open_kg(tmp_path / "store")
    real = handover.load
    failed: list[int] = []

    def half_then_fail(store: Any, data: bytes, *, atomic: bool) -> None:
        lines = data.splitlines(keepends=True)
        if len(lines) >= 10_000 and not failed:
            failed.append(len(lines))
            real(store, b"".join(lines[: len(lines) // 2]), atomic=atomic)
            raise OSError("the disk went away")
        real(store, data, atomic=atomic)

    monkeypatch.setattr(handover, "load", half_then_fail)
    writer = Writer(redis_server.url, kg, block_s=0.05)
    with pytest.raises(OSError, match="went away"):
        while writer.step():
            pass
    writer.close()
    assert failed, "no group reached the bulk loader"
    redis = connect(redis_server.url)
    assert lag(redis).written_events < len(events) and lag(redis).behind > 0
    again = Writer(redis_server.url, kg, block_s=0.05)  # a restart: its own pending entries first
    while again.step():
        pass
    again.close()
    assert data(kg) == expected(events)
    assert lag(redis).written_events == len(events) and lag(redis).behind == 0
    redis.close()
    kg.close()


def test_a_spec_is_shared_between_workers_redacted(redis_server: RedisServer, tmp_path: Path) -> None:
    """A spec from a producer other than the capture client was copied into ``provml:specs`` as
    sent, its store's password and a description's DSN with it (an audit, twenty-first
    session); it is now shared as ingest reads it, and its roles still apply."""
    from provml.ingest.streams import SPECS
    from provml.vocab import PROVML

    first, spec_bag, later = spec_bags()
    spec = spec_bag[0]["spec"]
    spec["description"] = "reads postgresql://admin:hunter2@db/wells"
    spec["stores"] = [{"name": "wells", "url": "postgresql://db/wells", "password": "hunter2"}]
    kg = _sent_and_drained(redis_server.url, (first, spec_bag, later), tmp_path / "store")
    shared = connect(redis_server.url).hgetall(SPECS)
    assert list(shared) == [b"wf"] and b"hunter2" not in shared[b"wf"]
    hyper = {q.subject.value.rsplit("/", 3)[-3] for q in kg.store.quads()
             if q.object == PROVML.LearningHyperparameterValue}
    assert hyper == {"train2"}
    kg.close()


def test_no_bag_stops_a_worker_each_is_written_or_dead_lettered(redis_server: RedisServer, tmp_path: Path) -> None:
    """Bags that stopped a worker process (a probe, twenty-sixth session): a bag of non-objects
    (``AttributeError``), one nested too deep (``RecursionError``), a spec that is no spec
    (``SpecError``, taken for a store outage: redelivered forever, the bags read with it never
    written), an entry without a ``bag`` field (its events kept nowhere). Each is now
    dead-lettered with what is wrong, the good bags read with them are written, nothing stays
    pending; and the spec of a rejected bag gives later bags no roles (it was shared in Redis
    before the bag was checked)."""
    from provml.ingest.streams import SPECS
    from provml.vocab import PROVML

    first, spec_bag, later = spec_bags()
    spec_bag[0]["workflow"] = spec_bag[0]["spec"]["workflow"] = "wfx"  # a valid spec for wfx ...
    rejected_spec_bag = [*spec_bag, {"v": 1, "kind": "workflow_begin", "t": "bad", "run": "x1", "workflow": "wfx"}]
    for event in first + later:  # ... in a bag the format rejects; later bags of wfx get no role from it
        event["workflow"] = "wfx"
    good = events_of("r1", n_batches=2)
    redis = connect(redis_server.url)
    ensure_groups(redis)
    entries: list[dict[str, Any]] = [
        {"bag": json.dumps(good)},
        {"bag": "[1, 2]"},
        {"bag": "[" * 5000 + "]" * 5000},
        {"bag": json.dumps([{"v": 1, "kind": "spec", "t": 0, "run": "s1", "workflow": "wfs", "spec": {}}])},
        {"events": json.dumps(first), "n": 2},
        {"bag": json.dumps(rejected_spec_bag)},
        {"bag": json.dumps(first)},
        {"bag": json.dumps(later)},
    ]
    for fields in entries:
        redis.xadd(EVENTS, fields)
    kg = open_kg(tmp_path / "store")
    _drain(redis_server.url, kg)  # one worker step reads all eight bags together
    dead = [fields for _id, fields in redis.xrange(DEAD)]
    errors = [json.loads(fields[b"report"])["error"] for fields in dead]
    assert errors == ["EventError", "RecursionError", "EventError", "ValueError", "EventError"]
    no_bag = json.loads(dead[3][b"report"])["message"]
    assert "no 'bag' field" in no_bag and "events, n" in no_bag
    assert json.loads(dead[3][b"entry:events"]) == first  # what it carried is kept
    assert not redis.xpending(EVENTS, WORKERS)["pending"]
    assert expected(good) <= data(kg)
    assert redis.hget(SPECS, "wfx") is None
    roles = {q.subject.value for q in kg.store.quads()
             if q.object == PROVML.LearningHyperparameterValue and "/run/r/" in q.subject.value}
    assert not roles  # lr of wfx stays a plain value, as provml load stores it
    assert any(q.subject.value.endswith("/train2") for q in kg.store.quads())  # the later bags were written
    kg.close()


def test_the_writers_groups_grow_to_half_the_entries_written(redis_server: RedisServer, tmp_path: Path) -> None:
    """Each group takes up to half the quads entries the writer has written so far, between
    ``batch`` and ``batch_most`` (at 10^6 events larger groups halve the compactions); the store
    is the one the bags make one by one, and the CLI's ``--max-backlog`` lets the workers hand
    over as many entries as the largest group takes."""
    from click.testing import CliRunner

    from provml.cli import main
    from provml.ingest.streams import GROUP, GROUP_FIRST, GROUP_MOST

    events = events_of("r1", n_batches=40)
    send(redis_server.url, events, bag=2)
    worker = Worker(redis_server.url, block_s=0.05, batch=1, max_backlog=0)  # one entry a bag
    while worker.step():
        pass
    worker.close()
    kg = open_kg(tmp_path / "store")
    writer = Writer(redis_server.url, kg, block_s=0.05, batch=2, batch_most=5)
    sizes = []
    while taken := writer.step():
        sizes.append(taken)
    writer.close()
    assert len(sizes) >= 9 and sizes[:6] == [2, 2, 2, 3, 4, 5] and set(sizes[6:-1]) == {5}
    assert data(kg) == expected(events, bag=2)
    kg.close()
    assert Writer.__init__.__kwdefaults__["batch"] == GROUP_FIRST
    assert Writer.__init__.__kwdefaults__["batch_most"] == GROUP_MOST
    default = next(p.default for p in main.commands["ingest-worker"].params if p.name == "max_backlog")
    assert default == GROUP_FIRST == Worker.__init__.__kwdefaults__["max_backlog"]
    assert str(GROUP_MOST) in CliRunner().invoke(main, ["ingest-worker", "--help"]).output
    def backlog(most: int) -> int:
        one = Worker(redis_server.url, max_backlog=most)
        try:
            return one.backlog()
        finally:
            one.close()

    def group(kg: KnowledgeGraph) -> int:
        one = Writer(redis_server.url, kg, batch=2, batch_most=256)
        try:
            return one.group_size()
        finally:
            one.close()

    # the writer says its next group, and a worker lets that many entries wait for it
    redis = connect(redis_server.url)
    assert int(redis.get(GROUP)) == 5
    assert backlog(3) == 5 and backlog(9) == 9
    # a writer started again (on a store its groups had grown with) goes on from the group said
    with open_kg(tmp_path / "again") as again:
        assert group(again) == 5
        redis.set(GROUP, "100")
        assert group(again) == 100
        redis.set(GROUP, "not a number")
        assert backlog(3) == 3 and group(again) == 2


def test_ingest_worker_starts_a_worker_process_again_when_one_ends(redis_server: RedisServer, tmp_path: Path) -> None:
    """A worker process killed (out of memory, a signal, a fault) is started again: before, the
    command went on with none and said nothing, or, without the writer, exited 0 (a probe,
    twenty-sixth session). The new one takes the bags."""
    import os
    import signal

    from provml.capture.broker import QUADS
    from provml.ingest.processes import run

    stop = threading.Event()
    thread = threading.Thread(target=run, args=(redis_server.url,), daemon=True,
                              kwargs={"store": tmp_path / "store", "writer": False, "stop": stop, "workers": 1})
    thread.start()
    redis = connect(redis_server.url)
    try:
        until(lambda: alive(redis)["workers"], "the worker process started")
        first = alive(redis)["workers"][0]
        os.kill(int(first.rsplit("-", 1)[1]), signal.SIGKILL)
        until(lambda: [w for w in alive(redis)["workers"] if w != first], "a worker process started again")
        send(redis_server.url, events_of("r1", n_batches=2))
        until(lambda: redis.xlen(QUADS) > 0, "the new worker handed the bag over")
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()


def test_a_worker_process_that_cannot_be_started_is_tried_again() -> None:
    """``_watch`` ended at the first start that failed (out of memory or processes), and then
    started no worker again (a review, twenty-sixth session)."""
    from provml.ingest import processes

    class Child:
        def __init__(self, alive: bool) -> None:
            self.alive, self.pid, self.exitcode = alive, 1, None if alive else -9

        def is_alive(self) -> bool:
            return self.alive

    tries: list[str] = []

    def spawn() -> Child:
        tries.append("try")
        if len(tries) == 1:
            raise OSError("[Errno 12] Cannot allocate memory")
        return Child(alive=True)

    children: list[Any] = [Child(alive=False)]
    stop = threading.Event()
    watcher = threading.Thread(target=processes._watch, args=(children, spawn, stop), daemon=True)
    watcher.start()
    until(lambda: children[0].is_alive(), "a worker started after a start that failed", timeout_s=30)
    stop.set()
    watcher.join(timeout=10)
    assert len(tries) == 2 and not watcher.is_alive()


def test_what_a_worker_leaves_pending_and_what_it_rejects() -> None:
    """A fault of the store or the network leaves the bag pending (tried again); a bag's own
    fault rejects it; a Redis error goes up to the worker's loop. Before the review of the
    twenty-sixth session an answer cut off mid-body or a remote answer that did not parse
    dead-lettered good bags."""
    import http.client

    import redis as redis_module

    from provml.errors import RemoteError
    from provml.ingest.worker import _outage

    for fault in (OSError("reset"), RemoteError("down", url="u", status=0, body=""), MemoryError(),
                  http.client.IncompleteRead(b"")):
        assert _outage(fault, remote=True) and _outage(fault, remote=False), fault
    assert _outage(SyntaxError("answer"), remote=True) and not _outage(SyntaxError("x"), remote=False)
    for fault in (ValueError("bag"), KeyError("k"), TypeError("t"), AttributeError("a"), RecursionError(),
                  EventError(index=0, kind="?", field="f", rule="r")):
        assert not _outage(fault, remote=True), fault
    with pytest.raises(redis_module.ConnectionError):
        _outage(redis_module.ConnectionError("gone"), remote=False)


def test_a_bags_spec_is_shared_while_the_bag_is_checked_and_taken_back_when_rejected(
        redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Shared only after the check, a spec gave no roles to the bags another worker took in
    those milliseconds (a review, twenty-sixth session); shared before it and kept, a rejected
    bag's spec gave later bags roles (a probe). Now it is shared before the check, and taken
    back — the spec before it restored — when the bag is rejected."""
    from provml.ingest.streams import SPECS
    from provml.ingest.worker import _BrokerGraph

    _first, spec_bag, _later = spec_bags()
    redis = connect(redis_server.url)
    redis.hset(SPECS, "wf", json.dumps({"workflow": "wf"}))  # an earlier spec of the workflow
    graph = _BrokerGraph(redis, None)
    seen: list[Any] = []

    def checked(events: Any, **_: Any) -> None:
        seen.append(json.loads(redis.hget(SPECS, "wf")))
        raise ValidationFailed(results=1)

    monkeypatch.setattr(graph, "ingest_events", checked)
    with pytest.raises(ValidationFailed):
        graph.prepare(spec_bag)
    assert seen[0]["transformations"]  # shared while the bag was checked
    assert json.loads(redis.hget(SPECS, "wf")) == {"workflow": "wf"}  # the one before, back


def test_the_writers_largest_group_is_an_option_of_both_commands(
        redis_server: RedisServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--writer-group-most`` caps the writer's groups (its memory follows the largest: ≈ 1.8 GB
    at 256 draining 10^6 events); no option did (a review, twenty-sixth session). Below the
    first group it is the first group too; ``provml serve --broker`` takes it as well."""
    import signal

    from click.testing import CliRunner

    from provml.cli import main
    from provml.endpoint.server import close_server, make_server
    from provml.ingest import processes
    from provml.ingest.streams import GROUP_FIRST, GROUP_MOST

    for command in ("ingest-worker", "serve"):
        option = next(p for p in main.commands[command].params if p.name == "writer_group_most")
        assert option.default == GROUP_MOST
    seen: list[tuple[int, int]] = []
    monkeypatch.setattr(signal, "signal", lambda *_args: None)  # (not this test process's handlers)
    monkeypatch.setattr(Writer, "run", lambda self, stop=None: seen.append((self.batch, self.batch_most)))
    processes.run(redis_server.url, store=tmp_path / "a", workers=0, group_most=16)
    processes.run(redis_server.url, store=tmp_path / "b", workers=0, group_most=100)
    processes.run(redis_server.url, store=tmp_path / "c", workers=0)
    assert seen == [(16, 16), (GROUP_FIRST, 100), (GROUP_FIRST, GROUP_MOST)]
    monkeypatch.undo()
    server, app = make_server({"STORE": str(tmp_path / "d")}, host="127.0.0.1", port=0, threads=2,
                              broker=redis_server.url, writer_group_most=8)
    try:
        writer = app.extensions["provml.broker"].writer
        assert (writer.batch, writer.batch_most) == (8, 8)
    finally:
        close_server(server, app)
    code = CliRunner().invoke(main, ["ingest-worker", "--broker", redis_server.url, "--store", str(tmp_path / "e"),
                                     "--writer-group-most", "0"]).exit_code
    assert code == 2



def test_the_writers_linger_is_an_option_of_both_commands(
        redis_server: RedisServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--writer-linger-s`` (its default the library's) reaches the writer of ``provml
    ingest-worker`` and of ``provml serve --broker``: an operator who wants each event
    queryable at once sets 0."""
    import signal

    from click.testing import CliRunner

    from provml.cli import main
    from provml.endpoint.server import close_server, make_server
    from provml.ingest import processes
    from provml.ingest.streams import WRITER_LINGER_S

    for command in ("ingest-worker", "serve"):
        option = next(p for p in main.commands[command].params if p.name == "writer_linger_s")
        assert option.default == WRITER_LINGER_S
    seen: list[float] = []
    monkeypatch.setattr(signal, "signal", lambda *_args: None)  # (not this test process's handlers)
    monkeypatch.setattr(Writer, "run", lambda self, stop=None: seen.append(self.linger_s))
    processes.run(redis_server.url, store=tmp_path / "a", workers=0, linger_s=0.0)
    processes.run(redis_server.url, store=tmp_path / "b", workers=0)
    assert seen == [0.0, WRITER_LINGER_S]
    monkeypatch.undo()
    server, app = make_server({"STORE": str(tmp_path / "d")}, host="127.0.0.1", port=0, threads=2,
                              broker=redis_server.url, writer_linger_s=0.125)
    try:
        assert app.extensions["provml.broker"].writer.linger_s == 0.125
    finally:
        close_server(server, app)
    code = CliRunner().invoke(main, ["ingest-worker", "--broker", redis_server.url, "--store", str(tmp_path / "e"),
                                     "--writer-linger-s", "-1"]).exit_code
    assert code == 2

def test_a_spec_shared_with_a_prefixed_domain_concept_still_gives_its_roles(
    redis_server: RedisServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A spec shared in ``provml:specs`` before prefixed domain concepts were refused (twenty-
    seventh session) did not load in the workers: its roles were lost, and Redis was asked for
    it again at every value (a review). Its roles apply, that concept left out, with a warning."""
    from provml.ingest.streams import SPECS
    from provml.vocab import PROVML

    first, spec_bag, later = spec_bags()
    spec = spec_bag[0]["spec"]
    spec["transformations"][0]["used"][0]["domain_concept"] = "oilgas:LearningRate"
    connect(redis_server.url).hset(SPECS, "wf", json.dumps(spec))
    with caplog.at_level("WARNING", logger="provml.ingest.spec"):
        kg = _sent_and_drained(redis_server.url, (first, later), tmp_path / "store")
    hyper = {q.subject.value.rsplit("/", 3)[-3] for q in kg.store.quads()
             if q.object == PROVML.LearningHyperparameterValue}
    assert hyper == {"train", "train2"}
    assert "oilgas:LearningRate" in caplog.text and "does not load" not in caplog.text
    kg.close()
