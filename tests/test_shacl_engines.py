"""pyshacl-turbo (the fast engine used at ingest) agrees with pySHACL (the reference) on every
shapes test file, on the worked example and on translated capture events."""

from __future__ import annotations

import sys
from pathlib import Path

import paper_fixture as pf
import pytest

from provml.ingest.enrichment import class_closure, with_entailed_types
from provml.ingest.iris import Iris
from provml.ingest.translation import translate
from provml.ingest.validation import (
    Report,
    default_engine,
    validate_triples,
)
from provml.ontology import path as ontology_path
from provml.store.rdfio import parse_file

HERE = Path(__file__).parent / "shapes"
CASES = sorted(HERE.glob("*/*.ttl")) + [ontology_path("examples/fig8.ttl")]
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


def verdict(report: Report) -> tuple[bool, set[tuple[str, str, str, str | None]]]:
    return report.conforms, {(r.focus_node, r.shape, r.severity, r.path) for r in report.results}


def enriched(quads: list) -> list:  # type: ignore[type-arg]
    return with_entailed_types(quads, class_closure())


@pytest.mark.parametrize("file", [pytest.param(f, id=f"{f.parent.name}/{f.name}") for f in CASES])
def test_engines_agree_on_shape_cases(file: Path) -> None:
    data = enriched(parse_file(file))
    assert verdict(validate_triples(data, engine="turbo")) == verdict(validate_triples(data, engine="pyshacl"))


@pytest.mark.parametrize("file", [pytest.param(f, id=f"{f.parent.name}/{f.name}") for f in CASES])
def test_leaving_out_unseen_types_changes_no_verdict(file: Path) -> None:
    data = enriched(parse_file(file))
    assert verdict(validate_triples(data, leaner=True)) == verdict(validate_triples(data, leaner=False))


def test_lean_keeps_one_type_of_a_node_no_shape_targets() -> None:
    from pyoxigraph import NamedNode, Triple

    from provml.ingest.validation import lean
    from provml.vocab import PROV, PROVML, RDF

    a, b = NamedNode("http://e/a"), NamedNode("http://e/b")
    data = [Triple(a, RDF.type, PROVML.Model), Triple(a, RDF.type, PROV.Entity),
            Triple(b, RDF.type, PROV.Entity), Triple(b, RDF.type, PROV.Collection)]
    kept = lean(data, frozenset({PROVML.Model}))
    assert Triple(a, RDF.type, PROVML.Model) in kept and Triple(a, RDF.type, PROV.Entity) not in kept
    assert len([t for t in kept if t.subject == b]) == 1  # still typed: Untyped stays false


def test_engines_agree_on_translated_events() -> None:
    import workload

    events = pf.all_events() + workload.learning_run("w", epochs=2, batches=3)
    data = enriched(translate(events, iris=Iris()))
    turbo, reference = validate_triples(data, engine="turbo"), validate_triples(data, engine="pyshacl")
    assert verdict(turbo) == verdict(reference)
    assert turbo.conforms


def test_engine_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROVML_SHACL_ENGINE", "pyshacl")
    assert default_engine() == "pyshacl"
    monkeypatch.setenv("PROVML_SHACL_ENGINE", "fast")
    with pytest.raises(ValueError, match="PROVML_SHACL_ENGINE"):
        default_engine()
    monkeypatch.delenv("PROVML_SHACL_ENGINE")
    assert default_engine() == "turbo"
    with pytest.raises(ValueError, match="unknown SHACL engine"):
        validate_triples([], engine="java")


@pytest.mark.parametrize("engine", ["turbo", "pyshacl"])
@pytest.mark.parametrize("shape", [
    'sh:property [ sh:path ex:p ; sh:minCount "many" ]',  # not an integer
    "sh:property [ sh:minCount 1 ]",  # a property shape without a path
])
def test_shapes_an_engine_cannot_use_raise_value_error(tmp_path: Path, engine: str, shape: str) -> None:
    from pyoxigraph import NamedNode, Triple

    from provml.vocab import RDF

    shapes = tmp_path / "bad.ttl"
    shapes.write_text("@prefix sh: <http://www.w3.org/ns/shacl#> . @prefix ex: <http://ex.org/> .\n"
                      f"ex:S a sh:NodeShape ; sh:targetClass ex:C ; {shape} .\n")
    with pytest.raises(ValueError):
        validate_triples([Triple(NamedNode("http://ex.org/x"), RDF.type, NamedNode("http://ex.org/C"))],
                         shapes=[shapes], engine=engine, representatives=False)


def test_the_fast_engine_validates_without_importing_pyshacl() -> None:
    """pyshacl-turbo has its own errors: validating with it, a batch that breaks the shapes
    included, never imports pySHACL (≈ 0.1–0.2 s of a process's first validation)."""
    import subprocess

    code = """if True:
        import sys
        from pyoxigraph import Literal, NamedNode, Triple
        from provml.ingest.validation import validate_triples, warm_up
        from provml.vocab import PROV, PROVML, RDF
        warm_up()
        x = NamedNode("https://w3id.org/provml/id/data/x")
        report = validate_triples([Triple(x, RDF.type, PROVML.ModelEvaluation),
                                   Triple(x, PROV.value, Literal("not a number"))], engine="turbo")
        assert not report.conforms, report.text
        print("pyshacl" in sys.modules)
    """
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "False", out.stderr
