"""The vocabulary provml writes and reads, as pyoxigraph ``NamedNode`` constants.

Why it is long: it lists every term provml uses, one line each, in one place (a test checks it
against the ontology both ways); split by namespace, the one list would be scattered.

This is the only module that holds IRI strings of vocabulary terms; everything else imports
from here. ``tests/test_vocab.py`` checks this module against ``ontology/provml.ttl`` both ways:
every ``PROVML`` constant is declared in the ontology, and every term the ontology declares has a
constant here.

>>> from provml.vocab import PROVML, PROV
>>> PROVML.Model.value
'https://w3id.org/provml#Model'
>>> PROV.wasGeneratedBy.value
'http://www.w3.org/ns/prov#wasGeneratedBy'
"""

from __future__ import annotations

from typing import ClassVar

from pyoxigraph import NamedNode

__all__ = [
    "DCT",
    "DEFAULT_BASE",
    "FORMATS",
    "FORMATS_JSON_LD",
    "FORMATS_N_QUADS",
    "FORMATS_N_TRIPLES",
    "MLS",
    "OILGAS",
    "OILGAS_NS",
    "OILGAS_ONTOLOGY_IRI",
    "ONTOLOGY_IRI",
    "OWL",
    "PROV",
    "PROVML",
    "PROVML_NS",
    "PROVML_SHAPES_NS",
    "QUDT",
    "QUDT_UNIT_NS",
    "qudt_unit",
    "RDF",
    "RDFS",
    "SD",
    "SH",
    "SKOS",
    "VOID",
    "VOID_CLASS",
    "XSD",
    "Namespace",
    "local_name",
]

PROVML_NS = "https://w3id.org/provml#"
#: namespace of provml's SHACL shapes (shapes/provml-shapes.ttl)
PROVML_SHAPES_NS = "https://w3id.org/provml/shapes#"
ONTOLOGY_IRI = NamedNode("https://w3id.org/provml")
#: where instance data (executions, values, graphs) live unless configured otherwise
DEFAULT_BASE = "https://w3id.org/provml/id/"


class Namespace:
    """A vocabulary namespace whose attributes are ``NamedNode`` terms.

    Subclasses list their terms as class attributes annotated ``NamedNode``; the metaclass-free
    ``__init_subclass__`` fills them in so a typo is an ``AttributeError``, never a new IRI.
    """

    NS: ClassVar[str] = ""
    TERMS: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls) -> None:
        terms = tuple(name for name in cls.__annotations__ if name not in ("NS", "TERMS"))
        cls.TERMS = terms
        for name in terms:
            setattr(cls, name, NamedNode(cls.NS + name))

    @classmethod
    def term(cls, name: str) -> NamedNode:
        """The term ``name`` of this namespace; ``KeyError`` when it is not one of its terms."""
        if name not in cls.TERMS:
            raise KeyError(f"{name!r} is not a term of {cls.NS}")
        return NamedNode(cls.NS + name)

    @classmethod
    def all_terms(cls) -> list[NamedNode]:
        return [NamedNode(cls.NS + name) for name in cls.TERMS]


class RDF(Namespace):
    NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
    type: NamedNode
    JSON: NamedNode
    langString: NamedNode
    first: NamedNode
    rest: NamedNode
    nil: NamedNode


class RDFS(Namespace):
    NS = "http://www.w3.org/2000/01/rdf-schema#"
    label: NamedNode
    comment: NamedNode
    subClassOf: NamedNode
    subPropertyOf: NamedNode
    isDefinedBy: NamedNode
    seeAlso: NamedNode
    member: NamedNode
    domain: NamedNode
    range: NamedNode
    Class: NamedNode
    Resource: NamedNode
    Literal: NamedNode


class OWL(Namespace):
    NS = "http://www.w3.org/2002/07/owl#"
    Ontology: NamedNode
    Class: NamedNode
    ObjectProperty: NamedNode
    DatatypeProperty: NamedNode
    AnnotationProperty: NamedNode
    imports: NamedNode
    versionIRI: NamedNode
    versionInfo: NamedNode
    equivalentClass: NamedNode
    Thing: NamedNode
    NamedIndividual: NamedNode


class XSD(Namespace):
    NS = "http://www.w3.org/2001/XMLSchema#"
    string: NamedNode
    boolean: NamedNode
    integer: NamedNode
    long: NamedNode
    nonNegativeInteger: NamedNode
    double: NamedNode
    float: NamedNode
    decimal: NamedNode
    dateTime: NamedNode
    anyURI: NamedNode


class SKOS(Namespace):
    NS = "http://www.w3.org/2004/02/skos/core#"
    definition: NamedNode
    prefLabel: NamedNode
    notation: NamedNode
    Concept: NamedNode
    ConceptScheme: NamedNode
    inScheme: NamedNode
    closeMatch: NamedNode
    exactMatch: NamedNode
    scopeNote: NamedNode


class DCT(Namespace):
    NS = "http://purl.org/dc/terms/"
    title: NamedNode
    description: NamedNode
    license: NamedNode
    creator: NamedNode
    publisher: NamedNode
    source: NamedNode
    created: NamedNode
    modified: NamedNode


class VOID(Namespace):
    """The VoID vocabulary (dataset descriptions served at ``/.well-known/void``)."""

    NS = "http://rdfs.org/ns/void#"
    Dataset: NamedNode
    triples: NamedNode
    entities: NamedNode
    distinctSubjects: NamedNode
    distinctObjects: NamedNode
    properties: NamedNode
    classes: NamedNode
    classPartition: NamedNode
    propertyPartition: NamedNode
    property: NamedNode
    sparqlEndpoint: NamedNode
    dataDump: NamedNode
    vocabulary: NamedNode
    uriSpace: NamedNode
    rootResource: NamedNode
    feature: NamedNode
    inDataset: NamedNode


#: ``void:class`` — a Python keyword, so it cannot be an attribute of :class:`VOID`
VOID_CLASS = NamedNode(VOID.NS + "class")


class SH(Namespace):
    NS = "http://www.w3.org/ns/shacl#"
    NodeShape: NamedNode
    PropertyShape: NamedNode
    ValidationReport: NamedNode


class PROV(Namespace):
    """The PROV-O terms provml uses (a subset of http://www.w3.org/ns/prov#)."""

    NS = "http://www.w3.org/ns/prov#"
    Entity: NamedNode
    Activity: NamedNode
    Agent: NamedNode
    Plan: NamedNode
    Collection: NamedNode
    Bundle: NamedNode
    Person: NamedNode
    SoftwareAgent: NamedNode
    used: NamedNode
    wasGeneratedBy: NamedNode
    wasDerivedFrom: NamedNode
    wasInformedBy: NamedNode
    wasInfluencedBy: NamedNode
    wasAssociatedWith: NamedNode
    wasAttributedTo: NamedNode
    hadMember: NamedNode
    hadPrimarySource: NamedNode
    specializationOf: NamedNode
    startedAtTime: NamedNode
    endedAtTime: NamedNode
    generatedAtTime: NamedNode
    value: NamedNode
    atLocation: NamedNode
    # PROV-AQ link relations (https://www.w3.org/TR/prov-aq/)
    has_provenance: NamedNode
    has_query_service: NamedNode


class MLS(Namespace):
    """The W3C ML Schema terms provml's ontology aligns with (http://www.w3.org/ns/mls#)."""

    NS = "http://www.w3.org/ns/mls#"
    Run: NamedNode
    Study: NamedNode
    Experiment: NamedNode
    Task: NamedNode
    Algorithm: NamedNode
    Software: NamedNode
    Implementation: NamedNode
    ImplementationCharacteristic: NamedNode
    HyperParameter: NamedNode
    HyperParameterSetting: NamedNode
    Dataset: NamedNode
    DatasetCharacteristic: NamedNode
    Feature: NamedNode
    FeatureCharacteristic: NamedNode
    Model: NamedNode
    ModelCharacteristic: NamedNode
    EvaluationMeasure: NamedNode
    ModelEvaluation: NamedNode
    EvaluationSpecification: NamedNode
    EvaluationProcedure: NamedNode


class PROVML(Namespace):
    """PROV-ML (Souza et al. 2022) and provml's extensions, in https://w3id.org/provml#."""

    NS = PROVML_NS
    # --- PROVLake workflow base (paper §4.2) -------------------------------------------
    Project: NamedNode
    Workflow: NamedNode
    DataTransformation: NamedNode
    Attribute: NamedNode
    DataSchema: NamedNode
    DataStore: NamedNode
    DataStoreInstance: NamedNode
    WorkflowExecution: NamedNode
    DataTransformationExecution: NamedNode
    AttributeValue: NamedNode
    DataReference: NamedNode
    Program: NamedNode
    Persona: NamedNode
    # --- PROV-ML learning classes (paper §4.3-4.5) -------------------------------------
    Study: NamedNode
    LearningExperiment: NamedNode
    LearningProcessExecution: NamedNode
    LearningTask: NamedNode
    LearningTaskValue: NamedNode
    BaseLearningStage: NamedNode
    BaseLearningExecution: NamedNode
    LearningStage: NamedNode
    Training: NamedNode
    Validation: NamedNode
    Evaluation: NamedNode
    LearningStageExecution: NamedNode
    TrainingExecution: NamedNode
    ValidationExecution: NamedNode
    EvaluationExecution: NamedNode
    LearningStageSection: NamedNode
    LearningStageSectionExecution: NamedNode
    TrainingSectionExecution: NamedNode
    ValidationSectionExecution: NamedNode
    EvaluationSectionExecution: NamedNode
    Algorithm: NamedNode
    Software: NamedNode
    Implementation: NamedNode
    ImplementationCharacteristicValue: NamedNode
    LearningHyperparameterSetting: NamedNode
    LearningHyperparameter: NamedNode
    LearningHyperparameterValue: NamedNode
    LearningDataSetReference: NamedNode
    LearningDataset: NamedNode
    DatasetCharacteristic: NamedNode
    DatasetCharacteristicValue: NamedNode
    FeatureExtraction: NamedNode
    FeatureExtractionExecution: NamedNode
    FeatureSet: NamedNode
    FeatureSetData: NamedNode
    FeatureSetCharacteristic: NamedNode
    ModelSchema: NamedNode
    ModelProspection: NamedNode
    Model: NamedNode
    ModelHyperparameter: NamedNode
    ModelHyperparameterValue: NamedNode
    EvaluationMeasure: NamedNode
    ModelEvaluation: NamedNode
    # --- provml extension: after learning (paper §7, S7) --------------------------------
    Inference: NamedNode
    InferenceExecution: NamedNode
    Deployment: NamedNode
    DeploymentExecution: NamedNode
    Prediction: NamedNode
    MeasureSummary: NamedNode  # ingest-time summary of one measure over an execution's sections
    # --- object properties ------------------------------------------------------------------
    hadMember: NamedNode  # plan -> plan membership (Workflow -> DataTransformation, ...)
    usesAttribute: NamedNode  # prospective: transformation -> attribute it uses
    generatesAttribute: NamedNode  # prospective: transformation -> attribute it generates
    kgReference: NamedNode  # value -> resource of a domain knowledge graph (paper's kg_reference)
    domainConcept: NamedNode  # attribute -> domain-ontology class it maps to (S5)
    dataStore: NamedNode  # data reference -> the data store instance holding it
    evaluatedModel: NamedNode  # model evaluation -> the model it evaluates
    workflowExecution: NamedNode  # shortcut: task / section execution -> its workflow execution
    stageExecution: NamedNode  # shortcut: task -> itself; section execution -> the task (stage) it loops in
    summary: NamedNode  # ingest-time summary: execution -> MeasureSummary of its sections' values of one measure
    # --- datatype properties ---------------------------------------------------------------
    tag: NamedNode  # free-text semantic tag (the paper's provlake:tag)
    location: NamedNode  # data reference -> path / URL / key inside its store
    contentHash: NamedNode  # "sha256:<hex>" of the referenced bytes
    byteSize: NamedNode
    mediaType: NamedNode
    storeType: NamedNode  # FILE_SYSTEM, RELATIONAL_DBMS, OBJECT_STORE, ...
    iteration: NamedNode  # index of an epoch / batch / loop iteration
    attributeName: NamedNode  # shortcut: value -> the name of the attribute it is a value of
    minimumValue: NamedNode  # MeasureSummary -> the smallest value (the value's own literal)
    maximumValue: NamedNode  # MeasureSummary -> the largest value
    meanValue: NamedNode  # MeasureSummary -> the mean (xsd:double)
    valueCount: NamedNode  # MeasureSummary -> how many values (xsd:integer)
    status: NamedNode  # "running" | "finished" | "errored"
    errorType: NamedNode
    errorMessage: NamedNode
    hostname: NamedNode
    processId: NamedNode
    jobId: NamedNode
    jobScheduler: NamedNode  # SLURM | PBS | LSF
    pythonVersion: NamedNode
    softwareVersion: NamedNode
    gitCommit: NamedNode
    platform: NamedNode
    datatypeName: NamedNode  # declared dtype of an attribute in a prospective spec
    specification: NamedNode  # Workflow -> its spec's JSON document (a string), the version in force
    environmentVariable: NamedNode  # "NAME=value" of an allow-listed environment variable


OILGAS_NS = "https://w3id.org/provml/oil-gas#"
OILGAS_ONTOLOGY_IRI = NamedNode("https://w3id.org/provml/oil-gas")


class OILGAS(Namespace):
    """provml's Oil & Gas domain ontology (``ontology/domains/oil-gas.ttl``), in
    https://w3id.org/provml/oil-gas#. ``tests/test_vocab.py`` checks it against the file both ways.
    """

    NS = OILGAS_NS
    # --- classes ----------------------------------------------------------------------------
    Basin: NamedNode
    Field: NamedNode
    LicenceBlock: NamedNode
    Well: NamedNode
    Wellbore: NamedNode
    LithostratigraphicUnit: NamedNode
    DepthInterval: NamedNode
    WellLog: NamedNode
    LogCurve: NamedNode
    LithologyInterpretation: NamedNode
    Lithology: NamedNode  # class of the FORCE 2020 lithology concepts (also skos:Concept)
    # --- object properties ------------------------------------------------------------------
    fieldInBasin: NamedNode
    wellInField: NamedNode
    wellInBlock: NamedNode
    wellboreOf: NamedNode
    logOfWellbore: NamedNode
    curveOf: NamedNode
    unit: NamedNode  # log curve -> QUDT unit IRI
    intervalOf: NamedNode
    stratigraphicUnit: NamedNode
    interpretedInterval: NamedNode
    interpretedLithology: NamedNode
    # --- datatype properties ----------------------------------------------------------------
    topDepth: NamedNode
    baseDepth: NamedNode
    depthStep: NamedNode
    sampleCount: NamedNode
    confidence: NamedNode  # FORCE 2020 scale: 1 high, 2 medium, 3 low
    mnemonic: NamedNode
    unitSymbol: NamedNode
    easting: NamedNode
    northing: NamedNode
    officialName: NamedNode
    classIndex: NamedNode
    lithologyKind: NamedNode
    # --- the FORCE 2020 lithology scheme (skos:notation = FORCE code) -----------------------
    force2020Lithology: NamedNode
    sandstone: NamedNode  # 30000
    sandstoneShale: NamedNode  # 65030
    shale: NamedNode  # 65000
    marl: NamedNode  # 80000
    dolomite: NamedNode  # 74000
    limestone: NamedNode  # 70000
    chalk: NamedNode  # 70032
    halite: NamedNode  # 88000
    anhydrite: NamedNode  # 86000
    tuff: NamedNode  # 99000
    coal: NamedNode  # 90000
    basement: NamedNode  # 93000


class QUDT(Namespace):
    """QUDT schema terms (units themselves are IRIs under http://qudt.org/vocab/unit/)."""

    NS = "http://qudt.org/schema/qudt/"
    Unit: NamedNode


#: the namespace of QUDT unit individuals (``unit:M``, ``unit:GM-PER-CentiM3`` …)
QUDT_UNIT_NS = "http://qudt.org/vocab/unit/"


def qudt_unit(code: str) -> NamedNode:
    """The IRI of a QUDT unit individual by its code (codes contain ``-``, so no attributes).

    >>> qudt_unit("OHM-M").value
    'http://qudt.org/vocab/unit/OHM-M'
    """
    return NamedNode(QUDT_UNIT_NS + code)


class SD(Namespace):
    """SPARQL 1.1 Service Description (what the endpoint says about itself at GET /sparql)."""

    NS = "http://www.w3.org/ns/sparql-service-description#"
    Service: NamedNode
    endpoint: NamedNode
    supportedLanguage: NamedNode
    SPARQL11Query: NamedNode
    SPARQL11Update: NamedNode
    resultFormat: NamedNode
    inputFormat: NamedNode
    feature: NamedNode
    UnionDefaultGraph: NamedNode
    EmptyGraphs: NamedNode
    defaultDataset: NamedNode
    Dataset: NamedNode
    defaultGraph: NamedNode
    Graph: NamedNode
    namedGraph: NamedNode
    NamedGraph: NamedNode
    name: NamedNode


class FORMATS(Namespace):
    """W3C format IRIs (``http://www.w3.org/ns/formats/``); the hyphenated ones are below."""

    NS = "http://www.w3.org/ns/formats/"
    Turtle: NamedNode
    TriG: NamedNode
    RDF_XML: NamedNode
    N3: NamedNode
    SPARQL_Results_JSON: NamedNode
    SPARQL_Results_XML: NamedNode
    SPARQL_Results_CSV: NamedNode
    SPARQL_Results_TSV: NamedNode


#: format IRIs with a hyphen, which cannot be attribute names
FORMATS_JSON_LD = NamedNode(FORMATS.NS + "JSON-LD")
FORMATS_N_TRIPLES = NamedNode(FORMATS.NS + "N-Triples")
FORMATS_N_QUADS = NamedNode(FORMATS.NS + "N-Quads")


def local_name(iri: str) -> str:
    """The part of ``iri`` after its last ``#`` or ``/`` (the whole IRI if that is empty).

    >>> local_name("http://www.w3.org/ns/prov#used"), local_name("https://x.org/a/b/")
    ('used', 'https://x.org/a/b/')
    """
    for sep in ("#", "/"):
        head, _, tail = iri.rpartition(sep)
        if head and tail:
            return tail
    return iri
