"""What the planners of :mod:`provml.ingest.summary_plan` read: the store as it will be once a
batch is written (:class:`Future`: the store's quads read by pattern, merged with the batch's,
the summaries replaced so far applied), what of those reads a store's one writer keeps from
one batch to the next (:class:`Reads`), and which nodes the store certainly lacks
(:class:`Stored`), so that the reads of the batch's new nodes are skipped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

from pyoxigraph import Literal, NamedNode, Quad, QueryResultsFormat

from provml.vocab import PROV, PROVML

if TYPE_CHECKING:
    from provml.ingest.tally import Tally

__all__ = ["Future", "Reads", "Stored"]

log = logging.getLogger(__name__)

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
#: whether a :class:`Reads` keeps a :class:`Stored` unless told (``benchmarks/ingest.py``'s
#: ``nofilter`` variant turns it off, to compare)
FILTERS = True
#: the fewest nodes a :class:`Stored` is sized for (≈ 1.2 MiB each of its first two filters)
_FLOOR = 1 << 20
#: the share of the nodes absent from the store that :class:`Stored` takes for present (each
#: costs the read made without it)
_FALSE_POSITIVES = 0.01
#: seconds the scan of :meth:`Stored.scan` takes a byte of the store's files, the guess before
#: one was timed (see ``Reads``): 0.38-0.49 s for the 570,503 quads of 5×10^4 events of the
#: ingest benchmark in 291 MB of files not yet compacted, 1.3-1.7 ns a byte of them; a compacted
#: store's files are ≈ 3 times smaller a quad, so the guess is low there (the scan comes sooner)
_SCAN_S_A_BYTE = 1.5e-9
#: a scan that costs less than this (seconds; a new store's) is made without waiting for rent
_CHEAP_S = 0.001
#: a scan expected to take less than this (seconds) is made on the spot, before the batch; a
#: longer one on a thread of its own, while the batches go on reading the store (10-12 s for
#: 10^7 quads: the writer would stop that long)
_WAIT_S = 0.1


class Stored:
    """The nodes the plans read around that a store holds, as Bloom filters (``rbloom``) of
    their N-Triples text: the subjects of its quads of a predicate of :data:`OUT`, and the
    objects of its quads of one of :data:`IN` — the two reads :class:`Future` makes of a node
    (``node ?p ?o`` of ``OUT``, ``?s p node`` of ``IN``). A node absent from them is absent
    from the store (a Bloom filter has no false negatives), and its read is skipped; one present
    may be absent (1 % of them per filter): it is read, as without filters. A literal is never
    taken for absent (its text in a query's results may be abbreviated).

    Most nodes a batch states something of are new (a batch's execution, the values it
    generated), and each read of one that finds nothing looks into every file of RocksDB's
    index that may hold it: 14-26 µs on stores of 2.4 and 10 million quads not compacted, 9.5 µs
    once compacted (docs/benchmarks.md, thirteenth and fourteenth sessions); a look-up here
    takes ≈ 1 µs.

    It holds only while every write of the store's quads of ``OUT`` and ``IN`` is added
    (:meth:`add`): the :class:`Reads` that holds it drops it whenever it forgets (another
    writer, a failed batch), and builds it again from the store (:meth:`scan`). Once a filter
    holds the nodes it was sized for, a filter twice as large takes the next ones (a scalable
    Bloom filter: the store is not read again as it grows).
    """

    def __init__(self) -> None:
        self.capacity = 0  # nodes the newest filter is sized for
        self.added = 0  # and added to it
        self.subjects: list[Any] = []  # rbloom.Bloom: the oldest first
        self.objects: list[Any] = []
        self._grow(_FLOOR)

    def _grow(self, capacity: int) -> None:
        from rbloom import Bloom

        self.capacity, self.added = capacity, 0
        self.subjects.append(Bloom(capacity, _FALSE_POSITIVES))
        self.objects.append(Bloom(capacity, _FALSE_POSITIVES))

    @classmethod
    def scan(cls, raw: Any, stop: threading.Event | None = None) -> Stored | None:
        """The filters of the pyoxigraph store ``raw``, read whole: the distinct nodes of its
        quads of ``OUT`` and of ``IN``, one query each, its results written out as TSV by the
        store, which lets go of Python's lock meanwhile (a scan on a thread of its own that took
        its rows one by one as Python objects took 100 s instead of 0.3 s beside a busy thread,
        each row waiting for the lock; one query a predicate took twice as long). None:
        ``stop`` was set meanwhile (looked at before each query)."""
        stored = cls()
        for predicates, pattern, side in ((OUT, "?n ?p ?o", 0), (IN, "?s ?p ?n", 1)):
            if stop is not None and stop.is_set():
                return None
            values = " ".join(str(p) for p in predicates)
            query = f"SELECT DISTINCT ?n WHERE {{ VALUES ?p {{ {values} }} {pattern} }}"
            data = raw.query(query, use_default_graph_as_union=True).serialize(format=QueryResultsFormat.TSV)
            rows = data.decode().split("\n")  # (a header, ?n, then a node a line, each ended)
            nodes = rows[1:-1] if rows[-1] == "" else rows[1:]
            if side == 0:
                stored.add_text(nodes, ())
            else:
                stored.add_text((), nodes)
        return stored

    def has_subject(self, node: Any) -> bool:
        """Whether the store may hold a quad ``node p ?o`` of a ``p`` of ``OUT`` (False: it holds none)."""
        if isinstance(node, Literal):
            return True
        text = str(node)
        return any(text in bloom for bloom in self.subjects)

    def has_object(self, node: Any) -> bool:
        """Whether the store may hold a quad ``?s p node`` of a ``p`` of ``IN`` (False: it holds none)."""
        if isinstance(node, Literal):
            return True
        text = str(node)
        return any(text in bloom for bloom in self.objects)

    def add(self, subjects: Collection[Any], objects: Collection[Any]) -> None:
        """Nodes written to the store: subjects of quads of ``OUT``, objects of quads of ``IN``."""
        self.add_text([str(n) for n in subjects], [str(n) for n in objects])

    def add_text(self, subjects: Collection[str], objects: Collection[str]) -> None:
        """:meth:`add`, the nodes given as their N-Triples text."""
        n = len(subjects) + len(objects)
        if self.added + n > self.capacity:
            self._grow(max(2 * self.capacity, 2 * n))
        self.subjects[-1].update(subjects)
        self.objects[-1].update(objects)
        self.added += n


class _Scan:
    """A :meth:`Stored.scan` on a thread of its own, and the nodes written while it runs (its
    snapshot of the store may lack them: they are added to its filters when they are taken)."""

    def __init__(self, raw: Any) -> None:
        self.subjects: set[Any] = set()
        self.objects: set[Any] = set()
        #: the :class:`Reads` forgot since it began: what it read is not taken
        self.stale = False
        self.stored: Stored | None = None
        self.seconds = 0.0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(raw,), name="provml-filter-scan", daemon=True)
        self.thread.start()

    def _run(self, raw: Any) -> None:
        start = time.perf_counter()
        try:
            self.stored = Stored.scan(raw, self._stop)
        except Exception as exc:  # noqa: BLE001 - the store closed or failed under it: no filters
            log.warning("reading the store's nodes for the ingest filters failed (%s); read again later", exc)
        self.seconds = time.perf_counter() - start

    def done(self) -> bool:
        return not self.thread.is_alive()

    def cancel(self) -> None:
        """Stop it (before its next query: the one under way ends first) and wait: it lets go of
        the store."""
        self._stop.set()
        self.thread.join()


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

    It also keeps the running totals of the executions with many sections (``tallies``: a
    :class:`~provml.ingest.tally.Tally` each, at most :data:`TALLIES`), so that a batch
    recomputes a long run's stage from the epochs it changed. They are forgotten with the rest,
    but not at the entry limit (they are not entries: one holds a few numbers per section); one
    whose sections a batch changed without recomputing it is dropped (:meth:`keep`). A long
    kept list of subjects (a stage's epochs) is kept as a set too (``members``), so that merging
    a batch into it does not hash every entry again.

    And it keeps which nodes the store certainly lacks (``stored``, a :class:`Stored`, unless
    ``filters`` is false; by default :data:`FILTERS`), so that the plans skip the reads of a
    batch's new nodes. Every batch's nodes are added to it (:meth:`keep`), and it is dropped
    with the rest (:meth:`forget`). It is built by a scan of the store (:meth:`Stored.scan`) at
    the :meth:`begin` where the reads it would have answered since it was dropped (``rent``)
    have cost as long as its last scan took (``price``; before any, a guess from the size of the
    store's table files, :data:`_SCAN_S_A_BYTE`): the rule of renting skis until the rent has paid
    for a pair, which costs at most twice the cheaper of never scanning and scanning at once. A
    new store's is built at its first batch, a large store's once the first reads have paid
    for its scan, and one dropped again and again (another writer of the store) ever less
    often. A scan expected to take more than :data:`_WAIT_S` runs on a thread of its own while
    the batches go on reading the store, and its filters are taken at the first :meth:`begin`
    after it ended, with the nodes written meanwhile; :meth:`close` stops it.
    """

    def __init__(self, *, limit: int = 20_000, filters: bool | None = None) -> None:
        self.limit = limit
        self.filters = FILTERS if filters is None else filters
        self.stored: Stored | None = None
        #: seconds of reads that ``stored`` would have answered since it was dropped, and what
        #: its last scan took (None: none yet)
        self.rent = 0.0
        self.price: float | None = None
        self.skipped = 0  # reads ``stored`` answered (for the benchmarks)
        self._scan: _Scan | None = None  # a scan under way on its thread
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
        self.out, self.inc, self.whole, self.members = {}, {}, set(), {}
        self.tallies = {}
        self.generation = self._since = None
        self.stored = None
        if self._scan is not None:
            self._scan.stale = True  # (kept until it ends: one scan at a time)

    def begin(self, store: Any) -> None:
        """Before the first write of a batch: forget what another writer may have changed, and
        build :attr:`stored` when it is due."""
        generation = getattr(store, "generation", None)
        if generation is None or generation != self.generation:
            self.forget()
        self._since = generation
        if self.filters and generation is not None and self.stored is None:
            self._build(store)

    def close(self) -> None:
        """Stop a scan under way (it holds the store open)."""
        if self._scan is not None:
            self._scan.cancel()
            self._scan = None

    def _build(self, store: Any) -> None:
        scan = self._scan
        if scan is not None:
            if not scan.done():
                return
            self._scan = None
            if not scan.stale and scan.stored is not None:
                scan.stored.add(scan.subjects, scan.objects)
                self.stored, self.price, self.rent = scan.stored, scan.seconds, 0.0
                return
            self.price = max(self.price or 0.0, scan.seconds)  # (stale or failed: rent pays again)
        raw = getattr(store, "raw", None)
        if not hasattr(raw, "quads_for_pattern"):
            return  # (no pattern reads: the plans are not made here)
        price = self.price
        if price is None:
            size = getattr(store, "size_on_disk", None)
            price = size(data_only=True) * _SCAN_S_A_BYTE if size is not None else 0.0
        if self.rent < price - _CHEAP_S:
            return
        if price >= _WAIT_S:
            self._scan = _Scan(raw)
            return
        start = time.perf_counter()
        self.stored = Stored.scan(raw)
        self.price = time.perf_counter() - start
        self.rent = 0.0

    def keep(self, store: Any, future: Future, writes: int, late: Sequence[Quad]) -> None:
        """After a batch's ``writes`` writes ended well: keep its plans' reads (``future``) and
        the ``late`` links written with it."""
        since = self._since
        if since is None or getattr(store, "generation", None) != since + writes:
            self.forget()  # another writer wrote since begin: what it changed is unknown
            return
        filters = self.stored if self.stored is not None else self._scan
        if filters is not None:  # the nodes of the quads of OUT and IN written: the batch's,
            # its late links' and its summaries' (what ``apply`` writes is what ``replace`` saw)
            subjects = set(future.batch_out)
            subjects.update(q.subject for q in late)
            objects = {node for _p, node in future.batch_in}
            for quads in (*future.new_nodes.values(), *future.replaced.values()):
                for q in quads:
                    if q.predicate in OUT_SET:
                        subjects.add(q.subject)
                    if q.predicate in IN_SET:
                        objects.add(q.object)
            if isinstance(filters, Stored):
                filters.add(subjects, objects)
            else:  # (a scan under way: added when its filters are taken)
                filters.subjects |= subjects
                filters.objects |= objects
        future.settle_tallies()
        if len(self) + len(future.out) + len(future.inc) > self.limit:
            # full: only this batch's reads stay (the tallies stay: they are as the store is now)
            self.out, self.inc, self.whole, self.members = {}, {}, set(), {}
        if len(self.tallies) > TALLIES:
            self.tallies = {}
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
        elif known is not None and known.stored is not None and not known.stored.has_subject(node):
            known.skipped += 1
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
        """The store's quads of a pattern (any graph); while the :class:`Reads` wants a
        :class:`Stored` it lacks, timed as the reads it would have answered (its ``rent``)."""
        known = self.known
        if known is None or known.stored is not None or not known.filters:
            return list(self.raw.quads_for_pattern(subject, predicate, obj, None))
        start = time.perf_counter()
        found = list(self.raw.quads_for_pattern(subject, predicate, obj, None))
        known.rent += time.perf_counter() - start
        return found

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
                if found is None and (node in known.whole or (
                        known.stored is not None and not known.stored.has_subject(node))):
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
            if stored is None and known is not None and known.stored is not None and not known.stored.has_object(node):
                known.skipped += 1
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
