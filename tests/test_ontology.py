"""``ontology/provml.ttl``: it parses (rdflib, pyoxigraph, py-horned-owl), its header says what
issue 2 asks, PROV-O is vendored unmodified and resolves through the catalog, and every class of
paper §4.2-4.5 is there under the super-class the paper (or our documented decision) gives."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyoxigraph as ox
import pytest

from provml.ontology import path
from provml.ontology_info import find_catalog, import_closure, ontology_info, read_catalog
from provml.vocab import DCT, MLS, ONTOLOGY_IRI, OWL, PROV, PROVML, RDF, RDFS, SKOS

PROV_O_SHA256 = "7d203989f67b38bca572253942acc5a1bf24ce3ccfece16f072dcb4be2b79a96"
PAPER = ox.NamedNode("https://doi.org/10.1002/cpe.6544")
VANN_PREFIX = ox.NamedNode("http://purl.org/vocab/vann/preferredNamespacePrefix")
P = PROVML

#: paper §4.2-4.5 (and the decisions of docs/ontology.md): class -> its asserted super-classes
CLASS_TABLE: dict[ox.NamedNode, tuple[ox.NamedNode, ...]] = {
    # §4.2 PROVLake base
    P.Project: (PROV.Plan,),
    P.Workflow: (PROV.Plan,),
    P.DataTransformation: (PROV.Plan,),
    P.Attribute: (PROV.Entity,),
    P.DataSchema: (PROV.Entity,),
    P.DataStore: (PROV.Entity,),
    P.DataStoreInstance: (PROV.Collection,),
    P.WorkflowExecution: (PROV.Activity,),
    P.DataTransformationExecution: (PROV.Activity,),
    P.AttributeValue: (PROV.Entity,),
    P.DataReference: (P.AttributeValue,),
    P.Program: (PROV.SoftwareAgent,),
    P.Persona: (PROV.Agent,),
    # §4.3 PROV-ML classes with their PROVLake stereotypes
    P.Study: (P.Project,),
    P.LearningExperiment: (P.Workflow,),
    P.LearningProcessExecution: (P.WorkflowExecution,),
    P.LearningTask: (P.Attribute,),
    P.LearningTaskValue: (P.AttributeValue,),
    P.BaseLearningStage: (P.DataTransformation,),
    P.BaseLearningExecution: (P.DataTransformationExecution,),
    P.LearningStage: (P.BaseLearningStage,),
    P.Training: (P.LearningStage,),
    P.Validation: (P.LearningStage,),
    P.Evaluation: (P.LearningStage,),
    P.LearningStageExecution: (P.BaseLearningExecution,),
    P.TrainingExecution: (P.LearningStageExecution,),
    P.ValidationExecution: (P.LearningStageExecution,),
    P.EvaluationExecution: (P.LearningStageExecution,),
    P.LearningStageSection: (P.BaseLearningStage,),
    P.LearningStageSectionExecution: (P.BaseLearningExecution,),
    P.Algorithm: (P.Attribute,),
    P.Software: (P.Program,),
    P.Implementation: (P.Program,),
    P.ImplementationCharacteristicValue: (P.AttributeValue,),
    P.LearningHyperparameter: (P.LearningHyperparameterSetting,),
    P.LearningHyperparameterValue: (P.AttributeValue, MLS.HyperParameterSetting),
    P.LearningDataSetReference: (P.Attribute,),
    P.LearningDataset: (P.DataReference, PROV.Collection, MLS.Dataset),
    P.DatasetCharacteristic: (P.Attribute,),
    P.DatasetCharacteristicValue: (P.AttributeValue,),
    P.FeatureExtraction: (P.DataTransformation,),
    P.FeatureExtractionExecution: (P.DataTransformationExecution,),
    P.FeatureSet: (P.Attribute,),
    P.FeatureSetData: (P.AttributeValue,),
    P.FeatureSetCharacteristic: (P.Attribute,),
    P.ModelSchema: (P.DataSchema,),
    P.ModelProspection: (P.Attribute,),
    P.Model: (P.DataReference, PROV.Collection, MLS.Model),
    P.ModelHyperparameter: (P.LearningHyperparameterSetting,),
    P.ModelHyperparameterValue: (P.AttributeValue,),
    P.EvaluationMeasure: (P.Attribute,),
    P.ModelEvaluation: (P.AttributeValue, MLS.ModelEvaluation),
    MLS.EvaluationSpecification: (P.Attribute,),
    MLS.EvaluationProcedure: (P.Attribute,),
    # §4.5 names of the paper's own SPARQL
    P.TrainingSectionExecution: (P.LearningStageSectionExecution,),
    P.ValidationSectionExecution: (P.LearningStageSectionExecution,),
    P.EvaluationSectionExecution: (P.LearningStageSectionExecution,),
    P.LearningHyperparameterSetting: (P.Attribute,),
    # provml's extension (after learning)
    P.Inference: (P.DataTransformation,),
    P.InferenceExecution: (P.DataTransformationExecution,),
    P.Deployment: (P.DataTransformation,),
    P.DeploymentExecution: (P.DataTransformationExecution,),
    P.Prediction: (P.DataReference,),
    P.MeasureSummary: (PROV.Entity,),  # ingest-time summaries of measures (docs/ontology.md)
}
EXTENSION = {P.Inference, P.InferenceExecution, P.Deployment, P.DeploymentExecution, P.Prediction,
             P.MeasureSummary}


@pytest.fixture(scope="module")
def triples() -> set[ox.Triple]:
    return {q.triple for q in ox.parse(path=path("provml.ttl"), format=ox.RdfFormat.TURTLE)}


def _objects(triples: set[ox.Triple], s: ox.NamedNode, p: ox.NamedNode) -> set[ox.Term]:
    return {t.object for t in triples if t.subject == s and t.predicate == p}


def test_parses_with_rdflib_and_pyoxigraph(triples: set[ox.Triple]) -> None:
    import rdflib

    graph = rdflib.Graph().parse(path("provml.ttl"), format="turtle")
    assert len(graph) == len(triples) > 500


def test_parses_with_py_horned_owl() -> None:
    import pyhornedowl
    import rdflib

    rdf_xml = rdflib.Graph().parse(path("provml.ttl"), format="turtle").serialize(format="xml")
    onto = pyhornedowl.open_ontology_from_string(rdf_xml, "rdf")
    assert str(onto.get_iri()) == ONTOLOGY_IRI.value
    assert PROVML.TrainingSectionExecution.value in onto.get_classes()
    assert PROVML.hadMember.value in onto.get_object_properties()
    assert PROVML.iteration.value in onto.get_data_properties()


def test_header(triples: set[ox.Triple]) -> None:
    o = ONTOLOGY_IRI
    assert (o, RDF.type, OWL.Ontology) in {(t.subject, t.predicate, t.object) for t in triples}
    assert _objects(triples, o, OWL.versionIRI) == {ox.NamedNode("https://w3id.org/provml/0.1.0")}
    assert _objects(triples, o, OWL.imports) == {ox.NamedNode("http://www.w3.org/ns/prov-o#")}
    assert _objects(triples, o, DCT.license) == {ox.NamedNode("https://www.apache.org/licenses/LICENSE-2.0")}
    assert _objects(triples, o, VANN_PREFIX) == {ox.Literal("provml")}
    for p in (DCT.title, DCT.description, DCT.creator, DCT.publisher):
        assert _objects(triples, o, p), p
    description = next(iter(_objects(triples, o, DCT.description)))
    assert isinstance(description, ox.Literal)
    for decision in ("prov:Plan", "provml:hadMember", "rdfs:member", "mls:Run", "prov:wasInformedBy"):
        assert decision in description.value


def test_ontology_info_reads_the_header() -> None:
    info = ontology_info()
    assert (info.iri, info.version_iri, info.version) == (
        ONTOLOGY_IRI.value, "https://w3id.org/provml/0.1.0", "0.1.0")
    assert info.n_classes >= len(CLASS_TABLE)
    assert info.imports == (("http://www.w3.org/ns/prov-o#", str(path("imports/prov-o.ttl"))),)


@pytest.mark.parametrize("cls", sorted(CLASS_TABLE, key=str), ids=lambda c: c.value.split("#")[-1])
def test_class_and_its_stated_super_classes(triples: set[ox.Triple], cls: ox.NamedNode) -> None:
    assert OWL.Class in _objects(triples, cls, RDF.type)
    assert set(CLASS_TABLE[cls]) <= _objects(triples, cls, RDFS.subClassOf)


def test_every_provml_class_is_in_the_table(triples: set[ox.Triple]) -> None:
    declared = {t.subject for t in triples if t.predicate == RDF.type and t.object == OWL.Class
                and isinstance(t.subject, ox.NamedNode) and t.subject.value.startswith(PROVML.NS)}
    assert declared == {c for c in CLASS_TABLE if c.value.startswith(PROVML.NS)}


def test_run_equivalence_and_mls_terms_stand_alone(triples: set[ox.Triple]) -> None:
    assert _objects(triples, PROVML.LearningProcessExecution, OWL.equivalentClass) == {MLS.Run}
    for term in MLS.all_terms():  # declared, labelled, defined by ML Schema, never imported
        assert OWL.Class in _objects(triples, term, RDF.type), term
        assert _objects(triples, term, RDFS.isDefinedBy) == {ox.NamedNode("http://www.w3.org/ns/mls#")}
    assert _objects(triples, PROVML.Study, SKOS.closeMatch) == {MLS.Study}
    # closeMatch is an annotation here, so class IRIs need no punning
    assert (SKOS.closeMatch, RDF.type, OWL.AnnotationProperty) in {
        (t.subject, t.predicate, t.object) for t in triples}


def test_extension_and_paper_terms_say_where_they_come_from(triples: set[ox.Triple]) -> None:
    for cls in CLASS_TABLE:
        if not cls.value.startswith(PROVML.NS):
            continue
        notes = " ".join(str(n) for n in _objects(triples, cls, SKOS.scopeNote))
        if cls in EXTENSION:
            assert "provml extension" in notes and PAPER not in _objects(triples, cls, DCT.source)
        else:
            assert _objects(triples, cls, DCT.source) == {PAPER}, cls


def test_membership_and_prospective_properties(triples: set[ox.Triple]) -> None:
    # OWL 2 DL: rdfs:member is reserved vocabulary; provml:hadMember only points to it
    assert _objects(triples, PROVML.hadMember, RDFS.subPropertyOf) == set()
    assert _objects(triples, PROVML.hadMember, RDFS.seeAlso) == {RDFS.member}
    assert not any(t.subject == RDFS.member for t in triples)
    assert _objects(triples, PROVML.hadMember, RDFS.domain) == {PROV.Plan}
    assert _objects(triples, PROVML.hadMember, RDFS.range) == {PROV.Plan}
    for p in (PROVML.usesAttribute, PROVML.generatesAttribute):
        assert _objects(triples, p, RDFS.domain) == {PROV.Plan}
        assert _objects(triples, p, RDFS.range) == {PROVML.Attribute}
        assert _objects(triples, p, RDFS.subPropertyOf) == set()
    assert _objects(triples, PROVML.dataStore, RDFS.range) == {PROVML.DataStoreInstance}
    assert _objects(triples, PROVML.evaluatedModel, RDFS.subPropertyOf) == {PROV.wasInfluencedBy}


def test_prov_o_is_vendored_unmodified() -> None:
    assert hashlib.sha256(path("imports/prov-o.ttl").read_bytes()).hexdigest() == PROV_O_SHA256
    readme = path("imports/README.md").read_text(encoding="utf-8")
    assert PROV_O_SHA256 in readme and "8e3feba8f0e4a8f6e747144fbb01314d2524614a" in readme


def test_catalog_maps_prov_o_iris_to_the_vendored_file() -> None:
    catalog = find_catalog(path("provml.ttl"))
    assert catalog is not None
    entries = read_catalog(catalog)
    prov_o = path("imports/prov-o.ttl").resolve()
    for iri in ("http://www.w3.org/ns/prov-o#", "http://www.w3.org/ns/prov-o-20130430",
                "http://www.w3.org/ns/prov-o", "http://www.w3.org/ns/prov#"):
        assert entries[iri] == prov_o
    assert all(Path(target).is_file() for target in entries.values())


@pytest.mark.parametrize("name", ["provml.ttl", "domains/oil-gas.ttl"])
def test_every_import_resolves_to_a_local_file(name: str) -> None:
    for iri, target in ontology_info(path(name)).imports:
        assert target is not None and Path(target).is_file(), iri
    closure = import_closure([path(name)])
    assert closure[0] == path(name).resolve() and all(p.is_file() for p in closure)


def test_an_unresolvable_import_is_an_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.ttl"
    broken.write_text("<http://example.org/o> a <http://www.w3.org/2002/07/owl#Ontology> ;\n"
                      "  <http://www.w3.org/2002/07/owl#imports> <http://example.org/nowhere> .\n")
    assert ontology_info(broken).imports == (("http://example.org/nowhere", None),)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        import_closure([broken])


def test_cli_ontology_info(tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from provml.cli import main

    runner = CliRunner()
    text = runner.invoke(main, ["ontology", "info"])
    assert text.exit_code == 0, text.output
    assert ONTOLOGY_IRI.value in text.output and "prov-o.ttl" in text.output
    as_json = runner.invoke(main, ["ontology", "info", "--format", "json"])
    data = json.loads(as_json.output)
    assert data["version"] == "0.1.0" and data["imports"][0]["iri"] == "http://www.w3.org/ns/prov-o#"
    bad = tmp_path / "bad.ttl"
    bad.write_text("this is not turtle")
    broken = runner.invoke(main, ["ontology", "info", "--file", str(bad)])
    assert broken.exit_code == 2 and "bad.ttl" in broken.output


def test_doctests() -> None:
    import doctest

    import provml.ontology_info

    result = doctest.testmod(provml.ontology_info)
    assert result.failed == 0 and result.attempted >= 3


def test_reasoning_and_ontology_info_import_light() -> None:
    import subprocess
    import sys

    code = ("import sys, provml.ingest.enrichment, provml.ontology_info; "
            "print(sorted(m for m in ('owlready2', 'rdflib', 'pyshacl', 'flask') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
