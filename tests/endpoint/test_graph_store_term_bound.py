"""The Graph Store holds a body's terms to the bound of ``provml.store.term_bound``: a ``PUT``
or ``POST`` holding a literal past 7 MiB as written (or an IRI past 1 MiB of characters) is 413
naming the term, its size and the bound, and the store is unchanged. Before, it was stored
(201), and a JSON-LD export of the store could not be read back. A literal of more than 1 MiB of
characters within the bound is stored and served back whole."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from pyoxigraph import Literal, NamedNode, Quad, RdfFormat, parse, serialize

from provml.events import MAX_TEXT, MAX_WRITTEN, written_size
from provml.knowledge import KnowledgeGraph

G = "http://example.org/graph/long"
S, P = NamedNode("http://example.org/s"), NamedNode("http://example.org/p")
OVER = "\n" * (MAX_WRITTEN // 2 + 1)
WITHIN = "\x01" * (MAX_WRITTEN // 6)


def _body(*objects: Literal | NamedNode) -> bytes:
    return serialize([Quad(S, P, o) for o in objects], format=RdfFormat.N_TRIPLES)


@pytest.mark.parametrize("method", ["put", "post"])
def test_a_literal_past_the_bound_is_413_and_the_store_is_unchanged(client: FlaskClient, kg: KnowledgeGraph,
                                                                    auth: dict[str, str], method: str) -> None:
    headers = {**auth, "Content-Type": "application/n-triples"}
    assert client.put("/store", query_string={"graph": G}, data=_body(Literal("before")),
                      headers=headers).status_code == 201
    before = set(kg.store.quads())
    response = getattr(client, method)("/store", query_string={"graph": G},
                                       data=_body(Literal("fine"), Literal(OVER)), headers=headers)
    assert response.status_code == 413, response.get_data(as_text=True)[:500]
    body = response.get_json()
    assert body["ok"] is False and (body["size"], body["limit"]) == (written_size(OVER), MAX_WRITTEN)
    assert "the object of a quad about <http://example.org/s>" in body["error"] and "7,340,032" in body["error"]
    assert set(kg.store.quads()) == before


def test_an_iri_past_the_bound_is_413(client: FlaskClient, kg: KnowledgeGraph, auth: dict[str, str]) -> None:
    long_iri = NamedNode("http://example.org/" + "x" * MAX_TEXT)
    response = client.post("/store", query_string={"graph": G}, data=_body(long_iri),
                           headers={**auth, "Content-Type": "application/n-triples"})
    assert response.status_code == 413
    assert (response.get_json()["size"], response.get_json()["limit"]) == (len(long_iri.value), MAX_TEXT)
    assert not kg.store.contains_graph(NamedNode(G))


def test_a_long_literal_within_the_bound_is_stored_and_served_back(client: FlaskClient, auth: dict[str, str]) -> None:
    assert len(WITHIN) > MAX_TEXT
    assert client.put("/store", query_string={"graph": G}, data=_body(Literal(WITHIN)),
                      headers={**auth, "Content-Type": "application/n-triples"}).status_code == 201
    got = client.get("/store", query_string={"graph": G}, headers={"Accept": "application/n-triples"})
    assert [q.object.value for q in parse(got.data, format=RdfFormat.N_TRIPLES)] == [WITHIN]
