"""Where the knowledge graph lives: one ``Store`` interface, two backends.

- :class:`OxigraphStore` — embedded Oxigraph (pyoxigraph): an on-disk directory, or in memory.
- :class:`RemoteStore` — any SPARQL 1.1 store, through the Protocol, Update and Graph Store HTTP
  Protocol (tested against a real ``oxigraph serve``).

Both return pyoxigraph's own types (``Quad``, ``QuerySolutions``, ``QueryBoolean``,
``QueryTriples``), so calling code never knows which backend it talks to. Queries see the union of
all graphs by default (``use_default_graph_as_union=True``): provml writes one named graph per
workflow execution and the ontologies each in a graph of their own.

>>> from pyoxigraph import Literal, NamedNode, Quad
>>> with open_store() as store:
...     store.add([Quad(NamedNode("http://example.com/s"), NamedNode("http://example.com/p"),
...                     Literal("1"), NamedNode("http://example.com/g"))])
...     [str(row["s"]) for row in store.query("SELECT ?s WHERE { ?s ?p ?o }")]
['<http://example.com/s>']
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

import pyoxigraph
from pyoxigraph import (
    DefaultGraph,
    NamedNode,
    Quad,
    QueryBoolean,
    QuerySolutions,
    QueryTriples,
    RdfFormat,
)

from provml.closing import Closing
from provml.errors import StoreLocked, StoreReadOnly
from provml.store.remote import RemoteStore
from provml.store.update_dataset import restrict_update

__all__ = ["OxigraphStore", "RemoteStore", "Store", "materialize", "open_store"]

QueryResult = QuerySolutions | QueryBoolean | QueryTriples
GraphName = NamedNode | DefaultGraph


@runtime_checkable
class Store(Protocol):
    """What every provml store offers. Implemented by :class:`OxigraphStore` and
    :class:`RemoteStore`; code that takes a store is typed with this protocol.

    >>> isinstance(OxigraphStore(), Store)
    True
    """

    def add(self, quads: Iterable[Quad], *, atomic: bool = True) -> None:
        """Write all ``quads`` in one transaction: all of them or none.

        ``atomic=False`` lets a backend use a faster non-transactional path (embedded:
        ``bulk_extend``); the remote store ignores it.
        """
        ...

    def query(
        self,
        sparql: str,
        *,
        use_default_graph_as_union: bool = True,
        default_graph: Sequence[NamedNode] | None = None,
        named_graphs: Sequence[NamedNode] | None = None,
        base_iri: str | None = None,
    ) -> QueryResult:
        """Evaluate a SPARQL 1.1 query; results are pyoxigraph's types.

        Dataset semantics are pyoxigraph's on every backend: ``default_graph`` (the graphs
        merged into the default graph; it wins over ``use_default_graph_as_union``) and
        ``named_graphs`` (those ``GRAPH`` can see) each restrict their part only; None leaves
        that part whole. An empty list is an empty part.
        """
        ...

    def update(
        self,
        sparql: str,
        *,
        base_iri: str | None = None,
        using_graphs: Sequence[NamedNode] | None = None,
        using_named_graphs: Sequence[NamedNode] | None = None,
    ) -> None:
        """Run a SPARQL 1.1 update in one transaction.

        ``using_graphs`` / ``using_named_graphs`` are the protocol's ``using-graph-uri`` /
        ``using-named-graph-uri``: with SPARQL Update's semantics, giving either one makes the
        dataset of each ``WHERE`` exactly what they list.
        """
        ...

    def quads(self, *, graph: GraphName | None = None) -> Iterator[Quad]:
        """The quads of one graph, or of all graphs when ``graph`` is None."""
        ...

    def named_graphs(self) -> list[NamedNode]:
        """The named graphs, sorted by IRI."""
        ...

    def contains_graph(self, graph: NamedNode) -> bool:
        """Whether the named graph exists."""
        ...

    def load(
        self,
        data: bytes,
        *,
        format: RdfFormat,
        graph: GraphName | None = None,
        base_iri: str | None = None,
    ) -> None:
        """Parse ``data`` and add it in one transaction; triples go to ``graph``."""
        ...

    def dump(self, *, format: RdfFormat, graph: GraphName | None = None) -> bytes:
        """Serialize one graph, or the whole dataset when ``graph`` is None."""
        ...

    def clear_graph(self, graph: GraphName) -> None:
        """Remove the triples of a graph, keep the graph."""
        ...

    def drop_graph(self, graph: GraphName) -> None:
        """Remove a graph and its triples (no error when it does not exist)."""
        ...

    def __len__(self) -> int: ...

    def close(self) -> None:
        """Release the store (the lock of an on-disk store). Idempotent."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


def materialize(quads: Iterable[Quad]) -> list[Quad]:
    """Read ``quads`` fully and check every item is a ``Quad``, before anything is written.

    :raises TypeError: an item is not a ``pyoxigraph.Quad``.

    >>> materialize([1])
    Traceback (most recent call last):
    TypeError: item 0 is not a pyoxigraph.Quad: 1
    """
    batch = list(quads)
    for index, quad in enumerate(batch):
        if not isinstance(quad, Quad):
            raise TypeError(f"item {index} is not a pyoxigraph.Quad: {quad!r}")
    return batch


#: how long opening read-only retries while a writer moves files under it
_READ_ONLY_RETRY_S = 5.0


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

    :param path: the store directory (created when missing), or None for an in-memory store.
    :param read_only: open an existing on-disk store read-only.
    :raises StoreLocked: another process (or another handle in this one) holds the store.
    :raises OSError: the directory holds no valid store or cannot be read.

    ``.raw`` is the underlying ``pyoxigraph.Store`` for fast paths (serializing results,
    bulk loads); prefer the methods here.

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

    def _open(self) -> pyoxigraph.Store:
        if self.path is None:
            if self.read_only:
                raise ValueError("read_only needs the path of an on-disk store")
            return pyoxigraph.Store()
        if not self.read_only:
            try:
                return pyoxigraph.Store(os.fspath(self.path))
            except OSError as error:
                if _is_lock_error(error):
                    raise StoreLocked(path=str(self.path)) from error
                raise
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
        """Write ``quads`` in one transaction: all of them or none.

        The input is read fully and type-checked before anything is written, so an iterator that
        fails half-way or yields a non-``Quad`` leaves the store unchanged.

        :param quads: the quads to add (any iterable, read once).
        :param atomic: False uses pyoxigraph's ``bulk_extend``: faster on disk (measured 99k vs
            67k quads/s for 10^5 quads), but not transactional: a failure mid-way can leave
            part of the batch written.
        :raises TypeError: an item is not a ``pyoxigraph.Quad``.
        :raises StoreReadOnly: the store was opened read-only.
        """
        batch = materialize(quads)
        store = self._writable()
        if atomic:
            store.extend(batch)
        else:
            store.bulk_extend(batch)

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
        self._writable().update(sparql, base_iri=base_iri)

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
        """
        self._writable().load(data, format, base_iri=base_iri, to_graph=graph)

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
        self._writable().clear_graph(graph)

    def drop_graph(self, graph: GraphName) -> None:
        """Remove ``graph`` and its triples; no error when it does not exist."""
        self._writable().remove_graph(graph)

    def __len__(self) -> int:
        return len(self.raw)

    def flush(self) -> None:
        """Make sure written data is on disk (done in the background anyway)."""
        if self.path is not None and not self.read_only:
            self.raw.flush()

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


def open_store(
    path: str | Path | None = None, *, remote: str | RemoteStore | None = None,
    read_only: bool = False,
) -> Store:
    """Open a store: on disk at ``path``, remote at the ``remote`` base URL, else in memory.

    :param path: an Oxigraph store directory (created when missing).
    :param remote: a :class:`RemoteStore`, or a spec for :meth:`RemoteStore.from_spec`: the
        base URL of an Oxigraph server (``http://host:7878``: ``/query``, ``/update`` and
        ``/store`` below it), ``LAYOUT+URL`` (``virtuoso+http://host:8890``,
        ``provml+http://host:7878`` ...) or ``query=URL;update=URL;store=URL``. Credentials
        come from ``$PROVML_REMOTE_TOKEN`` (a bearer token, or with ``$PROVML_REMOTE_USER`` the
        password of HTTP Basic credentials).
    :param read_only: open the on-disk store read-only (a snapshot; see :class:`OxigraphStore`).
    :raises ValueError: both ``path`` and ``remote``, or ``read_only`` with ``remote``.
    :raises StoreLocked: another process holds the on-disk store.

    >>> store = open_store()
    >>> store
    OxigraphStore('memory')
    >>> store.close()
    """
    if remote is not None:
        if path is not None:
            raise ValueError("give a path or a remote URL, not both")
        if read_only:
            raise ValueError(
                "read_only applies to on-disk stores; a remote store has its own rights"
            )
        if isinstance(remote, RemoteStore):
            return remote
        import os

        return RemoteStore.from_spec(remote, auth_token=os.environ.get("PROVML_REMOTE_TOKEN"),
                                     auth_user=os.environ.get("PROVML_REMOTE_USER"))
    return OxigraphStore(path, read_only=read_only)
