"""provml.ingest.validation: the library entry points, the type enrichment, the report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyoxigraph
import pytest
from pyoxigraph import DefaultGraph, Literal, NamedNode, Quad, RdfFormat, Triple

from provml.errors import RdfSyntaxError
from provml.ingest.enrichment import class_closure, with_entailed_types
from provml.ingest.validation import (
    Report,
    Result,
    validate_files,
    validate_triples,
)
from provml.ontology import path as ontology_path
from provml.store.rdfio import parse_file
from provml.vocab import MLS, PROV, PROVML, PROVML_SHAPES_NS, RDF, RDFS, XSD

ID = "https://w3id.org/provml/id/"
SHAPES = PROVML_SHAPES_NS
FIG8 = ontology_path("examples/fig8.ttl")


@pytest.fixture(scope="module")
def closure() -> dict[NamedNode, frozenset[NamedNode]]:
    return class_closure()


def section(name: str, *, start: str | None = "2024-05-01T10:00:00Z") -> list[Triple]:
    node = NamedNode(ID + name)
    triples = [
        Triple(node, RDF.type, PROVML.TrainingSectionExecution),
        Triple(node, RDFS.label, Literal(name)),
        Triple(node, PROV.wasInfluencedBy, NamedNode(ID + "plan/exp/train/epoch")),
        Triple(node, PROV.wasInformedBy, NamedNode(ID + "run/r/train")),
        Triple(node, PROVML.iteration, Literal(0)),
    ]
    if start is not None:
        triples.append(Triple(node, PROV.startedAtTime, Literal(start, datatype=XSD.dateTime)))
    return triples


def test_class_closure_follows_subclasses_and_equivalences(closure: dict) -> None:
    sups = closure[PROVML.TrainingSectionExecution]
    assert {PROVML.LearningStageSectionExecution, PROVML.BaseLearningExecution,
            PROVML.DataTransformationExecution, PROV.Activity} <= sups
    assert PROVML.TrainingSectionExecution in sups
    assert MLS.Run in closure[PROVML.LearningProcessExecution]
    assert PROVML.DataReference in closure[PROVML.Model]
    assert PROVML.TrainingExecution not in sups


def test_with_entailed_types_adds_supertypes_in_the_same_graph(closure: dict) -> None:
    graph = NamedNode(ID + "bundle/r")
    node = NamedNode(ID + "run/r/train/epoch-0")
    quads = [Quad(node, RDF.type, PROVML.TrainingSectionExecution, graph)] * 2
    out = with_entailed_types(quads, closure)
    assert len(out) == len(set(out))
    assert Quad(node, RDF.type, PROVML.BaseLearningExecution, graph) in out
    assert Quad(node, RDF.type, PROV.Activity, graph) in out
    triples_out = with_entailed_types([Triple(node, RDF.type, PROVML.Persona)], closure)
    assert all(q.graph_name == DefaultGraph() for q in triples_out)


def test_validate_triples_needs_enriched_data(closure: dict) -> None:
    """Shapes target super-classes: without enrichment a broken section goes unseen."""
    broken = section("run/r/train/epoch-0", start="2024-05-01T10:00:00")  # no timezone
    assert validate_triples(broken).conforms
    report = validate_triples(with_entailed_types(broken, closure))
    assert not report.conforms
    (result,) = report.results
    assert result == Result(
        focus_node=ID + "run/r/train/epoch-0",
        path=PROV.startedAtTime.value,
        constraint="http://www.w3.org/ns/shacl#PatternConstraintComponent",
        shape=SHAPES + "ExecutionShape",
        value='"2024-05-01T10:00:00"^^<http://www.w3.org/2001/XMLSchema#dateTime>',
        message=result.message,
        severity="Violation",
    )
    assert "timezone" in result.message


def test_validate_triples_accepts_quads_and_ignores_graph_names(closure: dict) -> None:
    graph = NamedNode(ID + "bundle/r")
    quads = [Quad(*t, graph) for t in section("run/r/train/epoch-1")]
    report = validate_triples(with_entailed_types(quads, closure))
    assert report.conforms and report.results == ()


def test_fig8_as_enriched_triples_conforms(closure: dict) -> None:
    quads = with_entailed_types(parse_file(FIG8), closure)
    assert len(quads) > 400
    report = validate_triples(quads)
    assert report.conforms, report.text


def test_report_to_dict_is_json_and_describe_is_readable(closure: dict) -> None:
    broken = section("run/r/train/epoch-2", start=None) + [
        Triple(NamedNode(ID + "run/r/train/epoch-2"), PROVML.status, Literal("done")),
        Triple(NamedNode(ID + "run/r/train/epoch-2"), PROV.endedAtTime,
               Literal("2024-05-01T10:00:00Z", datatype=XSD.dateTime)),
    ]
    report = validate_triples(with_entailed_types(broken, closure))
    assert not report.conforms
    data = json.loads(json.dumps(report.to_dict()))
    assert data["conforms"] is False
    assert data["results"][0]["path"] == PROVML.status.value
    assert set(data["results"][0]) == {
        "focus_node", "path", "constraint", "shape", "value", "message", "severity"}
    text = report.describe()
    assert text.splitlines()[0] == "does not conform: 1 violation"
    for part in ("focus node: https://w3id.org/provml/id/run/r/train/epoch-2",
                 "path:       provml:status", "constraint: sh:InConstraintComponent",
                 'value:      "done"', "message:    The status"):
        assert part in text


def test_validate_files_unions_files_in_any_format(tmp_path: Path) -> None:
    quads = parse_file(FIG8)
    plans = [q for q in quads if "/plan/" in q.subject.value]
    rest = [q for q in quads if "/plan/" not in q.subject.value]
    # each part in another syntax
    files = []
    for part, fmt in ((plans, RdfFormat.JSON_LD), (rest, RdfFormat.RDF_XML)):
        file = tmp_path / f"part-{len(files)}.{fmt.file_extension}"
        file.write_bytes(pyoxigraph.serialize(part, format=fmt) or b"")
        files.append(file)
    assert validate_files(files).conforms
    # the plans alone, and the executions alone, also conform: links to untyped nodes are fine
    assert validate_files(files[1:]).conforms
    nt = tmp_path / "fig8.data"
    nt.write_bytes(pyoxigraph.serialize(quads, format=RdfFormat.N_QUADS) or b"")
    assert validate_files([nt], input_format="nq").conforms


def test_validate_files_with_custom_shapes(tmp_path: Path) -> None:
    shapes = tmp_path / "mine.ttl"
    shapes.write_text(
        """@prefix sh: <http://www.w3.org/ns/shacl#> .
        @prefix prov: <http://www.w3.org/ns/prov#> .
        <urn:s> a sh:NodeShape ; sh:targetClass prov:Activity ;
            sh:property [ sh:path prov:endedAtTime ; sh:minCount 1 ; sh:message "needs an end" ] .""",
        encoding="utf-8",
    )
    data = tmp_path / "d.ttl"
    data.write_text(
        '<urn:x> a <https://w3id.org/provml#TrainingExecution> .', encoding="utf-8")
    report = validate_files([data], shapes=[shapes])
    assert not report.conforms
    assert [(r.shape, r.message) for r in report.results] == [("urn:s", "needs an end")]


def test_broken_inputs_raise(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ttl"
    bad.write_text("<urn:a> <urn:b> .", encoding="utf-8")
    with pytest.raises(RdfSyntaxError) as info:
        validate_files([bad])
    assert info.value.line == 1
    with pytest.raises(RdfSyntaxError):
        validate_files([FIG8], shapes=[bad])
    with pytest.raises(FileNotFoundError):
        validate_files([tmp_path / "missing.ttl"])


def test_report_summary_counts_by_severity() -> None:
    warning = Result("urn:x", None, "c", "s", None, "m", "Warning")
    assert Report(False, (warning, warning), "").summary() == "does not conform: 2 warnings"
    assert Report(False, (), "").summary() == "does not conform: no results"


def test_import_stays_light() -> None:
    code = (
        "import sys, provml.ingest.validation, provml.store.rdfio\n"
        "heavy = [m for m in ('pyshacl', 'rdflib') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_docstrings_run() -> None:
    import doctest

    import provml.ingest.validation

    result = doctest.testmod(provml.ingest.validation)
    assert result.attempted > 0 and result.failed == 0


def test_concurrent_validations_agree(closure: dict) -> None:
    """The endpoint validates from several threads at once: verdicts must not mix."""
    from concurrent.futures import ThreadPoolExecutor

    good = with_entailed_types(parse_file(FIG8), closure)
    bad = with_entailed_types(section("run/r/train/epoch-9", start="2024-05-01T10:00:00"), closure)
    with ThreadPoolExecutor(max_workers=4) as pool:
        verdicts = list(pool.map(lambda q: validate_triples(q).conforms, [good, bad] * 4))
    assert verdicts == [True, False] * 4


@pytest.mark.parametrize("grouped", [True, False])
def test_context_nodes_are_neither_reported_nor_break_the_verdict(closure: dict, grouped: bool) -> None:
    """``context=``: nodes the data holds only for the others' sake (the types of a stored node a
    batch points at) get no result, grouped or not; the batch's own nodes still do."""
    stage = NamedNode(ID + "run/r/train")
    data = with_entailed_types([*section("run/r/train/epoch-0"),
                                Triple(stage, RDF.type, PROVML.TrainingExecution)], closure)
    alone = validate_triples(data, representatives=grouped)
    assert stage.value in {r.focus_node for r in alone.results}  # a stage of types alone breaks its shapes
    report = validate_triples(data, representatives=grouped, context={stage})
    assert report.conforms and report.results == () and "Conforms: True" in report.text
    broken = validate_triples(with_entailed_types([*section("run/r/train/epoch-1", start=None),
                                                   Triple(stage, RDF.type, PROVML.TrainingExecution)], closure),
                              representatives=grouped, context={stage})
    assert {r.focus_node for r in broken.results} == {ID + "run/r/train/epoch-1"}


def test_bags_pointing_at_stored_nodes_run_the_engine_only_for_views_not_seen(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A bag of batches of a stored epoch points at the stored run, stage and epoch, whose types
    come along as context: their views (types without the statements that make them valid) had
    results, so were never remembered clean, and every such bag ran the engine twice for nothing
    (the broker's workers, under sustained input: docs/benchmarks.md, "Ninth session"). Now
    the engine runs for none of the bags once their views have been seen."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import workload

    import provml.ingest.validation as validation
    from provml.knowledge import KnowledgeGraph
    from provml.store.oxigraph import OxigraphStore

    validation._verdicts.cache_clear()
    events = workload.learning_run("ctx", epochs=2, batches=60)
    kg = KnowledgeGraph(OxigraphStore())
    kg.ingest_events(events[:40])  # the run, its stage, the first epoch and its first batches
    kg.ingest_events(events[40:80])  # later batches: their views seen once
    runs = []
    real = validation._to_rdflib
    monkeypatch.setattr(validation, "_to_rdflib", lambda data: runs.append(1) or real(data))
    for start in range(80, 120, 20):  # batches of the first epoch, in bags of 20 events
        kg.ingest_events(events[start : start + 20])
    assert runs == []
    kg.close()
