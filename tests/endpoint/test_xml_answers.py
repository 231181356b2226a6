"""XML that would not be XML is never served (hostile probe and review, 17th session): a
literal holding a control character XML 1.0 cannot carry, on every route that writes XML —
SPARQL results, named queries, resource pages' RDF/XML, the Graph Store. The client's next
acceptable format is served instead; with none, 406 says why. (Over a real socket and with a
property IRI RDF/XML cannot split: ``test_hostile.py``.)"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from test_events_api import RUN_IRI, batch

from provml.endpoint.app import create_app
from provml.knowledge import KnowledgeGraph
from provml.store import open_store

RUNS = {"run_a": RUN_IRI, "run_b": RUN_IRI}
XML_RESULTS = "application/sparql-results+xml"


@pytest.fixture
def app() -> Iterator[Flask]:
    kg = KnowledgeGraph(open_store())
    events = batch()
    events[1]["used"].append({"name": "optimizer", "role": "hyperparameter", "value": "a\x01b"})
    kg.ingest_events(events)
    application = create_app({"TOKEN": "t"}, kg=kg)
    yield application
    application.extensions["provml.close"]()
    kg.close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def _refused(response: object) -> str:
    assert response.status_code == 406, response.get_data()[:300]  # type: ignore[attr-defined]
    error = response.get_json()["error"]  # type: ignore[attr-defined]
    assert "XML 1.0 cannot carry" in error
    return str(error)


def test_named_queries(client: FlaskClient) -> None:
    assert "format=json" in _refused(client.get("/api/queries/compare_runs", query_string={**RUNS, "format": "xml"}))
    answer = client.get("/api/queries/compare_runs", query_string=RUNS,
                        headers={"Accept": f"{XML_RESULTS}, application/sparql-results+json;q=0.5"})
    assert answer.status_code == 200 and answer.content_type.startswith("application/sparql-results+json")
    assert "a\x01b" in answer.get_data(as_text=True).encode().decode("unicode_escape")


def test_sparql_results_and_construct(client: FlaskClient) -> None:
    select = "SELECT ?v WHERE { ?x <http://www.w3.org/ns/prov#value> ?v }"
    _refused(client.get("/sparql", query_string={"query": select}, headers={"Accept": XML_RESULTS}))
    answer = client.get("/sparql", query_string={"query": select},
                        headers={"Accept": f"{XML_RESULTS}, text/csv;q=0.5"})
    assert answer.status_code == 200 and "a\x01b" in answer.get_data(as_text=True)


def test_resource_pages_and_the_graph_store(client: FlaskClient) -> None:
    assert ".ttl" in _refused(client.get("/id/run/ev-1/train/used/optimizer.rdf"))
    graph = quote("https://w3id.org/provml/id/bundle/ev-1", safe="")
    _refused(client.get(f"/store?graph={graph}", headers={"Accept": "application/rdf+xml"}))
    answer = client.get(f"/store?graph={graph}", headers={"Accept": "application/rdf+xml, text/turtle;q=0.5"})
    assert answer.status_code == 200 and answer.content_type.startswith("text/turtle")


def test_json_ld_compaction_cannot_write_is_served_expanded_not_a_500(client: FlaskClient) -> None:
    """An IRI whose scheme is a prefix of the context (``oilgas:Well_16_2``, ``skos:thing``) made
    JSON-LD compaction fail: a 500 for any reader's CONSTRUCT, Graph Store GET or page of a graph
    holding one (a probe and a review, twenty-seventh session). Such an answer is written
    expanded (JSON-LD all the same: a client that asked for no profile takes either)."""
    query = "CONSTRUCT { <oilgas:Well_16_2> <http://ex.org/p> 1 } WHERE {}"
    answer = client.get("/sparql", query_string={"query": query}, headers={"Accept": "application/ld+json"})
    assert answer.status_code == 200, answer.get_data()[:300]
    assert answer.get_json()[0]["@id"] == "oilgas:Well_16_2"
    written = client.post("/store", query_string={"graph": "http://ex.org/g"}, data=b"<skos:thing> <http://ex.org/p> 'x' .",
                          headers={"Content-Type": "text/turtle", "Authorization": "Bearer t"})
    assert written.status_code in (200, 201, 204), written.get_data()[:300]
    graph = client.get("/store", query_string={"graph": "http://ex.org/g"}, headers={"Accept": "application/ld+json"})
    assert graph.status_code == 200, graph.get_data()[:300]
    nodes = [n for top in graph.get_json() for n in top.get("@graph", [top])]
    assert [node["@id"] for node in nodes] == ["skos:thing"]
