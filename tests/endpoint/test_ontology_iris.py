"""Every shipped ontology answers at its IRI on `provml serve` (a real loopback server): the
version IRI and the Oil & Gas ontology IRI (both 404 before), with content negotiation."""

from __future__ import annotations

import pyoxigraph as ox
import pytest
from endpoint_servers import LiveServer

OWL_ONTOLOGY = ox.NamedNode("http://www.w3.org/2002/07/owl#Ontology")
RDF_TYPE = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
VERSION_IRI = ox.NamedNode("http://www.w3.org/2002/07/owl#versionIRI")


@pytest.mark.parametrize(("path", "ontology"), [
    ("/provml/0.1.0", "https://w3id.org/provml"),
    ("/provml/oil-gas", "https://w3id.org/provml/oil-gas"),
])
@pytest.mark.parametrize(("accept", "fmt"), [
    ("text/turtle", ox.RdfFormat.TURTLE),
    ("application/rdf+xml", ox.RdfFormat.RDF_XML),
    ("application/ld+json", ox.RdfFormat.JSON_LD),
    ("application/n-triples", ox.RdfFormat.N_TRIPLES),
])
def test_ontology_iris_negotiate(live_server: LiveServer, path: str, ontology: str, accept: str,
                                 fmt: ox.RdfFormat) -> None:
    response = live_server("GET", path, headers={"Accept": accept})
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].split(";")[0] == accept
    assert "Accept" in response.headers["Vary"]
    triples = {(t.subject, t.predicate, t.object) for t in ox.parse(response.content, fmt)}
    assert (ox.NamedNode(ontology), RDF_TYPE, OWL_ONTOLOGY) in triples
    if path.endswith("0.1.0"):
        assert (ox.NamedNode(ontology), VERSION_IRI, ox.NamedNode("https://w3id.org/provml/0.1.0")) in triples


def test_html_suffix_and_unknown_versions(live_server: LiveServer) -> None:
    html = live_server("GET", "/provml/oil-gas", headers={"Accept": "text/html"})
    assert html.status_code == 200 and "text/html" in html.headers["Content-Type"]
    ttl = live_server("GET", "/provml/0.1.0.ttl")
    assert ttl.status_code == 200 and ttl.headers["Content-Type"].startswith("text/turtle")
    missing = live_server("GET", "/provml/9.9.9", headers={"Accept": "text/turtle"})
    assert missing.status_code == 404 and missing.json()["ok"] is False
    assert "/provml/0.1.0" in missing.json()["error"]
