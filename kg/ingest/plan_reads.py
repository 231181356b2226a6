"""What the planners of :mod:`provml.ingest.summary_plan` read: the store as it will be once a
batch is written (:class:`Future`: the store's quads read by pattern, merged with the batch's,
the summaries replaced so far applied), what of those reads a store's one writer keeps from
one batch to the next (:class:`Reads`), with the filters of the nodes the store holds
(:class:`~provml.ingest.node_filters.Stored`), so that the reads of a batch's new nodes are
skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pyoxigraph import Literal, NamedNode, Quad

from provml.ingest.node_filters import NodeFilters
from provml.ingest.reruns import TIMES
from provml.vocab import PROV, PROVML

if TYPE_CHECKING:
    from provml.ingest.tally import Tally

__all__ = ["Future", "Reads"]

#: the predicates read out of a node, and into one
OUT = (PROV.wasInformedBy, PROVML.iteration, PROVML.stageExecution, PROVML.attributeName, PROV.value, PROVML.summary,
       PROVML.minimumValue, PROVML.maximumValue, PROVML.meanValue, PROVML.valueCount, PROV.wasGeneratedBy)
IN = (PROV.wasInformedBy, PROV.wasGeneratedBy)
OUT_SET, IN_SET = frozenset(OUT), frozenset(IN)
#: a summary node's fields
SUMMARY_FIELDS = (PROVML.attributeName, PROVML.minimumValue, PROVML.maximumValue,
                  PROVML.meanValue, PROVML.valueCount)
#: a summary node's fields that no other node has (a batch that states them changes a summary
#: no :class:`~provml.ingest.tally.Tally` can follow)
_SUMMARY_ONLY = frozenset(SUMMARY_FIELDS[1:])
#: entries of ``Reads.inc`` this long are kept as sets too (``Reads.members``)
_LONG = 64
#: executions kept as running totals at most (past it they are built again as recomputed)
TALLIES = 4_096
#: whether a :class:`Reads` keeps the filters of the nodes a store holds unless told (``benchmarks/ingest.py``'s
#: ``nofilter`` variant turns it off, to compare)
FILTERS = True


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
    the runs under way, which each batch reads again — and none when the last batch's reads
    alone pass it (a large group's reads are mostly of its own nodes, which the next does not
    read again). The limit is low because what is kept is
    made of objects the garbage collector walks (pyoxigraph's terms are tracked): 100,000
    entries cost ≈ 10 µs an event more in collections than 20,000, and planned no faster
    (``benchmarks/plan_growth.py``'s workload).

    It also keeps the running totals of the executions with many sections (``tallies``: a
    :class:`~provml.ingest.tally.Tally` each, at most :data:`TALLIES`), so that a batch
    recomputes a long run's stage from the epochs it changed. They are forgotten with the rest,
    but not at the entry limit (they are not entries: one holds a few numbers per section); one
    whose sections a batch changed without recomputing it is dropped (:meth:`keep`). A long
    kept list of subjects (a stage's epochs) is kept as a set too (``members``), so that merging
    a batch into it does not hash every entry again.

    And it keeps the filters of the nodes the store holds (``nodes``, a
    :class:`~provml.ingest.node_filters.NodeFilters`, unless ``filters`` is false; by default
    :data:`FILTERS`), so that the plans skip the reads of a batch's new nodes: every batch's
    nodes are added to them (:meth:`keep`), and they are dropped with the rest (:meth:`forget`).
    Their subjects are also those of the executions' start and end times, so that the check of
    a run id used twice skips its new executions too (:meth:`lacks_times`, :meth:`timed`).
    """

    def __init__(self, *, limit: int = 20_000, filters: bool | None = None) -> None:
        self.limit = limit
        self.nodes = NodeFilters((*OUT, *TIMES), IN, enabled=FILTERS if filters is None else filters)
        self._timed: set[Any] = set()  # the executions the batch under way times (see timed)
        # tuples: shared with the batches' Future views, never changed in place
        self.out: dict[tuple[Any, Any], tuple[Quad, ...]] = {}  # (node, predicate): quads of ?o
        self.inc: dict[tuple[Any, Any], tuple[Quad, ...]] = {}  # (predicate, node): quads of ?s
        #: the quads of the long entries of ``inc`` as a set (a stage's epochs: a batch's few
        #: are looked up in it rather than thousands hashed again for every batch)
        self.members: dict[tuple[Any, Any], set[Quad]] = {}
        self.whole: set[Any] = set()  # nodes whose every quad of OUT is in ``out``
        self.tallies: dict[Any, Tally] = {}  # execution: its summaries' running totals
        self.generation: int | None = None  # the store's, when last kept
        self._since: int | None = None

    def __len__(self) -> int:
        return len(self.out) + len(self.inc)

    def forget(self) -> None:
        self._drop_entries()
        self.tallies = {}
        self.generation = self._since = None
        self.nodes.drop()

    def _drop_entries(self) -> None:
        self.out, self.inc, self.whole, self.members = {}, {}, set(), {}

    def begin(self, store: Any) -> None:
        """Before the first write of a batch: forget what another writer may have changed, and
        build the filters of its nodes when it is due."""
        generation = getattr(store, "generation", None)
        if generation is None or generation != self.generation:
            self.forget()
        self._since = generation
        if generation is not None:
            self.nodes.begin(store)
        self._timed = set()

    def lacks_times(self, node: Any) -> bool:
        """True: the store holds no start or end time of ``node`` (no quad of ``OUT`` either),
        as the filters say after :meth:`begin` (:func:`provml.ingest.reruns.stored_times`)."""
        return self.nodes.lacks_subject(node)

    def timed(self, nodes: set[Any]) -> None:
        """The executions whose start or end time the batch under way writes: added to the
        filters with its other nodes (:meth:`keep`)."""
        self._timed |= nodes

    def close(self) -> None:
        """Stop a scan of the filters under way (it holds the store open)."""
        self.nodes.close()

    def keep(self, store: Any, future: Future, writes: int, late: Sequence[Quad]) -> None:
        """After a batch's ``writes`` writes ended well: keep its plans' reads (``future``) and
        the ``late`` links written with it."""
        since = self._since
        if since is None or getattr(store, "generation", None) != since + writes:
            self.forget()  # another writer wrote since begin: what it changed is unknown
            return
        if self.nodes.adding:  # the nodes of the quads of OUT and IN written: the batch's,
            # its late links' and its summaries' (what ``apply`` writes is what ``replace`` saw)
            subjects = set(future.batch_out)
            subjects.update(q.subject for q in late)
            subjects |= self._timed
            objects = {node for _p, node in future.batch_in}
            for quads in (*future.new_nodes.values(), *future.replaced.values()):
                for q in quads:
                    if q.predicate in OUT_SET:
                        subjects.add(q.subject)
                    if q.predicate in IN_SET:
                        objects.add(q.object)
            self.nodes.add(subjects, objects)
        future.settle_tallies()
        if len(self.tallies) > TALLIES:
            self.tallies = {}
        if len(future.out) + len(future.inc) > self.limit:
            # this batch alone read past the limit (a group of 10^4 events and more: 46,000 to
            # 150,000 entries): mostly its own nodes', which the next batch does not read again
            # (≈ 600 of them were, at 10^5 events of the workload). Kept, they cost more to build,
            # free and collect than they saved (twenty-ninth session: the write's thread −0.85 s
            # of 11.4 at 10^5 events). None are kept (the filters and the tallies stay)
            self._drop_entries()
            self.generation = store.generation
            return
        if len(self) + len(future.out) + len(future.inc) > self.limit:
            # full: only this batch's reads stay (the tallies stay: they are as the store is now)
            self._drop_entries()
        out, inc, whole = self.out, self.inc, self.whole
        for node, by in future.batch_out.items():  # what the batch changed, read or not
            whole.discard(node)
            for p in by:
                out.pop((node, p), None)
        for key in future.batch_in:
            inc.pop(key, None)
            self.members.pop(key, None)
        out.update(future.out)  # read by the plans: as the store is now (batch merged)
        inc.update(future.inc)
        for key, (members, added) in future.added.items():
            members.update(added)  # (now the quads of inc[key], the batch's merged in)
            self.members[key] = members
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
        #: per long kept entry the batch adds to: its quads as a set, and the batch's added
        self.added: dict[tuple[Any, Any], tuple[set[Quad], tuple[Quad, ...]]] = {}
        self.probed: set[Any] = set()
        #: executions recomputed so far: their summary quads, and their former summary nodes
        self.replaced: dict[NamedNode, list[Quad]] = {}
        self.former: set[Any] = set()
        self.new_nodes: dict[Any, list[Quad]] = {}
        #: the running totals the plan may use and change (None: none kept, or a batch that
        #: states what they cannot follow), and the executions recomputed so far
        self.tallies: dict[Any, Tally] | None = known.tallies if known is not None else None
        self.recomputed: set[Any] = set()
        self._changed: dict[Any, set[Any]] | None = None  # execution: sections changed by the batch
        self._replaced_in: dict[Any, set[Any]] = {}  # execution: sections recomputed so far

    def changed_sections(self, execution: Any) -> set[Any] | None:
        """The nodes inside ``execution`` whose part of its summaries the batch or the rounds so
        far may have changed (its new sections among them); None: not known (see
        :attr:`tallies`)."""
        changed = self._changed
        if changed is None:
            changed = self._changed = self._sections_changed()
        if self.tallies is None:
            return None
        return changed.get(execution, set()) | self._replaced_in.get(execution, set())

    def _sections_changed(self) -> dict[Any, set[Any]]:
        """Per execution, the nodes directly inside it that the batch states something of that
        their part of its summaries reads: a link to it, an iteration, a value generated (its
        name, its number), a summary link. A batch that states a summary's own fields sets
        :attr:`tallies` to None."""
        touched: set[Any] = set()
        informed, generated = PROV.wasInformedBy, PROV.wasGeneratedBy
        for node, by in self.batch_out.items():
            if informed in by or PROVML.iteration in by or PROVML.summary in by:
                touched.add(node)
            if not _SUMMARY_ONLY.isdisjoint(by):
                self.tallies = None
            if PROVML.attributeName in by or PROV.value in by:  # (a value no execution generated: in none)
                touched.update(q.object for q in self.objects(node, generated))
        for p, node in self.batch_in:
            if p == generated:
                touched.add(node)
        changed: dict[Any, set[Any]] = {}
        for node in touched:
            for q in self.objects(node, informed):
                changed.setdefault(q.object, set()).add(node)
        return changed

    def settle_tallies(self) -> None:
        """After the plan (:meth:`Reads.keep`): drop the tallies the batch changed a section of
        without recomputing them (their totals would no longer be the store's), or every one
        when the batch states what they cannot follow."""
        known = self.known
        if known is None or not known.tallies:
            return
        if self._changed is None:
            self._changed = self._sections_changed()
        if self.tallies is None:
            known.tallies = {}
            return
        for execution in (*self._changed, *self._replaced_in):
            if execution not in self.recomputed:
                known.tallies.pop(execution, None)

    def _probe(self, node: Any) -> None:
        """A node the batch states things of, most often new: one read for all its predicates."""
        self.probed.add(node)
        batch = self.batch_out[node]
        known = self.known
        if known is not None and node in known.whole:
            stored = [q for p in OUT for q in known.out.get((node, p), ())]
        elif known is not None and known.nodes.lacks_subject(node):
            stored = []
        else:
            stored = [q for q in self._read(node, None, None) if q.predicate in OUT_SET]
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

    def _read(self, subject: Any, predicate: Any, obj: Any) -> list[Quad]:
        """The store's quads of a pattern (any graph), timed while the filters are wanted and
        not there (:meth:`~provml.ingest.node_filters.NodeFilters.read`)."""
        if self.known is None:
            return list(self.raw.quads_for_pattern(subject, predicate, obj, None))
        return self.known.nodes.read(self.raw, subject, predicate, obj)

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
                if found is None and (node in known.whole or known.nodes.lacks_subject(node)):
                    found = ()
            if found is None:
                found = tuple(self._read(node, predicate, None))
        self.out[key] = found
        return found

    def subjects(self, predicate: Any, node: Any) -> tuple[Quad, ...]:
        """The quads ``?s predicate node`` (any graph)."""
        key = (predicate, node)
        found = self.inc.get(key)
        if found is None:
            known = self.known
            stored: Sequence[Quad] | None = None if known is None else known.inc.get(key)
            if stored is None and known is not None and known.nodes.lacks_object(node):
                stored = ()
            if stored is None:
                stored = self._read(None, predicate, node)
            batch = self.batch_in.get(key)
            if batch is None:
                found = tuple(stored)
            elif isinstance(stored, tuple) and len(stored) >= _LONG:  # kept, long
                members = self.known.members.get(key) if self.known is not None else None
                if members is None:
                    members = set(stored)  # (once: kept with the entry from now on)
                added = tuple(q for q in batch if q not in members)
                found = stored + added
                self.added[key] = (members, added)
            else:
                found = tuple(dict.fromkeys([*stored, *batch]))
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
        for q in self.objects(execution, PROV.wasInformedBy):
            self._replaced_in.setdefault(q.object, set()).add(execution)
