"""Upgrading stores written by earlier provml versions to the current graph layout.

Layout 2 (this version) stores every triple in exactly one graph (see
:mod:`provml.ingest.translation`): nodes shared by runs — data references, software, personas,
implementations — are described once, in ``{base}graph/shared`` (data stores in the plans graph),
and a domain ontology's graph holds none of the triples of the provml ontology's graph.
Layout 1 wrote a shared node's description into the bundle of every run that touched it, so the
union default graph counted it once per run.

:func:`migrate` moves every triple of a run's bundle that is not about that run (neither its
subject nor its object was minted for the run) to the graph that owns it now, and drops the
ontology duplicates, and adds the query shortcuts of layout 2 (``provml:workflowExecution``,
``provml:stageExecution``, ``provml:attributeName``; docs/ontology.md) and the measure summaries
(``provml:summary``, :mod:`provml.ingest.summaries`), in **one SPARQL update**: one transaction, so a store is either converted
whole or left as it was. Running it again finds nothing to do.

>>> from provml.knowledge import open_kg
>>> migrate(open_kg()).moved
0
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyoxigraph import Quad, QuerySolutions

from provml.ingest.summaries import insert_data, summaries
from provml.vocab import OILGAS_ONTOLOGY_IRI, ONTOLOGY_IRI, PROV, PROVML, RDFS

__all__ = ["MigrationResult", "migrate", "pending"]


@dataclass(frozen=True)
class MigrationResult:
    """What :func:`migrate` did: quads moved out of run bundles, dropped or added (shortcuts),
    and the store's size before and after."""

    moved: int
    before: int
    after: int

    @property
    def removed(self) -> int:
        """Net change in quads: copies removed less shortcuts added (negative when it grew)."""
        return self.before - self.after


def _moves(kg: Any) -> str:
    base = kg.iris.base
    return f"""
      GRAPH ?g {{ ?s ?p ?o }}
      FILTER(STRSTARTS(STR(?g), "{base}bundle/"))
      BIND(CONCAT("{base}run/", STRAFTER(STR(?g), "{base}bundle/")) AS ?run)
      BIND(CONCAT(?run, "/") AS ?inside)
      FILTER(?s != ?g && STR(?s) != ?run && !STRSTARTS(STR(?s), ?inside))
      FILTER(!isIRI(?o) || (?o != ?g && STR(?o) != ?run && !STRSTARTS(STR(?o), ?inside)))
      BIND(IF(STRSTARTS(STR(?s), "{base}store/"), {kg.iris.plans_graph}, {kg.iris.shared_graph}) AS ?target)
    """


def _run_of(base: str, var: str) -> str:
    """Bind ``?run`` to the run of bundle ``?g`` and keep ``var`` only when minted for that run."""
    return f"""
      FILTER(STRSTARTS(STR(?g), "{base}bundle/"))
      BIND(CONCAT("{base}run/", STRAFTER(STR(?g), "{base}bundle/")) AS ?run_text)
      FILTER(STRSTARTS(STR({var}), CONCAT(?run_text, "/")))
    """


def _operations(kg: Any) -> list[tuple[str, str]]:
    """(WHERE clause, the update operation using it), in the order they run. Every pattern names
    its graph: an update's default graph is the store's default graph, not the union."""
    base = kg.iris.base
    moves = _moves(kg)
    duplicates = f"GRAPH {ONTOLOGY_IRI} {{ ?s ?p ?o }} GRAPH {OILGAS_ONTOLOGY_IRI} {{ ?s ?p ?o }}"
    workflow = f"""GRAPH ?g {{ ?x {PROV.wasInformedBy} ?parent }} {_run_of(base, "?x")}
      BIND(IRI(?run_text) AS ?run)
      FILTER NOT EXISTS {{ GRAPH ?g {{ ?x {PROVML.workflowExecution} ?any }} }}"""
    names = f"""GRAPH ?g {{ ?v {PROV.wasDerivedFrom} ?attr }} {_run_of(base, "?v")}
      GRAPH ?plans {{ ?attr {RDFS.label} ?name }}
      FILTER NOT EXISTS {{ GRAPH ?g {{ ?v {PROVML.attributeName} ?any }} }}"""
    stages = f"""GRAPH ?g {{ ?x {PROVML.iteration} ?i }} {_run_of(base, "?x")}
      GRAPH ?g {{
        ?x {PROV.wasInformedBy}* ?y . ?y {PROVML.iteration} ?j ; {PROV.wasInformedBy} ?stage .
        FILTER NOT EXISTS {{ ?stage {PROVML.iteration} ?k }}
      }}
      FILTER NOT EXISTS {{ GRAPH ?g {{ ?x {PROVML.stageExecution} ?any }} }}"""
    tasks = f"""GRAPH ?g {{ ?x {PROV.wasInformedBy} ?parent }} {_run_of(base, "?x")}
      FILTER NOT EXISTS {{ GRAPH ?g {{ ?x {PROVML.iteration} ?i }} }}
      FILTER NOT EXISTS {{ GRAPH ?g {{ ?x {PROVML.stageExecution} ?x }} }}"""
    return [
        (tasks, f"INSERT {{ GRAPH ?g {{ ?x {PROVML.stageExecution} ?x }} }} WHERE {{ {tasks} }}"),
        (moves, f"DELETE {{ GRAPH ?g {{ ?s ?p ?o }} }} INSERT {{ GRAPH ?target {{ ?s ?p ?o }} }} WHERE {{ {moves} }}"),
        (duplicates, f"DELETE {{ GRAPH {OILGAS_ONTOLOGY_IRI} {{ ?s ?p ?o }} }} WHERE {{ {duplicates} }}"),
        (workflow, f"INSERT {{ GRAPH ?g {{ ?x {PROVML.workflowExecution} ?run }} }} WHERE {{ {workflow} }}"),
        (names, f"INSERT {{ GRAPH ?g {{ ?v {PROVML.attributeName} ?name }} }} WHERE {{ {names} }}"),
        (stages, f"INSERT {{ GRAPH ?g {{ ?x {PROVML.stageExecution} ?stage }} }} WHERE {{ {stages} }}"),
    ]


def _summary_quads(kg: Any) -> list[Quad]:
    """The measure summaries (:mod:`provml.ingest.summaries`) of the store as it will be after
    the other operations, when any execution with summarized values lacks them; else none."""
    missing = kg.store.query(f"""ASK {{
        ?c {PROV.wasInformedBy} ?x ; {PROVML.iteration} ?i . ?x {PROV.wasInformedBy} ?up .
        ?v {PROV.wasGeneratedBy} ?c ; {PROV.value} ?n . FILTER(isNumeric(?n) && ?n = ?n)
        ?v {PROVML.attributeName}|{PROV.wasDerivedFrom}/{RDFS.label} ?name .
        FILTER NOT EXISTS {{ ?x {PROVML.summary} ?s }}
      }}""", use_default_graph_as_union=True)
    if not missing:
        return []
    # what the summaries are computed from: the sections' chains (in the graphs of the runs' own
    # facts, which the moves leave in place) and their values,
    # named by the shortcut or, before it is added, by the attribute's label
    result = kg.store.query(f"""SELECT ?g ?s ?p ?o WHERE {{
        {{ GRAPH ?g {{ ?s {PROV.wasInformedBy} ?o }} BIND({PROV.wasInformedBy} AS ?p) }}
        UNION {{ GRAPH ?g {{ ?s {PROVML.iteration} ?o }} BIND({PROVML.iteration} AS ?p) }}
        UNION {{ ?o {PROVML.iteration} ?i . GRAPH ?g {{ ?s {PROV.wasGeneratedBy} ?o }} BIND({PROV.wasGeneratedBy} AS ?p) }}
        UNION {{ ?c {PROVML.iteration} ?i . ?s {PROV.wasGeneratedBy} ?c . GRAPH ?g {{ ?s {PROV.value} ?o }}
                 FILTER(isNumeric(?o)) BIND({PROV.value} AS ?p) }}
        UNION {{ ?c {PROVML.iteration} ?i . GRAPH ?g {{ ?s {PROV.wasGeneratedBy} ?c }}
                 OPTIONAL {{ ?s {PROVML.attributeName} ?own }}
                 OPTIONAL {{ ?s {PROV.wasDerivedFrom} ?attr . ?attr {RDFS.label} ?label }}
                 BIND(COALESCE(?own, ?label) AS ?o) FILTER(BOUND(?o)) BIND({PROVML.attributeName} AS ?p) }}
      }}""", use_default_graph_as_union=True)
    assert isinstance(result, QuerySolutions)
    quads = [Quad(row["s"], row["p"], row["o"], row["g"]) for row in result]  # type: ignore[arg-type]
    return summaries(quads)


def pending(kg: Any) -> int:
    """How many quads :func:`migrate` would move, drop or add (0: the store has the current layout)."""
    n = len(_summary_quads(kg))
    for where, _ in _operations(kg):
        result = kg.store.query(f"SELECT (COUNT(*) AS ?n) WHERE {{ {where} }}", use_default_graph_as_union=True)
        assert isinstance(result, QuerySolutions)
        n += int(next(iter(result))["n"].value)
    return n


def migrate(kg: Any) -> MigrationResult:
    """Convert ``kg``'s store to the current graph layout in one transaction (idempotent).

    :raises provml.errors.StoreReadOnly: the store was opened read-only.
    """
    store = kg.store
    before = len(store)
    changes = pending(kg)
    if changes:
        added = _summary_quads(kg)
        operations = [op for _, op in _operations(kg)]
        if added:  # computed before, added in the same transaction
            operations.append(insert_data(added))
        store.update(" ;\n".join(operations))
    return MigrationResult(moved=changes, before=before, after=len(store))
