"""The lineage graph around one node: backward to raw data, forward to models and predictions.

``lineage_graph(store, iri)`` walks PROV's lineage links (``prov:wasGeneratedBy``,
``prov:used``, ``prov:wasInformedBy``, ``prov:wasDerivedFrom``, ``prov:hadPrimarySource``) from
``iri`` — backward (what it comes from, up to the raw data no captured execution generated) and
forward (what came from it) — and returns the nodes and edges for a graph view. Scalar values
(nodes with a ``prov:value``: hyperparameters, metrics) are left out: they are properties, not
lineage. Each node carries its most specific PROV-ML class and a coarse ``kind`` (the UI colours by it; the
styling lives in the endpoint, ``endpoint/static/ui/lineage.js``).

>>> import pyoxigraph as ox
>>> from provml.store import open_store
>>> from provml.vocab import PROV, PROVML, RDF
>>> s = open_store()
>>> raw, run, model = (ox.NamedNode("https://w3id.org/provml/id/" + n) for n in ("data/raw", "run/r", "data/m"))
>>> s.add([ox.Quad(run, PROV.used, raw), ox.Quad(model, PROV.wasGeneratedBy, run),
...        ox.Quad(model, RDF.type, PROVML.Model), ox.Quad(raw, RDF.type, PROVML.DataReference)])
>>> g = lineage_graph(s, model.value)
>>> sorted(n.kind for n in g.nodes), [n.raw for n in g.nodes if n.iri == raw.value]
(['data', 'model', 'other'], [True])
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyoxigraph import Literal, NamedNode

from provml.store.base import select
from provml.vocab import PROV, PROVML, RDF, RDFS, local_name

if TYPE_CHECKING:
    from provml.store import Store

__all__ = ["LineageEdge", "LineageGraph", "LineageNode", "lineage_graph", "most_specific"]

#: links that point from a node to what it came from
LINKS: tuple[NamedNode, ...] = (
    PROV.wasGeneratedBy,
    PROV.used,
    PROV.wasInformedBy,
    PROV.wasDerivedFrom,
    PROV.hadPrimarySource,
)

#: PROV-ML classes from most to least specific, each with its kind
_RANKED: tuple[tuple[NamedNode, str], ...] = (
    (PROVML.Prediction, "prediction"),
    (PROVML.Model, "model"),
    (PROVML.LearningDataset, "dataset"),
    (PROVML.FeatureSetData, "dataset"),
    (PROVML.DataReference, "data"),
    (PROVML.InferenceExecution, "execution"),
    (PROVML.DeploymentExecution, "execution"),
    (PROVML.TrainingSectionExecution, "execution"),
    (PROVML.ValidationSectionExecution, "execution"),
    (PROVML.EvaluationSectionExecution, "execution"),
    (PROVML.TrainingExecution, "execution"),
    (PROVML.ValidationExecution, "execution"),
    (PROVML.EvaluationExecution, "execution"),
    (PROVML.FeatureExtractionExecution, "execution"),
    (PROVML.LearningStageSectionExecution, "execution"),
    (PROVML.LearningStageExecution, "execution"),
    (PROVML.LearningProcessExecution, "workflow"),
    (PROVML.WorkflowExecution, "workflow"),
    (PROVML.DataTransformationExecution, "execution"),
    (PROVML.AttributeValue, "value"),
)


@dataclass(frozen=True)
class LineageNode:
    """A node of the graph: its IRI, label, most specific PROV-ML class (local name, or ``""``),
    ``kind`` (prediction, model, dataset, data, execution, workflow, value, other),
    whether it is ``raw`` (an entity no captured execution generated) and its ``side`` relative to
    the centre (``center``, ``backward`` or ``forward``)."""

    iri: str
    label: str
    cls: str
    kind: str
    raw: bool
    side: str

    def to_dict(self) -> dict[str, Any]:
        return {"iri": self.iri, "label": self.label, "class": self.cls, "kind": self.kind,
                "raw": self.raw, "side": self.side}


@dataclass(frozen=True)
class LineageEdge:
    """``source`` —``predicate``→ ``target`` (``predicate``'s local name in ``label``)."""

    source: str
    target: str
    predicate: str
    label: str

    def to_dict(self) -> dict[str, str]:
        return {"source": self.source, "target": self.target, "predicate": self.predicate,
                "label": self.label}


@dataclass(frozen=True)
class LineageGraph:
    """Nodes and edges around ``center``; ``truncated`` when ``max_nodes`` cut the walk short."""

    center: str
    nodes: tuple[LineageNode, ...]
    edges: tuple[LineageEdge, ...]
    truncated: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"center": self.center, "nodes": [n.to_dict() for n in self.nodes],
                "edges": [e.to_dict() for e in self.edges], "truncated": self.truncated}

    def node(self, iri: str) -> LineageNode | None:
        """The node ``iri``, if the graph has it."""
        return next((n for n in self.nodes if n.iri == iri), None)


def most_specific(types: Iterable[str]) -> tuple[str, str]:
    """The most specific PROV-ML class among ``types`` (local name) and its kind.

    >>> most_specific([PROVML.DataReference.value, PROVML.Model.value])
    ('Model', 'model')
    """
    present = set(types)
    for cls, kind in _RANKED:
        if cls.value in present:
            return cls.value[len(PROVML.NS):], kind
    own = sorted(t[len(PROVML.NS):] for t in present if t.startswith(PROVML.NS))
    return (own[0], "other") if own else ("", "other")


def lineage_graph(store: Store, iri: str, *, depth: int = 30, max_nodes: int = 150) -> LineageGraph:
    """The lineage graph around ``iri``: its ancestors and its descendants.

    :param store: the store to read.
    :param iri: the centre node.
    :param depth: at most this many links are followed each way.
    :param max_nodes: the walk stops once the graph has this many nodes (``truncated``).
    :raises ValueError: ``iri`` is not a valid IRI.
    """
    center = NamedNode(iri)
    side: dict[str, str] = {center.value: "center"}
    edges: dict[tuple[str, str, str], None] = {}
    truncated = False
    for direction in ("backward", "forward"):
        frontier = [center.value]
        for _ in range(depth):
            if not frontier:
                break
            found: list[str] = []
            for s, p, o in _step(store, frontier, backward=direction == "backward"):
                edges[(s, p, o)] = None
                nxt = o if direction == "backward" else s
                if nxt not in side:
                    if len(side) >= max_nodes:
                        truncated = True
                        continue
                    side[nxt] = direction
                    found.append(nxt)
            frontier = found
    edges = {e: None for e in edges if e[0] in side and e[2] in side}
    facts = _facts(store, side)
    nodes = []
    for node_iri, where in side.items():
        types, label, generated = facts.get(node_iri, (set(), None, False))
        cls, kind = most_specific(types)
        is_raw = not generated and kind in ("data", "dataset", "model", "prediction", "other") \
            and where != "forward"
        nodes.append(LineageNode(node_iri, label or local_name(node_iri), cls, kind, is_raw, where))
    return LineageGraph(
        center=center.value,
        nodes=tuple(nodes),
        edges=tuple(LineageEdge(s, o, p, local_name(p)) for s, p, o in edges),
        truncated=truncated,
    )


_STEP = """SELECT DISTINCT ?s ?p ?o WHERE {{
  VALUES ?{bound} {{ {values} }}
  VALUES ?p {{ {links} }}
  ?s ?p ?o .
  FILTER(isIRI(?s) && isIRI(?o))
  FILTER NOT EXISTS {{ ?{free} {value} ?v }}
  FILTER NOT EXISTS {{ ?{free} a ?plan_class . VALUES ?plan_class {{ {plans} }} }}
}}"""

_FACTS = """SELECT ?n ?t ?l ?g WHERE {{
  VALUES ?n {{ {values} }}
  {{ ?n {type} ?t }} UNION {{ ?n {label} ?l }} UNION {{ ?n {generated} ?g }}
}}"""


def _step(store: Store, frontier: list[str], *, backward: bool) -> list[tuple[str, str, str]]:
    """Lineage links out of (backward) or into (forward) the ``frontier`` nodes."""
    bound, free = ("s", "o") if backward else ("o", "s")
    text = _STEP.format(
        bound=bound, free=free, value=PROV.value, plans=f"{PROVML.Attribute} {PROV.Plan}",
        values=" ".join(str(NamedNode(i)) for i in frontier),
        links=" ".join(str(p) for p in LINKS),
    )
    return [(r["s"].value, r["p"].value, r["o"].value) for r in _select(store, text)]


def _facts(store: Store, nodes: Iterable[str]) -> dict[str, tuple[set[str], str | None, bool]]:
    """Types, a label and whether something generated it, per node."""
    text = _FACTS.format(values=" ".join(str(NamedNode(i)) for i in nodes), type=RDF.type,
                         label=RDFS.label, generated=PROV.wasGeneratedBy)
    out: dict[str, tuple[set[str], str | None, bool]] = {}
    for row in _select(store, text):
        types, label, generated = out.get(row["n"].value, (set(), None, False))
        if row["t"] is not None:
            types.add(row["t"].value)
        if isinstance(row["l"], Literal) and label is None:
            label = row["l"].value
        if row["g"] is not None:
            generated = True
        out[row["n"].value] = (types, label, generated)
    return out


def _select(store: Store, text: str) -> list[Any]:
    return list(select(store, text))


