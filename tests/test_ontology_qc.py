"""Ontology QC as data (ODK style): every ``ontology/qc/*-violation.rq`` returns no rows on the
shipped ontologies, and each of them does return rows on a small ontology broken on purpose, so
that none of them passes by matching nothing."""

from __future__ import annotations

from pathlib import Path

import pyoxigraph as ox
import pytest

from provml.ontology import path

QC_DIR = Path(__file__).resolve().parent.parent / "ontology" / "qc"
QUERIES = sorted(QC_DIR.glob("*-violation.rq"))

#: the ontologies QC runs on, each with the files it needs (PROV-O for the ancestor rule)
ONTOLOGIES = {
    "provml": ("provml.ttl", "imports/prov-o.ttl"),
    "oil-gas": ("domains/oil-gas.ttl",),
}

_HEADER = """
@prefix : <https://w3id.org/provml#> .
@prefix owl: <http://www.w3.org/2002/07/owl#> .
@prefix prov: <http://www.w3.org/ns/prov#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
@prefix vann: <http://purl.org/vocab/vann/> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
<https://w3id.org/provml> a owl:Ontology ;
    vann:preferredNamespaceUri "https://w3id.org/provml#"^^xsd:anyURI .
prov:Entity a owl:Class ; rdfs:isDefinedBy <http://www.w3.org/ns/prov-o#> .
"""

_GOOD = """
:Good a owl:Class ; rdfs:subClassOf prov:Entity ;
    rdfs:label "good"@en ; skos:definition "fine"@en ; rdfs:isDefinedBy <https://w3id.org/provml> .
"""

#: for each QC query, a snippet (added to a correct one) that breaks exactly its rule
BROKEN = {
    "missing-label-violation.rq": """
:NoLabel a owl:Class ; rdfs:subClassOf prov:Entity ; rdfs:label "no label"@de ;
    skos:definition "x"@en ; rdfs:isDefinedBy <https://w3id.org/provml> .""",
    "missing-definition-violation.rq": """
:noDefinition a owl:DatatypeProperty ; rdfs:range xsd:string ;
    rdfs:label "no definition"@en ; rdfs:isDefinedBy <https://w3id.org/provml> .""",
    "missing-isdefinedby-violation.rq": """
:elsewhere a owl:NamedIndividual ; rdfs:label "elsewhere"@en ; skos:definition "x"@en ;
    rdfs:isDefinedBy <http://example.org/other> .""",
    "class-without-prov-ancestor-violation.rq": """
:Orphan a owl:Class ; rdfs:subClassOf :Good ; rdfs:subClassOf [ a owl:Restriction ;
    owl:onProperty :p ; owl:someValuesFrom prov:Nothing ] ; rdfs:label "orphan"@en .
:Good rdfs:subClassOf prov:NotInProvO .
:Orphan2 a owl:Class ; rdfs:label "orphan two"@en .""",
    "duplicate-label-violation.rq": """
:Twin a owl:Class ; rdfs:subClassOf prov:Entity ; rdfs:label "Good"@en ;
    skos:definition "x"@en ; rdfs:isDefinedBy <https://w3id.org/provml> .""",
    "object-property-domain-range-violation.rq": """
:p a owl:ObjectProperty ; rdfs:domain prov:Entity ;
    rdfs:label "p"@en ; skos:definition "x"@en ; rdfs:isDefinedBy <https://w3id.org/provml> .""",
    "datatype-property-range-violation.rq": """
:d a owl:DatatypeProperty ; rdfs:range prov:Entity ;
    rdfs:label "d"@en ; skos:definition "x"@en ; rdfs:isDefinedBy <https://w3id.org/provml> .""",
}


def _store(*turtle_files: Path, text: str = "") -> ox.Store:
    store = ox.Store()
    for f in turtle_files:
        store.bulk_load(path=f, format=ox.RdfFormat.TURTLE)
    if text:
        store.load(text.encode(), format=ox.RdfFormat.TURTLE)
    return store


def _rows(store: ox.Store, query: Path) -> list[str]:
    result = store.query(query.read_text(encoding="utf-8"))
    assert isinstance(result, ox.QuerySolutions)
    return [" ".join(str(v) for v in row) for row in result]


def test_there_are_qc_queries_and_each_has_a_broken_case() -> None:
    assert len(QUERIES) >= 6
    assert {q.name for q in QUERIES} == set(BROKEN)


@pytest.mark.parametrize("ontology", sorted(ONTOLOGIES))
@pytest.mark.parametrize("query", QUERIES, ids=lambda q: q.name)
def test_qc_query_returns_no_rows(query: Path, ontology: str) -> None:
    store = _store(*(path(name) for name in ONTOLOGIES[ontology]))
    assert _rows(store, query) == []


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: q.name)
def test_qc_query_can_fail(query: Path) -> None:
    good = _store(text=_HEADER + _GOOD)
    assert _rows(good, query) == [], "the correct snippet must pass, or the broken case proves nothing"
    broken = _store(text=_HEADER + _GOOD + BROKEN[query.name])
    assert _rows(broken, query), f"{query.name} found nothing in an ontology that breaks its rule"
