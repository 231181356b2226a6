"""Attacks on the result cache of plain ``GET /sparql?query=`` reads and on the log, over a real
loopback socket (a probe of the code that landed with the cache): answers that change between
evaluations kept through a comment, answers of an older store view kept under the new
version, remote answers kept past a change there, the cache's memory past its bound, and
forged access-log lines."""

from __future__ import annotations

import functools
import logging
import threading
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from endpoint_servers import AUTH, LiveServer, start_live_server

from provml.endpoint.context import RUNNER_KEY
from provml.knowledge import KnowledgeGraph
from provml.store import open_store

EX = "http://example.org/"
COUNT = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"


@pytest.fixture
def on_disk(make_disk_server: Callable[..., LiveServer]) -> Callable[..., LiveServer]:
    """Live servers over on-disk stores (queries in worker processes), result cache on."""
    return functools.partial(make_disk_server, RESULT_CACHE_MB=8)


def _count(live: LiveServer, query: str = COUNT) -> tuple[int, str | None]:
    response = live("GET", "/sparql", params={"query": query}, headers={"Accept": "text/csv"})
    assert response.status_code == 200, response.text
    return int(response.text.split()[1]), response.headers.get("X-Provml-Cache")


@pytest.mark.parametrize("call", ["STRUUID #x\n ()", "UUID\t# a comment ( here\r\n()",
                                  "RAND #\n#\n ()"])
def test_a_comment_between_a_volatile_function_and_its_parenthesis_keeps_it_uncached(
        on_disk: Callable[..., LiveServer], call: str) -> None:
    live = on_disk()
    query = f"SELECT (STR({call}) AS ?v) WHERE {{}}"
    answers = [live("GET", "/sparql", params={"query": query}) for _ in range(3)]
    assert all(a.status_code == 200 for a in answers), answers[0].text
    assert [a.headers.get("X-Provml-Cache") for a in answers] == [None] * 3
    assert len({a.json()["results"]["bindings"][0]["v"]["value"] for a in answers}) == 3


def test_the_volatile_scan_is_linear_on_runs_of_comment_signs_and_names() -> None:
    """A name followed by a comment counts as a call, unread: each name of ``#NOW #NOW …``
    read the comment to its line's end (64 KB: 4 s; regex audit, 18th session)."""
    import time

    from provml.endpoint.sparql.cache import repeatable

    started = time.monotonic()
    assert repeatable("SELECT ?now WHERE { ?now ?p ?o } #" + "#" * 100_000)
    assert not repeatable("SELECT (NOW" + "#" * 100_000 + "\n() AS ?t) {}")
    assert not repeatable("SELECT * WHERE { } " + "#NOW " * 13_000)
    assert time.monotonic() - started < 1.0


def test_a_read_during_a_write_never_keeps_the_old_view_under_the_new_version(
        on_disk: Callable[..., LiveServer]) -> None:
    """While a write tells the query workers and the cache, a read in between must not leave
    the answer of the workers' old view as the answer after the write."""
    live = on_disk()
    runner = live.app.extensions[RUNNER_KEY]
    assert runner.isolated and _count(live) == (3, None)  # the worker's view is open
    telling, told = threading.Event(), threading.Event()
    tell = runner.processes.changed

    def slow_tell() -> None:  # the moment between the two counters, widened (to at most 1 s:
        telling.set()          # a read that sees the store's new generation waits for the
        told.wait(1.0)         # telling to end, and only then reads; one that does not, reads now)
        tell()

    runner.processes.changed = slow_tell
    update = f"INSERT DATA {{ <{EX}new> <{EX}p> 9 }}"
    write = threading.Thread(target=lambda: requests.post(
        live.url + "/sparql", data={"update": update}, headers=AUTH, timeout=30))
    write.start()
    try:
        assert telling.wait(20)
        _count(live)  # a read in that moment: whatever it sees, it must not outlive the write
    finally:
        told.set()
        write.join(30)
    assert _count(live)[0] == 4
    assert _count(live) == (4, "hit")


def test_answers_from_a_remote_service_are_not_kept(tmp_path: Path, remote_store: Any) -> None:
    """SERVICE (to a prefix the operator allows) reads data this endpoint never sees written:
    its answer must not be kept until this endpoint's next write."""
    kg = KnowledgeGraph(open_store(tmp_path / "kg"))
    live, stop = start_live_server({"TIMEOUT_S": 20, "RESULT_CACHE_MB": 8,
                                    "ALLOW_REMOTE": [remote_store.query_url]}, kg)
    try:
        query = f"SELECT (COUNT(*) AS ?n) WHERE {{ SERVICE <{remote_store.query_url}> {{ ?s ?p ?o }} }}"
        assert _count(live, query) == (0, None)
        remote_store.update(f"INSERT DATA {{ <{EX}far> <{EX}p> 'over there' }}")
        assert _count(live, query) == (1, None)
    finally:
        stop()
        kg.close()


@pytest.mark.parametrize("char", ["x", "\u00e9", "\U0001f600"])
def test_the_cache_holds_to_its_bytes_in_memory(char: str) -> None:
    """The bound is on memory: many small answers of long queries (characters outside ASCII
    take 2 or 4 bytes each in Python) stay within it."""
    import pickle

    from provml.endpoint.sparql.cache import ResultCache
    from provml.endpoint.sparql.results import Rendered

    cache = ResultCache(max_bytes=2 * 1024 * 1024)
    answer = pickle.dumps(Rendered(200, "boolean", "application/sparql-results+json; charset=utf-8",
                                   b'{"head": {}, "boolean": false}'))
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(3_000):
            text = f"ASK {{ FILTER('{i}{char * 1000}' = 1) }}"  # as the URL's query decodes
            cache.put((text, None, f"http://127.0.0.1:{7878}"), 0, pickle.loads(answer))
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(cache) > 100
    assert held <= 1.1 * cache.max_bytes, f"{held / cache.max_bytes:.2f} x the bound"


def test_many_small_answers_stay_within_the_bound() -> None:
    from provml.endpoint.sparql.cache import ResultCache
    from provml.endpoint.sparql.results import Rendered

    cache = ResultCache(max_bytes=1024 * 1024)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(40_000):
            cache.put((f"ASK {{ FILTER({i} = 1) }}", None, f"http://127.0.0.1:{7878}"), 0,
                      Rendered(200, "boolean", "application/sparql-results+json; charset=utf-8",
                               b'{"head": {}, "boolean": false}'))
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held <= 1.1 * cache.max_bytes, f"{held / cache.max_bytes:.2f} x the bound"


@pytest.mark.parametrize("path", ["/x%0A2026-12-05 07:00:00,000 provml.endpoint DELETE /store 204",
                                  "/a%0D%1B[2Kforged", "/sparql%E2%80%A8x"])
def test_the_log_keeps_one_line_per_request(make_live_server: Callable[..., LiveServer],
                                           caplog: pytest.LogCaptureFixture, path: str) -> None:
    """No request (no token needed) can start a line of its own in the server log (forged
    access lines) or send terminal escapes to whoever reads it."""
    live = make_live_server()
    with caplog.at_level(logging.INFO, logger="provml.endpoint"):
        response = requests.get(live.url + path, timeout=30)
        assert response.status_code == 404
        requests.get(live.url + "/health", timeout=30)  # the line before is written by now
    lines = [r.getMessage() for r in caplog.records if r.name == "provml.endpoint"]
    assert any("forged" in line or "DELETE" in line or "sparql" in line for line in lines)
    for line in lines:
        assert not any(c in line for c in "\n\r\x1b\u2028\u2029"), repr(line)


@pytest.mark.parametrize("query", [
    "CONSTRUCT { <http://e/a> <http://e/b> <<( <http://e/a> <http://e/b> <http://e/c> )>> } WHERE {}",
    "CONSTRUCT { <http://e/a> <http://e/b> ?t } WHERE { BIND(TRIPLE(<http://e/a>, <http://e/b>, 1) AS ?t) }",
])
@pytest.mark.parametrize("extra", [{}, {"default-graph-uri": EX + "g"}])  # lean path, Flask view
def test_a_graph_with_triple_terms_asked_as_json_ld_is_refused_as_a_format(
        make_live_server: Callable[..., LiveServer], query: str, extra: dict[str, str]) -> None:
    """JSON-LD cannot write a triple term: the client is told which formats can (406), no
    5xx that says the query failed and to retry."""
    live = make_live_server()
    asked = live("GET", "/sparql", params={"query": query, **extra},
                 headers={"Accept": "application/ld+json"})
    assert asked.status_code == 406, asked.text
    assert "text/turtle" in asked.json()["error"] and "ld+json" not in asked.json()["error"]
    either = live("GET", "/sparql", params={"query": query, **extra},
                  headers={"Accept": "application/ld+json, text/turtle;q=0.5"})
    assert either.status_code == 200 and either.headers["Content-Type"].startswith("text/turtle")
    assert "<<(" in either.text


def test_only_the_first_ranges_of_a_huge_accept_header_are_read(
        make_live_server: Callable[..., LiveServer]) -> None:
    """Any client may send ~48 KB of media ranges; reading them all cost ~0.2 s of the
    server's CPU at each negotiation (a dozen such clients slowed every request): only the
    first ``MAX_RANGES`` count."""
    from provml.endpoint.negotiation import MAX_RANGES, accept

    noise = ",".join(f"x/y{i};q=0.{i % 9 + 1}" for i in range(3500))
    assert len(accept(noise)) == MAX_RANGES
    live = make_live_server()
    first = live("GET", "/sparql", params={"query": "ASK {}"},
                 headers={"Accept": "text/csv, application/sparql-results+xml," + noise})
    assert first.status_code == 200 and "xml" in first.headers["Content-Type"]
    late = live("GET", "/sparql", params={"query": "ASK {}"},
                headers={"Accept": noise + ",application/sparql-results+xml"})
    assert late.status_code == 406 and late.json()["status"] == 406


def test_a_log_call_whose_arguments_do_not_fit_is_left_to_the_handler() -> None:
    """The one-line filter reads each message: a message whose arguments do not fit is left
    to the handler (which reports it, as logging does), never raised at the caller."""
    from provml.endpoint.errors import OneLine

    record = logging.LogRecord("provml.endpoint", logging.INFO, "", 0, "%s %s", ("one",), None)
    assert OneLine().filter(record) is True
