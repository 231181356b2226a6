"""Query shortcuts that need more than one event: ``provml:stageExecution``.

A section execution (an epoch, a batch, any loop iteration) names only its parent; the task
execution whose loop it is part of (a training, validation or evaluation stage) is the first
ancestor that is not itself a section. That ancestor may have been ingested in an earlier batch,
so the chain is followed through the batch first and then through the store (one query per
batch). Sections whose chain cannot be followed yet (a parent not stored yet: bags that arrive out
of order, as through a broker with several workers) get their shortcut later: once a batch is
stored, :func:`late_links` links the stored sections that were waiting for an execution it
brought. The plain ``prov:wasInformedBy`` edges are always there.

>>> from pyoxigraph import Literal, NamedNode, Quad
>>> from provml.vocab import PROV, PROVML
>>> g, stage, epoch, batch = (NamedNode(f"http://e.org/{n}") for n in ("g", "train", "epoch", "batch"))
>>> quads = [Quad(epoch, PROV.wasInformedBy, stage, g), Quad(epoch, PROVML.iteration, Literal(0), g),
...          Quad(batch, PROV.wasInformedBy, epoch, g), Quad(batch, PROVML.iteration, Literal(0), g),
...          Quad(stage, PROV.wasInformedBy, NamedNode("http://e.org/run"), g)]
>>> sorted(q.subject.value for q in stage_links(quads, lambda nodes: {}))
['http://e.org/batch', 'http://e.org/epoch']
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from pyoxigraph import NamedNode, Quad, QuerySolutions

from provml.vocab import PROV, PROVML

__all__ = ["late_links", "stage_links", "store_lookup"]

#: node -> its stage execution, for nodes already in the store (sections: their stageExecution;
#: tasks: themselves); nodes unknown to the store are left out
Lookup = Callable[[Sequence[NamedNode]], dict[NamedNode, NamedNode]]


def stage_links(quads: Iterable[Quad], lookup: Lookup) -> list[Quad]:
    """``provml:stageExecution`` quads for the section executions that begin in ``quads``, each in
    the graph of the section's ``prov:wasInformedBy``."""
    parent: dict[NamedNode, tuple[NamedNode, Quad]] = {}
    sections: set[NamedNode] = set()
    informed, iteration = PROV.wasInformedBy, PROVML.iteration
    for q in quads:
        p = q.predicate  # (read once: each read makes a term)
        if p == informed and isinstance(q.subject, NamedNode) and isinstance(q.object, NamedNode):
            parent[q.subject] = (q.object, q)
        elif p == iteration and isinstance(q.subject, NamedNode):
            sections.add(q.subject)
    begun = [s for s in sections if s in parent]
    if not begun:
        return []
    # parents outside the batch: ask the store once
    outside = sorted({p for s in begun for p in _chain_end(s, parent, sections)}, key=lambda n: n.value)
    known = lookup(outside) if outside else {}
    stage: dict[NamedNode, NamedNode] = {}
    out: list[Quad] = []
    for s in begun:
        found = _resolve(s, parent, sections, known, stage)
        if found is not None:
            out.append(Quad(s, PROVML.stageExecution, found, parent[s][1].graph_name))
    return out


def _chain_end(node: NamedNode, parent: dict[NamedNode, tuple[NamedNode, Quad]],
               sections: set[NamedNode]) -> list[NamedNode]:
    """The ancestor where the batch's chain from section ``node`` leaves the batch (if it does)."""
    seen: set[NamedNode] = set()
    while node in sections and node not in seen:
        seen.add(node)
        if node not in parent:
            return [node]
        node = parent[node][0]
    return [] if node in parent else [node]


def _resolve(node: NamedNode, parent: dict[NamedNode, tuple[NamedNode, Quad]], sections: set[NamedNode],
             known: dict[NamedNode, NamedNode], memo: dict[NamedNode, NamedNode]) -> NamedNode | None:
    path: list[NamedNode] = []
    current = node
    found: NamedNode | None = None
    while True:
        if current in memo:
            found = memo[current]
            break
        if current in sections:
            if current not in parent:  # a section that began in an earlier batch
                found = known.get(current)
                break
            path.append(current)
            current = parent[current][0]
            if current in path:  # a cycle in the data: give up on this chain
                return None
            continue
        # not a section: the stage itself when it is in the batch, else what the store says
        found = current if current in parent else known.get(current)
        break
    if found is not None:
        for p in path:
            memo[p] = found
    return found


def store_lookup(store: object) -> Lookup:
    """A :data:`Lookup` over a provml store: a section's ``provml:stageExecution``; an execution
    that is not a section, itself."""
    def lookup(nodes: Sequence[NamedNode]) -> dict[NamedNode, NamedNode]:
        values = " ".join(str(n) for n in nodes)
        result = store.query(  # type: ignore[attr-defined]
            f"""SELECT ?x ?stage WHERE {{
                  VALUES ?x {{ {values} }}
                  ?x {PROV.wasInformedBy} ?parent .
                  OPTIONAL {{ ?x {PROVML.stageExecution} ?s }}
                  OPTIONAL {{ ?x {PROVML.iteration} ?i }}
                  FILTER(BOUND(?s) || !BOUND(?i))
                  BIND(COALESCE(?s, ?x) AS ?stage)
                }}""")
        assert isinstance(result, QuerySolutions)
        return {row["x"]: row["stage"] for row in result}  # type: ignore[misc]
    return lookup


def late_links(store: object, quads: Iterable[Quad], *, rounds: int = 64) -> list[Quad]:
    """``provml:stageExecution`` quads for sections already in ``store`` that lack one and whose
    chain now ends in an execution that ``quads`` (just stored) began or linked; nested sections
    follow round by round. Add the result to the store."""
    links = (PROV.wasInformedBy, PROVML.stageExecution)  # the predicate first: most quads stop there
    frontier = sorted({s for q in quads if q.predicate in links and isinstance(s := q.subject, NamedNode)},
                      key=lambda n: n.value)
    out: list[Quad] = []
    linked: set[NamedNode] = set()
    for _ in range(rounds):
        if not frontier:
            break
        # first the executions with a section lacking the link at all (nearly always none: a
        # section gets it with its own batch unless it came before its parent); the full query,
        # twice as dear a node, only for those
        candidates = store.query(  # type: ignore[attr-defined]
            f"""SELECT DISTINCT ?p WHERE {{
                  VALUES ?p {{ {" ".join(str(n) for n in frontier)} }}
                  ?s {PROV.wasInformedBy} ?p .
                  FILTER NOT EXISTS {{ ?s {PROVML.stageExecution} ?any }}
                }}""", use_default_graph_as_union=True)
        assert isinstance(candidates, QuerySolutions)
        frontier = [row["p"] for row in candidates]  # type: ignore[misc]
        if not frontier:
            break
        values = " ".join(str(n) for n in frontier)
        result = store.query(  # type: ignore[attr-defined]
            f"""SELECT ?s ?stage ?g WHERE {{
                  VALUES ?p {{ {values} }}
                  GRAPH ?g {{ ?s {PROV.wasInformedBy} ?p }}
                  ?s {PROVML.iteration} ?i .
                  FILTER NOT EXISTS {{ ?s {PROVML.stageExecution} ?any }}
                  OPTIONAL {{ ?p {PROVML.stageExecution} ?ps }}
                  OPTIONAL {{ ?p {PROVML.iteration} ?pi }}
                  FILTER(BOUND(?ps) || !BOUND(?pi))
                  BIND(COALESCE(?ps, ?p) AS ?stage)
                }}""", use_default_graph_as_union=True)
        assert isinstance(result, QuerySolutions)
        found = [Quad(row["s"], PROVML.stageExecution, row["stage"], row["g"])  # type: ignore[arg-type]
                 for row in result if row["s"] not in linked]
        store.add(found)  # type: ignore[attr-defined]
        out.extend(found)
        linked.update(q.subject for q in found)  # type: ignore[misc]
        frontier = [q.subject for q in found]  # type: ignore[misc]
    return out
