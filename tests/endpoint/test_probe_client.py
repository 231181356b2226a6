"""A hostile client of the real endpoint over a loopback socket (a probe after the result cache
and the store generations landed): inputs that got a 5xx where the client was at fault, answers
kept or served that must not be. Each test failed before its fix."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from endpoint_servers import AUTH, TOKEN, LiveServer, start_live_server
from pyoxigraph import Literal, NamedNode, Quad

from provml.knowledge import KnowledgeGraph
from provml.store import open_store

EX = "http://example.org/"


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """Live servers over on-disk stores holding three triples in one named graph."""
    stops: list[Callable[[], None]] = []
    graphs: list[KnowledgeGraph] = []

    def make(**config: Any) -> LiveServer:
        kg = KnowledgeGraph(open_store(tmp_path / f"kg{len(graphs)}"))
        graphs.append(kg)
        kg.store.add([Quad(NamedNode(f"{EX}s{i}"), NamedNode(f"{EX}p"), Literal(i),
                           NamedNode(f"{EX}g")) for i in range(3)])
        live, stop = start_live_server({"TOKEN": TOKEN, "TIMEOUT_S": 20, "QUERY_WORKERS": 1,
                                        **config}, kg)
        stops.append(stop)
        return live

    yield make
    for stop in stops:
        stop()
    for kg in graphs:
        kg.close()


def _refused(response: Any, status: int) -> str:
    assert response.status_code == status, (response.status_code, response.text[:300])
    body = response.json()
    assert body["ok"] is False and body["status"] == status
    return str(body["error"])


FUNCTION = f"<{EX}no-such-function>"
UNKNOWN_CALLS = {
    "select": f"SELECT ?r WHERE {{ BIND({FUNCTION}(1) AS ?r) }}",
    "filter": f"SELECT ?s WHERE {{ ?s ?p ?o FILTER({FUNCTION}(?o)) }}",
    "aggregate": f"SELECT ({FUNCTION}(?o) AS ?a) WHERE {{ ?s ?p ?o }}",
    "order": f"SELECT ?s WHERE {{ ?s ?p ?o }} ORDER BY {FUNCTION}(?o)",
}


@pytest.mark.parametrize("isolation", ["process", "thread"])
def test_a_call_of_a_function_the_store_does_not_know_is_a_400_naming_it(
        make_server: Callable[..., LiveServer], isolation: str) -> None:
    """``<iri>(…)`` of a function Oxigraph does not implement is the client's error: it was a
    503 "retry later" with worker processes and a 500 without (pyoxigraph's RuntimeError)."""
    live = make_server(QUERY_ISOLATION=isolation)
    for shape, query in UNKNOWN_CALLS.items():
        for response in (live("GET", "/sparql", params={"query": query}),
                         live("POST", "/sparql", data={"query": query})):
            error = _refused(response, 400)
            assert FUNCTION in error, (shape, error)
    update = f"INSERT {{ <{EX}a> <{EX}b> ?r }} WHERE {{ BIND({FUNCTION}(1) AS ?r) }}"
    after = f"INSERT DATA {{ <{EX}x> <{EX}y> 1 }} ; {update}"  # tried on a backup first
    for text in (update, after):
        error = _refused(live("POST", "/sparql", data={"update": text}, headers=AUTH), 400)
        assert FUNCTION in error
    assert len(live.store) == 3  # nothing written
    assert live("GET", "/health").status_code == 200
