"""Requests refused before any work is done on them: a ``Host`` whose port is beyond 65535 (it
was taken into the base IRI of the query), and a query whose form has no format the ``Accept``
header allows (a ``DESCRIBE`` asked for as SPARQL results was evaluated first, then answered
406)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from endpoint_servers import LiveServer, raw_get
from flask import Flask

from provml.endpoint.app import create_app
from provml.endpoint.sparql import evaluation
from provml.knowledge import KnowledgeGraph


@pytest.mark.parametrize("fast", [True, False], ids=["lean path", "flask path"])
def test_a_host_port_beyond_65535_is_a_400_in_the_error_shape(
        make_live_server: Callable[..., LiveServer], fast: bool) -> None:
    live = make_live_server({"FAST_READS": fast})
    for host in ("x:99999", "x:0099999", "x:65536", "[::1]:70000", "x:" + "9" * 5000):
        status, body = raw_get(live, "/sparql?query=ASK%7B%7D", host)
        assert status == 400, (host[:20], body[:300])
        assert b'"ok": false' in body.replace(b'"ok":false', b'"ok": false')
        assert b"Host" in body and b"65535" in body, body[:300]
    for host in ("x:65535", "x:0", "x:080", "[::1]:8080", "x"):  # ports up to 65535 are served
        status, body = raw_get(live, "/sparql?query=ASK%7B%7D", host)
        assert status == 200, (host, body[:300])
    for host in ("x:99999", "evil>x"):  # /health makes no base IRI of the header (docs/endpoint.md)
        status, body = raw_get(live, "/health", host)
        assert status == 200 and b'"ok"' in body, (host, body[:300])


EX = "http://example.org/"

#: (query, an Accept its form has no format in)
REFUSED = [
    (f"DESCRIBE <{EX}s>", "application/sparql-results+json"),
    (f"CONSTRUCT {{ <{EX}s> <{EX}p> ?o }} WHERE {{ VALUES ?o {{ 1 }} }}",
     "application/sparql-results+xml, text/csv"),
    ("PREFIX ex: <http://example.org/> # a prologue and a comment first\nDESCRIBE ex:s",
     "application/sparql-results+xml"),
    ("SELECT * WHERE { ?s ?p ?o }", "text/turtle"),
    ("ASK {}", "text/csv"),  # CSV is for SELECT only
]


@pytest.fixture
def counted(kg: KnowledgeGraph, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Flask, list[str]]]:
    """An app over a real in-memory store, and the queries it evaluated (each call of
    ``evaluation.evaluate``, what every query evaluated in the server process goes through)."""
    calls: list[str] = []
    real = evaluation.evaluate

    def evaluate(store: Any, sparql: str, **kwargs: Any) -> Any:
        calls.append(sparql)
        return real(store, sparql, **kwargs)

    monkeypatch.setattr(evaluation, "evaluate", evaluate)
    app = create_app({"TIMEOUT_S": 10}, kg=kg)
    yield app, calls
    app.extensions["provml.close"]()


@pytest.mark.parametrize("how", ["GET", "POST"], ids=["lean path", "flask path"])
@pytest.mark.parametrize(("query", "accept"), REFUSED, ids=[q.split()[0] + " " + a[:20]
                                                            for q, a in REFUSED])
def test_a_query_whose_form_has_no_acceptable_format_is_refused_before_evaluation(
        counted: tuple[Flask, list[str]], how: str, query: str, accept: str) -> None:
    app, calls = counted
    client = app.test_client()
    if how == "GET":
        response = client.get("/sparql", query_string={"query": query},
                              headers={"Accept": accept})
    else:
        response = client.post("/sparql", data=query, content_type="application/sparql-query",
                               headers={"Accept": accept})
    assert response.status_code == 406, response.data[:300]
    body = response.get_json()
    assert body["ok"] is False and body["status"] == 406
    assert "no acceptable format" in body["error"]
    assert calls == []  # nothing evaluated
    # the same query with an acceptable format is evaluated, once
    response = client.get("/sparql", query_string={"query": query})
    assert response.status_code == 200 and len(calls) == 1


def test_a_client_that_takes_the_error_shape_gets_its_syntax_error_first(
        counted: tuple[Flask, list[str]]) -> None:
    """HTML, plain text or JSON in ``Accept`` (a browser): the query is parsed first (pyoxigraph
    parses only as it evaluates), so that a syntax error is the answer; a SPARQL client that
    asked for the wrong form's format gets the 406 before any parse."""
    app, calls = counted
    client = app.test_client()
    broken = "DESCRIBE <http://example.org/s> {"
    for accept, status in (("text/html", 400), ("application/json", 400), ("text/plain", 400),
                           ("application/sparql-results+json", 406)):
        response = client.get("/sparql", query_string={"query": broken}, headers={"Accept": accept})
        assert response.status_code == status, (accept, response.data[:300])
    assert len(calls) == 3
    # a well-formed query asked for only so is evaluated, then refused, as before
    response = client.get("/sparql", query_string={"query": "DESCRIBE <http://example.org/s>"},
                          headers={"Accept": "text/html"})
    assert response.status_code == 406 and len(calls) == 4


def test_a_slow_describe_asked_for_as_results_is_a_406_at_once_from_the_workers(
        make_disk_server: Callable[..., LiveServer]) -> None:
    """Over an on-disk store (queries in worker processes): a DESCRIBE that would run past the
    time limit (503 after it, before) is refused at once."""
    live = make_disk_server(TIMEOUT_S=3)
    values = " ".join(str(i) for i in range(200))
    slow = (f"DESCRIBE ?a WHERE {{ VALUES ?a {{ {values} }} VALUES ?b {{ {values} }} "
            f"VALUES ?c {{ {values} }} VALUES ?d {{ {values} }} FILTER(?a + ?b + ?c + ?d < 0) }}")
    for method in ("GET", "POST"):
        started = time.monotonic()
        if method == "GET":
            response = live("GET", "/sparql", params={"query": slow},
                            headers={"Accept": "application/sparql-results+json"})
        else:
            response = live("POST", "/sparql", data=slow.encode(),
                            headers={"Accept": "application/sparql-results+json",
                                     "Content-Type": "application/sparql-query"})
        elapsed = time.monotonic() - started
        assert response.status_code == 406, response.text[:300]
        assert response.json()["status"] == 406
        assert elapsed < 2, elapsed
    assert live("GET", "/sparql", params={"query": "ASK {}"}).status_code == 200


def test_long_accept_headers_are_not_kept() -> None:
    """The kinds an ``Accept`` header refuses were kept for its last 256 values whatever their
    length: 256 headers of 60 KiB held 18 MiB (a review). Only headers of at most 256
    characters are kept, as ``best_match`` keeps its parses; a long one is answered alike."""
    from provml.endpoint.sparql.results import _refused_kinds, refused_unevaluated

    _refused_kinds.cache_clear()
    long = "application/sparql-results+json, " + ", ".join(f"x/y{i}" for i in range(6_000))
    refused = refused_unevaluated("DESCRIBE <http://e.org/a>", long)
    assert refused is not None and refused.status == 406
    assert _refused_kinds.cache_info().currsize == 0
    assert refused_unevaluated("DESCRIBE <http://e.org/a>", "application/sparql-results+json") is not None
    assert _refused_kinds.cache_info().currsize == 1
