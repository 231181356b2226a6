"""CONSTRUCT answers in JSON-LD are compacted with the ontologies' context, as exports and
resource pages are; the JSON-LD ``profile`` asks for the expanded form (JSON-LD 1.1 §9)."""

from __future__ import annotations

import json

from endpoint_servers import LiveServer
from pyoxigraph import NamedNode, Quad, RdfFormat, parse

from provml.vocab import PROVML, PROVML_NS, RDF

RUN = NamedNode("https://w3id.org/provml/id/run/r1")
QUERY = "CONSTRUCT WHERE { ?s ?p ?o }"


def _ask(live: LiveServer, accept: str) -> tuple[str, bytes]:
    response = live("GET", "/sparql", params={"query": QUERY}, headers={"Accept": accept})
    assert response.status_code == 200, response.text
    return response.headers["Content-Type"], response.content


def test_construct_as_jsonld_is_compacted_and_the_expanded_profile_is_honoured(
    live_server: LiveServer,
) -> None:
    live_server.store.add([Quad(RUN, RDF.type, PROVML.WorkflowExecution, NamedNode("urn:g"))])
    kind, body = _ask(live_server, "application/ld+json")
    assert kind.startswith("application/ld+json")
    doc = json.loads(body)
    assert doc["@context"]["provml"] == PROVML_NS
    assert doc["@type"] == "provml:WorkflowExecution"

    _, expanded = _ask(live_server, 'application/ld+json;profile="http://www.w3.org/ns/json-ld#expanded"')
    items = json.loads(expanded)
    assert isinstance(items, list) and "@context" not in json.dumps(items)
    # both forms hold the same triple
    for text in (body, expanded):
        triples = {(q.subject, q.predicate, q.object) for q in parse(text, format=RdfFormat.JSON_LD)}
        assert triples == {(RUN, RDF.type, PROVML.WorkflowExecution)}


def test_graph_store_get_as_jsonld_is_compacted_too(live_server: LiveServer) -> None:
    live_server.store.add([Quad(RUN, RDF.type, PROVML.WorkflowExecution, NamedNode("urn:g"))])
    for path, params in (("/store", {"graph": "urn:g"}), ("/store", {})):
        response = live_server("GET", path, params=params, headers={"Accept": "application/ld+json"})
        assert response.status_code == 200, response.text
        doc = json.loads(response.content)
        assert doc["@context"]["provml"] == PROVML_NS
        assert "provml:WorkflowExecution" in response.text
        quads = list(parse(response.content, format=RdfFormat.JSON_LD))
        assert {(q.subject, q.predicate, q.object) for q in quads} == {
            (RUN, RDF.type, PROVML.WorkflowExecution)}
    expanded = live_server("GET", "/store", params={"graph": "urn:g"}, headers={
        "Accept": 'application/ld+json;profile="http://www.w3.org/ns/json-ld#expanded"'})
    assert "@context" not in expanded.text and PROVML_NS + "WorkflowExecution" in expanded.text
