"""The embedded backend of the :class:`~provml.store.base.Store` protocol: Oxigraph (pyoxigraph)
in an on-disk directory, or in memory.

Why it is long: one class, every operation of the protocol and of RocksDB's upkeep (flush,
compaction, its threads' priority) over one pyoxigraph store and its lock, and ``as_stored``,
which must encode literals as this store does (through one).

>>> from pyoxigraph import Literal, NamedNode, Quad
>>> with OxigraphStore() as store:
...     store.add([Quad(NamedNode("http://example.com/s"), NamedNode("http://example.com/p"),
...                     Literal("1"), NamedNode("http://example.com/g"))])
...     [str(row["s"]) for row in store.query("SELECT ?s WHERE { ?s ?p ?o }")]
['<http://example.com/s>']
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import pyoxigraph
from pyoxigraph import NamedNode, Quad, RdfFormat

from provml.closing import Closing
from provml.errors import StoreDamaged, StoreLocked, StoreReadOnly
from provml.store.base import GraphName, QueryResult, materialize
from provml.store.update_dataset import restrict_update
from provml.vocab import XSD

__all__ = ["BULK_MIN_QUADS", "FLUSH_QUADS", "FLUSH_SHARE", "OxigraphStore", "as_stored"]


#: how long opening read-only retries while a writer moves files under it
_READ_ONLY_RETRY_S = 5.0
#: the smallest batch an on-disk store writes with the bulk loader (docs/benchmarks.md: at
#: ≈ 11,600 quads a batch the bulk path takes about half a transaction's process CPU; at
#: ≈ 600 it takes 5x the time). At ≈ 5,700 (bags of 500 events) it was no gain while the plans
#: read every node back, as the small files make reads dearer until RocksDB merges them. With
#: the nodes the store lacks no longer read (fourteenth session), one ``ingest_events`` call a
#: bag of 500 took 15-18 % less time through the bulk loader (fifteenth session: 0.284× /
#: 0.355× / 0.339× a raw bulk load at 10^4 / 5×10^4 / 10^5 events against 0.236× / 0.295× /
#: 0.290×), for 10-22 % more process CPU (its sorting threads and the compactions use the
#: second core); writes of 1,000 quads cost more by either clock, of 2,000 less (the pipeline
#: was measured at ≈ 5,700 only)
BULK_MIN_QUADS = 4_000
#: the fewest quads an on-disk store writes through transactions between two flushes of its
#: memtables to disk; in a larger store, 1/``FLUSH_SHARE`` of its quads (docs/benchmarks.md,
#: twelfth and thirteenth sessions). RocksDB's own flush waits for a memtable of 64 MB an index;
#: a transaction's keys go to random places in it (Oxigraph's keys start with hashes), and the
#: fuller it is the more each costs: 600-quad bags of the ingest benchmark's quads took 17-28 µs
#: a quad of the writing thread's CPU over 2 million quads, 10-13 flushed early. Each flush
#: leaves small files that the compactions merge in the background, at a cost that grows with
#: the store, hence the share: the smaller the files, the cheaper the writing thread and the
#: dearer the compactions. Over 9.5 million quads, counting the compactions left pending
#: (``benchmarks/memtable_flush.py --settle``): a share of 1/20 took 256 s and 333-341 s of CPU
#: in all, 1/50 219-238 s and 411-435 s, 1/10 286 s and 348 s, no early flush 299 s and 371 s
FLUSH_QUADS = 20_000
#: see ``FLUSH_QUADS``: 1/20 of the store's quads, the least CPU in all of the shares measured
#: (1/10, 1/20, 1/30, 1/50), for 8-17 % more wall time than 1/50 at 10^7 quads, 3-8 % at 6×10^5
FLUSH_SHARE = 20
#: bytes of store files a quad, once compacted (to turn ``size_on_disk`` into quads)
_BYTES_A_QUAD = 150


#: the datatype of the literals a store gives back as they were written
_AS_IS = XSD.string.value


def as_stored(quads: Iterable[Quad]) -> list[Quad]:
    """``quads`` as an Oxigraph store gives them back: literals of a datatype it encodes by value
    in their canonical form (``"1.0"^^xsd:double`` is stored as ``"1"^^xsd:double``), so a quad
    read from the store and one of a batch compare equal when they are one fact. The literals
    of another datatype than ``xsd:string`` (which the store keeps as it is) are read through an
    in-memory store (the same encoding as on disk), each distinct one once; every quad is kept
    once, in no given order.

    >>> from pyoxigraph import Literal, NamedNode, Quad
    >>> from provml.vocab import XSD
    >>> [q.object for q in as_stored([Quad(NamedNode("http://e.org/s"), NamedNode("http://e.org/p"),
    ...                                    Literal("1.0", datatype=XSD.double))])]
    [<Literal value=1 datatype=<NamedNode value=http://www.w3.org/2001/XMLSchema#double>>]
    """
    others: dict[Quad, None] = {}
    literals: list[tuple[Quad, pyoxigraph.Literal]] = []
    for q in quads:
        o = q.object
        if isinstance(o, pyoxigraph.Literal) and o.datatype.value != _AS_IS:
            literals.append((q, o))
        else:
            others[q] = None
    if not literals:
        return list(others)
    terms = list(dict.fromkeys(o for _q, o in literals))  # each under a subject of its own
    store = pyoxigraph.Store()
    store.extend(pyoxigraph.Quad(pyoxigraph.NamedNode(f"{_TERM.value}{i}"), _TERM, o) for i, o in enumerate(terms))
    kept: dict[pyoxigraph.Literal, pyoxigraph.Literal | None] = {}  # (None: as written)
    for stored in store:
        o = terms[int(stored.subject.value[len(_TERM.value):])]
        kept[o] = None if stored.object == o else stored.object
    out = dict.fromkeys(q if (c := kept[o]) is None else Quad(q.subject, q.predicate, c, q.graph_name)
                        for q, o in literals)  # (two spellings of one value: one quad, as stored)
    return [*others, *out]


#: the predicate (and the subjects' prefix) :func:`as_stored` writes each literal under
_TERM = NamedNode("urn:provml:as-stored:")


def _is_lock_error(error: BaseException) -> bool:
    text = str(error)
    return "LOCK" in text or "lock hold" in text.lower()


class OxigraphStore(Closing):
    """The embedded backend: a pyoxigraph ``Store`` on disk (``path``) or in memory (no path).

    One process writes an on-disk store at a time: a second writer (another process, or a second
    handle in this one) gets :class:`~provml.errors.StoreLocked` naming the store and the ways out,
    never a corrupted store.

    ``read_only=True`` opens a *snapshot*: the store as it was at opening, later writes unseen;
    writes through it raise :class:`~provml.errors.StoreReadOnly`. It works beside a running
    writer (each snapshot holds whole transactions only), but pyoxigraph calls that case undefined
    behaviour: when the writer compacts files under the opening reader, the open fails (measured:
    52 of 179 raw opens beside a process committing and flushing 500-quad batches non-stop), so we
    retry for up to 5 s and then raise ``StoreLocked``. A reader never writes, so the writer's store is never at risk.
    For live reads beside a writer, query the endpoint that owns the store.

    :param path: the store directory (created with its parents when missing), or None for an
        in-memory store.
    :param read_only: open an existing on-disk store read-only.
    :raises StoreLocked: another process (or another handle in this one) holds the store.
    :raises OSError: the directory holds no valid store or cannot be read.

    ``.raw`` is the underlying ``pyoxigraph.Store`` for fast paths (serializing results,
    bulk loads); prefer the methods here.

    :attr:`generation` changes after every write through the methods here (also after one that
    failed): whoever keeps something derived from the store (the endpoint's query workers and
    result cache) compares it to know that the store was written — by the endpoint or by the
    owner of a store passed to it. Writes through ``.raw`` are not counted.

    >>> from pyoxigraph import Literal, NamedNode, Quad
    >>> store = OxigraphStore()
    >>> store.add([Quad(NamedNode("http://e.org/s"), NamedNode("http://e.org/p"), Literal("é"))])
    >>> len(store), store.query("ASK { ?s ?p 'é' }")
    (1, <QueryBoolean true>)
    >>> store.close()
    """

    def __init__(self, path: str | Path | None = None, *, read_only: bool = False) -> None:
        self.path = Path(path) if path is not None else None
        self.read_only = read_only
        self._raw: pyoxigraph.Store | None = self._open()
        self._ended = threading.Lock()
        self.generation = 0  # see the class docstring
        self._unflushed = 0  # quads written in transactions since the last flush (FLUSH_QUADS)
        self._flush_at = self._flush_size()

    @contextlib.contextmanager
    def _writing(self) -> Iterator[pyoxigraph.Store]:
        """The store to write, :attr:`generation` moved on once the write is over: a reader that
        sees the new number sees the write. It counts the writes ended, exactly (under a lock:
        two threads that write at once both move it), so that whoever knows how many writes it
        made itself can tell whether anyone else wrote (:class:`provml.ingest.plan_reads.Reads`)."""
        store = self._writable()
        try:
            yield store
        finally:
            with self._ended:
                self.generation += 1

    def _open(self) -> pyoxigraph.Store:
        if self.path is None:
            if self.read_only:
                raise ValueError("read_only needs the path of an on-disk store")
            return pyoxigraph.Store()
        if not self.read_only:
            self.path.mkdir(parents=True, exist_ok=True)  # pyoxigraph makes only the last level
            try:
                return pyoxigraph.Store(os.fspath(self.path))
            except OSError as error:
                if _is_lock_error(error):
                    raise StoreLocked(path=str(self.path)) from error
                raise
            except RuntimeError as error:  # RocksDB's "Corruption: ..." (a traceback before)
                raise StoreDamaged(path=str(self.path), reason=str(error)) from error
        if not self.path.is_dir():
            raise FileNotFoundError(f"no store at {self.path}")
        last: Exception | None = None
        deadline = time.monotonic() + _READ_ONLY_RETRY_S
        while True:
            try:
                return pyoxigraph.Store.read_only(os.fspath(self.path))
            except (OSError, RuntimeError) as error:  # a writer compacted files under us
                last = error
            if time.monotonic() > deadline:
                break
            time.sleep(0.02)
        raise StoreLocked(
            f"could not open {self.path} read-only while another process writes it ({last}); "
            "query the endpoint that owns the store instead (provml serve --store "
            f"{self.path}), or open it when the writer is done.",
            path=str(self.path),
        ) from last

    @property
    def raw(self) -> pyoxigraph.Store:
        """The underlying ``pyoxigraph.Store``.

        :raises ValueError: the store is closed.
        """
        if self._raw is None:
            raise ValueError(f"the store {self.path or '(in memory)'} is closed")
        return self._raw

    def _writable(self) -> pyoxigraph.Store:
        if self.read_only:
            raise StoreReadOnly(path=str(self.path))
        return self.raw

    def add(self, quads: Iterable[Quad], *, atomic: bool = True) -> None:
        """Write ``quads``: all of them or none.

        The input is read fully and type-checked before anything is written, so an iterator that
        fails half-way or yields a non-``Quad`` leaves the store unchanged. An on-disk store
        writes a batch of at least :data:`BULK_MIN_QUADS` quads with pyoxigraph's bulk loader
        (``bulk_extend``): it sorts the batch into one SST file per index and hands them all to
        RocksDB in one ``IngestExternalFiles`` call, which RocksDB records atomically (after a
        failure or a crash, none of the files is part of the store) — all or nothing as a
        transaction, at about half its CPU for such batches (5,000 quads: 9.0–9.3 µs a quad
        against 17.5–18.0); smaller batches, where the bulk path's fixed cost per call
        dominates, and an in-memory store use a transaction. On
        disk, once :data:`FLUSH_QUADS` quads (in a larger store, 1/:data:`FLUSH_SHARE` of its
        quads) have been written in transactions since the last flush (here and by
        :meth:`load_nquads`), the write ends with a flush of the memtables.

        :param quads: the quads to add (any iterable, read once).
        :param atomic: accepted for the :class:`~provml.store.base.Store` protocol: both paths
            here are atomic.
        :raises TypeError: an item is not a ``pyoxigraph.Quad``.
        :raises StoreReadOnly: the store was opened read-only.
        """
        batch = materialize(quads)
        with self._writing() as store:
            if self.path is not None and len(batch) >= BULK_MIN_QUADS:
                store.bulk_extend(batch)
            else:
                store.extend(batch)
                self._transacted(store, len(batch))

    def _transacted(self, store: pyoxigraph.Store, quads: int) -> None:
        """Count ``quads`` just written in a transaction; flush the memtables once
        :data:`FLUSH_QUADS`, or 1/:data:`FLUSH_SHARE` of the store's quads, have gone there
        since the last flush (on disk only)."""
        if self.path is None:
            return
        with self._ended:
            self._unflushed += quads
            due = self._unflushed >= self._flush_at
            if due:
                self._unflushed = 0
        if due:
            store.flush()
            self._flush_at = self._flush_size()

    def _flush_size(self) -> int:
        return max(FLUSH_QUADS, self.size_on_disk() // (_BYTES_A_QUAD * FLUSH_SHARE))

    def query(
        self,
        sparql: str,
        *,
        use_default_graph_as_union: bool = True,
        default_graph: Sequence[NamedNode] | None = None,
        named_graphs: Sequence[NamedNode] | None = None,
        base_iri: str | None = None,
    ) -> QueryResult:
        """Evaluate a SPARQL 1.1 query.

        :param sparql: the query text.
        :param use_default_graph_as_union: the default graph is the union of all graphs (ignored
            when ``default_graph`` is given).
        :param default_graph: the graphs whose merge is the default graph (protocol's
            ``default-graph-uri``).
        :param named_graphs: the graphs ``GRAPH`` may match (protocol's ``named-graph-uri``).
        :param base_iri: to resolve relative IRIs in the query.
        :raises SyntaxError: the query does not parse.

        >>> OxigraphStore().query("ASK { ?s ?p ?o }")
        <QueryBoolean false>
        """
        union = use_default_graph_as_union and default_graph is None
        return self.raw.query(
            sparql,
            base_iri=base_iri,
            use_default_graph_as_union=union,
            default_graph=list(default_graph) if default_graph is not None else None,
            named_graphs=list(named_graphs) if named_graphs is not None else None,
        )

    def update(
        self,
        sparql: str,
        *,
        base_iri: str | None = None,
        using_graphs: Sequence[NamedNode] | None = None,
        using_named_graphs: Sequence[NamedNode] | None = None,
    ) -> None:
        """Run a SPARQL 1.1 update in one transaction.

        :param using_graphs: the protocol's ``using-graph-uri``: as a ``USING`` clause on every
            ``DELETE``/``INSERT … WHERE`` operation.
        :param using_named_graphs: the protocol's ``using-named-graph-uri`` (``USING NAMED``).
        :raises SyntaxError: the update does not parse.
        :raises ValueError: ``using_*`` given for an update with its own ``USING``/``WITH``.
        :raises StoreReadOnly: the store was opened read-only.

        >>> store = OxigraphStore()
        >>> store.update("INSERT DATA { GRAPH <http://e.org/g> { <http://e.org/s> <http://e.org/p> 1 } }")
        >>> len(store)
        1
        """
        if using_graphs or using_named_graphs:
            sparql = restrict_update(
                sparql, using=using_graphs or (), using_named=using_named_graphs or ()
            )
        with self._writing() as store:
            store.update(sparql, base_iri=base_iri)

    def quads(self, *, graph: GraphName | None = None) -> Iterator[Quad]:
        """The quads of ``graph`` (``DefaultGraph()`` for the default one), or all when None."""
        return iter(self.raw.quads_for_pattern(None, None, None, graph))

    def named_graphs(self) -> list[NamedNode]:
        """The named graphs (IRIs only), sorted by IRI; empty graphs included."""
        graphs = [g for g in self.raw.named_graphs() if isinstance(g, NamedNode)]
        return sorted(graphs, key=lambda g: g.value)

    def contains_graph(self, graph: NamedNode) -> bool:
        """Whether the named graph exists (possibly empty)."""
        return bool(self.raw.contains_named_graph(graph))

    def load(
        self,
        data: bytes,
        *,
        format: RdfFormat,
        graph: GraphName | None = None,
        base_iri: str | None = None,
    ) -> None:
        """Parse ``data`` and add it in one transaction.

        :param format: e.g. ``RdfFormat.TURTLE``, ``RdfFormat.TRIG``, ``RdfFormat.N_QUADS``.
        :param graph: where triples go (quads of a dataset format keep their graph); None is the
            default graph.
        :raises SyntaxError: the data does not parse; nothing is written.
        :raises provml.errors.RdfSyntaxError: RDF/XML with a document type or entity declaration
            (its entities can ask for gigabytes), JSON-LD nested too deep (the parser crashed):
            :func:`provml.store.rdfio.refuse_unsafe`.
        """
        from provml.store.rdfio import refuse_unsafe

        refuse_unsafe(data, format)
        with self._writing() as store:
            store.load(data, format, base_iri=base_iri, to_graph=graph)

    def load_nquads(self, data: bytes, *, lenient: bool = False) -> None:
        """Write N-Quads ``data``, parsed by the store itself (never turned into Python objects):
        on disk, :data:`BULK_MIN_QUADS` lines or more through pyoxigraph's bulk loader, fewer in
        one transaction. pyoxigraph's bulk loader gathers the files of the whole call and hands
        them to RocksDB in one ``IngestExternalFiles`` at its end, as :meth:`add`'s
        ``bulk_extend`` does (data that does not parse leaves the store unchanged:
        ``tests/test_store.py``); Oxigraph's documentation still calls its bulk loader
        not atomic, so callers write again until done (the broker's writer acknowledges a group
        only once it is written; in-process ingest says so to its caller). Both N-Quads loaders
        rename blank nodes: data that holds one goes through :meth:`add`.

        :param lenient: skip the parser's IRI and language-tag checks — only for data serialized
            from checked quads (the broker's writer, in-process ingest).
        :raises SyntaxError: the data does not parse.
        :raises StoreReadOnly: the store was opened read-only.
        """
        with self._writing() as store:
            lines = data.count(b"\n")
            if self.path is not None and lines >= BULK_MIN_QUADS:
                store.bulk_load(data, format=RdfFormat.N_QUADS, lenient=lenient)
            else:
                store.load(data, format=RdfFormat.N_QUADS, lenient=lenient)
                self._transacted(store, lines)

    def dump(self, *, format: RdfFormat, graph: GraphName | None = None) -> bytes:
        """Serialize one graph (a triples format suffices), or everything (needs a dataset format
        such as ``RdfFormat.N_QUADS`` or ``RdfFormat.TRIG``).

        :raises ValueError: a triples format for the whole dataset.
        """
        if graph is None and not format.supports_datasets:
            raise ValueError(f"{format.name} cannot hold named graphs; pass graph= or use N-Quads")
        out = self.raw.dump(format=format, from_graph=graph)
        assert out is not None
        return bytes(out)

    def clear_graph(self, graph: GraphName) -> None:
        """Remove the triples of ``graph``; the (empty) graph stays."""
        with self._writing() as store:
            store.clear_graph(graph)

    def drop_graph(self, graph: GraphName) -> None:
        """Remove ``graph`` and its triples; no error when it does not exist."""
        with self._writing() as store:
            store.remove_graph(graph)

    def create_graph(self, graph: NamedNode) -> None:
        """Create the named graph, empty; no error when it exists."""
        with self._writing() as store:
            store.add_graph(graph)

    def __len__(self) -> int:
        return len(self.raw)

    def flush(self) -> None:
        """Make sure written data is on disk (done in the background anyway); the quads written
        in transactions count from 0 again towards the next flush (:data:`FLUSH_QUADS`)."""
        if self.path is not None and not self.read_only:
            with self._ended:
                self._unflushed = 0
            self.raw.flush()

    def size_on_disk(self, *, data_only: bool = False) -> int:
        """Bytes of the on-disk store's files (0 in memory): what a compaction reads and
        rewrites, ≈ 150 bytes a quad once compacted. RocksDB deletes files while it compacts
        in the background: one listed and gone before it is measured counts 0.

        :param data_only: only its table files (``*.sst``): the quads flushed, without RocksDB's
            log, options and write-ahead log (a new store's ≈ 200 kB, its log growing with use).
        """
        if self.path is None:
            return 0
        total = 0
        with os.scandir(self.path) as entries:
            for entry in entries:
                with contextlib.suppress(FileNotFoundError):
                    if entry.is_file() and (not data_only or entry.name.endswith(".sst")):
                        total += entry.stat().st_size
        return total

    def optimize(self) -> None:
        """Compact the on-disk store (RocksDB's full compaction of every index): what many bulk
        writes leave as overlapping files is merged, so reads touch fewer files; the log is
        flushed first, so the last writes are compacted too. Nothing changes in the data; no-op
        in memory.

        :raises StoreReadOnly: the store was opened read-only.
        """
        if self.path is not None:
            with self._writing() as store:
                store.flush()
                store.optimize()

    def yield_compactions(self, niceness: int = 10) -> int:
        """Run RocksDB's compactions at a lower CPU priority (``niceness`` added to their threads'
        nice value; Linux, where ``/proc/self/task`` names the threads ``rocksdb:low``), for a
        process that writes without pause (the broker's writer): under load they then yield
        the cores to the pipeline and merge more files at each turn — on two cores shared with
        the workers and 8 capture processes, 2–7 % less CPU an event in all and a 240,000-event
        input written 3–8 % sooner (docs/benchmarks.md, eighth session); idle cores still run
        them at once. RocksDB's thread pool is the process's, shared by its stores.
        Flushes (``rocksdb:high``) keep their priority. Returns how many threads were changed
        (0 elsewhere, in memory, or when they already run at that priority): call it again
        after new threads may have started.
        """
        if self.path is None or not hasattr(os, "setpriority"):
            return 0
        try:
            tasks = os.listdir("/proc/self/task")
            target = min(19, os.getpriority(os.PRIO_PROCESS, os.getpid()) + niceness)
        except OSError:
            return 0
        changed = 0
        for tid in tasks:
            try:
                if Path(f"/proc/self/task/{tid}/comm").read_text().strip() != "rocksdb:low":
                    continue
                if os.getpriority(os.PRIO_PROCESS, int(tid)) < target:
                    os.setpriority(os.PRIO_PROCESS, int(tid), target)
                    changed += 1
            except (OSError, ValueError):  # the thread ended meanwhile, or not allowed: left as it is
                continue
        return changed

    def close(self) -> None:
        """Flush and release the store and its lock. Idempotent.

        The lock goes when the last reference to the pyoxigraph store goes: drop any ``.raw``
        and pending query results you kept.
        """
        if self._raw is not None:
            try:
                self.flush()
            finally:
                self._raw = None


    def __repr__(self) -> str:
        where = str(self.path) if self.path is not None else "memory"
        return f"OxigraphStore({where!r}{', read_only=True' if self.read_only else ''})"
