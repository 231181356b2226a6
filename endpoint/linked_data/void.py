"""A VoID description of the knowledge graph, and a streamed dump of it.

``void_description()`` answers "what is in this dataset and how do I get it": a ``void:Dataset``
with its size (triples, distinct subjects, objects, properties), one ``void:classPartition`` per
PROV, PROV-ML and ML Schema class it holds (with the number of instances), the vocabularies it
uses, its SPARQL endpoint and its gzipped N-Quads dump (``dump_nquads_gz()``).

>>> from pyoxigraph import Literal, NamedNode, Quad
>>> from provml.store import open_store
>>> from provml.vocab import PROVML, RDF
>>> store = open_store()
>>> m = NamedNode("https://w3id.org/provml/id/data/m1")
>>> store.add([Quad(m, RDF.type, PROVML.Model, NamedNode("https://w3id.org/provml/id/bundle/r"))])
>>> triples = void_description(store, base_url="http://localhost:7878")
>>> [t.object.value for t in triples if t.predicate == VOID.triples]
['1']
>>> import gzip
>>> gzip.decompress(b"".join(dump_nquads_gz(store))).count(b"\\n")
1
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from pyoxigraph import (
    BlankNode,
    Literal,
    NamedNode,
    Quad,
    RdfFormat,
    Triple,
    serialize,
)

from provml.store import select
from provml.vocab import (
    DCT,
    DEFAULT_BASE,
    MLS,
    PROV,
    PROVML,
    RDF,
    VOID,
    VOID_CLASS,
    XSD,
    Namespace,
)

if TYPE_CHECKING:
    from provml.store import Store

__all__ = ["DATASET_FRAGMENT", "dump_nquads_gz", "void_description"]

#: the dataset node is ``{base_url}/.well-known/void#dataset``
DATASET_FRAGMENT = "dataset"
#: the classes whose instances get a ``void:classPartition``
PARTITIONED: tuple[type[Namespace], ...] = (PROVML, PROV, MLS)


def void_description(
    store: Store,
    *,
    base_url: str,
    instance_base: str = DEFAULT_BASE,
    title: str = "provml knowledge graph",
) -> list[Triple]:
    """Describe ``store`` as a ``void:Dataset`` served at ``base_url``.

    :param store: the store to describe.
    :param base_url: the public URL of the endpoint (no trailing slash), e.g.
        ``http://localhost:7878``; the SPARQL endpoint is ``{base_url}/sparql`` and the dump
        ``{base_url}/dump.nq.gz``.
    :param instance_base: the IRI prefix of the instance data (``void:uriSpace``).
    :param title: the dataset's ``dct:title``.
    :returns: the triples of the description, the dataset node first.
    """
    base_url = base_url.rstrip("/")
    dataset = NamedNode(f"{base_url}/.well-known/void#{DATASET_FRAGMENT}")
    triples = [
        Triple(dataset, RDF.type, VOID.Dataset),
        Triple(dataset, DCT.title, Literal(title)),
        Triple(dataset, VOID.sparqlEndpoint, NamedNode(f"{base_url}/sparql")),
        Triple(dataset, VOID.dataDump, NamedNode(f"{base_url}/dump.nq.gz")),
        Triple(dataset, VOID.uriSpace, Literal(instance_base)),
        Triple(dataset, VOID.triples, _integer(len(store))),
    ]
    counts = _single_row(store, _COUNTS)
    for variable, predicate in (
        ("subjects", VOID.distinctSubjects),
        ("objects", VOID.distinctObjects),
        ("properties", VOID.properties),
        ("classes", VOID.classes),
    ):
        triples.append(Triple(dataset, predicate, _integer(counts.get(variable, 0))))
    for namespace in _vocabularies(store):
        triples.append(Triple(dataset, VOID.vocabulary, NamedNode(namespace)))
    for cls, entities in _class_counts(store):
        partition = BlankNode()
        triples += [
            Triple(dataset, VOID.classPartition, partition),
            Triple(partition, VOID_CLASS, cls),
            Triple(partition, VOID.entities, _integer(entities)),
        ]
    return triples


def dump_nquads_gz(store: Store, *, chunk_quads: int = 20000) -> Iterator[bytes]:
    """The whole store as gzipped N-Quads, produced piece by piece (constant memory).

    Each piece is a sync-flushed gzip block of ``chunk_quads`` quads, so a client receives data
    while the rest is still being read; the pieces joined are one gzip file.

    :param store: the store to dump.
    :param chunk_quads: how many quads are serialized and compressed at a time.
    """
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)  # wbits 31: gzip container
    batch: list[Quad] = []
    for quad in store.quads():
        batch.append(quad)
        if len(batch) >= chunk_quads:
            yield compressor.compress(_nquads(batch)) + compressor.flush(zlib.Z_SYNC_FLUSH)
            batch = []
    yield compressor.compress(_nquads(batch)) + compressor.flush()


def _nquads(quads: list[Quad]) -> bytes:
    if not quads:
        return b""
    data = serialize(quads, format=RdfFormat.N_QUADS)
    return data if isinstance(data, bytes) else b""


_COUNTS = (
    "SELECT (COUNT(DISTINCT ?s) AS ?subjects) (COUNT(DISTINCT ?o) AS ?objects)"
    " (COUNT(DISTINCT ?p) AS ?properties) WHERE { ?s ?p ?o }"
)
_CLASS_COUNT = "SELECT (COUNT(DISTINCT ?c) AS ?classes) WHERE {{ ?x {type} ?c }}"
_PARTITIONS = (
    "SELECT ?c (COUNT(DISTINCT ?x) AS ?n) WHERE {{ ?x {type} ?c FILTER({filter}) }}"
    " GROUP BY ?c ORDER BY ?c"
)
_TERMS = "SELECT DISTINCT ?t WHERE {{ {{ ?s ?t ?o }} UNION {{ ?s {type} ?t }} }}"


def _single_row(store: Store, text: str) -> dict[str, int]:
    row: dict[str, int] = {}
    for solution in select(store, text):
        for name in ("subjects", "objects", "properties"):
            term = solution[name]
            row[name] = int(term.value) if term is not None else 0
    classes = next(iter(select(store, _CLASS_COUNT.format(type=RDF.type))), None)
    row["classes"] = int(classes["classes"].value) if classes is not None else 0
    return row


def _class_counts(store: Store) -> list[tuple[NamedNode, int]]:
    condition = " || ".join(f"STRSTARTS(STR(?c), {Literal(ns.NS)})" for ns in PARTITIONED)
    text = _PARTITIONS.format(type=RDF.type, filter=condition)
    return [
        (solution["c"], int(solution["n"].value))
        for solution in select(store, text)
        if isinstance(solution["c"], NamedNode)
    ]


def _vocabularies(store: Store) -> list[str]:
    """The namespaces of ``provml.vocab`` whose terms the store uses as predicates or classes."""
    known = sorted((ns.NS for ns in Namespace.__subclasses__()), key=len, reverse=True)
    used: set[str] = set()
    for solution in select(store, _TERMS.format(type=RDF.type)):
        term = solution["t"]
        if isinstance(term, NamedNode):
            used.update(ns for ns in known if term.value.startswith(ns))
    return sorted(used)




def _integer(value: int) -> Literal:
    return Literal(str(value), datatype=XSD.integer)
