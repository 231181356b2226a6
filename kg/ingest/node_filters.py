"""Bloom filters of the nodes an embedded store holds, where the ingest plans look
(:class:`Stored`), and their scan of the store on a thread of its own (:class:`Scan`): the one
writer of a store (:class:`provml.ingest.plan_reads.Reads`) skips the store reads of the nodes
they lack — most nodes a batch states something of are new.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection, Sequence
from typing import Any

from pyoxigraph import Literal, QueryResultsFormat

__all__ = ["NodeFilters", "Scan", "Stored"]

log = logging.getLogger(__name__)

#: seconds the scan of :meth:`Stored.scan` takes a byte of the store's table files, the guess
#: before one was timed (see :class:`NodeFilters`): 8.3 s for 10,268,334 quads in 3.18 GB of
#: table files not yet compacted (2.6 ns a byte; ``benchmarks/filter_scan.py``), 0.38-0.49 s
#: for 570,503 quads in 291 MB in its first form (1.3-1.7 ns); a compacted store's files are
#: ≈ 3 times smaller a quad, so the guess is low there too: the scan comes sooner than it pays
_SCAN_S_A_BYTE = 1.5e-9
#: a scan that costs less than this (seconds; a new store's) is made without waiting for rent
_CHEAP_S = 0.001
#: a scan expected to take less than this (seconds) is made on the spot, before the batch; a
#: longer one on a thread of its own, while the batches go on reading the store (8.3 s for
#: 10^7 quads: the writer would stop that long)
_WAIT_S = 0.1
#: the fewest nodes a :class:`Stored` is sized for (≈ 1.2 MiB each of its first two filters)
_FLOOR = 1 << 20
#: the share of the nodes absent from the store that :class:`Stored` takes for present (each
#: costs the read made without it)
_FALSE_POSITIVES = 0.01


class Stored:
    """The nodes the plans read around that a store holds, as Bloom filters (``rbloom``) of
    their N-Triples text: the subjects of its quads of a predicate of
    :data:`~provml.ingest.plan_reads.OUT`, and the objects of its quads of one of
    :data:`~provml.ingest.plan_reads.IN` — the two reads
    :class:`~provml.ingest.plan_reads.Future` makes of a node (``node ?p ?o`` of ``OUT``,
    ``?s p node`` of ``IN``). A node absent from them is absent from the store (a Bloom filter
    has no false negatives), and its read is skipped; one present may be absent (1 % of them per
    filter): it is read, as without filters. A literal is never taken for absent (its text in a
    query's results may be abbreviated).

    Most nodes a batch states something of are new (a batch's execution, the values it
    generated), and each read of one that finds nothing looks into every file of RocksDB's
    index that may hold it: 14-26 µs on stores of 2.4 and 10 million quads not compacted, 9.5 µs
    once compacted (docs/benchmarks.md, thirteenth and fourteenth sessions); a look-up here
    takes ≈ 0.55 µs (the node's text and its hash included).

    It holds only while every write of the store's quads of ``OUT`` and ``IN`` is added
    (:meth:`add`): the :class:`NodeFilters` that holds it drops it whenever its
    :class:`~provml.ingest.plan_reads.Reads` forgets (another writer, a failed batch), and builds
    it again from the store (:meth:`scan`). Once a filter holds the nodes it was sized for, a
    filter twice as large takes the next ones (a scalable Bloom filter: the store is not read
    again as it grows).
    """

    def __init__(self, capacity: int = 0) -> None:
        """Empty filters sized for ``capacity`` nodes (:data:`_FLOOR` at least)."""
        self.capacity = 0  # nodes the newest filter is sized for
        self.added = 0  # and added to it
        self.subjects: list[Any] = []  # rbloom.Bloom: the oldest first
        self.objects: list[Any] = []
        self._grow(max(capacity, _FLOOR))

    def _grow(self, capacity: int) -> None:
        from rbloom import Bloom

        self.capacity, self.added = capacity, 0
        self.subjects.append(Bloom(capacity, _FALSE_POSITIVES))
        self.objects.append(Bloom(capacity, _FALSE_POSITIVES))

    @classmethod
    def scan(cls, raw: Any, out: Sequence[Any], into: Sequence[Any],
             stop: threading.Event | None = None) -> Stored | None:
        """The filters of the pyoxigraph store ``raw``, read whole (sized for twice its nodes):
        the distinct subjects of its quads of the predicates ``out`` and objects of those of
        ``into``, one query each, whose results the store writes out as TSV, letting go of
        Python's lock meanwhile (a scan on a thread of its own that took its rows one by one as
        Python objects took 100 s instead of 0.3 s beside a busy thread, each row waiting for
        the lock; one query a predicate took twice as long). None: ``stop`` was set meanwhile
        (looked at before each query)."""
        found: list[list[str]] = []
        for predicates, pattern in ((out, "?n ?p ?o"), (into, "?s ?p ?n")):
            if stop is not None and stop.is_set():
                return None
            values = " ".join(str(p) for p in predicates)
            query = f"SELECT DISTINCT ?n WHERE {{ VALUES ?p {{ {values} }} {pattern} }}"
            data = raw.query(query, use_default_graph_as_union=True).serialize(format=QueryResultsFormat.TSV)
            rows = data.decode().split("\n")  # (a header, ?n, then a node a line, each ended)
            found.append(rows[1:-1] if rows[-1] == "" else rows[1:])
        subjects, objects = found
        stored = cls(2 * (len(subjects) + len(objects)))
        stored.add_text(subjects, objects)
        return stored

    def has_subject(self, node: Any) -> bool:
        """Whether the store may hold a quad ``node p ?o`` of a ``p`` of ``OUT`` (False: it
        holds none)."""
        return _may_hold(self.subjects, node)

    def has_object(self, node: Any) -> bool:
        """Whether the store may hold a quad ``?s p node`` of a ``p`` of ``IN`` (False: it
        holds none)."""
        return _may_hold(self.objects, node)

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


def _may_hold(blooms: list[Any], node: Any) -> bool:
    """Whether ``node`` may be in one of ``blooms`` (a literal always may: see :class:`Stored`)."""
    if isinstance(node, Literal):
        return True
    text = str(node)
    return any(text in bloom for bloom in blooms)


class Scan:
    """A :meth:`Stored.scan` on a thread of its own, and the nodes written while it runs (its
    snapshot of the store may lack them: they are added to its filters when they are taken)."""

    def __init__(self, raw: Any, out: Sequence[Any], into: Sequence[Any]) -> None:
        self.subjects: set[Any] = set()
        self.objects: set[Any] = set()
        #: the ``Reads`` that started it forgot since: what it read is not taken
        self.stale = False
        self.stored: Stored | None = None
        self.seconds = 0.0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(raw, out, into), name="provml-filter-scan",
                                       daemon=True)
        self.thread.start()

    def _run(self, raw: Any, out: Sequence[Any], into: Sequence[Any]) -> None:
        start = time.perf_counter()
        try:
            self.stored = Stored.scan(raw, out, into, self._stop)
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


class NodeFilters:
    """The :class:`Stored` of one writer of a store (:class:`provml.ingest.plan_reads.Reads`),
    kept as the store changes: the nodes the writer writes are added (:meth:`add`), and whatever
    it did not write itself drops it (:meth:`drop`: another writer, a failed batch).

    It is built by a scan of the store (:meth:`Stored.scan`) at the :meth:`begin` where the
    reads it would have answered since it was dropped (``rent``, timed by :meth:`read`) have
    cost as long as its last scan took (``price``; before any, a guess from the size of the
    store's table files, :data:`_SCAN_S_A_BYTE`): the rule of renting skis until the rent has
    paid for a pair, which costs at most twice the cheaper of never scanning and scanning at
    once. A new store's is built at its first batch, a large store's once the first reads have
    paid for its scan, and one dropped again and again (another writer of the store) ever less
    often. A scan expected to take more than :data:`_WAIT_S` runs on a thread of its own while
    the batches go on reading the store, and its filters are taken at the first :meth:`begin`
    after it ended, with the nodes written meanwhile; :meth:`close` stops it.
    """

    def __init__(self, out: Sequence[Any], into: Sequence[Any], *, enabled: bool = True) -> None:
        self.out, self.into, self.enabled = out, into, enabled
        self.stored: Stored | None = None
        #: seconds of reads that ``stored`` would have answered since it was dropped, and what
        #: its last scan took (None: none yet)
        self.rent = 0.0
        self.price: float | None = None
        self.skipped = 0  # reads ``stored`` answered (for the benchmarks)
        self._scan: Scan | None = None  # a scan under way on its thread

    def drop(self) -> None:
        """Something was written that the filters did not see."""
        self.stored = None
        if self._scan is not None:
            self._scan.stale = True  # (kept until it ends: one scan at a time)

    def close(self) -> None:
        """Stop a scan under way (it holds the store open)."""
        if self._scan is not None:
            self._scan.cancel()
            self._scan = None

    @property
    def adding(self) -> bool:
        """Whether the nodes written now must be added (filters there, or a scan under way)."""
        return self.stored is not None or self._scan is not None

    def add(self, subjects: Collection[Any], objects: Collection[Any]) -> None:
        """Nodes written to the store (subjects of quads of ``out``, objects of ``into``)."""
        if self.stored is not None:
            self.stored.add(subjects, objects)
        elif self._scan is not None:  # (added when its filters are taken)
            self._scan.subjects.update(subjects)
            self._scan.objects.update(objects)

    def lacks_subject(self, node: Any) -> bool:
        """True: the store holds no quad ``node p ?o`` of a ``p`` of ``out`` (its read skipped)."""
        return self.stored is not None and self._skipped(not self.stored.has_subject(node))

    def lacks_object(self, node: Any) -> bool:
        """True: the store holds no quad ``?s p node`` of a ``p`` of ``into``."""
        return self.stored is not None and self._skipped(not self.stored.has_object(node))

    def _skipped(self, lacks: bool) -> bool:
        self.skipped += lacks
        return lacks

    def read(self, raw: Any, subject: Any, predicate: Any, obj: Any) -> list[Any]:
        """The quads of a pattern in ``raw`` (any graph); while the filters are wanted and not
        there, timed as the reads they would have answered (``rent``)."""
        if self.stored is not None or not self.enabled:
            return list(raw.quads_for_pattern(subject, predicate, obj, None))
        start = time.perf_counter()
        found = list(raw.quads_for_pattern(subject, predicate, obj, None))
        self.rent += time.perf_counter() - start
        return found

    def begin(self, store: Any) -> None:
        """Before a batch's first write: take the filters of a scan that ended, or start one when
        it is due."""
        if not self.enabled or self.stored is not None:
            return
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
            self._scan = Scan(raw, self.out, self.into)
            return
        start = time.perf_counter()
        self.stored = Stored.scan(raw, self.out, self.into)
        self.price = time.perf_counter() - start
        self.rent = 0.0
