"""A hostile client of the real endpoint over a loopback socket (a probe after the result cache
and the store generations landed): inputs that got a 5xx where the client was at fault, answers
kept or served that must not be. Each test failed before its fix."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from endpoint_servers import AUTH, LiveServer
from pyoxigraph import Literal, NamedNode, Quad

EX = "http://example.org/"


def _refused(response: Any, status: int) -> str:
    assert response.status_code == status, (response.status_code, response.text[:300])
    body = response.json()
    assert body["ok"] is False and body["status"] == status
    return str(body["error"])


FUNCTION = f"<{EX}no-such-function>"
XSD_INTEGER = "<http://www.w3.org/2001/XMLSchema#integer>"
UNKNOWN_CALLS = {
    "select": f"SELECT ?r WHERE {{ BIND({FUNCTION}(1) AS ?r) }}",
    "filter": f"SELECT ?s WHERE {{ ?s ?p ?o FILTER({FUNCTION}(?o)) }}",
    "aggregate": f"SELECT ({FUNCTION}(?o) AS ?a) WHERE {{ ?s ?p ?o }}",
    "order": f"SELECT ?s WHERE {{ ?s ?p ?o }} ORDER BY {FUNCTION}(?o)",
    "cast with two arguments": f"SELECT ({XSD_INTEGER}(1, 2) AS ?x) WHERE {{}}",
    "cast with none": f"SELECT ?x WHERE {{ BIND({XSD_INTEGER}() AS ?x) }}",
}


@pytest.mark.parametrize("isolation", ["process", "thread"])
def test_a_call_of_a_function_the_store_does_not_know_is_a_400_naming_it(
        make_disk_server: Callable[..., LiveServer], isolation: str) -> None:
    """``<iri>(…)`` of a function Oxigraph does not implement is the client's error: it was a
    503 "retry later" with worker processes and a 500 without (pyoxigraph's RuntimeError)."""
    live = make_disk_server(QUERY_ISOLATION=isolation)
    for shape, query in UNKNOWN_CALLS.items():
        for response in (live("GET", "/sparql", params={"query": query}),
                         live("POST", "/sparql", data={"query": query})):
            error = _refused(response, 400)
            assert (XSD_INTEGER if "cast" in shape else FUNCTION) in error, (shape, error)
    update = f"INSERT {{ <{EX}a> <{EX}b> ?r }} WHERE {{ BIND({FUNCTION}(1) AS ?r) }}"
    after = f"INSERT DATA {{ <{EX}x> <{EX}y> 1 }} ; {update}"  # tried on a backup first
    for text in (update, after):
        error = _refused(live("POST", "/sparql", data={"update": text}, headers=AUTH), 400)
        assert FUNCTION in error
    assert len(live.store) == 3  # nothing written
    assert live("GET", "/health").status_code == 200


def _log_bytes(store_dir: Path) -> int:
    """The bytes of the store's newest write-ahead log file (RocksDB's ``NNNNNN.log``): what a
    fresh read-only view of the store replays before its first query."""
    logs = sorted(store_dir.glob("*.log"), key=lambda path: int(path.stem))
    return logs[-1].stat().st_size if logs else 0


def test_writes_keep_the_log_each_worker_view_replays_short(
        make_disk_server: Callable[..., LiveServer], tmp_path: Path) -> None:
    """Every read after a write opens a fresh view of the store in a worker process, which
    replays the write-ahead log: all writes since RocksDB last flushed its memtables (128 MiB
    each, so gigabytes). 170 MB of it made every read take 5-7 s and, under a 256 MiB worker
    cap, end its worker (400 for ``ASK``). Writes through the endpoint now keep it short."""
    live = make_disk_server()
    store_dir = tmp_path / "kg0"
    for k in range(20):  # ~4 MB of bodies, ~60 MB of log before the fix
        body = "".join(f"<{EX}a{i}> <{EX}p> \"value {i} of put {k}\" .\n" for i in range(3000))
        response = live("PUT", f"/store?graph={EX}g{k % 3}", data=body,
                        headers={**AUTH, "Content-Type": "text/turtle"})
        assert response.status_code in (201, 204), response.text
    assert live("GET", "/sparql", params={"query": "ASK { ?s ?p ?o }"}).json()["boolean"]
    assert _log_bytes(store_dir) < 12 * 1024 * 1024  # ~8 MB a flush


def test_concurrent_puts_of_one_graph_leave_one_of_them(
        make_disk_server: Callable[..., LiveServer]) -> None:
    """A Graph Store PUT replaces the graph (drop, then add): two PUTs at once interleaved
    their steps and left the union of both bodies (11 of 15 rounds of three PUTs held 900
    triples, not 300). Writes through the endpoint now take turns."""
    import threading

    graph = f"{EX}replaced"
    query = f"SELECT ?s WHERE {{ GRAPH <{graph}> {{ ?s ?p ?o }} }}"
    live = make_disk_server()
    for _ in range(8):
        barrier = threading.Barrier(3)
        statuses: list[int] = []

        def put(tag: str, barrier: threading.Barrier = barrier,
                statuses: list[int] = statuses) -> None:
            body = "".join(f"<{EX}{tag}{i}> <{EX}p> {i} .\n" for i in range(300))
            with requests.Session() as session:
                barrier.wait()
                statuses.append(session.put(
                    f"{live.url}/store", params={"graph": graph}, data=body, timeout=30,
                    headers={**AUTH, "Content-Type": "text/turtle"}).status_code)

        threads = [threading.Thread(target=put, args=(tag,)) for tag in "xyz"]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(statuses) in ([201, 204, 204], [204, 204, 204]), statuses
        rows = live("GET", "/sparql", params={"query": query}).json()["results"]["bindings"]
        tags = {row["s"]["value"][len(EX)] for row in rows}
        assert len(rows) == 300 and len(tags) == 1, (len(rows), tags)


@pytest.mark.parametrize("isolation", ["process", "thread"])
def test_updates_on_a_missing_or_existing_graph_are_400_and_change_nothing(
        make_disk_server: Callable[..., LiveServer], isolation: str) -> None:
    """SPARQL 1.1 Update: ``DROP``/``CLEAR``/``MOVE`` of a missing graph and ``CREATE`` of an
    existing one fail unless ``SILENT``. Oxigraph's error for it was a 500 (an operation after
    it with a ``WHERE``, tried on a backup first: 503)."""
    live = make_disk_server(QUERY_ISOLATION=isolation)
    missing, existing = f"<{EX}missing>", f"<{EX}g>"
    before = set(live.store.quads())
    for update in (f"DROP GRAPH {missing}", f"CLEAR GRAPH {missing}",
                   f"MOVE {missing} TO <{EX}other>", f"CREATE GRAPH {existing}",
                   f"INSERT DATA {{ <{EX}new> <{EX}p> 1 }} ; DROP GRAPH {missing}",
                   f"DROP GRAPH {missing} ; INSERT {{ <{EX}new> <{EX}p> ?o }} "
                   f"WHERE {{ ?s ?p ?o }}"):
        error = _refused(live("POST", "/sparql", data={"update": update}, headers=AUTH), 400)
        assert (missing in error or existing in error) and "SILENT" in error, (update, error)
    assert set(live.store.quads()) == before
    assert live("POST", "/sparql", data={"update": f"DROP SILENT GRAPH {missing}"},
                headers=AUTH).status_code == 204


def test_head_of_a_query_answers_as_its_get(make_disk_server: Callable[..., LiveServer]) -> None:
    """``HEAD`` is ``GET`` without the body (RFC 9110 §9.3.2): ``HEAD /sparql?query=`` was a
    415 (read as a POST without a media type) where its GET was a 200."""
    live = make_disk_server()
    for params in ({"query": "ASK { ?s ?p ?o }"}, {"query": "ASK {"}, {}):
        got, head = live("GET", "/sparql", params=params), live("HEAD", "/sparql", params=params)
        assert head.status_code == got.status_code, (params, head.status_code, got.status_code)
        assert head.headers["Content-Type"] == got.headers["Content-Type"]
        assert head.content == b""


def test_a_worker_ending_while_it_opens_its_view_is_not_the_querys_fault(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """RocksDB aborts now and then when a read-only view opens beside a writer that flushes
    (``std::bad_alloc`` in 2 of ~750 reads during writes): the query got a 400 saying it
    needs more memory. A worker that ends before its view is open now hands the query to
    another worker. Here the worker is killed while it replays a long log."""
    import os
    import signal
    import threading
    import time

    import provml.store.oxigraph as oxigraph
    from provml.endpoint.sparql.isolation import QueryProcesses
    from provml.store.oxigraph import OxigraphStore

    monkeypatch.setattr(oxigraph, "FLUSH_QUADS", 10**9)  # the long log this test needs: no early flush
    store = OxigraphStore(tmp_path / "kg")
    processes = QueryProcesses(str(store.path), workers=1, memory_mb=None)
    try:
        assert processes.run("ASK { ?s ?p ?o }", timeout_s=60).boolean is False
        for k in range(40):  # ~24 MB of log, unflushed: the next view takes ~1 s to open
            store.add([Quad(NamedNode(f"{EX}s{k}-{i}"), NamedNode(f"{EX}p"),
                            Literal(f"value {i} of batch {k}")) for i in range(2000)])
        processes.changed()
        first = processes._all[0].process.pid
        killed: list[float] = []

        def kill() -> None:
            os.kill(first, signal.SIGKILL)
            killed.append(time.monotonic())

        killer = threading.Timer(0.3, kill)
        killer.start()
        outcome = processes.run("ASK { ?s ?p ?o }", timeout_s=60)
        answered = time.monotonic()
        killer.join()
        assert killed and killed[0] < answered, "the view opened before the kill: grow the log"
        assert outcome.boolean is True
    finally:
        processes.close()
        store.close()
