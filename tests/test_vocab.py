"""``provml.vocab`` against the ontologies, both ways: every constant of a provml-owned namespace
is declared in its ontology file, and every term the file declares in that namespace has a
constant."""

from __future__ import annotations

import pyoxigraph as ox
import pytest

from provml import vocab
from provml.ontology import path
from provml.vocab import MLS, OILGAS, OWL, PROV, PROVML, RDF, Namespace

DECLARATIONS = (
    OWL.Class,
    OWL.ObjectProperty,
    OWL.DatatypeProperty,
    OWL.AnnotationProperty,
    OWL.NamedIndividual,
)

#: (namespace class, ontology file that declares its terms)
OWNED = [(PROVML, "provml.ttl"), (OILGAS, "domains/oil-gas.ttl")]


def _declared(file: str, ns: str) -> set[str]:
    triples = [q.triple for q in ox.parse(path=path(file), format=ox.RdfFormat.TURTLE)]
    return {
        t.subject.value
        for t in triples
        if t.predicate == RDF.type
        and t.object in DECLARATIONS
        and isinstance(t.subject, ox.NamedNode)
        and t.subject.value.startswith(ns)
    }


@pytest.mark.parametrize(("namespace", "file"), OWNED, ids=lambda x: getattr(x, "__name__", x))
def test_every_constant_is_declared_in_the_ontology(namespace: type[Namespace], file: str) -> None:
    declared = _declared(file, namespace.NS)
    missing = sorted(t.value for t in namespace.all_terms() if t.value not in declared)
    assert missing == []


@pytest.mark.parametrize(("namespace", "file"), OWNED, ids=lambda x: getattr(x, "__name__", x))
def test_every_declared_term_has_a_constant(namespace: type[Namespace], file: str) -> None:
    constants = {t.value for t in namespace.all_terms()}
    assert sorted(_declared(file, namespace.NS) - constants) == []


def test_the_mls_terms_provml_uses_are_declared_in_provml_ttl() -> None:
    declared = _declared("provml.ttl", MLS.NS)
    assert sorted(t.value for t in MLS.all_terms() if t.value not in declared) == []


#: PROV terms provml uses that PROV-O does not declare, each with where it comes from
NOT_IN_PROV_O = {
    "has_provenance": "PROV-AQ link relation (HTTP Link header), not an OWL term",
    "has_query_service": "PROV-AQ link relation (HTTP Link header), not an OWL term",
    "has_anchor": "PROV-AQ link relation (HTTP Link header), not an OWL term",
}


def test_the_prov_terms_provml_uses_are_in_prov_o() -> None:
    triples = [q.triple for q in ox.parse(path=path("imports/prov-o.ttl"), format=ox.RdfFormat.TURTLE)]
    subjects = {t.subject for t in triples if t.predicate == RDF.type}
    missing = {t.value.removeprefix(PROV.NS) for t in PROV.all_terms() if t not in subjects}
    assert sorted(missing - set(NOT_IN_PROV_O)) == []


def test_namespace_terms_are_typo_safe() -> None:
    with pytest.raises(AttributeError):
        _ = PROVML.Modle  # type: ignore[attr-defined]
    with pytest.raises(KeyError):
        OILGAS.term("Oilrig")
    assert OILGAS.term("Well") == OILGAS.Well
    assert vocab.OILGAS_ONTOLOGY_IRI.value + "#" == OILGAS.NS
