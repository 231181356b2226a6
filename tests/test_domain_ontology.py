"""``ontology/domains/oil-gas.ttl``: it parses, it is its own ontology (no imports), its terms
link as the FORCE 2020 case needs, the lithology scheme holds exactly the twelve FORCE 2020
classes with their codes, and it refers to NPD and QUDT by IRI without copying them. (QC and
HermiT run on it in ``test_ontology_qc.py`` and ``test_reasoning.py``.)"""

from __future__ import annotations

import csv
from pathlib import Path

import pyoxigraph as ox
import pytest

from provml.ontology import path
from provml.ontology_info import ontology_info
from provml.vocab import OILGAS, OILGAS_ONTOLOGY_IRI, OWL, QUDT, RDF, RDFS, SKOS, XSD

NPD = "http://sws.ifi.uio.no/vocab/npd-v2#"
#: the FORCE 2020 lithology classes (lithology_codes.csv): concept -> (code, class index, name)
LITHOLOGY = {
    OILGAS.sandstone: ("30000", 0, "Sandstone"),
    OILGAS.sandstoneShale: ("65030", 1, "Sandstone/Shale"),
    OILGAS.shale: ("65000", 2, "Shale"),
    OILGAS.marl: ("80000", 3, "Marl"),
    OILGAS.dolomite: ("74000", 4, "Dolomite"),
    OILGAS.limestone: ("70000", 5, "Limestone"),
    OILGAS.chalk: ("70032", 6, "Chalk"),
    OILGAS.halite: ("88000", 7, "Halite"),
    OILGAS.anhydrite: ("86000", 8, "Anhydrite"),
    OILGAS.tuff: ("99000", 9, "Tuff"),
    OILGAS.coal: ("90000", 10, "Coal"),
    OILGAS.basement: ("93000", 11, "Basement"),
}
#: object property -> (domain, range)
LINKS = {
    OILGAS.fieldInBasin: (OILGAS.Field, OILGAS.Basin),
    OILGAS.wellInField: (OILGAS.Well, OILGAS.Field),
    OILGAS.wellInBlock: (OILGAS.Well, OILGAS.LicenceBlock),
    OILGAS.wellboreOf: (OILGAS.Wellbore, OILGAS.Well),
    OILGAS.logOfWellbore: (OILGAS.WellLog, OILGAS.Wellbore),
    OILGAS.curveOf: (OILGAS.LogCurve, OILGAS.WellLog),
    OILGAS.unit: (OILGAS.LogCurve, QUDT.Unit),
    OILGAS.intervalOf: (OILGAS.DepthInterval, OILGAS.Wellbore),
    OILGAS.stratigraphicUnit: (OILGAS.DepthInterval, OILGAS.LithostratigraphicUnit),
    OILGAS.interpretedInterval: (OILGAS.LithologyInterpretation, OILGAS.DepthInterval),
    OILGAS.interpretedLithology: (OILGAS.LithologyInterpretation, OILGAS.Lithology),
}
FORCE_CODES = Path(__file__).resolve().parents[1] / "examples/force2020/data/lithology_codes.csv"


@pytest.fixture(scope="module")
def store() -> ox.Store:
    s = ox.Store()
    s.bulk_load(path=path("domains/oil-gas.ttl"), format=ox.RdfFormat.TURTLE)
    return s


def _objects(store: ox.Store, s: ox.NamedNode, p: ox.NamedNode) -> set[ox.Term]:
    return {q.object for q in store.quads_for_pattern(s, p, None)}


def test_parses_with_rdflib_and_py_horned_owl(store: ox.Store) -> None:
    import pyhornedowl
    import rdflib

    graph = rdflib.Graph().parse(path("domains/oil-gas.ttl"), format="turtle")
    assert len(graph) == len(store) > 300
    onto = pyhornedowl.open_ontology_from_string(graph.serialize(format="xml"), "rdf")
    assert str(onto.get_iri()) == OILGAS_ONTOLOGY_IRI.value
    assert OILGAS.LithologyInterpretation.value in onto.get_classes()


def test_header_and_no_imports() -> None:
    info = ontology_info(path("domains/oil-gas.ttl"))
    assert info.iri == OILGAS_ONTOLOGY_IRI.value
    assert info.version_iri == OILGAS_ONTOLOGY_IRI.value + "/0.1.0"
    assert info.imports == ()
    assert info.title and info.n_classes >= 11


@pytest.mark.parametrize("prop", sorted(LINKS, key=str), ids=lambda p: p.value.split("#")[-1])
def test_links(store: ox.Store, prop: ox.NamedNode) -> None:
    domain, range_ = LINKS[prop]
    assert _objects(store, prop, RDF.type) == {OWL.ObjectProperty}
    assert _objects(store, prop, RDFS.domain) == {domain}
    assert _objects(store, prop, RDFS.range) == {range_}


def test_lithology_scheme_holds_the_twelve_force_2020_classes(store: ox.Store) -> None:
    members = {q.subject for q in store.quads_for_pattern(None, SKOS.inScheme, OILGAS.force2020Lithology)}
    assert members == set(LITHOLOGY)
    assert _objects(store, OILGAS.force2020Lithology, RDF.type) >= {SKOS.ConceptScheme}
    for concept, (code, index, name) in LITHOLOGY.items():
        assert _objects(store, concept, RDF.type) >= {OILGAS.Lithology}
        assert _objects(store, concept, SKOS.notation) == {ox.Literal(code)}
        assert _objects(store, concept, SKOS.prefLabel) == {ox.Literal(name, language="en")}
        assert _objects(store, concept, OILGAS.classIndex) == {ox.Literal(str(index), datatype=XSD.integer)}
    assert _objects(store, OILGAS.Lithology, RDFS.subClassOf) == {SKOS.Concept}


def test_lithology_table_matches_the_data_folder() -> None:
    with FORCE_CODES.open(encoding="utf-8") as fh:
        rows = {(r["code"], int(r["class_index"]), r["name"]) for r in csv.DictReader(fh)}
    assert rows == set(LITHOLOGY.values())


def test_refers_to_npd_and_qudt_by_iri_without_copying(store: ox.Store) -> None:
    assert _objects(store, OILGAS.Well, SKOS.closeMatch) == {ox.NamedNode(NPD + "Well")}
    assert _objects(store, OILGAS.Wellbore, SKOS.closeMatch) == {ox.NamedNode(NPD + "Wellbore")}
    assert _objects(store, OILGAS.Field, SKOS.closeMatch) == {ox.NamedNode(NPD + "Field")}
    # nothing of NPD is declared here; QUDT's Unit class only by reference
    npd_subjects = [q for q in store.quads_for_pattern(None, None, None)
                    if isinstance(q.subject, ox.NamedNode) and q.subject.value.startswith(NPD)]
    assert npd_subjects == []
    assert _objects(store, QUDT.Unit, RDFS.isDefinedBy) == {ox.NamedNode("http://qudt.org/schema/qudt/")}


def test_curve_unit_and_confidence_properties(store: ox.Store) -> None:
    assert _objects(store, OILGAS.confidence, RDFS.domain) == {OILGAS.LithologyInterpretation}
    assert _objects(store, OILGAS.confidence, RDFS.range) == {XSD.integer}
    for prop in (OILGAS.mnemonic, OILGAS.unitSymbol):
        assert _objects(store, prop, RDFS.domain) == {OILGAS.LogCurve}
        assert _objects(store, prop, RDFS.range) == {XSD.string}
    for prop in (OILGAS.topDepth, OILGAS.baseDepth, OILGAS.easting, OILGAS.northing):
        assert _objects(store, prop, RDFS.range) == {XSD.double}
