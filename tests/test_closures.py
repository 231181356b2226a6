"""`provml validate` enriches files with a SPARQL rdfs:subClassOf* closure (no Java needed); ingest
uses the HermiT-computed closure. They must give every provml class the same super-classes, or a
file would validate differently from the same data ingested."""

from __future__ import annotations

import pytest
from pyoxigraph import NamedNode

from provml.ingest.enrichment import class_closure as reasoner_closure
from provml.ingest.validation import class_closure as sparql_closure
from provml.ingest.validation import default_ontology
from provml.ontology import path
from provml.vocab import PROVML


@pytest.mark.slow
def test_validate_and_ingest_see_the_same_class_hierarchy() -> None:
    by_reasoner = reasoner_closure(ontologies=[path("domains/oil-gas.ttl")])
    by_sparql = sparql_closure(tuple(str(p) for p in default_ontology()))
    checked = 0
    for cls in PROVML.all_terms():
        if cls.value not in by_reasoner:
            continue  # a property
        expected = set(by_reasoner[cls.value]) - {cls.value}
        got = {c.value for c in by_sparql.get(NamedNode(cls.value), frozenset())} - {cls.value}
        assert got == expected, cls.value
        checked += 1
    assert checked >= 60
