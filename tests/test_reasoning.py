"""HermiT (through owlready2) over the real ontology: consistent, no unsatisfiable class, PROV-O's
import closure included; instance data written as ``docs/events.md`` describes is consistent with
it; the class closure is right and cached so Java runs once per ontology version."""

from __future__ import annotations

import json
from pathlib import Path

import owlready2
import pytest

from provml.errors import MissingExtra
from provml.ingest.enrichment import ontology_files
from provml.ingest.reasoner import (
    ConsistencyReport,
    cache_path,
    check_consistency,
)
from provml.ingest.reasoner import reasoner_closure as class_closure
from provml.ontology import path
from provml.vocab import MLS, OILGAS, PROV, PROVML, SKOS

pytestmark = pytest.mark.slow

#: instance data shaped as provml.ingest.translation writes it (docs/events.md): plans, a learning run
#: with a training stage, an epoch and a batch, values, a dataset with a characteristic, a model
#: with a hyperparameter and an evaluation, software, a persona, an inference with a prediction,
#: a link into the Oil & Gas domain KG, and every provml datatype property
EVENTS_DATA = """
@base <https://w3id.org/provml/id/> .
@prefix provml: <https://w3id.org/provml#> .
@prefix prov: <http://www.w3.org/ns/prov#> .
@prefix oilgas: <https://w3id.org/provml/oil-gas#> .
@prefix rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .

<plan/study/lith> a provml:Study ; rdfs:label "lith" ; provml:hadMember <plan/wf> .
<plan/wf> a provml:LearningExperiment ; rdfs:label "wf" ;
    provml:hadMember <plan/wf/prep>, <plan/wf/train>, <plan/wf/infer>, <plan/wf/deploy> .
<plan/wf/prep> a provml:DataTransformation ; provml:hadMember <plan/wf/prep/chunk> ;
    provml:usesAttribute <plan/wf/prep/attribute/raw> .
<plan/wf/prep/chunk> a provml:DataTransformation .
<plan/wf/prep/attribute/raw> a provml:Attribute ; provml:domainConcept oilgas:WellLog ;
    provml:datatypeName "path" .
<plan/wf/train> a provml:Training ; provml:hadMember <plan/wf/train/epoch> ;
    provml:usesAttribute <plan/wf/train/attribute/lr>, <plan/wf/train/attribute/train_set>,
        <plan/wf/train/attribute/task> ;
    provml:generatesAttribute <plan/wf/train/attribute/model>, <plan/wf/train/attribute/loss>,
        <plan/wf/train/attribute/epoch> .
<plan/wf/train/epoch> a provml:LearningStageSection ; provml:hadMember <plan/wf/train/epoch/batch> .
<plan/wf/train/epoch/batch> a provml:LearningStageSection .
<plan/wf/train/attribute/lr> a provml:LearningHyperparameter .
<plan/wf/train/attribute/task> a provml:LearningTask .
<plan/wf/train/attribute/train_set> a provml:LearningDataSetReference .
<plan/wf/train/attribute/samples> a provml:DatasetCharacteristic .
<plan/wf/train/attribute/model> a provml:ModelProspection .
<plan/wf/train/attribute/loss> a provml:EvaluationMeasure .
<plan/wf/train/attribute/epoch> a provml:ModelHyperparameter .
<plan/wf/infer> a provml:Inference ; provml:generatesAttribute <plan/wf/infer/attribute/pred> .
<plan/wf/infer/attribute/pred> a provml:Attribute .
<plan/wf/deploy> a provml:Deployment .
<plan/algorithm/mlp> a provml:Algorithm .

<run/r1> a provml:LearningProcessExecution ; prov:wasInfluencedBy <plan/wf> ;
    prov:startedAtTime "2026-01-01T00:00:00Z"^^xsd:dateTime ;
    prov:endedAtTime "2026-01-01T00:01:00Z"^^xsd:dateTime ;
    provml:status "finished" ; provml:hostname "node1" ; provml:processId 4242 ;
    provml:jobId "77" ; provml:jobScheduler "SLURM" ; provml:pythonVersion "3.11.2" ;
    provml:gitCommit "0123abc" ; provml:platform "Linux-x86_64" ;
    provml:environmentVariable "CUDA_VISIBLE_DEVICES=0" ; provml:tag "Training" ;
    prov:wasAssociatedWith <persona/alice> .
<run/r1/prep> a provml:DataTransformationExecution ; prov:wasInformedBy <run/r1> ;
    prov:wasInfluencedBy <plan/wf/prep> ; prov:used <data/sha256-raw> .
<run/r1/prep/chunk-0> a provml:DataTransformationExecution ; provml:iteration 0 ;
    prov:wasInformedBy <run/r1/prep> ; prov:wasInfluencedBy <plan/wf/prep/chunk> .
<run/r1/train> a provml:TrainingExecution ; prov:wasInfluencedBy <plan/wf/train> ;
    prov:wasInformedBy <run/r1> ;
    prov:used <run/r1/train/used/lr>, <run/r1/train/used/task>, <data/sha256-aa> ;
    prov:wasAssociatedWith <persona/alice>, <software/sklearn/1.4/mlp> .
<run/r1/train/epoch-0> a provml:TrainingSectionExecution ; provml:iteration 0 ;
    prov:wasInformedBy <run/r1/train> ; prov:wasInfluencedBy <plan/wf/train/epoch> .
<run/r1/train/epoch-0/batch-0> a provml:TrainingSectionExecution ; provml:iteration 0 ;
    prov:wasInformedBy <run/r1/train/epoch-0> ; prov:wasInfluencedBy <plan/wf/train/epoch/batch> ;
    provml:status "errored" ; provml:errorType "ValueError" ; provml:errorMessage "nan loss" .
<run/r1/train/used/lr> a provml:LearningHyperparameterValue ;
    prov:value "[0.01, 0.001]"^^rdf:JSON ; prov:wasDerivedFrom <plan/wf/train/attribute/lr> .
<run/r1/train/used/task> a provml:LearningTaskValue ; prov:value "lithology classification" ;
    prov:wasDerivedFrom <plan/wf/train/attribute/task> .
<data/sha256-raw> a provml:DataReference ; provml:location "las/16_2-6.las.gz" ;
    provml:kgReference <oil-gas/well-log/16_2-6> ; provml:dataStore <store/local-fs> .
<data/sha256-aa> a provml:LearningDataset ; provml:location "data/train.parquet" ;
    provml:contentHash "sha256:aa" ; provml:byteSize 1234 ; provml:mediaType "application/x-parquet" ;
    provml:dataStore <store/local-fs> ; prov:hadMember <data/sha256-aa/characteristic/samples> ;
    prov:wasDerivedFrom <plan/wf/train/attribute/train_set> ;
    provml:kgReference <oil-gas/well/16_2-6> .
<data/sha256-aa/characteristic/samples> a provml:DatasetCharacteristicValue ; prov:value 9138 ;
    prov:wasDerivedFrom <plan/wf/train/attribute/samples> .
<store/local-fs> a provml:DataStoreInstance ; provml:storeType "FILE_SYSTEM" .
<data/sha256-bb> a provml:Model ; prov:wasGeneratedBy <run/r1/train/epoch-0> ;
    prov:hadMember <run/r1/train/epoch-0/generated/epoch> ; provml:dataStore <store/local-fs> ;
    prov:wasDerivedFrom <plan/wf/train/attribute/model> .
<run/r1/train/epoch-0/generated/epoch> a provml:ModelHyperparameterValue ; prov:value 0 ;
    prov:wasGeneratedBy <run/r1/train/epoch-0> ; prov:wasDerivedFrom <plan/wf/train/attribute/epoch> .
<run/r1/train/epoch-0/generated/loss> a provml:ModelEvaluation ; prov:value 0.0022 ;
    provml:evaluatedModel <data/sha256-bb> ; prov:wasGeneratedBy <run/r1/train/epoch-0> ;
    prov:wasDerivedFrom <plan/wf/train/attribute/loss> .
<persona/alice> a provml:Persona ; rdfs:label "Alice" .
<software/sklearn> a provml:Software ; provml:softwareVersion "1.4.2" ; rdfs:label "scikit-learn" .
<software/sklearn/1.4/mlp> a provml:Implementation ; prov:wasAttributedTo <software/sklearn> ;
    prov:wasDerivedFrom <plan/algorithm/mlp> ; provml:softwareVersion "1.4.2" ; provml:gitCommit "fff" .
<run/r1/infer> a provml:InferenceExecution ; prov:wasInformedBy <run/r1> ;
    prov:wasInfluencedBy <plan/wf/infer> ; prov:used <data/sha256-bb>, <data/sha256-cc> .
<data/sha256-cc> a provml:DataReference ; provml:location "las/32_2-1.las.gz" .
<data/sha256-dd> a provml:Prediction ; prov:wasGeneratedBy <run/r1/infer> ;
    prov:wasDerivedFrom <data/sha256-bb>, <data/sha256-cc>, <plan/wf/infer/attribute/pred> .
<run/r1/deploy> a provml:DeploymentExecution ; prov:wasInformedBy <run/r1> ;
    prov:used <data/sha256-bb> ; prov:wasInfluencedBy <plan/wf/deploy> .
<bundle/r1> a prov:Bundle .

<oil-gas/well/16_2-6> a oilgas:Well ; oilgas:officialName "16/2-6" ; oilgas:easting 477771.9 ;
    oilgas:wellInField <oil-gas/field/johan-sverdrup> .
<oil-gas/well-log/16_2-6> a oilgas:WellLog ; oilgas:topDepth 141.019 ; oilgas:sampleCount 13094 .
"""


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One closure cache for the module, so HermiT runs once for the plain ontology."""
    return tmp_path_factory.mktemp("closure-cache")


@pytest.fixture(scope="module")
def closure(cache_dir: Path) -> dict[str, frozenset[str]]:
    return class_closure(cache_dir=cache_dir)


def test_the_ontology_is_consistent_with_no_unsatisfiable_class() -> None:
    report = check_consistency(ontologies=[path("domains/oil-gas.ttl")])
    assert report == ConsistencyReport(consistent=True, unsatisfiable=())
    assert report.ok


def test_the_reasoner_sees_the_prov_o_import_closure(closure: dict[str, frozenset[str]]) -> None:
    assert path("imports/prov-o.ttl").resolve() in ontology_files()
    assert {PROV.Plan.value, PROV.Entity.value} <= closure[PROV.Plan.value]
    assert PROV.Entity.value in closure[PROV.Collection.value]


def test_instance_data_written_as_events_md_describes_is_consistent(tmp_path: Path) -> None:
    data = tmp_path / "run.ttl"
    data.write_text(EVENTS_DATA, encoding="utf-8")
    report = check_consistency(ontologies=[path("domains/oil-gas.ttl")], data=[data])
    assert report.ok, report


def test_contradictory_data_is_found_inconsistent(tmp_path: Path) -> None:
    data = tmp_path / "bad.ttl"
    # an execution that is also its own plan: prov:Activity and prov:Entity are disjoint
    data.write_text(f"<https://w3id.org/provml/id/x> a <{PROVML.TrainingExecution.value}>, "
                    f"<{PROVML.Training.value}> .\n", encoding="utf-8")
    assert check_consistency(data=[data]) == ConsistencyReport(consistent=False, unsatisfiable=())


def test_an_unsatisfiable_class_is_reported(tmp_path: Path) -> None:
    extra = tmp_path / "extra.ttl"
    extra.write_text(
        "@prefix owl: <http://www.w3.org/2002/07/owl#> .\n"
        "@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n"
        "<http://example.org/x> a owl:Ontology .\n"
        f"<http://example.org/Both> a owl:Class ; rdfs:subClassOf <{PROVML.Attribute.value}>, "
        f"<{PROVML.AttributeValue.value}> .\n", encoding="utf-8")
    report = check_consistency(ontologies=[extra])
    assert report.consistent and not report.ok
    assert report.unsatisfiable == ("http://example.org/Both",)
    with pytest.raises(ValueError, match="inconsistent"):
        bad = tmp_path / "bad.ttl"
        bad.write_text(f"<http://example.org/i> a <{PROVML.Training.value}>, "
                       f"<{PROVML.TrainingExecution.value}> .\n", encoding="utf-8")
        class_closure(ontologies=[bad], cache_dir=tmp_path / "cache")


def test_class_closure(closure: dict[str, frozenset[str]]) -> None:
    assert closure[PROVML.TrainingSectionExecution.value] == {
        t.value for t in (PROVML.TrainingSectionExecution, PROVML.LearningStageSectionExecution,
                          PROVML.BaseLearningExecution, PROVML.DataTransformationExecution,
                          PROV.Activity)}
    assert MLS.Run.value in closure[PROVML.LearningProcessExecution.value]
    assert PROVML.LearningProcessExecution.value in closure[MLS.Run.value]
    assert {PROV.Collection.value, MLS.Model.value, PROV.Entity.value,
            PROVML.AttributeValue.value} <= closure[PROVML.Model.value]
    assert closure[PROVML.Training.value] >= {PROV.Plan.value, PROV.Entity.value}
    assert closure[PROVML.Implementation.value] >= {PROV.SoftwareAgent.value, PROV.Agent.value}
    assert all(cls in supers for cls, supers in closure.items())
    assert not any("2002/07/owl#Thing" in s for supers in closure.values() for s in supers)


def test_class_closure_with_the_domain_ontology(tmp_path: Path) -> None:
    closure = class_closure(ontologies=[path("domains/oil-gas.ttl")], cache_dir=tmp_path)
    assert closure[OILGAS.Lithology.value] == {OILGAS.Lithology.value, SKOS.Concept.value}
    assert OILGAS.Well.value in closure and PROVML.Model.value in closure


def test_class_closure_is_cached_and_the_cache_spares_java(
    closure: dict[str, frozenset[str]], cache_dir: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cached = cache_path(ontology_files(), cache_dir)
    assert cached.is_file() and cached in cache_dir.glob("class-closure-*.json")
    payload = json.loads(cached.read_text(encoding="utf-8"))
    assert payload["closure"][PROVML.Model.value] == sorted(closure[PROVML.Model.value])

    # with no usable java, only the cache can answer: it does, and an empty cache cannot
    monkeypatch.setattr(owlready2, "JAVA_EXE", str(tmp_path / "no-such-java"))
    assert class_closure(cache_dir=cache_dir) == closure
    with pytest.raises(MissingExtra, match="Java"):
        class_closure(cache_dir=tmp_path / "empty")

    # the cache is what answers: a doctored cache file is believed
    original = cached.read_text(encoding="utf-8")
    cached.write_text(json.dumps({"format": 1, "closure": {"x": ["x", "y"]}}), encoding="utf-8")
    assert class_closure(cache_dir=cache_dir) == {"x": frozenset({"x", "y"})}
    cached.write_text(original, encoding="utf-8")


def test_the_cache_key_follows_the_ontology_bytes(tmp_path: Path) -> None:
    a = tmp_path / "a.ttl"
    a.write_text("<http://example.org/a> a <http://www.w3.org/2002/07/owl#Ontology> .\n")
    before = cache_path([a], tmp_path)
    a.write_text("<http://example.org/b> a <http://www.w3.org/2002/07/owl#Ontology> .\n")
    assert cache_path([a], tmp_path) != before
    assert cache_path([a], tmp_path) == cache_path([a], tmp_path)


def test_default_cache_dir_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from provml.ingest.reasoner import default_cache_dir

    monkeypatch.setenv("PROVML_CACHE_DIR", str(tmp_path))
    assert default_cache_dir() == tmp_path
    monkeypatch.delenv("PROVML_CACHE_DIR")
    assert default_cache_dir() == Path.home() / ".cache" / "provml"


def test_the_shipped_example_graph_is_consistent_with_the_ontology() -> None:
    example = Path(__file__).resolve().parent.parent / "ontology" / "examples" / "fig8.ttl"
    if not example.is_file():
        pytest.skip("ontology/examples/fig8.ttl is not there yet")
    report = check_consistency(ontologies=[path("domains/oil-gas.ttl")], data=[example])
    assert report.ok, report


def test_doctests(
    closure: dict[str, frozenset[str]], cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import doctest

    import provml.ingest.reasoner

    monkeypatch.setenv("PROVML_CACHE_DIR", str(cache_dir))
    result = doctest.testmod(provml.ingest.reasoner)
    assert result.failed == 0 and result.attempted >= 3
