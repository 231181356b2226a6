"""The SPARQL 1.1 Service Description answered at ``GET /sparql`` (no query).

It names the real public URL as ``sd:endpoint`` (``BASE_URL`` + ``/sparql``, or the request's own
URL), the languages (Query and Update), the result and input formats, the features (the default
graph is the union of all graphs; empty named graphs exist), and the default dataset with its
named graphs (listed up to :data:`MAX_LISTED_GRAPHS`; their total in an ``rdfs:comment``).

>>> from provml.store import open_store
>>> triples = service_description(open_store(), endpoint="http://localhost:7878/sparql")
>>> any(t.predicate == SD.endpoint for t in triples)
True
"""

from __future__ import annotations

from pyoxigraph import BlankNode, Literal, NamedNode, Triple

from provml.store import Store
from provml.vocab import (
    FORMATS,
    FORMATS_JSON_LD,
    FORMATS_N_QUADS,
    FORMATS_N_TRIPLES,
    RDF,
    RDFS,
    SD,
)

__all__ = ["MAX_LISTED_GRAPHS", "service_description"]

#: named graphs listed one by one in the description
MAX_LISTED_GRAPHS = 1000

_RESULT_FORMATS = (
    FORMATS.SPARQL_Results_JSON, FORMATS.SPARQL_Results_XML, FORMATS.SPARQL_Results_CSV,
    FORMATS.SPARQL_Results_TSV, FORMATS.Turtle, FORMATS_N_TRIPLES, FORMATS.RDF_XML,
    FORMATS_JSON_LD, FORMATS_N_QUADS, FORMATS.TriG,
)
_INPUT_FORMATS = (FORMATS.Turtle, FORMATS_N_TRIPLES, FORMATS.RDF_XML, FORMATS_JSON_LD,
                  FORMATS_N_QUADS, FORMATS.TriG)


def service_description(store: Store, *, endpoint: str, writable: bool = True) -> list[Triple]:
    """The description of this endpoint as triples.

    :param store: the store served (its named graphs are described).
    :param endpoint: the public URL of the SPARQL endpoint.
    :param writable: whether SPARQL Update is offered.
    """
    service = BlankNode()
    dataset = BlankNode()
    default = BlankNode()
    out = [
        Triple(service, RDF.type, SD.Service),
        Triple(service, SD.endpoint, NamedNode(endpoint)),
        Triple(service, SD.supportedLanguage, SD.SPARQL11Query),
        Triple(service, SD.feature, SD.UnionDefaultGraph),
        Triple(service, SD.feature, SD.EmptyGraphs),
        Triple(service, SD.defaultDataset, dataset),
        Triple(dataset, RDF.type, SD.Dataset),
        Triple(dataset, SD.defaultGraph, default),
        Triple(default, RDF.type, SD.Graph),
        Triple(default, RDFS.comment, Literal("the union of all graphs of the store")),
    ]
    if writable:
        out.append(Triple(service, SD.supportedLanguage, SD.SPARQL11Update))
        out += [Triple(service, SD.inputFormat, f) for f in _INPUT_FORMATS]
    out += [Triple(service, SD.resultFormat, f) for f in _RESULT_FORMATS]
    graphs = store.named_graphs()
    out.append(Triple(dataset, RDFS.comment, Literal(f"{len(graphs)} named graphs")))
    for graph in graphs[:MAX_LISTED_GRAPHS]:
        node = BlankNode()
        out += [
            Triple(dataset, SD.namedGraph, node),
            Triple(node, RDF.type, SD.NamedGraph),
            Triple(node, SD.name, graph),
        ]
    return out
