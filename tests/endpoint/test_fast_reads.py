"""The lean path for ``GET /sparql?query=`` answers exactly as the Flask view does: the same
bodies and headers, the same refusals in the one error shape, and it steps aside for anything
else (read token, CORS, other parameters)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from pyoxigraph import Literal, NamedNode, Quad

from provml.endpoint.app import create_app
from provml.endpoint.fast_reads import FastReads
from provml.knowledge import KnowledgeGraph
from provml.store import open_store

EX = "http://example.org/"

CASES: dict[str, tuple[dict[str, Any], dict[str, str]]] = {
    "select as JSON": ({"query": "SELECT ?s ?o WHERE { ?s ?p ?o } ORDER BY ?o"}, {}),
    "select as CSV": ({"query": "SELECT ?s ?o WHERE { ?s ?p ?o } ORDER BY ?o"}, {"Accept": "text/csv"}),
    "cut at the row limit": ({"query": "SELECT * WHERE { ?s ?p ?o }"}, {}),
    "ask": ({"query": "ASK { ?s ?p 3 }"}, {}),
    "construct as JSON-LD": ({"query": "CONSTRUCT WHERE { ?s ?p ?o }"}, {"Accept": "application/ld+json"}),
    "FROM": ({"query": f"SELECT (COUNT(*) AS ?n) FROM <{EX}g> WHERE {{ ?s ?p ?o }}"}, {}),
    "syntax error": ({"query": "SELECT * WHERE {"}, {}),
    "syntax error as HTML": ({"query": "SELECT * WHERE {"}, {"Accept": "text/html"}),
    "too deep": ({"query": "SELECT * WHERE " + "{" * 100 + "}" * 100}, {}),
    "SERVICE": ({"query": "SELECT * WHERE { SERVICE <http://127.0.0.1:9/> { ?s ?p ?o } }"}, {}),
    "no acceptable format": ({"query": "ASK {}"}, {"Accept": "text/turtle"}),
    "past the time limit": ({"query": "SELECT * WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i "
                                      "FILTER(STR(?c) = CONCAT(STR(?f), STR(?i), 'x')) }"}, {}),
}


@pytest.fixture(scope="module", params=["thread", "process"])
def clients(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[FlaskClient, FlaskClient]]:
    """The same on-disk data behind an app with the lean path and one without."""
    apps, kgs = [], []
    for fast in (True, False):
        path: Path = tmp_path_factory.mktemp("fast") / "kg"
        kg = KnowledgeGraph(open_store(path))
        kg.store.add([Quad(NamedNode(f"{EX}s{i}"), NamedNode(f"{EX}p"), Literal(i),
                           NamedNode(f"{EX}g")) for i in range(200)])
        app = create_app({"TIMEOUT_S": 1, "MAX_ROWS": 50, "FAST_READS": fast,
                          "QUERY_ISOLATION": request.param, "QUERY_WORKERS": 2}, kg=kg)
        assert isinstance(app.wsgi_app, FastReads) is fast
        apps.append(app)
        kgs.append(kg)
    yield apps[0].test_client(), apps[1].test_client()
    for app, kg in zip(apps, kgs, strict=True):
        app.extensions["provml.close"]()
        kg.close()


_COMPARED = ("Content-Type", "Vary", "X-Provml-Truncated", "Retry-After")


@pytest.mark.parametrize("case", list(CASES))  # the time limit last: it kills a worker
def test_the_lean_path_answers_as_the_flask_view(
        clients: tuple[FlaskClient, FlaskClient], case: str) -> None:
    params, headers = CASES[case]
    fast, flask = (c.get("/sparql", query_string=params, headers=headers) for c in clients)
    assert fast.status_code == flask.status_code, (fast.get_data(as_text=True)[:300],
                                                   flask.get_data(as_text=True)[:300])
    assert {h: fast.headers.get(h) for h in _COMPARED} == {h: flask.headers.get(h) for h in _COMPARED}
    assert fast.get_data() == flask.get_data()
    if fast.status_code >= 400 and fast.is_json:
        assert fast.get_json()["ok"] is False and fast.get_json()["status"] == fast.status_code


def test_the_lean_path_steps_aside_for_tokens_cors_and_other_parameters(tmp_path: Path) -> None:
    kg = KnowledgeGraph(open_store())
    app = create_app({"READ_TOKEN": "r", "CORS_ORIGINS": "https://ui.example.org"}, kg=kg)
    try:
        client = app.test_client()
        assert client.get("/sparql", query_string={"query": "ASK {}"}).status_code == 401
        ok = client.get("/sparql", query_string={"query": "ASK {}"},
                        headers={"Authorization": "Bearer r", "Origin": "https://ui.example.org"})
        assert ok.status_code == 200
        assert ok.headers["Access-Control-Allow-Origin"] == "https://ui.example.org"
        # a repeated parameter: the view's own refusal
        twice = client.get("/sparql?query=ASK%7B%7D&query=ASK%7B%7D",
                           headers={"Authorization": "Bearer r"})
        assert twice.status_code == 400 and "2 times" in twice.get_json()["error"]
    finally:
        app.extensions["provml.close"]()
        kg.close()


@pytest.fixture(params=["thread", "process"])
def cached(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FlaskClient]:
    """An app over on-disk data with the result cache on (its default) and a write token."""
    kg = KnowledgeGraph(open_store(tmp_path / "kg"))
    kg.store.add([Quad(NamedNode(f"{EX}s{i}"), NamedNode(f"{EX}p"), Literal(i),
                       NamedNode(f"{EX}g")) for i in range(3)])
    app = create_app({"TOKEN": "w", "QUERY_ISOLATION": request.param, "QUERY_WORKERS": 1,
                      "RESULT_CACHE_MB": 32}, kg=kg)
    try:
        yield app.test_client()
    finally:
        app.extensions["provml.close"]()
        kg.close()


COUNT = {"query": "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"}


def _count(response: Any) -> int:
    return int(response.get_json()["results"]["bindings"][0]["n"]["value"])


def test_a_repeated_read_is_answered_from_the_cache_until_the_next_write(cached: FlaskClient) -> None:
    first = cached.get("/sparql", query_string=COUNT)
    again = cached.get("/sparql", query_string=COUNT)
    assert "X-Provml-Cache" not in first.headers and again.headers["X-Provml-Cache"] == "hit"
    assert again.get_data() == first.get_data() and _count(first) == 3
    assert again.headers["Content-Type"] == first.headers["Content-Type"]
    # another format is another entry
    csv = cached.get("/sparql", query_string=COUNT, headers={"Accept": "text/csv"})
    assert "X-Provml-Cache" not in csv.headers and csv.get_data() == b"n\r\n3\r\n"
    # a write through the endpoint: the next read sees it
    wrote = cached.post("/sparql", data={"update": f"INSERT DATA {{ <{EX}new> <{EX}p> 9 }}"},
                        headers={"Authorization": "Bearer w"})
    assert wrote.status_code == 204, wrote.get_data(as_text=True)
    after = cached.get("/sparql", query_string=COUNT)
    assert "X-Provml-Cache" not in after.headers and _count(after) == 4
    assert cached.get("/sparql", query_string=COUNT).headers["X-Provml-Cache"] == "hit"
    csv = cached.get("/sparql", query_string=COUNT, headers={"Accept": "text/csv"})
    assert "X-Provml-Cache" not in csv.headers and csv.get_data() == b"n\r\n4\r\n"


def test_refusals_and_errors_are_never_kept(cached: FlaskClient) -> None:
    for params in ({"query": "SELECT * WHERE {"},
                   {"query": "SELECT * WHERE " + "{" * 100 + "}" * 100}):
        for _ in range(2):
            answer = cached.get("/sparql", query_string=params)
            assert answer.status_code == 400 and "X-Provml-Cache" not in answer.headers


@pytest.mark.parametrize(("value", "differs"), [("STRUUID()", True), ("STR(rand())", True),
                                               ("STR(UUID ())", True), ("STR(NOW())", False),
                                               ("isBlank(BNODE())", False)])
def test_answers_that_change_between_evaluations_are_never_kept(
        cached: FlaskClient, value: str, differs: bool) -> None:
    query = {"query": f"SELECT ({value} AS ?v) (COUNT(*) AS ?n) WHERE {{ ?s ?p ?o }}"}
    answers = [cached.get("/sparql", query_string=query) for _ in range(3)]
    assert all(a.status_code == 200 and "X-Provml-Cache" not in a.headers for a in answers)
    if differs:  # NOW() may repeat within a clock tick; isBlank(BNODE()) is always true
        assert len({a.get_json()["results"]["bindings"][0]["v"]["value"] for a in answers}) == 3


def test_the_cache_can_be_turned_off_and_is_on_by_default() -> None:
    app = create_app({"RESULT_CACHE_MB": 0})
    try:
        client = app.test_client()
        for _ in range(2):
            assert "X-Provml-Cache" not in client.get("/sparql", query_string=COUNT).headers
    finally:
        app.extensions["provml.close"]()
    # an app that opens its own store keeps answers by default
    app = create_app({})
    try:
        client = app.test_client()
        client.get("/sparql", query_string=COUNT)
        assert client.get("/sparql", query_string=COUNT).headers["X-Provml-Cache"] == "hit"
    finally:
        app.extensions["provml.close"]()


@pytest.mark.parametrize("where", ["in memory", "thread", "process"])
def test_writes_by_the_owner_of_a_graph_passed_in_reach_every_read(tmp_path: Path, where: str) -> None:
    """The owner writes the store directly, never through the endpoint: the next read — lean,
    cached, through Flask, in a worker process with its own view of the store, and the VoID
    counts — sees each write (before, worker processes kept answering from their old view)."""
    kg = KnowledgeGraph(open_store(None if where == "in memory" else tmp_path / "kg"))
    config = {} if where == "in memory" else {"QUERY_ISOLATION": where, "QUERY_WORKERS": 1}
    app = create_app(config, kg=kg)
    try:
        client = app.test_client()
        for n in range(3):
            lean = client.get("/sparql", query_string=COUNT)
            again = client.get("/sparql", query_string=COUNT)
            form = client.post("/sparql", data=COUNT)
            assert (_count(lean), _count(again), _count(form)) == (n, n, n)
            assert "X-Provml-Cache" not in lean.headers and again.headers["X-Provml-Cache"] == "hit"
            void = client.get("/.well-known/void", headers={"Accept": "application/n-triples"})
            assert f'"{n}"^^<http://www.w3.org/2001/XMLSchema#integer>' in void.get_data(as_text=True)
            kg.store.add([Quad(NamedNode(f"{EX}a{n}"), NamedNode(f"{EX}p"), Literal(n),
                               NamedNode(f"{EX}g"))])
    finally:
        app.extensions["provml.close"]()
        kg.close()


def test_the_cache_stays_within_its_bytes_and_forgets_older_versions() -> None:
    from provml.endpoint.sparql.cache import ResultCache
    from provml.endpoint.sparql.results import Rendered

    cache = ResultCache(max_bytes=64 * 1024)
    body = b"x" * 1000
    for i in range(500):
        cache.put((f"q{i}", None, "http://h"), 0, Rendered(200, "solutions", "t", body))
        assert cache.size <= cache.max_bytes
    assert 0 < len(cache) < 500
    assert cache.get(("q499", None, "http://h"), 0) is not None  # the newest stays
    assert cache.get(("q0", None, "http://h"), 0) is None  # the oldest went first
    # one answer over an eighth of the whole is not kept; nor a refusal
    cache.put(("big", None, "http://h"), 0, Rendered(200, "solutions", "t", b"x" * 9000))
    cache.put(("no", None, "http://h"), 0, Rendered(406, "solutions"))
    assert cache.get(("big", None, "http://h"), 0) is None
    assert cache.get(("no", None, "http://h"), 0) is None
    # an answer evaluated before a write arrives after one stored since: dropped
    cache.put(("new", None, "http://h"), 2, Rendered(200, "solutions", "t", b"2"))
    assert len(cache) == 1  # the first entry of version 2 dropped every older one
    cache.put(("old", None, "http://h"), 1, Rendered(200, "solutions", "t", b"1"))
    assert cache.get(("old", None, "http://h"), 1) is None and len(cache) == 1
