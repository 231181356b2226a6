"""What a knowledge graph holds: triples, graphs and counts per PROV-ML class; and exports.

>>> from provml.knowledge import open_kg
>>> s = stats(open_kg())
>>> s.graphs >= 1, s.classes.get("Model", 0)
(True, 0)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pyoxigraph import NamedNode, QueryTriples, RdfFormat

from provml.query.serialization import SERIALIZATIONS, serialize_quads
from provml.store.base import select
from provml.vocab import ONTOLOGY_IRI, PROVML

if TYPE_CHECKING:
    from provml.knowledge import KnowledgeGraph

__all__ = ["Stats", "stats", "export", "EXPORT_FORMATS"]

#: the export formats: every key of :data:`provml.query.serialization.SERIALIZATIONS`
EXPORT_FORMATS: dict[str, RdfFormat] = dict(SERIALIZATIONS)


@dataclass(frozen=True)
class Stats:
    triples: int
    graphs: int
    runs: int
    classes: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"triples": self.triples, "graphs": self.graphs, "runs": self.runs, "classes": self.classes}

    def text(self) -> str:
        lines = [f"triples  {self.triples}", f"graphs   {self.graphs}", f"runs     {self.runs}", "", "PROV-ML class counts:"]
        width = max((len(c) for c in self.classes), default=0)
        lines += [f"  {c.ljust(width)}  {n}" for c, n in sorted(self.classes.items()) if n]
        return "\n".join(lines)


def stats(kg: KnowledgeGraph) -> Stats:
    """Triples (quads, all graphs), named graphs, workflow executions and instances per provml class.

    The ontology graph itself is not counted among instances.
    """
    store = kg.store
    result = select(
        store,
        f"""SELECT ?c (COUNT(DISTINCT ?s) AS ?n) WHERE {{
              GRAPH ?g {{ ?s a ?c }} FILTER(STRSTARTS(STR(?c), "{PROVML.NS}") && ?g != <{ONTOLOGY_IRI.value}>)
            }} GROUP BY ?c""",
        use_default_graph_as_union=False,
    )
    classes = {row["c"].value[len(PROVML.NS):]: int(row["n"].value) for row in result}
    return Stats(
        triples=len(store),
        graphs=len(store.named_graphs()),
        runs=classes.get("WorkflowExecution", 0),
        classes=classes,
    )


def export(kg: KnowledgeGraph, *, format: str = "trig", graph: NamedNode | None = None) -> bytes:
    """The store (or one graph) serialised; triple formats without a graph give the union.

    Turtle, TriG and RDF/XML carry the ontologies' prefixes; ``jsonld`` is compacted with a
    context of those prefixes, ``jsonld-expanded`` is not (:mod:`provml.query.serialization`).
    One graph in a dataset format (TriG, N-Quads, JSON-LD) keeps its name, so loading the
    file puts its triples back into that graph; a triples format holds its triples only.

    :raises ValueError: unknown format name; ``graph`` is not in the store (or holds nothing);
        what the format cannot hold (:func:`provml.query.serialization.serialize_quads`).
    """
    if format not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {format!r}; choose one of {', '.join(EXPORT_FORMATS)}")
    fmt = EXPORT_FORMATS[format]
    store = kg.store
    if graph is not None:
        quads = list(store.quads(graph=graph))
        if not quads:
            raise ValueError(f"the store has no graph {graph} (or it holds no triples): check the "
                             "IRI (an N-Quads export names each statement's graph last)")
        items = quads if fmt.supports_datasets else [q.triple for q in quads]
        return serialize_quads(items, format, base=kg.base)
    # read out here: an iterator or a query result left in a frame of a refusal's traceback
    # held the store (and its lock) for as long as the exception was kept
    if fmt.supports_datasets:
        return serialize_quads(list(store.quads()), format, base=kg.base)
    # one graph: the union of all graphs, without duplicates
    result = store.query("CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }", use_default_graph_as_union=True)
    assert isinstance(result, QueryTriples)  # a CONSTRUCT
    triples = list(result)
    del result
    return serialize_quads(triples, format, base=kg.base)
