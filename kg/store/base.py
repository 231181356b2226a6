"""The ``Store`` protocol every provml store offers, and what its backends share.

Both backends — :class:`~provml.store.oxigraph.OxigraphStore` (embedded) and
:class:`~provml.store.remote.RemoteStore` (any SPARQL 1.1 server) — import this module and
nothing of each other. They return pyoxigraph's own types (``Quad``, ``QuerySolutions``,
``QueryBoolean``, ``QueryTriples``), so calling code never knows which backend it talks to.
Queries see the union of all graphs by default (``use_default_graph_as_union=True``): provml
writes one named graph per workflow execution and the ontologies each in a graph of their own.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

from pyoxigraph import (
    DefaultGraph,
    NamedNode,
    Quad,
    QueryBoolean,
    QuerySolutions,
    QueryTriples,
    RdfFormat,
)

__all__ = ["GraphName", "QueryResult", "Store", "materialize", "select"]

QueryResult = QuerySolutions | QueryBoolean | QueryTriples
GraphName = NamedNode | DefaultGraph


@runtime_checkable
class Store(Protocol):
    """What every provml store offers. Implemented by :class:`OxigraphStore` and
    :class:`RemoteStore`; code that takes a store is typed with this protocol.

    >>> from provml.store.oxigraph import OxigraphStore
    >>> isinstance(OxigraphStore(), Store)
    True
    """

    def add(self, quads: Iterable[Quad], *, atomic: bool = True) -> None:
        """Write all ``quads`` in one transaction: all of them or none.

        ``atomic=False`` lets a backend use a faster non-transactional path; the embedded store
        is atomic on both its paths (large batches on disk through the bulk loader) and the
        remote store sends one request per chunk, so both ignore it.
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

    def create_graph(self, graph: NamedNode) -> None:
        """Create the named graph, empty (no error when it exists)."""
        ...

    #: the directory of an on-disk store, None for one in memory or remote
    path: Path | None
    #: whether writes are refused (an on-disk store opened as a snapshot)
    read_only: bool

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


def select(store: Store, sparql: str, *, use_default_graph_as_union: bool = True) -> QuerySolutions:
    """Run a SELECT query on ``store`` (over the union of all graphs by default); its solutions.

    :raises TypeError: the query is an ASK, CONSTRUCT or DESCRIBE.
    :raises SyntaxError: the query does not parse.

    >>> from provml.store.oxigraph import OxigraphStore
    >>> [row["x"].value for row in select(OxigraphStore(), "SELECT ?x WHERE { VALUES ?x { 1 } }")]
    ['1']
    """
    result = store.query(sparql, use_default_graph_as_union=use_default_graph_as_union)
    if not isinstance(result, QuerySolutions):
        raise TypeError(f"expected a SELECT query, got one answering {type(result).__name__}")
    return result
