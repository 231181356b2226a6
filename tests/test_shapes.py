"""The SHACL shapes as data: every file in tests/shapes/valid conforms, every file in
tests/shapes/invalid fails with exactly the shapes its header names (``# expect: provml-shapes:X``);
a valid file may name the shapes that warn (``# expect-warning: provml-shapes:X``).

Files hold the most specific classes only, as the translation writes them; validation adds the
super-classes the ontology entails (``validate_files``), as ingest does.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pyoxigraph import NamedNode

from provml.ingest.validation import default_shapes, validate_files
from provml.ontology import path as ontology_path
from provml.store.rdfio import parse_file
from provml.vocab import PROVML_SHAPES_NS, RDF, RDFS, SH

HERE = Path(__file__).parent / "shapes"
SHAPES_NS = PROVML_SHAPES_NS
VALID = sorted((HERE / "valid").glob("*.ttl"))
INVALID = sorted((HERE / "invalid").glob("*.ttl"))


def expected_shapes(file: Path, key: str = "expect") -> set[str]:
    """The shapes a file's header names on ``# expect: provml-shapes:X`` (or ``expect-warning``)."""
    pattern = re.compile(rf"^#\s*{key}:\s*provml-shapes:(\w+)\s*$", re.MULTILINE)
    return {SHAPES_NS + name for name in pattern.findall(file.read_text(encoding="utf-8"))}


@pytest.mark.parametrize(
    "file",
    [pytest.param(f, id=f"valid/{f.name}") for f in VALID]
    + [pytest.param(f, id=f"invalid/{f.name}") for f in INVALID],
)
def test_shape_case(file: Path) -> None:
    report = validate_files([file])
    if file.parent.name == "valid":
        assert not report.violations, report.text
        assert report.conforms == (not report.results)  # SHACL: any result breaks conformance
        warned = {r.shape for r in report.results if r.severity == "Warning"}
        assert warned == expected_shapes(file, "expect-warning"), report.text
        assert {r.severity for r in report.results} <= {"Warning"}
    else:
        expected = expected_shapes(file)
        assert expected, f"{file.name} names no expected shape in its header"
        assert not report.conforms
        failing = {r.shape for r in report.results if r.severity == "Violation"}
        assert failing == expected, report.text
        assert all(r.message and r.focus_node for r in report.results)


def targeted_shapes() -> set[str]:
    """Every shape of the shipped shapes file that has a target."""
    quads = [q for p in default_shapes() for q in parse_file(p)]
    targets = {
        NamedNode(SH.NS + t) for t in ("targetClass", "targetNode", "targetSubjectsOf", "targetObjectsOf")
    }
    return {q.subject.value for q in quads if q.predicate in targets}


def test_every_targeted_shape_has_an_invalid_case() -> None:
    covered = set().union(*(expected_shapes(f) for f in INVALID))
    missing = targeted_shapes() - covered
    assert not missing, f"shapes without an invalid case: {sorted(missing)}"
    assert len(VALID) >= 4


def test_every_shape_has_label_comment_and_every_constraint_a_message() -> None:
    quads = [q for p in default_shapes() for q in parse_file(p)]
    shapes = {q.subject for q in quads if q.predicate == RDF.type and q.object == SH.NodeShape}
    assert len(shapes) >= 20
    for shape in shapes:
        props = {q.predicate for q in quads if q.subject == shape}
        assert RDFS.label in props and RDFS.comment in props, shape
    # every property shape of a named shape and every named shape with node-level logic (sh:or)
    # carries an sh:message (shapes nested inside sh:or report through their outer shape)
    message = NamedNode(SH.NS + "message")
    holders = {
        q.object
        for q in quads
        if q.predicate == NamedNode(SH.NS + "property") and isinstance(q.subject, NamedNode)
    }
    holders |= {
        q.subject for q in quads if q.predicate == NamedNode(SH.NS + "or") and q.subject in shapes
    }
    helper = {NamedNode(SHAPES_NS + n) for n in ("IntegerLiteral", "NumericLiteral")}
    for holder in holders - helper:
        assert any(q.subject == holder and q.predicate == message for q in quads), holder


def test_worked_example_fig8_conforms() -> None:
    example = ontology_path("examples/fig8.ttl")
    report = validate_files([example])
    assert report.conforms, report.text
    quads = parse_file(example)
    # the values of the paper's Fig. 8 are there
    literals = {q.object.value for q in quads if not isinstance(q.object, NamedNode)}
    for value in ("models/model188.hdf5", "data/netherlands.sgy", "0.30", "40", "188", "60", "300"):
        assert value in literals, value
    assert any(q.object == NamedNode("http://ibm.com/netherlands.sgy") for q in quads)


def test_worked_example_fig8_fails_when_broken(tmp_path: Path) -> None:
    text = ontology_path("examples/fig8.ttl").read_text(encoding="utf-8")
    broken = text.replace("prov:value 7.22e-1", 'prov:value "0.722"')
    assert broken != text
    file = tmp_path / "fig8-broken.ttl"
    file.write_text(broken, encoding="utf-8")
    report = validate_files([file])
    assert not report.conforms
    assert {r.shape for r in report.results} == {SHAPES_NS + "ModelEvaluationShape"}


def test_shapes_are_well_formed_shacl() -> None:
    """The shapes graph conforms to SHACL-SHACL (pyshacl's meta-validation)."""
    import rdflib
    from pyshacl import validate

    shapes = rdflib.Graph()
    for file in default_shapes():
        shapes.parse(file, format="turtle")
    conforms, _, text = validate(rdflib.Graph(), shacl_graph=shapes, meta_shacl=True)
    assert conforms, text


def test_worked_example_traces_the_model_to_the_raw_file_and_its_field() -> None:
    """Q1 of the paper on the example: model -> epoch -> training -> training set -> raw SEG-Y
    file -> its domain resource -> oil field."""
    from pyoxigraph import Store

    store = Store()
    store.extend(parse_file(ontology_path("examples/fig8.ttl")))
    rows = list(store.query("""
        PREFIX prov: <http://www.w3.org/ns/prov#>
        PREFIX provml: <https://w3id.org/provml#>
        PREFIX ibm: <http://ibm.com/ns#>
        SELECT ?raw ?size ?field WHERE {
          ?model a provml:Model ; provml:location "models/model188.hdf5" ;
                 prov:wasGeneratedBy/prov:wasInformedBy* ?training .
          ?training a provml:TrainingExecution ; prov:used ?set .
          ?set a provml:LearningDataset ; prov:wasDerivedFrom ?raw .
          ?raw provml:byteSize ?size ; provml:kgReference/ibm:oilField ?field .
        }"""))  # type: ignore[union-attr]
    assert [(r["raw"].value.rsplit("/", 1)[1], int(r["size"].value), r["field"].value)
            for r in rows] == [("loc-2bb5f2d00657d4ae7e2e69e844f17b5b", 1_250_000_000,
                                "http://ibm.com/field/F3")]
