"""Prospective specs: parsing, errors, prospective nodes shared with capture-time derivation."""

from __future__ import annotations

import json
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
    # a prefixed name for a domain concept: an IRI linked to nothing, which the JSON-LD export then
    # failed on (a review, twenty-seventh session); as a value's domain, refused
    ("workflow: w\ntransformations: [{name: t, used: [{name: x, domain_concept: 'oilgas:Well'}]}]",
     "transformations[0].used[0].domain_concept 'oilgas:Well' must be an absolute IRI"),
    ("workflow: w\ntransformations: [{name: t, used: [{name: x, domain_concept: 7}]}]",
     "transformations[0].used[0].domain_concept 7 must be an absolute IRI"),
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


def test_a_refused_batchs_spec_does_not_type_later_batches() -> None:
    """A spec event was registered before its batch was checked: the batch refused (its run ends
    before it begins), the spec stayed in the server's memory and typed the next batches'
    values (a probe, 22nd session), though nothing of it was stored. A refused batch's specs
    are now taken back; one registered before stays."""
    from provml.errors import ValidationFailed

    kg = KnowledgeGraph(OxigraphStore())
    kg.load_ontologies()
    spec = {"workflow": "wf", "type": "learning", "transformations": [
        {"name": "train", "type": "training", "used": [{"name": "lr", "role": "hyperparameter"}]}]}

    def run(r: str, t0: float = 10) -> list[dict[str, object]]:
        return [{"v": 1, "kind": "workflow_begin", "t": t0, "run": r, "workflow": "wf", "type": "learning"},
                {"v": 1, "kind": "task_begin", "t": t0 + 1, "run": r, "workflow": "wf", "task": "train",
                 "name": "train", "type": "training", "used": [{"name": "lr", "value": 0.1}]}]

    def types(r: str) -> set[object]:
        value = kg.iris.value(kg.iris.execution(r, "train"), "used", "lr")
        return {q.object for q in kg.store.quads() if q.subject == value and q.predicate == RDF.type}

    before = len(kg.store)
    with pytest.raises(ValidationFailed):
        kg.ingest_events([{"v": 1, "kind": "spec", "t": 0, "run": "s1", "workflow": "wf", "spec": spec},
                          *run("s1"), {"v": 1, "kind": "workflow_end", "t": 1, "run": "s1", "workflow": "wf",
                                       "status": "finished"}])  # ends before it began
    assert len(kg.store) == before and "wf" not in kg.specs
    kg.ingest_events(run("s2"))
    assert PROVML.LearningHyperparameterValue not in types("s2")
    # a spec registered before a refused batch that brings another stays the one in use
    kg.register_spec(WorkflowSpec.from_dict(spec))
    other = {**spec, "transformations": [{"name": "train", "type": "training",
                                           "used": [{"name": "lr", "role": "value"}]}]}
    with pytest.raises(ValidationFailed):
        kg.ingest_events([{"v": 1, "kind": "spec", "t": 0, "run": "s3", "workflow": "wf", "spec": other},
                          *run("s3"), {"v": 1, "kind": "workflow_end", "t": 1, "run": "s3", "workflow": "wf",
                                       "status": "finished"}])
    kg.ingest_events(run("s4"))
    assert PROVML.LearningHyperparameterValue in types("s4")


def _run(r: str, used: list[dict[str, object]], workflow: str = "wf") -> list[dict[str, object]]:
    return [{"v": 1, "kind": "workflow_begin", "t": 10, "run": r, "workflow": workflow, "type": "learning"},
            {"v": 1, "kind": "task_begin", "t": 11, "run": r, "workflow": workflow, "task": "train",
             "name": "train", "type": "training", "used": used}]


def _types(kg: KnowledgeGraph, r: str, name: str) -> set[object]:
    value = kg.iris.value(kg.iris.execution(r, "train"), "used", name)
    return {q.object for q in kg.store.quads() if q.subject == value and q.predicate == RDF.type}


def _spec(**roles: str) -> dict[str, object]:
    return {"workflow": "wf", "type": "learning", "transformations": [
        {"name": "train", "type": "training", "used": [{"name": n, "role": r} for n, r in roles.items()]}]}


def test_a_spec_types_values_captured_without_role_after_a_restart(tmp_path: Path) -> None:
    """Specs lived in the ingesting process's memory only: after `provml serve` restarted, a
    value captured without a role was a plain attribute value until a spec event came again
    (22nd session's open items). The spec's document is stored with the workflow
    (provml:specification) and read back by a process that has not seen it; sent again, it
    is the same statement."""
    from provml.knowledge import open_kg

    kg = open_kg(tmp_path / "store")
    kg.ingest_events([{"v": 1, "kind": "spec", "t": 5, "run": "r0", "workflow": "wf", "spec": _spec(lr="hyperparameter")}])
    kg.ingest_events([{"v": 1, "kind": "spec", "t": 6, "run": "r1", "workflow": "wf", "spec": _spec(lr="hyperparameter")}])
    plan = kg.iris.plan("wf")
    documents = [q.object for q in kg.store.quads() if q.subject == plan and q.predicate == PROVML.specification]
    assert len(documents) == 1 and json.loads(documents[0].value)["workflow"] == "wf"
    kg.close()
    kg = open_kg(tmp_path / "store")
    assert "wf" not in kg.specs
    kg.ingest_events(_run("after", [{"name": "lr", "value": 0.1}, {"name": "other", "value": 1}]))
    assert PROVML.LearningHyperparameterValue in _types(kg, "after", "lr")
    assert PROVML.LearningHyperparameterValue not in _types(kg, "after", "other")
    kg.close()


def test_a_new_version_of_a_spec_replaces_the_stored_one_and_two_give_their_agreed_roles(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A spec event's version is the one in force: the store keeps its document alone, so a
    restarted ingest uses it (kept beside the older ones, a spec that changed once was
    "disputed" after every restart: a review, 23rd session). Two documents (a crash between
    the write and the removal) give only the roles they agree on, with a warning naming the
    others, until a spec event settles it, for good."""
    from pyoxigraph import Literal, Quad

    from provml.knowledge import open_kg

    kg = open_kg(tmp_path / "store")
    plan = kg.iris.plan("wf")

    def documents() -> list[str]:
        return [q.object.value for q in kg.store.quads() if q.subject == plan and q.predicate == PROVML.specification]

    odd = 'says "why"\n\\ in é and 🙂'  # what the removal must write back as SPARQL reads it
    kg.register_spec(WorkflowSpec.from_dict({**_spec(lr="hyperparameter", bs="hyperparameter"), "description": odd}))
    old = documents()
    assert odd in old[0] or json.dumps(odd, ensure_ascii=False)[1:-1] in old[0]
    kg.register_spec(WorkflowSpec.from_dict(_spec(lr="value", bs="hyperparameter")))
    assert len(documents()) == 1 and documents() != old
    kg.close()
    kg = open_kg(tmp_path / "store")
    kg.ingest_events(_run("after", [{"name": "lr", "value": 0.1}, {"name": "bs", "value": 32}]))
    assert PROVML.LearningHyperparameterValue not in _types(kg, "after", "lr")  # the newer version
    assert PROVML.LearningHyperparameterValue in _types(kg, "after", "bs")
    kg.store.add([Quad(plan, PROVML.specification, Literal(old[0]), kg.iris.plans_graph)])  # both
    kg.close()
    kg = open_kg(tmp_path / "store")
    with caplog.at_level("WARNING", logger="provml.ingest.spec"):
        kg.ingest_events(_run("both", [{"name": "lr", "value": 0.1}, {"name": "bs", "value": 32}]))
    assert "train/lr" in caplog.text and "train/bs" not in caplog.text
    assert PROVML.LearningHyperparameterValue not in _types(kg, "both", "lr")
    assert PROVML.LearningHyperparameterValue in _types(kg, "both", "bs")
    kg.ingest_events([{"v": 1, "kind": "spec", "t": 20, "run": "r2", "workflow": "wf",
                       "spec": _spec(lr="hyperparameter")}])  # settles it, in the store too
    assert len(documents()) == 1
    kg.close()
    kg = open_kg(tmp_path / "store")
    kg.ingest_events(_run("later", [{"name": "lr", "value": 0.2}]))
    assert PROVML.LearningHyperparameterValue in _types(kg, "later", "lr")
    kg.close()


def test_a_stored_spec_that_does_not_load_gives_no_roles_and_ingest_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from pyoxigraph import Literal, Quad

    from provml.knowledge import open_kg

    kg = open_kg(tmp_path / "store")
    kg.store.add([Quad(kg.iris.plan("wf"), PROVML.specification, Literal("[1,"),
                       kg.iris.plans_graph)])
    with caplog.at_level("WARNING", logger="provml.ingest.spec"):
        kg.ingest_events(_run("r", [{"name": "lr", "value": 0.1}]))
        kg.ingest_events(_run("r2", [{"name": "lr", "value": 0.1}]))
    assert caplog.text.count("does not load") == 1  # asked once: a workflow without a spec is remembered
    assert PROVML.LearningHyperparameterValue not in _types(kg, "r", "lr")
    kg.register_spec(WorkflowSpec.from_dict(_spec(lr="hyperparameter")))  # a spec event still applies
    kg.ingest_events(_run("r3", [{"name": "lr", "value": 0.1}]))
    assert PROVML.LearningHyperparameterValue in _types(kg, "r3", "lr")
    kg.close()


def test_a_workflow_found_without_a_spec_is_asked_for_again_after_a_while(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A workflow whose spec the store did not hold was remembered as such for good: a spec that
    another process then stored (a second ingest on the same store) was never used. It is asked
    for again once ``UNSPECIFIED_S`` seconds have passed, and not before."""
    from provml import knowledge
    from provml.store.oxigraph import OxigraphStore

    store = OxigraphStore(tmp_path / "store")
    first, other = KnowledgeGraph(store), KnowledgeGraph(store)  # two ingests, one store
    first.ingest_events(_run("a", [{"name": "lr", "value": 0.1}]))
    other.register_spec(WorkflowSpec.from_dict(_spec(lr="hyperparameter")))
    first.ingest_events(_run("b", [{"name": "lr", "value": 0.1}]))
    assert PROVML.LearningHyperparameterValue not in _types(first, "b", "lr")  # remembered: not asked
    monkeypatch.setattr(knowledge, "UNSPECIFIED_S", 0.0)
    first.ingest_events(_run("c", [{"name": "lr", "value": 0.1}]))
    assert PROVML.LearningHyperparameterValue in _types(first, "c", "lr")
    store.close()


def test_a_spec_event_during_the_stored_specs_read_is_not_overwritten(monkeypatch: pytest.MonkeyPatch) -> None:
    """The endpoint ingests on several threads and translation runs outside the write lock: a
    spec event registered while another batch read the older stored version was overwritten
    by that read, and later batches got the old roles (a review, 23rd session)."""
    from provml import knowledge
    from provml.ingest import spec as specs

    store = OxigraphStore()
    KnowledgeGraph(store).register_spec(WorkflowSpec.from_dict(_spec(lr="value")))  # stored earlier
    kg = KnowledgeGraph(store)
    newer = WorkflowSpec.from_dict(_spec(lr="hyperparameter"))

    def read_while_a_spec_event_lands(*args: object) -> object:
        found = specs.stored_spec(*args)  # type: ignore[arg-type]
        kg.specs["wf"] = newer  # what another thread's spec event does meanwhile
        return found

    monkeypatch.setattr(knowledge, "stored_spec", read_while_a_spec_event_lands)
    kg.ingest_events(_run("a", [{"name": "lr", "value": 0.1}]))
    assert kg.specs["wf"] is newer
    kg.ingest_events(_run("b", [{"name": "lr", "value": 0.1}]))
    assert PROVML.LearningHyperparameterValue in _types(kg, "b", "lr")


def test_the_stored_document_holds_a_stores_name_and_type_only() -> None:
    """The graph held a data store's name and type; the stored document first held all its
    keys (a host, a path, a bucket): connection detail, not the declaration (a review)."""
    kg = KnowledgeGraph(OxigraphStore())
    kg.register_spec(WorkflowSpec.from_dict({**_spec(lr="hyperparameter"), "stores": [
        {"name": "wells", "type": "OBJECT_STORE", "bucket": "s3://team-private/wells", "region": "eu-north-1"}]}))
    (document,) = [q.object.value for q in kg.store.quads() if q.predicate == PROVML.specification]
    assert json.loads(document)["stores"] == [{"name": "wells", "type": "OBJECT_STORE"}]
    assert "team-private" not in "\n".join(str(q) for q in kg.store.quads())


def test_a_new_version_in_a_batch_written_as_n_quads_replaces_the_stored_one(tmp_path: Path) -> None:
    """A batch of ``BULK_MIN_QUADS`` quads or more reaches the store as N-Quads, which the check
    for a spec document searches as bytes (24th session); a new version there retires the
    older one as in a small batch."""
    from provml.knowledge import open_kg
    from provml.store.oxigraph import BULK_MIN_QUADS

    kg = open_kg(tmp_path / "store")
    plan = kg.iris.plan("wf")
    kg.register_spec(WorkflowSpec.from_dict(_spec(lr="hyperparameter")))
    values = [{"name": f"v{i}", "value": i} for i in range(BULK_MIN_QUADS // 4)]
    result = kg.ingest_events([{"v": 1, "kind": "spec", "t": 20, "run": "r2", "workflow": "wf", "spec": _spec(lr="value")},
                               *_run("big", values)])
    assert result.triples >= BULK_MIN_QUADS
    documents = [q.object.value for q in kg.store.quads() if q.subject == plan and q.predicate == PROVML.specification]
    assert len(documents) == 1 and '"value"' in documents[0]
    kg.close()


def test_a_spec_stored_with_a_prefixed_domain_concept_still_gives_its_roles(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A prefixed name as a domain concept (``oilgas:Well``) is refused since the twenty-seventh
    session; a spec stored before with one did not load at all, so every later run of its
    workflow lost its roles (a review's leftover). Its roles are used, that concept not, with a
    warning naming it."""
    from pyoxigraph import Literal, Quad

    from provml.knowledge import open_kg

    kg = open_kg(tmp_path / "store")
    doc = _spec(lr="hyperparameter")
    doc["transformations"][0]["used"][0]["domain_concept"] = "oilgas:LearningRate"  # type: ignore[index]
    kg.store.add([Quad(kg.iris.plan("wf"), PROVML.specification,
                       Literal(json.dumps(doc, sort_keys=True)), kg.iris.plans_graph)])
    with caplog.at_level("WARNING", logger="provml.ingest.spec"):
        kg.ingest_events(_run("r", [{"name": "lr", "value": 0.1}]))
    assert PROVML.LearningHyperparameterValue in _types(kg, "r", "lr")
    assert "oilgas:LearningRate" in caplog.text and "does not load" not in caplog.text
    kg.close()
