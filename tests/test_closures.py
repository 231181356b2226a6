"""Ingest and ``provml validate`` entail types with the SPARQL class closure
(provml.ingest.enrichment, no Java). It must equal what the HermiT reasoner infers, for every class
of the shipped ontologies (PROV-ML, the oil & gas domain ontology, PROV-O), or data would be
enriched differently from what the ontology means."""

from __future__ import annotations

import pytest

from provml.ingest.enrichment import class_closure, default_ontology
from provml.ingest.reasoner import reasoner_closure
from provml.ontology import path
from provml.vocab import PROVML


@pytest.mark.slow
def test_the_sparql_closure_equals_the_reasoners_for_every_class() -> None:
    by_reasoner = reasoner_closure(ontologies=[path("domains/oil-gas.ttl")])
    by_sparql = {c.value: {s.value for s in supers} for c, supers in class_closure().items()}
    assert set(by_sparql) == set(by_reasoner)
    assert {c: set(s) for c, s in by_reasoner.items()} == by_sparql
    assert len(by_sparql) >= 100
    assert all(c.value in by_sparql for c in PROVML.all_terms() if c.value in by_reasoner)


def test_the_default_ontology_is_provml_oil_gas_and_prov_o() -> None:
    assert [p.name for p in default_ontology()] == ["provml.ttl", "oil-gas.ttl", "prov-o.ttl"]
