"""The summary update and the late stage links of a batch, planned before the batch is written
to an embedded store (:func:`store_batch`).

:func:`provml.ingest.summaries.update_summaries` runs after the write and reads back, through
SPARQL, the batch's own sections and values: on an on-disk store each row of them costs a
RocksDB read (≈ 20 µs; ≈ 70 µs an event of a learning run's request of 1,800 events, on the
request's thread; :func:`provml.ingest.shortcuts.late_links` ≈ 22 more). :func:`plan` computes the same thing *before* the write, over the store as
it will be: the batch's quads come from memory, the store's are read by pattern (each pattern
once; a node the store does not hold costs one empty lookup, ≈ 4 µs). :func:`apply` then
replaces the summaries after the batch is written, in one update.

The plan follows ``update_summaries`` step for step — the same frontier, the same rounds, the
same rows with the same multiplicities (a quad counts once per graph, as in the union default
graph), each round reading the summaries the rounds before replaced — so it writes the same
summaries (tested against it on shuffled and redelivered bags). What it cannot read exactly as
SPARQL would, it leaves to ``update_summaries``: :func:`plan` returns ``None`` for a store that
is not embedded (no pattern reads) and for values of a numeric datatype other than
``xsd:integer``, ``xsd:decimal``, ``xsd:double`` or ``xsd:float`` or whose lexical form is not
plainly well-formed (``isNumeric`` in SPARQL depends on it). :func:`plan_late_links` does the
same for ``late_links`` (same rounds, same links), and its links go in the batch's one write.

A store's one writer (a :class:`~provml.knowledge.KnowledgeGraph`, the broker's writer) keeps
what the plans read from one batch to the next (:class:`Reads`): a stage's summary is
recomputed from every epoch's, so without it each batch late in a long run reads every epoch
of the run back from the store.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pyoxigraph import BlankNode, DefaultGraph, Literal, NamedNode, Quad

from provml.ingest.plan_reads import IN_SET, OUT_SET, SUMMARY_FIELDS, Future, Reads
from provml.ingest.summaries import (
    _NUMERIC,
    _RECOMPUTING,
    Summary,
    _number,
    _touched,
    _update,
    _values,
    insert_data,
)
from provml.ingest.tally import Tally
from provml.store.oxigraph import as_stored
from provml.vocab import PROV, PROVML, XSD

__all__ = ["Plan", "apply", "plan", "plan_late_links", "store_batch"]

#: lexical forms SPARQL's ``isNumeric`` takes for sure, per datatype
_LEXICAL = {
    XSD.integer.value: re.compile(r"[+-]?[0-9]+"),
    XSD.decimal.value: re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)"),
    XSD.double.value: re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?|-?INF|NaN"),
    XSD.float.value: re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?|-?INF|NaN"),
}


class _Unsure(Exception):
    """A value the plan cannot read as SPARQL would: leave the batch to ``update_summaries``."""


@dataclass(frozen=True)
class Plan:
    """The executions whose summaries the batch changes, and their new summaries' quads."""

    executions: frozenset[NamedNode]
    quads: tuple[Quad, ...]


def _sections(f: Future, x: Any) -> list[Any]:
    """The rows ``?c prov:wasInformedBy x ; provml:iteration ?i`` (their ``?c``)."""
    return [q.subject for q in f.subjects(PROV.wasInformedBy, x)
            for _ in f.objects(q.subject, PROVML.iteration)]


def _parents(f: Future, nodes: set[Any]) -> set[Any]:
    return {q.object for x in nodes if f.objects(x, PROVML.iteration)
            for q in f.objects(x, PROV.wasInformedBy)}


def _with_sections(f: Future, nodes: set[Any]) -> set[Any]:
    return {x for x in nodes if any(f.objects(q.subject, PROVML.iteration) for q in f.subjects(PROV.wasInformedBy, x))}


def _numeric(term: Any) -> float | None:
    if not isinstance(term, Literal) or term.datatype.value not in _NUMERIC:
        return None  # SPARQL's isNumeric is false for every other datatype
    pattern = _LEXICAL.get(term.datatype.value)
    if pattern is None or not pattern.fullmatch(term.value) or not _in_range(term):
        raise _Unsure(term)
    return _number(term)


def _in_range(term: Literal) -> bool:
    """Whether Oxigraph surely holds ``term`` as a number (an integer in 64 bits, a decimal in
    128 with 18 places); past that ``isNumeric`` is false: the recomputation asks SPARQL."""
    kind = term.datatype.value
    if kind == XSD.integer.value:
        return len(term.value.lstrip("+-").lstrip("0")) <= 18
    if kind == XSD.decimal.value:
        whole, _, places = term.value.lstrip("+-").partition(".")
        return len(whole.lstrip("0")) <= 19 and len(places.rstrip("0")) <= 18
    return True


def _text(term: Any) -> str:
    """A term's ``.value`` (SPARQL's row values; a quoted triple has none: its text)."""
    return str(getattr(term, "value", term))


#: sections an execution has before its summaries are kept as running totals (a Tally): a
#: stage of many epochs, not an epoch of tens of batches (recomputed from memory as cheaply; a
#: tally for each of thousands of epochs is objects the garbage collector walks)
TALLY_MIN_SECTIONS = 128


def _contribution(f: Future, c: Any) -> dict[str, tuple[tuple[float, ...], Summary | None]]:
    """What section ``c`` adds to its execution's summaries, per measure: the numeric values it
    generated (one per row of SPARQL's join), and its own summary (the last the join gives)."""
    vals: dict[str, list[float]] = {}
    parts: dict[str, Summary] = {}
    for g in f.subjects(PROV.wasGeneratedBy, c):
        for n in f.objects(g.subject, PROVML.attributeName):
            for v in f.objects(g.subject, PROV.value):
                if (number := _numeric(v.object)) is not None:
                    vals.setdefault(_text(n.object), []).append(number)
    for link in f.objects(c, PROVML.summary):
        node: Any = link.object
        fields: list[list[Any]] = [[q.object for q in f.objects(node, p)] for p in SUMMARY_FIELDS]
        for name in fields[0]:
            for low in fields[1]:
                for high in fields[2]:
                    for mean in fields[3]:
                        for count in fields[4]:
                            parts[_text(name)] = Summary(float(low.value), float(high.value), float(mean.value),
                                                         int(count.value))
    return {name: (tuple(vals.get(name, ())), parts.get(name)) for name in vals.keys() | parts.keys()}


def _times(f: Future, c: Any, x: Any) -> int:
    """How many rows ``c prov:wasInformedBy x ; provml:iteration ?i`` has (0: no section of x)."""
    return sum(1 for q in f.objects(c, PROV.wasInformedBy) if q.object == x) * len(f.objects(c, PROVML.iteration))


def _summaries(f: Future, x: Any) -> dict[str, Summary]:
    """``x``'s summaries, per measure: from the sections the batch changed when its running
    totals are kept (:class:`~provml.ingest.tally.Tally`), else from every section."""
    tallies = f.tallies
    tally = tallies.get(x) if tallies is not None else None
    if tally is not None:
        changed = f.changed_sections(x)
        if changed is not None:
            for c in sorted(changed, key=_text):
                times = _times(f, c, x)
                tally.swap(c, (times, _contribution(f, c)) if times else None)
            found = tally.summaries()
            if found is not None:
                return found
    if tallies is not None:
        tallies.pop(x, None)
    times_of: dict[Any, int] = {}
    for c in _sections(f, x):
        times_of[c] = times_of.get(c, 0) + 1
    contributions = {c: (times, _contribution(f, c)) for c, times in times_of.items()}
    vals: dict[str, list[float]] = defaultdict(list)
    parts: dict[str, dict[Any, Summary]] = defaultdict(dict)
    for c, (times, measures) in contributions.items():
        for name, (values, part) in measures.items():
            vals[name].extend(values * times)
            if part is not None:
                parts[name][c] = part
    out = {}
    for name in vals.keys() | parts.keys():
        summary = Summary.of(vals.get(name, []), [parts[name][c] for c in sorted(parts.get(name, {}), key=_text)])
        if summary is not None:
            out[name] = summary
    if f.tallies is not None and len(contributions) >= TALLY_MIN_SECTIONS:
        tally = Tally.of(contributions.items())
        if tally.summaries() is not None:
            f.tallies[x] = tally
    return out


def _recompute(f: Future, nodes: set[Any]) -> list[tuple[NamedNode, list[Quad]]]:
    graph_of: dict[Any, Any] = {}
    for x in nodes:
        for q in f.objects(x, PROV.wasInformedBy):
            if not isinstance(q.graph_name, DefaultGraph):
                graph_of[x] = q.graph_name
    new: dict[Any, list[Quad]] = {x: [] for x in nodes}
    for x in sorted(nodes, key=_text):
        f.recomputed.add(x)
        if x not in graph_of:  # its own events not stored yet: summarized when they arrive
            continue
        summaries = _summaries(f, x)
        for name in sorted(summaries):
            new[x].extend(summaries[name].quads(x, name, graph_of[x]))
    return list(new.items())


def _raw(store: Any) -> Any:
    raw = getattr(store, "raw", None)
    return raw if raw is not None and hasattr(raw, "quads_for_pattern") else None


def plan(store: Any, quads: Sequence[Quad], *, rounds: int = 64, future: Future | None = None) -> Plan | None:
    """The summaries ``quads`` change once written to ``store`` (see the module's text), read
    before they are written; ``None``: leave them to ``update_summaries`` after the write.
    ``future``: the view of the store and the batch to read (shared by the planners)."""
    raw = _raw(store)
    if raw is None:
        return None
    sections, generators = _touched(quads)
    if not sections and not generators:
        return Plan(frozenset(), ())
    f = future or Future(raw, quads)
    try:
        frontier = _parents(f, sections | generators) | _with_sections(f, sections)
        for _ in range(rounds):
            if not frontier:
                break
            for x, new in _recompute(f, frontier):
                f.replace(x, new)
            frontier = _parents(f, frontier)
    except _Unsure:
        return None
    done = f.recomputed
    out = [q for x in sorted(done, key=lambda n: n.value) for q in f.replaced.get(x, ())]
    out += [q for node in sorted(f.new_nodes, key=lambda n: n.value) for q in f.new_nodes[node]]
    return Plan(frozenset(done), tuple(out))


def apply(store: Any, planned: Plan) -> int:
    """Replace, in ``store`` (the batch written), the summaries of the plan's executions by its
    quads, in one update; returns how many writes that made (0: nothing changed).

    What ``DELETE { GRAPH ?g { ?x provml:summary ?s . ?s ?p ?o } } WHERE { … }`` would delete is
    read from the store (one lookup per execution and per summary node), and only what differs
    from the new summaries is written: most fields of a stage's summaries stay as they were
    (its types, names, often its minimum and maximum), and each quad a transaction writes costs
    10–30 µs, more the fuller RocksDB's memtable (see
    :data:`provml.store.oxigraph.FLUSH_QUADS`). Without pattern reads, or with blank nodes, the
    ``DELETE … WHERE`` itself."""
    if not planned.executions:
        return 0
    changes = _changes(_raw(store), planned)
    if changes is None:
        values = _values(planned.executions)
        delete = f"""DELETE {{ GRAPH ?g {{ ?x {PROVML.summary} ?s . ?s ?p ?o }} }}
                     WHERE {{ VALUES ?x {{ {values} }} GRAPH ?g {{ ?x {PROVML.summary} ?s . ?s ?p ?o }} }}"""
        insert = insert_data(list(planned.quads)) if planned.quads else ""
        store.update(delete + (" ;\n" + insert if insert else ""))
        return 1
    old, new = changes
    if not old and not new:
        return 0
    parts = [insert_data(old, verb="DELETE DATA")] if old else []
    if new:
        parts.append(insert_data(new))
    store.update(" ;\n".join(parts))
    return 1


def _changes(raw: Any, planned: Plan) -> tuple[list[Quad], list[Quad]] | None:
    """The stored summary quads of the plan's executions that its quads drop, and its quads the
    store lacks; None: leave it to ``DELETE … WHERE`` (no pattern reads, a blank node)."""
    if raw is None or not all(isinstance(x, NamedNode) for x in planned.executions):
        return None  # (a literal is no subject to look up; SPARQL's VALUES takes it)
    old: dict[Quad, None] = {}
    for x in planned.executions:
        for link in raw.quads_for_pattern(x, PROVML.summary, None, None):
            graph, node = link.graph_name, link.object
            if isinstance(graph, DefaultGraph):
                continue  # (GRAPH ?g: named graphs only)
            if not isinstance(node, NamedNode):
                return None
            quads = list(raw.quads_for_pattern(node, None, None, graph))
            if quads:  # (a link to a node with nothing in its graph matches nothing)
                old[link] = None
                old.update(dict.fromkeys(quads))
    if any(isinstance(t, BlankNode) for q in old for t in (q.object, q.graph_name)):
        return None  # (DELETE DATA takes no blank node)
    new = dict.fromkeys(as_stored(planned.quads))
    return [q for q in old if q not in new], [q for q in new if q not in old]


def store_batch(store: Any, quads: Sequence[Quad], *, atomic: bool = True,
                write: Callable[[Sequence[Quad]], int] | None = None, as_stored: bool = False,
                reads: Reads | None = None) -> int:
    """Write a prepared batch with its late stage links, then replace the summaries it changes;
    returns how many executions' summaries were recomputed.

    On an embedded store both are planned before the write over one view of the store and the
    batch (:func:`plan_late_links`, :func:`plan`), the links written with the batch and the
    summaries replaced after it in one update; otherwise (or when a plan is ``None``) as
    before: :func:`~provml.ingest.shortcuts.late_links` and the recomputation of
    :func:`~provml.ingest.summaries.update_summaries` after the write. One recomputation at a
    time per process, as there. ``write(extra)``: writes the batch and the ``extra`` quads (the
    late links) and returns how many writes it made — by default one ``store.add``; on a
    store on disk the broker's writer and in-process ingest load N-Quads bytes instead
    (:func:`provml.ingest.handover.write_passes`). ``as_stored``: the literals the planners
    read are already in the form the store gives them back (:func:`_as_read` would return them
    unchanged). ``reads``: what the plans read of the store, kept from batch to batch
    (:class:`Reads`; the caller called its ``begin`` before its first write of the batch)."""
    from provml.ingest.shortcuts import late_links

    def add(extra: Sequence[Quad]) -> int:
        store.add([*quads, *extra], atomic=atomic)
        return 1

    with _RECOMPUTING:
        try:
            raw = _raw(store)
            read = _as_read(quads) if raw is not None and not as_stored else quads
            future = Future(raw, read, reads) if raw is not None else None
            links = plan_late_links(store, read, future=future)
            planned = plan(store, read, future=future)
            writes = (write or add)(links or ())
            if links is None:
                late_links(store, quads)
            if planned is None:
                if reads is not None:
                    reads.forget()  # (SPARQL wrote what it found: not known here)
                return _update(store, quads, 64)
            wrote = apply(store, planned)
            if reads is not None and future is not None and links is not None:
                reads.keep(store, future, writes + wrote, links)
            return len(planned.executions)
        except BaseException:
            if reads is not None:
                reads.forget()  # (part of the batch may be written)
            raise


def _as_read(quads: Sequence[Quad]) -> Sequence[Quad]:
    """The batch as the planners must read it: only the quads of the predicates they read (the
    others, most of a batch, they would skip one by one), their literals in the form the store
    keeps them (:func:`~provml.store.oxigraph.as_stored`), so that a value delivered again
    (``1.0`` in the batch, ``"1"`` once stored) is one value, not two."""
    read: list[Quad] = []
    literal: list[Quad] = []
    for q in quads:
        p = q.predicate
        if p in OUT_SET or p in IN_SET:
            (literal if isinstance(q.object, Literal) else read).append(q)
    return [*read, *as_stored(literal)] if literal else read


def plan_late_links(store: Any, quads: Sequence[Quad], *, rounds: int = 64,
                    future: Future | None = None) -> list[Quad] | None:
    """What :func:`provml.ingest.shortcuts.late_links` would add once ``quads`` are written to
    ``store``, read before they are (the batch from memory, the store by pattern): add them with
    the batch. ``None`` for a store that is not embedded (call ``late_links`` after the write)."""
    raw = _raw(store)
    if raw is None:
        return None
    stage_link, informed, iteration = PROVML.stageExecution, PROV.wasInformedBy, PROVML.iteration
    links = (informed, stage_link)
    frontier: list[Any] = sorted(
        {s for q in quads if q.predicate in links and isinstance(s := q.subject, NamedNode)},
        key=lambda n: n.value)
    f = future or Future(raw, quads)
    added: dict[Any, list[Quad]] = {}  # sections linked by the rounds so far
    out: list[Quad] = []
    linked: set[Any] = set()
    for _ in range(rounds):
        if not frontier:
            break
        found: list[Quad] = []
        for p in frontier:
            children = [q for q in f.subjects(informed, p) if not isinstance(q.graph_name, DefaultGraph)]
            if not children:
                continue
            # OPTIONAL { ?p provml:stageExecution ?ps } OPTIONAL { ?p provml:iteration ?pi }
            # FILTER(BOUND(?ps) || !BOUND(?pi)) BIND(COALESCE(?ps, ?p) AS ?stage)
            bound: list[Any] = [q.object for q in f.objects(p, stage_link)] + \
                [q.object for q in added.get(p, ())]
            iterations: Sequence[Any] = f.objects(p, iteration) or (None,)
            stages = [ps if ps is not None else p for ps in (bound or [None]) for pi in iterations
                      if ps is not None or pi is None]
            if not stages:
                continue
            for q in children:
                s = q.subject
                if s in linked or s in added or f.objects(s, stage_link):  # FILTER NOT EXISTS
                    continue
                for _i in f.objects(s, iteration):
                    found.extend(Quad(s, stage_link, stage, q.graph_name) for stage in stages)
        for q in found:
            added.setdefault(q.subject, []).append(q)
        out.extend(found)
        linked.update(q.subject for q in found)
        frontier = [q.subject for q in found]
    return out
