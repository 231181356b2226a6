"""Building the query benchmark's stores: the paper's workload (``paper_workload.py``) through
provml's own translation, in two representations, bulk-loaded into on-disk Oxigraph stores.

* **provml** — what ``KnowledgeGraph.ingest_events`` writes (translation, the ingest-time
  shortcuts, the class closure, the measure summaries), minus SHACL validation (checked by the tests on small sizes);
* **generic** — the same runs without PROV-ML, as the paper's baseline (S1 §5.4): PROVLake's
  generic classes only (workflow, data transformation, attribute, their executions and values,
  no class closure, no shortcuts), the specific kind as a ``provlake:tag`` string on the
  *prospective* node (plan or attribute) — so a query reaches a retrospective node's kind through
  its plan (``prov:wasInfluencedBy``) or attribute (``prov:wasDerivedFrom``), the paper's "+3 clauses".
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pyoxigraph import Literal, NamedNode, Quad, Store

from provml.ingest.enrichment import with_entailed_types
from provml.ingest.iris import Iris
from provml.ingest.shortcuts import stage_links
from provml.ingest.summaries import summaries
from provml.ingest.translation import translate
from provml.knowledge import KnowledgeGraph
from provml.store.oxigraph import OxigraphStore
from provml.vocab import PROVML, RDF

PROVLAKE = "https://w3id.org/provml/bench/provlake#"
TAG = NamedNode(PROVLAKE + "tag")
DOMAIN_GRAPH = NamedNode("https://w3id.org/provml/id/graph/domain/bench")
SHORTCUTS = {PROVML.workflowExecution, PROVML.stageExecution, PROVML.attributeName}


def _generic_class(closure: dict[NamedNode, frozenset[NamedNode]], cls: NamedNode) -> NamedNode | None:
    supers = {s.value for s in closure.get(cls, frozenset())} | {cls.value}
    for provml_class, generic in (
        ("WorkflowExecution", "WorkflowExecution"),
        ("DataTransformationExecution", "DataTransformationExecution"),
        ("Workflow", "Workflow"),
        ("DataTransformation", "DataTransformation"),
        ("Attribute", "Attribute"),
        ("AttributeValue", "AttributeValue"),
    ):
        if PROVML.NS + provml_class in supers:
            return NamedNode(PROVLAKE + generic)
    return None


class Builder:
    """Translates runs into either representation."""

    def __init__(self) -> None:
        self.kg = KnowledgeGraph(OxigraphStore(), validate=False)
        self.closure = self.kg.closure()
        self.iris = Iris()
        self._generic: dict[NamedNode, NamedNode | None] = {}

    def provml(self, run: list[dict[str, Any]]) -> list[Quad]:
        quads = translate(run, iris=self.iris)
        quads += stage_links(quads, lambda nodes: {})
        quads = with_entailed_types(quads, self.closure)
        return quads + summaries(quads)  # a run is whole here: its summaries at once

    def generic(self, run: list[dict[str, Any]]) -> list[Quad]:
        out: list[Quad] = []
        for q in translate(run, iris=self.iris):
            if q.predicate in SHORTCUTS:
                continue
            if q.predicate == RDF.type and isinstance(q.object, NamedNode) and q.object.value.startswith(PROVML.NS):
                cls = q.object
                if cls not in self._generic:
                    self._generic[cls] = _generic_class(self.closure, cls)
                generic = self._generic[cls]
                if generic is None:
                    continue
                out.append(Quad(q.subject, RDF.type, generic, q.graph_name))
                if generic.value.endswith(("#Workflow", "#DataTransformation", "#Attribute")):
                    out.append(Quad(q.subject, TAG, Literal(cls.value[len(PROVML.NS):]), q.graph_name))
                continue
            if q.predicate.value.startswith(PROVML.NS):  # provml's properties, as generic PROVLake ones
                q = Quad(q.subject, NamedNode(PROVLAKE + q.predicate.value[len(PROVML.NS):]), q.object, q.graph_name)
            out.append(q)
        return out


def build(path: Path, runs: Iterable[list[dict[str, Any]]], domain: list[Quad], *, representation: str,
          chunk: int = 200_000) -> dict[str, Any]:
    """Translate ``runs`` and bulk-load them (and the domain graph, and for provml the ontology)
    into a new on-disk store at ``path``; returns quads and seconds."""
    builder = Builder()
    translate_fn = builder.provml if representation == "provml" else builder.generic
    store = Store(str(path))
    t0 = time.perf_counter()
    translate_s = 0.0
    pending: list[Quad] = list(domain)
    total = 0
    for run in runs:
        a = time.perf_counter()
        pending.extend(translate_fn(run))
        translate_s += time.perf_counter() - a
        if len(pending) >= chunk:
            store.bulk_extend(pending)
            total += len(pending)
            pending = []
    store.bulk_extend(pending)
    total += len(pending)
    store.flush()
    store.optimize()
    seconds = time.perf_counter() - t0
    del store
    if representation == "provml":
        with OxigraphStore(path) as disk:
            KnowledgeGraph(disk).load_ontologies()
    return {"quads": total, "load_s": seconds, "translate_s": translate_s}


def runs_iter(runs: list[list[dict[str, Any]]]) -> Iterator[list[dict[str, Any]]]:
    yield from runs
