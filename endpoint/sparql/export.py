"""Whole graphs written for a client: the Graph Store ``GET`` and the gzipped dump.

Both run where queries run (in a worker process over an on-disk store, under the time and
memory limits; see :meth:`provml.endpoint.sparql.evaluation.QueryRunner.export`). JSON-LD is
compacted with the ontologies' context, as the endpoint's other JSON-LD answers
(:func:`provml.query.serialization.serialize_quads`), unless the client asks for the expanded
profile; it is written expanded where compaction cannot write it, as an
:class:`~provml.query.serialization.Uncompacted` that names the IRI (the Graph Store then sends
it if the client takes expanded JSON-LD, else its next choice or 406:
:func:`provml.endpoint.negotiation.negotiate`).

>>> from pyoxigraph import NamedNode, Quad
>>> from provml.store import open_store
>>> store = open_store()
>>> g = NamedNode("http://e.org/g")
>>> store.add([Quad(NamedNode("http://e.org/s"), NamedNode("https://w3id.org/provml#p"),
...                 NamedNode("http://e.org/o"), g)])
>>> b'"provml:p"' in export_graph(store, "http://e.org/g", "application/ld+json", "compacted")
True
"""

from __future__ import annotations

from collections.abc import Iterator

from pyoxigraph import DefaultGraph, NamedNode, RdfFormat

from provml.store.base import Store

__all__ = ["ALL", "DEFAULT", "export_graph", "gzip_dump"]

#: ``graph`` values of :func:`export_graph` besides an IRI: the whole dataset, the default graph
ALL, DEFAULT = "", "default"


def export_graph(store: Store, graph: str, media: str, profile: str) -> bytes:
    """The graph named ``graph`` (an IRI, :data:`DEFAULT`, or :data:`ALL` for the dataset) in
    ``media`` (a key of ``negotiation.RDF_FORMATS``)."""
    from provml.endpoint.negotiation import RDF_FORMATS
    from provml.query.serialization import serialize_quads

    fmt = RDF_FORMATS[media]
    target = None if graph == ALL else DefaultGraph() if graph == DEFAULT else NamedNode(graph)
    if fmt == RdfFormat.JSON_LD:
        # the store's iterator read out and dropped here, on the request's thread: passed on
        # whole, it was seen dropped by the garbage collector on another thread, which
        # Oxigraph's iterators refuse ("unsendable": an unraisable error, the iterator leaked)
        quads = list(store.quads(graph=target))
        return serialize_quads(quads, "jsonld", profile=profile, expand_unwritable=True)
    return store.dump(format=fmt, graph=target)


def gzip_dump(store: Store) -> Iterator[bytes]:
    """The whole store as gzipped N-Quads, in sync-flushed blocks (constant memory)."""
    from provml.endpoint.linked_data.void import dump_nquads_gz

    return dump_nquads_gz(store)
