"""Events → PROV-ML quads: deterministic identity (S4), links, literals, status."""

from __future__ import annotations

import math
from typing import Any

import pytest
from pyoxigraph import Literal, NamedNode

from provml.ingest.iris import Iris, normalise_location
from provml.ingest.translation import literal, translate
from provml.vocab import PROV, PROVML, RDF, XSD

IRIS = Iris("https://example.org/id/")


def ev(kind: str, **fields: Any) -> dict[str, Any]:
    return {"v": 1, "kind": kind, "t": 0.0, "run": "r1", "workflow": "wf", **fields}


def objects(quads: list[Any], s: NamedNode, p: NamedNode) -> set[Any]:
    return {q.object for q in quads if q.subject == s and q.predicate == p}


def test_translation_is_deterministic_and_duplicate_free() -> None:
    events = [ev("workflow_begin"), ev("task_begin", task="t", name="t", used=[{"name": "x", "value": 1}])]
    a, b = translate(events, iris=IRIS), translate(events + events, iris=IRIS)
    assert a == b and len(set(a)) == len(a)


def test_data_reference_identity_by_hash_else_by_normalised_location() -> None:
    assert IRIS.data({"location": "a", "sha256": "f" * 64}) == IRIS.data({"location": "b", "sha256": "f" * 64})
    assert IRIS.data({"store": "fs", "location": "d//x/./y.csv"}) == IRIS.data({"store": "fs", "location": "d/x/y.csv"})
    assert IRIS.data({"store": "fs", "location": "y.csv"}) != IRIS.data({"store": "s3", "location": "y.csv"})
    assert normalise_location("s3", "S3://B/k") == "s3\ns3://b/k"


def test_file_generated_by_one_workflow_and_used_by_another_is_one_node() -> None:
    out = {"name": "curated", "role": "data", "data": {"store": "fs", "location": "c.csv"}}
    w1 = translate([ev("task_end", task="t", name="t", status="finished", generated=[out])], iris=IRIS)
    w2 = translate([{**ev("task_begin", task="u", name="u", used=[out]), "run": "r2", "workflow": "other"}], iris=IRIS)
    node = IRIS.data(out["data"])
    assert objects(w1, node, PROV.wasGeneratedBy) == {IRIS.execution("r1", "t")}
    assert (IRIS.execution("r2", "u"), node) in {(q.subject, q.object) for q in w2 if q.predicate == PROV.used}


def test_sections_in_learning_stages_are_typed_by_stage() -> None:
    cyc = {"stage": "validate", "stage_type": "validation", "parent": "validate", "name": "epoch", "iteration": 2}
    quads = translate([ev("cycle_begin", task="validate/epoch-2", **cyc)], iris=IRIS)
    ex = IRIS.execution("r1", "validate/epoch-2")
    assert objects(quads, ex, RDF.type) == {PROVML.ValidationSectionExecution}
    assert objects(quads, ex, PROV.wasInformedBy) == {IRIS.execution("r1", "validate")}
    assert objects(quads, ex, PROVML.iteration) == {Literal("2", datatype=XSD.integer)}
    plan = IRIS.section("wf", "validate", "epoch")
    assert objects(quads, plan, RDF.type) == {PROVML.LearningStageSection}


def test_errored_task_records_status_and_error() -> None:
    quads = translate([ev("task_end", task="t", name="t", status="errored",
                          error={"type": "ValueError", "message": "boom"})], iris=IRIS)
    ex = IRIS.execution("r1", "t")
    assert objects(quads, ex, PROVML.status) == {Literal("errored")}
    assert objects(quads, ex, PROVML.errorType) == {Literal("ValueError")}
    assert objects(quads, ex, PROVML.errorMessage) == {Literal("boom")}


def test_evaluation_about_a_model_from_another_event() -> None:
    model = {"store": "fs", "location": "m.pt"}
    quads = translate([ev("task_end", task="v", name="v", type="validation", status="finished",
                          generated=[{"name": "loss", "role": "evaluation", "value": 0.1, "about": model}])], iris=IRIS)
    value = IRIS.value(IRIS.execution("r1", "v"), "generated", "loss")
    assert objects(quads, value, PROVML.evaluatedModel) == {IRIS.data(model)}


def test_domain_reference_and_persona() -> None:
    quads = translate([ev("workflow_begin", persona={"id": "ana", "name": "Ana"}),
                       ev("task_begin", task="t", name="t",
                          used=[{"name": "well", "domain": "https://example.org/well/1"}])], iris=IRIS)
    value = IRIS.value(IRIS.execution("r1", "t"), "used", "well")
    assert objects(quads, value, PROVML.kgReference) == {NamedNode("https://example.org/well/1")}
    assert IRIS.persona("ana") in objects(quads, IRIS.run("r1"), PROV.wasAssociatedWith)


@pytest.mark.parametrize(("value", "datatype", "lexical"), [
    (True, XSD.boolean, "true"), (3, XSD.integer, "3"), (0.25, XSD.double, "0.25"),
    (math.nan, XSD.double, "NaN"), (-math.inf, XSD.double, "-INF"), ("x", XSD.string, "x"),
    ([1, "a"], RDF.JSON, '[1,"a"]'),
])
def test_literals(value: Any, datatype: NamedNode, lexical: str) -> None:
    lit = literal(value)
    assert lit.datatype == datatype and lit.value == lexical


def test_a_nan_or_infinity_inside_a_value_or_as_a_key_is_written_as_xsd_spells_it() -> None:
    """Inside a list or object value (and as an object's key: JSON writes a number key as its
    text) a NaN or infinity is the string of XSD's spelling, so the ``rdf:JSON`` literal is JSON
    (24th session; a review found a NaN key still refused); a value without one is written as
    before."""
    import json

    got = literal({float("nan"): [1.0, float("-inf")]})
    assert got.datatype == RDF.JSON and json.loads(got.value) == {"NaN": [1.0, "-INF"]}
    assert json.loads(literal({"a": (float("inf"),)}).value) == {"a": ["INF"]}
    assert literal([1, {"b": 2.5, "c": None}, "x"]).value == '[1,{"b":2.5,"c":null},"x"]'
