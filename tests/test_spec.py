"""Prospective specs: parsing, errors, prospective nodes shared with capture-time derivation."""

from __future__ import annotations

from pathlib import Path

import pytest

from provml.ingest.iris import Iris
from provml.ingest.spec import SpecError, WorkflowSpec, load_spec
from provml.ingest.translation import translate
from provml.knowledge import KnowledgeGraph
from provml.store.oxigraph import OxigraphStore
from provml.vocab import PROVML, RDF

SPEC = """
workflow: wf
type: learning
study: s
stores: [{name: fs, type: FILE_SYSTEM}]
transformations:
  - name: train
    type: training
    used:
      - {name: lr, role: hyperparameter, dtype: float, domain_concept: "http://example.org/LR"}
      - {name: data}
    generated:
      - {name: acc, role: evaluation}
"""


def test_load_yaml_and_json(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(SPEC)
    spec = load_spec(tmp_path / "s.yaml")
    assert spec.role("train", "lr") == "hyperparameter"
    assert spec.role("train", "data") == "value"
    import json

    (tmp_path / "s.json").write_text(json.dumps(spec.to_dict()))
    assert load_spec(tmp_path / "s.json").to_dict() == spec.to_dict()


@pytest.mark.parametrize(("doc", "fragment"), [
    ("transformations: []", "needs a 'workflow'"),
    ("workflow: w\ntype: fancy", "type 'fancy'"),
    ("workflow: w\ntransformations: [{name: t, type: dance}]", "transformations[0].type 'dance'"),
    ("workflow: w\ntransformations: [{name: t, used: [{name: x, role: hyper}]}]", "transformations[0].used[0].role"),
    ("workflow: [unclosed", "does not parse"),
    # not lists: a TypeError before (a review, twenty-first session)
    ("workflow: w\ntransformations: 3", "transformations must be a list, got int"),
    ("workflow: w\ntransformations: [{name: t, used: 7}]", "transformations[0].used must be a list"),
    ("workflow: w\nstores: 5", "stores must be a list"),
    ("workflow: w\nstores: [5]", "stores[0] must be an object"),
])
def test_bad_specs_name_the_field(tmp_path: Path, doc: str, fragment: str) -> None:
    (tmp_path / "bad.yaml").write_text(doc)
    with pytest.raises(SpecError) as info:
        load_spec(tmp_path / "bad.yaml")
    assert fragment in str(info.value) and "bad.yaml" in str(info.value)


def test_spec_nodes_are_the_capture_time_nodes() -> None:
    iris = Iris()
    spec = WorkflowSpec.from_dict({"workflow": "wf", "transformations": [
        {"name": "train", "type": "training", "used": [{"name": "lr", "role": "hyperparameter"}]}]})
    from_spec = {q.subject for q in spec.quads(iris)}
    event = {"v": 1, "kind": "task_begin", "t": 0, "run": "r", "workflow": "wf", "task": "train", "name": "train",
             "type": "training", "used": [{"name": "lr", "role": "hyperparameter", "value": 0.1}]}
    from_capture = {q.subject for q in translate([event], iris=iris) if q.graph_name == iris.plans_graph}
    assert from_capture <= from_spec


def test_registered_spec_types_values_captured_without_role() -> None:
    kg = KnowledgeGraph(OxigraphStore())
    kg.load_ontologies()
    kg.register_spec(WorkflowSpec.from_dict({"workflow": "wf", "type": "learning", "transformations": [
        {"name": "train", "type": "training", "used": [{"name": "lr", "role": "hyperparameter"}]}]}))
    kg.ingest_events([
        {"v": 1, "kind": "workflow_begin", "t": 0, "run": "r", "workflow": "wf", "type": "learning"},
        {"v": 1, "kind": "task_begin", "t": 1, "run": "r", "workflow": "wf", "task": "train", "name": "train",
         "type": "training", "used": [{"name": "lr", "value": 0.1}]},
    ])
    value = kg.iris.value(kg.iris.execution("r", "train"), "used", "lr")
    types = {q.object for q in kg.store.quads() if q.subject == value and q.predicate == RDF.type}
    assert PROVML.LearningHyperparameterValue in types
