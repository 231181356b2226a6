"""Upgrading stores written by earlier provml versions to the current graph layout.

Layout 2 (this version) stores every triple in exactly one graph (see
:mod:`provml.ingest.translation`): nodes shared by runs — data references, software, personas,
implementations — are described once, in ``{base}graph/shared`` (data stores in the plans graph),
and a domain ontology's graph holds none of the triples of the provml ontology's graph.
Layout 1 wrote a shared node's description into the bundle of every run that touched it, so the
union default graph counted it once per run.

:func:`migrate` moves every triple of a run's bundle that is not about that run (neither its
subject nor its object was minted for the run) to the graph that owns it now, and drops the
ontology duplicates, in **one SPARQL update**: one transaction, so a store is either converted
whole or left as it was. Running it again finds nothing to do.

>>> from provml.knowledge import open_kg
>>> migrate(open_kg()).moved
0
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyoxigraph import QuerySolutions

from provml.vocab import OILGAS_ONTOLOGY_IRI, ONTOLOGY_IRI

__all__ = ["MigrationResult", "migrate", "pending"]


@dataclass(frozen=True)
class MigrationResult:
    """What :func:`migrate` did: triples moved out of run bundles, quads before and after."""

    moved: int
    before: int
    after: int

    @property
    def removed(self) -> int:
        """Quads that were copies of a triple held in another graph (now stored once)."""
        return self.before - self.after


def _where(kg: Any) -> str:
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


def _ontology_duplicates() -> str:
    return f"GRAPH {ONTOLOGY_IRI} {{ ?s ?p ?o }} GRAPH {OILGAS_ONTOLOGY_IRI} {{ ?s ?p ?o }}"


def pending(kg: Any) -> int:
    """How many quads :func:`migrate` would move or drop (0: the store has the current layout)."""
    n = 0
    for where in (_where(kg), _ontology_duplicates()):
        result = kg.store.query(f"SELECT (COUNT(*) AS ?n) WHERE {{ {where} }}", use_default_graph_as_union=False)
        assert isinstance(result, QuerySolutions)
        n += int(next(iter(result))["n"].value)
    return n


def migrate(kg: Any) -> MigrationResult:
    """Convert ``kg``'s store to the current graph layout in one transaction (idempotent).

    :raises provml.errors.StoreReadOnly: the store was opened read-only.
    """
    store = kg.store
    before = len(store)
    moved = pending(kg)
    if moved:
        store.update(
            f"DELETE {{ GRAPH ?g {{ ?s ?p ?o }} }} INSERT {{ GRAPH ?target {{ ?s ?p ?o }} }}"
            f" WHERE {{ {_where(kg)} }} ;\n"
            f"DELETE {{ GRAPH {OILGAS_ONTOLOGY_IRI} {{ ?s ?p ?o }} }} WHERE {{ {_ontology_duplicates()} }}"
        )
    return MigrationResult(moved=moved, before=before, after=len(store))
