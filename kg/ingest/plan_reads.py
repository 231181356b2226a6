"""What the planners of :mod:`provml.ingest.summary_plan` read: the store as it will be once a
batch is written (:class:`Future`: the store's quads read by pattern, merged with the batch's,
the summaries replaced so far applied), and what of those reads a store's one writer keeps from
one batch to the next (:class:`Reads`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pyoxigraph import Literal, NamedNode, Quad

from provml.vocab import PROV, PROVML

__all__ = ["Future", "Reads"]

#: the predicates read out of a node, and into one
OUT = (PROV.wasInformedBy, PROVML.iteration, PROVML.stageExecution, PROVML.attributeName, PROV.value, PROVML.summary,
       PROVML.minimumValue, PROVML.maximumValue, PROVML.meanValue, PROVML.valueCount)
IN = (PROV.wasInformedBy, PROV.wasGeneratedBy)
OUT_SET, IN_SET = frozenset(OUT), frozenset(IN)
#: a summary node's fields
SUMMARY_FIELDS = (PROVML.attributeName, PROVML.minimumValue, PROVML.maximumValue,
                  PROVML.meanValue, PROVML.valueCount)


class Reads:
    """What the planners read of one embedded store, kept from one batch to the next.

    A batch's plan reads the nodes around it: an epoch's batches, a stage's epochs and their
    summaries. Read from the store each time, that cost grows with the run (a stage's summary is
    recomputed from every epoch's summary, so a group late in a run of 100 epochs reads them
    all). The one writer of a store keeps here what its plans read, *as the store is after the
    batch* (the :class:`Future`'s reads merged with the batch, the late links, the summaries
    replaced), and the next plan reads it from memory.

    It is kept only while nobody else writes: :meth:`begin` (before the caller's first write of
    a batch) forgets everything when the store's
    :attr:`~provml.store.oxigraph.OxigraphStore.generation` (its count of writes ended) is not
    the one :meth:`keep` recorded, and :meth:`keep` forgets everything unless the writes since
    :meth:`begin` are exactly the caller's own. A batch that fails, and one the plans leave to
    SPARQL, make it forget too (:func:`~provml.ingest.summary_plan.store_batch`). Past ``limit``
    entries (≈ 0.4 KiB each) it keeps only what the last batch's plans read: the nodes around
    the runs under way, which each batch reads again. The limit is low because what is kept is
    made of objects the garbage collector walks (pyoxigraph's terms are tracked): 100,000
    entries cost ≈ 10 µs an event more in collections than 20,000, and planned no faster
    (``benchmarks/plan_growth.py``'s workload).
    """

    def __init__(self, *, limit: int = 20_000) -> None:
        self.limit = limit
        # tuples: shared with the batches' Future views, never changed in place
        self.out: dict[tuple[Any, Any], tuple[Quad, ...]] = {}  # (node, predicate): quads of ?o
        self.inc: dict[tuple[Any, Any], tuple[Quad, ...]] = {}  # (predicate, node): quads of ?s
        self.whole: set[Any] = set()  # nodes whose every quad of OUT is in ``out``
        self.generation: int | None = None  # the store's, when last kept
        self._since: int | None = None

    def __len__(self) -> int:
        return len(self.out) + len(self.inc)

    def forget(self) -> None:
        self.out, self.inc, self.whole = {}, {}, set()
        self.generation = self._since = None

    def begin(self, store: Any) -> None:
        """Before the first write of a batch: forget what another writer may have changed."""
        generation = getattr(store, "generation", None)
        if generation is None or generation != self.generation:
            self.forget()
        self._since = generation

    def keep(self, store: Any, future: Future, writes: int, late: Sequence[Quad]) -> None:
        """After a batch's ``writes`` writes ended well: keep its plans' reads (``future``) and
        the ``late`` links written with it."""
        since = self._since
        if since is None or getattr(store, "generation", None) != since + writes:
            self.forget()  # another writer wrote since begin: what it changed is unknown
            return
        if len(self) + len(future.out) + len(future.inc) > self.limit:
            self.forget()  # full: only this batch's reads stay (the generation is set below)
        out, inc, whole = self.out, self.inc, self.whole
        for node, by in future.batch_out.items():  # what the batch changed, read or not
            whole.discard(node)
            for p in by:
                out.pop((node, p), None)
        for key in future.batch_in:
            inc.pop(key, None)
        out.update(future.out)  # read by the plans: as the store is now (batch merged)
        inc.update(future.inc)
        whole |= future.probed
        for q in late:
            out.pop((q.subject, q.predicate), None)
            whole.discard(q.subject)
        for node in future.former | future.new_nodes.keys():  # the summaries replaced
            whole.discard(node)
            for p in OUT:
                out.pop((node, p), None)
        for node, quads in future.new_nodes.items():
            for p in SUMMARY_FIELDS:
                out[(node, p)] = tuple(q for q in quads if q.predicate == p)
        for x, quads in future.replaced.items():
            out[(x, PROVML.summary)] = tuple(quads)
        self.generation = store.generation


class Future:
    """The store as it will be once the batch is written, with the summaries replaced so far:
    per (node, predicate), the distinct quads of the store and of the batch."""

    def __init__(self, raw: Any, batch: Sequence[Quad], known: Reads | None = None) -> None:
        self.raw = raw
        self.known = known
        self.batch_out: dict[Any, dict[Any, dict[Quad, None]]] = {}
        self.batch_in: dict[tuple[Any, Any], dict[Quad, None]] = {}
        for q in batch:
            p = q.predicate
            if p in OUT_SET:
                by = self.batch_out.get(q.subject)
                if by is None:
                    by = self.batch_out[q.subject] = {}
                found = by.get(p)
                if found is None:
                    by[p] = {q: None}
                else:
                    found[q] = None
            if p in IN_SET:
                key = (p, q.object)
                found = self.batch_in.get(key)
                if found is None:
                    self.batch_in[key] = {q: None}
                else:
                    found[q] = None
        self.out: dict[tuple[Any, Any], tuple[Quad, ...]] = {}
        self.inc: dict[tuple[Any, Any], tuple[Quad, ...]] = {}
        self.probed: set[Any] = set()
        #: executions recomputed so far: their summary quads, and their former summary nodes
        self.replaced: dict[NamedNode, list[Quad]] = {}
        self.former: set[Any] = set()
        self.new_nodes: dict[Any, list[Quad]] = {}

    def _probe(self, node: Any) -> None:
        """A node the batch states things of, most often new: one read for all its predicates."""
        self.probed.add(node)
        batch = self.batch_out[node]
        known = self.known
        if known is not None and node in known.whole:
            stored = [q for p in OUT for q in known.out.get((node, p), ())]
        else:
            stored = [q for q in self.raw.quads_for_pattern(node, None, None, None) if q.predicate in OUT_SET]
        if not stored:
            for p, qs in batch.items():
                self.out[(node, p)] = tuple(qs)
            return
        merged: dict[Any, dict[Quad, None]] = {}
        for q in stored:
            merged.setdefault(q.predicate, {})[q] = None
        for p, qs in batch.items():
            merged.setdefault(p, {}).update(qs)
        for p, qs in merged.items():
            self.out[(node, p)] = tuple(qs)

    def objects(self, node: Any, predicate: Any) -> tuple[Quad, ...]:
        """The quads ``node predicate ?o`` (any graph), summaries replaced so far applied."""
        if predicate == PROVML.summary and node in self.replaced:
            return tuple(q for q in self.replaced[node] if q.predicate == PROVML.summary)
        if node in self.former or node in self.new_nodes:
            return tuple(q for q in self.new_nodes.get(node, ()) if q.predicate == predicate)
        key = (node, predicate)
        found = self.out.get(key)
        if found is not None:
            return found
        if isinstance(node, Literal):
            found = ()
        elif node in self.batch_out:
            if node not in self.probed:
                self._probe(node)
            found = self.out.get(key, ())
        else:  # not in the batch: only what the store holds
            known = self.known
            if known is not None:
                found = known.out.get(key)
                if found is None and node in known.whole:
                    found = ()
            if found is None:
                found = tuple(self.raw.quads_for_pattern(node, predicate, None, None))
        self.out[key] = found
        return found

    def subjects(self, predicate: Any, node: Any) -> tuple[Quad, ...]:
        """The quads ``?s predicate node`` (any graph)."""
        key = (predicate, node)
        found = self.inc.get(key)
        if found is None:
            stored = None if self.known is None else self.known.inc.get(key)
            if stored is None:
                stored = self.raw.quads_for_pattern(None, predicate, node, None)
            batch = self.batch_in.get(key)
            found = tuple(stored) if batch is None else tuple(dict.fromkeys([*stored, *batch]))
            self.inc[key] = found
        return found

    def replace(self, execution: NamedNode, quads: list[Quad]) -> None:
        """What ``DELETE … INSERT DATA`` of a round does to the summaries of ``execution``."""
        for q in self.objects(execution, PROVML.summary):
            self.former.add(q.object)
            self.new_nodes.pop(q.object, None)
        self.replaced[execution] = [q for q in quads if q.predicate == PROVML.summary]
        for q in quads:
            if q.predicate != PROVML.summary:
                self.new_nodes.setdefault(q.subject, []).append(q)
